"""Columns with one value on every row (``_source_file``, the Bronze lineage columns) at no cost per batch.

Each column is an Arrow dictionary array: the value once, and an index (0) per row. The indices are built
once, as long as the longest batch seen, and *sliced* for each batch (zero-copy), so a file's path is not
copied two million times. The part writer writes such a column as Parquet's dictionary encoding directly
(no hashing of the values, ``medallion_resources.lake.parts``) and stores and records it as its value type:
a reader of the files, or of ``_metadata.json``, sees a plain ``string`` (``date32``, ...) column.

A batch that already has a column of one of these names (a CSV with a ``_source_file`` column) keeps its
values: that column is renamed ``<name>_source`` (``_2``, ``_3``, ... if taken) and the constant column is
appended; :attr:`ConstantColumns.renamed` says which, for the caller to report. Overwriting it would lose
source data without a word.
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa

__all__ = ["ConstantColumns"]


class ConstantColumns:
    """Appends columns of one value each to record batches, as one-value dictionaries (a batch's own column
    of such a name is kept, renamed: ``renamed`` maps each such name to its new one)."""

    def __init__(self, values: Mapping[str, pa.Scalar]) -> None:
        self._values = dict(values)
        self._dictionaries = {name: pa.array([s.as_py()], s.type) for name, s in values.items() if s.is_valid}
        self._indices = pa.array([], pa.int32())
        self.renamed: dict[str, str] = {}

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
                batch = batch.rename_columns(
                    [self._kept_name(n, batch.schema.names) if n == name else n for n in batch.schema.names]
                )
            batch = batch.append_column(name, column)
        return batch

    def _kept_name(self, name: str, taken: list[str]) -> str:
        """The name a batch's own column called ``name`` keeps its values under (the same for every batch)."""
        if name not in self.renamed:
            candidate, suffix = f"{name}_source", 2
            while candidate in taken or candidate in self._values:
                candidate, suffix = f"{name}_source_{suffix}", suffix + 1
            self.renamed[name] = candidate
        return self.renamed[name]
