"""The boundary dedupe of DESIGN §5: a row version an incremental source reads again lands only once.

One mechanism for every incremental source (``BoundaryDedupe``). A run reads again the rows at the previous
watermark, and for SQL ``watermark`` mode those inside the lookback below it (``cursor >= watermark_in -
lookback``; an API's inclusive "changed since" parameter at ``watermark_in``): that is how a row committed
late with such a cursor is caught. Those of the re-read rows that the previous partition already landed (or
had itself read again) must not land twice. A row version is named by a content hash; the previous
partition committed the hashes of every row it read whose cursor lies in ``[lower(watermark_out),
watermark_out]`` (its *boundary*; ``lower`` takes the lookback off, or is the identity without one), and
this run drops a row whose cursor is ``<= watermark_in`` and whose hash is among them. A row changed at the
boundary has a new hash and lands. This is dlt's boundary dedupe (hashes of the rows at ``last_value``)
widened to the lookback window.

The hashes are a multiset (two identical rows are two versions), computed only for rows in those windows:
rows at or below ``watermark_in`` while reading, and, once the stream ends, the rows within the boundary of
the new watermark, kept as they came meanwhile (so memory and the committed list are bounded by the rows of
one boundary window, not the table). A row without a cursor value is always landed and never a boundary row.

Sources differ only in what a batch is, how its cursors compare and how a row is hashed: a ``RowKind``.

- ``ArrowRows`` (SQL): Arrow record batches; cursors compared vectorized (``compare_mask``); a hash is
  BLAKE2b-128 of the row's canonical JSON (columns sorted by name, NULL ones left out; timestamps ISO 8601,
  decimals exact text, bytes hex, integral floats as integers: ``row_hashes``), so it is the same whichever
  engine read the row (they give equal Arrow tables) and before and after the table gains a column.
- ``JsonRecords`` (API): one page's parsed JSON records; cursors compare as numbers, ISO 8601 timestamps as
  the instants they name, anything else as text (``compare_cursor``); a hash is BLAKE2b-128 of the record's
  canonical JSON text (``record_hash``). Records are hashed as the API sent them, not as Arrow rows: a page's
  Arrow typing depends on the other records of the page (a column mixing numbers and text becomes text, a
  key one record lacks becomes null), and a record's hash must not.

``keep_unread`` (API sources): while the watermark has not moved, the known hashes that were not read again
stay in the boundary. An API listing is not a snapshot (a search index or a replica behind the primary may
leave a record out one day and return it the next), so a boundary record it did not return may still come
back. A SQL read selects every row still inside the window, so there a known hash not read again is a
version that no longer exists, and keeping it would only grow the committed list.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Generic, Protocol, TypeVar

import pyarrow as pa
import pyarrow.compute as pc

from medallion_resources.json_text import to_json_text

__all__ = [
    "ArrowRows",
    "BoundaryDedupe",
    "JsonRecords",
    "RowKind",
    "compare_cursor",
    "compare_mask",
    "cursor_value",
    "record_hash",
    "row_hashes",
]

B = TypeVar("B")
CursorKey = Callable[[Any], Any]  # an Arrow cursor value as the value it compares as (its kind's Python type)

_COMPARE = {"<=": pc.less_equal, ">=": pc.greater_equal}


class RowKind(Protocol[B]):
    """What ``BoundaryDedupe`` asks of one kind of batch: its size, its cursors, its rows' hashes."""

    def size(self, batch: B) -> int: ...

    def greatest(self, best: Any, batch: B) -> Any:
        """``best``, or the batch's greatest cursor when it is greater (a null cursor never is)."""
        ...

    def at_or_below(self, batch: B, value: Any) -> list[int]:
        """Positions of the rows whose cursor is ``<= value`` (a null cursor never is)."""
        ...

    def at_or_above(self, batch: B, value: Any) -> B:
        """The rows whose cursor is ``>= value`` (a null cursor never is)."""
        ...

    def hashes(self, batch: B, positions: Sequence[int] | None = None) -> list[str]:
        """The content hash of each row at ``positions`` (all rows: None), in that order."""
        ...

    def former_hashes(self, batch: B, positions: Sequence[int]) -> list[tuple[str, ...]]:
        """The hashes earlier releases committed for each row at ``positions``, where they were others
        (empty: the same), so that the hashes a partition committed then still drop the rows they name."""
        ...

    def without(self, batch: B, positions: Sequence[int]) -> B:
        """The batch less the rows at ``positions``."""
        ...


