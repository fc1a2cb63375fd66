"""The boundary dedupe of ``watermark`` mode: a row version read again is dropped when it already landed.

``watermark`` mode reads ``cursor >= watermark_in - lookback`` (DESIGN §5), so every run reads again the rows
at the previous watermark and inside the lookback below it: that is how a row committed late with such a
cursor is caught. Those of the re-read rows that the previous partition already landed (or had itself read
again) must not land twice. A row version is named by a content hash of all its columns; the previous
partition committed the hashes of every row it read whose cursor lies in ``[watermark_out - lookback,
watermark_out]`` (its *boundary*), and this run drops a row whose cursor is ``<= watermark_in`` and whose
hash is among them. A row changed inside the lookback has a new hash and lands. This is dlt's boundary
dedupe (hashes of the rows at ``last_value``) widened to the lookback window.

The hashes are a multiset (two identical rows are two versions), computed only for rows in those windows:
rows at or below ``watermark_in`` while reading, and, once the stream ends, the rows within ``lookback`` of
the new watermark, kept as Arrow slices meanwhile (so memory and the committed list are bounded by the rows
of one lookback window at the boundary, not the table). A hash is BLAKE2b-128 of the row's canonical JSON
(columns sorted by name; timestamps ISO 8601, decimals exact text, bytes hex, integral floats as integers),
so it is the same whichever engine read the row (they give equal Arrow tables).
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["BoundaryDedupe", "compare_mask", "row_hashes"]

CursorKey = Callable[[Any], Any]  # an Arrow cursor value as the value it compares as (its kind's Python type)

_COMPARE = {"<=": pc.less_equal, ">=": pc.greater_equal}


def row_hashes(batch: pa.RecordBatch) -> list[str]:
    """The content hash of every row of ``batch`` (module docstring)."""
    if batch.num_rows == 0:
        return []
    order = sorted(range(batch.num_columns), key=lambda i: batch.schema.names[i])
    names = [batch.schema.names[i] for i in order]
    columns = [batch.column(i).to_pylist() for i in order]
    out = []
    for values in zip(*columns, strict=True):
        row = [[name, _integral(value)] for name, value in zip(names, values, strict=True)]
        text = json.dumps(row, default=_plain, separators=(",", ":"))
        out.append(hashlib.blake2b(text.encode(), digest_size=16).hexdigest())
    return out


def _integral(value: Any) -> Any:
    """``1.0`` hashes as ``1``: an untyped (SQLite) column is float64 in a batch that mixes 1 and 1.5, int64
    in one that holds only 1, and the same stored value must hash the same in both."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return {"us": (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds}
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    if isinstance(value, bytes | bytearray | memoryview):
        return {"hex": bytes(value).hex()}
    return str(value)


def compare_mask(column: pa.Array, op: str, value: Any, key: CursorKey) -> pa.BooleanArray:
    """``column <op> value`` per row (``<=`` or ``>=``); a null cursor is never in range (as in SQL).

    Vectorized when ``value`` has the column's Arrow type; otherwise (a SQLite column typed per batch, the
    exact-text decimals) each value is compared as ``key`` makes it, and as text where even that fails.
    """
    try:
        scalar = pa.scalar(value, type=column.type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError, ValueError):
        scalar = None
    if scalar is not None and not pa.types.is_null(column.type):
        return pc.fill_null(_COMPARE[op](column, scalar), False)
    return pa.array([v is not None and _compare(key(v), op, value) for v in column.to_pylist()], pa.bool_())


def _compare(left: Any, op: str, right: Any) -> bool:
    try:
        return bool(left <= right) if op == "<=" else bool(left >= right)
    except TypeError:  # values of different kinds in an untyped (SQLite) column: compare as text
        return str(left) <= str(right) if op == "<=" else str(left) >= str(right)


class BoundaryDedupe:
    """Filters one run's batches and collects the boundary hashes of the watermark it ends on.

    ``watermark_in`` is the previous watermark as a cursor value (None on a first run), ``known`` the hashes
    committed with it, ``lower`` the lookback's lower bound of a watermark (``query.cursor_minus``) and
    ``maximum`` how the greatest cursor value is kept across batches. After the stream, ``watermark`` is
    ``max(watermark_in, every cursor read)`` and ``boundary_hashes()`` the hashes of every row read in
    ``[lower(watermark), watermark]``, whether it landed now or was dropped as already landed.
    """

    def __init__(
        self,
        cursor: str,
        *,
        watermark_in: Any | None,
        known: Iterable[str],
        lower: Callable[[Any], Any],
        maximum: Callable[[Any, pa.Array], Any],
        key: CursorKey,
    ) -> None:
        self.cursor = cursor
        self.watermark: Any | None = watermark_in
        self.dropped = 0
        self.read = 0
        self._watermark_in = watermark_in
        self._known = Counter(known)
        self._lower = lower
        self._maximum = maximum
        self._key = key
        self._boundary: list[pa.RecordBatch] = []
        self._floor: Any | None = None

    def filter(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """The rows of ``batch`` to land: all but the re-read versions the previous boundary holds."""
        column = batch.column(batch.schema.get_field_index(self.cursor))
        self.read += batch.num_rows
        self._remember(batch, column)
        if not self._known or self._watermark_in is None:
            return batch
        at_or_below = compare_mask(column, "<=", self._watermark_in, self._key)
        if not pc.any(at_or_below).as_py():
            return batch
        candidates = pc.indices_nonzero(at_or_below)
        keep = [True] * batch.num_rows
        for index, digest in zip(candidates.to_pylist(), row_hashes(batch.take(candidates)), strict=True):
            if self._known[digest] > 0:
                self._known[digest] -= 1
                keep[index] = False
                self.dropped += 1
        return batch.filter(pa.array(keep, pa.bool_()))

    def _remember(self, batch: pa.RecordBatch, column: pa.Array) -> None:
        """Keep the rows that may still lie within the lookback of the final watermark."""
        self.watermark = self._maximum(self.watermark, column)
        if self.watermark is None:
            return
        floor = self._lower(self.watermark)
        if floor != self._floor:  # the watermark rose: rows below its lookback can never be boundary rows
            self._floor = floor
            self._boundary = [self._within(b, floor) for b in self._boundary]
        self._boundary = [b for b in [*self._boundary, self._within(batch, floor)] if b.num_rows]

    def _within(self, batch: pa.RecordBatch, floor: Any) -> pa.RecordBatch:
        column = batch.column(batch.schema.get_field_index(self.cursor))
        return batch.filter(compare_mask(column, ">=", floor, self._key))

    def boundary_hashes(self) -> list[str]:
        """Hashes (a sorted multiset) of the rows read within the lookback of ``watermark``."""
        return sorted(h for batch in self._boundary for h in row_hashes(batch))
