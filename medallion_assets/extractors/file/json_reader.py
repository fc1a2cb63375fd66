"""JSON lines and JSON documents: records become batches by the rule of ``extractors.records``.

JSON lines are parsed by Arrow in chunks of whole lines (``JSONL_CHUNK`` bytes, each as one Arrow block: Arrow
joins the types of several blocks wrongly, see ``_parse``), with no Python per line,
whenever Arrow's result is provably what the records rule gives (``records_to_batch``, the rule every JSON
source follows): columns in order of first appearance; ``int64``, ``float64`` (ints and floats mixed),
``bool``, ``string``, ``null``; nested objects and arrays as JSON text by the one rule of
``medallion_resources.json_text``. Arrow's result is checked before it is used, and a chunk is parsed line by
line in Python (``json.loads`` + ``records_to_batch``, the exact rule) when it is not provably the same:

- Arrow refuses the chunk: a column mixing kinds (``1`` and ``"x"``, ``true`` and ``1``), a duplicate key,
  an invalid line, a line that is not an object, a lone surrogate, a number beyond ``float64``;
- a row count that is not the number of non-blank lines (two objects on one line);
- a line that is ``null`` (Arrow reads it as a row of nulls, or crashes on it: it never sees one);
- a ``float64`` column holding an integral value beyond ``int64`` (written as an integer, the rule makes the
  column text) or ``-0``;
- a nested column whose JSON text Arrow cannot give exactly: an object key that is null or absent in some
  rows (Arrow's struct cannot tell them apart), an integral number where ``1`` and ``1.0`` would differ,
  a string Arrow read as a timestamp.

A top-level string that Arrow reads as a timestamp (ISO 8601) is parsed again as text, and so is that
column in every later chunk. So only files with such columns pay the Python price, and only in the chunks
that have them.

A line that is not a JSON object (a bare number, string or array) is refused, naming the file and the line
(Bronze columns come from object keys; ``on_bad_lines: quarantine`` lands such lines in ``_errors/``).
"""

from __future__ import annotations

import codecs
import contextlib
import itertools
import json
import re
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, TypeVar

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from medallion_assets.config.models import FileConfig
from medallion_assets.extractors.file.common import (
    BadContent,
    BadLines,
    EmptyFile,
    numbered_lines,
    python_encoding,
    require_columns,
)
from medallion_assets.extractors.records import column_names, records_to_batch
from medallion_resources.json_text import json_text_array
from medallion_resources.threads import ordered_map, parallel

__all__ = ["JSONL_CHUNK", "read_json", "read_jsonl"]

JSONL_CHUNK = 8 << 20
"""Bytes of JSON lines parsed at a time (cut after a newline; a longer line makes its chunk longer)."""
_FIRST_READ = 64 << 10
"""Bytes read first: a small file (a landing zone's thousands) costs no 8 MiB buffer."""
_THREADED_PARSE = 1 << 20
"""Chunks from this size are parsed with Arrow's threads; a smaller one on the calling thread (Arrow's pool
costs ~2 ms a call, ten times the parse of a small file)."""

_LINE_NOT_AN_OBJECT = re.compile(rb"\n[^{]")  # no match, and a "{" first: no blank line, no null line
_BLANK_LINE = re.compile(rb"\n[ \t\r]*\n")
_LEADING_BLANK = re.compile(rb"[ \t\r]*\n")
_NULL_LINE = re.compile(rb"\n[ \t\r]*null")
_LEADING_NULL = re.compile(rb"[ \t\r\n]*(?:\xef\xbb\xbf)?[ \t\r\n]*null")  # a BOM: files joined
T = TypeVar("T")
_INT64_LIMIT = 2.0**63
_JSON_BLANK = b" \t\r\n"
"""What JSON calls whitespace (``json.loads`` and Arrow): a line of only these is blank, in both paths (the
Arrow path's patterns above and ``_non_blank_lines``); a line of other whitespace (form feed, no-break
space, ...) is no JSON value, so a malformed line, as Arrow reads it too."""
_JSON_BLANK_TEXT = _JSON_BLANK.decode()


