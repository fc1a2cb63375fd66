"""SQL databases become a stream of record batches: full or incremental loads of a table or a query.

Selected by ``source.type: db``::

    source:
      system: shop
      table: orders
      type: db
      db:
        url_env: SHOP_DB_URL          # env var with a SQLAlchemy URL, e.g. postgresql+psycopg://u:p@h/db
        # url: sqlite:///data/shop.db # or a URL without credentials in the YAML itself
        table: orders                 # or query: "SELECT ... FROM ... WHERE ..." (its own WHERE is fine)
        schema: public
        fetch_batch_size: 50000       # rows per Arrow batch (memory: a few batches)
        engine: auto                  # auto | sqlalchemy | adbc  (see medallion_resources.sql.engines)
        chunk_rows: 500000            # optional: keyset chunks, each in its own short transaction
        parallelism: 2                # optional: key ranges read at once, one connection each
        key_columns: [order_id]       # optional: default the primary key
        incremental:
          cursor_column: updated_at
          mode: window                # window | watermark
          lookback: 2h                # re-read late commits this far back (both modes)
          initial_value: "2024-01-01" # watermark mode: lower bound of the first partition
          commit_horizon: true        # watermark mode on PostgreSQL (see below)

What an incremental partition D reads (values are bound parameters, never SQL text):

- ``window``: ``cursor >= window_start - lookback AND cursor < window_end`` of D's partition window. A
  partition is a pure function of the table, so any day can be re-run or backfilled exactly; rows that
  commit late with a cursor inside the lookback are picked up by the next day too (Silver deduplicates).
- ``watermark`` (DESIGN §5): ``cursor >= watermark_in - lookback`` (``watermark_in``: the
  ``watermark_out`` of the latest committed partition before D, never D's own), else
  ``cursor > initial_value``, else no lower bound; for date/timestamp cursors ``cursor < window_end``; on
  PostgreSQL also ``cursor <= commit horizon`` (``engines.commit_horizon``: the start of the oldest open
  transaction), so a row of a transaction still open is read by the next run. The rows at the previous
  watermark and inside the lookback are read again, so a late commit there lands; the re-read versions
  that already landed are dropped by the content hashes committed with ``watermark_in``
  (``medallion_resources.boundary``, the one mechanism API sources use too), so each row version lands
  once. ``watermark_out`` is ``max(watermark_in, greatest cursor read)``; ``boundary_hashes_out`` the
  hashes of the rows read within ``lookback`` of it. A run that reads no row leaves both unset and the
  asset keeps the previous ones.
  The upper bound makes a re-run of D read all of D's changes (plus late commits) and never rows of D+1.

A text cursor whose collation does not order by code point (MariaDB's ``utf8mb4_general_ci``, ICU,
``citext``) has its greatest value and the rows at a watermark decided by the database, in the order
``cursor >= watermark`` uses (``medallion_resources.sql.collations``). Untyped (SQLite) text cursors
compare as text: store timestamps as ``YYYY-MM-DD HH:MM:SS[.ffffff]``; in ``watermark`` mode they get the
``< window_end`` bound when the watermark is an ISO date-time.

``watermark_out`` is a string (see ``medallion_resources.sql.query``): integers as digits, decimals as
exact text, timestamps ISO 8601 with six fractional digits (``+00:00`` when the column has a time zone).
``stats``: ``batches``, ``engine`` (every engine that ran one of the read's statements: ``adbc+sqlalchemy``
when ``auto`` fell back for some chunks or ranges), ``source_row_count`` and ``source_row_count_before``
(``SELECT count(*)`` of the bounded query, after and before the read), ``source_snapshot_seconds`` (the
longest time one statement or chunk held the source's snapshot), with ``chunk_rows``/``parallelism``
``source_snapshots`` and ``key_columns``, and in ``watermark`` mode ``boundary_rows_dropped`` and
(PostgreSQL) ``commit_horizon``. How rows are read (one statement, keyset chunks in short transactions,
key ranges in parallel): ``medallion_resources.sql.reads``; which keys chunks may read by, checked before
any row is read: ``medallion_resources.sql.keys``. Column types: ``medallion_resources.sql.types``. What
each engine guarantees: docs/db_extractor.md.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from medallion_assets.config.models import DbConfig, DbIncrementalConfig
from medallion_assets.errors import ExtractError
from medallion_assets.extractors.base import CheckResult, ExtractContext, Extractor
from medallion_assets.extractors.registry import register_extractor
from medallion_resources.boundary import ArrowRows, BoundaryDedupe
from medallion_resources.sql import SqlQuery, SqlTarget, base_select, describe_query, select_engine
from medallion_resources.sql.collations import text_order
from medallion_resources.sql.connect import DEFAULT_RETRY, RetryPolicy, create_sa_engine, sa_connection
from medallion_resources.sql.engines import SqlEngine, count_rows, engines_used
from medallion_resources.sql.horizon import HORIZON_DIALECTS, commit_horizon
from medallion_resources.sql.keys import KeyColumn, keyset_key
from medallion_resources.sql.query import (
    Condition,
    cursor_minus,
    find_column,
    format_cursor_value,
    is_timestamp_text,
    parse_cursor_value,
    validate_identifier,
    window_bound,
)
from medallion_resources.sql.reads import SnapshotClock, key_ranges, keyset_chunks, timed, unique_key
from medallion_resources.sql.types import SqlColumn, schema_of
from medallion_resources.sql.zones import server_wall, upgraded_watermark
from medallion_resources.threads import parallel

__all__ = ["DbExtractor", "parse_lookback"]

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_TEMPORAL = frozenset({"date", "timestamp", "timestamptz"})
_MYSQL = frozenset({"mysql", "mariadb"})
_NUMERIC = frozenset({"int", "decimal", "decimal_text", "float32", "float64"})
_MANY_BOUNDARY_ROWS = 100_000  # a warning: the boundary hashes (32 characters each) go into _metadata.json


def parse_lookback(text: str | None) -> timedelta:
    """``'2h'`` → ``timedelta(hours=2)``; None → zero."""
    if not text:
        return timedelta(0)
    match = re.fullmatch(r"(\d+)\s*([smhd])", text.strip())
    if not match:
        raise ExtractError(f"db.incremental.lookback {text!r} must be a number and a unit s, m, h or d")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


@register_extractor
class DbExtractor(Extractor):
    """A table or query of any SQLAlchemy database, full or incremental (module docstring)."""

    type_name = "db"
    section = "db"
    retry: RetryPolicy = DEFAULT_RETRY

    @property
    def config(self) -> DbConfig:
        db = self.entry.source.db
        if db is None:
            raise ExtractError(f"source '{self.entry.source_name}': type 'db' needs a 'db:' section")
        return db

    def _target(self) -> SqlTarget:
        cfg = self.config
        return SqlTarget.from_config(cfg.url, cfg.url_env, self.entry.source_name)

    def _base(self, target: SqlTarget) -> SqlQuery:
        cfg = self.config
        engine = create_sa_engine(target)
        try:
            base = base_select(engine.dialect, table=cfg.table, schema=cfg.db_schema, query=cfg.query)
        finally:
            engine.dispose()
        return SqlQuery(base)

    def extract(self, ctx: ExtractContext) -> Iterator[pa.RecordBatch]:
        cfg = self.config
        target = self._target()
        base = self._base(target)
        engine = select_engine(cfg.engine, target, self.retry)
        columns = describe_query(target, base, self.retry)
        plan = self._incremental(target, base, columns, ctx)
        if plan.nothing:
            ctx.log.info(
                "no row read: the first committed partition after this day read every row from the start "
                "(watermark mode), so it holds this day's rows already"
            )
            self.stats.update(batches=0, source_row_count=0, source_row_count_before=0)
            yield pa.RecordBatch.from_pylist([], schema=schema_of(columns))
            return
        query = plan.query
        ctx.log.info(
            f"reading {target.describe()} with engine {engine.name}"
            + (f" where {_describe_conditions(query)}" if query.conditions else "")
        )
        self.stats["engine"] = engine.name
        self.stats["batches"] = 0
        dedupe, cursor = plan.dedupe, plan.cursor
        best: Any = None  # window mode: the greatest cursor read (the db_watermark sensor compares with it)
        produced = False
        clock = SnapshotClock()
        engines = [engine]  # one per key range: each reports the engine(s) that read its statements
        batches = self._read(target, query, columns, engines, clock, ctx)  # keys checked; no row read yet
        # The source's count before the read too: rows written during the read make the count after it
        # differ from what the read saw, which is no loss (Bronze's row_count_matches_source check).
        self.stats["source_row_count_before"] = count_rows(target, query, self.retry)
        for batch in batches:
            if batch.num_rows == 0:
                continue
            self.stats["batches"] += 1
            if dedupe is not None:
                batch = dedupe.filter(batch)
            elif cursor is not None:
                best = _max(best, batch.column(batch.schema.get_field_index(cursor.name)), cursor)
            if batch.num_rows:
                produced = True
                yield batch
        if not produced:  # no rows is an empty snapshot with its columns, not a table without any
            yield pa.RecordBatch.from_pylist([], schema=schema_of(columns))
        self.stats["engine"] = engines_used(engines)
        self.stats["source_snapshot_seconds"] = round(clock.longest, 3)
        if cfg.chunk_rows or cfg.parallelism > 1:
            self.stats["source_snapshots"] = clock.snapshots
        # The source's own count of what this partition selects, for Bronze's row_count_matches_source check
        # (rows landed + boundary_rows_dropped must equal it, or lie between it and the count before).
        self.stats["source_row_count"] = count_rows(target, query, self.retry)
        if best is not None:
            self.watermark_out = format_cursor_value(best)
        if dedupe is not None and dedupe.read and dedupe.watermark is not None:
            self.watermark_out = format_cursor_value(dedupe.watermark)
            self.boundary_hashes_out = dedupe.boundary_hashes()
            if len(self.boundary_hashes_out) > _MANY_BOUNDARY_ROWS:
                ctx.log.warning(
                    f"{len(self.boundary_hashes_out)} row versions lie within the lookback of the "
                    "watermark; their hashes are committed in _metadata.json: a shorter "
                    "db.incremental.lookback keeps that list small"
                )
            self.stats["boundary_rows_dropped"] = dedupe.dropped
            if dedupe.dropped:
                ctx.log.info(f"dropped {dedupe.dropped} re-read row version(s) the previous partition landed")

    def _read(
        self,
        target: SqlTarget,
        query: SqlQuery,
        columns: list[SqlColumn],
        engines: list[SqlEngine],
        clock: SnapshotClock,
        ctx: ExtractContext,
    ) -> Iterator[pa.RecordBatch]:
        """One statement; or keyset chunks (``chunk_rows``); or key ranges in parallel (``parallelism``).

        ``engines`` holds the first range's engine; the other ranges' are appended.
        """
        cfg = self.config
        size = cfg.fetch_batch_size
        engine = engines[0]
        if not cfg.chunk_rows and cfg.parallelism == 1:
            # One reader thread: the database is read while the previous batches are written.
            return parallel([lambda: timed(engine.stream(query, columns, size), clock)])
        key = self._key(target, columns)
        chunk_key = self._chunk_key(target, query, key) if cfg.chunk_rows else []
        ranges = [query]
        if cfg.parallelism > 1:
            ranges = key_ranges(target, query, key[0], cfg.parallelism, self.retry)
            ctx.log.info(f"reading {len(ranges)} range(s) of '{key[0].name}' in parallel")
        self.stats["key_columns"] = [c.name for c in key]

        def reader(range_query: SqlQuery, range_engine: SqlEngine) -> Iterator[pa.RecordBatch]:
            if cfg.chunk_rows:
                return keyset_chunks(
                    range_engine, range_query, columns, chunk_key, cfg.chunk_rows, size, clock
                )
            return timed(range_engine.stream(range_query, columns, size), clock)

        if len(ranges) == 1:
            return parallel([functools.partial(reader, query, engine)])
        engines += [select_engine(cfg.engine, target, self.retry) for _ in ranges[1:]]
        return parallel([functools.partial(reader, q, e) for q, e in zip(ranges, engines, strict=True)])

    def _key(self, target: SqlTarget, columns: list[SqlColumn]) -> list[SqlColumn]:
        """The columns of ``db.key_columns``, else of the table's primary (or unique not-null) key."""
        cfg = self.config
        names = cfg.key_columns
        if not names and cfg.table:
            names = unique_key(target, cfg.table, cfg.db_schema, self.retry)
        if not names:
            needs = "db.chunk_rows" if cfg.chunk_rows else "db.parallelism"
            raise ExtractError(
                f"{needs} needs a key: table '{cfg.table}' has no primary key or unique constraint over NOT "
                "NULL columns; name one in db.key_columns (for chunk_rows it must be unique and never NULL)"
            )
        found = []
        for name in names:
            validate_identifier(name, "key_columns")
            found.append(find_column(columns, name, "db.key_columns"))
        return found

    def _chunk_key(self, target: SqlTarget, query: SqlQuery, key: list[SqlColumn]) -> list[KeyColumn]:
        """How keyset chunks bind each key column, or an ExtractError for a key they cannot read by: before
        any row is read (``medallion_resources.sql.keys``)."""
        cfg = self.config
        return keyset_key(
            target,
            query.base,
            key,
            source=self.entry.source_name,
            table=cfg.table,
            schema=cfg.db_schema,
            retry=self.retry,
        )

    def _incremental(
        self, target: SqlTarget, base: SqlQuery, columns: list[SqlColumn], ctx: ExtractContext
    ) -> _Plan:
        inc: DbIncrementalConfig | None = self.config.incremental
        if inc is None:
            return _Plan(base, None, None)
        validate_identifier(inc.cursor_column, "incremental.cursor_column")
        cursor = find_column(columns, inc.cursor_column)
        lookback = parse_lookback(inc.lookback)
        conditions: list[Condition] = []
        params: dict[str, Any] = {}
        if inc.mode == "window":
            lower = ctx.window_start - lookback
            params["medallion_lo"] = window_bound(lower, cursor)
            params["medallion_hi"] = window_bound(ctx.window_end, cursor)
            conditions += [
                Condition(cursor.name, ">=", "medallion_lo"),
                Condition(cursor.name, "<", "medallion_hi"),
            ]
            return _Plan(SqlQuery(base.base, tuple(conditions), params), cursor, None)
        if ctx.watermark_in is None and ctx.later_read_from_start:
            return _Plan(SqlQuery(base.base), cursor, None, nothing=True)
        if lookback and cursor.kind in _NUMERIC:
            raise ExtractError(
                f"db.incremental.lookback needs a date or timestamp cursor; '{cursor.name}' is "
                f"{cursor.kind}: remove the lookback (a numeric watermark re-reads the rows at its value)"
            )
        # a text cursor whose collation does not order by code point: the greatest one read, and which rows
        # lie at or below a watermark, are decided by the database, as it compares the cursor with
        # watermark_in (medallion_resources.sql.collations); a citext, enum or char(n) one is compared with
        # a value of its own type (ADBC binds text, and citext >= text compares with case)
        order = text_order(target, base.base, cursor, self.retry)
        cast = order.cast if order else ""
        watermark_in: Any = None
        if ctx.watermark_in is not None:
            # >= the previous watermark minus the lookback: rows committed late at or below it are read again
            watermark_in = parse_cursor_value(ctx.watermark_in, cursor, "watermark_in")
            if _earlier_mysql_timestamp(target, cursor, ctx.watermark_in):
                watermark_in = self._upgraded(target, cursor, watermark_in, ctx)
            params["medallion_lo"] = cursor_minus(watermark_in, lookback, cursor)
            conditions.append(Condition(cursor.name, ">=", "medallion_lo", cast))
            start: str | None = ctx.watermark_in
        elif inc.initial_value is not None:
            start = inc.initial_value
            params["medallion_lo"] = parse_cursor_value(start, cursor, "db.incremental.initial_value")
            conditions.append(Condition(cursor.name, ">", "medallion_lo", cast))
        else:
            start = None
        if cursor.kind in _TEMPORAL or (start is not None and _is_timestamp_text(cursor, start)):
            params["medallion_hi"] = window_bound(ctx.window_end, cursor)
            conditions.append(Condition(cursor.name, "<", "medallion_hi", cast))
        elif ctx.watermark_next is not None:
            # a re-run (or backfill) of D with a later partition committed: that partition read from its
            # watermark_in on, so D stops there (at it inclusive: D landed the rows at it, the later
            # partition dropped them by hash); an id or text cursor has no day to bound D by otherwise
            params["medallion_next"] = parse_cursor_value(ctx.watermark_next, cursor, "a later watermark_in")
            conditions.append(Condition(cursor.name, "<=", "medallion_next", cast))
        horizon = self._horizon(target, cursor, watermark_in, ctx) if inc.commit_horizon else None
        if horizon is not None:
            params["medallion_horizon"] = horizon
            conditions.append(Condition(cursor.name, "<=", "medallion_horizon"))
        rows = ArrowRows(
            cursor.name,
            key=lambda value: _cursor_key(value, cursor),
            maximum=order.maximum if order else lambda best, column: _max(best, column, cursor),
            compare=order.mask if order else None,
            legacy=functools.partial(_server_wall_batch, target, self.retry)
            if target.dialect in _MYSQL
            else None,
        )
        dedupe = BoundaryDedupe(
            rows,
            watermark_in=watermark_in,
            known=ctx.boundary_hashes,
            lower=lambda value: cursor_minus(value, lookback, cursor),
        )
        return _Plan(SqlQuery(base.base, tuple(conditions), params), cursor, dedupe)

    def _upgraded(self, target: SqlTarget, cursor: SqlColumn, parsed: Any, ctx: ExtractContext) -> Any:
        """A naive watermark an earlier release committed for a MySQL/MariaDB ``TIMESTAMP`` cursor: the
        server zone's wall time, as the UTC instant it named (``sql.zones``)."""
        with sa_connection(target, self.retry, "cannot convert the watermark on") as conn:
            instant = upgraded_watermark(conn, parsed.replace(tzinfo=None))
        ctx.log.info(
            f"watermark_in {ctx.watermark_in} of TIMESTAMP cursor '{cursor.name}' was committed as the "
            f"server zone's wall time by an earlier release: read as {format_cursor_value(instant)}"
        )
        return instant

    def _horizon(self, target: SqlTarget, cursor: SqlColumn, watermark_in: Any, ctx: ExtractContext) -> Any:
        """The upper bound at the commit horizon, as a value of the cursor's kind (or None: no horizon)."""
        if target.dialect not in HORIZON_DIALECTS:
            return None
        if cursor.kind not in _TEMPORAL:
            ctx.log.info(
                f"commit horizon not applied: cursor '{cursor.name}' is {cursor.kind}, "
                "not a date or timestamp"
            )
            return None
        horizon = commit_horizon(target, self.retry)
        ctx.log.info(horizon.describe())
        if cursor.kind == "timestamptz":
            bound: Any = horizon.instant.astimezone(UTC)
        elif cursor.kind == "timestamp":
            bound = horizon.local
        else:
            bound = horizon.local.date()
        if watermark_in is not None and bound < watermark_in:
            bound = watermark_in  # never below what the previous partition already read
        self.stats["commit_horizon"] = format_cursor_value(bound)
        return bound

    def check(self) -> CheckResult:
        """Connect and run the query with ``WHERE 1 = 0``: report its columns and types, read no row.

        A PostgreSQL ``watermark`` source also reads its commit horizon, so a role that cannot see the
        database's sessions (or a standby) is reported here rather than at the first run; a ``chunk_rows``
        source has its key checked, so a key chunks cannot read by is reported here too.
        """
        try:
            target = self._target()
            base = self._base(target)
            select_engine(self.config.engine, target, RetryPolicy(max_attempts=1))
            columns = describe_query(target, base, RetryPolicy(max_attempts=1))
            inc = self.config.incremental
            if inc is not None:
                cursor = find_column(columns, inc.cursor_column)
                horizon_applies = inc.mode == "watermark" and inc.commit_horizon and cursor.kind in _TEMPORAL
                if horizon_applies and target.dialect in HORIZON_DIALECTS:
                    commit_horizon(target, RetryPolicy(max_attempts=1))
            if self.config.chunk_rows:
                self._chunk_key(target, base, self._key(target, columns))
        except ExtractError as exc:
            return CheckResult(False, str(exc))
        described = ", ".join(f"{c.name} {c.arrow_type or 'inferred'}" for c in columns)
        return CheckResult(True, f"{target.describe()}: {len(columns)} columns ({described})")


