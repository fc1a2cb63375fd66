"""scd_type_2, cdc and event_log through Dagster: day by day equals a rebuild from Bronze.

Lake A materializes four days of Bronze and Silver day by day (incremental: Silver D from Silver D-1).
Lake B gets a copy of A's Bronze and materializes Silver of the last day alone, which must rebuild from
Bronze. Every Silver artifact must be equal.
"""

from __future__ import annotations

import json
import shutil
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from medallion_assets.assets import build_assets
from medallion_assets.lake import Lake
from medallion_assets.runner import materialize_partition
from medallion_resources.lake.read import read_artifact
from tests.instances import cli_instance_for_test
from tests.integration._lake import local_lake

pytestmark = pytest.mark.slow
DAYS = [date(2025, 1, 1) + timedelta(days=i) for i in range(4)]

# Per day, per source: the rows of the day's file.
FILES = {
    "hist": [
        [{"id": 1, "v": "a", "ts": "2024-12-31T10:00:00"}, {"id": 2, "v": "b", "ts": "2024-12-31T10:00:00"}],
        [{"id": 1, "v": "c", "ts": "2025-01-02T09:00:00"}, {"id": 1, "v": "z", "ts": "2024-12-31T12:00:00"}],
        [{"id": 1, "v": "c", "ts": "2025-01-02T09:00:00"}, {"id": 2, "v": "b", "ts": "2024-12-31T10:00:00"}],
        [{"id": 2, "v": "d", "ts": "2025-01-04T08:00:00"}, {"id": 3, "v": "e", "ts": "2025-01-04T08:00:00"}],
    ],
    "ops": [
        [{"id": 1, "v": "a", "lsn": 1, "op": "I"}, {"id": 2, "v": "b", "lsn": 2, "op": "I"}],
        [{"id": 1, "v": "c", "lsn": 5, "op": "U"}, {"id": 2, "v": None, "lsn": 6, "op": "D"}],
        [{"id": 1, "v": "old", "lsn": 3, "op": "U"}, {"id": 2, "v": "late", "lsn": 4, "op": "U"}],
        [{"id": 3, "v": "x", "lsn": 9, "op": "X"}, {"id": 1, "v": "c", "lsn": 5, "op": "U"}],
    ],
    "events": [
        [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}, {"id": 2, "v": "b"}],
        [{"id": 1, "v": "a"}, {"id": 3, "v": "c"}],
        [{"id": 4, "v": "d"}],
        [{"id": 1, "v": "a"}, {"id": 3, "v": "c"}],
    ],
}

SOURCES = [
    {
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
    },
    {
        "name": "ops",
        "source": {
            "system": "t",
            "table": "ops",
            "type": "file",
            "file": {"path": "{data}/ops_{run_date:%Y%m%d}.jsonl"},
            "run": {"load_pattern": "cdc"},
        },
        "silver": {
            "primary_keys": ["id"],
            "order_column": "lsn",
            "delete_mode": "hard_delete",
            "cdc": {"keep_history": True},
            "error_handling": {"max_bad_records": 5},
        },
    },
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
]


def make_lake(root: Path, data: Path) -> Lake:
    return local_lake(root, SOURCES, DAYS[0], data=data)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    for name, days in FILES.items():
        for day, rows in zip(DAYS, days, strict=True):
            text = "".join(json.dumps(r) + "\n" for r in rows)
            (folder / f"{name}_{day:%Y%m%d}.jsonl").write_text(text)
    return folder


@pytest.fixture
def instance(tmp_path: Path):
    (tmp_path / "instance").mkdir()
    with cli_instance_for_test(tmp_path / "instance") as inst:
        yield inst


def artifacts(lake: Lake, name: str, day: date) -> dict[str, pl.DataFrame]:
    part = lake.committed(lake.spec(name), "silver", day)
    assert part is not None
    return {a: read_artifact(part, a) for a in part.metadata["rows_out"]}