@dataclass
class _Columns:
    """What a file's chunks have taught: the order columns first appeared in, and which must stay text."""

    order: dict[str, int] = field(default_factory=dict)
    text: list[str] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    hinted: bool = False
    """The first chunk is parsed with the text columns of the files read before (``read_jsonl``'s
    ``text_hint``), not yet checked against it."""

    def learn(self, names: list[str]) -> None:
        for name in names:
            self.order.setdefault(name, len(self.order))


def read_jsonl(
    stream: BinaryIO,
    cfg: FileConfig,
    batch_rows: int,
    bad_lines: BadLines,
    text_hint: list[str] | None = None,
) -> Iterator[pa.RecordBatch]:
    """JSON lines, at most ``batch_rows`` rows per batch, by the one JSON records rule.

    ``text_hint``: the columns earlier files of the partition taught are text (an ISO timestamp column),
    updated here: a file's first chunk is parsed with them, so a day of many small files parses each once
    rather than twice. Only a speed-up: a chunk that does not fit them is parsed as if there were none.
    """
    codec = python_encoding(cfg.encoding)
    wanted = cfg.column_names
    state = _Columns(text=list(text_hint or ()), hinted=bool(text_hint))
    if "\n".encode("utf-8" if codec == "utf-8-sig" else codec) != b"\n":  # UTF-16/32: line by line
        counted = [0, 0]  # lines, non-blank lines

        def utf8_lines() -> Generator[tuple[int, bytes], None, None]:
            for number, line in numbered_lines(stream, cfg.encoding):
                counted[0] += 1
                counted[1] += bool(line.strip(_JSON_BLANK_TEXT))
                yield number, line.encode("utf-8")

        # Closed with this generator: its text wrapper lets go of the stream while the stream is open.
        with contextlib.closing(utf8_lines()) as decoded:
            for batch in _python_lines(decoded, "utf-8", batch_rows, bad_lines):
                yield _project(batch, wanted, state)
        if not counted[1]:
            raise EmptyFile(None if counted[0] else 0)
        _check_projection_seen(wanted, state.seen)
        return
    lineno = 1
    size = 0
    blank = True  # every line so far blank (or none): a file of no record is an empty file
    counted_chunks = _counted(_line_chunks(stream), codec)
    head = list(itertools.islice(counted_chunks, 2))
    with contextlib.ExitStack() as threads:
        if len(head) < 2:  # a file of one chunk (most small files): parsed here, threads cost more
            parsed: Iterator[tuple[_Counted, _Parse | None]] = iter(
                [_parsed((counted, codec, tuple(state.text))) for counted in head]
            )
        else:
            # The next chunks are read, hashed and counted in a thread, and parsed by Arrow on two more (each
            # chunk one Arrow block, which is one thread: two chunks side by side use both cores), while this
            # one is converted and written; the threads are stopped before the stream is closed, however this
            # generator ends.
            chunks = threads.enter_context(
                contextlib.closing(
                    parallel([lambda: itertools.chain(_handed_on(head), counted_chunks)], depth=1)
                )
            )
            parsed = threads.enter_context(
                contextlib.closing(
                    ordered_map(_parsed, ((counted, codec, tuple(state.text)) for counted in chunks))
                )
            )
        for (chunk, newlines, rows, _null_line), arrow in parsed:
            size += len(chunk)
            blank = blank and (rows == 0 if rows is not None else not chunk.strip(_JSON_BLANK))
            table = _arrow_chunk(arrow, state, newlines, rows)
            if table is None:  # the exact rule, line by line: one batch per chunk, as Arrow's
                lines = enumerate(_keep_newlines(chunk), start=lineno)
                table = next(_python_lines(lines, codec, None, bad_lines), None)
            for offset in range(0, table.num_rows if table is not None else 0, batch_rows):
                yield _project(table.slice(offset, batch_rows), wanted, state)  # type: ignore[union-attr]
            lineno += newlines
    if text_hint is not None:
        text_hint[:] = state.text
    if blank:
        raise EmptyFile(size)
    _check_projection_seen(wanted, state.seen)


def _handed_on(items: list[T]) -> Iterator[T]:
    """The items, each let go of as it is handed on (a list iterated would hold every one to its end)."""
    while items:
        yield items.pop(0)


