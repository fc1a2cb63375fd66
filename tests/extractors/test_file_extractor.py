"""``FileExtractor``: real files in temporary folders (and fsspec ``memory://``), no mocks."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fsspec.implementations.memory import MemoryFileSystem
from pydantic import ValidationError

from medallion_assets.errors import ExtractError
from medallion_assets.extractors import ExtractContext, Extractor
from medallion_assets.extractors.file import FileExtractor, resolve_path_template
from medallion_resources.lake.parts import stored_schema

RUN_DATE = date(2025, 1, 2)
MakeFile = Callable[..., Extractor]


@pytest.fixture
def read(make_file: MakeFile, make_context: Callable[[date], ExtractContext]) -> Callable[..., list[dict]]:
    """``read(path=..., ...)``: every row the extractor yields for RUN_DATE, as dicts."""

    def run(run_date: date = RUN_DATE, **file: Any) -> list[dict[str, Any]]:
        extractor = make_file(**file)
        return [row for batch in extractor.extract(make_context(run_date)) for row in batch.to_pylist()]

    return run


@pytest.fixture
def batches_of(make_context: Callable[[date], ExtractContext]) -> Callable[..., list[pa.RecordBatch]]:
    def run(extractor: Extractor, run_date: date = RUN_DATE) -> list[pa.RecordBatch]:
        return list(extractor.extract(make_context(run_date)))

    return run


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def without_source_file(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k != "_source_file"} for row in rows]


# --- formats ----------------------------------------------------------------------------------------------


class TestCsv:
    def test_values_stay_text_exactly_as_written(self, tmp_path: Path, read: Callable[..., list]) -> None:
        path = write(tmp_path / "orders.csv", 'id,code,amount,note\n1,007,12.50,\n2,"a,b",x,"say ""hi"""\n')
        rows = read(path=str(path))
        assert without_source_file(rows) == [
            {"id": "1", "code": "007", "amount": "12.50", "note": ""},
            {"id": "2", "code": "a,b", "amount": "x", "note": 'say "hi"'},
        ]

    def test_every_column_is_string_even_when_later_blocks_differ(
        self, tmp_path: Path, make_file: MakeFile, batches_of: Callable[..., list]
    ) -> None:
        lines = ["n,flag"] + [f"{i},true" for i in range(50_000)] + ["oops,maybe"]
        path = write(tmp_path / "big.csv", "\n".join(lines) + "\n")
        extractor = make_file(path=str(path))
        extractor.csv_block_size = 64 << 10
        batches = batches_of(extractor)
        assert len(batches) > 1
        assert {str(f.type) for b in batches for f in stored_schema(b.schema)} == {"string"}
        assert batches[-1].column("n").to_pylist()[-1] == "oops"

    def test_quoted_newlines_stay_in_the_value(self, tmp_path: Path, read: Callable[..., list]) -> None:
        path = write(tmp_path / "notes.csv", 'id,note\n1,"two\nlines"\n2,x\n')
        assert without_source_file(read(path=str(path))) == [
            {"id": "1", "note": "two\nlines"},
            {"id": "2", "note": "x"},
        ]

    @pytest.mark.parametrize("encoding", ["utf-8", "cp1252", "utf-16"])
    def test_a_quoted_crlf_cut_by_a_block_boundary_keeps_its_lf(
        self, tmp_path: Path, make_file: MakeFile, batches_of: Callable[..., list], encoding: str
    ) -> None:
        """Arrow's streaming reader dropped the LF of a quoted CRLF whose CR ended a block: a Windows line
        break in a note landed as a lone CR, silently. Blocks are counted in UTF-8 (Arrow's transcoding of
        another encoding cut them there): the first is the 64 KiB the header peek read, the next ones
        ``csv_block_size``; here a CR is the last character of the first and of the second."""
        notes = ["x" * 65524 + "\r\ny", "a\r\nb", "z" * 65519 + "\r\nw"]
        content = "id,note\n" + "".join(f'{i},"{note}"\n' for i, note in enumerate(notes, start=1))
        assert content[65535:65537] == content[131071:131073] == "\r\n"  # characters 64 Ki and 128 Ki
        extractor = make_file(
            path=str(write(tmp_path / "notes.csv", content.encode(encoding))), encoding=encoding
        )
        extractor.csv_block_size = 64 << 10
        rows = [row for batch in batches_of(extractor) for row in batch.to_pylist()]
        assert [row["note"] for row in rows] == notes

    @pytest.mark.parametrize("block", [64 << 10, 1 << 20])
    @pytest.mark.parametrize("line_end", ["\r\n", "\r"])
    def test_a_header_whose_line_end_ends_the_peek_lands(
        self, tmp_path: Path, make_file: MakeFile, batches_of: Callable[..., list], block: int, line_end: str
    ) -> None:
        """The first block is the 64 KiB the header peek read; a CR ending it must stay in it when it ends the
        header (no block ends in a CR, so that a quoted CRLF keeps its LF: the CR waits for the next block,
        but Arrow needs the header's line end in the first one)."""
        names = [f"c{i:05d}" for i in range(9_362)]  # 9,362 names of 6 characters and their commas
        header = ",".join(names) + "," + "z" * (65535 - 7 * 9_362)
        assert len(header) == 65535  # its line end's CR is the peek's last byte
        content = header + line_end + ",".join(["1"] * 9_362) + ",9" + line_end
        extractor = make_file(path=str(write(tmp_path / "wide.csv", content)))
        extractor.csv_block_size = block
        [row] = [row for batch in batches_of(extractor) for row in batch.to_pylist()]
        assert (row["c00000"], row["c09361"], row["z" * (65535 - 7 * 9_362)]) == ("1", "1", "9")

    @pytest.mark.parametrize("repeated", [False, True])
    @pytest.mark.parametrize(("prefix", "encoding"), [("measurement_", "utf-8"), ("éééééééé_", "cp1252")])
    def test_a_header_longer_than_the_block_lands(
        self,
        tmp_path: Path,
        make_file: MakeFile,
        batches_of: Callable[..., list],
        repeated: bool,
        prefix: str,
        encoding: str,
    ) -> None:
        """A row longer than the block grows the block; the header is a row too (a wide file of 12,000
        columns here, blocks of 64 KiB; by default a header over 1 MiB). Arrow failed with "Empty CSV file
        or block: cannot infer number of columns", or, the header renamed, "Could not skip initial 1 rows".
        In cp1252 the header is half as long again decoded to UTF-8, which is what Arrow's block holds."""
        names = [f"{prefix}{i:05d}" for i in range(12_000)]
        if repeated:
            names[1] = names[0]  # lands as <prefix>00000_2
        values = [f"{i}" for i in range(12_000)]
        content = ",".join(names) + "\n" + ",".join(values) + "\n" + ",".join(reversed(values)) + "\n"
        path = write(tmp_path / "wide.csv", content.encode(encoding))
        extractor = make_file(path=str(path), encoding=encoding)
        extractor.csv_block_size = 64 << 10
        rows = [row for batch in batches_of(extractor) for row in batch.to_pylist()]
        first, second, last = (
            f"{prefix}00000",
            f"{prefix}00000_2" if repeated else f"{prefix}00001",
            f"{prefix}11999",
        )
        assert [(r[first], r[second], r[last]) for r in rows] == [
            ("0", "1", "11999"),
            ("11999", "11998", "0"),
        ]

    def test_a_bad_row_deep_in_a_big_file_is_located(
        self, tmp_path: Path, make_file: MakeFile, batches_of: Callable[..., list]
    ) -> None:
        lines = ["n,flag"] + [f"{i},true" for i in range(30_000)] + ["1,2,3"] + ["0,false"] * 10
        path = write(tmp_path / "big.csv", "\n".join(lines) + "\n")
        extractor = make_file(path=str(path))
        extractor.csv_block_size = 64 << 10
        with pytest.raises(
            ExtractError, match=r"big\.csv.*the first \d+ data rows read fine\); line 30002 has 3"
        ):
            batches_of(extractor)

    def test_custom_delimiter(self, tmp_path: Path, read: Callable[..., list]) -> None:
        path = write(tmp_path / "orders.csv", "a;b\n1;2,5\n")
        assert without_source_file(read(path=str(path), delimiter=";")) == [{"a": "1", "b": "2,5"}]

    def test_tsv_uses_tab_and_no_quoting(self, tmp_path: Path, read: Callable[..., list]) -> None:
        path = write(tmp_path / "orders.tsv", 'a\tb\n"x\ty, z"\n')
        assert without_source_file(read(path=str(path))) == [{"a": '"x', "b": 'y, z"'}]

    def test_encoding(self, tmp_path: Path, read: Callable[..., list]) -> None:
        path = write(tmp_path / "orders.csv", "name,city\nJosé,Zürich\n".encode("latin-1"))
        assert without_source_file(read(path=str(path), encoding="latin-1")) == [
            {"name": "José", "city": "Zürich"}
        ]

    def test_utf8_byte_order_mark_is_not_part_of_the_first_name(
        self, tmp_path: Path, read: Callable[..., list]
    ) -> None:
        path = write(tmp_path / "orders.csv", "\ufeffid,name\n1,a\n".encode())
        assert without_source_file(read(path=str(path))) == [{"id": "1", "name": "a"}]

    def test_empty_file_is_an_error_naming_allow_empty(
        self, tmp_path: Path, read: Callable[..., list]
    ) -> None:
        path = write(tmp_path / "orders.csv", b"")
        with pytest.raises(
            ExtractError, match=r"orders\.csv': the file is empty \(0 bytes\).*file\.allow_empty"
        ):
            read(path=str(path))

    def test_empty_file_allowed_has_no_rows_but_is_recorded(
        self, tmp_path: Path, make_file: MakeFile, batches_of: Callable[..., list]
    ) -> None:
        path = write(tmp_path / "orders.csv", b"")
        extractor = make_file(path=str(path), allow_empty=True)
        assert batches_of(extractor) == []
        assert extractor.stats["source_files"] == [
            {"path": str(path), "size_bytes": 0, "sha256": hashlib.sha256(b"").hexdigest()}
        ]

    def test_header_only_file_has_no_rows_but_its_columns(
        self, tmp_path: Path, make_file: MakeFile, batches_of: Callable[..., list]
    ) -> None:
        path = write(tmp_path / "orders.csv", "id,name\n")
        [batch] = batches_of(make_file(path=str(path)))
        assert batch.num_rows == 0
        assert batch.schema.names == ["id", "name", "_source_file"]
        assert {str(t) for t in stored_schema(batch.schema).types} == {"string"}

    def test_gzip_compressed(
        self, tmp_path: Path, make_file: MakeFile, batches_of: Callable[..., list]
    ) -> None:
        path = write(tmp_path / "orders.csv.gz", gzip.compress(b"id,name\n1,a\n2,b\n"))
        extractor = make_file(path=str(path))
        rows = [r for b in batches_of(extractor) for r in b.to_pylist()]
        assert without_source_file(rows) == [{"id": "1", "name": "a"}, {"id": "2", "name": "b"}]
        # The hash is of the stored (compressed) bytes: what `medallion verify` could re-check at the source.
        assert extractor.stats["source_files"] == [
            {"path": str(path), "size_bytes": path.stat().st_size, "sha256": sha256(path)}
        ]

    def test_format_given_for_an_unknown_extension(self, tmp_path: Path, read: Callable[..., list]) -> None:
        path = write(tmp_path / "orders.txt", "id\n1\n")
        assert without_source_file(read(path=str(path), format="csv")) == [{"id": "1"}]


