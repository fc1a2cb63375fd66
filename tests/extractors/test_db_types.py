"""Every SQL type round-trips into Arrow as medallion_resources.sql.types documents, on each database."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from medallion_assets.extractors import ExtractContext, Extractor

pytestmark = pytest.mark.services

UID = uuid.UUID("12345678-1234-5678-1234-567812345678")
UTC = dt.UTC

# column -> (DDL type, value, expected Arrow type, expected value); a second row is NULL everywhere.
POSTGRES: dict[str, tuple[str, str, pa.DataType, Any]] = {
    "small": ("smallint", "-7", pa.int64(), -7),
    "whole": ("integer", "2147483647", pa.int64(), 2147483647),
    "big": ("bigint", "9007199254740993", pa.int64(), 9007199254740993),
    "num": ("numeric(20,6)", "12345678901234.123456", pa.decimal128(20, 6), Decimal("12345678901234.123456")),
    "num_free": (
        "numeric",
        "1.000000000000000000000000000000000000000000001",
        pa.string(),
        "1.000000000000000000000000000000000000000000001",
    ),
    "num_wide": (
        "numeric(50,10)",
        "1234567890123456789012345678901234567890.0123456789",
        pa.string(),  # polars reads no decimal256
        "1234567890123456789012345678901234567890.0123456789",
    ),
    "r": ("real", "1.1", pa.float32(), pytest.approx(1.1, rel=1e-6)),
    "d": ("double precision", "0.1", pa.float64(), 0.1),
    "flag": ("boolean", "true", pa.bool_(), True),
    "txt": ("text", "'héllo, wörld'", pa.string(), "héllo, wörld"),
    "vc": ("varchar(20)", "'abc'", pa.string(), "abc"),
    "ch": ("char(4)", "'ab'", pa.string(), "ab  "),
    "day": ("date", "'2025-01-02'", pa.date32(), dt.date(2025, 1, 2)),
    "ts": (
        "timestamp",
        "'2025-01-02 03:04:05.123456'",
        pa.timestamp("us"),
        dt.datetime(2025, 1, 2, 3, 4, 5, 123456),
    ),
    "tstz": (
        "timestamptz",
        "'2025-01-02 03:04:05.123456+02'",
        pa.timestamp("us", tz="UTC"),
        dt.datetime(2025, 1, 2, 1, 4, 5, 123456, tzinfo=UTC),
    ),
    "tm": ("time", "'13:14:15.5'", pa.time64("us"), dt.time(13, 14, 15, 500000)),
    "iv": ("interval", "'1 day 02:03:04.5'", pa.duration("us"), dt.timedelta(days=1, seconds=7384.5)),
    "js": ("json", """'{"b": 1, "a": [1, 2]}'""", pa.string(), '{"a":[1,2],"b":1}'),
    "jsb": ("jsonb", """'{"b": {"c": null}, "a": "x"}'""", pa.string(), '{"a":"x","b":{"c":null}}'),
    "uid": ("uuid", f"'{UID}'", pa.string(), str(UID)),
    "raw": ("bytea", "'\\x00ff10'::bytea", pa.binary(), b"\x00\xff\x10"),
    "arr": ("integer[]", "ARRAY[1,2,3]", pa.string(), "[1,2,3]"),
}

MARIADB: dict[str, tuple[str, str, pa.DataType, Any]] = {
    "tiny": ("tinyint", "-7", pa.int64(), -7),
    "whole": ("int", "2147483647", pa.int64(), 2147483647),
    "big": ("bigint", "9007199254740993", pa.int64(), 9007199254740993),
    "num": ("decimal(20,6)", "12345678901234.123456", pa.decimal128(20, 6), Decimal("12345678901234.123456")),
    "num0": ("decimal(10,0)", "1234567890", pa.decimal128(10, 0), Decimal("1234567890")),
    # UNSIGNED: the display length has no sign (was read as decimal(9, 2): the column landed as text)
    "unum": ("decimal(10,2) unsigned", "99999999.99", pa.decimal128(10, 2), Decimal("99999999.99")),
    "unum0": ("decimal(5,0) unsigned", "99999", pa.decimal128(5, 0), Decimal("99999")),
    "r": ("float", "1.5", pa.float32(), 1.5),
    "d": ("double", "0.1", pa.float64(), 0.1),
    "flag": ("boolean", "true", pa.int64(), 1),
    "txt": ("text", "'héllo, wörld'", pa.string(), "héllo, wörld"),
    "vc": ("varchar(20)", "'abc'", pa.string(), "abc"),
    "day": ("date", "'2025-01-02'", pa.date32(), dt.date(2025, 1, 2)),
    "ts": (
        "datetime(6)",
        "'2025-01-02 03:04:05.123456'",
        pa.timestamp("us"),
        dt.datetime(2025, 1, 2, 3, 4, 5, 123456),
    ),
    # TIMESTAMP: an instant, whatever the zone of the writing session and of the server
    "tsz": (
        "timestamp(6) NULL",
        "FROM_UNIXTIME(1735787045.123456)",
        pa.timestamp("us", tz="UTC"),
        dt.datetime(2025, 1, 2, 3, 4, 5, 123456, tzinfo=dt.UTC),
    ),
    "tm": ("time(6)", "'26:03:04.5'", pa.duration("us"), dt.timedelta(days=1, seconds=7384.5)),
    "js": ("json", """'{"b": 1, "a": [1, 2]}'""", pa.string(), '{"b": 1, "a": [1, 2]}'),
    "uid": ("uuid", f"'{UID}'", pa.string(), str(UID)),
    "raw": ("varbinary(8)", "x'00ff10'", pa.binary(), b"\x00\xff\x10"),
}

SQLITE: dict[str, tuple[str, str, pa.DataType, Any]] = {
    "whole": ("integer", "9007199254740993", pa.int64(), 9007199254740993),
    "r": ("real", "0.1", pa.float64(), 0.1),
    "txt": ("text", "'héllo'", pa.string(), "héllo"),
    "num": ("numeric", "'12.50'", pa.float64(), 12.5),  # NUMERIC affinity stores a REAL
    "raw": ("blob", "x'00ff10'", pa.binary(), b"\x00\xff\x10"),
}

SPECS = {"postgresql": POSTGRES, "mariadb": MARIADB, "sqlite": SQLITE}


def drain(extractor: Extractor, ctx: ExtractContext) -> pa.Table:
    return pa.Table.from_batches(list(extractor.extract(ctx)))


def test_every_type_round_trips(
    database: Any, make_db: Callable[..., Extractor], make_context: Callable[..., ExtractContext]
) -> None:
    spec = SPECS[database.dialect]
    name = database.table("types")
    columns = ", ".join(f"{col} {ddl}" for col, (ddl, *_rest) in spec.items())
    database.execute(f"CREATE TABLE {name} (id integer, {columns})")
    values = ", ".join(value for _ddl, value, *_rest in spec.values())
    database.execute(f"INSERT INTO {name} VALUES (1, {values})")
    database.execute(f"INSERT INTO {name} (id) VALUES (2)")

    extractor = make_db(database, query=f"SELECT * FROM {name} ORDER BY id", fetch_batch_size=10)
    table = drain(extractor, make_context())

    assert table.num_rows == 2
    assert extractor.stats["batches"] == 1
    first, second = table.slice(0, 1).to_pylist()[0], table.slice(1, 1).to_pylist()[0]
    for col, (_ddl, _value, arrow_type, expected) in spec.items():
        if database.dialect != "sqlite":  # SQLite columns are typed from the values of each batch
            assert table.schema.field(col).type == arrow_type, col
        assert first[col] == expected, col
        assert second[col] is None, col


def test_sqlite_columns_with_only_nulls_are_null_typed(
    tmp_path: Any, make_db: Callable[..., Extractor], make_context: Callable[..., ExtractContext]
) -> None:
    from tests.extractors.conftest import open_database

    db = open_database("sqlite", tmp_path)
    db.execute("CREATE TABLE t (id integer, note text)")
    db.execute("INSERT INTO t VALUES (1, NULL), (2, 'x')")
    batches = list(
        make_db(db, query="SELECT * FROM t ORDER BY id", fetch_batch_size=1).extract(make_context())
    )
    assert [b.schema.field("note").type for b in batches] == [pa.null(), pa.string()]
    db.close()


COMMON_POSTGRES = [
    "small",
    "whole",
    "big",
    "num",
    "num_free",
    "r",
    "d",
    "flag",
    "txt",
    "vc",
    "ch",
    "day",
    "ts",
    "tstz",
]


def test_postgres_common_types_are_read_without_an_expression(postgres: Any) -> None:
    """Numbers, text, dates and timestamps are selected as they are: the query both engines run is the plain
    ``SELECT *`` (no cast on the common path); only a type no driver decodes gets one."""
    import sqlalchemy as sa
    from sqlalchemy.dialects import postgresql

    from medallion_resources.sql import SqlQuery, SqlTarget, describe_query

    name = postgres.table("plain")
    columns = ", ".join(f"{col} {POSTGRES[col][0]}" for col in COMMON_POSTGRES)
    postgres.execute(f"CREATE TABLE {name} (id integer, {columns}, ip inet, ips inet[])")
    target = SqlTarget.from_config(postgres.url, None, "plain")
    plain = SqlQuery(f"SELECT id, {', '.join(COMMON_POSTGRES)} FROM {name}")
    described = describe_query(target, plain)
    assert [c.select for c in described] == [""] * (len(COMMON_POSTGRES) + 1)
    assert plain.reading(described) is plain
    assert plain.reading(described).positional(postgresql.dialect())[0] == plain.base

    query = SqlQuery(f"SELECT id, txt, ip, ips FROM {name}")
    sql = query.reading(describe_query(target, query)).named(sa.create_engine(postgres.url).dialect)
    assert sql == (
        '_medallion_src."id", _medallion_src."txt", abbrev(_medallion_src."ip") AS "ip", '
        'CAST(to_json(_medallion_src."ips") AS text) AS "ips"'
    ).join(["SELECT ", f" FROM ({query.base}) AS _medallion_src"])


@pytest.mark.parametrize("engine", ["adbc", "sqlalchemy"])
def test_postgres_text_read_column_names_are_quoted_and_escaped(
    postgres: Any, make_db: Callable[..., Extractor], make_context: Callable[..., ExtractContext], engine: str
) -> None:
    """A column read through an expression keeps its name, whatever it holds (``:`` is a bind parameter to
    SQLAlchemy's text, ``"`` and ``%`` are quoting and format characters)."""
    name = postgres.table("names")
    postgres.execute(f'CREATE TABLE {name} (id integer, "a:b" inet, "We""ird %s" money, "\\:x" int4range)')
    postgres.execute(f"INSERT INTO {name} VALUES (1, '10.0.0.1', 2.5, '[1,3)')")
    table = drain(make_db(postgres, table=name, engine=engine), make_context())
    assert table.to_pylist() == [{"id": 1, "a:b": "10.0.0.1", 'We"ird %s': "$2.50", ":x": "[1,3)"}]
