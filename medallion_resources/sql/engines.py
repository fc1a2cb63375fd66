"""Engines that run one query and stream its rows as Arrow record batches of the canonical types.

Selected by ``db.engine``::

    db:
      url_env: ORDERS_DB_URL
      table: orders
      engine: auto        # auto | sqlalchemy | adbc | connectorx

- ``sqlalchemy`` (``SqlAlchemyEngine``): any SQLAlchemy dialect; a server-side cursor
  (``stream_results``) read ``fetch_batch_size`` rows at a time, converted with ``types.python_to_arrow``.
- ``adbc`` (``AdbcEngine``): PostgreSQL through ``adbc-driver-postgresql``, which reads the COPY binary
  stream straight into Arrow (several times faster); batches are re-cut to at most ``fetch_batch_size``
  rows and converted with ``types.arrow_to_canonical``.
- ``connectorx``: not supported; selecting it is a clear error. connectorx 0.4.6 installs on Python 3.11
  here, but it cannot bind parameters (incremental bounds would have to be spliced into the SQL), it aborts
  on PostgreSQL ``interval`` columns, and it reads unconstrained ``numeric`` as ``decimal(38, 10)``, so
  neither the binding rule nor identical output across engines would hold. ADBC is faster anyway.
- ``auto``: ADBC for PostgreSQL when its driver is installed, SQLAlchemy otherwise; when the ADBC driver
  rejects the statement before any row was produced, the same query is run through SQLAlchemy.

The contract: ``stream(query, columns, batch_size)`` yields batches whose schema is exactly the columns'
canonical types (``types.schema_of``), except columns typed per batch (``infer``).

How far a ``watermark`` read may go without skipping a row of a transaction still open is
:mod:`medallion_resources.sql.horizon`'s.
"""

from __future__ import annotations

import importlib.util
import logging
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from typing import ClassVar
from urllib.parse import quote

import pyarrow as pa
import sqlalchemy as sa

from medallion_resources.errors import ExtractError
from medallion_resources.sql.connect import (
    DEFAULT_RETRY,
    RetryPolicy,
    SqlTarget,
    connect_with_retries,
    first_line,
    sa_connection,
)
from medallion_resources.sql.query import SqlQuery
from medallion_resources.sql.types import (
    PG_ARRAY_TYPES_SQL,
    SqlColumn,
    arrow_to_canonical,
    columns_from_description,
    infinity_error,
    pg_arrays_as_json,
    pg_oid,
    python_to_arrow,
    time_24_error,
)

__all__ = [
    "ENGINES",
    "AdbcEngine",
    "SqlAlchemyEngine",
    "SqlEngine",
    "count_rows",
    "describe_query",
    "engines_used",
    "select_engine",
]

_log = logging.getLogger("medallion.sql")

_MYSQL_UNSIGNED = 32  # the UNSIGNED column flag of the MySQL protocol (pymysql.constants.FLAG)


class SqlEngine(ABC):
    """Runs a query and streams Arrow batches of the canonical types."""

    name: ClassVar[str] = ""

    def __init__(self, target: SqlTarget, retry: RetryPolicy = DEFAULT_RETRY) -> None:
        self.target = target
        self.retry = retry
        # the engines that ran this engine's statements (``auto``: its choice for each)
        self.read_with: set[str] = set()

    @property
    def used(self) -> str:
        """The engine(s) that read this engine's statements (``engines_used``)."""
        return engines_used([self])

    @classmethod
    def unavailable(cls, target: SqlTarget) -> str | None:
        """Why this engine cannot serve ``target`` (None when it can)."""
        return None

    @abstractmethod
    def stream(
        self, query: SqlQuery, columns: Sequence[SqlColumn], batch_size: int
    ) -> Iterator[pa.RecordBatch]:
        """Yield the query's rows, at most ``batch_size`` per batch."""


def engines_used(engines: Iterable[SqlEngine]) -> str:
    """The engines that actually read the statements of ``engines`` (one per key range of a read):
    ``adbc``, ``sqlalchemy``, or ``adbc+sqlalchemy`` when ``auto`` fell back for some statements (a chunk,
    a range) and not for others."""
    names = set().union(*(e.read_with or {e.name} for e in engines))
    return "+".join(sorted(names))