class TestTypedCsv:
    def test_columns_with_types_type_and_project(self, tmp_path: Path, read: Callable[..., list]) -> None:
        path = write(tmp_path / "orders.csv", "id,day,amount,note\n7,2025-01-02,12.50,x\n8,2025-01-03,,\n")
        columns = {"amount": "decimal(10,2)", "id": "int64", "day": "date32", "note": "string"}
        rows = without_source_file(read(path=str(path), columns=columns))
        from decimal import Decimal

        assert rows == [
            {"amount": Decimal("12.50"), "id": 7, "day": date(2025, 1, 2), "note": "x"},
            {"amount": None, "id": 8, "day": date(2025, 1, 3), "note": ""},
        ]

    def test_infer_types(self, tmp_path: Path, make_file: MakeFile, batches_of: Callable[..., list]) -> None:
        path = write(tmp_path / "orders.csv", "id,amount,name\n1,1.5,a\n2,2,b\n")
        [batch] = batches_of(make_file(path=str(path), infer_types=True))
        assert [str(t) for t in stored_schema(batch.schema).types] == ["int64", "double", "string", "string"]

    def test_a_value_that_does_not_fit_names_the_fix(self, tmp_path: Path, read: Callable[..., list]) -> None:
        path = write(tmp_path / "orders.csv", "id\n1\nseven\n")
        with pytest.raises(ExtractError, match=r"orders\.csv.*int64.*'seven'.*fix file\.columns' types"):
            read(path=str(path), columns={"id": "int64"})

    @pytest.mark.parametrize(
        ("file", "message"),
        [
            ({"columns": {"id": "integer"}}, r"unknown column type\(s\) id: 'integer'; use Arrow type names"),
            ({"columns": {"id": "int64"}, "format": "jsonl"}, r"columns with types apply to csv/tsv"),
            ({"columns": {"id": "int64"}, "infer_types": True}, r"either columns with types or infer_types"),
            ({"max_field_mb": 0}, r"greater than 0"),
            ({"on_bad_lines": "skip"}, r"'error' or 'quarantine'"),
        ],
    )
    def test_config_errors(self, make_file: MakeFile, file: dict[str, Any], message: str) -> None:
        from pydantic import ValidationError

        with pytest.raises(ValidationError, match=message):
            make_file(path="x.csv", **file)

    @pytest.mark.parametrize("name", ["orders.jsonl", "orders.json", "orders.parquet"])
    def test_types_for_a_file_whose_extension_is_not_csv_fail_it(
        self, tmp_path: Path, read: Callable[..., list], name: str
    ) -> None:
        """``format: jsonl`` with typed columns is a config error; the same format taken from the extension
        landed the column untyped (``"7"``, not the int64 the config asked for): the types were ignored."""
        path = tmp_path / name
        if name.endswith(".parquet"):
            pq.write_table(pa.table({"id": ["7"]}), path)
        else:
            write(path, '{"id": "7"}\n' if name.endswith(".jsonl") else '[{"id": "7"}]')
        with pytest.raises(ExtractError, match=rf"{name}'.*columns with types apply to csv/tsv files, not"):
            read(path=str(path), columns={"id": "int64"})


