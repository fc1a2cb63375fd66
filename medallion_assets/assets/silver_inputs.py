"""Stale Silver in the Dagster UI: the partitioned ``inputs_current`` check and the sensor that evaluates it.

Dagster marks a partition stale when one of its direct inputs got a new data version after it was
materialized. For Silver D that covers Bronze D (its data version is the manifest hash), so Silver D shows
*stale* once Bronze D is committed again. It does not cover the later days: Dagster does not propagate
staleness (Silver D+1 read Silver D, which did not change), and it skips the self-dependency of an asset with
100 or more partitions altogether (``SKIP_PARTITION_DATA_VERSION_SELF_DEPENDENCY_THRESHOLD`` in
``dagster._core.definitions.data_version``), which every daily lake older than 100 days has.

So each Silver asset gets a non-blocking partitioned check ``inputs_current`` that says per day whether
Silver D still matches the committed Bronze it read (:mod:`medallion_assets.status`), and the sensor
``medallion_silver_inputs`` evaluates it for every committed Silver day and reports the days whose result
changed, so that a recommitted Bronze D-k turns the check red on Silver D-k..end without a run. The check
also runs with every Silver materialization launched from the UI (it then passes).
"""

import json
import warnings
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

import dagster as dg
from dagster import AssetCheckExecutionContext

from medallion_assets.assets import partitions_def_for
from medallion_assets.specs import BRONZE_IO_MANAGER, SILVER_IO_MANAGER, SourceSpec
from medallion_assets.staleness import silver_staleness
from medallion_assets.status import INPUTS_CHECK, inputs_evaluation
from medallion_resources.io_managers import LakeIOManager

__all__ = ["SENSOR_NAME", "build_inputs_checks", "build_inputs_sensor", "inputs_evaluations"]

SENSOR_NAME = "medallion_silver_inputs"
SOURCES_AT_ONCE = 4
DESCRIPTION = "Silver D still matches the committed Bronze partitions it was computed from (warns)."


def build_inputs_checks(specs: Sequence[SourceSpec]) -> list[dg.AssetChecksDefinition]:
    return [_inputs_check(spec) for spec in specs]


def _inputs_check(spec: SourceSpec) -> dg.AssetChecksDefinition:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)  # partitions_def on a check is "preview"
        # Any: the decorator's type wants a function returning one AssetCheckResult; ranges yield events.
        decorator: Any = dg.asset_check(
            asset=spec.silver_key,
            name=INPUTS_CHECK,
            partitions_def=partitions_def_for(spec),
            blocking=False,
            description=DESCRIPTION,
            required_resource_keys={BRONZE_IO_MANAGER, SILVER_IO_MANAGER},
        )

        @decorator
        def _inputs_current(context: AssetCheckExecutionContext) -> Iterator[Any]:
            keys = context.partition_keys
            resources = context.resources
            end = date.fromisoformat(keys[-1])
            reasons = silver_staleness(spec, resources.bronze_io_manager, resources.silver_io_manager, end)
            if len(keys) == 1:
                passed, text = inputs_evaluation(spec, end, reasons)
                yield dg.AssetCheckResult(
                    passed=passed,
                    severity=dg.AssetCheckSeverity.WARN,
                    description=text,
                    metadata={"reason": text},
                )
                return
            # A range run (a backfill): one evaluation per partition, as the Silver asset does for its own
            # checks; Dagster still expects the check's output once per step.
            log = context.op_execution_context
            for key in keys:
                # The annotation of log_event omits AssetCheckEvaluation, which it accepts (and logs as such).
                log.log_event(_evaluation(spec, date.fromisoformat(key), reasons))  # type: ignore[arg-type]
            yield dg.Output(None, output_name=context.op_execution_context.op_def.output_defs[0].name)

    return _inputs_current


def _evaluation(spec: SourceSpec, day: date, reasons: Mapping[date, str | None]) -> dg.AssetCheckEvaluation:
    passed, text = inputs_evaluation(spec, day, reasons)
    return dg.AssetCheckEvaluation(
        asset_key=spec.silver_key,
        check_name=INPUTS_CHECK,
        passed=passed,
        severity=dg.AssetCheckSeverity.WARN,
        description=text,
        metadata={"reason": text},
        partition=day.isoformat(),
    )


def inputs_evaluations(
    specs: Sequence[SourceSpec], bronze: LakeIOManager, silver: LakeIOManager
) -> list[dg.AssetCheckEvaluation]:
    """The ``inputs_current`` result of every committed Silver day of every source, in the sources' order.

    On an object store each source is a few listings (``lake.committed_cache``), network round trips
    that ``SOURCES_AT_ONCE`` sources overlap, so a tick over many sources stays well inside Dagster's
    sensor timeout; on local disk the work is parsing, one source after the other."""

    def one(spec: SourceSpec) -> list[dg.AssetCheckEvaluation]:
        dates = silver.partition_dates(spec.silver_path)
        if not dates:
            return []
        reasons = silver_staleness(spec, bronze, silver, date.fromisoformat(dates[-1]))
        return [_evaluation(spec, day, reasons) for day in reasons]

    remote = bronze.backend.local_path("") is None or silver.backend.local_path("") is None
    if not remote or len(specs) < 2:
        return [e for spec in specs for e in one(spec)]
    with ThreadPoolExecutor(SOURCES_AT_ONCE, thread_name_prefix="medallion-inputs") as pool:
        return [e for found in pool.map(one, specs) for e in found]


def build_inputs_sensor(
    specs: Sequence[SourceSpec], bronze: LakeIOManager, silver: LakeIOManager
) -> dg.SensorDefinition:
    """Reports ``inputs_current`` for the Silver days whose result changed since the last tick.

    The cursor holds the failing days (``{check key: [partition, ...]}``): a day that fails is reported once,
    and once more when it passes again (repaired by a run that did not execute the check, e.g. the CLI).
    """

    @dg.sensor(
        name=SENSOR_NAME,
        minimum_interval_seconds=300,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Marks stale Silver partitions: evaluates the inputs_current check of every Silver day.",
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        failing_before = _cursor(context.cursor)
        failing: dict[str, list[str]] = {}
        changed = []
        for evaluation in inputs_evaluations(specs, bronze, silver):
            key = evaluation.asset_check_key.to_user_string()
            was_failing = evaluation.partition in failing_before.get(key, ())
            if not evaluation.passed:
                failing.setdefault(key, []).append(str(evaluation.partition))
            if evaluation.passed == was_failing:
                changed.append(evaluation)
        return dg.SensorResult(asset_events=changed, cursor=json.dumps(failing, sort_keys=True))

    return _sensor


def _cursor(raw: str | None) -> dict[str, list[str]]:
    try:
        value = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