def _counted(chunks: Iterator[bytearray], codec: str) -> Iterator[tuple[bytearray, int, int | None, bool]]:
    """Each chunk (a UTF-8 BOM cut from the first) with its newlines, in UTF-8 its non-blank lines, and
    whether a line is ``null`` (found here, in the reading thread, while Arrow parses the chunk before)."""
    first = True
    for chunk in chunks:
        if first:
            first = False
            if codec == "utf-8-sig" and chunk.startswith(codecs.BOM_UTF8):
                chunk = chunk[len(codecs.BOM_UTF8) :]
        newlines = chunk.count(b"\n")
        utf8 = codec in ("utf-8", "utf-8-sig")
        if chunk.startswith(b"{") and not _LINE_NOT_AN_OBJECT.search(chunk):  # one scan, the usual file
            yield chunk, newlines, newlines + (not chunk.endswith(b"\n")) if utf8 else None, False
        else:
            yield chunk, newlines, _non_blank_lines(chunk, newlines) if utf8 else None, _has_null_line(chunk)


def _has_null_line(chunk: bytes | bytearray) -> bool:
    """Whether a line is ``null``: Arrow reads it as a row of nulls (the records rule refuses it), and dies
    of a segmentation fault (pyarrow 26) when it is the first value of one of its blocks."""
    return bool(_LEADING_NULL.match(chunk) or _NULL_LINE.search(chunk))


def _line_chunks(stream: BinaryIO) -> Iterator[bytearray]:
    """The stream in chunks of whole lines, about ``JSONL_CHUNK`` bytes each (the last may lack a newline).

    Each chunk is read into its own buffer, after the part line the chunk before left over, and cut after its
    last newline in place: the bytes are copied once, from the stream (slicing and joining ``bytes`` copied
    every chunk twice more, into fresh memory: a quarter of the step's reading time)."""
    rest = b""
    capacity = min(_FIRST_READ, JSONL_CHUNK)
    probing = capacity < JSONL_CHUNK  # the first read is small: a small file needs no chunk-sized buffer
    while True:
        chunk = bytearray(len(rest) + capacity)
        chunk[: len(rest)] = rest
        end = len(rest) + _read_into(stream, memoryview(chunk)[len(rest) :])
        ended = end < len(chunk)  # a short read: the stream is at its end
        if probing:
            probing = False
            if not ended:  # a longer file: its first chunk is cut where a chunk-sized read cuts it
                rest, capacity = bytes(chunk[:end]), JSONL_CHUNK - end
                continue
        capacity = JSONL_CHUNK
        if end == len(rest):  # nothing more: what is left (after a full probe, lines and their tail)
            cut = rest.rfind(b"\n") + 1
            if 0 < cut < len(rest):
                yield bytearray(rest[:cut])
                rest = rest[cut:]
            if rest:
                yield bytearray(rest)
            return
        cut = chunk.rfind(b"\n", 0, end) + 1
        if cut == 0:  # no newline yet: a line longer than a chunk, or the last line
            rest = bytes(chunk[:end])
            if ended:
                yield bytearray(rest)
                return
            continue
        rest = bytes(chunk[cut:end])
        del chunk[cut:]
        yield chunk
        if ended:  # no read more to find the end (a buffer of JSONL_CHUNK bytes each time)
            if rest:
                yield bytearray(rest)
            return


def _read_into(stream: BinaryIO, view: memoryview) -> int:
    """Fill ``view`` from ``stream`` (short reads repeated); the bytes read, fewer only at the end."""
    filled = 0
    with view:
        while filled < len(view):
            got = stream.readinto(view[filled:])  # type: ignore[attr-defined]
            if not got:
                break
            filled += got
    return filled


def _keep_newlines(chunk: bytes | bytearray) -> Iterator[bytes | bytearray]:
    """The chunk's lines, each with its ``\\n`` (as iterating a binary file gives them)."""
    pieces = chunk.split(b"\n")
    for piece in pieces[:-1]:
        yield piece + b"\n"
    if pieces[-1]:
        yield pieces[-1]


# --- the Arrow path ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Parse:
    """Arrow's reading of a chunk (in UTF-8), with the columns it was told are text (None: Arrow refused)."""

    utf8: bytes | bytearray
    text: tuple[str, ...]
    table: pa.Table | None


_Counted = tuple[bytearray, int, "int | None", bool]


