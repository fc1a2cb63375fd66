"""No silent gaps, and stale Silver after a Bronze recommit (DESIGN §6), through the real CLI and Dagster.

One full-load ``scd_type_2`` source (Silver D reads Silver D-1, whose state is a fold over every Bronze day).
The CLI runs as users run it (a subprocess with a persistent ``DAGSTER_HOME``); Dagster's own view is read
from that same instance.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus
from dagster._core.loader import LoadingContextForTest

from medallion_assets.factory import load_definitions
from medallion_assets.lake import Lake
from medallion_resources.lake.read import read_artifact
from tests.integration._lake import local_lake

pytestmark = pytest.mark.slow
MEDALLION = str(Path(sys.executable).parent / "medallion")
DAYS = [date(2025, 1, 1) + timedelta(days=i) for i in range(3)]
ROWS = [
    [{"id": 1, "v": "a", "ts": "2025-01-01T10:00:00"}, {"id": 2, "v": "b", "ts": "2025-01-01T10:00:00"}],
    [{"id": 1, "v": "c", "ts": "2025-01-02T10:00:00"}, {"id": 2, "v": "b", "ts": "2025-01-01T10:00:00"}],
    [{"id": 1, "v": "c", "ts": "2025-01-02T10:00:00"}, {"id": 2, "v": "b", "ts": "2025-01-01T10:00:00"}],
]
SOURCE = {
    "name": "hist",
    "source": {
        "system": "t",
        "table": "hist",
        "type": "file",
        "file": {"path": "{data}/hist_{run_date:%Y%m%d}.jsonl"},
        "run": {"load_pattern": "full"},
    },
    "silver": {
        "model": "scd_type_2",
        "primary_keys": ["id"],
        "order_column": "ts",
        "delete_mode": "tombstone",
        "schema": {"types": {"ts": "datetime"}},
    },
}


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    data = tmp_path / "data"
    data.mkdir()
    for day, rows in zip(DAYS, ROWS, strict=True):
        write_day(data, day, rows)
    local_lake(tmp_path, [SOURCE], DAYS[0], data=data)
    config = tmp_path / "configs"
    (tmp_path / "dagster_home").mkdir()
    return {"MEDALLION_CONFIG_DIR": str(config), "DAGSTER_HOME": str(tmp_path / "dagster_home")}


def write_day(data: Path, day: date, rows: list[dict[str, object]]) -> None:
    (data / f"hist_{day:%Y%m%d}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def medallion(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MEDALLION, *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=300
    )


def ok(*args: str, env: dict[str, str]) -> str:
    result = medallion(*args, env=env)
    assert result.returncode == 0, result.stderr + result.stdout
    return result.stdout


def history(env: dict[str, str], day: date) -> pl.DataFrame:
    lake = Lake.load(env["MEDALLION_CONFIG_DIR"])
    part = lake.committed(lake.spec("hist"), "silver", day)
    assert part is not None
    return read_artifact(part, "history").drop("_silver_load_date").sort("id", "effective_from")


def status_rows(out: str) -> dict[str, list[str]]:
    """``medallion status`` table rows by date: [bronze, silver, ...]."""
    rows = {}
    for line in out.splitlines():
        cells = line.split()
        if cells and cells[0][:4] == "2025":
            rows[cells[0]] = cells[1:]
    return rows


def check_results(
    defs: dg.Definitions, instance: dg.DagsterInstance, check: dg.AssetCheckKey
) -> dict[str, bool]:
    """Run the check alone through Dagster for each day (a partitioned job of the check only)."""
    job = dg.define_asset_job("inputs_only", selection=dg.AssetSelection.checks(check))
    resolved = dg.Definitions.merge(defs, dg.Definitions(jobs=[job])).resolve_job_def("inputs_only")
    results = {}
    for day in DAYS:
        # Dagster 1.13 cannot infer a partitions definition for a run of checks only (execute_in_process's
        # partition_key fails), so the partition is given as the run tag the UI sets.
        result = resolved.execute_in_process(instance=instance, tags={"dagster/partition": day.isoformat()})
        (evaluation,) = result.get_asset_check_evaluations()
        results[evaluation.partition or ""] = evaluation.passed
    return results


def test_silver_with_a_missing_bronze_day_fails_naming_it(env: dict[str, str]) -> None:
    for day in (DAYS[0], DAYS[2]):
        ok("run", "--date", day.isoformat(), "--layer", "bronze", env=env)
    result = medallion("run", "--date", "2025-01-03", "--layer", "silver", env=env)
    assert result.returncode != 0, result.stdout
    assert "2025-01-02" in result.stderr and "FAILED" in result.stderr, result.stderr
    lake = Lake.load(env["MEDALLION_CONFIG_DIR"])
    assert lake.committed(lake.spec("hist"), "silver", DAYS[2]) is None

    status = medallion("status", "hist", env=env)
    rows = status_rows(status.stdout)
    assert rows["2025-01-02"][:2] == ["missing", "missing"], status.stdout
    assert rows["2025-01-03"][:2] == ["committed", "failed"], status.stdout
    assert "2025-01-02" in " ".join(rows["2025-01-03"][2:])  # the failure's message names the gap
    assert status.returncode == 1

    # The repair fills the gap it failed on (Bronze and Silver 01-02, rebuilt from Bronze 01-01): a
    # Silver-only run of 01-03 would fail the same way again. Silver 01-01, never run, is no part of it.
    repair = "medallion run --date 2025-01-02 --end-date 2025-01-03 --select hist"
    assert f"repair: {repair}\n" in status.stdout, status.stdout
    # The same repair when the listing starts at the failed day: the days before it still need filling.
    later = medallion("status", "hist", "--start", "2025-01-03", env=env)
    assert list(status_rows(later.stdout)) == ["2025-01-03"], later.stdout
    assert f"repair: {repair}\n" in later.stdout, later.stdout
    ok(*repair.split()[1:], env=env)
    repaired = {day: cells[:2] for day, cells in status_rows(ok("status", "hist", env=env)).items()}
    assert repaired == {
        "2025-01-01": ["committed", "missing"],
        "2025-01-02": ["committed", "committed"],
        "2025-01-03": ["committed", "committed"],
    }
    assert history(env, DAYS[2]).height == 3  # the history of every Bronze day: id 1 changed on 01-02


def test_a_recommitted_bronze_day_makes_later_silver_stale_until_one_backfill(
    env: dict[str, str], tmp_path: Path
) -> None:
    ok("run", "--date", "2025-01-01", "--end-date", "2025-01-03", env=env)
    clean = ok("status", "hist", env=env)
    assert all(cells[:2] == ["committed", "committed"] for cells in status_rows(clean).values()), clean
    assert len(status_rows(clean)) == 3

    # The source corrects 2025-01-02: id 2 changed that day too. Only Bronze is reloaded.
    changed = [*ROWS[1][:1], {"id": 2, "v": "x", "ts": "2025-01-02T11:00:00"}]
    write_day(tmp_path / "data", DAYS[1], changed)
    ok("run", "--date", "2025-01-02", "--layer", "bronze", env=env)

    stale = medallion("status", "hist", env=env)
    assert stale.returncode == 1, stale.stdout + stale.stderr
    rows = status_rows(stale.stdout)
    assert rows["2025-01-01"][:2] == ["committed", "committed"], stale.stdout
    assert rows["2025-01-02"][:2] == ["committed", "stale"], stale.stdout
    assert rows["2025-01-03"][:2] == ["committed", "stale"], stale.stdout
    assert "Bronze 2025-01-02" in " ".join(rows["2025-01-02"][2:])
    assert "Silver 2025-01-02" in " ".join(rows["2025-01-03"][2:])

    # What Dagster itself shows, on the CLI's instance: Silver 01-02 is stale through its Bronze input; the
    # later day is not (Dagster does not propagate staleness along the self-dependency, module docstring
    # of medallion_assets.assets.silver_inputs), so the inputs_current check says it, run through Dagster
    # and by the sensor.
    defs = load_definitions(env["MEDALLION_CONFIG_DIR"])
    silver = dg.AssetKey(["silver", "t", "hist"])
    check = dg.AssetCheckKey(silver, "inputs_current")
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        resolver = CachingStaleStatusResolver(
            instance, defs.resolve_asset_graph(), LoadingContextForTest(instance)
        )
        assert resolver.get_status(silver, "2025-01-02") == StaleStatus.STALE
        assert check_results(defs, instance, check) == {
            "2025-01-01": True,
            "2025-01-02": False,
            "2025-01-03": False,
        }
        sensor = defs.resolve_sensor_def("medallion_silver_inputs")
        tick = sensor(dg.build_sensor_context(instance=instance))
        assert {e.partition: e.passed for e in tick.asset_events} == {
            "2025-01-02": False,
            "2025-01-03": False,
        }
        again = sensor(dg.build_sensor_context(instance=instance, cursor=tick.cursor))
        assert again.asset_events == []  # reported once

    assert history(env, DAYS[2]).filter(pl.col("id") == 2)["v"].to_list() == ["b"]  # wrong until repaired
    ok("run", "--date", "2025-01-02", "--end-date", "2025-01-03", "--layer", "silver", env=env)
    repaired = ok("status", "hist", env=env)
    assert all(cells[:2] == ["committed", "committed"] for cells in status_rows(repaired).values()), repaired
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        after = sensor(dg.build_sensor_context(instance=instance, cursor=again.cursor))
        assert {e.partition: e.passed for e in after.asset_events} == {"2025-01-02": True, "2025-01-03": True}
        assert set(check_results(defs, instance, check).values()) == {True}

    # Silver 01-03 now holds the corrected 01-02 version of id 2.
    history_after = history(env, DAYS[2])
    assert history_after.filter(pl.col("id") == 2)["v"].to_list() == ["b", "x"]
    assert history_after.filter(pl.col("id") == 1)["v"].to_list() == ["a", "c"]


def test_one_dagster_backfill_of_silver_repairs_the_stale_days(env: dict[str, str], tmp_path: Path) -> None:
    ok("run", "--date", "2025-01-01", "--end-date", "2025-01-03", env=env)
    changed = [*ROWS[1][:1], {"id": 2, "v": "x", "ts": "2025-01-02T11:00:00"}]
    write_day(tmp_path / "data", DAYS[1], changed)
    ok("run", "--date", "2025-01-02", "--layer", "bronze", env=env)
    assert medallion("status", "hist", env=env).returncode == 1

    # One run over the range, as a UI backfill of the Silver asset launches it (BackfillPolicy.single_run):
    # Silver and its checks, inputs_current included, for 2025-01-02..03.
    silver = dg.AssetKey(["silver", "t", "hist"])
    job = dg.define_asset_job("silver_repair", selection=dg.AssetSelection.assets(silver))
    defs = dg.Definitions.merge(load_definitions(env["MEDALLION_CONFIG_DIR"]), dg.Definitions(jobs=[job]))
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        result = defs.resolve_job_def("silver_repair").execute_in_process(
            instance=instance,
            tags={
                "dagster/asset_partition_range_start": "2025-01-02",
                "dagster/asset_partition_range_end": "2025-01-03",
            },
        )
        inputs = {
            e.partition: e.passed
            for e in result.get_asset_check_evaluations()
            if e.check_name == "inputs_current"
        }
        assert inputs == {"2025-01-02": True, "2025-01-03": True}
        materialized = {e.partition for e in result.get_asset_materialization_events()}
        assert materialized == {"2025-01-02", "2025-01-03"}

    repaired = ok("status", "hist", env=env)
    assert all(cells[:2] == ["committed", "committed"] for cells in status_rows(repaired).values()), repaired
    assert history(env, DAYS[2]).filter(pl.col("id") == 2)["v"].to_list() == ["b", "x"]


def test_a_rebuild_fails_on_a_day_that_fails_on_its_own(env: dict[str, str], tmp_path: Path) -> None:
    """A truncated snapshot on 01-02 (id 1 alone: 2 of the 3 live keys missing) fails Silver 01-02 under
    ``run.max_delete_fraction``; Silver 01-03 (every id back), rebuilt from Bronze since 01-02 is not
    committed, fails on that day too: it committed, the mass delete of 01-02 and the resurrections of 01-03
    in its history."""
    rows = [{"id": i, "v": "a", "ts": "2025-01-01T10:00:00"} for i in (1, 2, 3)]
    for day, day_rows in zip(DAYS, [rows, rows[:1], rows], strict=True):
        write_day(tmp_path / "data", day, day_rows)
    first = medallion("run", "--date", "2025-01-01", "--end-date", "2025-01-03", env=env)
    assert first.returncode == 1, first.stdout + first.stderr
    assert "max_delete_fraction" in first.stderr, first.stderr
    lake = Lake.load(env["MEDALLION_CONFIG_DIR"])
    assert lake.committed(lake.spec("hist"), "silver", DAYS[1]) is None

    result = medallion("run", "--date", "2025-01-03", "--layer", "silver", env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Bronze 2025-01-02" in result.stderr and "max_delete_fraction" in result.stderr, result.stderr
    assert lake.committed(lake.spec("hist"), "silver", DAYS[2]) is None


def test_a_rebuild_fails_on_a_day_with_bad_rows_past_the_limits(env: dict[str, str], tmp_path: Path) -> None:
    """A row without its key on 01-02 is past the default thresholds (no bad row allowed): Silver 01-02
    fails, and so does Silver 01-03 rebuilt from Bronze (it committed, without that row and without
    quarantining it anywhere)."""
    write_day(tmp_path / "data", DAYS[1], [*ROWS[1], {"id": None, "v": "bad", "ts": "2025-01-02T10:00:00"}])
    first = medallion("run", "--date", "2025-01-01", "--end-date", "2025-01-03", env=env)
    assert first.returncode == 1 and "null primary key" in first.stderr, first.stdout + first.stderr

    result = medallion("run", "--date", "2025-01-03", "--layer", "silver", env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Bronze 2025-01-02" in result.stderr and "null primary key" in result.stderr, result.stderr
    lake = Lake.load(env["MEDALLION_CONFIG_DIR"])
    assert lake.committed(lake.spec("hist"), "silver", DAYS[2]) is None


class _ClockBehind(datetime):
    """The clock of a machine running an hour behind (the commit's ``committed_at`` reads it)."""

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> _ClockBehind:  # type: ignore[override]
        return super().now(tz) - timedelta(hours=1)


def _materialize(env: dict[str, str], layer: str, day: date) -> None:
    """One layer of one day, in this process (so a test can give its commit another machine's clock)."""
    defs = load_definitions(env["MEDALLION_CONFIG_DIR"])
    asset = dg.AssetKey([layer, "t", "hist"])
    job = dg.define_asset_job("one_layer", selection=dg.AssetSelection.assets(asset))
    resolved = dg.Definitions.merge(defs, dg.Definitions(jobs=[job])).resolve_job_def("one_layer")
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        result = resolved.execute_in_process(instance=instance, partition_key=day.isoformat())
    assert result.success


def test_a_recommit_by_a_machine_whose_clock_is_behind_still_makes_later_silver_stale(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Silver 01-03 read Silver 01-02; then 01-02 is corrected and its Silver committed again by a machine
    an hour behind: its ``committed_at`` is before Silver 01-03's ``started_at``. Staleness judged by those
    two clock readings called 01-03 current although it holds the old 01-02 (a silent gap); judged by which
    commit of 01-02 it read (the manifest), it is stale. Likewise for a Silver day rebuilt from Bronze."""
    ok("run", "--date", "2025-01-01", "--end-date", "2025-01-03", env=env)
    changed = [*ROWS[1][:1], {"id": 2, "v": "x", "ts": "2025-01-02T11:00:00"}]
    write_day(tmp_path / "data", DAYS[1], changed)
    ok("run", "--date", "2025-01-02", "--layer", "bronze", env=env)
    with monkeypatch.context() as patched:
        patched.setattr("medallion_resources.lake.commit.datetime", _ClockBehind)
        _materialize(env, "silver", DAYS[1])
    rows = status_rows(medallion("status", "hist", env=env).stdout)
    assert rows["2025-01-02"][:2] == ["committed", "committed"], rows
    assert rows["2025-01-03"][:2] == ["committed", "stale"], rows
    assert "Silver 2025-01-02" in " ".join(rows["2025-01-03"][2:])


def test_a_bronze_recommit_by_a_machine_whose_clock_is_behind_makes_a_rebuilt_silver_day_stale(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Silver 01-03 rebuilt from Bronze 01-01..02 (Silver 01-02 never ran); then Bronze 01-01 is corrected
    and committed again by a machine an hour behind. The rebuild folded the old 01-01: stale."""
    ok("run", "--date", "2025-01-01", "--end-date", "2025-01-03", "--layer", "bronze", env=env)
    ok("run", "--date", "2025-01-03", "--layer", "silver", env=env)
    lake = Lake.load(env["MEDALLION_CONFIG_DIR"])
    assert lake.committed(lake.spec("hist"), "silver", DAYS[2]).metadata["previous_state"] == (
        "rebuilt_from_bronze"
    )
    # id 2 had an earlier version that morning, which the first load of 01-01 missed.
    write_day(tmp_path / "data", DAYS[0], [*ROWS[0][:1], {"id": 2, "v": "y", "ts": "2025-01-01T09:00:00"}])
    with monkeypatch.context() as patched:
        patched.setattr("medallion_resources.lake.commit.datetime", _ClockBehind)
        _materialize(env, "bronze", DAYS[0])
    rows = status_rows(medallion("status", "hist", env=env).stdout)
    assert rows["2025-01-03"][:2] == ["committed", "stale"], rows
    note = " ".join(rows["2025-01-03"][2:])
    assert "Bronze from 2025-01-01 to 2025-01-02 was committed again" in note, rows
    ok("run", "--date", "2025-01-03", "--layer", "silver", env=env)
    assert status_rows(ok("status", "hist", env=env))["2025-01-03"][:2] == ["committed", "committed"]
    assert history(env, DAYS[2]).filter(pl.col("id") == 2)["v"].to_list() == ["y", "b"]