class BoundaryDedupe(Generic[B]):
    """Filters one run's batches and collects the boundary hashes of the watermark it ends on.

    ``watermark_in`` is the previous watermark as a cursor value (None on a first run: ``known`` is then
    ignored), ``known`` the hashes committed with it, ``lower`` the lower bound of a watermark's boundary
    (its lookback; None: the rows at the watermark itself). After the stream, ``watermark`` is
    ``max(watermark_in, every cursor read)`` (``watermark_in`` itself, the same object, unless a cursor
    was greater) and ``boundary_hashes()`` the hashes of every row read in ``[lower(watermark),
    watermark]``, whether it landed now or was dropped as already landed (and with ``keep_unread`` the
    known ones not read again while the watermark stayed: module docstring).
    """

    def __init__(
        self,
        rows: RowKind[B],
        *,
        watermark_in: Any | None,
        known: Iterable[str],
        lower: Callable[[Any], Any] | None = None,
        keep_unread: bool = False,
    ) -> None:
        self.rows = rows
        self.watermark: Any | None = watermark_in
        self.dropped = 0
        self.read = 0
        self._watermark_in = watermark_in
        self._known: Counter[str] = Counter(known) if watermark_in is not None else Counter()
        self._lower: Callable[[Any], Any] = lower if lower is not None else _same
        self._keep_unread = keep_unread
        self._boundary: list[B] = []
        self._floor: Any | None = None

    def filter(self, batch: B) -> B:
        """The rows of ``batch`` to land: all but the re-read versions the previous boundary holds."""
        self.read += self.rows.size(batch)
        self._remember(batch)
        if not self._known or self._watermark_in is None:
            return batch
        candidates = self.rows.at_or_below(batch, self._watermark_in)
        if not candidates:
            return batch
        drop: list[int] = []
        unknown: list[int] = []
        for position, digest in zip(candidates, self.rows.hashes(batch, candidates), strict=True):
            if self._known[digest] > 0:
                self._known[digest] -= 1
                drop.append(position)
            else:
                unknown.append(position)
        # only rows not known by today's hash are hashed as earlier releases did (that may ask the database)
        former = self.rows.former_hashes(batch, unknown) if unknown else []
        for position, earlier in zip(unknown, former, strict=True):
            known = next((d for d in earlier if self._known[d] > 0), None)
            if known is not None:
                self._known[known] -= 1
                drop.append(position)
        self.dropped += len(drop)
        return self.rows.without(batch, drop) if drop else batch

    def _remember(self, batch: B) -> None:
        """Keep the rows that may still lie within the boundary of the final watermark."""
        self.watermark = self.rows.greatest(self.watermark, batch)
        if self.watermark is None:
            return
        floor = self._lower(self.watermark)
        if floor != self._floor:  # the watermark rose: rows below its boundary can never be boundary rows
            self._floor = floor
            self._boundary = [self.rows.at_or_above(b, floor) for b in self._boundary]
        kept = [*self._boundary, self.rows.at_or_above(batch, floor)]
        self._boundary = [b for b in kept if self.rows.size(b)]

    @property
    def watermark_held(self) -> bool:
        """Whether no cursor read passed ``watermark_in`` (``watermark`` is then ``watermark_in`` itself)."""
        return self._watermark_in is not None and self.watermark is self._watermark_in

    def boundary_hashes(self) -> list[str]:
        """Hashes (a sorted multiset) of the rows read within the boundary of ``watermark``."""
        hashes = Counter(h for batch in self._boundary for h in self.rows.hashes(batch))
        if self._keep_unread and self.watermark_held:
            hashes.update(self._known)
        return sorted(hashes.elements())


def _same(value: Any) -> Any:
    return value


# --- SQL: Arrow record batches ------------------------------------------------------------------------------


