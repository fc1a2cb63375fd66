"""Which key columns keyset chunks may read by, and how the last key read is bound to compare as it sorts.

A keyset chunk (``reads.keyset_chunks``) reads ``WHERE key > :last ORDER BY key LIMIT n``. The database sorts
by the column's own type and collation, but compares the column with a value of the type the driver chose
when binding it (ADBC binds a string as ``text``, psycopg leaves it untyped). Wherever the two disagree a
chunk skips rows, reads some twice or never ends, so ``keyset_key`` decides per column, before any row is
read:

- **PostgreSQL**: a whitelist by the column's type, as the query's result describes it (a domain is
  described as its base type, so it is read as that type). Numbers (``smallint``, ``integer``, ``bigint``,
  ``numeric``, ``real``, ``double precision``), ``boolean``, ``bytea``, ``date``, ``timestamp``,
  ``timestamptz``: bound as read. ``uuid``, ``citext`` and enums: bound ``CAST(... AS <the type>)``, since
  PostgreSQL has no ``uuid > text`` or ``enum > text`` and ``citext > text`` compares as text, with case.
  ``text``, ``varchar``, ``char(n)``: bound as text (``char(n)`` without its padding); the column's
  collation, whatever it is, governs both the comparison and the order. Any other type is refused, naming
  the source, the column, its type and the fix.
- **MySQL/MariaDB**: the column is compared with a value in its own type and collation, except ``ENUM`` and
  ``SET`` (sorted by declared position, compared as text): a key holding one is refused, a table's as its
  catalog says, a ``query``'s as the column flags of its result say (pymysql shows them; another driver's
  query is not checked). A text column's collation (read from a scalar subquery of no row) decides its
  equality: the usual ones ignore case and accents, and every PAD SPACE one (``_bin`` ones too) trailing
  blanks.
- **SQLite and other dialects**: bound as read.

Equality: a key held by two rows makes ``key > :last`` skip the second wherever a chunk ends between them,
and ``keyset_chunks`` finds such keys by comparing the values read as Python values, and the two either side
of each chunk's end with ``same_key``: as the values bound (``numeric`` text as a number, so ``1.0`` is
``1.00``; NaN equal to NaN) and, where the database finds two values equal that differ as Python values
(``citext``; a text column under a non-deterministic collation such as ``und-u-ks-level2``; a MySQL/MariaDB
text column under any collation), by the database itself, under the type ``KeyColumn.equal_type`` names.
"""

from __future__ import annotations

import decimal
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from medallion_resources.errors import ExtractError
from medallion_resources.sql.connect import DEFAULT_RETRY, RetryPolicy, SqlTarget, sa_connection
from medallion_resources.sql.query import SOURCE_ALIAS
from medallion_resources.sql.types import SqlColumn

__all__ = ["KeyColumn", "keyset_key", "same_key", "same_value"]

_SQL_NAME = re.compile(r"[A-Za-z0-9_]+")  # a collation or character set name, written into SQL
_BPCHAR = 1042  # character(n): read back blank-padded, compared without its trailing blanks
_TEXT = frozenset({25, 1042, 1043})  # text, character(n), character varying: compared under their collation
# PostgreSQL type OIDs whose bound value compares as ORDER BY sorts → the type it is cast to ("" as read).
_PG_KEY_TYPES: dict[int, str] = {
    16: "",  # boolean
    17: "",  # bytea
    20: "",  # bigint
    21: "",  # smallint
    23: "",  # integer
    700: "",  # real (read back exactly, compared with the double bound as a double)
    701: "",  # double precision
    1082: "",  # date
    1114: "",  # timestamp
    1184: "",  # timestamptz
    1700: "",  # numeric
    2950: "uuid",  # no uuid > text: ADBC binds the text form read back
    **dict.fromkeys(_TEXT, ""),
}
_MYSQL_BIT = ("mysql:16", "mariadb:16")  # the protocol's BIT field type (types.columns_from_description)
_PG_KEY_TYPES_SHOWN = (
    "smallint, integer, bigint, numeric, real, double precision, boolean, bytea, date, timestamp, "
    "timestamptz, uuid, text, varchar, char(n), citext or an enum"
)

