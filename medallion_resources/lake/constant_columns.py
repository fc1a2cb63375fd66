"""Columns with one value on every row (``_source_file``, the Bronze lineage columns) at no cost per batch.

Repeating a value for every batch costs a copy of it per row (a file's path times two million rows), and
the part writer's handover to polars copies Arrow strings again into polars' string views. So each column is
built once, as long as the longest batch seen, and *sliced* for each batch (zero-copy). With ``views=True``
text is built as Arrow ``string_view``, which polars takes without a copy: for columns only the part writer
sees (the Bronze columns), which records a view type as its plain type (``string``; Parquet has no view type,
so the stored column and the recorded schema are what a plain ``string`` column gives,
``medallion_resources.lake.parts``). An extractor's own columns stay plain ``string`` (its batches are its
contract).
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa

__all__ = ["ConstantColumns"]


class ConstantColumns:
    """Appends (or overwrites) columns of one value each to record batches."""

    def __init__(self, values: Mapping[str, pa.Scalar], *, views: bool = False) -> None:
        self._scalars = {name: _as_view(s) if views else s for name, s in values.items()}
        self._arrays: dict[str, pa.Array] = {}
        self._length = 0

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """``batch`` with every constant column (in the order given), each as long as the batch."""
        rows = batch.num_rows
        if rows > self._length or not self._arrays:
            self._length = rows
            self._arrays = {name: pa.repeat(s, self._length) for name, s in self._scalars.items()}
        for name, array in self._arrays.items():
            column = array.slice(0, rows)
            index = batch.schema.get_field_index(name)
            if index >= 0:
                batch = batch.set_column(index, name, column)
            else:
                batch = batch.append_column(name, column)
        return batch


def _as_view(scalar: pa.Scalar) -> pa.Scalar:
    if pa.types.is_string(scalar.type) or pa.types.is_large_string(scalar.type):
        return pa.scalar(scalar.as_py(), pa.string_view())
    return scalar
