"""Parquet: typed as stored, passed through row group by row group."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from medallion_assets.config.models import FileConfig
from medallion_assets.extractors.file.common import require_columns

__all__ = ["read_parquet"]

_WHOLE_GROUP_BYTES = 256 << 20
"""A row group up to this size (uncompressed) is read whole; a bigger one in ``batch_rows`` slices."""


def read_parquet(handle: BinaryIO, cfg: FileConfig, batch_rows: int) -> Iterator[pa.RecordBatch]:
    """Each row group as it is stored (no re-cutting, no conversion); a file without rows: its columns."""
    parquet = pq.ParquetFile(handle)
    columns = None
    if cfg.column_names:
        require_columns(cfg.column_names, parquet.schema_arrow.names)
        columns = cfg.column_names
    rows = 0
    for group in range(parquet.num_row_groups):
        if parquet.metadata.row_group(group).total_byte_size <= _WHOLE_GROUP_BYTES:
            batches = parquet.read_row_group(group, columns=columns).combine_chunks().to_batches()
        else:
            batches = parquet.iter_batches(batch_size=batch_rows, row_groups=[group], columns=columns)
        for batch in batches:
            if batch.num_rows:
                rows += batch.num_rows
                yield batch
    if rows == 0:
        schema = parquet.schema_arrow
        if columns:
            schema = pa.schema([schema.field(name) for name in columns])
        yield pa.RecordBatch.from_pylist([], schema=schema)
