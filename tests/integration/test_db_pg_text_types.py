"""PostgreSQL types no engine decodes natively land as PostgreSQL's own text of each value, through a real
Dagster materialization, identically with ``engine: adbc``, ``auto`` and ``sqlalchemy``; a ``time`` of
``24:00:00`` fails the run naming its column instead of landing as midnight; MariaDB's BIT, GEOMETRY, INET6
and UUID land readable."""

from __future__ import annotations

import datetime as dt
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from medallion_assets.runner import materialize_partition
from medallion_resources.lake.read import read_artifact, verify_partition
from tests.extractors.conftest import open_database, pg_object
from tests.instances import cli_instance_for_test
from tests.integration._lake import local_lake

pytestmark = [pytest.mark.slow, pytest.mark.services]
DAY = date(2025, 1, 2)
ENGINES = ("adbc", "auto", "sqlalchemy")
LINEAGE = ("_load_date", "_extracted_at", "_source_system", "_source_table")

# column -> (DDL type, SQL value). Each lands as the type's output function gives it (what psql shows:
# format('%s', col) on the server), arrays as PostgreSQL's to_json text; NULL as null.
AS_TEXT: dict[str, tuple[str, str]] = {
    "ip": ("inet", "'10.0.0.1'"),
    "ip_net": ("inet", "'192.168.1.5/24'"),
    "ip6": ("inet", "'::1'"),
    "net": ("cidr", "'10.0.0.0/8'"),
    "mac": ("macaddr", "'08:00:2b:01:02:03'"),
    "mac8": ("macaddr8", "'08:00:2b:01:02:03:04:05'"),
    "cash": ("money", "'1.50'"),
    "r_int": ("int4range", "'[1,5)'"),
    "r_ts": ("tsrange", "'[2025-01-01 10:00,2025-01-02 00:00)'"),
    "r_day": ("daterange", "'[2025-01-01,2025-01-03)'"),
    "r_num": ("numrange", "'(1.5,2.25]'"),
    "bits": ("bit(4)", "B'1010'"),
    "vbits": ("varbit(8)", "B'101'"),
    "doc": ("xml", "'<a>x</a>'"),
    "words": ("tsvector", "'a fat cat'"),
    "pt": ("point", "'(1.5,2)'"),
    "bx": ("box", "'((0,0),(1,1))'"),
    "poly": ("polygon", "'((0,0),(1,1),(1,0))'"),
    "circ": ("circle", "'<(0,0),1>'"),
    "tz_time": ("timetz", "'12:00:00+02'"),
    "ips": ("inet[]", "ARRAY['10.0.0.1'::inet, '10.0.0.0/8']"),
    "ranges": ("int4range[]", "ARRAY['[1,2)'::int4range]"),
    "grid": ("integer[]", "ARRAY[[1,2],[3,4]]"),
    "stamps": ("timestamp[]", "ARRAY['2025-01-01 01:02:03.5'::timestamp]"),
}
# The same, with a known answer: the test fails if the server's own text were ever what is wrong.
KNOWN = {
    "ip": "10.0.0.1",
    "ip_net": "192.168.1.5/24",
    "net": "10.0.0.0/8",
    "cash": "$1.50",
    "r_int": "[1,5)",
    "r_day": "[2025-01-01,2025-01-03)",
    "bits": "1010",
    "vbits": "101",
    "doc": "<a>x</a>",
    "pt": "(1.5,2)",
    "ips": '["10.0.0.1","10.0.0.0/8"]',
    "grid": "[[1,2],[3,4]]",
}
# Types with a documented canonical type: column -> (DDL type, SQL value, landed value).
CANONICAL: dict[str, tuple[str, str, Any]] = {
    "n": ("integer", "7", 7),
    "t": ("text", "'x'", "x"),
    "tm": ("time", "'23:59:59.5'", dt.time(23, 59, 59, 500000)),
    "iv": ("interval", "'1 mon 2 days 03:00:00'", dt.timedelta(days=32, hours=3)),
    "js": ("json", '\'[1, {"b": 2, "a": 1}]\'', '[1,{"a":1,"b":2}]'),
    "jsb": ("jsonb", "'[\"x\", [2, 1]]'", '["x",[2,1]]'),
}


