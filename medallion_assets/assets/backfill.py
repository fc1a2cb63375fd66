"""How a backfill over many partitions runs, and how a range run reports its days (DESIGN §7).

Bronze and Silver assets carry ``BackfillPolicy.single_run()``: a range of N days, from any entry point (a UI
backfill or the asset graph's *Materialize* over a selected range, ``dagster asset materialize
--partition-range``, ``dg launch --partition-range``), is one run per source that processes the days in
date order and commits each partition on its own. Dagster accepts a partition range on its command lines
only for single-run assets, and a self-dependent (stateful) Silver asset then backfills in one run instead
of advancing one run per daemon tick. A one-partition run (a schedule, ``medallion run``, the UI's
*Materialize* on one partition) is unchanged.

A range run is driven by ``commit_range`` from the asset body, because Dagster reports the partitions of a
step's output only when the whole step succeeds: a failed step would otherwise hide the days that did
commit and show every day of the range as failed. So each committed day's metadata is recorded for its own
partition; when the range succeeds Dagster reports one materialization per day with that metadata; when a
day fails, the committed days are reported as materializations before the step fails, the failing day
(and, for a stateful model, the days after it, which are not run) are what Dagster marks failed, and the
error (``RangeRunError``) starts with the root cause.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from typing import Any

import dagster as dg

from medallion_resources.errors import MedallionError
from medallion_resources.io_managers import CommittedRange, definition_facts

__all__ = [
    "BACKFILL_POLICY",
    "MAX_PARTITIONS_PER_RUN",
    "DayCommit",
    "RangeRunError",
    "commit_range",
    "described",
    "selected_check_outputs",
]

BACKFILL_POLICY = dg.BackfillPolicy.single_run()
# ``medallion run`` cuts a long range into runs of up to this many days (progress, and a failure costs less).
MAX_PARTITIONS_PER_RUN = 31

# Commits one day: yields Dagster events as they happen (check evaluations), returns the day's
# materialization metadata; raises when the day fails (nothing of it is committed then).
DayCommit = Callable[[str], Generator[Any, None, Mapping[str, Any]]]


def commit_range(
    context: dg.AssetExecutionContext,
    asset_key: dg.AssetKey,
    keys: Sequence[str],
    commit_day: DayCommit,
    *,
    stop_at_failure: bool,
    what: str,
) -> Iterator[Any]:
    """Commit ``keys`` in order with ``commit_day``; yield the events of the range run's asset body.

    ``stop_at_failure``: a stateful model builds day D+1 on day D, so after a failing day the rest of the
    range is not run (and fails); any other asset carries on with the next day, as one run per partition
    would. An interrupt (Ctrl-C in ``medallion run``, a run terminated in the UI) stops the range: the days
    committed before it are reported as materializations, then the interrupt goes on.
    """
    committed: dict[str, Mapping[str, Any]] = {}
    facts = definition_facts(context.assets_def.specs_by_key[asset_key].metadata)
    failures: list[tuple[str, Exception]] = []
    not_run: list[str] = []
    for key in keys:
        if failures and stop_at_failure:
            not_run.append(key)
            continue
        try:
            metadata = yield from commit_day(key)
        except (KeyboardInterrupt, dg.DagsterExecutionInterruptedError):
            # Dagster reports a range's partitions only when the step succeeds: without this, the days
            # committed before the interrupt would show as failed in the UI and in `medallion status`.
            for done, metadata in committed.items():
                yield dg.AssetMaterialization(asset_key=asset_key, partition=done, metadata=dict(metadata))
            raise
        except Exception as exc:  # noqa: BLE001 - reported below with the days that did commit
            context.log.error(f"{what} {key} failed, nothing of it was committed: {exc}")
            failures.append((key, exc))
            continue
        metadata = {**metadata, **facts}
        committed[key] = metadata
        # Merged into this partition's materialization only (when the whole range succeeds). No log line
        # per day: each is an event-log write, and the day's materialization says it all.
        context.add_asset_metadata(metadata, asset_key=asset_key, partition_key=key)
    if not failures:
        rows = sum(int(m.get("dagster/partition_row_count", 0)) for m in committed.values())
        context.log.info(f"{what}: {len(keys)} partition(s) committed, {rows} rows ({keys[0]}..{keys[-1]})")
        yield dg.Output(CommittedRange(tuple(keys)))
        return
    for key, metadata in committed.items():
        yield dg.AssetMaterialization(asset_key=asset_key, partition=key, metadata=dict(metadata))
    raise RangeRunError(what, failures, committed=list(committed), not_run=not_run) from failures[0][1]


class RangeRunError(MedallionError, dg.Failure):
    """Days of a range run failed; the days that committed were reported as materialized.

    A ``dagster.Failure``, so Dagster shows it as the step's error as is rather than under its own wrapper
    (``DagsterExecutionStepExecutionError``): the message starts with the root cause of the first failing
    day, then says which days committed, failed and were not run. That root cause is the ``__cause__``.
    """

    def __init__(
        self,
        what: str,
        failures: Sequence[tuple[str, BaseException]],
        *,
        committed: list[str],
        not_run: list[str],
    ) -> None:
        failed = [key for key, _ in failures]
        first_key, first = failures[0]
        root = str(first).strip() or type(first).__name__
        lines = [root if first_key in root else f"{root} (partition {first_key})"]
        lines += [f"{key}: {_first_line(exc)}" for key, exc in failures[1:]]
        summary = (
            f"{what}: {len(failed)} partition(s) failed ({_days(failed)}); "
            f"{len(committed)} committed and materialized ({_days(committed)})"
        )
        if not_run:
            summary += f"; {len(not_run)} not run, they build on a failed day ({_days(not_run)})"
        lines.append(summary)
        dg.Failure.__init__(
            self,
            description="\n".join(lines),
            metadata={
                "failed_partitions": failed,
                "committed_partitions": committed,
                "not_run_partitions": not_run,
                # Per failed day, its own root cause (what `medallion run` prints on that day's line).
                "partition_errors": dg.MetadataValue.json({key: described(exc) for key, exc in failures}),
            },
        )
        self.failed, self.committed, self.not_run = failed, committed, not_run


def selected_check_outputs(context: dg.AssetExecutionContext) -> Iterator[dg.Output[None]]:
    """One empty output per selected check, after a range run's evaluations.

    The evaluations a range run yields carry their own partitions; Dagster still expects each selected
    check's output once per step (what an ``AssetCheckResult`` would yield), and holds back the assets
    downstream of a blocking check until it has it.
    """
    selected = context.selected_asset_check_keys
    for output_name, check_spec in context.assets_def.check_specs_by_output_name.items():
        if check_spec.key in selected:
            yield dg.Output(None, output_name=output_name)


def described(exc: BaseException) -> str:
    """``ClassName: message`` of the root cause: a ``dagster.Failure`` wrapping our own error is skipped."""
    while isinstance(exc, dg.Failure) and exc.__cause__ is not None:
        exc = exc.__cause__
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _days(keys: Sequence[str]) -> str:
    return ", ".join(keys) if keys else "none"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
