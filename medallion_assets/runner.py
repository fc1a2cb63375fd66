"""Materialize sources through Dagster for the CLI: one run of ``<source>_job`` per source per 31 days.

``medallion run --date D1 --end-date D30`` is what a backfill in the UI does: each source's days are cut into
ranges of up to ``MAX_PARTITIONS_PER_RUN`` days, and each range is one Dagster run of the source's job (the
job the UI shows, ``<source>_job``), whose steps commit and report every day on their own
(:mod:`medallion_assets.assets.backfill`). All sources of one command run in this process, one after the
other, on one instance, so the runs show in the UI with their per-day materializations and metadata.

A Bronze day that fails in a range run fails the Bronze step, which makes Dagster skip the whole Silver step
of the run. The days Silver could still be built for (Bronze committed; for a stateful model only the days
before the first failed one, each builds on the day before) then get one more run, Silver only, so a failing
day fails only itself (and the later days of a stateful model), as one run per day would.

Progress: the lake's partition writer reports to :mod:`medallion_resources.progress` while a run executes
here; :class:`RunObserver` receives it per source and day, and every day's outcome once it is settled.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from medallion_assets.instance import process_tags
from medallion_assets.lake import Lake
from medallion_assets.plan import day_ranges
from medallion_assets.specs import SourceSpec
from medallion_resources import progress
from medallion_resources.lake.layout import ERRORS_ARTIFACT, LAYERS

if TYPE_CHECKING:
    import dagster as dg

__all__ = [
    "DayOutcome",
    "LayerOutcome",
    "NullObserver",
    "PartitionOutcome",
    "RunInterrupted",
    "RunObserver",
    "SourceRunner",
    "materialize_partition",
    "user_message",
]

# The CLI prints its own outcome per day; Dagster's console log would repeat failures with their stack
# traces (they stay in the run's event log, visible in the UI).
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"
TRIGGER_TAG = "medallion/trigger"
# What Dagster fails a step with when SIGINT (Ctrl-C, a run terminated in the UI) reaches its code.
INTERRUPTS = ("DagsterExecutionInterruptedError", "KeyboardInterrupt")
INTERRUPTED = "interrupted (Ctrl-C or a termination); nothing of the day was committed"


@dataclass(frozen=True)
class LayerOutcome:
    """One committed layer partition, as ``medallion inspect`` shows it."""

    rows: int  # of the main artifact (``dagster/partition_row_count``)
    files: int
    quarantined: int = 0
    nbytes: int = 0


@dataclass
class DayOutcome:
    """One source day: what each selected layer did."""

    day: date
    committed: dict[str, LayerOutcome] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)  # layer -> the error, root cause first
    not_run: list[str] = field(default_factory=list)  # layers not run because an earlier one failed
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed and not self.not_run


NOT_RUN = "not run: "
"""How a layer's entry in ``DayOutcome.failed`` starts when the layer did not run for a reason (shown as
"not run", not as a failure of its own)."""


def builds_on_failed_day(day: str) -> str:
    return f"{NOT_RUN}it builds on a failed day ({day})"


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) reached a run: it failed, its committed days were reported, nothing more runs."""

    def __init__(self, outcomes: list[DayOutcome]) -> None:
        super().__init__("interrupted")
        self.outcomes = outcomes  # the days of the interrupted range, settled


class RunObserver(Protocol):
    """What :class:`SourceRunner` reports while it runs (the CLI's progress display)."""

    def run_started(
        self, spec: SourceSpec, days: Sequence[date], layers: Sequence[str], run_id: str
    ) -> None: ...

    def partition_started(self, spec: SourceSpec, layer: str, day: date) -> None: ...

    def rows_written(self, spec: SourceSpec, layer: str, day: date, rows: int, nbytes: int) -> None: ...

    def partition_committed(
        self, spec: SourceSpec, layer: str, day: date, rows: int, nbytes: int
    ) -> None: ...

    def day_done(self, spec: SourceSpec, outcome: DayOutcome) -> None: ...


