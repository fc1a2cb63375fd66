"""A text cursor compared as the database compares it, under the column's type and collation.

A ``watermark`` read selects ``cursor >= :watermark`` in the database, so under the cursor column's collation;
the watermark it commits is the greatest cursor read, and the rows at it are the boundary the next read drops
by hash (``medallion_resources.boundary``). Python compares text by code point, which is the database's order
only under a binary collation: MariaDB's default ``utf8mb4_general_ci`` and PostgreSQL's ``en_US`` or ICU
collations order ``'B'`` after ``'a'``, and case- or pad-insensitive ones find ``'a'``, ``'A'`` and ``'a '``
equal. With the greatest cursor taken in code point order (``'a'`` of ``'a'`` and ``'B'``), the next read
selected ``'B'`` again, which no boundary hash covered: it landed twice.

So where the cursor's order is not code point order, ``TextOrder`` has the database itself decide the
greatest of the cursors read and which of them are at or above (or at or below) a watermark: one statement
per batch that reads no table, over the batch's distinct cursor values, bound as one array (PostgreSQL) or
one JSON array (MySQL/MariaDB, ``JSON_TABLE``: MariaDB 10.6, MySQL 8.0), each cast to the column's type
under its collation. ``text_order`` returns None where Python's comparison is the database's: a column that
is not text, and text under a collation ordered by code point (PostgreSQL ``C``, ``POSIX``, ``ucs_basic``,
or the database's default when that is ``C``, ``POSIX`` or ``C.UTF-8`` of the libc provider; MySQL/MariaDB
``binary`` and the ``NO PAD`` binary collations of UTF-8, ``utf8mb4_nopad_bin``, ``utf8mb4_0900_bin``).
SQLite compares text by its bytes under its default ``BINARY`` collation and is not read here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from medallion_resources.sql.connect import DEFAULT_RETRY, RetryPolicy, SqlTarget, sa_connection
from medallion_resources.sql.query import SOURCE_ALIAS
from medallion_resources.sql.types import SqlColumn, pg_oid

__all__ = ["TextOrder", "text_order"]

_SQL_NAME = re.compile(r"[A-Za-z0-9_]+")  # a MySQL collation or character set name, written into SQL
_PG_PLAIN_TEXT = frozenset({18, 19, 25, 1043})  # "char", name, text, varchar: byte order under a C collation
_PG_TEXT_TYPES = _PG_PLAIN_TEXT | {1042}  # and character(n)
_PG_CODE_POINT = frozenset({"C", "POSIX", "C.UTF-8", "C.utf8"})
_MYSQL_UTF8 = frozenset({"utf8mb4", "utf8mb3", "utf8"})
_ARROW_OPS = {
    "<=": pc.less_equal,
    ">=": pc.greater_equal,
    "<": pc.less,
    ">": pc.greater,
    "=": pc.equal,
}
_OPS = frozenset(_ARROW_OPS)

# The cursor's type, as a cast target (qualified: pg_catalog.bpchar is char of any length, not char(1)).
_PG_TYPE_SQL = """
SELECT quote_ident(n.nspname) || '.' || quote_ident(t.typname) AS qualified, t.typname AS name,
       t.typcollation <> 0 AS collatable
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE t.oid = CAST(:oid AS oid)
"""
# A collatable cursor's collation, from a scalar subquery of no row (LIMIT 0): named unless it is the
# default, and what it sorts by (the database's own for the default).
_PG_COLLATION_SQL = """
SELECT CASE WHEN c.oid = 100 THEN NULL ELSE quote_ident(n.nspname) || '.' || quote_ident(c.collname) END
         AS named,
       CASE WHEN c.oid = 100 THEN d.datcollate ELSE c.collcollate END AS collate,
       CASE WHEN c.oid = 100 THEN COALESCE(to_jsonb(d) ->> 'datlocprovider', 'c')
            ELSE c.collprovider::text END AS provider