def describe_query(target: SqlTarget, query: SqlQuery, retry: RetryPolicy = DEFAULT_RETRY) -> list[SqlColumn]:
    """The query's columns and kinds, from a zero-row execution (``WHERE 1 = 0``): no row is read.

    On PostgreSQL, when some column's type is read as text (``types``), one catalog query tells which of
    those types are arrays (read as JSON text instead).
    """
    with sa_connection(target, retry, "query failed on") as conn:
        result = conn.exec_driver_sql(_escape_percent(query.describe_sql(conn.dialect), conn.dialect))
        description = result.cursor.description or []
        # MySQL/MariaDB column flags (pymysql shows them): an UNSIGNED decimal's display length has no sign
        fields = getattr(getattr(result.cursor, "_result", None), "fields", None)
        unsigned = [bool(f.flags & _MYSQL_UNSIGNED) for f in fields] if fields else None
        result.close()
        columns = columns_from_description(target.dialect, description, unsigned)
        oids = sorted({oid for c in columns if c.select and (oid := pg_oid(c)) is not None})
        if oids:
            arrays = set(conn.execute(sa.text(PG_ARRAY_TYPES_SQL), {"oids": oids}).scalars())
            columns = pg_arrays_as_json(columns, arrays)
    return columns


def count_rows(target: SqlTarget, query: SqlQuery, retry: RetryPolicy = DEFAULT_RETRY) -> int:
    """``SELECT count(*)`` of the query with its bounds: what the source says the partition holds."""
    with sa_connection(target, retry, "count query failed on") as conn:
        value = conn.execute(sa.text(query.count_sql(conn.dialect)), query.params).scalar()
    return int(value or 0)


def _escape_percent(sql: str, dialect: sa.Dialect) -> str:
    # exec_driver_sql passes the text to the driver as is: pyformat drivers need a literal % doubled.
    return sql.replace("%", "%%") if dialect.paramstyle in ("format", "pyformat") else sql


class SqlAlchemyEngine(SqlEngine):
    """Any SQLAlchemy dialect; a server-side cursor, ``fetch_batch_size`` rows per batch.

    ``engine: sqlalchemy`` (and ``auto`` for anything but PostgreSQL).
    """

    name = "sqlalchemy"

    def stream(
        self, query: SqlQuery, columns: Sequence[SqlColumn], batch_size: int
    ) -> Iterator[pa.RecordBatch]:
        names = [c.name for c in columns]
        query = query.reading(columns)
        with sa_connection(self.target, self.retry, "query failed on") as conn:
            conn = conn.execution_options(stream_results=True, max_row_buffer=batch_size)
            result = conn.execute(sa.text(query.named(conn.dialect)), query.params)
            self.read_with.add(self.name)
            try:
                for rows in result.partitions(batch_size):
                    values = list(zip(*rows, strict=True))
                    arrays = [python_to_arrow(v, c) for v, c in zip(values, columns, strict=True)]
                    yield pa.RecordBatch.from_arrays(arrays, names=names)
            except sa.exc.DataError as exc:  # psycopg: "can't parse time '24:00:00'"; not a column named
                times = [c.name for c in columns if c.kind == "time"]
                if times and "24:00:00" in str(exc.orig):
                    raise time_24_error(times) from None
                dates = [c.name for c in columns if c.kind in ("date", "timestamp", "timestamptz")]
                if dates and "infinity" in str(exc.orig):  # psycopg: "date too large (after year 10K)"
                    raise infinity_error(dates) from None
                raise