class NullObserver:
    """A :class:`RunObserver` that shows nothing (tests, benchmarks, scripts)."""

    def run_started(self, spec: SourceSpec, days: Sequence[date], layers: Sequence[str], run_id: str) -> None:
        pass

    def partition_started(self, spec: SourceSpec, layer: str, day: date) -> None:
        pass

    def rows_written(self, spec: SourceSpec, layer: str, day: date, rows: int, nbytes: int) -> None:
        pass

    def partition_committed(self, spec: SourceSpec, layer: str, day: date, rows: int, nbytes: int) -> None:
        pass

    def day_done(self, spec: SourceSpec, outcome: DayOutcome) -> None:
        pass


@dataclass
class PartitionOutcome:
    """One source day of :func:`materialize_partition`: the layers committed, the first failure."""

    layers: dict[str, LayerOutcome] = field(default_factory=dict)
    error: str | None = None
    failed_layer: str | None = None


def materialize_partition(
    lake: Lake, spec: SourceSpec, run_date: date, layers: Sequence[str], instance: dg.DagsterInstance
) -> PartitionOutcome:
    """One day of one source through its job, as ``medallion run --date D`` runs it (tests, benchmarks)."""
    [day] = SourceRunner(lake, instance, layers).run(spec, run_date, run_date, NullObserver())
    failed_layer, error = next(iter(day.failed.items()), (None, None))
    if error is None and day.not_run:
        failed_layer, error = day.not_run[0], "not run"
    return PartitionOutcome(dict(day.committed), error, failed_layer)


class SourceRunner:
    """Runs sources' days through their ``<source>_job`` on one instance, in this process."""

    def __init__(self, lake: Lake, instance: dg.DagsterInstance, layers: Sequence[str]) -> None:
        self.lake = lake
        self.instance = instance
        self.layers = tuple(layers)
        self.run_ids: list[str] = []
        self._jobs: dict[str, dg.JobDefinition] = {}

    def job(self, spec: SourceSpec) -> dg.JobDefinition:
        """``<source>_job`` from the Definitions of this source alone: its assets depend on no other source's,
        so a project's other sources are neither built nor resolved for it."""
        from medallion_assets.factory import build_definitions
        from medallion_assets.specs import build_specs

        if spec.name not in self._jobs:
            config = self.lake.config
            entries = [
                entry
                for entry, built in zip(config.sources, build_specs(config), strict=True)
                if built.name == spec.name
            ]
            defs = build_definitions(config.model_copy(update={"sources": entries}), self.lake.translation)
            self._jobs[spec.name] = defs.resolve_job_def(spec.job_name)
        return self._jobs[spec.name]

    def run(self, spec: SourceSpec, first: date, last: date, observer: RunObserver) -> list[DayOutcome]:
        """Every day of ``first..last`` (within the source's partitions), one run per range of days."""
        outcomes: list[DayOutcome] = []
        unbuilt: date | None = None  # a stateful Silver's first day left uncommitted: later days build on it
        for start, end in day_ranges(first, last):
            days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
            outcomes += self._run_range(spec, days, observer, unbuilt)
            if unbuilt is None and spec.stateful and "silver" in self.layers:
                unbuilt = next((o.day for o in outcomes if "silver" not in o.committed), None)
        return outcomes

    def _run_range(
        self, spec: SourceSpec, days: list[date], observer: RunObserver, unbuilt: date | None = None
    ) -> list[DayOutcome]:
        """One range's run (and its follow-ups). ``unbuilt``: a day before the range that a stateful Silver
        left uncommitted; the range's Silver days build on it, so they are "not run" (no step that can only
        fail on the missing day), as the days after a failed day within one run."""
        main = {layer: self.lake.main_artifact(spec, layer) for layer in LAYERS}
        tracker = _Tracker(spec, days, self.layers, observer, main)
        layers = self.layers if unbuilt is None else tuple(x for x in self.layers if x != "silver")
        result = None
        if layers:
            with progress.listening(tracker):
                result = self._execute(spec, days, layers, observer)
                tracker.settle(result, layers, self.instance)
                if not _interrupted(result):
                    for layer, segment in tracker.follow_ups():
                        result = self._execute(spec, segment, (layer,), observer)
                        tracker.settle(result, (layer,), self.instance)
                        if _interrupted(result):
                            break
        if unbuilt is not None:  # after the day's own failures, so those lead its line
            for outcome in tracker.days.values():
                outcome.failed["silver"] = builds_on_failed_day(unbuilt.isoformat())
        outcomes = tracker.finish()
        if result is not None and _interrupted(result):
            # Dagster caught the Ctrl-C to fail the run; the command stops here, like any other would.
            raise RunInterrupted(outcomes)
        return outcomes

    def _execute(
        self, spec: SourceSpec, days: Sequence[date], layers: Sequence[str], observer: RunObserver
    ) -> dg.ExecuteInProcessResult:
        keys = {"bronze": spec.bronze_key, "silver": spec.silver_key}
        # process_tags: a killed CLI's run is found dead by them (medallion_assets.instance)
        tags = {**spec.run_tags, **process_tags(), TRIGGER_TAG: "cli"}
        partition_key = None
        if len(days) == 1:
            partition_key = days[0].isoformat()
        else:
            tags |= {RANGE_START: days[0].isoformat(), RANGE_END: days[-1].isoformat()}
        run_id = str(uuid.uuid4())
        self.run_ids.append(run_id)
        observer.run_started(spec, days, layers, run_id)
        return self.job(spec).execute_in_process(
            run_config=QUIET,
            instance=self.instance,
            partition_key=partition_key,
            asset_selection=[keys[layer] for layer in layers],
            tags=tags,
            run_id=run_id,
            raise_on_error=False,
        )