class TestHeaderless:
    def test_columns_name_the_fields(self, tmp_path: Path, read: Callable[..., list]) -> None:
        path = write(tmp_path / "orders.csv", "1,a\n2,b\n")
        rows = read(path=str(path), has_header=False, columns=["id", "name"])
        assert without_source_file(rows) == [{"id": "1", "name": "a"}, {"id": "2", "name": "b"}]

    def test_without_columns_names_are_generated(self, tmp_path: Path, read: Callable[..., list]) -> None:
        path = write(tmp_path / "orders.csv", "1,a,x\n")
        rows = read(path=str(path), has_header=False)
        assert without_source_file(rows) == [{"column_1": "1", "column_2": "a", "column_3": "x"}]

    def test_column_count_must_match(self, tmp_path: Path, read: Callable[..., list]) -> None:
        path = write(tmp_path / "orders.csv", "1,a,x\n")
        with pytest.raises(
            ExtractError, match=r"orders\.csv.*file\.columns names 2 columns but the first row has 3"
        ):
            read(path=str(path), has_header=False, columns=["id", "name"])


class TestJsonl:
    def test_nested_values_are_json_text_and_mixed_types_widen(
        self, tmp_path: Path, read: Callable[..., list]
    ) -> None:
        lines = [
            {"id": 1, "customer": {"name": "Ann", "tags": ["vip"]}, "qty": 2},
            {"id": "B-2", "customer": None, "qty": 2.5, "extra": True},
        ]
        path = write(tmp_path / "events.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n\n")
        rows = read(path=str(path))
        assert without_source_file(rows) == [
            {"id": "1", "customer": '{"name":"Ann","tags":["vip"]}', "qty": 2.0, "extra": None},
            {"id": "B-2", "customer": None, "qty": 2.5, "extra": True},
        ]

    def test_ndjson_extension_and_gzip(self, tmp_path: Path, read: Callable[..., list]) -> None:
        path = write(tmp_path / "events.ndjson.gz", gzip.compress(b'{"a": 1}\n{"a": 2}\n'))
        assert without_source_file(read(path=str(path))) == [{"a": 1}, {"a": 2}]

    def test_batches_of_batch_rows_lines(
        self, tmp_path: Path, make_file: MakeFile, batches_of: Callable[..., list]
    ) -> None:
        path = write(tmp_path / "events.jsonl", "".join(f'{{"i": {i}}}\n' for i in range(25)))
        extractor = make_file(path=str(path))
        extractor.batch_rows = 10
        assert [b.num_rows for b in batches_of(extractor)] == [10, 10, 5]


