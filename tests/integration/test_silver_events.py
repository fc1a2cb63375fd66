"""The Dagster events a Silver day writes to the event log (issue 14, item 4), counted on real runs.

Each event is a write to the instance's event log. A Silver day's fixed events are Dagster's (run and step
start and end, resources, the planned materialization and checks); what medallion adds per day is its
materialization and one evaluation per check, plus one output per check (Dagster gates the steps downstream
of a blocking check on it). The body reads Bronze D and Silver D-1 itself and commits the day itself, so no
input is loaded (``LOADED_INPUT``, ``STEP_INPUT``) and no output is handed to an IO manager
(``HANDLED_OUTPUT``) in a one-partition run. The bounds below are what the code writes now; before they were
43 events for one partition (a range run of N days: 34 + 10 N).
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pytest

from medallion_assets.assets.silver_checks import CHECKS
from medallion_assets.lake import Lake
from medallion_assets.runner import NullObserver, SourceRunner
from tests.instances import cli_instance_for_test
from tests.integration._lake import local_lake

pytestmark = pytest.mark.slow
START = date(2025, 1, 1)
DAYS = 30
# Per partition: its planned materialization, its materialization and an evaluation of each of the 7
# own checks and of inputs_current.
PER_DAY = 1 + 1 + len(CHECKS) + 1


def make_lake(root: Path) -> Lake:
    data = root / "data"
    data.mkdir(parents=True)
    for i in range(DAYS):
        day = START + timedelta(days=i)
        rows = [
            {"id": 1, "v": f"v{i}", "ts": f"{day}T10:00:00"},
            {"id": 2 + i, "v": "x", "ts": f"{day}T11:00:00"},
        ]
        (data / f"h_{day:%Y%m%d}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    source = {
        "name": "hist",
        "source": {
            "system": "t",
            "table": "hist",
            "type": "file",
            "file": {"path": f"{data}/h_{{run_date:%Y%m%d}}.jsonl"},
            "run": {"load_pattern": "incremental"},
        },
        "silver": {
            "model": "scd_type_2",
            "primary_keys": ["id"],
            "order_column": "ts",
            "schema": {"types": {"ts": "datetime"}},
        },
    }
    return local_lake(root, [source], START)


def silver_run(lake: Lake, instance: dg.DagsterInstance, first: date, last: date) -> list[dg.EventLogEntry]:
    runner = SourceRunner(lake, instance, ("silver",))
    [*outcomes] = runner.run(lake.spec("hist"), first, last, NullObserver())
    assert all(o.ok for o in outcomes), outcomes
    [run_id] = runner.run_ids
    return list(instance.all_logs(run_id))


def kinds(logs: list[dg.EventLogEntry]) -> Counter[str]:
    return Counter(e.dagster_event.event_type_value if e.dagster_event else "LOG" for e in logs)


def evaluations_of(logs: list[dg.EventLogEntry]) -> list[dg.AssetCheckEvaluation]:
    events = [e.dagster_event for e in logs if e.dagster_event is not None]
    data = [e.event_specific_data for e in events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    return [d for d in data if isinstance(d, dg.AssetCheckEvaluation)]


def test_a_silver_day_writes_few_events(tmp_path: Path) -> None:
    lake = make_lake(tmp_path)
    (tmp_path / "instance").mkdir()
    with cli_instance_for_test(tmp_path / "instance") as instance:
        bronze = SourceRunner(lake, instance, ("bronze",))
        bronze.run(lake.spec("hist"), START, START + timedelta(days=DAYS), NullObserver())

        # One partition, a stateful model reading its D-1 (the run `medallion run --date D` makes).
        silver_run(lake, instance, START, START)
        logs = silver_run(lake, instance, START + timedelta(days=1), START + timedelta(days=1))
        seen = kinds(logs)
        silver_step = [e for e in logs if e.step_key == "silver__t__hist"]
        assert not {"LOADED_INPUT", "STEP_INPUT", "HANDLED_OUTPUT"} & set(kinds(silver_step)), kinds(
            silver_step
        )
        assert seen["ASSET_MATERIALIZATION"] == 1
        checks = evaluations_of(logs)
        assert sorted(c.check_name for c in checks) == sorted([c.name for c in CHECKS] + ["inputs_current"])
        assert all(c.passed for c in checks)
        assert len(logs) <= 38, seen

        # A range of the remaining 28 days in one run: each day committed and reported on its own.
        first, last = START + timedelta(days=2), START + timedelta(days=DAYS - 1)
        days = (last - first).days + 1
        logs = silver_run(lake, instance, first, last)
        seen = kinds(logs)
        assert seen["ASSET_MATERIALIZATION"] == days
        evaluations = evaluations_of(logs)
        assert Counter(c.partition for c in evaluations) == {
            (first + timedelta(days=i)).isoformat(): len(CHECKS) + 1 for i in range(days)
        }
        assert len(logs) <= 30 + PER_DAY * days, seen
        for day in range(DAYS):
            assert lake.committed(lake.spec("hist"), "silver", START + timedelta(days=day)) is not None


def test_a_range_compares_its_first_day_with_the_day_before(tmp_path: Path) -> None:
    """A model without state still reads Silver D-1's schema for the first day of a range (schema_drift)."""
    data = tmp_path / "data"
    data.mkdir()
    for i in range(3):
        day = START + timedelta(days=i)
        row = {"id": 1, "v": "a"} | ({"w": 1} if i else {})  # a column appears on day 2
        (data / f"s_{day:%Y%m%d}.jsonl").write_text(json.dumps(row) + "\n")
    source = {
        "name": "snap",
        "source": {
            "system": "t",
            "table": "snap",
            "type": "file",
            "file": {"path": f"{data}/s_{{run_date:%Y%m%d}}.jsonl"},
            "run": {"load_pattern": "full"},
        },
        "silver": {"model": "periodic_snapshot", "primary_keys": ["id"]},
    }
    lake = local_lake(tmp_path / "lake", [source], START)
    (tmp_path / "instance").mkdir()
    with cli_instance_for_test(tmp_path / "instance") as instance:
        spec = lake.spec("snap")
        SourceRunner(lake, instance, ("bronze",)).run(spec, START, START + timedelta(days=2), NullObserver())
        SourceRunner(lake, instance, ("silver",)).run(spec, START, START, NullObserver())
        runner = SourceRunner(lake, instance, ("silver",))
        runner.run(spec, START + timedelta(days=1), START + timedelta(days=2), NullObserver())
        drift = {
            e.partition: e.passed
            for e in evaluations_of(list(instance.all_logs(runner.run_ids[-1])))
            if e.check_name == "schema_drift"
        }
    assert drift == {
        (START + timedelta(days=1)).isoformat(): False,
        (START + timedelta(days=2)).isoformat(): True,
    }
