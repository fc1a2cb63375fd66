"""The one mapping of SQL column types to Arrow, shared by every engine.

Each result column is first given a *kind* from the database's own description of the query (the DBAPI
``cursor.description`` of a zero-row execution: type OIDs on PostgreSQL, field types on MySQL/MariaDB), and
the kind fixes its Arrow type. Every engine then converts what its driver returns to that type - SQLAlchemy
from Python values (``python_to_arrow``), ADBC from its Arrow arrays (``arrow_to_canonical``) - so a column
lands identically whichever engine read it.

=========================================  ==========================  =====================================
SQL type                                   kind                        Arrow type
=========================================  ==========================  =====================================
smallint, integer, bigint (MySQL: tinyint   ``int``                     ``int64``
..bigint, year)
numeric/decimal(p, s), p <= 38              ``decimal``                 ``decimal128(p, s)`` (exact)
numeric/decimal(p, s), p > 38, numeric      ``decimal_text``            ``string``: the exact decimal text,
without precision, numeric(p, s) with s < 0                             as the database writes it (below)
or s > p (PostgreSQL 15)
real / float (4 bytes)                      ``float32``                 ``float32``
double precision / double                   ``float64``                 ``float64``
boolean                                     ``bool``                    ``bool`` (MySQL ``BOOLEAN`` is
                                                                        tinyint: ``int64``)
text, varchar, char, enum, set, name        ``string``                  ``string``
date                                        ``date``                    ``date32``
timestamp (without time zone), datetime     ``timestamp``               ``timestamp[us]`` (naive; as stored)
timestamp with time zone, MySQL timestamp   ``timestamptz``             ``timestamp[us, tz=UTC]`` (MySQL: read
                                                                        in a UTC session, ``zones``)
time (PostgreSQL)                           ``time``                    ``time64[us]``
interval (PostgreSQL), time (MySQL)         ``interval``                ``duration[us]``; a month counts 30
                                                                        days and a year 365 (as psycopg)
json, jsonb (MySQL/MariaDB json)            ``json``                    ``string``: canonical JSON text
                                                                        (sorted keys, no spaces; the
                                                                        rule of ``json_text``)
uuid                                        ``uuid``                    ``string``: 36-char lowercase form
bytea, blob, binary, varbinary, MySQL bit   ``binary``                  ``binary``
PostgreSQL arrays (any element type)        ``text``, read as           ``string``: PostgreSQL's JSON text
                                            ``to_json(col)``            of the array (``[[1,2],[3,4]]``)
any other PostgreSQL type (inet, cidr,      ``text``, read as           ``string``: the type's own output
macaddr, money, ranges, bit, varbit, xml,   ``CAST(col AS text)``       (what psql shows; inet through
tsvector, geometric, timetz, enums, ...)    (inet: ``abbrev(col)``)     ``abbrev``, which is inet's output)
SQLite, other dialects, MySQL text/blob     ``infer``                   from the values of each batch:
                                                                        ``int64``, ``float64``, ``string``,
                                                                        ``binary``, ``bool``, ... (SQLite has
                                                                        no column types; a column with only
                                                                        NULLs is Arrow ``null`` and widens)
=========================================  ==========================  =====================================

NULL is null in every kind.

**PostgreSQL types read as text.** Only the types of ``_PG_KINDS`` are decoded by the drivers. Any other type
(its OID, or a domain's base type's, is not in ``_PG_KINDS``) is selected as text by the database itself, in
the SQL text both engines run (``SqlColumn.select``, applied by ``query.SqlQuery.reading``): the drivers
never see its binary form. ADBC hands such types over as an opaque extension type holding the raw binary
wire bytes (``inet`` as ``\\x02 \\x00\\x04\\n...``, ``money`` as its integer cents, ranges as binary
junk): they are never decoded here, and an opaque binary column that still reaches ``arrow_to_canonical``
is an error. Only the columns read as text get an expression; every other column is selected as is.

**time 24:00:00.** PostgreSQL accepts ``24:00:00`` as a ``time``; Arrow ``time64`` cannot hold it, ADBC reads
it as ``00:00:00`` and psycopg refuses it. Either engine fails the read with ``time_24_error`` naming the
column and the fix (select it ``CAST(col AS text)`` in a ``db.query``), rather than land midnight.

**Exact decimal text.** A ``decimal_text`` value lands as PostgreSQL and MariaDB write it: every digit, no
exponent, trailing zeros of the scale kept (``0.000000000000000000000000000001``, ``123.4500``), and
``NaN``, ``Infinity``, ``-Infinity``; psycopg's ``Decimal`` printed ``1E-30`` and ADBC wrote ``nan`` and
``inf``, so the two engines landed one value two ways. Precisions above 38 are text too: polars (Silver,
``medallion_assets.read``) cannot read an Arrow ``decimal256``. So are PostgreSQL 15's scales below 0 or
above the precision (``numeric(5, -2)`` holds 9999900, ``numeric(3, 5)`` 0.00123): a decimal128 with the
scale clamped to 0 could not hold the values, and Parquet refuses a scale above the precision.

**A value its column's Arrow type cannot hold** (a PostgreSQL ``NaN`` in a ``numeric(p, s)``, a MySQL ``BIGINT
UNSIGNED`` above 2**63 - 1, a MySQL zero date ``0000-00-00``, which PyMySQL returns as text) makes that
batch's column text, with a warning naming the column, and Bronze widens the column to text (DESIGN §5: to
string if nothing else fits; nothing crashes), identically with every engine and wherever batches end: each
value the type holds as Arrow's text of it (what the widening makes of the other batches: ``1.50``,
``2025-01-02 03:04:05.000000``), each other value as the database's (``NaN``, ``0000-00-00``). ADBC failed on
such a NaN with Arrow's bare "not a valid decimal128 number", and an unsigned overflow with "Python int too
large to convert to C long".

**infinity.** PostgreSQL's ``'infinity'`` and ``'-infinity'`` (``timestamp``, ``timestamptz``, ``date``: an
open-ended ``valid_to``) have no Arrow value. ADBC's shift to the Unix epoch overflows on them and reads a
date some 292,000 years before Christ; psycopg refuses them without naming the column. Either engine fails the
read with ``infinity_error`` naming the column and the fix, rather than land a wrong date.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from medallion_resources.errors import ExtractError
from medallion_resources.json_text import to_json_text

_log = logging.getLogger(__name__)

__all__ = [
    "PG_ARRAY_TYPES_SQL",
    "SqlColumn",
    "arrow_to_canonical",
    "columns_from_description",
    "pg_arrays_as_json",
    "pg_oid",
    "python_to_arrow",
    "schema_of",
    "time_24_error",
]

# PostgreSQL type OIDs (stable across versions; psycopg and psycopg2 both report them as type_code).
_PG_KINDS: dict[int, str] = {
    16: "bool",
    17: "binary",
    18: "string",
    19: "string",
    20: "int",
    21: "int",
    23: "int",
    25: "string",
    26: "int",
    114: "json",
    700: "float32",
    701: "float64",
    1042: "string",
    1043: "string",
    1082: "date",
    1083: "time",
    1114: "timestamp",
    1184: "timestamptz",
    1186: "interval",
    1700: "decimal",
    2950: "uuid",
    3802: "json",
}
# PostgreSQL types outside ``_PG_KINDS`` are selected as their text (module docstring): the SQL expression,
# ``{}`` standing for the column. inet: ``CAST(inet AS text)`` always shows the netmask (``10.0.0.1/32``),
# ``abbrev`` is what inet's output function (psql, psycopg) gives (``10.0.0.1``).
_PG_TEXT = "CAST({} AS text)"
_PG_TEXT_OF: dict[int, str] = {869: "abbrev({})"}
_PG_ARRAY_TEXT = "CAST(to_json({}) AS text)"
# Which of the given type OIDs are arrays (element types of every kind; a domain is described as its base).
PG_ARRAY_TYPES_SQL = (
    "SELECT oid::int FROM pg_type "
    "WHERE oid = ANY(CAST(:oids AS oid[])) AND typcategory = 'A' AND typelem <> 0"
)
_TIME_LIMIT_US = 86_400_000_000  # 24:00:00 as microseconds: not a time of day Arrow can hold
# PostgreSQL's earliest timestamp and date (4713 BC) since the Unix epoch: what ADBC reads below them is an
# infinity its epoch shift overflowed (microseconds, days).
_PG_FIRST_US = -210_866_803_200_000_000
_PG_FIRST_DAY = -2_440_588

# MySQL/MariaDB protocol field types (PyMySQL, mysqlclient).
_MYSQL_KINDS: dict[int, str] = {
    0: "decimal",
    1: "int",
    2: "int",
    3: "int",
    4: "float32",
    5: "float64",
    7: "timestamptz",  # TIMESTAMP: an instant, read in a UTC session (sql.zones)
    8: "int",
    9: "int",
    10: "date",
    11: "interval",
    12: "timestamp",
    13: "int",
    16: "binary",
    245: "json",
    246: "decimal",
    247: "string",
    248: "string",
}

_FIXED: dict[str, pa.DataType] = {
    "int": pa.int64(),
    "decimal_text": pa.string(),
    "float32": pa.float32(),
    "float64": pa.float64(),
    "bool": pa.bool_(),
    "string": pa.string(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us"),
    "timestamptz": pa.timestamp("us", tz="UTC"),
    "time": pa.time64("us"),
    "interval": pa.duration("us"),
    "json": pa.string(),
    "uuid": pa.string(),
    "binary": pa.binary(),
    "text": pa.string(),
}


@dataclass(frozen=True)
class SqlColumn:
    """One result column: its name, its kind and the Arrow type the kind fixes (None: inferred per batch)."""

    name: str
    kind: str
    arrow_type: pa.DataType | None
    db_type: str = ""
    select: str = ""  # SQL selecting the column, ``{}`` the column (PostgreSQL types read as text); "" as is


def _decimal_type(precision: int | None, scale: int | None) -> tuple[str, pa.DataType]:
    if not precision or precision <= 0 or precision > 38:  # polars reads no decimal256 (module docstring)
        return "decimal_text", pa.string()
    if scale is not None and not 0 <= scale <= precision:  # PostgreSQL 15: numeric(5, -2), numeric(3, 5)
        return "decimal_text", pa.string()  # Parquet holds no such decimal (module docstring)
    return "decimal", pa.decimal128(precision, scale or 0)


# ADBC's text of the non-finite numerics, and Python's Decimal's, as PostgreSQL writes them.
_NUMERIC_WORDS = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}
_NUMERIC_WORDS |= {v.lower(): v for v in _NUMERIC_WORDS.values()}


def _decimal_text(value: Any) -> str | None:
    """A decimal (``Decimal``, or a driver's text of one) as the database writes it (module docstring)."""
    if value is None:
        return None
    if isinstance(value, str):
        word = _NUMERIC_WORDS.get(value.lower())
        if word is not None or "e" not in value.lower():
            return word or value
        value = decimal.Decimal(value)
    if isinstance(value, decimal.Decimal):
        if value.is_nan():
            return "NaN"
        if value.is_infinite():
            return "-Infinity" if value < 0 else "Infinity"
        return format(value, "f")
    return str(value)


def columns_from_description(
    dialect: str, description: Sequence[Sequence[Any]], unsigned: Sequence[bool] | None = None
) -> list[SqlColumn]:
    """The columns of a query from its DBAPI ``cursor.description``, kinds per the module table
    (``unsigned``: MySQL/MariaDB, which columns are UNSIGNED, when the driver shows the column flags)."""
    columns = []
    for index, item in enumerate(description):
        name, type_code = str(item[0]), item[1]
        precision = getattr(item, "precision", None) if not isinstance(item, tuple) else None
        scale = getattr(item, "scale", None) if not isinstance(item, tuple) else None
        select = ""
        if dialect == "postgresql":
            kind = _PG_KINDS.get(int(type_code), "text") if isinstance(type_code, int) else "text"
            if not isinstance(type_code, int) or int(type_code) not in _PG_KINDS:
                select = _PG_TEXT_OF.get(int(type_code), _PG_TEXT) if isinstance(type_code, int) else _PG_TEXT
            if precision is None and len(item) > 5:
                precision, scale = item[4], item[5]
        elif dialect in ("mysql", "mariadb"):
            kind = _MYSQL_KINDS.get(int(type_code), "infer") if isinstance(type_code, int) else "infer"
            if kind == "decimal" and len(item) > 5:
                # PyMySQL reports the display length: digits, plus the point when scaled, plus a sign
                # unless UNSIGNED (DECIMAL(10, 2) UNSIGNED is 11 long: taken as 9 digits, 99999999.99
                # did not fit)
                length, scale = item[3], item[5] or 0
                sign = 0 if unsigned is not None and unsigned[index] else 1
                precision = int(length) - (1 if scale else 0) - sign if length else None
        else:
            kind = "infer"
        if kind == "decimal":
            kind, arrow_type = _decimal_type(precision, scale)
        else:
            arrow_type = _FIXED.get(kind)
        columns.append(SqlColumn(name, kind, arrow_type, f"{dialect}:{type_code}", select))
    return columns


def pg_oid(column: SqlColumn) -> int | None:
    """The PostgreSQL type OID of a column (None on other databases)."""
    dialect, _, code = column.db_type.partition(":")
    return int(code) if dialect == "postgresql" and code.isdigit() else None


def pg_arrays_as_json(columns: Sequence[SqlColumn], arrays: set[int]) -> list[SqlColumn]:
    """The columns, those whose type is one of the array type OIDs ``arrays`` (``PG_ARRAY_TYPES_SQL``) read
    as PostgreSQL's JSON text of the array (nested arrays kept, each element as ``to_json`` writes it)."""
    return [
        dataclasses.replace(c, select=_PG_ARRAY_TEXT) if c.select and pg_oid(c) in arrays else c
        for c in columns
    ]


def time_24_error(names: Sequence[str]) -> ExtractError:
    """A PostgreSQL ``time`` column holding ``24:00:00`` (``names``: the column, or the candidates)."""
    return _unholdable(
        names,
        "time",
        "the PostgreSQL time 24:00:00, which an Arrow time cannot hold (ADBC reads it as 00:00:00, psycopg "
        "cannot read it): refused rather than landed as midnight.",
        "",
    )


def infinity_error(names: Sequence[str]) -> ExtractError:
    """A PostgreSQL date or timestamp column holding ``infinity`` (``names``: the column, or candidates)."""
    return _unholdable(
        names,
        "date/timestamp",
        "PostgreSQL's infinity or -infinity, which no Arrow date or timestamp can hold (ADBC reads it as a "
        "date before 290,000 BC, psycopg cannot read it): refused, not landed as a wrong date.",
        ", or as a far date (CASE WHEN ... = 'infinity' THEN '9999-12-31' ELSE ... END)",
    )


def _unholdable(names: Sequence[str], kind: str, what: str, other_fix: str) -> ExtractError:
    """A value of a column no Arrow value holds (``names``: the column, or the candidates when the driver
    does not say which), with the fix: read it as text (``other_fix``: another way)."""
    shown = ", ".join(f"'{n}'" for n in names)
    which = f"column {shown} holds" if len(names) == 1 else f"one of the {kind} columns {shown} holds"
    fix = ", ".join(f"CAST({n} AS text) AS {n}" for n in names)
    return ExtractError(
        f"{which} {what} Read it as text with a db.query: SELECT ..., {fix} FROM ...{other_fix}"
    )


def schema_of(columns: Sequence[SqlColumn]) -> pa.Schema:
    """The Arrow schema the columns fix (``null`` for columns typed per batch)."""
    return pa.schema([(c.name, c.arrow_type or pa.null()) for c in columns])


# --- Python values (SQLAlchemy engine) --------------------------------------------------------------------


def _json_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes | bytearray):
        value = value.decode("utf-8")
    if isinstance(value, str):
        text = value
        try:
            value = json.loads(text)
        except ValueError:
            return text
    return to_json_text(value)


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list | tuple | dict):
        return to_json_text(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


def _utc(value: Any) -> Any:
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC)
    return value