class TestJson:
    def test_top_level_list(self, tmp_path: Path, read: Callable[..., list]) -> None:
        path = write(tmp_path / "items.json", '[{"a": 1}, {"a": 2, "b": [1]}]')
        assert without_source_file(read(path=str(path))) == [{"a": 1, "b": None}, {"a": 2, "b": "[1]"}]

    def test_json_path_to_the_records(self, tmp_path: Path, read: Callable[..., list]) -> None:
        doc = {"meta": {"n": 2}, "data": {"items": [{"id": 1}, {"id": 2}]}}
        path = write(tmp_path / "items.json", json.dumps(doc))
        assert without_source_file(read(path=str(path), json_path="data.items")) == [{"id": 1}, {"id": 2}]

    def test_numeric_segments_index_lists(self, tmp_path: Path, read: Callable[..., list]) -> None:
        doc = {"pages": [{"rows": [{"id": 1}]}, {"rows": [{"id": 2}, {"id": 3}]}]}
        path = write(tmp_path / "items.json", json.dumps(doc))
        assert without_source_file(read(path=str(path), json_path="pages.1.rows")) == [{"id": 2}, {"id": 3}]

    def test_object_at_the_end_is_one_row(self, tmp_path: Path, read: Callable[..., list]) -> None:
        path = write(tmp_path / "item.json", '{"report": {"total": 3, "by_day": {"mon": 1}}}')
        rows = read(path=str(path), json_path="report")
        assert without_source_file(rows) == [{"total": 3, "by_day": '{"mon":1}'}]

    def test_whole_object_document_is_one_row(self, tmp_path: Path, read: Callable[..., list]) -> None:
        path = write(tmp_path / "item.json", '{"data": [1, 2]}')
        assert without_source_file(read(path=str(path))) == [{"data": "[1,2]"}]

    @pytest.mark.parametrize(
        ("json_path", "message"),
        [
            ("data.itmes", r"json_path 'data\.itmes': no key 'itmes' at 'data'; keys there: items, count"),
            ("dta", r"no key 'dta' at the top level; keys there: data"),
            ("data.items.5", r"'5' at 'data\.items' must index a list of 1 items \(0\.\.0\)"),
            ("data.count.x", r"'data\.count' is a int, not an object or list"),
            ("data.count", r"json_path 'data\.count' is a int; expected a list of records or an object"),
        ],
    )
    def test_json_path_miss_lists_what_is_there(
        self, tmp_path: Path, read: Callable[..., list], json_path: str, message: str
    ) -> None:
        path = write(tmp_path / "items.json", '{"data": {"items": [{"id": 1}], "count": 1}}')
        with pytest.raises(ExtractError, match=rf"items\.json.*{message}"):
            read(path=str(path), json_path=json_path)


class TestParquet:
    def test_types_are_kept_and_batches_stream(
        self, tmp_path: Path, make_file: MakeFile, batches_of: Callable[..., list]
    ) -> None:
        table = pa.table({"id": pa.array(range(10), pa.int64()), "amount": pa.array([1.5] * 10)})
        path = tmp_path / "orders.parquet"
        pq.write_table(table, path, row_group_size=4)
        extractor = make_file(path=str(path))
        extractor.batch_rows = 3
        batches = batches_of(extractor)
        assert len(batches) > 1
        assert batches[0].schema.field("id").type == pa.int64()
        assert sum(b.num_rows for b in batches) == 10
        assert extractor.stats["source_files"] == [
            {"path": str(path), "size_bytes": path.stat().st_size, "sha256": sha256(path)}
        ]

    def test_a_file_replaced_while_it_is_read_records_the_hash_of_the_bytes_read(
        self, tmp_path: Path, make_file: MakeFile, make_context: Callable[[date], ExtractContext]
    ) -> None:
        """An upstream job that re-exports the file (written aside, renamed over it) while the run reads it:
        the rows come from the file opened, and so must ``source_files``' size and SHA-256 (a second open
        of the path hashed the new file)."""
        path = tmp_path / "orders.parquet"
        pq.write_table(pa.table({"id": pa.array(range(30_000), pa.int64())}), path, row_group_size=5_000)
        landed = path.read_bytes()
        newer = tmp_path / "orders.parquet.tmp"
        pq.write_table(pa.table({"id": pa.array([-1], pa.int64())}), newer)
        extractor = make_file(path=str(path))
        ids: list[int] = []
        for batch in extractor.extract(make_context(RUN_DATE)):
            if not ids:  # the reader is a few row groups ahead at most: the file is still open
                newer.replace(path)
            ids += batch.column("id").to_pylist()
        assert ids == list(range(30_000))
        assert extractor.stats["source_files"] == [
            {"path": str(path), "size_bytes": len(landed), "sha256": hashlib.sha256(landed).hexdigest()}
        ]

    def test_pq_extension_and_projection(self, tmp_path: Path, read: Callable[..., list]) -> None:
        path = tmp_path / "orders.pq"
        pq.write_table(pa.table({"a": [1], "b": ["x"], "c": [True]}), path)
        assert read(path=str(path), columns=["c", "a"]) == [{"c": True, "a": 1, "_source_file": str(path)}]


# --- finding files ----------------------------------------------------------------------------------------


@pytest.fixture
def dated_files(tmp_path: Path) -> Path:
    """orders_<yyyymmdd>.csv for 1-3 January 2025, plus metadata files a glob must not pick up."""
    for day in (1, 2, 3):
        write(tmp_path / "landing" / f"orders_202501{day:02d}.csv", f"id,day\n{day}1,{day}\n{day}2,{day}\n")
    write(tmp_path / "landing" / "_SUCCESS", b"")
    write(tmp_path / "landing" / ".orders_20250102.csv.crc", b"\x00\x01")
    write(tmp_path / "landing" / "_orders_20250102.csv", "id,day\nhidden,x\n")
    return tmp_path / "landing"


