"""Keyset chunks (``db.chunk_rows``) through Dagster land every row of the source once, whatever the key.

Each case materializes one Bronze partition of a real PostgreSQL or MariaDB table and compares the landed
rows, as a multiset, with ``SELECT *`` of the table: a key column holding NULL (``key_columns`` naming a
nullable column, a composite key whose second column is NULL), and PostgreSQL keys whose last value read,
bound back, could compare otherwise than the column sorts: ``char(n)`` (read back blank-padded by the ADBC
engine, the default ``auto`` on PostgreSQL), ``uuid``, ``citext``, enums, case-insensitive collations (and
MariaDB's, which also ignore accents and trailing blanks); and the key types refused before any row is read.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from medallion_assets.lake import Lake
from medallion_assets.runner import materialize_partition
from medallion_resources.lake.read import read_artifact
from tests.extractors.conftest import (
    CASE_INSENSITIVE,
    Database,
    case_insensitive_type,
    open_database,
    pg_object,
)
from tests.instances import cli_instance_for_test

pytestmark = [pytest.mark.slow, pytest.mark.services]
DAY = date(2025, 1, 1)


class RunFailed(Exception):
    """The Bronze partition failed (its error as the message)."""


def table_name(db: Database, prefix: str) -> str:
    name = f"db_{prefix}_{uuid.uuid4().hex[:10]}"
    db.tables.append(name)  # dropped by db.close()
    return name


def source_rows(db: Database, table: str) -> Counter[tuple[Any, ...]]:
    with db.engine.connect() as conn:
        return Counter(tuple(row) for row in conn.execute(sa.text(f"SELECT * FROM {table}")))


def land(
    tmp_path: Path, db: Database, section: dict[str, Any]
) -> tuple[Counter[tuple[Any, ...]], dict[str, Any]]:
    """Materialize Bronze of one ``db`` source for ``DAY``: its rows (no Bronze columns) and metadata."""
    config = tmp_path / "configs"
    config.mkdir(parents=True)
    platform = {
        "bronze": {"local_path": str(tmp_path / "lake/bronze")},
        "silver": {"local_path": str(tmp_path / "lake/silver")},
        "defaults": {"partitions": {"start_date": str(DAY)}},
    }
    source = {
        "name": "keyset",
        "source": {
            "system": "db",
            "table": "keyset",
            "type": "db",
            "db": {"url_env": "MEDALLION_TEST_DB_URL", "fetch_batch_size": 2, **section},
            "run": {"load_pattern": "full"},
        },
        "silver": {"model": "periodic_snapshot"},
    }
    (config / "platform.yaml").write_text(yaml.safe_dump({"config_version": 1, "platform": platform}))
    (config / "sources.yaml").write_text(yaml.safe_dump({"config_version": 1, "sources": [source]}))
    (tmp_path / "instance").mkdir()
    with cli_instance_for_test(tmp_path / "instance") as instance:
        lake = Lake.load(config)
        outcome = materialize_partition(lake, lake.spec("keyset"), DAY, ("bronze",), instance)
        if outcome.error is not None:
            raise RunFailed(outcome.error)
        part = lake.committed(lake.spec("keyset"), "bronze", DAY)
        assert part is not None
        frame = read_artifact(part, "data")
    columns = [c for c in frame.columns if not c.startswith("_")]
    return Counter(frame.select(columns).rows()), dict(part.metadata)


@pytest.mark.parametrize("dialect", ["postgresql", "mariadb"])
@pytest.mark.parametrize(
    "mode", [{"chunk_rows": 3}, {"chunk_rows": 1}, {"parallelism": 2, "chunk_rows": 2}], ids=str
)
def test_rows_whose_key_holds_null_land_once(
    dialect: str, mode: dict[str, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL sorts NULLs last, MariaDB first; ``key > :last`` is never true for them. Either way
    every row lands once (before: PostgreSQL dropped them silently, MariaDB failed when a chunk ended on
    one)."""
    db = open_database(dialect, tmp_path)
    try:
        single = table_name(db, "nullkey")
        db.execute(f"CREATE TABLE {single} (k integer NULL, v varchar(10))")
        db.execute(
            f"INSERT INTO {single} VALUES (:k, :v)",
            [{"k": None if i % 4 == 0 else i, "v": f"v{i}"} for i in range(10)],
        )
        composite = table_name(db, "nullkey2")
        db.execute(f"CREATE TABLE {composite} (a integer NOT NULL, b integer NULL, v integer)")
        db.execute(
            f"INSERT INTO {composite} VALUES (:a, :b, :v)",
            [{"a": i % 3, "b": None if i % 2 else i, "v": i} for i in range(11)],
        )
        monkeypatch.setenv("MEDALLION_TEST_DB_URL", db.url)
        landed, metadata = land(tmp_path / "single", db, {"table": single, "key_columns": ["k"], **mode})
        assert landed == source_rows(db, single)
        assert metadata["record_count"] == metadata["source_row_count"] == 10
        landed, _ = land(tmp_path / "composite", db, {"table": composite, "key_columns": ["a", "b"], **mode})
        assert landed == source_rows(db, composite)
    finally:
        db.close()