def _earlier_mysql_timestamp(target: SqlTarget, cursor: SqlColumn, text: str) -> bool:
    """A MySQL/MariaDB ``TIMESTAMP`` cursor whose watermark has no zone: an earlier release read the column
    in the server's zone and committed that wall time (``sql.zones``)."""
    return target.dialect in _MYSQL and cursor.kind == "timestamptz" and not _has_zone(text)


def _has_zone(text: str) -> bool:
    try:
        return datetime.fromisoformat(text).tzinfo is not None
    except ValueError:
        return False


def _server_wall_batch(target: SqlTarget, retry: RetryPolicy, batch: pa.RecordBatch) -> pa.RecordBatch:
    """``batch`` as an earlier release read it from MySQL/MariaDB: every ``TIMESTAMP`` column (UTC now) as
    the naive wall time of the server's zone, converted by the server (``sql.zones.server_wall``)."""
    zoned = [i for i, f in enumerate(batch.schema) if pa.types.is_timestamp(f.type) and f.type.tz]
    if not zoned or batch.num_rows == 0:
        return batch
    instants = sorted({v for i in zoned for v in batch.column(i).to_pylist() if v is not None})
    with sa_connection(target, retry, "cannot convert TIMESTAMP values on") as conn:
        wall = dict(zip(instants, server_wall(conn, instants), strict=True))
    arrays = list(batch.columns)
    for i in zoned:
        arrays[i] = pa.array([wall.get(v) for v in batch.column(i).to_pylist()], pa.timestamp("us"))
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


