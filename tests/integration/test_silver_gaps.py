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
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
import yaml

from medallion_assets.lake import Lake
from medallion_resources.manifest import read_artifact

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
    config = tmp_path / "configs"
    (config / "sources").mkdir(parents=True)
    platform = {
        "config_version": 1,
        "platform": {
            "bronze": {"storage_backend": "local", "local_path": str(tmp_path / "lake" / "bronze")},
            "silver": {"storage_backend": "local", "local_path": str(tmp_path / "lake" / "silver")},
            "defaults": {"partitions": {"start_date": DAYS[0].isoformat(), "timezone": "UTC"}},
        },
    }
    (config / "platform.yaml").write_text(yaml.safe_dump(platform))
    source = json.loads(json.dumps(SOURCE).replace("{data}", str(data)))
    (config / "sources" / "s.yaml").write_text(yaml.safe_dump({"config_version": 1, "sources": [source]}))
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

    # What Dagster itself shows: Silver 01-02 is stale through its Bronze input, and the partitioned
    # inputs_current check fails on 01-02 and 01-03 once evaluated (Dagster does not propagate staleness
    # along the self-dependency of a daily asset with more than 100 partitions).
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        from medallion_assets.factory import load_definitions
        from medallion_assets.status import stale_check_evaluations

        defs = load_definitions(env["MEDALLION_CONFIG_DIR"])
        graph = defs.resolve_asset_graph()
        resolver = dg.CachingStaleStatusResolver(instance, graph, instance)  # type: ignore[attr-defined]
        silver = dg.AssetKey(["silver", "t", "hist"])
        assert resolver.get_status(silver, "2025-01-02") == dg.StaleStatus.STALE
        evaluations = stale_check_evaluations(Lake.load(env["MEDALLION_CONFIG_DIR"]), instance)
        failed = {e.partition for e in evaluations if not e.passed}
        assert failed == {"2025-01-02", "2025-01-03"}

    ok("run", "--date", "2025-01-02", "--end-date", "2025-01-03", "--layer", "silver", env=env)
    repaired = ok("status", "hist", env=env)
    assert all(cells[:2] == ["committed", "committed"] for cells in status_rows(repaired).values()), repaired

    # Silver 01-03 equals a rebuild of the corrected Bronze: in a fresh lake with the same Bronze files.
    history_after = history(env, DAYS[2])
    assert history_after.filter(pl.col("id") == 2)["v"].to_list() == ["b", "x"]
    assert history_after.filter(pl.col("id") == 1)["v"].to_list() == ["a", "c"]
