"""Per-day state of a source: Bronze and Silver committed, Silver stale, runs failed (DESIGN §6, §9).

Whether a committed Silver day is stale, and why, is :mod:`medallion_assets.staleness`'s verdict.
Failed days come from Dagster's run history: a partition whose latest planned materialization has no
materialization after it, and whose run failed (or is still in progress: ``running``). The lake is the
truth for what is committed; Dagster only adds what was attempted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

import dagster as dg

from medallion_assets.plan import last_partition, stateful_start
from medallion_assets.runner import builds_on_failed_day
from medallion_assets.specs import SourceSpec
from medallion_assets.staleness import committed_records, days_between, staleness_of
from medallion_resources.io_managers import LakeIOManager

__all__ = [
    "INPUTS_CHECK",
    "DayStatus",
    "LayerAttempt",
    "day_statuses",
    "failed_attempts",
    "inputs_evaluation",
    "keys_elsewhere",
    "repair_range",
]

INPUTS_CHECK = "inputs_current"


@dataclass(frozen=True)
class LayerAttempt:
    """A partition whose latest Dagster run did not materialize it."""

    state: str  # failed | running
    run_id: str
    message: str


@dataclass
class DayStatus:
    day: date
    bronze: str  # committed | damaged | missing | failed | running
    silver: str  # committed | stale | damaged | missing | failed | running
    notes: list[str] = field(default_factory=list)
    gap: bool = False  # never loaded, though a later day is: a hole in the lake

    @property
    def problem(self) -> bool:
        return (
            self.gap or self.bronze in ("failed", "damaged") or self.silver in ("stale", "failed", "damaged")
        )


def failed_attempts(instance: dg.DagsterInstance, asset_key: dg.AssetKey) -> dict[str, LayerAttempt]:
    """Partitions whose latest planned materialization did not happen, by partition key."""
    from dagster import DagsterRunStatus

    storage = instance.event_log_storage
    pending = storage.get_latest_asset_partition_materialization_attempts_without_materializations(asset_key)
    result: dict[str, LayerAttempt] = {}
    failures: dict[str, _RunFailure] = {}  # one read of a run's failures for all its days
    for partition, (run_id, _event_id) in pending.items():
        run = instance.get_run_by_id(run_id)
        if run is None:
            continue
        if run.status in (DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED):
            if run_id not in failures:
                failures[run_id] = _RunFailure.read(instance, run_id)
            message = failures[run_id].message(asset_key, partition)
            result[partition] = LayerAttempt("failed", run_id, f"run {run_id[:8]}: {message}")
        elif not run.is_finished:
            result[partition] = LayerAttempt("running", run_id, f"run {run_id[:8]} is {run.status.value}")
    return result


def keys_elsewhere(instance: dg.DagsterInstance, spec: SourceSpec) -> list[dg.AssetKey]:
    """Asset keys of the instance that end with one of the source's keys and are not it: the same source
    under a dg component's ``translation`` (``key_prefix``), whose runs a listing of these keys misses."""
    own = (spec.bronze_key, spec.silver_key)
    tails = [key.path for key in own]
    return sorted(
        (
            key
            for key in instance.get_asset_keys()
            if key not in own and any(len(key.path) > len(t) and key.path[-len(t) :] == t for t in tails)
        ),
        key=lambda key: key.to_user_string(),
    )


