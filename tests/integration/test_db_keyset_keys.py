"""Keyset chunks (``db.chunk_rows``) through Dagster land every row of the source once, whatever the key.

Each case materializes one Bronze partition of a real PostgreSQL or MariaDB table and compares the landed
rows, as a multiset, with ``SELECT *`` of the table: a key column holding NULL (``key_columns`` naming a
nullable column, a composite key whose second column is NULL), and PostgreSQL ``char(n)`` keys, which the
ADBC engine (the default ``auto`` on PostgreSQL) reads back blank-padded.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa
import yaml

from medallion_assets.lake import Lake
from medallion_assets.runner import materialize_partition
from medallion_resources.lake.read import read_artifact
from tests.extractors.conftest import Database, open_database

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
    with dg.instance_for_test(temp_dir=str(tmp_path / "instance")) as instance:
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