class _Tracker:
    """The days of one range of one source: progress events in, day outcomes out."""

    def __init__(
        self,
        spec: SourceSpec,
        days: list[date],
        layers: tuple[str, ...],
        observer: RunObserver,
        main_artifacts: Mapping[str, str],
    ) -> None:
        self.spec, self.layers, self.observer = spec, layers, observer
        self.main_artifacts = main_artifacts
        self.days = {day: DayOutcome(day) for day in days}
        self.datasets = {spec.bronze_path: "bronze", spec.silver_path: "silver"}
        self.started: dict[tuple[str, date], float] = {}
        self.reported: set[date] = set()

    # --- progress events (on the writing thread) ---
    def _where(self, layer: str, dataset: str, run_date: str) -> date | None:
        if self.datasets.get(dataset) != layer:
            return None
        day = date.fromisoformat(run_date)
        return day if day in self.days else None

    def partition_started(self, layer: str, dataset: str, run_date: str) -> None:
        day = self._where(layer, dataset, run_date)
        if day is not None:
            self.started[(layer, day)] = time.monotonic()
            self.observer.partition_started(self.spec, layer, day)

    def rows_written(self, layer: str, dataset: str, run_date: str, rows: int, nbytes: int) -> None:
        day = self._where(layer, dataset, run_date)
        if day is not None:
            self.observer.rows_written(self.spec, layer, day, rows, nbytes)

    def partition_committed(
        self, layer: str, dataset: str, run_date: str, rows: Mapping[str, int], files: int, nbytes: int
    ) -> None:
        day = self._where(layer, dataset, run_date)
        if day is None:
            return
        outcome = self.days[day]
        outcome.seconds += time.monotonic() - self.started.pop((layer, day), time.monotonic())
        main = rows.get(self.main_artifacts[layer], 0)  # what dagster/partition_row_count counts
        outcome.committed[layer] = LayerOutcome(main, files, rows.get(ERRORS_ARTIFACT, 0), nbytes)
        self.observer.partition_committed(self.spec, layer, day, main, nbytes)
        self._report_if_settled(day)

    # --- a run's result ---
    def settle(self, result: dg.ExecuteInProcessResult, layers: Sequence[str], instance: Any) -> None:
        """Fold a finished run into the days: committed (with Dagster's figures), failed, not run."""
        now = time.monotonic()
        for (layer, day), began in list(self.started.items()):  # started, never committed: failed
            self.days[day].seconds += now - began
            del self.started[(layer, day)]
        run_days = _run_days(result)
        committed = _materializations(result, self.spec)
        failures = _step_failures(result, self.spec)
        for layer in layers:
            failure = failures.get(layer)
            for day in run_days:
                outcome = self.days[day]
                if (layer, day) in committed:
                    previous = outcome.committed.get(layer)
                    outcome.committed[layer] = _with_bytes(committed[(layer, day)], previous)
                    continue
                if failure is None:
                    if result.success or layer == layers[0]:
                        outcome.failed[layer] = _run_failure(result) or "not committed"
                    elif layer not in outcome.not_run:
                        outcome.not_run.append(layer)
                    continue
                error, per_day, not_run = failure
                if day.isoformat() in not_run:
                    outcome.failed[layer] = builds_on_failed_day(not_run[day.isoformat()])
                else:
                    outcome.failed[layer] = per_day.get(day.isoformat(), error)
        for day in run_days:
            for layer in layers:
                if layer in self.days[day].failed and layer in self.days[day].not_run:
                    self.days[day].not_run.remove(layer)
            self._report_if_settled(day)

    def follow_ups(self) -> Iterator[tuple[str, list[date]]]:
        """Later layers skipped because an earlier layer's step failed: the days they can still run."""
        for index, layer in enumerate(self.layers[1:], start=1):
            earlier = self.layers[index - 1]
            waiting = [
                d for d, o in sorted(self.days.items()) if layer in o.not_run and earlier in o.committed
            ]
            if not waiting:
                continue
            segments = _contiguous(waiting)
            if self.spec.stateful and layer == "silver":
                first_day = min(self.days)
                segments = [s for s in segments[:1] if s[0] == first_day]
            for segment in segments:
                for day in segment:
                    self.days[day].not_run.remove(layer)
                yield layer, segment

    def finish(self) -> list[DayOutcome]:
        for day in sorted(self.days):
            if day not in self.reported:
                self.reported.add(day)
                self.observer.day_done(self.spec, self.days[day])
        return [self.days[day] for day in sorted(self.days)]

    def _report_if_settled(self, day: date) -> None:
        outcome = self.days[day]
        if day in self.reported or outcome.failed or outcome.not_run:
            return  # failures are reported by finish(), in date order, with their errors
        if all(layer in outcome.committed for layer in self.layers):
            self.reported.add(day)
            self.observer.day_done(self.spec, outcome)