@dataclass
class _RunFailure:
    """Why a run failed, per step: a range run's step failure carries each day's own error."""

    steps: dict[str, tuple[str, Mapping[str, object]]]  # step key -> (the error, its metadata)
    run_message: str

    @classmethod
    def read(cls, instance: dg.DagsterInstance, run_id: str) -> _RunFailure:
        from medallion_assets.runner import user_message

        steps: dict[str, tuple[str, Mapping[str, object]]] = {}
        for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE):
            event = record.dagster_event
            data = event.step_failure_data if event is not None else None
            if event is None or data is None or event.step_key is None or event.step_key in steps:
                continue
            error = user_message(data.error) if data.error is not None else "step failed"
            meta = data.user_failure_data.metadata if data.user_failure_data else {}
            steps[event.step_key] = (error, {k: getattr(v, "value", v) for k, v in meta.items()})
        run_message = "failed"
        for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_FAILURE):
            event = record.dagster_event
            run_message = (event.message if event is not None else None) or run_message
        return cls(steps, run_message)

    def message(self, asset_key: dg.AssetKey, partition: str) -> str:
        """One line: the day's own error, or why the day was not run."""
        own = self.steps.get(asset_key.to_python_identifier())
        if own is None:
            other = next(iter(self.steps.values()), None)
            return f"not run, an earlier step failed: {_first_line(other[0])}" if other else self.run_message
        error, meta = own
        per_day = meta.get("partition_errors")
        if isinstance(per_day, Mapping) and partition in per_day:
            return _first_line(str(per_day[partition]))
        not_run = meta.get("not_run_partitions")
        failed = meta.get("failed_partitions")
        if isinstance(not_run, list) and partition in not_run and isinstance(failed, list) and failed:
            return builds_on_failed_day(str(failed[0]))
        return _first_line(error)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def day_statuses(
    spec: SourceSpec,
    bronze: LakeIOManager,
    silver: LakeIOManager,
    instance: dg.DagsterInstance | None,
    start: date | None = None,
    end: date | None = None,
) -> list[DayStatus]:
    """One row per day from ``start`` (default: the source's start date) to ``end`` (default: the last day
    with a commit or an attempt; none when there is none and the start date is not over yet)."""
    attempts = (
        {"bronze": {}, "silver": {}}
        if instance is None
        else {
            "bronze": failed_attempts(instance, spec.bronze_key),
            "silver": failed_attempts(instance, spec.silver_key),
        }
    )
    if end is None:
        known = [
            *bronze.partition_dates(spec.bronze_path),
            *silver.partition_dates(spec.silver_path),
            *attempts["bronze"],
            *attempts["silver"],
        ]
        # Nothing seen yet: the start date is listed as missing, unless it is not over yet (nothing is due).
        due = (
            spec.start_date
            if spec.start_date <= last_partition(spec)
            else spec.start_date - timedelta(days=1)
        )
        end = max((date.fromisoformat(d) for d in known), default=due)
    first = max(start or spec.start_date, spec.start_date)
    damaged: dict[str, dict[date, str]] = {"bronze": {}, "silver": {}}  # commits that cannot be read
    landed = dict(committed_records(bronze, spec.bronze_path, spec.start_date, end, damaged["bronze"]))
    built = dict(committed_records(silver, spec.silver_path, spec.start_date, end, damaged["silver"]))
    stale = staleness_of(spec, landed, built, damaged)  # what reads a damaged day is stale
    commits = {"bronze": landed, "silver": built}
    rows = []
    for day in [*days_between(first, end), end] if first <= end else []:
        row = DayStatus(
            day,
            "committed" if day in landed else "missing",
            "missing" if day not in stale else ("stale" if stale[day] else "committed"),
        )
        if stale.get(day):
            row.notes.append(str(stale[day]))
        for layer in ("bronze", "silver"):
            if day in damaged[layer]:  # readers refuse it: run the day again (a new commit replaces it)
                setattr(row, layer, "damaged")
                row.notes.append(f"{layer}: {damaged[layer][day]}")
        for layer in ("bronze", "silver"):
            attempt = attempts[layer].get(day.isoformat())
            if attempt is None:
                continue
            commit = commits[layer].get(day)
            if commit is not None and commit.metadata.get("dagster_run_id") == attempt.run_id:
                # The run committed the day, then died (killed) before Dagster recorded the materialization:
                # the lake holds that run's commit, so the day is committed; only the UI shows it failed.
                row.notes.append(
                    f"{layer}: committed by run {attempt.run_id[:8]}, which failed before Dagster recorded it"
                )
                continue
            setattr(row, layer, attempt.state)
            landing = attempts["bronze"].get(day.isoformat())
            if layer == "silver" and row.bronze == "failed" and landing and landing.run_id == attempt.run_id:
                # Its Bronze failed in the same run, and that note says why: not the error a second time.
                row.notes.append(f"silver: run {attempt.run_id[:8]}: not run, its Bronze failed")
            else:
                row.notes.append(f"{layer}: {attempt.message}")
            if commit is not None:  # a failed re-run leaves the day's commit in place: readers still get it
                by = str(commit.metadata.get("dagster_run_id") or "")[:8]
                row.notes.append(f"{layer}: the earlier commit{f' of run {by}' if by else ''} still stands")
        rows.append(row)
    if spec.stateful:
        _blocked_by_failed_days(rows)
    _mark_gaps(rows)
    return rows


