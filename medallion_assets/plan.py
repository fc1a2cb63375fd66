"""What ``medallion run`` (or a UI backfill) of a source over a date range would do, without running it.

``medallion plan NAME --date D --end-date E`` reads the lake only: which days are already committed in each
layer (a run replaces them), which Bronze days are missing (the run extracts them; a Silver-only run fails
on them), where a stateful Silver model's state before D comes from (Silver D-1, a rebuild over Bronze
``start..D-1``, or nowhere: the first partition) and whether that can work, where an incremental Bronze
load's watermark comes from, and the Dagster runs the range takes (one per source per up to 31 days).
A state read from a stale Silver D-1 (:mod:`medallion_assets.staleness`) is a problem too: every day the
run writes would build on it, so the repair is ``status``'s: Silver again from the first stale day.

A range that replaces committed days can also leave *later* committed days stale without failing: Silver
D+1.. of a stateful model built on the Silver D it replaces, or Silver D itself when Bronze D is extracted
again without it. The plan names them (``stale_after``) and the run that rebuilds them afterwards
(``follow_up``: the repair ``status`` prints once the range has run), judged by the same verdict on the lake
as it will be after the run.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from medallion_assets.assets.backfill import MAX_PARTITIONS_PER_RUN
from medallion_assets.lake import Lake
from medallion_assets.specs import SourceSpec
from medallion_assets.staleness import REBUILT, committed_records, days_between, staleness_of
from medallion_resources.lake.committed_cache import CommitRecord
from medallion_resources.lake.manifest import commits_sha256

__all__ = [
    "Plan",
    "RunPlan",
    "clip_to_partitions",
    "day_ranges",
    "last_partition",
    "plan_range",
    "replaces_committed",
    "stateful_start",
]


@dataclass(frozen=True)
class RunPlan:
    first: date
    last: date
    days: int


@dataclass
class Plan:
    source: str
    job: str
    model: str
    stateful: bool
    load_pattern: str
    layers: tuple[str, ...]
    requested: tuple[date, date]
    first: date
    last: date
    skipped_before_start: int  # requested days before the source's start date
    skipped_after_end: int  # requested days after its last partition (not over yet)
    runs: list[RunPlan]
    bronze_committed: list[date] = field(default_factory=list)  # in the range: loaded again
    bronze_missing: list[date] = field(default_factory=list)  # in the range: not committed
    silver_committed: list[date] = field(default_factory=list)
    state: str = ""  # where Silver's state before the first day comes from
    stale: list[date] = field(default_factory=list)  # stale Silver days before the range the state builds on
    state_missing: list[date] = field(default_factory=list)  # Bronze days a rebuild needs and lacks
    watermark_from: date | None = None  # the committed Bronze day an incremental load reads
    problems: list[str] = field(default_factory=list)  # what would make the run fail
    repair: str | None = None  # the smallest run that would not fail that way, when one does
    stale_after: list[date] = field(default_factory=list)  # committed Silver days the run would leave stale
    afterwards: str | None = None  # why they would be stale, in a sentence
    follow_up: str | None = None  # the run that rebuilds them once this one has run (status's repair then)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        return _iso(data)


def day_ranges(first: date, last: date, size: int = MAX_PARTITIONS_PER_RUN) -> list[tuple[date, date]]:
    """``first..last`` cut into consecutive ranges of at most ``size`` days (one Dagster run each)."""
    ranges = []
    while first <= last:
        end = min(last, first + timedelta(days=size - 1))
        ranges.append((first, end))
        first = end + timedelta(days=1)
    return ranges


def last_partition(spec: SourceSpec, now: datetime | None = None) -> date:
    """The source's last partition, as its ``DailyPartitionsDefinition`` has it: the last day that is over
    in the partitions' timezone, plus ``end_offset`` days (1: today's, still open)."""
    today = (now or datetime.now(UTC)).astimezone(ZoneInfo(spec.partitions.timezone)).date()
    return today - timedelta(days=1) + timedelta(days=spec.partitions.end_offset)


def clip_to_partitions(
    spec: SourceSpec, first: date, last: date, now: datetime | None = None
) -> tuple[date, date] | None:
    """The part of ``first..last`` that is partitions of the source (from its start date to its last
    partition); None when there is none."""
    start, end = max(first, spec.start_date), min(last, last_partition(spec, now))
    return (start, end) if start <= end else None


def stateful_start(
    day: date, start_date: date, silver: Mapping[date, bool], bronze: Collection[date]
) -> date:
    """The latest day from which one run (Bronze and Silver) of a stateful model up to ``day`` works.

    Silver D reads Silver D-1 when it is committed, else rebuilds its state from every Bronze day from the
    start date to D-1. So a run from S works when S is the start date, Silver S-1 is committed and current
    (``silver[S-1]`` True), or Silver S-1 is not committed at all (absent from ``silver``) and every Bronze
    day before S is. A Silver day committed but not to be read (stale, failed) has no such way out: the
    run starts before it."""
    gaps = (start_date + timedelta(days=i) for i in range((day - start_date).days))
    first_gap = next((d for d in gaps if d not in bronze), None)
    first = day
    while first > start_date:
        before = first - timedelta(days=1)
        if silver.get(before) is True:
            break
        if before not in silver and (first_gap is None or first_gap >= first):
            break
        first = before
    return first


def plan_range(lake: Lake, spec: SourceSpec, first: date, last: date, layers: tuple[str, ...]) -> Plan | None:
    """The plan of ``first..last``; None when no day of the range is a partition of the source."""
    clipped = clip_to_partitions(spec, first, last)
    if clipped is None:
        return None
    start, end = clipped
    days = _days(start, end)
    plan = Plan(
        source=spec.name,
        job=spec.job_name,
        model=spec.model,
        stateful=spec.stateful,
        load_pattern=spec.load_pattern,
        layers=layers,
        requested=(first, last),
        first=start,
        last=end,
        skipped_before_start=(start - first).days,
        skipped_after_end=(last - end).days,
        runs=[RunPlan(a, b, (b - a).days + 1) for a, b in day_ranges(start, end)],
    )
    # A range that replaces a committed day may leave later days stale: read the lake past it then.
    replaces = replaces_committed(lake, spec, start, end, layers)
    horizon = max(end, last_partition(spec)) if replaces else end
    unreadable: dict[str, dict[date, str]] = {"bronze": {}, "silver": {}}  # damaged commits: read around
    bronze_parts = dict(
        committed_records(lake.bronze, spec.bronze_path, spec.start_date, horizon, unreadable["bronze"])
    )
    silver_parts = dict(
        committed_records(lake.silver, spec.silver_path, spec.start_date, horizon, unreadable["silver"])
    )
    bronze, silver = set(bronze_parts), set(silver_parts)
    stale = staleness_of(spec, bronze_parts, silver_parts, unreadable)  # committed day -> why stale, or None
    current = {day: not reason for day, reason in stale.items()}
    plan.bronze_committed = [d for d in days if d in bronze]
    plan.bronze_missing = [d for d in days if d not in bronze]
    plan.silver_committed = [d for d in days if d in silver]
    if "bronze" in layers and spec.load_pattern != "full":
        plan.watermark_from = max((d for d in bronze if d < start), default=None)
    if "silver" in layers:
        _silver_state(plan, spec, start, bronze, stale, current, unreadable["silver"])
        if "bronze" not in layers and plan.bronze_missing:
            after = " and every later day (the model builds on the day before)" if spec.stateful else ""
            plan.problems.append(
                f"Silver only: Bronze is missing on {_dates(plan.bronze_missing)}, so Silver fails those "
                f"days{after}; load Bronze first"
            )
    damaged = _damaged_reads(plan, spec, start, layers, unreadable)
    if damaged is not None:  # the run would fail reading it: run from it (both layers replace it)
        plan.repair = f"medallion run --date {damaged} --end-date {end} --select {spec.name}"
    elif plan.stale:  # status's repair: again from where the stale state can come from; then the range
        # That is the first stale day, or earlier when a rebuild of it would lack a Bronze day (a gap).
        first, before = stateful_start(start, spec.start_date, current, bronze), start - timedelta(days=1)
        silver_only = all(d in bronze for d in _days(first, before))
        plan.repair = f"medallion run --date {first} --end-date {before} --select {spec.name}"
        plan.repair += " --layer silver" if silver_only else ""
    elif plan.problems:  # the run of both layers from the day its Silver state can come from
        first = stateful_start(start, spec.start_date, current, bronze) if spec.stateful else start
        plan.repair = f"medallion run --date {first} --end-date {end} --select {spec.name}"
    if replaces:
        _stale_after(plan, spec, layers, bronze_parts, silver_parts)
    return plan


def _damaged_reads(
    plan: Plan,
    spec: SourceSpec,
    start: date,
    layers: tuple[str, ...],
    unreadable: Mapping[str, Mapping[date, str]],
) -> date | None:
    """Problems for the damaged commits before the range that the run reads (a stateful model's state and
    its rebuild, an incremental load's watermark); the first of them, or None. Those in the range are
    replaced, and those after it are not read by what the plan judges."""
    reads = set()
    if "silver" in layers and spec.stateful:
        reads |= {"bronze", "silver"}
    if "bronze" in layers and spec.load_pattern != "full":
        reads.add("bronze")
    found = sorted((day, layer) for layer in reads for day in unreadable[layer] if day < start)
    for day, layer in found:
        plan.problems.append(
            f"{layer.capitalize()} {day}: its commit cannot be read ({unreadable[layer][day]}); the run "
            f"reads it and would fail: run {day} again first (both layers), then this range"
        )
    return found[0][0] if found else None


def replaces_committed(lake: Lake, spec: SourceSpec, start: date, end: date, layers: tuple[str, ...]) -> bool:
    """Whether the range commits again a day committed now (a partition listing, no manifest read)."""
    for layer in layers:
        io, path = lake.io(layer), lake.dataset_path(spec, layer)
        if any(start <= date.fromisoformat(key) <= end for key in io.partition_dates(path)):
            return True
    return False


def _stale_after(
    plan: Plan,
    spec: SourceSpec,
    layers: tuple[str, ...],
    bronze_parts: Mapping[date, CommitRecord],
    silver_parts: Mapping[date, CommitRecord],
) -> None:
    """The committed Silver days the run would leave stale (those it does not write; stale now or not),
    and the run that rebuilds them afterwards: the verdict of :mod:`~medallion_assets.staleness` on the
    lake as the run would leave it, each day it commits standing for a new commit read by the days it
    writes."""
    bronze, silver = dict(bronze_parts), dict(silver_parts)
    written: set[date] = set()
    for day in _days(plan.first, plan.last):
        if "bronze" in layers:
            bronze[day] = CommitRecord("", f"planned bronze {day}", "", {})
        if "silver" not in layers:
            continue
        meta = _lineage_of_run(spec, day, bronze, silver)
        if meta is None:  # the day fails (a problem the plan lists); a stateful model stops there
            if spec.stateful:
                break
            continue
        silver[day] = CommitRecord("", f"planned silver {day}", "", meta)
        written.add(day)
    after = staleness_of(spec, bronze, dict(sorted(silver.items())))
    plan.stale_after = [d for d, why in after.items() if why and d not in written]
    if not plan.stale_after:
        return
    first, last = plan.stale_after[0], plan.stale_after[-1]
    span = str(first) if first == last else f"{first}..{last}"
    why = (
        "they build on the Silver days the run replaces"
        if "silver" in layers
        else "the run commits their Bronze again (or that of the days they build on) and not their Silver"
    )
    plan.afterwards = (
        f"Silver {span} ({len(plan.stale_after)} day(s), committed) will be stale: {why}; rebuild them once "
        f"the run is done"
    )
    if spec.stateful:  # where their state can come from once the run has committed its days
        current = {d: not why for d, why in after.items() if d < first}
        first = stateful_start(first, spec.start_date, current, set(bronze))
    silver_only = all(d in bronze for d in _days(first, last))
    plan.follow_up = f"medallion run --date {first} --end-date {last} --select {spec.name}"
    plan.follow_up += " --layer silver" if silver_only else ""


def _lineage_of_run(
    spec: SourceSpec, day: date, bronze: Mapping[date, CommitRecord], silver: Mapping[date, CommitRecord]
) -> dict[str, str] | None:
    """What a run's Silver ``day`` would record it read (the lineage keys of its metadata); None when the
    day would fail (no Bronze ``day``; a stateful rebuild lacking a Bronze day)."""
    if day not in bronze:
        return None
    meta = {"bronze_manifest_sha256": bronze[day].manifest_sha256}
    if not spec.stateful or day == spec.start_date:
        return meta
    before = day - timedelta(days=1)
    if before in silver:
        return meta | {
            "previous_state": before.isoformat(),
            "previous_state_sha256": silver[before].manifest_sha256,
        }
    folded = list(days_between(spec.start_date, day))
    if any(d not in bronze for d in folded):
        return None
    digest = commits_sha256((d.isoformat(), bronze[d].manifest_sha256) for d in folded)
    return meta | {"previous_state": REBUILT, "previous_state_sha256": digest}


def _days(first: date, last: date) -> list[date]:
    """Every day from ``first`` to ``last``, both included."""
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _silver_state(
    plan: Plan,
    spec: SourceSpec,
    start: date,
    bronze: set[date],
    stale: Mapping[date, str | None],
    current: Mapping[date, bool],
    unreadable: Collection[date] = (),
) -> None:
    """Where Silver's state before ``start`` comes from; a problem when it is stale or cannot be rebuilt
    (one whose commit cannot be read, ``unreadable``, is :func:`_damaged_reads`' problem)."""
    before = start - timedelta(days=1)
    if not spec.stateful:
        plan.state = f"none: {spec.model} builds each day from that day's Bronze only"
    elif start == spec.start_date:
        plan.state = "none: the first partition of the source"
    elif stale.get(before):  # Silver D-1 is read, and it is stale: so is every day built on it
        reached = stateful_start(start, spec.start_date, current, bronze)
        plan.stale = [d for d in _days(reached, before) if stale.get(d)]
        first = plan.stale[0]
        lacking = [d for d in _days(reached, before) if d not in bronze]
        again = (
            f"Silver {reached}..{before}" if not lacking else f"Bronze {_dates(lacking)} and Silver from it"
        )
        plan.state = f"read from Silver {before} (committed, stale: {stale[before]})"
        plan.problems.append(
            f"Silver {before}, the state {start} builds on, is stale (since Silver {first}: {stale[first]}): "
            f"every day the run writes would build on it; run the repair first ({again} again), then this "
            "range"
        )
    elif before in stale:
        plan.state = f"read from Silver {before} (committed)"
    elif before in unreadable:  # there, not missing: the run reads it, and refuses it
        plan.state = f"read from Silver {before} (its commit cannot be read)"
    else:
        needed = _days(spec.start_date, before)
        plan.state_missing = [d for d in needed if d not in bronze]
        plan.state = (
            f"rebuilt from Bronze {spec.start_date}..{before} ({len(needed)} day(s); Silver {before} is not "
            "committed)"
        )
        if plan.state_missing:
            first = stateful_start(start, spec.start_date, current, bronze)
            plan.problems.append(
                f"the rebuild needs Bronze {_dates(plan.state_missing)}, not committed: Silver {start} and "
                f"every later day would fail; start the range at {first} (both layers: Bronze fills the "
                "gap, Silver builds on the day before it)"
            )


def _dates(days: list[date], shown: int = 5) -> str:
    text = ", ".join(str(d) for d in days[:shown])
    return text + (f" and {len(days) - shown} more" if len(days) > shown else "")


def _iso(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _iso(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_iso(v) for v in value]
    return value.isoformat() if isinstance(value, date) else value