def source(name: str, db: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "source": {
            "system": "db",
            "table": name,
            "type": "db",
            "db": {"url_env": "MEDALLION_TEST_DB_URL", **db},
            "run": {"load_pattern": "full"},
        },
        "silver": {"model": "periodic_snapshot", "primary_keys": ["id"]},
    }


def land(tmp_path: Path, sources: list[dict[str, Any]]) -> dict[str, Any]:
    """Materialize each source's Bronze for DAY: its rows by id (lineage columns left out), or its error."""
    lake = local_lake(tmp_path, sources, date(2025, 1, 1))
    (tmp_path / "instance").mkdir()
    landed: dict[str, Any] = {}
    with cli_instance_for_test(tmp_path / "instance") as instance:
        for entry in sources:
            outcome = materialize_partition(lake, lake.spec(entry["name"]), DAY, ("bronze",), instance)
            if outcome.error is not None:
                landed[entry["name"]] = outcome.error
                continue
            part = lake.committed(lake.spec(entry["name"]), "bronze", DAY)
            assert part is not None and verify_partition(part) == []
            frame = read_artifact(part, "data").drop(LINEAGE).sort("id")
            landed[entry["name"]] = (frame, part.metadata.get("engine"))
    return landed


def test_postgres_types_without_a_native_decoder_land_as_postgres_text_with_every_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = open_database("postgresql", tmp_path)
    try:
        addr = pg_object(db, "DOMAIN", "addr", "AS inet")
        spec = {**AS_TEXT, "dom_ip": (addr, "'10.0.0.2'")}
        table = db.table("pgtext")
        columns = [f"{c} {ddl}" for c, (ddl, _v) in spec.items()]
        columns += [f"{c} {ddl}" for c, (ddl, _v, _x) in CANONICAL.items()]
        db.execute(f"CREATE TABLE {table} (id integer PRIMARY KEY, {', '.join(columns)})")
        values = [v for _d, v in spec.values()] + [v for _d, v, _x in CANONICAL.values()]
        db.execute(f"INSERT INTO {table} VALUES (1, {', '.join(values)})")
        db.execute(f"INSERT INTO {table} (id) VALUES (2)")
        # PostgreSQL's own text of each value: its type's output function (arrays: to_json)
        texts = ", ".join(
            f"CAST(to_json({c}) AS text)"
            if ddl.endswith("]")
            else f"CASE WHEN {c} IS NOT NULL THEN format('%s', {c}) END"
            for c, (ddl, _v) in spec.items()
        )
        with db.engine.connect() as conn:
            import sqlalchemy as sa

            row = conn.execute(sa.text(f"SELECT {texts} FROM {table} WHERE id = 1")).one()
        expected = dict(zip(spec, row, strict=True))
        for column, text in KNOWN.items():
            assert expected[column] == text, column
        assert expected["dom_ip"] == "10.0.0.2"

        monkeypatch.setenv("MEDALLION_TEST_DB_URL", db.url)
        sources = [source(f"pg_{engine}", {"table": table, "engine": engine}) for engine in ENGINES]
        sources.append(source("pg_query", {"query": f"SELECT * FROM {table} WHERE id > 0", "engine": "adbc"}))
        landed = land(tmp_path, sources)

        for name, result in landed.items():
            assert not isinstance(result, str), f"{name}: {result}"
            frame, _engine = result
            assert frame["id"].to_list() == [1, 2], name
            first, second = frame.row(0, named=True), frame.row(1, named=True)
            for column, text in expected.items():
                assert first[column] == text, (name, column)
                assert second[column] is None, (name, column)
            for column, (_ddl, _value, value) in CANONICAL.items():
                assert first[column] == value, (name, column)
        reference, _ = landed["pg_sqlalchemy"]
        for name in ("pg_adbc", "pg_auto", "pg_query"):
            frame, engine = landed[name]
            assert frame.schema == reference.schema, name
            assert frame.equals(reference), name
            assert engine == "adbc", name  # auto reads PostgreSQL with ADBC, without falling back
    finally:
        db.close()