_PG_TYPES_SQL = """
SELECT t.oid::int AS oid, format_type(t.oid, NULL) AS shown, t.typtype::text AS typtype,
       quote_ident(n.nspname) || '.' || quote_ident(t.typname) AS qualified,
       EXISTS (SELECT 1 FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
                WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e'
                  AND d.refclassid = 'pg_extension'::regclass AND e.extname = 'citext') AS citext
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE t.oid = ANY(CAST(:oids AS oid[]))
"""
# The collation of a key column of the query, from a scalar subquery that reads no row (LIMIT 0).
_PG_COLLATION_SQL = """
SELECT c.oid = 100 AS is_default, c.collisdeterministic AS deterministic,
       quote_ident(n.nspname) || '.' || quote_ident(c.collname) AS qualified
FROM pg_collation c JOIN pg_namespace n ON n.oid = c.collnamespace
WHERE c.oid = CAST(pg_collation_for(({column})) AS regcollation)
"""


@dataclass(frozen=True)
class KeyColumn:
    """A key column of a keyset read and how its last value read is bound back.

    ``cast``: the SQL type the bound value is cast to ("" none). ``equal_type`` and ``collation``: where the
    database finds values equal that differ as Python values, the type (and collation, "" the default) under
    which ``same_key`` has the database compare two of them ("" where Python equality is the database's).
    """

    column: SqlColumn
    cast: str = ""
    equal_type: str = ""
    collation: str = ""

    @property
    def name(self) -> str:
        return self.column.name

    def bind(self, value: Any) -> Any:
        """A key value read back (Arrow → Python) as the value to bind against the column.

        Values keep their Python type (text stays text even when it looks like a number: MariaDB and SQLite
        text columns are typed from their values), except exact-decimal text, which compares as a number,
        and PostgreSQL ``character(n)``, read back padded with blanks: an engine that binds text (ADBC)
        compares the column as text, without its trailing blanks, so the value is bound without them too
        (``char`` compares so itself, and ``'a'`` bound as ``char`` equals ``'a   '``). A MySQL/MariaDB
        ``BIT(n)``, read back as bytes, is bound as the integer it holds: ``bit_col > x'01'`` holds for
        ``b'1'`` itself (MariaDB), so chunks read rows again, while ``bit_col > 1`` compares as it sorts.
        """
        if self.column.kind == "decimal_text":
            return decimal.Decimal(value)
        if self.column.db_type == f"postgresql:{_BPCHAR}" and isinstance(value, str):
            return value.rstrip(" ")
        if self.column.db_type in _MYSQL_BIT and isinstance(value, bytes):
            return int.from_bytes(value, "big")
        return value

    def compared(self, placeholder: str) -> str:
        """SQL of a bound value as the database compares this column's values for equality."""
        text = f"CAST({placeholder} AS {self.equal_type})"
        return f"{text} COLLATE {self.collation}" if self.collation else text


def keyset_key(
    target: SqlTarget,
    base: str,
    key: Sequence[SqlColumn],
    *,
    source: str,
    table: str | None,
    schema: str | None,
    retry: RetryPolicy = DEFAULT_RETRY,
) -> list[KeyColumn]:
    """How to bind each key column of a keyset read of ``base`` (module docstring), or an ExtractError
    naming the source, the column, its type and the fix when chunks could not compare it as it sorts.

    Runs before any row is read: it reads the catalog and the query's description only.
    """
    if target.dialect == "postgresql":
        return _postgres_key(target, base, key, source, retry)
    if target.dialect in ("mysql", "mariadb"):
        if table:
            _refuse_mysql_enums(target, table, schema, key, source, retry)
        return _mysql_key(target, base, key, source, retry)
    return [KeyColumn(c) for c in key]


def _refused(source: str, name: str, shown: str, why: str, instead: str) -> ExtractError:
    return ExtractError(
        f"source '{source}': db.chunk_rows cannot read in chunks by key column '{name}' of type {shown}: "
        f"{why}, so chunks after the first could skip rows. Remove db.chunk_rows, or choose a key "
        f"(db.key_columns) of type {instead}"
    )


