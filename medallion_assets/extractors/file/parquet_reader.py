"""Parquet: typed as stored, passed through row group by row group."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from medallion_assets.config.models import FileConfig
from medallion_assets.extractors.file.common import require_columns
from medallion_assets.extractors.names import unique_names

__all__ = ["read_parquet"]

_WHOLE_GROUP_BYTES = 256 << 20
"""A row group up to this size (uncompressed) is read whole; a bigger one in ``batch_rows`` slices."""


def read_parquet(
    handle: BinaryIO, cfg: FileConfig, batch_rows: int, footer_rows: list[int] | None = None
) -> Iterator[pa.RecordBatch]:
    """Each row group as it is stored (no re-cutting, no conversion); a file without rows: its columns.
    ``footer_rows`` gets the file's own row count, from its footer.

    Column names go through ``unique_names`` as a CSV header's do: a Parquet writer may store two columns
    of one name or one without a name, which Bronze's readers (polars, Silver) cannot tell apart.

    Row groups are decoded on the reading thread, not on Arrow's pool: the part writer's encoders have the
    other cores, and the pool's hand-offs cost more than they save (a 100k-row group: 12 ms against 20 ms
    with the pool on two busy cores; a small file's: 0.17 ms against 0.24 ms).

    INT96 timestamps (Spark's, Hive's, Impala's legacy type) are read as microseconds, as Spark and polars
    read them: as Arrow's default nanoseconds, a date outside 1677-2262 wrapped round to another one.
    """
    parquet = pq.ParquetFile(handle, coerce_int96_timestamp_unit="us")
    if footer_rows is not None:
        footer_rows.append(parquet.metadata.num_rows)
    stored = parquet.schema_arrow.names
    names = unique_names(stored)
    renamed = names != stored
    columns = None
    if cfg.column_names:
        require_columns(cfg.column_names, names)
        columns = cfg.column_names
    read = None if renamed else columns  # a renamed file is read whole, then selected by its new names
    rows = 0
    for group in range(parquet.num_row_groups):
        if parquet.metadata.row_group(group).total_byte_size <= _WHOLE_GROUP_BYTES:
            batches = (
                parquet.read_row_group(group, columns=read, use_threads=False).combine_chunks().to_batches()
            )
        else:
            batches = parquet.iter_batches(
                batch_size=batch_rows, row_groups=[group], columns=read, use_threads=False
            )
        for batch in batches:
            if batch.num_rows:
                rows += batch.num_rows
                yield _named(batch, names, columns) if renamed else batch
    if rows == 0:
        empty = pa.RecordBatch.from_pylist([], schema=parquet.schema_arrow)
        yield _named(empty, names, columns) if renamed else empty.select(columns) if columns else empty


def _named(batch: pa.RecordBatch, names: list[str], columns: list[str] | None) -> pa.RecordBatch:
    renamed = pa.RecordBatch.from_arrays(batch.columns, names=names)
    return renamed.select(columns) if columns else renamed