@pytest.mark.parametrize("engine", ENGINES)
def test_postgres_time_24_00_fails_naming_the_column_instead_of_landing_midnight(
    engine: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = open_database("postgresql", tmp_path)
    try:
        table = db.table("t24")
        db.execute(f"CREATE TABLE {table} (id integer PRIMARY KEY, closes time, opens time)")
        db.execute(f"INSERT INTO {table} VALUES (1, '23:00', '08:00'), (2, '24:00:00', '00:00')")
        monkeypatch.setenv("MEDALLION_TEST_DB_URL", db.url)
        landed = land(tmp_path, [source("hours", {"table": table, "engine": engine})])
        error = landed["hours"]
        assert isinstance(error, str), f"landed {error}"
        assert "closes" in error and "24:00:00" in error, error
        assert "CAST(closes AS text)" in error, error  # the fix
    finally:
        db.close()


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("valid_to timestamp", "infinity"),
        ("valid_to timestamptz", "-infinity"),
        ("valid_to date", "infinity"),
    ],
)
def test_postgres_infinity_fails_naming_the_column_instead_of_landing_a_wrong_date(
    engine: str, column: str, value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL's 'infinity' (an open-ended valid_to) has no Arrow value: ADBC read it as a date some
    292,000 years before Christ (its epoch shift overflows), psycopg refused it without naming the column."""
    db = open_database("postgresql", tmp_path)
    try:
        table = db.table("inf")
        db.execute(f"CREATE TABLE {table} (id integer PRIMARY KEY, valid_from date, {column})")
        rows = f"(1, '2025-01-01', '2025-02-01'), (2, '2025-02-01', '{value}')"
        db.execute(f"INSERT INTO {table} VALUES {rows}")
        monkeypatch.setenv("MEDALLION_TEST_DB_URL", db.url)
        landed = land(tmp_path, [source("versions", {"table": table, "engine": engine})])
        error = landed["versions"]
        assert isinstance(error, str), f"landed {error}"
        assert "valid_to" in error and "infinity" in error, error
        assert "CAST(valid_to AS text)" in error, error  # the fix
    finally:
        db.close()


def test_mariadb_bit_geometry_inet6_uuid_land_readable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = open_database("mariadb", tmp_path)
    try:
        table = db.table("mtypes")
        db.execute(
            f"CREATE TABLE {table} (id integer PRIMARY KEY, bits BIT(4), shape GEOMETRY, ip INET6, uid UUID)"
        )
        db.execute(
            f"INSERT INTO {table} VALUES (1, b'1010', ST_GeomFromText('POINT(1 2)'), '::ffff:10.0.0.1', "
            "'12345678-1234-5678-1234-567812345678'), (2, NULL, NULL, NULL, NULL)"
        )
        monkeypatch.setenv("MEDALLION_TEST_DB_URL", db.url)
        landed = land(tmp_path, [source("maria", {"table": table, "engine": "auto"})])
        result = landed["maria"]
        assert not isinstance(result, str), result
        frame, engine = result
        assert engine == "sqlalchemy"
        first, second = frame.row(0, named=True), frame.row(1, named=True)
        assert first["bits"] == b"\x0a"  # BIT: the bits as bytes, most significant first
        # GEOMETRY: MariaDB's own storage form, the SRID (4 bytes, little-endian) then the WKB of the value
        assert first["shape"] == bytes.fromhex("000000000101000000000000000000f03f0000000000000040")
        assert first["ip"] == "::ffff:10.0.0.1"
        assert first["uid"] == "12345678-1234-5678-1234-567812345678"
        assert all(value is None for key, value in second.items() if key != "id")
    finally:
        db.close()


def test_postgres_numerics_land_as_postgres_writes_them_with_every_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unconstrained numeric and numeric(p > 38) land as PostgreSQL's text of the value, readable by polars:
    psycopg's Decimal printed 1e-30 as '1E-30' and ADBC wrote NaN as 'nan', so the engines landed one value
    two ways; numeric(50, 10) landed as an Arrow decimal256 that neither Silver nor polars could read."""
    db = open_database("postgresql", tmp_path)
    try:
        table = db.table("nums")
        db.execute(f"CREATE TABLE {table} (id integer PRIMARY KEY, free numeric, wide numeric(50, 10))")
        db.execute(
            f"INSERT INTO {table} VALUES (1, 1e-30, 1234567890123456789012345678901234567890.0123456789), "
            "(2, 1e30, -0.0000000001), (3, 'NaN', 'NaN'), (4, 'Infinity', 0), (5, '-Infinity', NULL), "
            "(6, 123.4500, 1e-10), (7, -0.0000001, NULL)"
        )
        monkeypatch.setenv("MEDALLION_TEST_DB_URL", db.url)
        landed = land(tmp_path, [source(f"pg_{e}", {"table": table, "engine": e}) for e in ENGINES])
        free = [
            "0.000000000000000000000000000001",
            "1000000000000000000000000000000",
            "NaN",
            "Infinity",
            "-Infinity",
            "123.4500",
            "-0.0000001",
        ]
        wide = [
            "1234567890123456789012345678901234567890.0123456789",
            "-0.0000000001",
            "NaN",
            "0.0000000000",
            None,
            "0.0000000001",
            None,
        ]
        for name, result in landed.items():
            assert not isinstance(result, str), f"{name}: {result}"
            frame, _engine = result
            assert frame["free"].to_list() == free, name
            assert frame["wide"].to_list() == wide, name
    finally:
        db.close()


def test_mariadb_decimal_65_30_lands_as_its_exact_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DECIMAL(65, 30) landed as an Arrow decimal256 that polars (Silver, the read API) cannot read."""
    db = open_database("mariadb", tmp_path)
    try:
        table = db.table("wide")
        db.execute(f"CREATE TABLE {table} (id integer PRIMARY KEY, amount DECIMAL(65, 30))")
        db.execute(
            f"INSERT INTO {table} VALUES "
            "(1, 12345678901234567890123456789012345.123456789012345678901234567891), "
            "(2, -0.000000000000000000000000000001), (3, NULL)"
        )
        monkeypatch.setenv("MEDALLION_TEST_DB_URL", db.url)
        result = land(tmp_path, [source("maria", {"table": table})])["maria"]
        assert not isinstance(result, str), result
        frame, _engine = result
        assert frame["amount"].to_list() == [
            "12345678901234567890123456789012345.123456789012345678901234567891",
            "-0.000000000000000000000000000001",
            None,
        ]
    finally:
        db.close()


def test_the_sessions_of_every_engine_take_the_url_connection_parameters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ADBC connected without the URL's query (options, sslmode, ...): its session kept the server's TimeZone
    while psycopg's took the URL's, so the text of a timestamptz range or array differed by engine."""
    db = open_database("postgresql", tmp_path)
    try:
        table = db.table("tzr")
        db.execute(f"CREATE TABLE {table} (id integer PRIMARY KEY, slot tstzrange, seen timestamptz[])")
        db.execute(
            f"INSERT INTO {table} VALUES (1, tstzrange('2025-03-09 06:00+00', '2025-03-09 08:00+00'), "
            "ARRAY['2025-11-02 05:30+00'::timestamptz])"
        )
        sep = "&" if "?" in db.url else "?"
        url = f"{db.url}{sep}options=-c%20TimeZone%3DAmerica/New_York&application_name=medallion%20test"
        monkeypatch.setenv("MEDALLION_TEST_DB_URL", url)
        landed = land(tmp_path, [source(f"pg_{e}", {"table": table, "engine": e}) for e in ENGINES])
        for name, result in landed.items():
            assert not isinstance(result, str), f"{name}: {result}"
            frame, _engine = result
            # New York: EST (-05) before 02:00 on 2025-03-09, EDT (-04) after; EDT until 2025-11-02 02:00
            assert frame["slot"].to_list() == ['["2025-03-09 01:00:00-05","2025-03-09 04:00:00-04")'], name
            assert frame["seen"].to_list() == ['["2025-11-02T01:30:00-04:00"]'], name
    finally:
        db.close()


@pytest.mark.parametrize("engine", ENGINES)
def test_postgres_nan_in_a_numeric_with_precision_widens_the_column_to_text(
    engine: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No Arrow decimal holds NaN (the one non-finite value numeric(p, s) takes): the column widens to text
    (DESIGN §5), the same text with every engine; ADBC failed with Arrow's bare 'not a valid decimal128
    number'."""
    db = open_database("postgresql", tmp_path)
    try:
        table = db.table("nan")
        db.execute(f"CREATE TABLE {table} (id integer PRIMARY KEY, price numeric(10, 2))")
        db.execute(f"INSERT INTO {table} VALUES (1, 1.5), (2, 'NaN'), (3, NULL), (4, 0.000)")
        monkeypatch.setenv("MEDALLION_TEST_DB_URL", db.url)
        result = land(tmp_path, [source("prices", {"table": table, "engine": engine})])["prices"]
        assert not isinstance(result, str), result
        frame, _engine = result
        assert frame["price"].to_list() == ["1.50", "NaN", None, "0.00"]
    finally:
        db.close()


@pytest.mark.parametrize(
    ("ddl", "values", "landed"),
    [
        ("BIGINT UNSIGNED", "1, 18446744073709551615", ["1", "18446744073709551615"]),
        (
            "BIGINT UNSIGNED",
            "9223372036854775807, 9223372036854775808",
            ["9223372036854775807", "9223372036854775808"],
        ),
        ("DATE", "'2025-01-02', '0000-00-00'", ["2025-01-02", "0000-00-00"]),
        (
            "DATETIME",
            "'2025-01-02 03:04:05', '2025-01-00 10:00:00'",
            ["2025-01-02 03:04:05.000000", "2025-01-00 10:00:00"],
        ),
    ],
)
@pytest.mark.parametrize("batch", [1, 100])
def test_a_mariadb_value_its_arrow_type_cannot_hold_widens_the_column_to_text(
    ddl: str, values: str, landed: list[str], batch: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BIGINT UNSIGNED above 2**63 - 1 failed the run with a bare OverflowError; a zero date (which PyMySQL
    returns as text) lands as its text, the column widened to text in one batch or across batches."""
    db = open_database("mariadb", tmp_path)
    try:
        table = db.table("unfit")
        db.execute(f"CREATE TABLE {table} (id integer PRIMARY KEY, v {ddl})")
        first, second = (v.strip() for v in values.split(", ", 1))
        with db.engine.begin() as conn:
            import sqlalchemy as sa

            conn.execute(sa.text("SET SESSION sql_mode = ''"))  # zero dates, as legacy servers allow them
            conn.execute(sa.text(f"INSERT INTO {table} VALUES (1, {first}), (2, {second}), (3, NULL)"))
        monkeypatch.setenv("MEDALLION_TEST_DB_URL", db.url)
        result = land(tmp_path, [source("maria", {"table": table, "fetch_batch_size": batch})])["maria"]
        assert not isinstance(result, str), result
        frame, _engine = result
        assert frame["v"].to_list() == [*landed, None]
    finally:
        db.close()


def test_postgres_15_scales_outside_the_precision_land_as_exact_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """numeric(5, -2) holds 9999900 and numeric(3, 5) holds 0.00123 (PostgreSQL 15): ADBC's decimal128(3, 5)
    failed the Parquet write ('Scale must be a non-negative integer that does not exceed precision') and
    the scale -2 clamped to decimal128(5, 0) could not hold 9999900."""
    db = open_database("postgresql", tmp_path)
    try:
        table = db.table("scales")
        columns = "id integer PRIMARY KEY, hundreds numeric(5, -2), tiny numeric(3, 5)"
        db.execute(f"CREATE TABLE {table} ({columns})")
        db.execute(f"INSERT INTO {table} VALUES (1, 9999900, 0.00123), (2, 1234567, -0.00999), (3, 50, 0)")
        monkeypatch.setenv("MEDALLION_TEST_DB_URL", db.url)
        landed = land(tmp_path, [source(f"pg_{e}", {"table": table, "engine": e}) for e in ENGINES])
        for name, result in landed.items():
            assert not isinstance(result, str), f"{name}: {result}"
            frame, _engine = result
            assert frame["hundreds"].to_list() == ["9999900", "1234600", "100"], name  # rounded to hundreds
            assert frame["tiny"].to_list() == ["0.00123", "-0.00999", "0.00000"], name
    finally:
        db.close()
