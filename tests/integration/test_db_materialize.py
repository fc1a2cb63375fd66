"""db sources through Dagster on PostgreSQL, MariaDB and SQLite: full and incremental loads land exactly."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from medallion_assets.lake import Lake
from medallion_assets.runner import materialize_partition
from medallion_resources.lake.read import read_artifact, verify_partition
from tests.extractors.conftest import open_database
from tests.instances import cli_instance_for_test

pytestmark = [pytest.mark.slow, pytest.mark.services]
DAYS = [date(2025, 1, 1), date(2025, 1, 2), date(2025, 1, 3)]
TS_TYPE = {"postgresql": "timestamp(6)", "mariadb": "datetime(6)", "sqlite": "text"}


def write_config(config_dir: Path, lake_dir: Path, table: str, db: dict[str, Any]) -> None:
    config_dir.mkdir(parents=True, exist_ok=True)
    platform = {
        "config_version": 1,
        "platform": {
            "bronze": {"local_path": str(lake_dir / "bronze"), "output_defaults": {"max_rows_per_file": 50}},
            "silver": {"local_path": str(lake_dir / "silver")},
            "defaults": {"partitions": {"start_date": "2025-01-01"}},
        },
    }
    sources = [
        {
            "name": "events_inc",
            "source": {
                "system": "db",
                "table": "events_inc",
                "type": "db",
                "db": {
                    "url_env": "MEDALLION_TEST_DB_URL",
                    "table": table,
                    "fetch_batch_size": 40,
                    "incremental": {"cursor_column": "updated_at", "mode": "watermark", **db},
                },
                "run": {"load_pattern": "incremental"},
            },
            "silver": {"model": "scd_type_1", "primary_keys": ["id"], "order_column": "updated_at"},
        },
        {
            "name": "events_full",
            "source": {
                "system": "db",
                "table": "events_full",
                "type": "db",
                "db": {"url_env": "MEDALLION_TEST_DB_URL", "query": f"SELECT id, amount FROM {table}"},
                "run": {"load_pattern": "full"},
            },
            "silver": {"model": "periodic_snapshot", "primary_keys": ["id"]},
        },
    ]
    (config_dir / "platform.yaml").write_text(yaml.safe_dump(platform))
    (config_dir / "sources.yaml").write_text(yaml.safe_dump({"config_version": 1, "sources": sources}))


@pytest.mark.parametrize("dialect", ["postgresql", "mariadb", "sqlite"])
def test_incremental_and_full_sources_materialize_exactly(
    dialect: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = open_database(dialect, tmp_path)
    try:
        table = db.table("mat")
        db.execute(f"CREATE TABLE {table} (id integer, amount numeric(10,2), updated_at {TS_TYPE[dialect]})")
        # 3 days x 60 rows, one exactly at each midnight, plus rows of a later day that must wait
        stamps = [
            f"2025-01-0{d} {h:02d}:{m:02d}:00"
            for d in (1, 2, 3)
            for h in range(0, 24, 2)
            for m in (0, 7, 14, 21, 28)
        ]
        stamps.append("2025-01-04 00:00:00")
        rows = [{"i": i, "a": i / 4, "u": stamp} for i, stamp in enumerate(stamps, start=1)]
        db.execute(f"INSERT INTO {table} VALUES (:i, :a, :u)", rows)
        monkeypatch.setenv("MEDALLION_TEST_DB_URL", db.url)
        write_config(tmp_path / "configs", tmp_path / "lake", table, {"initial_value": "2024-12-31 00:00:00"})
        (tmp_path / "instance").mkdir()
        with cli_instance_for_test(tmp_path / "instance") as instance:
            lake = Lake.load(tmp_path / "configs")
            for day in DAYS:
                for name in ("events_inc", "events_full"):
                    outcome = materialize_partition(
                        lake, lake.spec(name), day, ("bronze", "silver"), instance
                    )
                    assert outcome.error is None, outcome.error

            landed: list[int] = []
            watermarks = []
            for day in DAYS:
                part = lake.committed(lake.spec("events_inc"), "bronze", day)
                assert part is not None and verify_partition(part) == []
                ids = read_artifact(part, "data")["id"].to_list()
                assert len(ids) == 60 and part.metadata["batches"] == 2
                landed += ids
                watermarks.append((part.metadata["watermark_in"], part.metadata["watermark_out"]))
            assert sorted(landed) == list(range(1, 181))  # every row once; the 2025-01-04 row waits
            assert watermarks[1][0] == watermarks[0][1] and watermarks[2][0] == watermarks[1][1]
            assert "2025-01-02" in watermarks[1][1] and "22:28:00" in watermarks[1][1]

            # re-running day 2 after a late commit inside day 2 reads day 2 again from day 1's watermark
            db.execute(f"INSERT INTO {table} VALUES (999, 1, '2025-01-02 23:59:59')")
            outcome = materialize_partition(lake, lake.spec("events_inc"), DAYS[1], ("bronze",), instance)
            assert outcome.error is None, outcome.error
            rerun = lake.committed(lake.spec("events_inc"), "bronze", DAYS[1])
            assert rerun.metadata["watermark_in"] == watermarks[0][1]
            assert sorted(read_artifact(rerun, "data")["id"].to_list()) == list(range(61, 121)) + [999]

            silver = read_artifact(lake.committed(lake.spec("events_inc"), "silver", DAYS[2]), "current")
            assert silver.height == 180
            full = read_artifact(lake.committed(lake.spec("events_full"), "bronze", DAYS[2]), "data")
            assert full.height == len(stamps)
    finally:
        db.close()


@pytest.mark.parametrize("dialect", ["postgresql", "sqlite"])
@pytest.mark.parametrize("engine", ["auto", "sqlalchemy"])
def test_a_query_naming_two_columns_alike_lands_them_by_the_csv_header_rule(
    dialect: str, engine: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``SELECT id, name, name`` (a join's two ``id``s, say): PostgreSQL and SQLite answer with two columns
    of one name, which committed a Bronze partition Silver could not read; SQLite also answers a column
    named ``""``. They land as ``name_3`` and ``column_4``, as a CSV header's would."""
    db = open_database(dialect, tmp_path)
    try:
        table = db.table("dup")
        db.execute(f"CREATE TABLE {table} (id integer, name varchar(10))")
        db.execute(f"INSERT INTO {table} VALUES (1, 'a'), (2, 'b')")
        # SQLite: a column named ""; PostgreSQL: two named "?column?" (its name for ``1 + 1``)
        fourth = 'id AS ""' if dialect == "sqlite" else 'id AS "?column?", 1 + 1'
        monkeypatch.setenv("MEDALLION_TEST_DB_URL", db.url)
        config = tmp_path / "configs"
        config.mkdir()
        platform = {
            "bronze": {"local_path": str(tmp_path / "lake" / "bronze")},
            "silver": {"local_path": str(tmp_path / "lake" / "silver")},
            "defaults": {"partitions": {"start_date": "2025-01-01"}},
        }
        source = {
            "name": "dup",
            "source": {
                "system": "db",
                "table": "dup",
                "type": "db",
                "db": {
                    "url_env": "MEDALLION_TEST_DB_URL",
                    "engine": engine,
                    "query": f"SELECT id, name, name, {fourth} FROM {table}",
                },
                "run": {"load_pattern": "full"},
            },
            "silver": {"model": "periodic_snapshot", "primary_keys": ["id"]},
        }
        (config / "platform.yaml").write_text(yaml.safe_dump({"config_version": 1, "platform": platform}))
        (config / "sources.yaml").write_text(yaml.safe_dump({"config_version": 1, "sources": [source]}))
        (tmp_path / "instance").mkdir()
        with cli_instance_for_test(tmp_path / "instance") as instance:
            lake = Lake.load(config)
            outcome = materialize_partition(lake, lake.spec("dup"), DAYS[0], ("bronze", "silver"), instance)
            assert outcome.error is None, outcome.error
            bronze = read_artifact(lake.committed(lake.spec("dup"), "bronze", DAYS[0]), "data").sort("id")
            # SQLite names the second "name" itself ("name:1"); PostgreSQL leaves both "name"
            second = "name:1" if dialect == "sqlite" else "name_3"
            assert bronze.select(["id", "name", second]).rows() == [(1, "a", "a"), (2, "b", "b")]
            assert "" not in bronze.columns and len(set(bronze.columns)) == len(bronze.columns)
            silver = read_artifact(lake.committed(lake.spec("dup"), "silver", DAYS[0]), "snapshot")
            assert silver.height == 2
    finally:
        db.close()