def _contiguous(days: Sequence[date]) -> list[list[date]]:
    segments: list[list[date]] = []
    for day in days:
        if segments and day - segments[-1][-1] == timedelta(days=1):
            segments[-1].append(day)
        else:
            segments.append([day])
    return segments


def _run_days(result: dg.ExecuteInProcessResult) -> list[date]:
    tags = result.dagster_run.tags
    if RANGE_START in tags:
        first, last = date.fromisoformat(tags[RANGE_START]), date.fromisoformat(tags[RANGE_END])
        return [first + timedelta(days=i) for i in range((last - first).days + 1)]
    return [date.fromisoformat(tags["dagster/partition"])]


def _materializations(
    result: dg.ExecuteInProcessResult, spec: SourceSpec
) -> dict[tuple[str, date], LayerOutcome]:
    layers = {spec.bronze_key: "bronze", spec.silver_key: "silver"}  # a dg translation may prefix the keys
    found = {}
    for event in result.get_asset_materialization_events():
        mat = event.materialization
        if mat.partition is None or mat.asset_key not in layers:
            continue
        meta = mat.metadata
        found[(layers[mat.asset_key], date.fromisoformat(mat.partition))] = LayerOutcome(
            rows=int(_value(meta.get("dagster/partition_row_count"), 0)),
            files=_count(meta.get("files")),
            quarantined=int(_value(meta.get("quarantined"), 0)),
            nbytes=int(_value(meta.get("bytes"), 0)),
        )
    return found