def python_to_arrow(values: Sequence[Any], column: SqlColumn) -> pa.Array:
    """One column of fetched Python values as an Arrow array of the column's canonical type."""
    kind, target = column.kind, column.arrow_type
    if kind in ("json",):
        return pa.array([_json_text(v) for v in values], pa.string())
    if kind in ("string", "text"):
        try:  # the common case, all str: Arrow converts the list in C
            return pa.array(values, pa.string())
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return pa.array([_text(v) for v in values], pa.string())
    if kind == "uuid":
        return pa.array([None if v is None else str(v) for v in values], pa.string())
    if kind == "decimal_text":
        return pa.array([_decimal_text(v) for v in values], pa.string())
    if kind == "binary":
        return pa.array([None if v is None else bytes(v) for v in values], pa.binary())
    # timestamptz: Arrow converts aware datetimes to UTC itself
    if target is not None:
        try:
            return pa.array(values, target)
        except _UNFIT:
            return _widened(values, column)
    return _infer(values)


def _arrow_text(value: Any, target: pa.DataType | None) -> str | None:
    """Arrow's text of ``value`` as ``target`` (a driver's text of it, ADBC's numeric, cast), None if the
    type cannot hold it."""
    try:
        typed = pc.cast(pa.array([value]), target) if isinstance(value, str) else pa.array([value], target)
        return str(typed.cast(pa.string())[0].as_py())
    except _UNFIT:
        return None


