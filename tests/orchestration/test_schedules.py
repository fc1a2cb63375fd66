"""Daily schedules: one per source or per group; a tick on day X loads partition X-1, Bronze then Silver."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medallion_assets.assets import partitions_def_for
from medallion_assets.errors import ConfigError
from medallion_assets.factory import build_definitions
from medallion_assets.lake import Lake
from medallion_assets.schedules import partition_for_tick
from medallion_assets.specs import SourceSpec, build_specs
from medallion_resources.lake.read import verify_partition

SOURCES = ("inventory_stock", "retail_customers", "retail_orders")


def _tick(defs: dg.Definitions, name: str, instance: dg.DagsterInstance, when: datetime):
    schedule = defs.resolve_schedule_def(name)
    context = dg.build_schedule_context(
        instance=instance, scheduled_execution_time=when, repository_def=defs.get_repository_def()
    )
    return schedule, schedule.evaluate_tick(context)


def test_one_stopped_daily_schedule_per_source_from_the_platform_default(sample_config) -> None:
    defs = build_definitions(sample_config())
    for source in SOURCES:
        schedule = defs.resolve_schedule_def(f"{source}_schedule")
        assert schedule.cron_schedule == "0 2 * * *"
        assert schedule.execution_timezone == "UTC"
        assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
        assert schedule.job_name == f"{source}_job"
        job = defs.resolve_job_def(f"{source}_job")
        assert job.tags["medallion/source"] == source


def test_a_tick_on_day_x_requests_partition_x_minus_1_of_its_source(sample_config, instance) -> None:
    defs = build_definitions(sample_config())
    _, result = _tick(defs, "retail_orders_schedule", instance, datetime(2025, 1, 5, 2, 0, tzinfo=UTC))
    [request] = result.run_requests
    assert request.partition_key == "2025-01-04"
    assert request.run_key == "retail_orders:2025-01-04"
    assert request.tags["medallion/source"] == "retail_orders"


def test_the_requested_run_loads_bronze_then_silver_of_x_minus_1(sample_config, instance) -> None:
    config = sample_config()
    defs = build_definitions(config)
    _, result = _tick(defs, "retail_customers_schedule", instance, datetime(2025, 1, 3, 2, 0, tzinfo=UTC))
    [request] = result.run_requests
    job = defs.resolve_job_def("retail_customers_job")
    # The day before first: Silver 2025-01-02 reads every Bronze day from the start date (no silent gaps).
    assert job.execute_in_process(instance=instance, partition_key="2025-01-01").success
    run = job.execute_in_process(instance=instance, partition_key=request.partition_key, tags=request.tags)
    assert run.success
    steps = [e.step_key for e in run.all_events if e.event_type == dg.DagsterEventType.STEP_SUCCESS]
    # Bronze, Silver, then the inputs_current check of Silver.
    assert [s.split("__")[0] for s in steps] == ["bronze", "silver", "silver"]
    assert steps[-1].endswith("_inputs_current")
    lake = Lake(config)
    spec = lake.spec("retail_customers")
    for layer in ("bronze", "silver"):
        part = lake.committed(spec, layer, "2025-01-02")
        assert part is not None and part.manifest.record_count > 0
        assert verify_partition(part) == []
        assert lake.committed(spec, layer, "2025-01-03") is None
    stored = instance.get_run_by_id(run.run_id)
    assert stored is not None and stored.tags["dagster/partition"] == "2025-01-02"
    assert stored.tags["medallion/source"] == "retail_customers"


def test_a_tick_before_the_first_partition_is_skipped(sample_config, instance) -> None:
    defs = build_definitions(sample_config())
    _, result = _tick(defs, "inventory_stock_schedule", instance, datetime(2025, 1, 1, 2, 0, tzinfo=UTC))
    assert not result.run_requests
    assert result.skip_message and "before the first partition (2025-01-01)" in result.skip_message


def test_source_schedule_overrides_the_default_with_its_own_cron_timezone_and_status(sample_config) -> None:
    def edit(entry: dict) -> None:
        if entry["name"] == "retail_orders":
            entry["schedule"] = {
                "cron": "30 1 * * *",
                "timezone": "Europe/Lisbon",
                "default_status": "running",
            }

    defs = build_definitions(sample_config(edit))
    schedule = defs.resolve_schedule_def("retail_orders_schedule")
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("30 1 * * *", "Europe/Lisbon")
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    other = defs.resolve_schedule_def("retail_customers_schedule")
    assert other.default_status == dg.DefaultScheduleStatus.STOPPED


def test_a_group_shares_one_schedule_with_one_run_per_source(sample_config, instance) -> None:
    def edit(entry: dict) -> None:
        if entry["name"].startswith("retail_"):
            entry["schedule"] = {"cron": "0 3 * * *", "group": "retail"}

    config = sample_config(edit)
    defs = build_definitions(config)
    names = {s.name for s in defs.schedules or []}
    others = {f"{spec.name}_schedule" for spec in build_specs(config)} - {
        "retail_customers_schedule",
        "retail_orders_schedule",
    }
    assert names == {"retail_group_schedule"} | others
    schedule, result = _tick(defs, "retail_group_schedule", instance, datetime(2025, 1, 8, 3, tzinfo=UTC))
    requests = {r.tags["medallion/source"]: r for r in result.run_requests}
    assert set(requests) == {"retail_customers", "retail_orders"}
    for source, request in requests.items():
        assert request.partition_key == "2025-01-07"
        prefix = "customers" if source == "retail_customers" else "orders"
        assert {k.path[-1] for k in request.asset_selection} == {prefix}
        assert len(request.asset_selection) == 2
    # The group's run requests are launchable: the implicit job resolves over the group's assets.
    job = defs.resolve_job_def(schedule.job_name)
    assert {k.path[-1] for k in job.asset_layer.executable_asset_keys} == {"customers", "orders"}


def test_group_members_with_different_partitions_are_a_config_error(sample_config) -> None:
    def edit(entry: dict) -> None:
        entry["schedule"] = {"group": "nightly"}
        if entry["name"] == "retail_orders":
            entry["partitions"] = {"start_date": "2025-01-02"}

    with pytest.raises(ConfigError, match=r"sources\[1\]\.schedule\.group: source 'retail_orders' is in"):
        sample_config(edit)


def test_group_name_must_be_a_valid_name(sample_config) -> None:
    def edit(entry: dict) -> None:
        entry["schedule"] = {"group": "Nightly Loads"}

    with pytest.raises(ConfigError, match=r"schedule group 'Nightly Loads' must match"):
        sample_config(edit)


@pytest.fixture
def orders_spec(sample_config) -> SourceSpec:
    return next(s for s in build_specs(sample_config()) if s.name == "retail_orders")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    tick=st.datetimes(min_value=datetime(2025, 2, 1), max_value=datetime(2027, 12, 31)),
    timezone=st.sampled_from(
        ["UTC", "Europe/Lisbon", "America/New_York", "Asia/Kolkata", "Pacific/Auckland"]
    ),
)
def test_the_partition_of_a_tick_is_the_last_day_that_has_fully_ended(
    orders_spec: SourceSpec, tick: datetime, timezone: str
) -> None:
    """Checked against Dagster's own time windows: the partition ends before the tick, less than a day."""
    spec = replace(orders_spec, partitions=orders_spec.partitions.model_copy(update={"timezone": timezone}))
    when = tick.replace(tzinfo=UTC)
    key = partition_for_tick(spec, when)
    window = partitions_def_for(spec).time_window_for_partition_key(key)
    assert window.end.date() == when.astimezone(ZoneInfo(timezone)).date()
    assert window.end <= when < window.end + timedelta(days=1, hours=1)  # +1h: a 25-hour DST day
