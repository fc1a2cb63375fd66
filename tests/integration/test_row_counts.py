"""What the row-count metadata of a materialization means, checked on Dagster's materialization events.

``dagster/partition_row_count`` is the rows of the model's main artifact (Bronze: its data); each artifact
has its own ``row_count/<artifact>``; ``quarantined`` is the rows under ``_errors/``. Expected values come
from the input rows written below, not from the lake.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from medallion_assets.lake import Lake
from medallion_assets.runner import materialize_partition
from medallion_resources.lake.read import read_artifact
from tests.instances import cli_instance_for_test
from tests.integration._lake import local_lake

pytestmark = pytest.mark.slow
DAYS = ["2025-01-01", "2025-01-02"]
MEDALLION = str(Path(sys.executable).parent / "medallion")

# Per source, per day: the rows of the day's file.
FILES = {
    # Three distinct events on day 1; day 2 re-delivers one (dropped) and adds one.
    "events": [
        [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}, {"id": 3, "v": "c"}],
        [{"id": 3, "v": "c"}, {"id": 4, "v": "d"}],
    ],
    # Two keys on day 1; on day 2 key 1 changes (a second version) and a row without a key is quarantined.
    "hist": [
        [{"id": 1, "v": "a", "ts": "2025-01-01T10:00:00"}, {"id": 2, "v": "b", "ts": "2025-01-01T10:00:00"}],
        [
            {"id": 1, "v": "z", "ts": "2025-01-02T09:00:00"},
            {"id": None, "v": "x", "ts": "2025-01-02T09:00:00"},
        ],
    ],
}
SOURCES = [
    {
        "name": "events",
        "source": {
            "system": "t",
            "table": "events",
            "type": "file",
            "file": {"path": "{data}/events_{run_date:%Y%m%d}.jsonl"},
            "run": {"load_pattern": "incremental"},
        },
        "silver": {"model": "event_log", "primary_keys": ["id"], "dedupe_lookback_days": 2},
    },
    {
        "name": "hist",
        "source": {
            "system": "t",
            "table": "hist",
            "type": "file",
            "file": {"path": "{data}/hist_{run_date:%Y%m%d}.jsonl"},
            "run": {"load_pattern": "incremental"},
        },
        "silver": {
            "model": "scd_type_2",
            "primary_keys": ["id"],
            "order_column": "ts",
            "schema": {"types": {"ts": "datetime"}},
            "error_handling": {"max_bad_records": 1},
        },
    },
]


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    data = tmp_path / "data"
    data.mkdir()
    for name, days in FILES.items():
        for day, rows in zip(DAYS, days, strict=True):
            text = "".join(json.dumps(r) + "\n" for r in rows)
            (data / f"{name}_{day.replace('-', '')}.jsonl").write_text(text)
    return local_lake(tmp_path, SOURCES, date.fromisoformat(DAYS[0]), data=data)


@pytest.fixture
def instance(tmp_path: Path):
    (tmp_path / "instance").mkdir()
    with cli_instance_for_test(tmp_path / "instance") as inst:
        yield inst


def counts(instance, key: dg.AssetKey, day: str) -> dict[str, int]:
    record = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[day]), limit=1
    ).records[0]
    meta = record.asset_materialization.metadata
    assert meta["dagster/row_count"].value == meta["dagster/partition_row_count"].value
    picked = {k: v.value for k, v in meta.items() if k.startswith("row_count/")}
    return (
        picked
        | {"dagster/partition_row_count": meta["dagster/partition_row_count"].value}
        | {"quarantined": meta["quarantined"].value}
    )


def materialize_days(lake: Lake, name: str, instance) -> None:
    for day in DAYS:
        layers = ("bronze", "silver")
        outcome = materialize_partition(lake, lake.spec(name), date.fromisoformat(day), layers, instance)
        assert outcome.error is None, outcome.error


def test_event_log_counts_its_events(lake: Lake, instance) -> None:
    materialize_days(lake, "events", instance)
    spec = lake.spec("events")
    assert counts(instance, spec.silver_key, DAYS[0]) == {
        "dagster/partition_row_count": 3,
        "row_count/events": 3,
        "row_count/recent_keys": 3,
        "quarantined": 0,
    }
    second = counts(instance, spec.silver_key, DAYS[1])
    assert second["dagster/partition_row_count"] == second["row_count/events"] == 1  # id 3 was re-delivered
    assert counts(instance, spec.bronze_key, DAYS[1]) == {
        "dagster/partition_row_count": 2,
        "row_count/data": 2,
        "quarantined": 0,
    }


def test_scd2_counts_its_history_and_current_and_quarantine(lake: Lake, instance) -> None:
    materialize_days(lake, "hist", instance)
    spec = lake.spec("hist")
    assert counts(instance, spec.silver_key, DAYS[0]) == {
        "dagster/partition_row_count": 2,
        "row_count/history": 2,
        "row_count/current": 2,
        "row_count/absorbed": 0,  # the state artifact of rows absorbed into a version: none here
        "quarantined": 0,
    }
    part = lake.committed(spec, "silver", DAYS[1])
    assert part is not None
    assert read_artifact(part, "history").height == 3  # what the counts below must say
    assert counts(instance, spec.silver_key, DAYS[1]) == {
        "dagster/partition_row_count": 3,
        "row_count/history": 3,
        "row_count/current": 2,
        "row_count/absorbed": 0,
        "quarantined": 1,
    }


def test_the_cli_shows_the_same_counts(lake: Lake, tmp_path: Path) -> None:
    config = str(tmp_path / "configs")
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "dagster_home")}

    def medallion(*args: str) -> str:
        done = subprocess.run(
            [MEDALLION, "--config-dir", config, *args], env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr + done.stdout
        return done.stdout

    run = medallion("run", "--date", DAYS[0], "--end-date", DAYS[1], "--select", "hist")
    assert f"[2/2] hist {DAYS[1]}: bronze 2 rows/1 files, silver 3 rows/" in run
    assert "/1 quarantined" in run
    shown = medallion("inspect", "hist", "--date", DAYS[1], "--layer", "silver")
    assert "rows 3 (history)  per artifact: history 3, current 2  quarantined 1" in shown