class ArrowRows:
    """Rows of Arrow record batches whose cursor is the column ``cursor`` (SQL ``watermark`` mode).

    ``key`` makes an Arrow cursor value the value of its kind it compares as (``compare_mask``);
    ``maximum(best, column)`` is the greater of ``best`` and the column's greatest value. ``compare(column,
    op, value)``, when given, replaces ``compare_mask``: a text cursor compared as its database compares it
    (``medallion_resources.sql.collations``), and ``maximum`` then orders so too. ``legacy`` gives rows as
    an earlier release read them (its hashes still drop them: ``former_hashes``; the same batch: no other).
    """

    def __init__(
        self,
        cursor: str,
        *,
        key: CursorKey,
        maximum: Callable[[Any, pa.Array], Any],
        compare: Callable[[pa.Array, str, Any], pa.BooleanArray] | None = None,
        legacy: Callable[[pa.RecordBatch], pa.RecordBatch] | None = None,
    ) -> None:
        self.cursor = cursor
        self._legacy = legacy
        self._key = key
        self._maximum = maximum
        self._compare = compare

    def _mask(self, batch: pa.RecordBatch, op: str, value: Any) -> pa.BooleanArray:
        if self._compare is not None:
            return self._compare(self._column(batch), op, value)
        return compare_mask(self._column(batch), op, value, self._key)

    def _column(self, batch: pa.RecordBatch) -> pa.Array:
        return batch.column(batch.schema.get_field_index(self.cursor))

    def size(self, batch: pa.RecordBatch) -> int:
        return int(batch.num_rows)

    def greatest(self, best: Any, batch: pa.RecordBatch) -> Any:
        return self._maximum(best, self._column(batch))

    def at_or_below(self, batch: pa.RecordBatch, value: Any) -> list[int]:
        mask = self._mask(batch, "<=", value)
        if not pc.any(mask).as_py():
            return []
        return list(pc.indices_nonzero(mask).to_pylist())

    def at_or_above(self, batch: pa.RecordBatch, value: Any) -> pa.RecordBatch:
        return batch.filter(self._mask(batch, ">=", value))

    def hashes(self, batch: pa.RecordBatch, positions: Sequence[int] | None = None) -> list[str]:
        return row_hashes(batch if positions is None else batch.take(pa.array(positions, pa.int64())))

    def former_hashes(self, batch: pa.RecordBatch, positions: Sequence[int]) -> list[tuple[str, ...]]:
        rows = batch.take(pa.array(positions, pa.int64()))
        forms = [rows] if any(rows.column(i).null_count for i in range(rows.num_columns)) else []
        if self._legacy is not None:  # e.g. MySQL TIMESTAMP columns as the naive wall times they were
            earlier = self._legacy(rows)
            forms = [rows, earlier] if earlier is not rows else forms
        nulls = [row_hashes(form, nulls=True) for form in forms]
        plain = [row_hashes(form) for form in forms[1:]]
        return [tuple(h[i] for h in (*nulls, *plain)) for i in range(len(positions))]

    def without(self, batch: pa.RecordBatch, positions: Sequence[int]) -> pa.RecordBatch:
        keep = [True] * batch.num_rows
        for position in positions:
            keep[position] = False
        return batch.filter(pa.array(keep, pa.bool_()))


def row_hashes(batch: pa.RecordBatch, *, nulls: bool = False) -> list[str]:
    """The content hash of every row of ``batch`` (``ArrowRows``, module docstring).

    A NULL column is left out of the hash (``nulls``: kept, as before), so a row hashes alike before and
    after its table gains a column: ``ALTER TABLE ... ADD COLUMN`` made the rows at the watermark, re-read
    the next day with the new column NULL, land a second time. Within one set of columns the hash still
    tells rows apart (each value is hashed with its column's name).
    """
    if batch.num_rows == 0:
        return []
    order = sorted(range(batch.num_columns), key=lambda i: batch.schema.names[i])
    names = [batch.schema.names[i] for i in order]
    columns = [batch.column(i).to_pylist() for i in order]
    out = []
    for values in zip(*columns, strict=True):
        row = [
            [name, _integral(value)]
            for name, value in zip(names, values, strict=True)
            if nulls or value is not None
        ]
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
    except (
        pa.ArrowInvalid,
        pa.ArrowTypeError,
        pa.ArrowNotImplementedError,
        TypeError,
        ValueError,
        OverflowError,  # a BIGINT UNSIGNED watermark above 2**63 - 1 against a batch read as int64
    ):
        scalar = None
    if scalar is not None and not pa.types.is_null(column.type):
        mask: pa.BooleanArray = pc.fill_null(_COMPARE[op](column, scalar), False)
        return mask
    return pa.array([v is not None and _holds(key(v), op, value) for v in column.to_pylist()], pa.bool_())