class AdbcEngine(SqlEngine):
    """PostgreSQL through ``adbc-driver-postgresql`` (binary COPY straight into Arrow).

    ``engine: adbc`` (and ``auto`` for PostgreSQL URLs).
    """

    name = "adbc"

    @classmethod
    def unavailable(cls, target: SqlTarget) -> str | None:
        if target.dialect != "postgresql":
            return f"the ADBC engine reads PostgreSQL only, not {target.dialect}"
        if importlib.util.find_spec("adbc_driver_postgresql") is None:
            return "adbc-driver-postgresql is not installed (pip install adbc-driver-postgresql)"
        return None

    def _uri(self) -> str:
        """The URL as a libpq URI, its query's connection parameters kept (``sslmode``, ``options``: the same
        session as psycopg's, whose TimeZone decides the text of timestamptz ranges and arrays), percent-
        encoded as libpq decodes them (SQLAlchemy writes a space as ``+``, which libpq keeps)."""
        url = self.target.url
        base = url.set(drivername="postgresql", query={}).render_as_string(hide_password=False)
        params = [
            f"{quote(key, safe='')}={quote(value, safe='')}"
            for key, values in url.query.items()
            for value in ((values,) if isinstance(values, str) else values)
        ]
        return f"{base}?{'&'.join(params)}" if params else base

    def stream(
        self, query: SqlQuery, columns: Sequence[SqlColumn], batch_size: int
    ) -> Iterator[pa.RecordBatch]:
        import adbc_driver_manager
        import adbc_driver_postgresql.dbapi as adbc_pg
        from sqlalchemy.dialects import postgresql

        sql, params = query.reading(columns).positional(postgresql.dialect())  # type: ignore[no-untyped-call]
        conn = connect_with_retries(self.target, lambda: adbc_pg.connect(self._uri()), self.retry)
        try:
            cursor = conn.cursor()
            try:
                cursor.execute(sql, params if params else None)
                reader = cursor.fetch_record_batch()
            except adbc_driver_manager.Error as exc:
                raise AdbcStatementError(
                    f"query failed on {self.target.describe()}: {self.target.redact(first_line(exc))}"
                ) from None
            self.read_with.add(self.name)
            names = [c.name for c in columns]
            for batch in self._batches(reader):
                if batch.num_rows == 0:
                    continue
                arrays = [arrow_to_canonical(batch.column(i), c) for i, c in enumerate(columns)]
                batch = pa.RecordBatch.from_arrays(arrays, names=names)
                for offset in range(0, batch.num_rows, batch_size):
                    yield batch.slice(offset, batch_size)
            cursor.close()
        finally:
            conn.close()

    def _batches(self, reader: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """The reader's batches; a failure while streaming (the backend terminated, a statement timeout:
        libpq's bare ``OSError``) named as the SQLAlchemy engine names it, with the database."""
        import adbc_driver_manager

        batches = iter(reader)
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                return
            except (OSError, adbc_driver_manager.Error) as exc:
                raise ExtractError(
                    f"query failed on {self.target.describe()}: {self.target.redact(first_line(exc))}"
                ) from None
            yield batch


class AdbcStatementError(ExtractError):
    """The ADBC driver rejected the statement before producing a row (``auto`` falls back)."""


class _AutoEngine(SqlEngine):
    """ADBC for PostgreSQL, SQLAlchemy elsewhere or when ADBC cannot run the statement."""

    name = "auto"

    def stream(
        self, query: SqlQuery, columns: Sequence[SqlColumn], batch_size: int
    ) -> Iterator[pa.RecordBatch]:
        if AdbcEngine.unavailable(self.target) is None:
            produced = False
            try:
                for batch in self._engine(AdbcEngine).stream(query, columns, batch_size):
                    produced = True
                    yield batch
                return
            except AdbcStatementError as exc:
                if produced:
                    raise
                _log.warning("ADBC could not run the query, using SQLAlchemy instead: %s", exc)
        yield from self._engine(SqlAlchemyEngine).stream(query, columns, batch_size)

    def _engine(self, cls: type[SqlEngine]) -> SqlEngine:
        """An engine of ``cls`` that records in this one's ``read_with`` when it runs a statement."""
        engine = cls(self.target, self.retry)
        engine.read_with = self.read_with
        return engine


ENGINES: dict[str, type[SqlEngine]] = {
    "auto": _AutoEngine,
    "sqlalchemy": SqlAlchemyEngine,
    "adbc": AdbcEngine,
}


def select_engine(name: str, target: SqlTarget, retry: RetryPolicy = DEFAULT_RETRY) -> SqlEngine:
    """The engine named by ``db.engine`` for ``target``, or an ExtractError saying why it cannot serve."""
    if name == "connectorx":
        raise ExtractError(
            "db.engine 'connectorx' is not supported: it cannot bind parameters, aborts on PostgreSQL "
            "intervals and rounds unconstrained numerics; use 'adbc' (PostgreSQL, fastest), 'sqlalchemy' or "
            "'auto'"
        )
    try:
        cls = ENGINES[name]
    except KeyError:
        raise ExtractError(f"db.engine '{name}' is unknown; allowed: {', '.join(ENGINES)}") from None
    reason = cls.unavailable(target)
    if reason:
        raise ExtractError(f"db.engine '{name}' cannot read {target.describe()}: {reason}")
    return cls(target, retry)