def test_a_mariadb_timestamp_source_upgraded_from_naive_partitions_lands_each_row_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Day 1 committed by the earlier release on a server at +02:00: a Bronze partition with the naive wall
    times, the naive watermark 02:50 (= 00:50Z) and the hashes of the row at it as then read. Day 2, run
    through Dagster by this release, lands row 3 (00:55Z) only, in UTC: row 2 is not landed again."""
    import hashlib
    from datetime import UTC, datetime
    from urllib.parse import quote

    import pyarrow as pa

    from medallion_resources.io_managers import BOUNDARY_HASHES_KEY
    from medallion_resources.lake.commit import PartitionWriter
    from medallion_resources.lake.parts import PartSettings

    db = open_database("mariadb", tmp_path)
    try:
        table = db.table("mariats_mat")
        db.execute(f"CREATE TABLE {table} (id integer, amount numeric(10,2), updated_at timestamp(6) NULL)")
        stamps = [1761437400, 1761439800, 1761440100]  # 2025-10-26 00:10Z, 00:50Z, 00:55Z
        db.execute(  # FROM_UNIXTIME names the instant, whatever the session's zone
            f"INSERT INTO {table} VALUES (:i, :i, FROM_UNIXTIME(:s))",
            [{"i": i, "s": s} for i, s in enumerate(stamps, start=1)],
        )
        command = quote("SET time_zone='+02:00'", safe="")
        monkeypatch.setenv("MEDALLION_TEST_DB_URL", f"{db.url}?init_command={command}")
        write_config(tmp_path / "configs", tmp_path / "lake", table, {})
        (tmp_path / "instance").mkdir()
        lake = Lake.load(tmp_path / "configs")
        spec = lake.spec("events_inc")
        old_row = '[["amount","2.00"],["id",2],["updated_at","2025-10-26T02:50:00"]]'
        writer = PartitionWriter(
            lake.bronze.backend,
            lake.bronze.partition_prefix(spec.bronze_path, "2025-10-26"),
            layer="bronze",
            dataset=spec.bronze_path,
            run_date="2025-10-26",
            run_id="run-earlier-release",
            output=PartSettings(),
        )
        part = writer.writer("data")
        part.write(
            pa.record_batch(
                {"id": [1, 2], "updated_at": [datetime(2025, 10, 26, 2, 10), datetime(2025, 10, 26, 2, 50)]}
            )
        )
        part.close()
        writer.commit(
            {
                "record_count": 2,
                "watermark_out": "2025-10-26T02:50:00.000000",
                BOUNDARY_HASHES_KEY: [hashlib.blake2b(old_row.encode(), digest_size=16).hexdigest()],
            }
        )
        with cli_instance_for_test(tmp_path / "instance") as instance:
            outcome = materialize_partition(lake, spec, date(2025, 10, 27), ("bronze",), instance)
            assert outcome.error is None, outcome.error
        day2 = lake.committed(spec, "bronze", date(2025, 10, 27))
        assert day2 is not None and verify_partition(day2) == []
        data = read_artifact(day2, "data")
        assert data["id"].to_list() == [3]
        assert str(data["updated_at"].dtype) == "Datetime(time_unit='us', time_zone='UTC')"
        assert data["updated_at"].to_list() == [datetime(2025, 10, 26, 0, 55, tzinfo=UTC)]
        assert day2.metadata["watermark_out"] == "2025-10-26T00:55:00.000000+00:00"
        assert day2.metadata["boundary_rows_dropped"] == 1
    finally:
        db.close()