def _holds(left: Any, op: str, right: Any) -> bool:
    try:
        return bool(left <= right) if op == "<=" else bool(left >= right)
    except TypeError:  # values of different kinds in an untyped (SQLite) column: compare as text
        return str(left) <= str(right) if op == "<=" else str(left) >= str(right)


# --- APIs: parsed JSON records ------------------------------------------------------------------------------


class JsonRecords:
    """One page's parsed JSON records, whose cursor is the field ``field`` (API ``incremental``).

    A record that is not an object, or whose field is missing, null, a boolean, an object or an array, has
    no cursor value.
    """

    def __init__(self, field: str) -> None:
        self.field = field

    def _cursor(self, record: Any) -> Any | None:
        value = record.get(self.field) if isinstance(record, dict) else None
        return None if isinstance(value, bool | dict | list) else value

    def size(self, batch: list[Any]) -> int:
        return len(batch)

    def greatest(self, best: Any, batch: list[Any]) -> Any:
        for record in batch:
            value = self._cursor(record)
            if value is not None and (best is None or compare_cursor(value, best) > 0):
                best = value
        return best

    def at_or_below(self, batch: list[Any], value: Any) -> list[int]:
        return [
            i
            for i, record in enumerate(batch)
            if (cursor := self._cursor(record)) is not None and compare_cursor(cursor, value) <= 0
        ]

    def at_or_above(self, batch: list[Any], value: Any) -> list[Any]:
        return [
            r for r in batch if (cursor := self._cursor(r)) is not None and compare_cursor(cursor, value) >= 0
        ]

    def above(self, batch: list[Any], value: Any) -> list[int]:
        """Positions of the records whose cursor is ``> value`` (a missing cursor never is)."""
        return [
            i
            for i, record in enumerate(batch)
            if (cursor := self._cursor(record)) is not None and compare_cursor(cursor, value) > 0
        ]

    def hashes(self, batch: list[Any], positions: Sequence[int] | None = None) -> list[str]:
        chosen = batch if positions is None else [batch[i] for i in positions]
        return [record_hash(record) for record in chosen]

    def former_hashes(self, batch: list[Any], positions: Sequence[int]) -> list[tuple[str, ...]]:
        return [()] * len(positions)

    def without(self, batch: list[Any], positions: Sequence[int]) -> list[Any]:
        drop = set(positions)
        return [record for i, record in enumerate(batch) if i not in drop]


def record_hash(record: Any) -> str:
    """The content hash of one parsed JSON record: BLAKE2b-128 of its canonical JSON text (``json_text``),
    so it depends neither on the page nor on the other records it came with."""
    return hashlib.blake2b(to_json_text(record).encode(), digest_size=16).hexdigest()


_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_ISO_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def cursor_value(text: str) -> Any:
    """A committed watermark (text) as the JSON cursor value it was: a number as a number, else the text."""
    if _NUMBER.fullmatch(text):
        return int(text) if text.lstrip("-").isdigit() else float(text)
    return text


def compare_cursor(a: Any, b: Any) -> int:
    """-1, 0 or 1: numbers as numbers, ISO timestamps as the instants they name (``...00Z`` and
    ``...00.000+00:00`` are equal, ``...00.5Z`` is later, though as text it sorts first), anything else
    as text."""
    if not (isinstance(a, int | float) and isinstance(b, int | float)):
        a, b = str(a), str(b)
        if _ISO_TIMESTAMP.match(a) and _ISO_TIMESTAMP.match(b):
            try:
                x, y = dt.datetime.fromisoformat(a), dt.datetime.fromisoformat(b)
                return (x > y) - (x < y)
            except (ValueError, TypeError):  # not ISO after all, or naive against aware: as text
                pass
    return int(a > b) - int(a < b)
