"""How an extraction reads its rows: one statement, keyset chunks in short transactions, or key ranges in
parallel; and how long each read held a snapshot of the source.

- **One statement** (the default): the database serves the whole result from one snapshot, held until the
  last row is streamed, so for the length of the extraction (the Bronze writes included).
- **Keyset chunks** (``db.chunk_rows``): ``ORDER BY key LIMIT n`` after the last key read, each chunk
  fetched whole on its own connection and transaction, which ends before its rows are handed on, then the
  rows whose key holds a NULL in one more statement. No snapshot outlives one chunk; the read is not one
  snapshot of the table (docs/db_extractor.md says what it guarantees).
- **Key ranges in parallel** (``db.parallelism``): the key's ``MIN``/``MAX`` split into N ranges that together
  cover every value (the first also takes NULL keys, the last has no upper bound), each read on its own
  connection in its own thread; batches are handed on as they arrive (ranges interleave).

``SnapshotClock`` records how long each statement or chunk transaction was open; the longest is reported as
``source_snapshot_seconds``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import functools
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from medallion_resources.errors import ExtractError
from medallion_resources.sql.connect import (
    DEFAULT_RETRY,
    RetryPolicy,
    SqlTarget,
    sa_connection,
)
from medallion_resources.sql.engines import SqlEngine
from medallion_resources.sql.keys import KeyColumn, same_key, same_value
from medallion_resources.sql.query import NULL_OR_LESS, Condition, SqlQuery
from medallion_resources.sql.types import SqlColumn

__all__ = ["SnapshotClock", "key_ranges", "keyset_chunks", "timed", "unique_key"]

_SPLITTABLE = frozenset(
    {"int", "decimal", "decimal_text", "float32", "float64", "date", "timestamp", "timestamptz"}
)


class SnapshotClock:
    """The longest time one statement (or one chunk's transaction) held the source's snapshot."""

    def __init__(self) -> None:
        self.longest = 0.0
        self.snapshots = 0
        self._lock = threading.Lock()

    def record(self, seconds: float) -> None:
        with self._lock:
            self.longest = max(self.longest, seconds)
            self.snapshots += 1


def timed(batches: Iterator[pa.RecordBatch], clock: SnapshotClock) -> Iterator[pa.RecordBatch]:
    """``batches`` of one streamed statement, its snapshot held from the first request to the last row."""
    began = time.monotonic()
    try:
        yield from batches
    finally:
        clock.record(time.monotonic() - began)


def keyset_chunks(
    engine: SqlEngine,
    query: SqlQuery,
    columns: Sequence[SqlColumn],
    key: Sequence[KeyColumn],
    chunk_rows: int,
    batch_size: int,
    clock: SnapshotClock,
) -> Iterator[pa.RecordBatch]:
    """The rows of ``query`` in chunks of ``chunk_rows`` by ascending ``key`` (unique), then those whose key
    holds a NULL.

    Each chunk is fetched whole (the engine opens and closes its own connection, so its transaction ends)
    before its batches are yielded: no snapshot is held while the rows are written. The chunks read only
    rows without a NULL in the key (``key > :last`` is never true for a NULL, and databases sort NULLs first
    or last); one last statement reads the rest, so each row is read once even where a key column is NULL.
    The last key read is bound back as ``keys.keyset_key`` decided, so that ``key > :last`` compares as the
    chunks are ordered. Each chunk fetches one row more than it hands on, so that a key held by two rows is
    found wherever the chunks end (an ExtractError naming ``key_columns``) instead of skipping the rows
    after the chunk's end: consecutive keys are compared as Python values, and the two either side of the
    chunk's end as the database compares them (``keys.same_key``).
    """
    names = tuple(c.name for c in key)
    after: dict[str, Any] | None = None
    while True:
        chunk = dataclasses.replace(
            query,
            params={**query.params, **(after or {})},
            after=names if after else (),
            after_casts=tuple(c.cast for c in key),
            order_by=names,
            limit=chunk_rows + 1,  # one row more: a key that repeats across the chunk's end shows
            not_null=names,
        )
        batches = _fetch(engine, chunk, columns, batch_size, clock)
        if _repeats(batches, names):
            raise _not_unique(names)
        rows = sum(b.num_rows for b in batches)
        if rows <= chunk_rows:
            yield from batches
            break
        last, extra = _bound_key(batches, key, chunk_rows - 1), _bound_key(batches, key, chunk_rows)
        if same_key(engine.target, key, last, extra, engine.retry):
            raise _not_unique(names)
        if after is not None and all(same_value(a, b) for a, b in zip(after.values(), last, strict=True)):
            raise ExtractError(  # a comparison that disagrees with the order: fail rather than loop for ever
                f"db.chunk_rows: the chunk after key ({', '.join(map(repr, last))}) of ({', '.join(names)}) "
                "ended at that key again: the database does not compare this key as it sorts it. Remove "
                "db.chunk_rows, or name other db.key_columns"
            )
        yield from _without_last_row(batches)  # the extra row is read again, first, by the next chunk
        after = {f"medallion_k{i}": value for i, value in enumerate(last)}
    # Streamed, not fetched whole: nothing bounds how many rows have a NULL in the key. Its snapshot is held
    # while they are written, as the default one-statement read holds its own.
    began = time.monotonic()
    try:
        nulls = engine.stream(dataclasses.replace(query, some_null=names), columns, batch_size)
        yield from (b for b in nulls if b.num_rows)
    finally:
        clock.record(time.monotonic() - began)


def _not_unique(names: Sequence[str]) -> ExtractError:
    return ExtractError(
        f"db.key_columns ({', '.join(names)}) is not unique: more than one row holds the same key, "
        "and db.chunk_rows, which reads after the last key of each chunk, would skip rows. Name "
        "columns that are unique together (the primary key, or add columns until they are)"
    )


def _fetch(
    engine: SqlEngine, query: SqlQuery, columns: Sequence[SqlColumn], batch_size: int, clock: SnapshotClock
) -> list[pa.RecordBatch]:
    """Every row of ``query``, fetched whole in one short transaction, timed on ``clock``."""
    began = time.monotonic()
    batches = [b for b in engine.stream(query, columns, batch_size) if b.num_rows]
    clock.record(time.monotonic() - began)
    return batches


def _bound_key(batches: Sequence[pa.RecordBatch], key: Sequence[KeyColumn], row: int) -> tuple[Any, ...]:
    """The key of the ``row``-th row of ``batches`` (counted across them), as the values to bind."""
    for batch in batches:
        if row < batch.num_rows:
            return tuple(c.bind(batch.column(batch.schema.get_field_index(c.name))[row].as_py()) for c in key)
        row -= batch.num_rows
    raise IndexError(row)


def _repeats(batches: Sequence[pa.RecordBatch], names: Sequence[str]) -> bool:
    """Whether two consecutive rows (of batches sorted by ``names``) hold the same key (NaN equals NaN)."""
    previous: tuple[Any, ...] | None = None
    for batch in batches:
        keys = [batch.column(batch.schema.get_field_index(n)) for n in names]
        first = tuple(k[0].as_py() for k in keys)
        if previous is not None and all(same_value(a, b) for a, b in zip(first, previous, strict=True)):
            return True
        if batch.num_rows > 1:
            same = [_equal(k.slice(1), k.slice(0, batch.num_rows - 1)) for k in keys]
            if pc.any(functools.reduce(pc.and_, same)).as_py():
                return True
        previous = tuple(k[-1].as_py() for k in keys)
    return False


def _equal(a: pa.Array, b: pa.Array) -> pa.Array:
    """Element-wise equality, with NaN equal to NaN in floating-point columns."""
    equal = pc.equal(a, b)
    if pa.types.is_floating(a.type):
        equal = pc.or_kleene(equal, pc.and_(pc.is_nan(a), pc.is_nan(b)))
    return equal


def _without_last_row(batches: list[pa.RecordBatch]) -> list[pa.RecordBatch]:
    last = batches[-1].slice(0, batches[-1].num_rows - 1)
    return batches[:-1] + ([last] if last.num_rows else [])


def unique_key(
    target: SqlTarget, table: str, schema: str | None, retry: RetryPolicy = DEFAULT_RETRY
) -> list[str]:
    """The table's primary key, else its first unique constraint over NOT NULL columns ([] when none)."""
    where = f"cannot read the keys of '{table}' on"
    with sa_connection(target, retry, where, errors=sa.exc.SQLAlchemyError, reason=str) as conn:
        inspector = sa.inspect(conn)
        primary = inspector.get_pk_constraint(table, schema=schema).get("constrained_columns") or []
        if primary:
            return list(primary)
        nullable = {c["name"]: c.get("nullable", True) for c in inspector.get_columns(table, schema=schema)}
        for constraint in inspector.get_unique_constraints(table, schema=schema):
            names = list(constraint.get("column_names") or [])
            if names and not any(nullable.get(n, True) for n in names):
                return names
    return []


def key_ranges(
    target: SqlTarget, query: SqlQuery, column: SqlColumn, parts: int, retry: RetryPolicy = DEFAULT_RETRY
) -> list[SqlQuery]:
    """``query`` split into ``parts`` queries by ranges of ``column`` that together hold every row once."""
    if column.kind not in _SPLITTABLE and column.kind != "infer":
        raise ExtractError(
            f"db.parallelism splits on a numeric, date or timestamp key; '{column.name}' is {column.kind} "
            "(name another key in db.key_columns, or read with parallelism 1)"
        )
    with sa_connection(target, retry, "cannot read the key range on", reason=str) as conn:
        quoted = conn.dialect.identifier_preparer.quote_identifier(column.name)
        sql = f"SELECT MIN({quoted}), MAX({quoted}) FROM ({query.named(conn.dialect)}) AS _medallion_range"
        low, high = conn.execute(sa.text(sql), query.params).one()
    bounds = _split(low, high, parts, column)
    if not bounds:
        return [query]
    ranges = []
    edges: list[Any] = [None, *bounds, None]
    for i in range(len(edges) - 1):
        lo, hi = edges[i], edges[i + 1]
        conditions = list(query.conditions)
        params = dict(query.params)
        if lo is not None:
            conditions.append(Condition(column.name, ">=", f"medallion_r{i}_lo"))
            params[f"medallion_r{i}_lo"] = lo
        if hi is not None:
            op = NULL_OR_LESS if lo is None else "<"
            conditions.append(Condition(column.name, op, f"medallion_r{i}_hi"))
            params[f"medallion_r{i}_hi"] = hi
        ranges.append(dataclasses.replace(query, conditions=tuple(conditions), params=params))
    return ranges


def _nan(value: Any) -> bool:
    """A float or decimal NaN (a Decimal NaN raises on ``<``)."""
    return isinstance(value, float | decimal.Decimal) and value != value


def _split(low: Any, high: Any, parts: int, column: SqlColumn) -> list[Any]:
    """The ``parts - 1`` inner boundaries between ``low`` and ``high`` (increasing, distinct)."""
    if low is None or high is None or parts < 2 or _nan(low) or _nan(high) or not low < high:
        return []  # NaN (PostgreSQL sorts it above every number): no order to split by, so one range
    if isinstance(low, bool) or isinstance(high, bool):
        return []
    if isinstance(low, int) and isinstance(high, int):
        bounds: list[Any] = [low + (high - low) * i // parts for i in range(1, parts)]
    elif isinstance(low, (int, float, decimal.Decimal)) and isinstance(high, (int, float, decimal.Decimal)):
        if isinstance(low, decimal.Decimal) or isinstance(high, decimal.Decimal):
            lo, hi = decimal.Decimal(low), decimal.Decimal(high)
        else:
            lo, hi = float(low), float(high)  # type: ignore[assignment]
        bounds = [lo + (hi - lo) * i / parts for i in range(1, parts)]
    elif isinstance(low, dt.datetime) and isinstance(high, dt.datetime):
        bounds = [low + (high - low) * i / parts for i in range(1, parts)]
    elif isinstance(low, dt.date) and isinstance(high, dt.date):
        bounds = [low + (high - low) * i // parts for i in range(1, parts)]
    else:
        raise ExtractError(
            f"db.parallelism splits on a numeric, date or timestamp key; '{column.name}' holds "
            f"{type(low).__name__} values (name another key in db.key_columns, or read with parallelism 1)"
        )
    distinct: list[Any] = []
    for bound in bounds:
        if low < bound <= high and (not distinct or bound > distinct[-1]):
            distinct.append(bound)
    return distinct
