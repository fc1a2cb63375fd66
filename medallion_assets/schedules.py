"""One job per source, and daily schedules from config (DESIGN §8).

A source's job materializes its Bronze then its Silver asset for one partition; every run carries the
``medallion/source`` tag. A schedule tick on day X (in the partitions' timezone) requests partition X-1::

    platform:
      defaults:
        schedule: {cron: "0 2 * * *", default_status: stopped}   # every source, unless it sets its own
    sources:
      - name: retail_orders
        schedule: {cron: "30 1 * * *", timezone: Europe/Berlin, default_status: running, group: retail}

Sources sharing ``schedule.group`` share one schedule (the loader checks they agree on cron and partitions):
each tick requests one run per source of the group, so a failing source never holds back the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

from medallion_assets.specs import SourceSpec

__all__ = ["build_jobs", "build_schedules", "partition_for_tick"]


def build_jobs(specs: Sequence[SourceSpec]) -> list[dg.UnresolvedAssetJobDefinition]:
    """``<source>_job``: Bronze then Silver of one source, for one partition."""
    return [
        dg.define_asset_job(
            spec.job_name,
            selection=dg.AssetSelection.assets(spec.bronze_key, spec.silver_key),
            tags=spec.run_tags,
            description=f"Bronze then Silver of source '{spec.name}' for one run date.",
            # The two steps run one after the other: a process per step would only add start-up time.
            executor_def=dg.in_process_executor,
        )
        for spec in specs
    ]


def build_schedules(specs: Sequence[SourceSpec]) -> list[dg.ScheduleDefinition]:
    units: dict[str, list[SourceSpec]] = {}
    for spec in specs:
        if spec.schedule is not None:
            units.setdefault(spec.schedule_name, []).append(spec)
    return [_build_schedule(name, members) for name, members in units.items()]


def partition_for_tick(spec: SourceSpec, tick: datetime) -> str | None:
    """The partition a tick at ``tick`` loads: the day before the tick's date in the partitions' timezone.

    None when that day is before the first partition.
    """
    day = tick.astimezone(ZoneInfo(spec.partitions.timezone)).date() - timedelta(days=1)
    return None if day < spec.start_date else day.isoformat()


def _build_schedule(name: str, members: list[SourceSpec]) -> dg.ScheduleDefinition:
    first = members[0]
    schedule = first.schedule
    assert schedule is not None
    names = ", ".join(spec.name for spec in members)
    single = len(members) == 1
    # A group runs one implicit job over its assets (they share one partitions definition); each run
    # request selects one source's assets.
    keys = [key for spec in members for key in (spec.bronze_key, spec.silver_key)]

    @dg.schedule(
        cron_schedule=schedule.cron,
        name=name,
        execution_timezone=schedule.timezone or first.partitions.timezone,
        default_status=dg.DefaultScheduleStatus(schedule.default_status.upper()),
        description=f"Daily load of {names}: a tick on day X loads partition X-1 (Bronze, then Silver).",
        job_name=first.job_name if single else None,
        target=None if single else dg.AssetSelection.assets(*keys),
    )
    def _schedule(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest] | dg.SkipReason:
        return _requests(context, members, single=single)

    return _schedule


def _requests(
    context: dg.ScheduleEvaluationContext, members: list[SourceSpec], *, single: bool
) -> list[dg.RunRequest] | dg.SkipReason:
    tick = context.scheduled_execution_time or datetime.now(ZoneInfo("UTC"))
    requests = []
    for spec in members:
        key = partition_for_tick(spec, tick)
        if key is None:
            continue
        requests.append(
            dg.RunRequest(
                run_key=f"{spec.name}:{key}",
                partition_key=key,
                tags=spec.run_tags,
                asset_selection=None if single else [spec.bronze_key, spec.silver_key],
            )
        )
    if not requests:
        first = min(spec.start_date for spec in members)
        return dg.SkipReason(f"tick {tick.isoformat()} is before the first partition ({first.isoformat()})")
    return requests