def test_day_by_day_equals_rebuild_from_bronze(tmp_path: Path, data: Path, instance) -> None:
    incremental = make_lake(tmp_path / "a", data)
    rebuilt = make_lake(tmp_path / "b", data)
    for name in ("hist", "ops", "events"):
        for day in DAYS:
            outcome = materialize_partition(
                incremental, incremental.spec(name), day, ("bronze", "silver"), instance
            )
            assert outcome.error is None, outcome.error
    shutil.copytree(tmp_path / "a" / "lake" / "bronze", tmp_path / "b" / "lake" / "bronze")  # same Bronze
    for name in ("hist", "ops", "events"):
        outcome = materialize_partition(rebuilt, rebuilt.spec(name), DAYS[-1], ("silver",), instance)
        assert outcome.error is None, outcome.error
        assert rebuilt.committed(rebuilt.spec(name), "silver", DAYS[-1]).metadata["previous_state"] == (
            "rebuilt_from_bronze"
        )
        got, want = artifacts(rebuilt, name, DAYS[-1]), artifacts(incremental, name, DAYS[-1])
        assert got.keys() == want.keys() and got
        for artifact in want:
            assert got[artifact].equals(want[artifact]), (name, artifact)

    history = artifacts(incremental, "hist", DAYS[-1])["history"]
    assert history.select("id", "v", "is_current", "_deleted").rows() == [
        (1, "a", False, False),
        (1, "z", False, False),  # the late version of day 2, inserted into the chain
        (1, "c", False, False),
        (1, "c", False, True),  # id 1 missing from the day-4 snapshot: tombstoned at the window end
        (2, "b", False, False),
        (2, "b", False, True),  # missing on day 2
        (2, "b", False, False),  # back on day 3: a new version after the delete
        (2, "d", True, False),
        (3, "e", True, False),
    ]
    ops = artifacts(incremental, "ops", DAYS[-1])
    assert ops["current"].select("id", "v", "lsn").rows() == [(1, "c", 5)]  # late lsn 3 never wins
    assert ops["history"].select("id", "v", "effective_from", "effective_to").rows() == [
        (1, "a", 1, 3),
        (1, "old", 3, 5),
        (1, "c", 5, None),
        (2, "b", 2, 4),
        (2, "late", 4, 6),  # closed by the hard delete at lsn 6
    ]
    ops_day4 = incremental.committed(incremental.spec("ops"), "silver", DAYS[-1])
    assert ops_day4.metadata["quarantined"] == 1  # the unknown op code X
    events = [artifacts(incremental, "events", d)["events"]["id"].to_list() for d in DAYS]
    assert events == [[1, 2], [3], [4], [1]]  # id 3 on day 4 is within the 2-day lookback, id 1 is not


def test_a_range_in_one_run_equals_day_by_day(tmp_path: Path, data: Path, instance) -> None:
    by_day = make_lake(tmp_path / "a", data)
    ranged = make_lake(tmp_path / "c", data)
    for name in ("hist", "ops", "events"):
        for day in DAYS:
            outcome = materialize_partition(by_day, by_day.spec(name), day, ("bronze", "silver"), instance)
            assert outcome.error is None, outcome.error

    # Every Bronze and Silver asset, all four days, in a single run.
    result = dg.materialize(
        build_assets(list(ranged.specs.values()), ranged.config.platform),
        instance=instance,
        resources={"bronze_io_manager": ranged.bronze, "silver_io_manager": ranged.silver},
        tags={
            "dagster/asset_partition_range_start": DAYS[0].isoformat(),
            "dagster/asset_partition_range_end": DAYS[-1].isoformat(),
        },
        raise_on_error=False,
    )
    assert result.success
    for name in ("hist", "ops", "events"):
        for day in DAYS:
            got, want = artifacts(ranged, name, day), artifacts(by_day, name, day)
            assert got.keys() == want.keys()
            for artifact in want:  # _extracted_at is when each lake's Bronze ran
                assert (
                    got[artifact]
                    .drop("_extracted_at", strict=False)
                    .equals(want[artifact].drop("_extracted_at", strict=False))
                ), (name, day, artifact)

    # One materialization per partition, each with its own metadata, and the checks per partition.
    key = ranged.spec("ops").silver_key
    events = [
        e.materialization
        for e in result.get_asset_materialization_events()
        if e.materialization.asset_key == key
    ]
    rows_in = {m.partition: m.metadata["rows_in"].value for m in events}
    assert rows_in == {d.isoformat(): len(FILES["ops"][i]) for i, d in enumerate(DAYS)}
    checks = [
        e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    ops_checks = {(c.partition, c.check_name): c.passed for c in checks if c.asset_key == key}
    assert ops_checks[(DAYS[1].isoformat(), "scd2_windows")] is True
    assert ops_checks[(DAYS[3].isoformat(), "reconciliation")] is True
    assert ops_checks[(DAYS[3].isoformat(), "manifest_verified")] is True
    assert len(ops_checks) == 4 * 7