# What Arrow raises for a value its type cannot hold (a NaN decimal, an int above 2**63, a date as text).
_UNFIT = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError)


def _widened(values: Sequence[Any], column: SqlColumn) -> pa.Array:
    """A batch's column holding a value its Arrow type cannot hold, as text (module docstring): each value
    the type holds as Arrow's text of it (what Bronze's widening makes of the column's other batches), the
    others as the database's text."""
    text = _decimal_text if column.kind == "decimal" else _text
    strings = [_arrow_text(v, column.arrow_type) if v is not None else None for v in values]
    strings = [text(v) if s is None else s for v, s in zip(values, strings, strict=True)]
    _log.warning(
        "column '%s' (%s) holds a value its Arrow type %s cannot hold: this batch's column lands as text, "
        "and Bronze widens the column to text",
        column.name,
        column.db_type,
        column.arrow_type,
    )
    return pa.array(strings, pa.string())


def _infer(values: Sequence[Any]) -> pa.Array:
    """Type a column of unknown SQL type from its values (SQLite, other dialects)."""
    sample = next((v for v in values if v is not None), None)
    if sample is None:
        return pa.nulls(len(values))
    if isinstance(sample, dict | list | tuple):
        return pa.array([None if v is None else to_json_text(v) for v in values], pa.string())
    if isinstance(sample, uuid.UUID):
        return pa.array([_text(v) for v in values], pa.string())
    if isinstance(sample, memoryview | bytearray):
        values = [None if v is None else bytes(v) for v in values]
    if isinstance(sample, dt.datetime) and sample.tzinfo is not None:
        return pa.array([_utc(v) for v in values], pa.timestamp("us", tz="UTC"))
    try:
        array = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return pa.array([_text(v) for v in values], pa.string())
    if pa.types.is_timestamp(array.type) and array.type.unit != "us":
        array = array.cast(pa.timestamp("us", array.type.tz))
    return array


