"""Bronze's partitioned asset checks, evaluated by real runs (``medallion_assets.assets.bronze_checks``)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
import yaml

from medallion_assets.assets import build_assets
from medallion_assets.assets.bronze_checks import FRESHNESS_SENSOR, deadline_for, missed_deadlines
from medallion_assets.factory import build_definitions
from medallion_assets.lake import Lake
from medallion_assets.runner import QUIET
from medallion_assets.specs import BRONZE_IO_MANAGER, SILVER_IO_MANAGER
from tests.instances import cli_instance_for_test

pytestmark = pytest.mark.slow
NAMES = {"manifest_verified", "row_count_matches_source", "not_empty", "schema_drift"}


def make_lake(tmp_path: Path, sources: list[dict]) -> Lake:
    config = tmp_path / "configs"
    config.mkdir()
    doc = {
        "config_version": 1,
        "platform": {
            "bronze": {"local_path": str(tmp_path / "lake" / "bronze")},
            "silver": {"local_path": str(tmp_path / "lake" / "silver")},
            "defaults": {"partitions": {"start_date": "2025-01-01"}},
        },
        "sources": sources,
    }
    (config / "c.yaml").write_text(yaml.safe_dump(doc))
    return Lake.load(config)


def run_bronze(lake: Lake, name: str, *days: str) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    """Bronze of ``name`` for one day or a range (one run); its check evaluations by (check, day)."""
    spec = lake.spec(name)
    tags = {}
    if len(days) > 1:
        tags = {"dagster/asset_partition_range_start": days[0], "dagster/asset_partition_range_end": days[-1]}
    with cli_instance_for_test() as instance:
        result = dg.materialize(
            build_assets([spec], lake.config.platform),
            selection=[spec.bronze_key],
            partition_key=days[0] if len(days) == 1 else None,
            instance=instance,
            resources={BRONZE_IO_MANAGER: lake.bronze, SILVER_IO_MANAGER: lake.silver},
            run_config=QUIET,
            tags=tags,
        )
        assert result.success
        found = {}
        for evaluation in result.get_asset_check_evaluations():
            day = evaluation.partition or days[0]
            found[(evaluation.check_name, day)] = evaluation
        return found


def file_source(path: Path, name: str = "orders", **extra: object) -> dict:
    return {
        "name": name,
        "source": {"system": "s", "table": name, "type": "file", "file": {"path": str(path), **extra}},
        "silver": {"model": "periodic_snapshot"},
    }


def test_a_good_day_passes_every_check_and_counts_its_rows(tmp_path: Path) -> None:
    data = tmp_path / "orders_{run_date:%Y%m%d}.csv"
    (tmp_path / "orders_20250101.csv").write_text("id,v\n1,a\n2,b\n3,c\n")
    (tmp_path / "orders_20250102.csv").write_text("id,v,extra\n4,d,x\n")
    lake = make_lake(tmp_path, [file_source(data)])
    first = run_bronze(lake, "orders", "2025-01-01")
    assert {name for name, _ in first} == NAMES
    assert all(e.passed for e in first.values()), first
    count = first[("row_count_matches_source", "2025-01-01")]
    assert (count.metadata["rows"].value, count.metadata["source_rows"].value) == (3, 3)
    # A column appeared: schema drift warns (and nothing else fails).
    second = run_bronze(lake, "orders", "2025-01-02")
    drift = second[("schema_drift", "2025-01-02")]
    assert not drift.passed and drift.severity == dg.AssetCheckSeverity.WARN
    assert "added ['extra']" in (drift.description or "")
    assert all(e.passed for (name, _), e in second.items() if name != "schema_drift")


def test_a_range_run_evaluates_each_day(tmp_path: Path) -> None:
    for day, rows in (("20250101", "1,a\n"), ("20250102", "2,b\n3,c\n"), ("20250103", "")):
        (tmp_path / f"o_{day}.csv").write_text("id,v\n" + rows)
    lake = make_lake(tmp_path, [file_source(tmp_path / "o_{run_date:%Y%m%d}.csv")])
    found = run_bronze(lake, "orders", "2025-01-01", "2025-01-02", "2025-01-03")
    assert {day for _, day in found} == {"2025-01-01", "2025-01-02", "2025-01-03"}
    assert found[("row_count_matches_source", "2025-01-02")].metadata["rows"].value == 2
    empty = found[("not_empty", "2025-01-03")]  # a full snapshot with no rows
    assert not empty.passed and empty.severity == dg.AssetCheckSeverity.ERROR
    assert "checks.allow_empty" in (empty.description or "")
    assert found[("not_empty", "2025-01-02")].passed


def test_an_allowed_empty_partition_passes(tmp_path: Path) -> None:
    source = file_source(tmp_path / "missing_{run_date:%Y%m%d}.csv", required=False)
    lake = make_lake(tmp_path, [source])
    found = run_bronze(lake, "orders", "2025-01-01")
    assert found[("not_empty", "2025-01-01")].passed
    assert "allows" in (found[("not_empty", "2025-01-01")].description or "")


def test_db_row_count_is_the_sources_count_of_the_window(tmp_path: Path) -> None:
    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as conn:
        conn.execute("create table pay (id integer, ts text)")
        conn.executemany(
            "insert into pay values (?, ?)",
            [(1, "2025-01-01 10:00:00"), (2, "2025-01-01 23:00:00"), (3, "2025-01-02 01:00:00")],
        )
    source = {
        "name": "pay",
        "source": {
            "system": "shop",
            "table": "pay",
            "type": "db",
            "db": {
                "url": f"sqlite:///{db}",
                "table": "pay",
                "incremental": {"cursor_column": "ts", "mode": "window"},
            },
            "run": {"load_pattern": "incremental"},
        },
        "silver": {"primary_keys": ["id"], "order_column": "ts"},
    }
    lake = make_lake(tmp_path, [source])
    found = run_bronze(lake, "pay", "2025-01-01")
    count = found[("row_count_matches_source", "2025-01-01")]
    assert count.passed and count.metadata["source_rows"].value == 2


@pytest.mark.parametrize(
    ("counts", "landed", "dropped", "passed"),
    [
        ({"source_row_count": 7}, 7, 0, True),
        ({"source_row_count": 7}, 6, 1, True),  # the boundary dedupe's re-reads count
        ({"source_row_count": 7}, 6, 0, False),
        # rows written during the read: the two counts differ, and the read saw the source in between
        ({"source_row_count_before": 6, "source_row_count": 9}, 6, 0, True),
        ({"source_row_count_before": 6, "source_row_count": 9}, 8, 0, True),
        ({"source_row_count_before": 6, "source_row_count": 9}, 9, 0, True),
        ({"source_row_count_before": 6, "source_row_count": 9}, 5, 0, False),  # a row lost
        ({"source_row_count_before": 6, "source_row_count": 9}, 10, 0, False),
        ({"source_row_count_before": 9, "source_row_count": 6}, 7, 1, True),  # rows deleted meanwhile
        ({"source_row_count_before": 7, "source_row_count": 7}, 6, 0, False),  # unchanged: exact
    ],
)
def test_a_db_count_taken_before_and_after_the_read_brackets_it(
    counts: dict[str, int], landed: int, dropped: int, passed: bool
) -> None:
    from medallion_assets.assets.bronze_checks import _row_count

    outcome = _row_count({**counts, "boundary_rows_dropped": dropped}, landed)
    assert outcome.passed is passed, outcome
    if counts.get("source_row_count_before", counts["source_row_count"]) != counts["source_row_count"]:
        assert "the source changed during the read" in outcome.description


def test_api_row_count_is_the_apis_total(lake_env: dict[str, str]) -> None:
    lake = Lake.load()
    found = run_bronze(lake, "support_tickets", "2025-01-02")
    count = found[("row_count_matches_source", "2025-01-02")]
    assert count.passed, count.description
    assert count.metadata["source_rows"].value == count.metadata["rows"].value > 0


def deadline_source(path: Path) -> dict:
    source = file_source(path, required=False)
    source["freshness"] = {"deadline": "06:00", "timezone": "Europe/Berlin", "fail_window_hours": 48}
    source["partitions"] = {"start_date": "2025-01-01", "end_offset": 1}
    return source


def test_freshness_is_per_partition(tmp_path: Path) -> None:
    today = datetime.now(UTC).date()
    for day in (date(2025, 1, 1), today):
        (tmp_path / f"f_{day:%Y%m%d}.csv").write_text("id\n1\n")
    lake = make_lake(tmp_path, [deadline_source(tmp_path / "f_{run_date:%Y%m%d}.csv")])
    spec = lake.spec("orders")
    assert deadline_for(spec, date(2025, 1, 1)) == datetime(2025, 1, 2, 5, 0, tzinfo=UTC)  # 06:00 CET
    # A backfill of an old day commits it long after its deadline: late, however fresh the asset looks.
    old = run_bronze(lake, "orders", "2025-01-01")[("freshness", "2025-01-01")]
    assert not old.passed and "after its deadline 2025-01-02 05:00 UTC" in (old.description or "")
    # Today's partition, committed before its deadline (tomorrow 06:00): on time.
    now = run_bronze(lake, "orders", today.isoformat())[("freshness", today.isoformat())]
    assert now.passed, now.description

    # Missed days: no commit by the deadline; the sensor reports each once.
    cursor: dict[str, str] = {"orders": "2025-01-01"}
    at = datetime(2025, 1, 5, 5, 30, tzinfo=UTC)  # 06:30 in Berlin: 2025-01-04's deadline has passed
    events = missed_deadlines([spec], lake.bronze, cursor, at)
    assert [e.partition for e in events] == ["2025-01-02", "2025-01-03", "2025-01-04"]
    assert all(e.check_name == "freshness" and not e.passed for e in events)
    assert cursor == {"orders": "2025-01-04"}
    assert missed_deadlines([spec], lake.bronze, cursor, at + timedelta(hours=1)) == []


def test_the_freshness_sensor_reports_through_dagster(tmp_path: Path) -> None:
    lake = make_lake(tmp_path, [deadline_source(tmp_path / "f_{run_date:%Y%m%d}.csv")])
    defs = build_definitions(lake.config)
    sensor = defs.get_sensor_def(FRESHNESS_SENSOR)
    with cli_instance_for_test() as instance:
        result = sensor(dg.build_sensor_context(instance=instance, definitions=defs))
    assert isinstance(result, dg.SensorResult)
    assert result.asset_events and all(not e.passed for e in result.asset_events)
    assert len(result.asset_events) == 7  # a first evaluation looks back a week, not to 2025


def test_the_freshness_sensor_treats_an_edited_cursor_as_none(tmp_path: Path) -> None:
    """A cursor set by hand in the UI that is not the sensor's own fails no tick: a first evaluation."""
    lake = make_lake(tmp_path, [deadline_source(tmp_path / "f_{run_date:%Y%m%d}.csv")])
    defs = build_definitions(lake.config)
    sensor = defs.get_sensor_def(FRESHNESS_SENSOR)
    with cli_instance_for_test() as instance:
        for cursor in ("reset", "[]", '{"orders": "yesterday"}', '{"orders": 3}'):
            result = sensor(dg.build_sensor_context(instance=instance, definitions=defs, cursor=cursor))
            assert isinstance(result, dg.SensorResult)
            assert len(result.asset_events) == 7, cursor