class TestMatching:
    def test_strftime_template_picks_the_run_dates_file(
        self, dated_files: Path, read: Callable[..., list]
    ) -> None:
        rows = read(path=str(dated_files / "orders_{run_date:%Y%m%d}.csv"))
        assert [r["id"] for r in rows] == ["21", "22"]
        assert {r["_source_file"] for r in rows} == {str(dated_files / "orders_20250102.csv")}

    def test_template_and_glob_across_days(self, dated_files: Path, read: Callable[..., list]) -> None:
        rows = read(path=str(dated_files / "orders_{run_date:%Y%m}*.csv"))
        assert [r["id"] for r in rows] == ["11", "12", "21", "22", "31", "32"]  # path order

    def test_plain_run_date_is_iso(self, tmp_path: Path, read: Callable[..., list]) -> None:
        write(tmp_path / "dt=2025-01-02" / "part-1.csv", "id\n1\n")
        write(tmp_path / "dt=2025-01-03" / "part-1.csv", "id\n2\n")
        assert [r["id"] for r in read(path=str(tmp_path / "dt={run_date}" / "*.csv"))] == ["1"]

    def test_window_templates(self, tmp_path: Path, read: Callable[..., list]) -> None:
        write(tmp_path / "from_20250102_to_20250103.csv", "id\n1\n")
        path = tmp_path / "from_{window_start:%Y%m%d}_to_{window_end:%Y%m%d}.csv"
        assert [r["id"] for r in read(path=str(path))] == ["1"]

    @pytest.mark.parametrize(
        ("pattern", "expected"),
        [
            ("orders_2025010?.csv", ["11", "12", "21", "22", "31", "32"]),
            ("orders_2025010[13].csv", ["11", "12", "31", "32"]),
            ("*.csv", ["11", "12", "21", "22", "31", "32"]),
        ],
    )
    def test_globs_skip_metadata_files(
        self, dated_files: Path, read: Callable[..., list], pattern: str, expected: list[str]
    ) -> None:
        assert [r["id"] for r in read(path=str(dated_files / pattern))] == expected

    def test_recursive_glob_skips_hidden_folders(self, tmp_path: Path, read: Callable[..., list]) -> None:
        write(tmp_path / "a" / "x.csv", "id\n1\n")
        write(tmp_path / "a" / "b" / "y.csv", "id\n2\n")
        write(tmp_path / "a" / "_temporary" / "z.csv", "id\n3\n")
        write(tmp_path / "a" / ".git" / "w.csv", "id\n4\n")
        rows = read(path=str(tmp_path / "**" / "*.csv"))
        assert sorted(r["id"] for r in rows) == ["1", "2"]

    def test_directory_means_its_files(self, dated_files: Path, read: Callable[..., list]) -> None:
        assert len(read(path=str(dated_files))) == 6

    def test_a_file_named_exactly_is_read_even_with_underscore(
        self, dated_files: Path, read: Callable[..., list]
    ) -> None:
        assert [r["id"] for r in read(path=str(dated_files / "_orders_20250102.csv"))] == ["hidden"]

    def test_unknown_template_field(self, dated_files: Path, read: Callable[..., list]) -> None:
        """Refused when the config loads (``FileConfig``), never first when the source runs."""
        with pytest.raises(ValidationError, match=r"unknown template field '\{date\}' in file\.path"):
            read(path=str(dated_files / "orders_{date}.csv"))

    def test_unknown_extension_without_format(self, tmp_path: Path, read: Callable[..., list]) -> None:
        path = write(tmp_path / "orders.dat", "id\n1\n")
        with pytest.raises(
            ExtractError,
            match=r"orders\.dat.*extension '\.dat'; set file\.format to one of: csv, tsv, json, jsonl",
        ):
            read(path=str(path))


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("a/{run_date}.csv", "a/2025-01-02.csv"),
        ("a/{run_date:%Y/%m/%d}/*.csv", "a/2025/01/02/*.csv"),
        ("{window_start}", "2025-01-02T00:00:00+00:00"),
        ("{window_end:%Y%m%d}", "20250103"),
        ("a/{x,y}/b", "a/{x,y}/b"),
    ],
)
def test_resolve_path_template(template: str, expected: str) -> None:
    start = datetime(2025, 1, 2, tzinfo=UTC)
    end = datetime(2025, 1, 3, tzinfo=UTC)
    assert resolve_path_template(template, RUN_DATE, start, end) == expected


class TestRequired:
    def test_no_match_is_an_error_naming_pattern_date_and_resolution(
        self, dated_files: Path, read: Callable[..., list]
    ) -> None:
        pattern = str(dated_files / "orders_{run_date:%Y%m%d}.csv")
        with pytest.raises(ExtractError) as info:
            read(run_date=date(2025, 1, 9), path=pattern)
        message = str(info.value)
        assert f"file.path '{pattern}' (resolved for run date 2025-01-09 to " in message
        assert "orders_20250109.csv') matched no files" in message
        assert "file.required: false" in message

    def test_only_metadata_files_says_they_were_skipped(
        self, dated_files: Path, read: Callable[..., list]
    ) -> None:
        with pytest.raises(ExtractError, match=r"matched no files \(2 file\(s\) starting with '_' or '\.'"):
            read(path=str(dated_files / "[_.]orders_20250102.csv*"))

    def test_not_required_gives_an_empty_partition(
        self, dated_files: Path, make_file: MakeFile, batches_of: Callable[..., list]
    ) -> None:
        extractor = make_file(path=str(dated_files / "orders_{run_date:%Y%m%d}.csv"), required=False)
        assert batches_of(extractor, date(2025, 1, 9)) == []
        assert extractor.stats == {"source_files": []}