def _is_timestamp_text(cursor: SqlColumn, value: str) -> bool:
    """An untyped (SQLite) or text cursor whose watermark is an ISO date-time is compared as one."""
    return cursor.kind in ("infer", "string", "text") and is_timestamp_text(value)


@dataclass(frozen=True)
class _Plan:
    """What a partition runs: its query, the cursor column (incremental) and ``watermark`` mode's dedupe."""

    query: SqlQuery
    cursor: SqlColumn | None
    dedupe: BoundaryDedupe[pa.RecordBatch] | None
    nothing: bool = (
        False  # the partition has no rows of its own to read (``ExtractContext.later_read_from_start``)
    )


def _cursor_key(value: Any, cursor: SqlColumn) -> Any:
    """An Arrow cursor value as the value of its kind it compares as (exact-text decimals as Decimal)."""
    return parse_cursor_value(format_cursor_value(value), cursor, "cursor value")


def _max(best: Any, column: pa.Array, cursor: SqlColumn) -> Any:
    if pa.types.is_null(column.type) or column.null_count == len(column):
        return best
    if cursor.kind in _NUMERIC and pa.types.is_string(column.type):
        # exact decimal text, or a numeric column widened to text (a NaN decimal, a BIGINT UNSIGNED above
        # 2**63 - 1; types module docstring): the greatest number, not the greatest string ('99' > '100')
        values = [_cursor_key(v, cursor) for v in column.to_pylist() if v is not None]
        if any(isinstance(v, Decimal) and v.is_nan() for v in values):  # raises on '>'; sorted last
            raise ExtractError(
                f"cursor column '{cursor.name}' holds NaN, which PostgreSQL sorts above every number: a "
                "watermark at NaN would never read a later row. Leave those rows out with a db.query "
                f"(WHERE {cursor.name} <> 'NaN') or use another cursor column"
            )
        value = max(values)
    else:
        value = pc.max(column).as_py()
    if value is None or best is None:
        return best if value is None else value
    try:
        return value if value > best else best
    except TypeError:  # an untyped (SQLite) column whose batches hold different kinds: compare as text
        return value if format_cursor_value(value) > format_cursor_value(best) else best


def _describe_conditions(query: SqlQuery) -> str:
    return " AND ".join(
        f"{c.column} {c.op} {format_cursor_value(query.params[c.param])}" for c in query.conditions
    )