def _postgres_key(
    target: SqlTarget, base: str, key: Sequence[SqlColumn], source: str, retry: RetryPolicy
) -> list[KeyColumn]:
    oids = [_pg_oid(c) for c in key]
    where = "cannot read the key columns' types on"
    with sa_connection(target, retry, where, errors=sa.exc.SQLAlchemyError, reason=str) as conn:
        found = [oid for oid in oids if oid is not None]
        types = {row.oid: row for row in conn.execute(sa.text(_PG_TYPES_SQL), {"oids": found})}
        return [
            _postgres_key_column(conn, base, column, oid, types.get(oid), source)
            for column, oid in zip(key, oids, strict=True)
        ]


def _postgres_key_column(
    conn: sa.Connection, base: str, column: SqlColumn, oid: int | None, info: Any, source: str
) -> KeyColumn:
    """One key column (``info``: its row of ``_PG_TYPES_SQL``): bound as read or cast to its type, its
    equality left to the database where it is coarser than Python's; or refused."""
    if info is not None and info.typtype == "e":  # an enum: its labels are distinct
        return KeyColumn(column, cast=info.qualified)
    citext = info is not None and info.citext
    if not citext and oid not in _PG_KEY_TYPES:
        raise _refused(
            source,
            column.name,
            info.shown if info is not None else column.db_type,
            "each chunk compares the column with the last key read, bound as a value, and for this type "
            "that comparison is not known to follow the column's sort order",
            _PG_KEY_TYPES_SHOWN,
        )
    cast = info.qualified if citext else _PG_KEY_TYPES[oid or 0]
    if not citext and oid not in _TEXT:
        return KeyColumn(column, cast=cast)
    quote = conn.dialect.identifier_preparer.quote_identifier
    select = f"SELECT {SOURCE_ALIAS}.{quote(column.name)} FROM ({base}) AS {SOURCE_ALIAS} LIMIT 0"
    collation = conn.execute(sa.text(_PG_COLLATION_SQL.format(column=select))).one_or_none()
    named = "" if collation is None or collation.is_default else str(collation.qualified)
    if citext:  # equal without case
        return KeyColumn(column, cast=cast, equal_type=info.qualified, collation=named)
    if collation is not None and not collation.deterministic:
        return KeyColumn(column, cast=cast, equal_type="text", collation=named)
    return KeyColumn(column, cast=cast)


def _pg_oid(column: SqlColumn) -> int | None:
    dialect, _, code = column.db_type.partition(":")
    return int(code) if dialect == "postgresql" and code.isdigit() else None


def _refuse_mysql_enums(
    target: SqlTarget,
    table: str,
    schema: str | None,
    key: Sequence[SqlColumn],
    source: str,
    retry: RetryPolicy,
) -> None:
    """A table's ENUM or SET key column, from the catalog: refused (``_enum_refused``). ``_mysql_key``
    checks again by the result's column flags, which a ``query:`` needs and pymysql alone shows; the
    catalog is what every driver's table reads answer."""
    where = f"cannot read the columns of '{table}' on"
    with sa_connection(target, retry, where, errors=sa.exc.SQLAlchemyError, reason=str) as conn:
        types = {c["name"].lower(): c["type"] for c in sa.inspect(conn).get_columns(table, schema=schema)}
    for column in key:
        kind = type(types.get(column.name.lower())).__name__.upper()
        if kind in ("ENUM", "SET"):
            raise _enum_refused(target, source, column.name, kind)


def _enum_refused(target: SqlTarget, source: str, name: str, kind: str) -> ExtractError:
    """MySQL and MariaDB sort an ``ENUM`` (and a ``SET``) by its declared position but compare it with a
    value as text."""
    return _refused(
        source,
        name,
        kind,
        f"{target.dialect} sorts an {kind} by its declared position but compares it with a value as text",
        "other than ENUM or SET (or the column made text in the query: CONCAT(column))",
    )


