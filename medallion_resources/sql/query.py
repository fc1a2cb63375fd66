"""Building the SQL an extraction runs: validated identifiers, bound cursor values, one text per engine.

Only identifiers (table, schema, cursor column) are ever put into SQL text, and only after they match
``IDENTIFIER_RE`` and are quoted by the dialect; every value (window bounds, watermark) is a bound
parameter. A user ``query`` is wrapped as a derived table, so it may carry its own ``WHERE``/``JOIN``::

    SELECT * FROM (<query>) AS _medallion_src WHERE _medallion_src."updated_at" >= :medallion_lo AND ...

Cursor values and watermarks travel as strings (``watermark_out`` in ``_metadata.json``) and are parsed
back by the cursor column's kind (``types``): ``int`` → ``int``; ``decimal`` → ``Decimal``;
``timestamp`` → naive ``datetime``; ``timestamptz`` → aware ``datetime`` (UTC); ``date`` → ``date``; text
kinds stay strings. ``format_cursor_value`` is the inverse and round-trips exactly: timestamps always carry
six fractional digits (``2025-01-02T10:00:00.000001`` or ``...+00:00`` when aware), decimals their exact
text, integers their digits.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from medallion_resources.errors import ExtractError
from medallion_resources.sql.types import SqlColumn

__all__ = [
    "IDENTIFIER_RE",
    "NULL_OR_LESS",
    "Condition",
    "SqlQuery",
    "base_select",
    "format_cursor_value",
    "identifier_problem",
    "parse_cursor_value",
    "validate_identifier",
    "window_bound",
    "find_column",
    "cursor_minus",
    "is_timestamp_text",
]

IDENTIFIER_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_$]{0,62}")
SOURCE_ALIAS = "_medallion_src"


def identifier_problem(value: object) -> str | None:
    """What is wrong with ``value`` as a plain SQL identifier (None: nothing); the one identifier rule,
    shared by config validation and the query builder."""
    if isinstance(value, str) and IDENTIFIER_RE.fullmatch(value):
        return None
    return (
        f"{value!r} is not a valid identifier; allowed: a letter or '_' followed by up to 62 letters, "
        "digits, '_' or '$' (use db.query for anything else)"
    )


def validate_identifier(value: str, key: str) -> str:
    """``value`` if it is a plain SQL identifier, else an ExtractError naming ``key`` and the rule."""
    problem = identifier_problem(value)
    if problem is not None:
        raise ExtractError(f"db.{key}: {problem}")
    return value


@dataclass(frozen=True)
class Condition:
    column: str  # validated, unquoted
    op: str  # one of >=, >, <, <=; or NULL_OR_LESS: ``(column < param OR column IS NULL)``
    param: str
    cast: str = ""  # a SQL type the bound value is cast to (a PostgreSQL citext, enum or char(n) cursor)


NULL_OR_LESS = "< or null"
"""The first key range of a parallel read also takes the rows whose key is NULL."""


@dataclass(frozen=True)
class SqlQuery:
    """A base SELECT plus cursor conditions, rendered for SQLAlchemy (``:name``) or libpq (``$n``).

    A keyset chunk adds ``after`` (the key columns: rows whose key is lexicographically greater than the
    values bound as ``medallion_k0``, ``medallion_k1``, ..., each cast to its ``after_casts`` type when one is
    named), ``order_by`` and ``limit``, and ``not_null`` (no key column NULL: a NULL never compares greater,
    and databases sort it first or last); the rows with a NULL in a key column are read by one more query
    with ``some_null``.
    """

    base: str
    conditions: tuple[Condition, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)
    after: tuple[str, ...] = ()
    after_casts: tuple[str, ...] = ()  # per ``after`` column: a SQL type its bound value is cast to, or ""
    order_by: tuple[str, ...] = ()
    limit: int | None = None
    not_null: tuple[str, ...] = ()
    some_null: tuple[str, ...] = ()
    # the columns selected, each (name, SQL with ``{}`` for the column or "" as is), when some column is read
    # through an expression (``types.SqlColumn.select``); () is ``SELECT *``
    select: tuple[tuple[str, str], ...] = ()

    def reading(self, columns: Sequence[SqlColumn]) -> SqlQuery:
        """This query selecting ``columns`` as ``types`` reads them (PostgreSQL types read as text through
        an expression); unchanged when every column is read as is."""
        if not any(c.select for c in columns):
            return self
        return dataclasses.replace(self, select=tuple((c.name, c.select) for c in columns))

    def _render(
        self,
        quote: sa.sql.compiler.IdentifierPreparer,
        placeholder: Any,
        escape: Callable[[str], str] = lambda text: text,
    ) -> str:
        if not (
            self.conditions
            or self.after
            or self.order_by
            or self.limit
            or self.not_null
            or self.some_null
            or self.select
        ):
            return self.base

        def col(name: str) -> str:
            return f"{SOURCE_ALIAS}.{quote.quote_identifier(name)}"

        # a name read from the database, as raw SQL text: the preparer doubles '%' for pyformat drivers, which
        # neither libpq (ADBC) nor ``sqlalchemy.text`` (which escapes '%' itself) expects
        doubled = quote.dialect.paramstyle in ("format", "pyformat")

        def named(name: str) -> str:
            quoted = quote.quote_identifier(name)
            return escape(quoted.replace("%%", "%") if doubled else quoted)

        def selected(name: str, expression: str) -> str:
            column = f"{SOURCE_ALIAS}.{named(name)}"
            return f"{expression.format(column)} AS {named(name)}" if expression else column

        def bound(c: Condition) -> str:
            return f"CAST({placeholder(c.param)} AS {c.cast})" if c.cast else placeholder(c.param)

        clauses = []
        for c in self.conditions:
            if c.op == NULL_OR_LESS:
                clauses.append(f"({col(c.column)} < {bound(c)} OR {col(c.column)} IS NULL)")
            else:
                clauses.append(f"{col(c.column)} {c.op} {bound(c)}")
        clauses += [f"{col(name)} IS NOT NULL" for name in self.not_null]
        if self.some_null:
            clauses.append("(" + " OR ".join(f"{col(name)} IS NULL" for name in self.some_null) + ")")
        if self.after:  # (k0 > :k0) OR (k0 = :k0 AND k1 > :k1) OR ...: portable row-value comparison

            def key(i: int) -> str:
                cast = self.after_casts[i] if i < len(self.after_casts) else ""
                value = placeholder(f"medallion_k{i}")
                return f"CAST({value} AS {cast})" if cast else value

            terms = []
            for i, name in enumerate(self.after):
                equal = [f"{col(k)} = {key(j)}" for j, k in enumerate(self.after[:i])]
                terms.append("(" + " AND ".join([*equal, f"{col(name)} > {key(i)}"]) + ")")
            clauses.append("(" + " OR ".join(terms) + ")")
        columns = ", ".join(selected(name, expression) for name, expression in self.select) or "*"
        text = f"SELECT {columns} FROM ({self.base}) AS {SOURCE_ALIAS}"
        if clauses:
            text += " WHERE " + " AND ".join(clauses)
        if self.order_by:
            text += " ORDER BY " + ", ".join(col(name) for name in self.order_by)
        if self.limit is not None:
            text += f" LIMIT {int(self.limit)}"
        return text

    def named(self, dialect: sa.Dialect) -> str:
        """SQL text with ``:name`` parameters, for ``sqlalchemy.text``."""
        # a column name holding ':' would read as a bind parameter in ``sqlalchemy.text``: escaped
        return self._render(
            dialect.identifier_preparer, lambda name: f":{name}", lambda text: text.replace(":", "\\:")
        )

    def positional(self, dialect: sa.Dialect) -> tuple[str, tuple[Any, ...]]:
        """SQL text with ``$1..$n`` parameters and the values in order (ADBC PostgreSQL)."""
        order: dict[str, int] = {}

        def placeholder(name: str) -> str:
            return f"${order.setdefault(name, len(order) + 1)}"

        # the dialect's identifiers double '%' for pyformat drivers; libpq takes the SQL text as it is
        unescape = (
            (lambda text: text.replace("%%", "%")) if dialect.paramstyle in ("format", "pyformat") else None
        )
        text = self._render(dialect.identifier_preparer, placeholder, *([unescape] if unescape else []))
        return text, tuple(self.params[name] for name in order)

    def count_sql(self, dialect: sa.Dialect) -> str:
        """How many rows the query selects (``:name`` parameters): the source's own count of a partition."""
        return f"SELECT count(*) FROM ({self.named(dialect)}) AS medallion_count"

    def describe_sql(self, dialect: sa.Dialect) -> str:
        """The base SELECT returning no row: the database reports its columns without reading any."""
        return f"SELECT * FROM ({self.base}) AS {SOURCE_ALIAS} WHERE 1 = 0"