class TestStats:
    def test_source_files_in_read_order_with_hashes(
        self, dated_files: Path, make_file: MakeFile, batches_of: Callable[..., list]
    ) -> None:
        extractor = make_file(path=str(dated_files / "orders_*.csv"))
        batches = batches_of(extractor)
        expected = [dated_files / f"orders_2025010{d}.csv" for d in (1, 2, 3)]
        assert extractor.stats["source_files"] == [
            {"path": str(p), "size_bytes": p.stat().st_size, "sha256": sha256(p)} for p in expected
        ]
        per_row = [name for b in batches for name in b.column("_source_file").to_pylist()]
        assert list(dict.fromkeys(per_row)) == [str(p) for p in expected]  # in read order
        assert per_row == sorted(per_row)  # each file's rows together
        # A dictionary of the files' paths (small files' batches are joined), stored (and recorded) as text.
        assert all(
            b.schema.field("_source_file").type == pa.dictionary(pa.int32(), pa.string()) for b in batches
        )


class TestProjection:
    def test_csv_keeps_only_the_listed_columns_in_that_order(
        self, tmp_path: Path, read: Callable[..., list]
    ) -> None:
        path = write(tmp_path / "orders.csv", "a,b,c\n1,2,3\n")
        assert read(path=str(path), columns=["c", "a"]) == [{"c": "3", "a": "1", "_source_file": str(path)}]

    @pytest.mark.parametrize(
        ("name", "content"),
        [
            ("orders.csv", "a,b\n1,2\n"),
            ("orders.jsonl", '{"a": 1, "b": 2}\n'),
            ("orders.json", '[{"a": 1, "b": 2}]'),
        ],
    )
    def test_missing_column_lists_present_ones(
        self, tmp_path: Path, read: Callable[..., list], name: str, content: str
    ) -> None:
        path = write(tmp_path / name, content)
        with pytest.raises(
            ExtractError, match=rf"{name}.*file\.columns 'zz' not in the file; columns present: a, b"
        ):
            read(path=str(path), columns=["a", "zz"])

    def test_parquet_missing_column(self, tmp_path: Path, read: Callable[..., list]) -> None:
        path = tmp_path / "orders.parquet"
        pq.write_table(pa.table({"a": [1], "b": [2]}), path)
        with pytest.raises(
            ExtractError, match=r"orders\.parquet.*'zz' not in the file; columns present: a, b"
        ):
            read(path=str(path), columns=["zz"])

    def test_jsonl_column_absent_from_some_records_is_null(
        self, tmp_path: Path, read: Callable[..., list]
    ) -> None:
        path = write(tmp_path / "orders.jsonl", '{"a": 1, "b": 2}\n{"a": 3}\n')
        assert without_source_file(read(path=str(path), columns=["b"])) == [{"b": 2}, {"b": None}]


CORRUPT_FILES = [
    (
        "bad_row.csv",
        "a,b\n1,2\n3,4,5\n",
        r"Expected 2 columns, got 3.*line 3 has 3 fields, the first row 2",
    ),
    ("bad_utf8.csv", b"a,b\n1,2\n\xff\xfe,1\n", r"invalid UTF8.*line 3: not valid utf-8"),
    ("bad_line.jsonl", '{"a": 1}\n{"a": 2}\n{"a": \n', r"line 3: invalid JSON at character 8"),
    ("bad_utf8.jsonl", b'{"a": 1}\n{"a": "\xff"}\n', r"line 2: not valid utf-8 at byte 8"),
    ("bad_doc.json", '[{"a": 1},\n {"a": 2,}]', r"invalid JSON at line 2 column"),
    ("not_parquet.parquet", b"id,name\n1,a\n", r"(?i:parquet)"),
    ("not_gzip.csv.gz", b"id,name\n1,a\n", r"(?i:gzip)"),
    ("cut.jsonl.gz", gzip.compress(b'{"a": 1}\n' * 100)[:-30], r"(?i:end|eof|compressed)"),
]


@pytest.mark.parametrize(("name", "content", "message"), CORRUPT_FILES, ids=[c[0] for c in CORRUPT_FILES])
def test_corrupt_files_name_the_file_and_the_problem(
    tmp_path: Path, read: Callable[..., list], name: str, content: str | bytes, message: str
) -> None:
    path = write(tmp_path / name, content)
    with pytest.raises(
        ExtractError,
        match=rf"source 'shop_orders': cannot read \w+ file '{re.escape(str(path))}': .*{message}",
    ):
        read(path=str(path))


@pytest.mark.parametrize(("name", "kind"), [("orders.csv.zst", "zstd"), ("orders.csv.zip", "zip")])
def test_a_compression_the_reader_cannot_undo_fails_the_file(
    tmp_path: Path, read: Callable[..., list], name: str, kind: str
) -> None:
    """With ``format: csv`` (the extension alone names no format) a zstd or zip file was read as CSV text:
    in Latin-1, where every byte is a character, its compressed bytes landed as a header and rows."""
    path = write(tmp_path / name, b"(\xb5/\xfd\x04\x00a,b\n\x9c\x01,\x02\n")  # bytes as a compressor writes
    with pytest.raises(
        ExtractError, match=rf"{re.escape(name)}': {kind}-compressed files are not read.*\.gz, \.bz2, \.xz"
    ):
        read(path=str(path), format="csv", encoding="latin-1")