@pytest.mark.parametrize("engine", ["auto", "adbc", "sqlalchemy"])
def test_a_blank_padded_char_key_lands_every_row(
    engine: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``char(4)`` values are read back padded (``'a   '``); bound as text, ``k = 'a   '`` is false and
    ``k > 'a   '`` skips ``'a\\t'``, so chunks after the first lost rows (before: 59 of 87 with ADBC)."""
    pytest.importorskip("adbc_driver_postgresql")
    db = open_database("postgresql", tmp_path)
    try:
        name = table_name(db, "charkey")
        db.execute(f"CREATE TABLE {name} (code char(4) NOT NULL, n integer NOT NULL, PRIMARY KEY (code, n))")
        codes = ["a", "A", "ab", "a\t", "a!", "é", "z", "", "b b"]
        db.execute(f"INSERT INTO {name} VALUES (:c, :n)", [{"c": c, "n": n} for c in codes for n in range(3)])
        monkeypatch.setenv("MEDALLION_TEST_DB_URL", db.url)
        landed, metadata = land(tmp_path, db, {"table": name, "chunk_rows": 2, "engine": engine})
        assert landed == source_rows(db, name)
        assert sum(landed.values()) == len(codes) * 3
        assert metadata["engine"] == ("sqlalchemy" if engine == "sqlalchemy" else "adbc")
    finally:
        db.close()


@pytest.mark.parametrize("dialect", ["postgresql", "mariadb"])
@pytest.mark.parametrize("chunk_rows", [1, 2, 3, 50])
def test_key_columns_that_are_not_unique_fail_the_partition(
    dialect: str, chunk_rows: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``key > :last`` skips the rest of a run of equal keys cut by a chunk's end: a key that is not
    unique fails the partition naming ``key_columns`` (before: the rows were dropped and the partition
    committed). A run inside one chunk and a run cut at its end are both found."""
    db = open_database(dialect, tmp_path)
    try:
        name = table_name(db, "dupkey")
        db.execute(f"CREATE TABLE {name} (id integer PRIMARY KEY, customer integer NOT NULL)")
        db.execute(
            f"INSERT INTO {name} VALUES (:i, :c)", [{"i": i, "c": c} for i, c in enumerate([1, 2, 2, 2, 3])]
        )
        monkeypatch.setenv("MEDALLION_TEST_DB_URL", db.url)
        section = {"query": f"SELECT customer, id FROM {name}", "key_columns": ["customer"]}
        with pytest.raises(RunFailed, match=r"key_columns \(customer\) is not unique.*chunk_rows"):
            land(tmp_path, db, {**section, "chunk_rows": chunk_rows})
        assert not (tmp_path / "lake/bronze").exists() or not list(
            (tmp_path / "lake/bronze").rglob("_checksums.json")
        )
    finally:
        db.close()


def test_an_enum_key_on_mariadb_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """MariaDB sorts an ENUM by its declared position but compares it with a bound value as text, so
    ``key > :last`` skipped every row after the first chunk whose value sorts before it as text (before:
    4 of 15 rows landed). The partition fails naming the column instead."""
    db = open_database("mariadb", tmp_path)
    try:
        name = table_name(db, "enumkey")
        columns = "status enum('z','b','a') NOT NULL, n integer NOT NULL, PRIMARY KEY (status, n)"
        db.execute(f"CREATE TABLE {name} ({columns})")
        db.execute(f"INSERT INTO {name} VALUES (:s, :n)", [{"s": s, "n": n} for s in "zba" for n in range(5)])
        monkeypatch.setenv("MEDALLION_TEST_DB_URL", db.url)
        with pytest.raises(RunFailed, match=r"chunk_rows.*'status'.*ENUM"):
            land(tmp_path / "chunked", db, {"table": name, "chunk_rows": 2})
        landed, _ = land(tmp_path / "ranges", db, {"table": name, "parallelism": 2, "key_columns": ["n"]})
        assert landed == source_rows(db, name)
    finally:
        db.close()


@pytest.mark.parametrize("kind", ["enum('z','b','a')", "set('z','b','a')"])
def test_an_enum_or_set_key_of_a_mariadb_query_is_refused(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ``query:`` source's ENUM or SET key skipped rows as a table's did (before: 5 of 15 landed and the
    partition committed), since only a table's columns were inspected. The query's result says which of its
    columns are ENUM or SET; such a key fails the partition before any row is read. The same column made
    text in the query sorts and compares as text, and lands every row."""
    db = open_database("mariadb", tmp_path)
    try:
        name = table_name(db, "qenumkey")
        db.execute(
            f"CREATE TABLE {name} (status {kind} NOT NULL, n integer NOT NULL, PRIMARY KEY (status, n))"
        )
        db.execute(f"INSERT INTO {name} VALUES (:s, :n)", [{"s": s, "n": n} for s in "zba" for n in range(5)])
        monkeypatch.setenv("MEDALLION_TEST_DB_URL", db.url)
        query = {
            "query": f"SELECT q.n, q.status FROM {name} q",
            "key_columns": ["status", "n"],
            "chunk_rows": 2,
        }
        with pytest.raises(RunFailed, match=rf"chunk_rows.*'status'.*{kind[:3].upper()}"):
            land(tmp_path / "chunked", db, query)
        as_text = {**query, "query": f"SELECT n, CONCAT(status) AS status FROM {name}"}
        landed, _ = land(tmp_path / "text", db, as_text)
        assert landed == Counter((n, s) for s, n in source_rows(db, name))
    finally:
        db.close()


@pytest.mark.parametrize("engine", ["adbc", "auto"])
def test_a_uuid_key_is_read_in_chunks_by_adbc(
    engine: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """ADBC binds the last key read as text, and PostgreSQL has no ``uuid > text``: ``engine: adbc`` failed
    on the second chunk and ``auto`` fell back to SQLAlchemy with a warning for every chunk."""
    pytest.importorskip("adbc_driver_postgresql")
    db = open_database("postgresql", tmp_path)
    try:
        name = table_name(db, "uuidkey")
        db.execute(f"CREATE TABLE {name} (id uuid PRIMARY KEY, n integer)")
        db.execute(
            f"INSERT INTO {name} VALUES (:i, :n)", [{"i": str(uuid.uuid4()), "n": n} for n in range(9)]
        )
        monkeypatch.setenv("MEDALLION_TEST_DB_URL", db.url)
        landed, metadata = land(tmp_path, db, {"table": name, "chunk_rows": 2, "engine": engine})
        with db.engine.connect() as conn:
            expected = Counter((str(i), n) for i, n in conn.execute(sa.text(f"SELECT * FROM {name}")))
        assert landed == expected
        assert metadata["engine"] == "adbc"
        assert "ADBC could not run the query" not in caplog.text
    finally:
        db.close()


# --- PostgreSQL keys whose bound value could compare otherwise than ORDER BY sorts ------------------------


def table_scans(db: Database, table: str) -> int:
    """How many times PostgreSQL has scanned ``table`` (sequential and index scans; a backend reports its
    counts when it ends, and every connection of a run has ended by then)."""
    with db.engine.connect() as conn:
        return int(
            conn.execute(
                sa.text(
                    "SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0) FROM pg_stat_user_tables "
                    "WHERE relname = :t"
                ),
                {"t": table},
            ).scalar_one()
        )


@pytest.mark.parametrize("engine", ["auto", "adbc", "sqlalchemy"])
@pytest.mark.parametrize("kind", CASE_INSENSITIVE)
def test_a_case_insensitive_key_lands_every_row(
    kind: str, engine: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """``citext`` sorts without case, but ADBC bound the last key read as text, which compares with case
    (``'a' > 'B'``), so chunks after the first skipped rows or read some twice (before: the Bronze rows
    differed from the table's). A domain over citext is read as citext; a text key under a case-insensitive
    (non-deterministic) ICU collation compares with the bound value under that collation, as it sorts."""
    pytest.importorskip("adbc_driver_postgresql")
    db = open_database("postgresql", tmp_path)
    try:
        key_type = case_insensitive_type(db, kind)
        name = table_name(db, "cikey")
        db.execute(
            f"CREATE TABLE {name} (code {key_type} NOT NULL, n integer NOT NULL, PRIMARY KEY (code, n))"
        )
        codes = ["a", "B", "c", "D", "e", "F", "g", "H", "É", "z"]
        db.execute(f"INSERT INTO {name} VALUES (:c, :n)", [{"c": c, "n": n} for c in codes for n in range(2)])
        monkeypatch.setenv("MEDALLION_TEST_DB_URL", db.url)
        landed, metadata = land(tmp_path, db, {"table": name, "chunk_rows": 3, "engine": engine})
        assert landed == source_rows(db, name)
        assert sum(landed.values()) == len(codes) * 2
        assert metadata["engine"] == ("sqlalchemy" if engine == "sqlalchemy" else "adbc")
        assert "ADBC could not run the query" not in caplog.text
    finally:
        db.close()


@pytest.mark.parametrize("chunk_rows", [1, 2])
@pytest.mark.parametrize(
    ("kind", "codes"),
    [
        ("citext", ["a", "A", "b", "c", "C", "d"]),
        ("icu collation", ["a", "A", "b", "c", "C", "d"]),
        ("numeric", ["1.0", "1.00", "2", "3.5", "3.50", "4"]),
        ("double precision", ["1", "NaN", "2", "NaN", "3"]),
    ],
)
def test_a_key_held_by_two_rows_that_differ_as_python_values_fails_the_partition(
    kind: str, codes: list[str], chunk_rows: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``'c'`` and ``'C'`` are one key to a case-insensitive column, ``1.0`` and ``1.00`` to ``numeric`` (read
    back as its exact text), NaN and NaN to ``double precision``: a chunk ending on one of them made the next
    one (``key > :last``) skip the other, and the check for a key held by two rows compared them as Python
    values, which differ (before: the partition committed without the row). Now the two keys either side of
    a chunk's end are compared as the database compares them."""
    db = open_database("postgresql", tmp_path)
    try:
        key_type = case_insensitive_type(db, kind) if kind in CASE_INSENSITIVE else kind
        name = table_name(db, "dupvalue")
        db.execute(f"CREATE TABLE {name} (id integer PRIMARY KEY, code {key_type} NOT NULL)")
        db.execute(f"INSERT INTO {name} VALUES (:i, :c)", [{"i": i, "c": c} for i, c in enumerate(codes)])
        monkeypatch.setenv("MEDALLION_TEST_DB_URL", db.url)
        section = {"query": f"SELECT code, id FROM {name}", "key_columns": ["code"], "chunk_rows": chunk_rows}
        with pytest.raises(RunFailed, match=r"key_columns \(code\) is not unique.*chunk_rows"):
            land(tmp_path, db, section)
        assert not list((tmp_path / "lake/bronze").rglob("_checksums.json"))
    finally:
        db.close()


@pytest.mark.parametrize("engine", ["adbc", "auto", "sqlalchemy"])
def test_a_postgresql_enum_key_is_read_in_chunks(
    engine: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An enum sorts by its declared position; ADBC bound the last key read as text and PostgreSQL has no
    ``enum > text``: ``engine: adbc`` failed on the second chunk and ``auto`` fell back to SQLAlchemy, with
    a warning, for every chunk after the first. The value is bound as the enum now."""
    pytest.importorskip("adbc_driver_postgresql")
    db = open_database("postgresql", tmp_path)
    try:
        status = pg_object(db, "TYPE", "status", "AS ENUM ('z', 'b', 'a')")
        name = table_name(db, "pgenum")
        db.execute(
            f"CREATE TABLE {name} (status {status} NOT NULL, n integer NOT NULL, PRIMARY KEY (status, n))"
        )
        db.execute(f"INSERT INTO {name} VALUES (:s, :n)", [{"s": s, "n": n} for s in "azb" for n in range(5)])
        monkeypatch.setenv("MEDALLION_TEST_DB_URL", db.url)
        landed, metadata = land(tmp_path, db, {"table": name, "chunk_rows": 2, "engine": engine})
        assert landed == source_rows(db, name)
        assert metadata["engine"] == ("sqlalchemy" if engine == "sqlalchemy" else "adbc")
        assert "ADBC could not run the query" not in caplog.text
    finally:
        db.close()


@pytest.mark.parametrize(
    ("key_type", "values"),
    [
        ("inet", [f"10.0.0.{i}" for i in range(6)]),
        ("interval", [f"{i} days" for i in range(6)]),
        ("time", [f"0{i}:30" for i in range(6)]),
        ('"char"', list("abcdef")),
    ],
    ids=["inet", "interval", "time", "char"],
)
def test_a_key_type_not_known_to_compare_as_it_sorts_is_refused_before_reading(
    key_type: str, values: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keyset chunks bind the last key read and compare the column with it; for types outside the list
    docs/db_extractor.md gives, that comparison is not known to follow ORDER BY (an ``inet`` bound by ADBC
    as text has no ``>`` at all; ``time '24:00'`` is read back as midnight; ``"char"`` compares as text). The
    partition fails before the table is read, naming the source, the column, its type and the fix (before:
    the chunks were read)."""
    db = open_database("postgresql", tmp_path)
    try:
        name = table_name(db, "oddkey")
        db.execute(f"CREATE TABLE {name} (k {key_type} PRIMARY KEY, v integer)")
        db.execute(
            f"INSERT INTO {name} VALUES (CAST(:k AS {key_type}), :v)", [{"k": k, "v": 1} for k in values]
        )
        monkeypatch.setenv("MEDALLION_TEST_DB_URL", db.url)
        scans = table_scans(db, name)
        refused = rf"source 'keyset'.*chunk_rows.*key column 'k' of type {re.escape(key_type)}"
        with pytest.raises(
            RunFailed, match=refused + r".*Remove db\.chunk_rows, or choose a key .*of type .*citext"
        ):
            land(tmp_path / "chunked", db, {"table": name, "chunk_rows": 2})
        assert table_scans(db, name) == scans  # refused before a row was read
        landed, _ = land(tmp_path / "whole", db, {"table": name, "engine": "sqlalchemy"})
        assert sum(landed.values()) == len(values)  # the same source without chunk_rows reads every row
        assert table_scans(db, name) > scans  # (and the scan counter does count reads)
    finally:
        db.close()


@pytest.mark.parametrize("chunk_rows", [1, 2])
@pytest.mark.parametrize(
    ("collation", "codes"),
    [
        ("", ["a", "A", "b", "c", "C", "d"]),  # the table's default: case-insensitive
        ("utf8mb4_general_ci", ["e", "é", "f", "g", "G", "h"]),
        ("utf8mb4_bin", ["a", "a ", "b", "c", "c ", "d"]),  # PAD SPACE: trailing blanks do not count
    ],
)
def test_a_mariadb_key_equal_only_under_its_collation_fails_the_partition(
    collation: str, codes: list[str], chunk_rows: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MariaDB's usual collations ignore case and accents, and every PAD SPACE collation (``_bin`` ones too)
    trailing blanks: ``'c'`` and ``'C'`` are one key to the column, so a chunk ending on one made the next
    (``key > :last``) skip the other, while the check for a key held by two rows compared them as Python
    values (before: the partition committed without the row). The two keys either side of a chunk's end are
    now compared by MariaDB, under the column's collation."""
    db = open_database("mariadb", tmp_path)
    try:
        name = table_name(db, "dupcoll")
        collate = f" COLLATE {collation}" if collation else ""
        db.execute(
            f"CREATE TABLE {name} (id integer PRIMARY KEY, code varchar(10) CHARACTER SET utf8mb4{collate} "
            "NOT NULL)"
        )
        db.execute(f"INSERT INTO {name} VALUES (:i, :c)", [{"i": i, "c": c} for i, c in enumerate(codes)])
        monkeypatch.setenv("MEDALLION_TEST_DB_URL", db.url)
        for n, section in enumerate(
            [
                {"query": f"SELECT code, id FROM {name}", "key_columns": ["code"]},
                {"table": name, "key_columns": ["code"]},
            ]
        ):
            with pytest.raises(RunFailed, match=r"key_columns \(code\) is not unique.*chunk_rows"):
                land(tmp_path / str(n), db, {**section, "chunk_rows": chunk_rows})
        assert not list(tmp_path.rglob("_checksums.json"))
    finally:
        db.close()


@pytest.mark.parametrize("chunk_rows", [1, 2, 3])
@pytest.mark.parametrize("url", ["mysql+pymysql", "mariadb+pymysql"])
def test_a_mariadb_bit_key_lands_every_row_once(
    chunk_rows: int, url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A BIT key is read back as bytes; bound as bytes, MariaDB's ``k > x'01'`` holds for ``b'1'`` itself,
    so chunks of 2 landed rows twice (10 of 6) and chunks of 1 failed as 'ended at that key again'."""
    db = open_database("mariadb", tmp_path)
    try:
        name = table_name(db, "bitkey")
        db.execute(f"CREATE TABLE {name} (k BIT(8) NOT NULL PRIMARY KEY, n integer NOT NULL)")
        keys = ["b'0'", "b'1'", "b'10'", "b'11'", "b'100'", "b'11111111'", "b'10000000'"]
        db.execute(f"INSERT INTO {name} VALUES " + ", ".join(f"({k}, {i})" for i, k in enumerate(keys)))
        monkeypatch.setenv("MEDALLION_TEST_DB_URL", db.url.replace("mysql+pymysql", url, 1))
        landed, _metadata = land(tmp_path, db, {"table": name, "chunk_rows": chunk_rows})
        assert sorted(n for (_k, n) in landed.elements()) == list(range(len(keys)))
        assert landed == source_rows(db, name)
    finally:
        db.close()