def _result_kinds(result: sa.CursorResult[Any]) -> list[str] | None:
    """``ENUM``, ``SET`` or ``""`` for each column of a MySQL/MariaDB result, from the column flags the
    server sends with it (an ENUM column of a table a query selects keeps its flag; a UNION's or an
    expression's column is text); None when the driver keeps them to itself (pymysql shows them)."""
    from pymysql.constants import FLAG

    fields = getattr(getattr(result.cursor, "_result", None), "fields", None)
    if fields is None:
        return None
    return ["ENUM" if f.flags & FLAG.ENUM else "SET" if f.flags & FLAG.SET else "" for f in fields]


def _mysql_key(
    target: SqlTarget, base: str, key: Sequence[SqlColumn], source: str, retry: RetryPolicy
) -> list[KeyColumn]:
    """Each key column, its equality left to the database when it is text: MySQL and MariaDB find ``'c'``,
    ``'C'`` and ``'c '`` one key under their usual collations (``'c '`` under every PAD SPACE one), so a
    chunk ending on one of them would make the next skip the others. An ENUM or SET key, as the query's
    result describes it, is refused (``_enum_refused``; a ``query:`` has no catalog to read)."""
    where = "cannot read the key columns' collations on"
    with sa_connection(target, retry, where, errors=sa.exc.SQLAlchemyError, reason=str) as conn:
        quote = conn.dialect.identifier_preparer.quote_identifier
        selected = ", ".join(f"{SOURCE_ALIAS}.{quote(column.name)}" for column in key)
        described = conn.execute(sa.text(f"SELECT {selected} FROM ({base}) AS {SOURCE_ALIAS} LIMIT 0"))
        kinds = _result_kinds(described)
        described.close()
        for column, kind in zip(key, kinds or (), strict=False):
            if kind:
                raise _enum_refused(target, source, column.name, kind)
        terms = []
        for column in key:  # a scalar subquery of no row: the column's collation, no row read
            select = f"SELECT {SOURCE_ALIAS}.{quote(column.name)} FROM ({base}) AS {SOURCE_ALIAS} LIMIT 0"
            terms += [f"COLLATION(({select}))", f"CHARSET(({select}))"]
        found = conn.execute(sa.text("SELECT " + ", ".join(terms))).one()
    columns = []
    for i, column in enumerate(key):
        collation, charset = found[2 * i], found[2 * i + 1]
        named = all(_SQL_NAME.fullmatch(str(n)) for n in (collation, charset))
        if collation in (None, "binary") or not named:  # bytes, numbers, dates: Python's equality
            columns.append(KeyColumn(column))
        else:
            columns.append(
                KeyColumn(column, equal_type=f"CHAR CHARACTER SET {charset}", collation=str(collation))
            )
    return columns


def same_value(a: Any, b: Any) -> bool:
    """Python equality of two key values, with NaN equal to NaN (as PostgreSQL compares it)."""
    if (
        isinstance(a, float | decimal.Decimal)
        and isinstance(b, float | decimal.Decimal)
        and a != a
        and b != b
    ):
        return True
    return bool(a == b)


def same_key(
    target: SqlTarget,
    key: Sequence[KeyColumn],
    first: Sequence[Any],
    second: Sequence[Any],
    retry: RetryPolicy = DEFAULT_RETRY,
) -> bool:
    """Whether two keys (bound values, in key order) are one key to the database: the columns with an
    ``equal_type`` compared by the database (only when the others are equal), the others as Python values."""
    terms, params = [], {}
    for i, (column, a, b) in enumerate(zip(key, first, second, strict=True)):
        if not column.equal_type:
            if not same_value(a, b):
                return False
            continue
        params[f"medallion_a{i}"], params[f"medallion_b{i}"] = a, b
        terms.append(f"{column.compared(f':medallion_a{i}')} = {column.compared(f':medallion_b{i}')}")
    if not terms:
        return True
    with sa_connection(target, retry, "cannot compare key values on", reason=str) as conn:
        return bool(conn.execute(sa.text("SELECT " + " AND ".join(terms)), params).scalar())