class TestStreaming:
    def test_a_large_csv_comes_out_in_several_batches(
        self, tmp_path: Path, make_file: MakeFile, make_context: Callable[[date], ExtractContext]
    ) -> None:
        path = tmp_path / "big.csv"
        with path.open("w", encoding="utf-8") as out:
            out.write("id,name,amount\n")
            out.writelines(f"{i},customer {i},{i * 1.5}\n" for i in range(200_000))
        stream = make_file(path=str(path)).extract(make_context(RUN_DATE))
        first = next(stream)  # the first batch arrives before the file is read to the end
        assert 0 < first.num_rows < 200_000
        rest = list(stream)
        assert len(rest) >= 1
        assert first.num_rows + sum(b.num_rows for b in rest) == 200_000

    def test_closing_the_stream_early_is_clean(
        self, tmp_path: Path, make_file: MakeFile, make_context: Callable[[date], ExtractContext]
    ) -> None:
        path = write(tmp_path / "e.jsonl", "".join(f'{{"i": {i}}}\n' for i in range(100)))
        extractor = make_file(path=str(path))
        extractor.batch_rows = 10
        stream = extractor.extract(make_context(RUN_DATE))
        assert next(stream).num_rows == 10
        stream.close()
        assert extractor.stats["source_files"] == []  # only fully read files are recorded


class TestFsspecUrls:
    def test_memory_filesystem_through_the_url(self, memory_root: str, read: Callable[..., list]) -> None:
        for day in ("20250101", "20250102"):
            with fsspec.open(f"{memory_root}/in/orders_{day}.jsonl", "wb") as out:
                out.write(f'{{"day": "{day}", "n": {{"k": 1}}}}\n'.encode())
        with fsspec.open(f"{memory_root}/in/_orders_20250102.jsonl", "wb") as out:
            out.write(b'{"day": "hidden"}\n')
        rows = read(path=f"{memory_root}/in/*orders_{{run_date:%Y%m%d}}.jsonl")
        folder = memory_root.removeprefix("memory://")
        assert rows == [
            {
                "day": "20250102",
                "n": '{"k":1}',
                "_source_file": f"memory:///{folder}/in/orders_20250102.jsonl",
            }
        ]

    def test_memory_filesystem_stats(
        self, memory_root: str, make_file: MakeFile, batches_of: Callable
    ) -> None:
        data = b"a,b\n1,2\n"
        with fsspec.open(f"{memory_root}/x.csv", "wb") as out:
            out.write(data)
        extractor = make_file(path=f"{memory_root}/x.csv")
        batches_of(extractor)
        [entry] = extractor.stats["source_files"]
        assert entry["size_bytes"] == len(data)
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()

    def test_credentials_in_a_url_are_redacted(self, read: Callable[..., list]) -> None:
        with pytest.raises(ExtractError) as info:
            read(path="https://user:s3cret@example.invalid/data_{run_date}.csv?sig=abc")
        assert "s3cret" not in str(info.value)
        assert "sig=abc" not in str(info.value)


class TestCheck:
    def test_counts_todays_matches_without_reading(self, tmp_path: Path, make_file: MakeFile) -> None:
        write(tmp_path / "a.csv", "not,read\n")
        write(tmp_path / "b.csv", "")
        result = make_file(path=str(tmp_path / "*.csv")).check()
        assert result.ok
        assert result.detail.startswith(f"2 files match '{tmp_path}/*.csv'")

    def test_template_resolved_for_today(self, tmp_path: Path, make_file: MakeFile) -> None:
        result = make_file(path=str(tmp_path / "orders_{run_date:%Y}.csv")).check()
        assert result.ok
        assert "0 files match" in result.detail
        assert f"orders_{date.today().year}.csv" in result.detail or "orders_" in result.detail

    def test_missing_folder_is_not_ok(self, tmp_path: Path, make_file: MakeFile) -> None:
        result = make_file(path=str(tmp_path / "nope" / "*.csv")).check()
        assert not result.ok
        assert "does not exist" in result.detail