def _parsed(item: tuple[_Counted, str, tuple[str, ...]]) -> tuple[_Counted, _Parse | None]:
    """A counted chunk with Arrow's parse of it (in a worker thread; the text columns known when it was
    handed out), or None when it has a ``null`` line (never given to Arrow) or is not valid in its codec."""
    counted, codec, text = item
    chunk, _newlines, _rows, null_line = counted
    if null_line:
        return counted, None
    if codec not in ("utf-8", "utf-8-sig"):
        try:
            chunk = bytearray(chunk.decode(codec).encode("utf-8"))
        except UnicodeDecodeError:
            return counted, None  # the line-by-line path names the line
    return counted, _Parse(chunk, text, _parse(chunk, list(text)))


def _arrow_chunk(
    parse: _Parse | None, state: _Columns, newlines: int, rows: int | None
) -> pa.RecordBatch | None:
    """The chunk, as Arrow parsed it, converted to what the records rule would give, or None when that is
    not provable. ``rows``: its non-blank lines, when already counted."""
    if parse is None:
        return None
    chunk, table = parse.utf8, parse.table
    used = list(parse.text)  # the text columns ``table`` was parsed with
    if state.hinted:  # the file's first chunk, parsed with the text columns of the files before
        state.hinted = False
        # Those it holds text in stay text; none if one does not fit it (a number: Arrow refused the chunk).
        # Arrow places them first, but they are columns of earlier files, so their place in the partition
        # is taken already; the chunk's other columns keep the order they first appear in.
        state.text[:] = [name for name in state.text if table is not None and _has_values(table, name)]
    # Text columns learned since the chunk was handed out (by chunks parsed beside it), or a hint dropped:
    # the chunk is parsed again if it has values in one of them.
    changed = set(state.text).symmetric_difference(used)
    if changed and (table is None or any(_has_values(table, name) for name in changed)):
        table, used = _parse(chunk, state.text), list(state.text)
    if table is None or table.num_rows != (rows if rows is not None else _non_blank_lines(chunk, newlines)):
        return None
    stamped = [f.name for f in table.schema if pa.types.is_timestamp(f.type)]
    if stamped:
        state.learn(column_names(table.column_names))  # the first chunk with the column: its place
        state.text.extend(name for name in stamped if name not in state.text)
        table, used = _parse(chunk, state.text), list(state.text)
        if table is None or any(pa.types.is_timestamp(t) for t in table.schema.types):
            return None
    # A text column of earlier chunks that this chunk lacks (or has only nulls) is left out: Arrow gives
    # every column of its explicit schema, the records rule only the keys the chunk has.
    keys = [name for name in table.column_names if name not in used or _has_values(table, name)]
    if "" in table.column_names and len(keys) < table.num_columns:
        # The rule names the key "" by the keys beside it (``empty_key``, ``empty_key_2`` beside a real
        # ``empty_key``), and a column left out above may be a key there with nulls, which only the rule can
        # tell: the chunk is left to the rule.
        return None
    # Named by the records rule, in the chunk's order of keys (as ``records_to_batch`` names them), and
    # ordered by those names: a key the rule names differently in another chunk (``""`` is ``empty_key``
    # unless the chunk also has a key ``empty_key``) takes the place the rule gives it.
    named = dict(zip(keys, column_names(keys), strict=True))
    state.learn(list(named.values()))
    columns, names = [], []
    for name in sorted(keys, key=lambda n: state.order.get(named[n], len(state.order))):
        try:
            converted = _as_rule(table.column(name).combine_chunks())
        except pa.ArrowException:
            converted = None  # e.g. Arrow's list<null> of nulls, which it builds malformed
        if converted is None:
            return None
        columns.append(converted)
        names.append(named[name])
    if not names:
        return None  # rows without columns: the records rule decides how many
    return pa.RecordBatch.from_arrays(columns, names=names)


def _has_values(table: pa.Table, name: str) -> bool:
    return name in table.column_names and table.column(name).null_count < table.num_rows


