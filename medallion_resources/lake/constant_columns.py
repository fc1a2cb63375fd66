"""Columns with one value on every row (``_source_file``, the Bronze lineage columns) at no cost per batch.

Each column is an Arrow dictionary array: the value once, and an index (0) per row. The indices are built
once, as long as the longest batch seen, and *sliced* for each batch (zero-copy), so a file's path is not
copied two million times. The part writer writes such a column as Parquet's dictionary encoding directly
(no hashing of the values, ``medallion_resources.lake.parts``) and stores and records it as its value type:
a reader of the files, or of ``_metadata.json``, sees a plain ``string`` (``date32``, ...) column.
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa

__all__ = ["ConstantColumns"]


class ConstantColumns:
    """Appends (or overwrites) columns of one value each to record batches, as one-value dictionaries."""

    def __init__(self, values: Mapping[str, pa.Scalar]) -> None:
        self._values = dict(values)
        self._dictionaries = {name: pa.array([s.as_py()], s.type) for name, s in values.items() if s.is_valid}
        self._indices = pa.array([], pa.int32())

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """``batch`` with every constant column (in the order given), each as long as the batch."""
        rows = batch.num_rows
        if rows > len(self._indices):
            self._indices = pa.repeat(pa.scalar(0, pa.int32()), rows)
        indices = self._indices.slice(0, rows)
        for name, scalar in self._values.items():
            dictionary = self._dictionaries.get(name)
            column: pa.Array = (
                pa.DictionaryArray.from_arrays(indices, dictionary, safe=False)  # indices are all 0
                if dictionary is not None
                else pa.nulls(rows, scalar.type)
            )
            index = batch.schema.get_field_index(name)
            if index >= 0:
                batch = batch.set_column(index, name, column)
            else:
                batch = batch.append_column(name, column)
        return batch