def test_registered_as_type_file(make_file: MakeFile, tmp_path: Path) -> None:
    assert type(make_file(path=str(tmp_path / "x.csv"))) is FileExtractor


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_a_day_of_many_files_logs_the_first_ones_and_one_line_for_all(
    fmt: str,
    tmp_path: Path,
    make_file: MakeFile,
    make_context: Callable[[date], ExtractContext],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A log line is a Dagster event, one SQLite write: a day of 2,000 small files wrote 2,000 of them, a
    third of its Bronze step. The first files are logged one by one, the rest in one line at the end;
    ``source_files`` still lists every file."""
    from medallion_assets.extractors.file import extractor as file_extractor

    for n in range(12):
        table = pa.table({"id": [n], "at": [f"2025-01-02T00:00:{n:02d}"]})
        if fmt == "parquet":
            pq.write_table(table, tmp_path / f"part_{n:02d}.parquet")
        elif fmt == "csv":
            (tmp_path / f"part_{n:02d}.csv").write_text(f"id,at\n{n},2025-01-02T00:00:{n:02d}\n")
        else:
            (tmp_path / f"part_{n:02d}.jsonl").write_text(json.dumps(table.to_pylist()[0]) + "\n")

    def lines() -> list[str]:
        return [r.getMessage() for r in caplog.records if "rows from" in r.getMessage()]

    caplog.set_level("INFO", logger="medallion.extract")
    extractor = make_file(path=str(tmp_path / f"*.{fmt}"))
    rows = [row for batch in extractor.extract(make_context()) for row in batch.to_pylist()]
    assert [int(row["id"]) for row in rows] == list(range(12))  # CSV lands text
    assert len(extractor.stats["source_files"]) == 12
    assert [line.split(" file ")[-1].rsplit("/", 1)[-1] for line in lines()[:-1]] == [
        f"part_{n:02d}.{fmt}" for n in range(file_extractor.FILES_LOGGED)
    ]
    assert lines()[-1] == (
        f"source 'shop_orders': 12 rows from 12 {fmt} files ({file_extractor.FILES_LOGGED} of them logged "
        "one by one; _metadata.json's source_files lists each with its size and SHA-256)"
    )
    caplog.clear()  # a file that takes FILE_LOG_SECONDS is logged whatever its place; no summary then
    monkeypatch.setattr(file_extractor, "FILE_LOG_SECONDS", 0.0)
    list(make_file(path=str(tmp_path / f"*.{fmt}")).extract(make_context()))
    assert len(lines()) == 12


def test_small_files_are_handed_on_in_one_batch_each_row_with_its_file(
    tmp_path: Path,
    make_file: MakeFile,
    make_context: Callable[[date], ExtractContext],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each batch costs the Bronze step as much as reading a small file, so the small batches of
    consecutive files are joined (up to ``batch_rows`` rows); ``_source_file`` still names each row's file.
    A file of other columns, and a batch of ``SMALL_BATCH_ROWS`` rows or more, are not joined with the
    batches before them; the order of the rows is the files' order."""
    from medallion_assets.extractors.file import extractor as file_extractor

    monkeypatch.setattr(file_extractor, "SMALL_BATCH_ROWS", 4)
    sizes = {"a": 1, "b": 2, "c": 1, "d": 5, "e": 1, "f": 1, "g": 1}
    for name, size in sizes.items():
        header = "id,extra" if name == "f" else "id"
        rows = [f"{name}{i}" + (",x" if name == "f" else "") for i in range(size)]
        (tmp_path / f"{name}.csv").write_text("\n".join([header, *rows]) + "\n")
    extractor = make_file(path=str(tmp_path / "*.csv"))
    extractor.batch_rows = 3
    batches = list(extractor.extract(make_context()))
    # a,b (3 rows: full) | c (then d is big) | d | e (then f has other columns) | f | g
    assert [b.num_rows for b in batches] == [3, 1, 5, 1, 1, 1]
    rows = [row for batch in batches for row in batch.to_pylist()]
    assert [row["id"] for row in rows] == [f"{n}{i}" for n, size in sizes.items() for i in range(size)]
    assert [Path(row["_source_file"]).stem for row in rows] == [
        n for n, size in sizes.items() for _ in range(size)
    ]
    assert {b.schema.field("_source_file").type for b in batches} == {pa.dictionary(pa.int32(), pa.string())}


class _SlowStore(MemoryFileSystem):
    """An object store in memory whose every fetch takes a round trip (50 ms), counting fetches in flight."""

    protocol = "slowstore"
    store: dict[str, Any] = {}  # noqa: RUF012 - fsspec's class-level store, this class's own
    pseudo_dirs = [""]  # noqa: RUF012
    in_flight = 0
    most_in_flight = 0
    fetched: list[str] = []  # noqa: RUF012
    sized: list[str] = []  # noqa: RUF012
    failing: set[str] = set()  # noqa: RUF012
    lock = threading.Lock()

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, str) and path.startswith("slowstore://"):
            path = "memory://" + path[len("slowstore://") :]
        return super()._strip_protocol(path)

    def size(self, path: str) -> int:
        type(self).sized.append(path)  # a request of its own on a real store
        return int(super().size(path))

    def cat_file(self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any) -> bytes:
        cls = type(self)
        with cls.lock:
            cls.in_flight += 1
            cls.most_in_flight = max(cls.most_in_flight, cls.in_flight)
        try:
            time.sleep(0.05)
            if self._strip_protocol(path) in cls.failing:
                raise OSError("the store refused")
            cls.fetched.append(self._strip_protocol(path))
            return bytes(super().cat_file(path, start, end, **kwargs))
        finally:
            with cls.lock:
                cls.in_flight -= 1


@pytest.fixture
def slow_store(monkeypatch: pytest.MonkeyPatch) -> type[_SlowStore]:
    fsspec.register_implementation("slowstore", _SlowStore, clobber=True)
    _SlowStore.store.clear()
    monkeypatch.setattr(_SlowStore, "most_in_flight", 0)
    monkeypatch.setattr(_SlowStore, "fetched", [])
    monkeypatch.setattr(_SlowStore, "sized", [])
    monkeypatch.setattr(_SlowStore, "failing", set())
    return _SlowStore


def test_an_object_stores_small_files_are_fetched_several_at_once(
    slow_store: type[_SlowStore],
    make_file: MakeFile,
    make_context: Callable[[date], ExtractContext],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Read one after the other, each small file of an object store cost its round trips (a landing zone of
    2,000 files: 2,000 waits). They are fetched ahead, several at once, and read from memory in their turn:
    the same rows, paths and hashes; a file over ``PREFETCH_BYTES``, or one whose fetch fails, is read as
    it is opened."""
    from medallion_assets.extractors.file import streams

    contents = {f"/landing/part_{n:02d}.csv": f"id\n{n}\n".encode() for n in range(16)}
    for path, data in contents.items():
        slow_store().pipe_file(path, data)
    slow_store.failing.add("/landing/part_03.csv")

    def land() -> tuple[list[str], list[dict[str, Any]]]:
        extractor = make_file(path="slowstore://landing/*.csv")
        rows = [row for batch in extractor.extract(make_context()) for row in batch.to_pylist()]
        return [r["id"] for r in rows], extractor.stats["source_files"]

    ids, files = land()
    assert ids == [str(n) for n in range(16)]
    assert [(f["path"], f["sha256"]) for f in files] == [
        (f"slowstore://{p}", hashlib.sha256(d).hexdigest()) for p, d in contents.items()
    ]
    assert slow_store.most_in_flight >= 4
    assert slow_store.sized == []  # the listing's sizes: no request per file to learn them
    assert sorted(slow_store.fetched) == sorted(p for p in contents if p != "/landing/part_03.csv")
    monkeypatch.setattr(streams, "PREFETCH_BYTES", 4)  # every file is "big": opened in its turn
    slow_store.fetched.clear()
    assert land() == (ids, files)
    assert slow_store.fetched == []
