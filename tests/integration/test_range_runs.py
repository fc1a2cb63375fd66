"""A range run (a backfill of several partitions in one run) that fails part-way, on a real Dagster instance.

The sample data has files for 2025-01-01..10, so a range 01-07..11 of ``retail_orders`` fails on 01-11
("matched no files"). Each day that committed must be a materialization with its own metadata; only the
failing day (and, for a stateful Silver model, the days after it) may show as failed; the step's error
must name the root cause first, not Dagster's wrapper.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from medallion_assets.assets import build_assets
from medallion_assets.lake import Lake
from medallion_assets.specs import SourceSpec
from tests.instances import cli_instance_for_test

pytestmark = pytest.mark.slow
RANGE = [f"2025-01-{d:02d}" for d in range(7, 12)]
FIRST_DAYS = [f"2025-01-{d:02d}" for d in range(1, 5)]  # from the start date: no state to rebuild
MATERIALIZED = dg.AssetPartitionStatus.MATERIALIZED
FAILED = dg.AssetPartitionStatus.FAILED


@pytest.fixture
def instance(tmp_path: Path):
    (tmp_path / "instance").mkdir()
    with cli_instance_for_test(tmp_path / "instance") as inst:
        yield inst


@pytest.fixture
def orders_dir(sample_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lake_env) -> Path:
    """A private copy of the sample files (tests delete days from it), used by the embedded config."""
    copy = tmp_path / "sample"
    shutil.copytree(sample_dir, copy)
    monkeypatch.setenv("MEDALLION_SAMPLE_DIR", str(copy))
    return copy / "retail" / "orders"


def run_range(lake: Lake, spec: SourceSpec, keys: Sequence[str], layers: Sequence[str], instance):
    assets = build_assets([spec], lake.config.platform)
    selection = {"bronze": spec.bronze_key, "silver": spec.silver_key}
    return dg.materialize(
        assets,
        selection=[selection[layer] for layer in layers],
        instance=instance,
        resources={"bronze_io_manager": lake.bronze, "silver_io_manager": lake.silver},
        tags={
            "dagster/asset_partition_range_start": keys[0],
            "dagster/asset_partition_range_end": keys[-1],
        },
        raise_on_error=False,
    )


def statuses(lake: Lake, spec: SourceSpec, key: dg.AssetKey, keys: Sequence[str], instance) -> dict:
    partitions_def = build_assets([spec], lake.config.platform)[0].partitions_def
    return dict(instance.get_status_by_partition(key, list(keys), partitions_def) or {})


def latest_partition_materialization(instance, key: dg.AssetKey, partition: str):
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=1
    ).records
    return records[0].asset_materialization if records else None


def step_failure(result: dg.ExecuteInProcessResult):
    failures = [e for e in result.all_events if e.is_step_failure]
    assert len(failures) == 1, [e.step_key for e in failures]
    return failures[0].step_failure_data


def test_a_failed_bronze_range_reports_every_day_it_committed(orders_dir: Path, instance) -> None:
    lake = Lake.load()
    spec = lake.spec("retail_orders")
    result = run_range(lake, spec, RANGE, ["bronze"], instance)
    assert not result.success

    # The lake committed 01-07..10; each is a materialization with its own metadata.
    events = {
        e.materialization.partition: e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    assert sorted(events) == RANGE[:4]
    for day in RANGE[:4]:
        part = lake.committed(spec, "bronze", day)
        assert part is not None
        lines = (orders_dir / f"orders_{day.replace('-', '')}.jsonl").read_text().splitlines()
        assert events[day]["dagster/partition_row_count"].value == len([x for x in lines if x]) > 0
        assert events[day]["manifest_sha256"].value == part.manifest.sha256
        stored = latest_partition_materialization(instance, spec.bronze_key, day)
        assert stored is not None and stored.metadata["manifest_sha256"].value == part.manifest.sha256
    assert lake.committed(spec, "bronze", RANGE[4]) is None
    assert latest_partition_materialization(instance, spec.bronze_key, RANGE[4]) is None

    # Only the failing day is failed in the instance.
    assert statuses(lake, spec, spec.bronze_key, RANGE, instance) == {
        **{day: MATERIALIZED for day in RANGE[:4]},
        RANGE[4]: FAILED,
    }

    # The error names the root cause first (not DagsterExecutionHandleOutputError).
    data = step_failure(result)
    first_line = data.error.message.split(": ", 1)[1].splitlines()[0]
    assert "matched no files" in first_line and "2025-01-11" in first_line, data.error.message
    assert "Dagster" not in data.error.cls_name
    assert data.user_failure_data is not None
    assert data.user_failure_data.description.splitlines()[0] == first_line
    assert "2025-01-07" in data.error.message and "2025-01-10" in data.error.message  # the committed days


def test_a_stateless_range_carries_on_past_a_failing_day(orders_dir: Path, instance) -> None:
    (orders_dir / "orders_20250109.jsonl").unlink()
    lake = Lake.load()
    spec = lake.spec("retail_orders")
    result = run_range(lake, spec, RANGE[:4], ["bronze"], instance)
    assert not result.success
    ok = [RANGE[0], RANGE[1], RANGE[3]]
    assert sorted(e.materialization.partition for e in result.get_asset_materialization_events()) == ok
    for day in ok:
        assert lake.committed(spec, "bronze", day) is not None
    assert statuses(lake, spec, spec.bronze_key, RANGE[:4], instance) == {
        **{day: MATERIALIZED for day in ok},
        RANGE[2]: FAILED,
    }
    assert "2025-01-09" in step_failure(result).error.message.splitlines()[0]


def test_a_stateful_silver_range_fails_the_failing_day_and_the_days_after(orders_dir: Path, instance) -> None:
    (orders_dir / "orders_20250109.jsonl").unlink()
    lake = Lake.load()
    spec = lake.spec("retail_orders")  # scd_type_1: Silver D is built from Silver D-1
    days = [f"2025-01-{d:02d}" for d in range(1, 11)]
    bronze = run_range(lake, spec, days, ["bronze"], instance)
    assert not bronze.success  # 01-09 has no file

    result = run_range(lake, spec, RANGE[:4], ["silver"], instance)
    assert not result.success
    silver = [
        e.materialization for e in result.get_asset_materialization_events() if e.asset_key == spec.silver_key
    ]
    assert sorted(m.partition for m in silver) == RANGE[:2]
    for m in silver:
        part = lake.committed(spec, "silver", m.partition)
        assert part is not None and m.metadata["manifest_sha256"].value == part.manifest.sha256
    assert lake.committed(spec, "silver", RANGE[3]) is None  # not built on top of a missing day
    assert statuses(lake, spec, spec.silver_key, RANGE[:4], instance) == {
        RANGE[0]: MATERIALIZED,
        RANGE[1]: MATERIALIZED,
        RANGE[2]: FAILED,
        RANGE[3]: FAILED,
    }
    # The check results of the committed days are in the event log, one set per day.
    checks = [
        e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    verified = {c.partition for c in checks if c.check_name == "manifest_verified" and c.passed}
    assert verified == set(RANGE[:2])
    message = step_failure(result).error.message
    assert "2025-01-09" in message.splitlines()[0], message
    assert "2025-01-10" in message  # named as not run


def test_a_whole_range_still_reports_one_materialization_per_day(orders_dir: Path, instance) -> None:
    lake = Lake.load()
    spec = lake.spec("retail_orders")
    result = run_range(lake, spec, FIRST_DAYS, ["bronze", "silver"], instance)
    assert result.success
    for key in (spec.bronze_key, spec.silver_key):
        partitions = [
            e.materialization.partition
            for e in result.get_asset_materialization_events()
            if e.asset_key == key
        ]
        assert sorted(partitions) == FIRST_DAYS  # once each
    assert statuses(lake, spec, spec.silver_key, FIRST_DAYS, instance) == {
        d: MATERIALIZED for d in FIRST_DAYS
    }


def test_the_cli_reports_what_committed_and_the_root_cause(orders_dir: Path, lake_env) -> None:
    medallion = str(Path(sys.executable).parent / "medallion")
    args = ["run", "--date", "2025-01-10", "--end-date", "2025-01-11", "--select", "retail_orders"]
    done = subprocess.run(
        [medallion, *args], env=dict(os.environ), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.startswith("[")]
    rows = len([x for x in (orders_dir / "orders_20250110.jsonl").read_text().splitlines() if x])
    # Day 10: Bronze committed, Silver cannot rebuild (Bronze 01..09 were never loaded in this lake).
    assert lines[0].startswith(
        f"[1/2] retail_orders 2025-01-10: bronze {rows} rows/1 files committed; silver FAILED"
    )
    assert "SilverInputError: Silver retail_orders for 2025-01-10" in lines[0]
    # Day 11: the root cause, with the layer that failed and the one that did not run.
    assert lines[1].startswith("[2/2] retail_orders 2025-01-11: bronze FAILED")
    assert ": ExtractError: source 'retail_orders'" in lines[1] and "matched no files" in lines[1]
    assert lines[1].endswith("; silver not run")
    assert "2 partition run(s) failed; 1 layer partition(s) committed" in done.stderr


def test_one_run_per_partition_also_names_the_root_cause_first(orders_dir: Path, instance) -> None:
    lake = Lake.load()
    spec = lake.spec("retail_orders")
    result = dg.materialize(
        build_assets([spec], lake.config.platform),
        selection=[spec.bronze_key],
        partition_key=RANGE[4],
        instance=instance,
        resources={"bronze_io_manager": lake.bronze, "silver_io_manager": lake.silver},
        raise_on_error=False,
    )
    error = step_failure(result).error
    assert "Dagster" not in error.cls_name, error.cls_name  # not DagsterExecutionHandleOutputError
    first_line = error.message.split(": ", 1)[1].splitlines()[0]
    assert "matched no files" in first_line and RANGE[4] in first_line
    assert error.cause is not None and error.cause.cls_name == "ExtractError"
    # Silver's own errors, raised in the asset body, too (here: a rebuild over missing Bronze days).
    silver = dg.materialize(
        build_assets([spec], lake.config.platform),
        selection=[spec.silver_key],
        partition_key=RANGE[0],
        instance=instance,
        resources={"bronze_io_manager": lake.bronze, "silver_io_manager": lake.silver},
        raise_on_error=False,
    )
    error = step_failure(silver).error
    assert "Dagster" not in error.cls_name, error.cls_name  # not DagsterExecutionStepExecutionError
    assert error.message.split(": ", 1)[1].startswith(f"Silver retail_orders for {RANGE[0]}"), error.message


def test_the_runner_builds_a_sources_job_from_that_source_alone(
    orders_dir: Path, instance, monkeypatch: pytest.MonkeyPatch
) -> None:
    from medallion_assets import factory
    from medallion_assets.runner import NullObserver, SourceRunner

    built: list[int] = []
    build = factory.build_definitions

    def counting(config, *args):  # the real build, recording how many sources it was given
        built.append(len(config.sources))
        return build(config, *args)

    monkeypatch.setattr(factory, "build_definitions", counting)
    lake = Lake.load()
    assert len(lake.specs) > 1  # the embedded config has other sources
    spec = lake.spec("retail_orders")
    runner = SourceRunner(lake, instance, ("bronze", "silver"))
    first = date(2025, 1, 1)
    [day] = runner.run(spec, first, first, NullObserver())
    assert day.ok, day.failed
    assert day.committed["bronze"].rows > 0 and day.committed["silver"].rows > 0
    assert runner.job(spec).name == spec.job_name
    assert built == [1]  # one build, of this source only, reused by later runs of it


def test_a_run_that_fails_outside_its_steps_gives_each_day_the_runs_error(tmp_path: Path, lake_env) -> None:
    """A run-level failure (here: the instance's run coordinator does not import, and every run loads it)
    has no step failure: each day's outcome is the run's own error, not a bare 'not committed'."""
    from medallion_assets.runner import materialize_partition

    lake = Lake.load()
    spec = lake.spec("retail_orders")
    (tmp_path / "broken").mkdir()
    overrides = {"run_coordinator": {"module": "medallion_no_such_module", "class": "Coordinator"}}
    with dg.instance_for_test(temp_dir=str(tmp_path / "broken"), overrides=overrides) as inst:
        outcome = materialize_partition(lake, spec, date(2025, 1, 1), ("bronze", "silver"), inst)
    assert outcome.failed_layer == "bronze"
    assert outcome.error is not None and "medallion_no_such_module" in outcome.error, outcome.error


def test_later_ranges_skip_a_stateful_silver_that_builds_on_a_failed_day(
    orders_dir: Path, instance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A range longer than one run (31 days; 3 here) whose first run fails Bronze on a day: the later runs
    land Bronze, and the stateful Silver of their days is "not run" naming that day, as within one run,
    not a step run to fail on the missing Silver day."""
    from functools import partial

    from medallion_assets import runner as runner_module
    from medallion_assets.plan import day_ranges
    from medallion_assets.runner import NullObserver, SourceRunner

    monkeypatch.setattr(runner_module, "day_ranges", partial(day_ranges, size=3))
    (orders_dir / "orders_20250103.jsonl").unlink()
    lake = Lake.load()
    spec = lake.spec("retail_orders")
    assert spec.stateful
    runner = SourceRunner(lake, instance, ("bronze", "silver"))
    days = runner.run(spec, date(2025, 1, 1), date(2025, 1, 6), NullObserver())
    assert [sorted(d.committed) for d in days] == [["bronze", "silver"]] * 2 + [[]] + [["bronze"]] * 3
    assert "matched no files" in days[2].failed["bronze"] and days[2].not_run == ["silver"]
    for day in days[3:]:
        assert "not run" in day.failed["silver"] and "2025-01-03" in day.failed["silver"], day.failed
    # What the command prints for such a day: "not run" and why, not a failure of its own.
    from medallion_assets.cli_display import day_line, summary_rows

    line = day_line("[5/6]", spec.name, days[4], ("bronze", "silver"))
    assert line.endswith("committed; silver not run: it builds on a failed day (2025-01-03)"), line
    statuses = {
        (row[1], row[2]): row[-1] for row in summary_rows([(spec, d) for d in days], ("bronze", "silver"))
    }
    assert statuses[("2025-01-03", "bronze")] == "FAILED"
    assert [statuses[(f"2025-01-0{d}", "silver")] for d in (3, 4, 5, 6)] == ["not run"] * 4
    # `medallion status` gives those days to the repair: failed, building on the failed day.
    from medallion_assets.status import day_statuses

    rows = day_statuses(spec, lake.bronze, lake.silver, instance)
    assert [(str(r.day), r.bronze, r.silver) for r in rows if r.problem] == [
        ("2025-01-03", "failed", "failed"),
        *[(f"2025-01-0{d}", "committed", "failed") for d in (4, 5, 6)],
    ]
    assert "it builds on a failed day (2025-01-03)" in rows[5].notes[-1], rows[5].notes
    silver_runs = [r for r in instance.get_runs() if spec.silver_key in (r.asset_selection or set())]
    assert len(silver_runs) == 2  # the first range and its Silver-only follow-up for days 1-2: no later one