def _mark_gaps(rows: list[DayStatus]) -> None:
    """A day whose Bronze was never committed nor attempted while a later day's is committed is a gap: the
    schedules and sensors load every day, so a hole is a day left out (a range run around it), to repair."""
    later: date | None = None
    for row in reversed(rows):
        if row.bronze == "committed":
            later = row.day
        elif row.bronze == "missing" and later is not None:
            row.gap = True
            # A Silver day built on it says it was loaded once: removed since (its Silver is stale).
            how = "no longer committed" if row.silver in ("committed", "stale") else "never loaded"
            row.notes.append(f"gap: {how}, though {later} is")


def repair_range(
    rows: Sequence[DayStatus], *, stateful: bool, since: date | None = None
) -> tuple[date, date, bool] | None:
    """The days one ``medallion run`` repairs every stale or failed day of ``rows`` with (from the first to
    the last; a stateful model builds on each day), and whether Silver alone does; None when none is.

    A stateful Silver day builds on Silver D-1, or on every Bronze day before it when D-1 is missing, so the
    repair starts where that state can come from (:func:`~medallion_assets.plan.stateful_start`): at the
    first problem when Silver D-1 is committed and current, or D-1 is missing and every Bronze day before
    is committed; else earlier, through the gap (a Silver-only run of the failed day would fail again on
    the Bronze day it lacks) or a stale or failed day before it. Silver alone does only when every day of
    the range has its Bronze committed, problem or not. ``since``: only the problems from that day on (a
    listing that starts there), though the days before it still count for where the repair starts."""
    problems = [i for i, row in enumerate(rows) if row.problem and (since is None or row.day >= since)]
    if not problems:
        return None
    first, last = problems[0], problems[-1]
    if stateful:  # rows run from the start date: where the Silver state of the first problem can come from
        silver = {row.day: row.silver == "committed" for row in rows[:first] if row.silver != "missing"}
        bronze = {row.day for row in rows[:first] if row.bronze == "committed"}
        first -= (rows[first].day - stateful_start(rows[first].day, rows[0].day, silver, bronze)).days
    covered = rows[first : last + 1]
    return covered[0].day, covered[-1].day, all(row.bronze == "committed" for row in covered)


def _blocked_by_failed_days(rows: list[DayStatus]) -> None:
    """A stateful Silver day after a failed one builds on it: where Bronze is committed and Silver was never
    attempted (a later range of the same ``medallion run`` lands Bronze only), it is failed too, so the
    repair covers it."""
    failed: str | None = None
    for row in rows:
        if failed is None:
            failed = row.day.isoformat() if row.silver == "failed" else None
        elif row.silver == "missing" and row.bronze == "committed":
            row.silver = "failed"
            row.notes.append(f"silver: {builds_on_failed_day(failed)}")


def inputs_evaluation(spec: SourceSpec, day: date, reasons: Mapping[date, str | None]) -> tuple[bool, str]:
    """The ``inputs_current`` check of Silver ``day``: passed, and why."""
    if day not in reasons:
        return False, f"Silver {day} is not committed"
    reason = reasons[day]
    if reason:
        return False, f"stale: {reason}; materialize Silver from {day} on again (one backfill)"
    return True, "every Bronze partition it read is the one committed now"