def _with_bytes(reported: LayerOutcome, seen: LayerOutcome | None) -> LayerOutcome:
    if seen is None or reported.nbytes:
        return reported
    return LayerOutcome(reported.rows, reported.files or seen.files, reported.quarantined, seen.nbytes)


def _step_failures(
    result: dg.ExecuteInProcessResult, spec: SourceSpec
) -> dict[str, tuple[str, dict[str, str], dict[str, str]]]:
    """Per layer whose asset step failed: the error, each failed day's own error, the days not run."""
    ops = {"bronze": spec.bronze_key.to_python_identifier(), "silver": spec.silver_key.to_python_identifier()}
    layers = {op: layer for layer, op in ops.items()}
    failures = {}
    for event in result.all_events:
        if not event.is_step_failure or event.step_key not in layers:
            continue
        data = event.step_failure_data
        error = user_message(data.error) if data and data.error else "step failed"
        meta: Mapping[str, Any] = data.user_failure_data.metadata if data and data.user_failure_data else {}
        per_day = dict(_value(meta.get("partition_errors"), {}) or {})
        failed = list(_value(meta.get("failed_partitions"), []) or [])
        not_run = {
            key: failed[0] if failed else "?" for key in _value(meta.get("not_run_partitions"), []) or []
        }
        failures[layers[event.step_key]] = (error, per_day, not_run)
    return failures


def _interrupted(result: dg.ExecuteInProcessResult) -> bool:
    """Whether an interrupt (SIGINT) stopped the run: Dagster fails the step it interrupted with it."""
    return any(
        event.is_step_failure
        and event.step_failure_data is not None
        and event.step_failure_data.error is not None
        and event.step_failure_data.error.cls_name in INTERRUPTS
        for event in result.all_events
    )


def _run_failure(result: dg.ExecuteInProcessResult) -> str | None:
    """The error of a run that failed outside its steps (a resource, the instance); None if it did not.

    Dagster's run failure event is ``PIPELINE_FAILURE`` by its value; its message only says that an
    exception was thrown, its error says which.
    """
    for event in result.all_events:
        if event.is_run_failure:
            data = event.job_failure_data
            if data is not None and data.error is not None:
                return user_message(data.error)
            return event.message or "run failed"
    return None


def _value(entry: Any, default: Any) -> Any:
    return default if entry is None else getattr(entry, "value", entry)


def _count(entry: Any) -> int:
    """Files listed by a ``files`` metadata entry (a JSON list, or a table)."""
    records = getattr(entry, "records", None)
    if records is not None:
        return len(records)
    value = _value(entry, [])
    return len(value) if isinstance(value, list) else 0


def user_message(error: Any) -> str:
    """The first error in the chain that is not Dagster's wrapper: ours say where, what and how to fix.

    A plain ``dagster.Failure`` (what the IO managers raise so the UI shows the root cause first) is a
    wrapper too: its cause carries the error's own class.
    """
    chain = []
    while error is not None:
        chain.append(error)
        error = getattr(error, "cause", None)
    if chain and chain[0].cls_name in INTERRUPTS:
        return INTERRUPTED
    for candidate in chain:
        name = candidate.cls_name or ""
        if not name.startswith("Dagster") and not (name == "Failure" and candidate.cause is not None):
            return _short(candidate)
    return _short(chain[-1])


def _short(error: Any) -> str:
    """``SilverInputError: ...`` rather than ``medallion_assets.errors.SilverInputError: ...``."""
    text = error.message.strip()
    qualified, sep, rest = text.partition(": ")
    if sep and error.cls_name and qualified.rsplit(".", 1)[-1] == error.cls_name:
        return f"{error.cls_name}: {rest}"
    return text