def base_select(dialect: sa.Dialect, *, table: str | None, schema: str | None, query: str | None) -> str:
    """``SELECT * FROM "schema"."table"`` (validated, quoted) or the user's query without its ``;``, ended by
    a line break: every statement wraps it as ``(<query>) AS ...``, and a query ending in a line comment
    (``-- not the test orders``, MySQL's ``#``) would comment out the rest of the statement."""
    if query:
        text = query.strip().rstrip(";").strip()
        if not text:
            raise ExtractError("db.query is empty")
        return text + "\n"
    assert table is not None
    quote = dialect.identifier_preparer
    name = quote.quote_identifier(validate_identifier(table, "table"))
    if schema:
        name = f"{quote.quote_identifier(validate_identifier(schema, 'schema'))}.{name}"
    return f"SELECT * FROM {name}"


# --- cursor values ----------------------------------------------------------------------------------------

_INT_RE = re.compile(r"[+-]?\d+")
_NUM_RE = re.compile(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?")


def parse_cursor_value(text: str, column: SqlColumn, what: str) -> Any:
    """A watermark or ``initial_value`` string as the Python value to bind for ``column``'s kind."""
    kind = column.kind
    try:
        if kind == "int":
            return int(text)
        if kind in ("decimal", "decimal_text"):
            return decimal.Decimal(text)
        if kind in ("float32", "float64"):
            return float(text)
        if kind == "date":
            return dt.date.fromisoformat(text[:10])
        if kind == "timestamp":
            value = dt.datetime.fromisoformat(text)
            return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value
        if kind == "timestamptz":
            value = dt.datetime.fromisoformat(text)
            return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    except ValueError:
        raise ExtractError(
            f"{what} {text!r} is not a valid value for cursor column '{column.name}' ({column.kind})"
        ) from None
    if kind == "infer":  # untyped (SQLite): numbers compare as numbers, anything else as text
        if _INT_RE.fullmatch(text):
            return int(text)
        if _NUM_RE.fullmatch(text):
            return float(text)
    return text


def format_cursor_value(value: Any) -> str:
    """The exact string form of a cursor value (inverse of ``parse_cursor_value``)."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
        return str(value.isoformat(timespec="microseconds"))
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def window_bound(moment: dt.datetime, column: SqlColumn) -> Any:
    """A partition window bound (tz-aware) as the value to compare ``column`` with.

    Aware timestamps compare as instants; naive timestamps and dates as the wall clock of the partitions'
    timezone; untyped (SQLite) or text cursors as ``YYYY-MM-DD HH:MM:SS`` text (SQLite's own format).
    """
    kind = column.kind
    if kind == "timestamptz":
        return moment.astimezone(dt.UTC)
    if kind == "timestamp":
        return moment.replace(tzinfo=None)
    if kind == "date":
        return moment.date()
    if kind in ("int", "decimal", "decimal_text", "float32", "float64"):
        raise ExtractError(
            f"incremental.mode 'window' needs a date or timestamp cursor column; '{column.name}' is "
            f"{kind} (use mode: watermark for numeric cursors)"
        )
    return moment.replace(tzinfo=None).isoformat(sep=" ")


def is_timestamp_text(value: Any) -> bool:
    """A text cursor value that is an ISO date-time (SQLite's ``YYYY-MM-DD HH:MM:SS``, not a number)."""
    if not isinstance(value, str) or _NUM_RE.fullmatch(value.strip()):
        return False
    try:
        dt.datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def cursor_minus(value: Any, lookback: dt.timedelta, column: SqlColumn) -> Any:
    """``value`` moved ``lookback`` back, as the same kind of cursor value (the lookback's lower bound).

    Timestamps and dates are shifted (a date by whole days, rounding down); an ISO date-time held as text
    (SQLite) is shifted and written back in its own form (separator kept, fraction only when non-zero), so
    it still compares as text the way the stored values do. Other cursors take no lookback.
    """
    if not lookback:
        return value
    if isinstance(value, dt.datetime):
        return value - lookback
    if isinstance(value, dt.date):
        return (dt.datetime.combine(value, dt.time()) - lookback).date()
    if is_timestamp_text(value):
        text = value.strip()
        moved = dt.datetime.fromisoformat(text) - lookback
        sep = "T" if len(text) > 10 and text[10] == "T" else " "
        if len(text) <= 10:  # a date written as text
            return moved.date().isoformat()
        return moved.isoformat(sep=sep, timespec="microseconds" if moved.microsecond else "seconds")
    raise ExtractError(
        f"db.incremental.lookback needs a date or timestamp cursor; '{column.name}' is {column.kind} "
        f"(value {format_cursor_value(value)!r}): remove the lookback or use a timestamp cursor"
    )


def find_column(
    columns: Sequence[SqlColumn], name: str, setting: str = "db.incremental.cursor_column"
) -> SqlColumn:
    """The column ``name`` (the config's ``setting``) names: the one spelled exactly so, else the one equal
    but for case (an unquoted identifier folds case: PostgreSQL to lower, Oracle to upper). Two columns
    equal to it but for case and none exactly (``"Seq"`` and ``seq`` for ``SEQ``) fail: which one the
    name meant cannot be told, and the first of them was taken silently before."""
    for column in columns:
        if column.name == name:
            return column
    alike = [column for column in columns if column.name.lower() == name.lower()]
    if len(alike) > 1:
        raise ExtractError(
            f"{setting} '{name}' matches {len(alike)} columns of the query that differ only in case: "
            f"{', '.join(c.name for c in alike)}; write the one meant with its exact case"
        )
    if alike:
        return alike[0]
    raise ExtractError(
        f"{setting} '{name}' is not a column of the query; columns: {', '.join(c.name for c in columns)}"
    )
