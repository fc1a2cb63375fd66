"""Constant columns are sliced from one array, and the part writer stores and records views as plain types."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.parquet as pq

from medallion_resources.lake.constant_columns import ConstantColumns
from medallion_resources.lake.parts import PartWriter, read_parquet_bytes, stored_schema
from medallion_resources.storage import StorageBackend

PREFIX = "t/dt=2026-01-01"
PATH = "/landing/some/rather/long/folder/orders_20260101.csv"


def _batch(start: int, count: int) -> pa.RecordBatch:
    return pa.record_batch({"id": pa.array(range(start, start + count), pa.int64())})


def _constants(*, views: bool) -> ConstantColumns:
    return ConstantColumns(
        {
            "_source_file": pa.scalar(PATH, pa.string()),
            "_load_date": pa.scalar(dt.date(2026, 1, 1), pa.date32()),
        },
        views=views,
    )


def test_values_and_order_for_batches_of_any_size() -> None:
    constants = _constants(views=False)
    for start, count in ((0, 3), (3, 7), (10, 2), (12, 0)):
        batch = constants.apply(_batch(start, count))
        assert batch.schema.names == ["id", "_source_file", "_load_date"]
        assert batch.schema.field("_source_file").type == pa.string()
        assert batch.column("_source_file").to_pylist() == [PATH] * count
        assert batch.column("_load_date").to_pylist() == [dt.date(2026, 1, 1)] * count


def test_an_existing_column_of_that_name_is_overwritten_in_place() -> None:
    batch = pa.record_batch({"_source_file": ["x", "y"], "id": [1, 2]})
    out = _constants(views=False).apply(batch)
    assert out.schema.names == ["_source_file", "id", "_load_date"]
    assert out.column("_source_file").to_pylist() == [PATH, PATH]


def test_a_text_column_as_views_shares_one_copy_of_the_value() -> None:
    batch = _constants(views=True).apply(_batch(0, 10_000))
    column = batch.column("_source_file")
    assert column.type == pa.string_view()
    assert column.to_pylist() == [PATH] * 10_000
    assert column.nbytes < 16 * 10_000 + 2 * len(PATH)  # one view per row, the text once


def test_the_part_writer_stores_and_records_views_as_plain_types(backend: StorageBackend) -> None:
    writer = PartWriter(
        backend,
        PREFIX,
        "part-{n:05d}-A.parquet",
        max_rows=4,
        max_bytes=1 << 30,
        compression="zstd",
        compression_level=1,
    )
    constants = _constants(views=True)
    writer.write(constants.apply(_batch(0, 3)))
    writer.write(constants.apply(_batch(3, 3)))
    files = writer.close()
    assert writer.schema is not None
    assert writer.schema.field("_source_file").type == pa.string()
    assert [f.row_count for f in files] == [4, 2]
    tables = [read_parquet_bytes(backend.read_bytes(f"{PREFIX}/{f.path}")) for f in files]
    for table in tables:
        assert not pa.types.is_string_view(table.schema.field("_source_file").type)
    assert [v for t in tables for v in t.column("_source_file").to_pylist()] == [PATH] * 6
    assert [v for t in tables for v in t.column("id").to_pylist()] == list(range(6))


def test_stored_schema_maps_only_view_types() -> None:
    schema = pa.schema([("a", pa.string_view()), ("b", pa.binary_view()), ("c", pa.large_string())])
    plain = pa.schema([("a", pa.string()), ("b", pa.binary()), ("c", pa.large_string())])
    assert stored_schema(schema) == plain


def test_the_pyarrow_fallback_stores_views_as_plain_types(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from medallion_resources.lake.parts import _write_parquet

    table = pa.table({"v": pa.array(["a", "b"], pa.string_view()), "f": pa.array([1.5, 2.5], pa.float16())})
    path = str(tmp_path / "p.parquet")
    _write_parquet(table, path, "zstd", 1)  # float16: polars cannot take it, so pyarrow writes
    stored = pq.read_table(path)
    assert stored.schema.field("v").type == pa.string()
    assert stored.column("v").to_pylist() == ["a", "b"]