def _parse(chunk: bytes | bytearray, text_columns: list[str]) -> pa.Table | None:
    explicit = pa.schema([(name, pa.string()) for name in text_columns]) if text_columns else None
    options = pajson.ParseOptions(explicit_schema=explicit, unexpected_field_behavior="infer")
    try:
        return pajson.read_json(
            pa.BufferReader(chunk),
            # One block: Arrow joins the types it inferred per block wrongly (pyarrow 26): a column of empty
            # arrays in one block and strings in the next crashes the process, ``{}`` then ``1`` reads {}.
            read_options=pajson.ReadOptions(
                block_size=min(len(chunk) + 1, (1 << 31) - 1), use_threads=len(chunk) >= _THREADED_PARSE
            ),
            parse_options=options,
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None


def _non_blank_lines(chunk: bytes | bytearray, newlines: int) -> int:
    """How many lines of the chunk hold something (Arrow skips blank ones, as the records rule does)."""
    tail = chunk[chunk.rfind(b"\n") + 1 :]
    lines = newlines + (1 if tail else 0)
    if _BLANK_LINE.search(chunk) or _LEADING_BLANK.match(chunk) or (tail and not tail.strip(b" \t\r")):
        return sum(1 for line in chunk.split(b"\n") if line.strip(b" \t\r"))
    return lines


def _as_rule(column: pa.Array) -> pa.Array | None:
    """The column as the records rule types it, or None when Arrow's reading may differ from it."""
    t = column.type
    if pa.types.is_null(t) or pa.types.is_boolean(t) or pa.types.is_string(t) or t == pa.int64():
        return column
    if t == pa.float64():
        return column if _plain_floats(column) else None
    if pa.types.is_struct(t) or pa.types.is_list(t):
        column.validate(full=True)
        return json_text_array(column, pa.string()) if _exact_nested(column) else None
    return None


def _plain_floats(column: pa.Array) -> bool:
    """No value the records rule would read differently: an integer beyond int64, or ``-0``."""
    if column.null_count == len(column):
        return True
    big = pc.any(pc.and_(pc.greater_equal(pc.abs(column), _INT64_LIMIT), pc.equal(pc.floor(column), column)))
    negative_zero = pc.any(pc.equal(pc.divide(pa.scalar(1.0), column), float("-inf")))
    return not (big.as_py() or negative_zero.as_py())


def _exact_nested(array: pa.Array) -> bool:
    """Whether Arrow's nested values give the same JSON text as the parsed objects would."""
    t = array.type
    if pa.types.is_struct(t):
        valid = pc.is_valid(array)
        for i in range(t.num_fields):
            child = array.field(i)
            if pc.any(pc.and_(valid, pc.is_null(child))).as_py():
                return False  # null or absent: Arrow cannot tell
            if not _exact_nested(child):
                return False
        return True
    if pa.types.is_list(t):
        return _exact_nested(array.values)
    if pa.types.is_floating(t):
        return not pc.any(pc.equal(pc.floor(array), array)).as_py()  # 1 and 1.0: Arrow cannot tell
    return bool(
        pa.types.is_null(t) or pa.types.is_boolean(t) or pa.types.is_string(t) or pa.types.is_integer(t)
    )


# --- the line-by-line path --------------------------------------------------------------------------------


def _python_lines(
    lines: Iterator[tuple[int, bytes | bytearray]], codec: str, batch_rows: int | None, bad_lines: BadLines
) -> Iterator[pa.RecordBatch]:
    """Lines parsed one by one by the records rule, ``batch_rows`` records per batch (None: one batch)."""
    records: list[Any] = []
    for lineno, raw in lines:
        if not raw.strip(_JSON_BLANK):
            continue
        try:
            text = raw.decode(codec)
        except UnicodeDecodeError as exc:
            bad_lines.add(
                lineno,
                raw.decode(codec, errors="backslashreplace").rstrip("\r\n"),
                f"not valid {codec.removesuffix('-sig')} at byte {exc.start + 1} of the line: {exc.reason}",
            )
            continue
        if not text.strip(_JSON_BLANK_TEXT):  # a line of a byte-order mark (files joined end to end)
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            bad_lines.add(lineno, text.rstrip("\r\n"), _invalid_json(text, exc))
            continue
        if not isinstance(record, dict):
            bad_lines.add(lineno, text.rstrip("\r\n"), _not_an_object(record))
            continue
        records.append(record)
        if batch_rows is not None and len(records) >= batch_rows:
            yield records_to_batch(records)
            records = []
    if records:
        yield records_to_batch(records)


def _invalid_json(text: str, exc: json.JSONDecodeError) -> str:
    """Why a line is not JSON; a line of only whitespace says which characters JSON does not allow."""
    reason = f"invalid JSON at character {exc.pos + 1}: {exc.msg}"
    if text.strip():
        return reason
    others = sorted({c for c in text if c not in _JSON_BLANK_TEXT})
    return (
        f"{reason}: the line is only whitespace, but {', '.join(map(ascii, others))} "
        f"{'is' if len(others) == 1 else 'are'} not whitespace in JSON (a blank line holds only spaces, tabs "
        "and carriage returns)"
    )


def _not_an_object(value: Any) -> str:
    kind = {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "an array"}.get(
        type(value), "null"
    )
    return (
        f"the line is {kind}, not a JSON object: every line of a JSON-lines file must be one object "
        "(its keys become the columns)"
    )


def _project(batch: pa.RecordBatch, columns: list[str] | None, state: _Columns) -> pa.RecordBatch:
    """Every batch of a JSON file, of either path (already named by the records rule: ``records_to_batch``,
    or ``_arrow_chunk``), projected to ``file.columns``."""
    state.seen.update(batch.schema.names)
    if not columns:
        return batch
    arrays = [
        batch.column(name) if name in batch.schema.names else pa.nulls(batch.num_rows) for name in columns
    ]
    return pa.RecordBatch.from_arrays(arrays, names=list(columns))


def _check_projection_seen(columns: list[str] | None, seen: set[str]) -> None:
    if columns and seen:
        require_columns(columns, sorted(seen))


# --- JSON documents ---------------------------------------------------------------------------------------


def read_json(stream: BinaryIO, cfg: FileConfig, batch_rows: int) -> Iterator[pa.RecordBatch]:
    """A whole JSON document; ``json_path`` picks the record list, ``batch_rows`` records per batch."""
    raw = stream.read()
    if not raw:
        raise EmptyFile()
    try:
        text = raw.decode(python_encoding(cfg.encoding))
        if not text.strip(_JSON_BLANK_TEXT):
            raise EmptyFile(len(raw))  # no document: what a 0-byte file is
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadContent(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from exc
    except UnicodeDecodeError as exc:
        raise BadContent(f"cannot decode as {cfg.encoding} at byte {exc.start}: {exc.reason}") from exc
    del raw, text
    records = _follow_json_path(document, cfg.json_path)
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            where = f"json_path '{cfg.json_path}'" if cfg.json_path else "the document"
            raise BadContent(f"record {index} of {where}: {_not_an_object(record).replace('the line', 'it')}")
    state = _Columns()
    for start in range(0, len(records), batch_rows):
        yield _project(records_to_batch(records[start : start + batch_rows]), cfg.column_names, state)
    _check_projection_seen(cfg.column_names, state.seen)


def _follow_json_path(document: Any, json_path: str | None) -> list[Any]:
    """The records ``json_path`` points at: a list, or an object (one record)."""
    node = document
    walked: list[str] = []
    for segment in json_path.split(".") if json_path else []:
        where = f"'{'.'.join(walked)}'" if walked else "the top level"
        if isinstance(node, dict):
            if segment not in node:
                keys = ", ".join(map(str, node)) or "(none)"
                raise BadContent(
                    f"json_path '{json_path}': no key '{segment}' at {where}; keys there: {keys}"
                )
            node = node[segment]
        elif isinstance(node, list):
            if not re.fullmatch(r"-?\d+", segment) or not -len(node) <= int(segment) < len(node):
                raise BadContent(
                    f"json_path '{json_path}': '{segment}' at {where} must index a list of "
                    f"{len(node)} items (0..{len(node) - 1})"
                )
            node = node[int(segment)]
        else:
            raise BadContent(
                f"json_path '{json_path}': {where} is a {type(node).__name__}, not an object or list, "
                f"so '{segment}' cannot be followed"
            )
        walked.append(segment)
    if isinstance(node, list):
        return node
    if isinstance(node, dict):
        return [node]
    target = f"json_path '{json_path}'" if json_path else "the document"
    raise BadContent(f"{target} is a {type(node).__name__}; expected a list of records or an object")
