"""Constant columns are one-value dictionaries sliced from one index array; the part writer stores and records
them (and view types) as their plain types."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from medallion_resources.lake.constant_columns import ConstantColumns
from medallion_resources.lake.parts import PartWriter, read_parquet_bytes, stored_schema
from medallion_resources.storage import StorageBackend

PREFIX = "t/dt=2026-01-01"
PATH = "/landing/some/rather/long/folder/orders_20260101.csv"


def _batch(start: int, count: int) -> pa.RecordBatch:
    return pa.record_batch({"id": pa.array(range(start, start + count), pa.int64())})


def _constants() -> ConstantColumns:
    return ConstantColumns(
        {
            "_source_file": pa.scalar(PATH, pa.string()),
            "_load_date": pa.scalar(dt.date(2026, 1, 1), pa.date32()),
        }
    )


def test_values_and_order_for_batches_of_any_size() -> None:
    constants = _constants()
    for start, count in ((0, 3), (3, 7), (10, 2), (12, 0), (12, 20)):
        batch = constants.apply(_batch(start, count))
        assert batch.schema.names == ["id", "_source_file", "_load_date"]
        assert stored_schema(batch.schema).field("_source_file").type == pa.string()
        assert batch.column("_source_file").to_pylist() == [PATH] * count
        assert batch.column("_load_date").to_pylist() == [dt.date(2026, 1, 1)] * count


def test_an_existing_column_of_that_name_keeps_its_values_under_another_name() -> None:
    """A source's own ``_source_file`` is data: renamed, not overwritten (``_source`` is taken here)."""
    constants = _constants()
    batch = pa.record_batch({"_source_file": ["x", "y"], "id": [1, 2], "_source_file_source": ["p", "q"]})
    for _ in range(2):  # the same name for every batch
        out = constants.apply(batch)
        assert out.schema.names == [
            "_source_file_source_2",
            "id",
            "_source_file_source",
            "_source_file",
            "_load_date",
        ]
        assert out.column("_source_file_source_2").to_pylist() == ["x", "y"]
        assert out.column("_source_file_source").to_pylist() == ["p", "q"]
        assert out.column("_source_file").to_pylist() == [PATH, PATH]
    assert constants.renamed == {"_source_file": "_source_file_source_2"}


def test_a_column_holds_its_value_once_and_batches_share_its_indices() -> None:
    constants = _constants()
    first = constants.apply(_batch(0, 10_000)).column("_source_file")
    second = constants.apply(_batch(0, 5_000)).column("_source_file")
    assert first.type == pa.dictionary(pa.int32(), pa.string())
    assert first.dictionary.to_pylist() == [PATH]
    assert first.nbytes < 4 * 10_000 + 2 * len(PATH)  # an int32 index per row, the text once
    assert second.indices.buffers()[1].address == first.indices.buffers()[1].address  # a slice, no copy


def test_a_null_value_is_a_column_of_nulls() -> None:
    batch = ConstantColumns({"_note": pa.scalar(None, pa.string())}).apply(_batch(0, 3))
    assert batch.column("_note").to_pylist() == [None, None, None]
    assert stored_schema(batch.schema).field("_note").type == pa.string()


def test_the_part_writer_stores_and_records_dictionaries_as_their_values(
    backend: StorageBackend, tmp_path: Path
) -> None:
    """Parquet's dictionary encoding, the plain type in the file's Arrow schema: pyarrow, polars and DuckDB
    read ``string`` and ``date``, as ``_metadata.json`` records them."""
    writer = PartWriter(
        backend,
        PREFIX,
        "part-{n:05d}-A.parquet",
        max_rows=4,
        max_bytes=1 << 30,
        compression="zstd",
        compression_level=1,
    )
    constants = _constants()
    other = ConstantColumns(
        {
            "_source_file": pa.scalar("/landing/other.csv", pa.string()),
            "_load_date": pa.scalar(dt.date(2026, 1, 1), pa.date32()),
        }
    )
    writer.write(constants.apply(_batch(0, 3)))
    writer.write(other.apply(_batch(3, 3)))  # a part holding two files' rows: two dictionaries in a column
    files = writer.close()
    assert writer.schema is not None
    assert writer.schema.field("_source_file").type == pa.string()
    assert writer.schema.field("_load_date").type == pa.date32()
    assert [f.row_count for f in files] == [4, 2]
    expected_files = [PATH] * 3 + ["/landing/other.csv"] * 3
    datas = [backend.read_bytes(f"{PREFIX}/{f.path}") for f in files]
    tables = [read_parquet_bytes(data) for data in datas]
    for table in tables:
        assert table.schema.field("_source_file").type == pa.string()
        assert table.schema.field("_load_date").type == pa.date32()
    assert [v for t in tables for v in t.column("_source_file").to_pylist()] == expected_files
    assert [v for t in tables for v in t.column("id").to_pylist()] == list(range(6))
    column = pq.ParquetFile(io.BytesIO(datas[0])).metadata.row_group(0).column(1)
    assert column.path_in_schema == "_source_file" and column.has_dictionary_page
    frames = [pl.read_parquet(io.BytesIO(data)) for data in datas]
    assert {f.schema["_source_file"] for f in frames} == {pl.String}
    assert [v for f in frames for v in f["_source_file"]] == expected_files
    for i, data in enumerate(datas):
        (tmp_path / f"{i}.parquet").write_bytes(data)
    rows = duckdb.sql(
        f"select _source_file, _load_date, typeof(_source_file), typeof(_load_date) "
        f"from read_parquet('{tmp_path}/*.parquet') order by id"
    ).fetchall()
    assert rows == [(p, dt.date(2026, 1, 1), "VARCHAR", "DATE") for p in expected_files]


def test_stored_schema_maps_view_and_dictionary_types() -> None:
    schema = pa.schema(
        [
            ("a", pa.string_view()),
            ("b", pa.binary_view()),
            ("c", pa.large_string()),
            ("d", pa.dictionary(pa.int32(), pa.string())),
            ("e", pa.dictionary(pa.int8(), pa.date32())),
        ]
    )
    plain = pa.schema(
        [
            ("a", pa.string()),
            ("b", pa.binary()),
            ("c", pa.large_string()),
            ("d", pa.string()),
            ("e", pa.date32()),
        ]
    )
    assert stored_schema(schema) == plain


def test_the_pyarrow_fallback_stores_views_as_plain_types(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from medallion_resources.lake.parts import _write_parquet

    table = pa.table({"v": pa.array(["a", "b"], pa.string_view()), "f": pa.array([1.5, 2.5], pa.float16())})
    path = str(tmp_path / "p.parquet")
    _write_parquet(table, path, "zstd", 1)  # float16: polars cannot take it, so pyarrow writes
    stored = pq.read_table(path)
    assert stored.schema.field("v").type == pa.string()
    assert stored.column("v").to_pylist() == ["a", "b"]
