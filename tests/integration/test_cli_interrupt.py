"""Ctrl-C in ``medallion run``: the command stops, and the days it committed are reported to Dagster; a
killed ``medallion run``: ``medallion status`` tells the days it committed from the day it died on.

The interrupt is a real SIGINT (or SIGKILL) to the CLI process, sent by a custom extractor of the test
fixtures on a given run date (``interrupt_on``, ``kill_on``), so it arrives at a known point: while Bronze
of that day is being extracted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml

from medallion_assets.lake import Lake

pytestmark = pytest.mark.slow
MEDALLION = str(Path(sys.executable).parent / "medallion")
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "test_extractors"
DAYS = [f"2025-01-{d:02d}" for d in range(1, 7)]


def counter(name: str, **options: object) -> dict[str, object]:
    return {
        "name": name,
        "source": {
            "system": "test",
            "table": name,
            "type": "custom",
            "custom_extractor": {
                "module": "counting_extractor",
                "class_name": "CountingExtractor",
                "options": {"batches": 2, "rows_per_batch": 10, **options},
            },
            "run": {"load_pattern": "incremental"},
        },
        "silver": {"model": "scd_type_1", "primary_keys": ["seq"]},
    }


def environment(tmp_path: Path, sources: list[dict[str, object]]) -> dict[str, str]:
    config_dir, lake = tmp_path / "configs", tmp_path / "lake"
    config_dir.mkdir()
    platform = {
        "bronze": {"local_path": str(lake / "bronze")},
        "silver": {"local_path": str(lake / "silver")},
        "defaults": {"partitions": {"start_date": DAYS[0]}},
    }
    (config_dir / "platform.yaml").write_text(yaml.safe_dump({"config_version": 1, "platform": platform}))
    (config_dir / "sources.yaml").write_text(yaml.safe_dump({"config_version": 1, "sources": sources}))
    (tmp_path / "home").mkdir()
    path = os.pathsep.join(p for p in (str(FIXTURES), os.environ.get("PYTHONPATH")) if p)
    return {
        "MEDALLION_CONFIG_DIR": str(config_dir),
        "DAGSTER_HOME": str(tmp_path / "home"),
        "PYTHONPATH": path,
    }


def medallion(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MEDALLION, *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=300
    )


def test_ctrl_c_stops_the_command_and_reports_the_days_committed_before_it(tmp_path: Path) -> None:
    env = environment(tmp_path, [counter("first", interrupt_on=DAYS[3]), counter("second")])
    done = medallion("run", "--date", DAYS[0], "--end-date", DAYS[-1], "--select", "first", "second", env=env)
    output = done.stdout + done.stderr
    assert done.returncode == 130, output  # the shell's code for a command stopped by SIGINT
    assert "interrupted" in output and "DagsterExecutionInterruptedError" not in output, output
    lake = Lake.load(env["MEDALLION_CONFIG_DIR"])
    first, second = lake.spec("first"), lake.spec("second")
    committed = [lake.committed(first, "bronze", day) is not None for day in DAYS]
    assert committed == [True, True, True, False, False, False]
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        # The command stopped: no Silver-only follow-up run, nothing of the second source.
        [run] = instance.get_runs()
        assert run.job_name == "first_job" and run.status == dg.DagsterRunStatus.FAILURE
        for key, expected in ((first.bronze_key, DAYS[:3]), (first.silver_key, []), (second.bronze_key, [])):
            records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key), limit=100).records
            # Each day committed before the interrupt is reported, once, as in the UI after a range run.
            assert sorted(r.asset_materialization.partition for r in records) == expected, key
    # The summary says what happened to each day, and counts it once.
    assert "3 layer partition(s) committed" in output, output
    assert "first   2025-01-04  bronze  -     -      FAILED" in done.stdout, done.stdout


def test_status_after_a_killed_run_shows_the_days_it_committed_as_committed(tmp_path: Path) -> None:
    env = environment(tmp_path, [counter("first", kill_on=DAYS[3])])
    killed = medallion("run", "--date", DAYS[0], "--end-date", DAYS[-1], env=env)
    assert killed.returncode == -9
    status = medallion("status", "first", "--json", env=env)
    days = {row["date"]: row for row in json.loads(status.stdout)["days"]}
    # Days 1-3 were committed by the killed run (Dagster never heard of them): the lake says committed.
    for day in DAYS[:3]:
        assert days[day]["bronze"] == "committed", days[day]
        assert any("committed by run" in note for note in days[day]["notes"]), days[day]
    # The day it died on failed, with why; Silver never ran.
    assert days[DAYS[3]]["bronze"] == "failed" and "is gone" in " ".join(days[DAYS[3]]["notes"])
    assert status.returncode == 1