# --- Arrow arrays (ADBC, connectorx) ----------------------------------------------------------------------


def arrow_to_canonical(array: pa.Array | pa.ChunkedArray, column: SqlColumn) -> pa.Array:
    """A driver's Arrow column in the column's canonical type (the same values as ``python_to_arrow``)."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    kind, target = column.kind, column.arrow_type
    if isinstance(array.type, pa.ExtensionType):
        storage = array.storage
        if kind != "binary" and (pa.types.is_binary(storage.type) or pa.types.is_large_binary(storage.type)):
            raise ExtractError(  # raw wire bytes of a type medallion does not decode: never cast to text
                f"column '{column.name}' ({column.db_type}) arrived as the raw binary of a "
                f"{array.type.extension_name} type, which medallion does not decode; it should have been "
                "selected as text (medallion_resources.sql.types): select it CAST(... AS text) in a db.query"
            )
        array = storage
    if kind == "time" and pa.types.is_time64(array.type) and array.null_count < len(array):
        limit = _TIME_LIMIT_US * (1000 if array.type.unit == "ns" else 1)
        if pc.max(array.view(pa.int64())).as_py() >= limit:
            raise time_24_error([column.name])
    if _overflowed_infinity(array, kind):
        raise infinity_error([column.name])
    if target is None:
        return array
    if kind == "decimal_text":
        text = array if pa.types.is_string(array.type) else pc.cast(array, pa.string())
        if not pc.any(pc.match_substring_regex(text, "[a-zA-Z]")).as_py():  # digits only: as written
            return text
        return pa.array([_decimal_text(v) for v in text.to_pylist()], pa.string())
    if array.type == target:
        return array
    if kind == "json":
        return pa.array([_json_text(v) for v in array.to_pylist()], pa.string())
    if kind == "uuid":
        return pa.array(
            [None if v is None else str(uuid.UUID(bytes=bytes(v))) for v in array.to_pylist()]
            if pa.types.is_fixed_size_binary(array.type) or pa.types.is_binary(array.type)
            else [_text(v) for v in array.to_pylist()],
            pa.string(),
        )
    if kind == "interval" and pa.types.is_interval(array.type):
        return pa.array([_mdn_to_timedelta(v) for v in array.to_pylist()], target)
    if kind == "text" and (pa.types.is_list(array.type) or pa.types.is_large_list(array.type)):
        return pa.array([None if v is None else to_json_text(v) for v in array.to_pylist()], pa.string())
    if kind == "decimal" and (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        try:
            return pc.cast(array, target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            values = [None if v is None else decimal.Decimal(v) for v in array.to_pylist()]
            try:
                return pa.array(values, target)
            except _UNFIT:
                return _widened(values, column)
    if kind == "timestamptz" and pa.types.is_timestamp(array.type):
        return pc.cast(array, pa.timestamp("us", tz="UTC"))
    try:
        return pc.cast(array, target)
    except _UNFIT:  # ADBC hands numeric over as text (an opaque extension type): 'nan'
        return _widened(array.to_pylist(), column)


def _overflowed_infinity(array: pa.Array, kind: str) -> bool:
    """Whether a PostgreSQL date or timestamp column read by ADBC holds a value before PostgreSQL's first
    (module docstring: an infinity)."""
    if kind not in ("date", "timestamp", "timestamptz") or array.null_count == len(array):
        return False
    if pa.types.is_timestamp(array.type):
        per_us = {"s": 1e-6, "ms": 1e-3, "us": 1, "ns": 1000}[array.type.unit]
        return bool(pc.min(array.view(pa.int64())).as_py() < _PG_FIRST_US * per_us)
    if pa.types.is_date32(array.type):
        return bool(pc.min(array.view(pa.int32())).as_py() < _PG_FIRST_DAY)
    return False


def _mdn_to_timedelta(value: Any) -> dt.timedelta | None:
    if value is None:
        return None
    months, days, nanos = value.months, value.days, value.nanoseconds
    years, months = divmod(months, 12)
    return dt.timedelta(days=years * 365 + months * 30 + days, microseconds=nanos // 1000)
