"""JSON lines through Arrow give exactly what the records rule gives line by line (property test).

The reference is deliberately plain: ``json.loads`` of every non-blank line (blank: only what JSON calls
whitespace, space, tab and CR), ``records_to_batch`` per ``batch_rows`` records (the rule every JSON source
follows), batches widened by the storage layer's one rule. The file extractor's Arrow path must land the
same columns, names, types and values, whatever mix of types, nested values, timestamp-like text, big
integers, empty keys and blank lines the file holds, and fail on the same first line the reference does.
"""

from __future__ import annotations

import codecs
import gc
import json
import sys
import threading
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from medallion_assets.errors import ExtractError
from medallion_assets.extractors import ExtractContext, Extractor
from medallion_assets.extractors.file import json_reader
from medallion_assets.extractors.records import records_to_batch
from medallion_resources.lake.schema import unify_tables

KEYS = ["id", "name", "when", "n", "nested", "flag", "x", "", "empty_key"]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.integers(-5, 5),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1.0, -0.0, 0.0, 2.0**64, 1e20, 0.5]),
    st.text(max_size=6),
    st.sampled_from(["2025-01-01", "2025-01-01T10:00:00", "2025-13-45", "é\u00e9", "\ud800"]),
)
nested = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["a", "b", "c"]), inner, max_size=3)
    ),
    max_leaves=6,
)
column_values = {
    "id": st.integers(0, 10**6),
    "name": st.text(max_size=5),
    "when": st.sampled_from(["2025-01-01T00:00:00", "2025-02-03", None]),
    "n": st.one_of(st.integers(-100, 100), st.floats(-1e6, 1e6, allow_nan=False)),
    "nested": nested,
    "flag": st.booleans(),
    "x": scalars,
    "": scalars,  # lands as `empty_key` (`empty_key_2` beside a real `empty_key`) by the records rule
    "empty_key": st.text(max_size=3),
}
records = st.lists(
    st.fixed_dictionaries({}, optional={k: column_values[k] for k in KEYS}), min_size=1, max_size=60
)


JSON_BLANK = " \t\r"
"""What JSON (``json.loads``, Arrow) calls whitespace, besides the newline ending the line."""
BLANKS = ["  ", "", "\t", " \r", "\f", "\v", "\xa0", " \u2028"]
"""Lines without a value: blank (JSON whitespace), or whitespace JSON does not allow (a bad line)."""


def unified(tables: list[pa.Table]) -> pa.Table:
    return unify_tables(tables) if tables else pa.table({})


def chunks_of(data: bytes, size: int) -> list[bytes]:
    """The file cut as the reader cuts it: ``size`` bytes read at a time, each chunk ending at a newline."""
    out, rest = [], b""
    for pos in range(0, len(data), size):
        piece = rest + data[pos : pos + size]
        cut = piece.rfind(b"\n") + 1
        out.append(piece[:cut]) if cut else None
        rest = piece[cut:]
    return [*out, rest] if rest else out


def reference(data: bytes, chunk: int) -> pa.Table:
    """``json.loads`` of every non-blank line and ``records_to_batch`` per chunk, widened by the one rule."""
    return unified(reference_chunks(data, chunk))


def reference_chunks(data: bytes, chunk: int) -> list[pa.Table]:
    """Each chunk's records by ``records_to_batch``, not yet widened."""
    tables = []
    for piece in chunks_of(data, chunk):
        parsed = [json.loads(line) for line in piece.decode().split("\n") if line.strip(JSON_BLANK)]
        if parsed:
            batch = records_to_batch(parsed)
            tables.append(
                pa.Table.from_batches([batch]).append_column(
                    "_source_file", pa.nulls(len(parsed), pa.string())
                )
            )
    return tables