FROM pg_collation c JOIN pg_namespace n ON n.oid = c.collnamespace, pg_database d
WHERE c.oid = CAST(pg_collation_for(({column})) AS regcollation) AND d.datname = current_database()
"""


@dataclass(frozen=True)
class TextOrder:
    """How the database compares a text cursor: values cast to ``sql_type`` under ``collation`` ("" the
    type's own), compared by the database (module docstring)."""

    target: SqlTarget
    sql_type: str
    collation: str = ""
    retry: RetryPolicy = DEFAULT_RETRY
    text: bool = True  # a text type (its order a collation's, so ``_same_shape`` values need no statement)

    @property
    def cast(self) -> str:
        """The type a value compared with the column is cast to: PostgreSQL's ``citext``, an enum and
        ``char(n)`` compare so, not as the ``text`` ADBC binds ("" on MySQL/MariaDB, where the column's
        collation governs a comparison with a bound string)."""
        return self.sql_type if self.target.dialect == "postgresql" else ""

    def _compared(self, expression: str) -> str:
        text = f"CAST({expression} AS {self.sql_type})"
        return f"{text} COLLATE {self.collation}" if self.collation else text

    def _values(self, values: Sequence[str]) -> tuple[str, dict[str, Any]]:
        """A derived table ``(v, c)`` of the bound values: each value and its compared form."""
        if self.target.dialect == "postgresql":
            table = "unnest(CAST(:medallion_values AS text[])) AS medallion_v(v)"
            bound: Any = list(values)
        else:
            table = "JSON_TABLE(:medallion_values, '$[*]' COLUMNS (v LONGTEXT PATH '$')) AS medallion_v"
            bound = json.dumps(list(values))
        return f"SELECT v, {self._compared('v')} AS c FROM {table}", {"medallion_values": bound}

    def _run(self, sql: str, params: dict[str, Any]) -> list[str]:
        where = "cannot compare cursor values on"
        with sa_connection(self.target, self.retry, where, reason=str) as conn:
            return [row[0] for row in conn.execute(sa.text(sql), params)]

    def greatest(self, values: Sequence[str]) -> list[str]:
        """Those of ``values`` the database finds equal to the greatest of them (one, unless the collation
        finds several equal)."""
        table, params = self._values(values)
        greatest = "SELECT MAX(c) FROM medallion_t"
        sql = f"WITH medallion_t AS ({table}) SELECT v FROM medallion_t WHERE c = ({greatest})"
        return self._run(sql, params)

    def holding(self, values: Sequence[str], op: str, value: str) -> list[str]:
        """Those of ``values`` for which ``v <op> value`` holds as the database compares them."""
        assert op in _OPS, op
        table, params = self._values(values)
        sql = f"SELECT v FROM ({table}) AS medallion_t WHERE c {op} {self._compared(':medallion_ref')}"
        return self._run(sql, {**params, "medallion_ref": value})

    def mask(self, column: pa.Array, op: str, value: Any) -> pa.BooleanArray:
        """``column <op> value`` per row, as the database compares them; a null cursor never holds."""
        if self.text and _same_shape(column, value):
            compare = _ARROW_OPS[op]
            ordered: pa.BooleanArray = pc.fill_null(compare(column, pa.scalar(value, column.type)), False)
            return ordered
        distinct = [v for v in pc.unique(column).to_pylist() if v is not None]
        found = self.holding(distinct, op, str(value)) if distinct else []
        if not found:
            return pa.array([False] * len(column), pa.bool_())
        mask: pa.BooleanArray = pc.fill_null(pc.is_in(column, pa.array(found, column.type)), False)
        return mask

    def maximum(self, best: Any, column: pa.Array) -> Any:
        """The greater of ``best`` and the column's greatest value as the database orders them: ``best``
        itself (the same object) unless a value read is greater."""
        values = {v for v in pc.unique(column).to_pylist() if v is not None}
        if not values:
            return best
        if self.text and _same_shape(column, best):
            top_value = max(values)
            return best if best is not None and best >= top_value else top_value
        candidates = sorted(values | ({best} if best is not None else set()))
        top = self.greatest(candidates)
        if best is not None and best in top:
            return best
        return max(top) if top else best


def _same_shape(column: pa.Array, other: Any) -> bool:
    """Whether every value of ``column`` and ``other`` (None: none) is text of one length whose characters
    other than the digits 0-9 are the same at the same places (ISO date-times of one format, zero-padded
    numbers, codes of one pattern). Two such values first differ at a digit, and every collation orders
    digits as their code points: the database's order and equality are then Python's, with no statement."""
    if not pa.types.is_string(column.type) or (other is not None and not isinstance(other, str)):
        return False
    values = column.drop_null()
    if other is not None:
        values = pa.concat_arrays([values, pa.array([other], pa.string())])
    if len(values) == 0:
        return True
    skeletons = pc.unique(pc.replace_substring_regex(values, pattern="[0-9]", replacement="0"))
    return len(skeletons) == 1


def text_order(
    target: SqlTarget, base: str, column: SqlColumn, retry: RetryPolicy = DEFAULT_RETRY
) -> TextOrder | None:
    """How the database compares ``column`` (a column of the query ``base``), or None where that is Python's
    code point order (module docstring). Reads the catalog and a subquery of no row, never the table."""
    if target.dialect == "postgresql" and column.kind in ("string", "text"):
        return _postgres_order(target, base, column, retry)
    if target.dialect in ("mysql", "mariadb") and column.kind in ("string", "infer"):
        return _mysql_order(target, base, column, retry)
    return None


def _postgres_order(target: SqlTarget, base: str, column: SqlColumn, retry: RetryPolicy) -> TextOrder | None:
    oid = pg_oid(column)
    if oid is None:
        return None
    where = "cannot read the cursor column's collation on"
    with sa_connection(target, retry, where, errors=sa.exc.SQLAlchemyError, reason=str) as conn:
        kind = conn.execute(sa.text(_PG_TYPE_SQL), {"oid": oid}).one_or_none()
        if kind is None:
            return None
        collation = None
        if kind.collatable:
            quote = conn.dialect.identifier_preparer.quote_identifier
            select = f"SELECT {SOURCE_ALIAS}.{quote(column.name)} FROM ({base}) AS {SOURCE_ALIAS} LIMIT 0"
            collation = conn.execute(sa.text(_PG_COLLATION_SQL.format(column=select))).one_or_none()
    code_point = collation is None or (collation.collate in _PG_CODE_POINT and collation.provider == "c")
    if oid in _PG_PLAIN_TEXT and code_point:
        return None  # compared by its bytes, UTF-8's code point order ("char" has no collation)
    text = oid in _PG_TEXT_TYPES or kind.name == "citext"  # not an enum, whose order is its labels'
    named = str(collation.named) if collation is not None and collation.named else ""
    return TextOrder(target, str(kind.qualified), named, retry, text)


def _mysql_order(target: SqlTarget, base: str, column: SqlColumn, retry: RetryPolicy) -> TextOrder | None:
    where = "cannot read the cursor column's collation on"
    with sa_connection(target, retry, where, errors=sa.exc.SQLAlchemyError, reason=str) as conn:
        quote = conn.dialect.identifier_preparer.quote_identifier
        select = f"SELECT {SOURCE_ALIAS}.{quote(column.name)} FROM ({base}) AS {SOURCE_ALIAS} LIMIT 0"
        collation, charset = conn.execute(sa.text(f"SELECT COLLATION(({select})), CHARSET(({select}))")).one()
    if collation in (None, "binary") or not all(_SQL_NAME.fullmatch(str(n)) for n in (collation, charset)):
        return None  # bytes, or a name not to write into SQL: compared as read
    if charset in _MYSQL_UTF8 and (str(collation).endswith("_nopad_bin") or collation == "utf8mb4_0900_bin"):
        return None  # UTF-8 bytes, no padding: code point order
    return TextOrder(target, f"CHAR CHARACTER SET {charset}", str(collation), retry)
