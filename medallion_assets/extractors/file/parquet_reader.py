"""Parquet: typed as stored, streamed by row group."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from medallion_assets.config.models import FileConfig
from medallion_assets.extractors.file.common import require_columns

__all__ = ["read_parquet"]


def read_parquet(handle: BinaryIO, cfg: FileConfig, batch_rows: int) -> Iterator[pa.RecordBatch]:
    parquet = pq.ParquetFile(handle)
    columns = None
    if cfg.columns:
        require_columns(cfg.columns, parquet.schema_arrow.names)
        columns = list(cfg.columns)
    for batch in parquet.iter_batches(batch_size=batch_rows, columns=columns):
        if batch.num_rows:
            yield batch