@pytest.fixture
def land(
    make_file: Callable[..., Extractor], make_context: Callable[[date], ExtractContext]
) -> Callable[[Path, int], pa.Table]:
    def run(path: Path, batch_rows: int) -> pa.Table:
        extractor = make_file(path=str(path))
        extractor.batch_rows = batch_rows
        batches = extractor.extract(make_context())
        tables = [pa.Table.from_batches([b]) for b in batches]
        return unified(
            [
                t.set_column(
                    t.schema.get_field_index("_source_file"), "_source_file", pa.nulls(len(t), pa.string())
                )
                for t in tables
            ]
        )

    return run


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# Found by CI: a float in one chunk and an int beyond 2**53 in the next (widening refused to round it).
@example(
    rows=[
        {"when": "2025-01-01T00:00:00", "id": 0, "flag": False, "name": "", "nested": None, "x": 0.0, "n": 0},
        {"x": 2**53 + 1},
    ],
    blank_every=1,
    blank="  ",
    chunk=64,
    batch_rows=1,
)
@example(rows=[{"id": 1}, {"id": 2}], blank_every=1, blank="\f", chunk=1 << 20, batch_rows=7)
# Found by hypothesis: "" is empty_key in the first chunk, empty_key_2 beside a key empty_key in the next;
# the Arrow path placed it by the key, not by the name the rule gives it in that chunk.
@example(
    rows=[{"id": 0, "n": 0, "": None}, {"id": 0, "empty_key": "", "nested": None, "": None}],
    blank_every=0,
    blank="  ",
    chunk=64,
    batch_rows=1,
)
@given(
    rows=records,
    blank_every=st.integers(0, 7),
    blank=st.sampled_from(BLANKS),
    chunk=st.sampled_from([64, 300, 1 << 20]),
    batch_rows=st.sampled_from([1, 7, 50_000]),
)
def test_arrow_path_equals_the_records_rule(
    rows: list[dict[str, Any]],
    blank_every: int,
    blank: str,
    chunk: int,
    batch_rows: int,
    land: Callable[..., pa.Table],
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lines = [json.dumps(r) for r in rows]
    if blank_every:
        lines = [
            x for i, line in enumerate(lines) for x in ([line, blank] if i % blank_every == 0 else [line])
        ]
    path = tmp_path_factory.mktemp("jsonl") / "data.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setattr(json_reader, "JSONL_CHUNK", chunk)
    bad = [number for number, line in enumerate(lines, start=1) if line == blank and blank.strip(JSON_BLANK)]
    if bad:  # json.loads refuses the line: the file fails there, whichever path read its chunk
        with pytest.raises(ExtractError, match=rf"': line {bad[0]}: invalid JSON"):
            land(path, batch_rows)
        return
    expected = reference(path.read_bytes(), chunk)
    got = land(path, batch_rows)
    assert got.schema == expected.schema
    assert got.to_pylist() == expected.to_pylist()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@example(  # the hint (`when` is text) met a file whose `when` is a number, then one without it
    files=[[{"when": "2025-01-01T00:00:00", "id": 1}], [{"when": 5, "id": 2}], [{"id": 3, "x": "a"}]],
    chunk=64,
)
@example(  # the text column comes first in the next file's parse, after its other keys in the file
    files=[[{"when": "2025-02-03T00:00:00"}], [{"id": 1}, {"x": 1, "when": "2025-01-01T00:00:00"}]],
    chunk=1 << 20,
)
@example(  # the key "" (empty_key) alone, then beside a real key "empty_key" (CI, 5db1d30)
    files=[[{"": "2025-01-01"}, {"id": 0, "empty_key": "", "": None, "x": "2025-01-01"}]],
    chunk=64,
)
@example(  # the same, the real key "empty_key" also a text column of an earlier file, null beside ""
    files=[[{"": "2025-01-01"}], [{"empty_key": "2025-01-02"}], [{"id": 0, "": None, "empty_key": None}]],
    chunk=64,
)
@given(files=st.lists(records, min_size=1, max_size=4), chunk=st.sampled_from([64, 300, 1 << 20]))
def test_many_files_land_what_each_file_gives_by_the_records_rule(
    files: list[list[dict[str, Any]]],
    chunk: int,
    land: Callable[..., pa.Table],
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The text columns one file taught (an ISO timestamp column) are where the next file's first chunk
    starts from (a day of many small files parses each once): the partition must still be each file's
    records by the rule, whatever the next file holds in those columns, or in which order its keys come."""
    folder = tmp_path_factory.mktemp("jsonl_files")
    for n, rows in enumerate(files):
        (folder / f"part_{n:03d}.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    monkeypatch.setattr(json_reader, "JSONL_CHUNK", chunk)
    expected = unified(  # every chunk of every file widened at once, as a partition's batches are
        [
            t
            for n in range(len(files))
            for t in reference_chunks((folder / f"part_{n:03d}.jsonl").read_bytes(), chunk)
        ]
    )
    got = land(folder / "*.jsonl", 50_000)
    assert got.schema == expected.schema
    assert got.to_pylist() == expected.to_pylist()


def test_the_files_after_the_first_are_parsed_once(
    tmp_path: Path, land: Callable[..., pa.Table], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Arrow reads an ISO timestamp as a timestamp, so a chunk with one is parsed again with that column as
    text; the files after the first start from what it taught: each is parsed once (before: twice)."""
    for n in range(5):
        rows = [{"id": n * 10 + i, "at": f"2025-01-01T00:00:0{i}", "v": "x"} for i in range(3)]
        (tmp_path / f"part_{n}.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    calls: list[tuple[str, ...]] = []
    parse = json_reader._parse

    def counted(chunk: Any, text: list[str]) -> Any:
        calls.append(tuple(text))
        return parse(chunk, text)

    monkeypatch.setattr(json_reader, "_parse", counted)
    got = land(tmp_path / "*.jsonl", 50_000)
    assert got.schema.names == ["id", "at", "v", "_source_file"]
    assert got.column("at").to_pylist()[-1] == "2025-01-01T00:00:02"
    assert calls == [(), ("at",)] + [("at",)] * 4


def test_a_file_that_does_not_fit_what_the_files_before_taught_is_parsed_as_if_first(
    tmp_path: Path, land: Callable[..., pa.Table], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``at`` is text in the first file and a number in the second: Arrow refuses the second file parsed
    with ``at`` as text, and it is parsed without (by Arrow, not line by line), landing the rule's values."""
    (tmp_path / "a.jsonl").write_text(json.dumps({"id": 1, "at": "2025-01-01T00:00:00"}) + "\n")
    (tmp_path / "b.jsonl").write_text(json.dumps({"id": 2, "at": 7}) + "\n")
    (tmp_path / "c.jsonl").write_text(json.dumps({"id": 3, "at": 8}) + "\n")

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the line-by-line path was used")

    monkeypatch.setattr(json_reader, "_python_lines", refuse)
    got = land(tmp_path / "*.jsonl", 50_000)
    assert got.column("at").to_pylist() == ["2025-01-01T00:00:00", "7", "8"]


@pytest.mark.parametrize("chunk", [1 << 20, 2048])
def test_a_file_of_plain_columns_takes_the_arrow_path(
    tmp_path: Path, land: Callable[..., pa.Table], monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    """The fast path is really taken for ordinary data (the line-by-line parser is not called), also when
    chunks are parsed side by side before the first has taught that ``at`` is text, not a timestamp."""
    monkeypatch.setattr(json_reader, "JSONL_CHUNK", chunk)
    lines = [
        json.dumps(
            {
                "id": i,
                "at": f"2025-01-01T00:00:{i % 60:02d}",
                "amount": i / 4,
                "tags": ["a", str(i)],
                "o": {"k": i},
            }
        )
        for i in range(1000)
    ]
    path = tmp_path / "plain.jsonl"
    path.write_text("\n".join(lines) + "\n")

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the line-by-line path was used")

    monkeypatch.setattr(json_reader, "_python_lines", refuse)
    got = land(path, 50_000)
    assert got.schema.names == ["id", "at", "amount", "tags", "o", "_source_file"]
    assert got.column("at")[5].as_py() == "2025-01-01T00:00:05"
    assert got.column("at")[999].as_py() == "2025-01-01T00:00:39"
    assert got.column("tags")[3].as_py() == '["a","3"]'
    assert got.column("o")[2].as_py() == '{"k":2}'


def test_a_file_that_stops_early_leaves_no_reading_thread_behind(
    tmp_path: Path,
    make_file: Callable[..., Extractor],
    make_context: Callable[[date], ExtractContext],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Chunks are read ahead in a thread; an invalid line (on_bad_lines: error) ends the file early, and the
    thread reading ahead stops with it, before the file is closed."""
    monkeypatch.setattr(json_reader, "JSONL_CHUNK", 256)
    lines = [json.dumps({"id": i, "name": f"n{i}"}) for i in range(2000)]
    lines[30] = "{not json"
    path = tmp_path / "broken.jsonl"
    path.write_text("\n".join(lines) + "\n")
    before = {t.ident for t in threading.enumerate()}
    with pytest.raises(Exception, match=r"line 31"):
        list(make_file(path=str(path)).extract(make_context()))
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        left = [t for t in threading.enumerate() if t.ident not in before and t.is_alive()]
        if not left:
            break
        time.sleep(0.05)
    assert not left, [t.name for t in left]


@pytest.mark.parametrize("chunk", [64, 1 << 20])
@pytest.mark.parametrize(
    ("encoding", "bom"), [("utf-8", codecs.BOM_UTF8), ("utf-8", b""), ("latin-1", b""), ("utf-16", b"")]
)
def test_encodings_a_byte_order_mark_and_blank_lines(
    tmp_path: Path,
    make_file: Callable[..., Extractor],
    make_context: Callable[[date], ExtractContext],
    monkeypatch: pytest.MonkeyPatch,
    encoding: str,
    bom: bytes,
    chunk: int,
) -> None:
    """Lines are counted (for blank lines and line numbers) after a leading byte-order mark is cut, in the
    encoding of the file: the rows are those of ``json.loads`` of every non-blank line, and Arrow's path is
    taken wherever a newline is one byte."""
    monkeypatch.setattr(json_reader, "JSONL_CHUNK", chunk)
    records = [{"id": i, "name": f"Zoë {i}", "score": i / 2} for i in range(40)]
    lines = ["", "  "] + [
        json.dumps(r, ensure_ascii=False) + ("\n" if i % 7 == 0 else "") for i, r in enumerate(records)
    ]
    path = tmp_path / "people.jsonl"
    path.write_bytes(bom + ("\n".join(lines) + "\n").encode(encoding))
    if encoding != "utf-16":  # a newline is the byte 10: Arrow's path, each line counted right

        def refuse(*args: Any, **kwargs: Any) -> Any:
            raise AssertionError("the line-by-line path was used")

        monkeypatch.setattr(json_reader, "_python_lines", refuse)
    batches = list(make_file(path=str(path), encoding=encoding).extract(make_context()))
    got = [{k: v for k, v in row.items() if k != "_source_file"} for b in batches for row in b.to_pylist()]
    assert got == records


def test_a_utf16_file_that_stops_early_lets_go_of_its_stream_before_it_is_closed(
    tmp_path: Path,
    make_file: Callable[..., Extractor],
    make_context: Callable[[date], ExtractContext],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An invalid line ends a UTF-16 file (read line by line through a text wrapper); the wrapper is let go
    while the file is open, not when the garbage collector finds it ("Exception ignored ... I/O operation on
    closed file" on stderr)."""
    path = tmp_path / "wide.jsonl"
    path.write_bytes(('{"id": 1}\n{"id": \n{"id": 3}\n').encode("utf-16"))
    unraisable: list[str] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: unraisable.append(repr(u.exc_value)))

    def extract() -> None:
        with pytest.raises(Exception, match=r"line 2"):
            list(make_file(path=str(path), encoding="utf-16").extract(make_context()))

    extract()
    gc.collect()
    assert unraisable == []


@pytest.mark.parametrize("newline_last", [True, False])
@pytest.mark.parametrize("size", [100, 64 << 10, (64 << 10) + 1, 200 << 10, 256 << 10, (256 << 10) + 7])
def test_chunks_are_cut_where_a_chunk_sized_read_cuts_them(
    size: int, newline_last: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first read is small (a small file needs no chunk-sized buffer), but a longer file's chunks are
    cut where chunk-sized reads cut them (the rule's batching unit is the chunk), a file of exactly the
    first read's size and a last line without a newline included."""
    import io

    monkeypatch.setattr(json_reader, "JSONL_CHUNK", 256 << 10)
    line = b'{"id": 1, "name": "abcdefghijklmnopqrstuvwxyz"}\n'
    lines = line * ((size - 40) // len(line))
    last = size - len(lines) - len(b'{"id": ""}') - newline_last  # the last line fills the file exactly
    data = lines + b'{"id": "' + b"x" * last + b'"}' + b"\n" * newline_last
    assert len(data) == size
    got = [bytes(c) for c in json_reader._line_chunks(io.BytesIO(data))]
    assert got == chunks_of(data, 256 << 10)
