"""The Silver asset: the Dagster wiring of the Silver pipeline (:mod:`medallion_assets.silver.pipeline`).

The body resolves the partition(s), reads Bronze D and Silver D-1 from the IO manager resources (they are
dependencies, not inputs: no input loading events), then either computes and commits one day and reports it
as a ``MaterializeResult`` (with the DataVersion), or, in a range run (``BackfillPolicy``), runs the days in
order (each reading the day just committed) and commits each day itself through
:func:`medallion_assets.assets.backfill.commit_range`, so each day has its own manifest, ``_metadata.json``,
materialization metadata and check results, and a failing day fails only itself and the days after it.
The state of the day before is Silver D-1 as committed, or rebuilt from Bronze when it is missing. A
failing blocking check (:mod:`medallion_assets.assets.silver_checks`) stops the day before anything is
written.
"""

import warnings
from collections.abc import Callable, Generator, Iterator, Mapping
from datetime import date, timedelta
from typing import Any

import dagster as dg
from dagster import AssetExecutionContext

from medallion_assets.assets.backfill import BACKFILL_POLICY, commit_range, selected_check_outputs
from medallion_assets.assets.silver_checks import (
    CheckOutcome,
    manifest_outcome,
    manifest_superseded,
    silver_check_specs,
)
from medallion_assets.errors import SilverCheckError
from medallion_assets.silver.base import SilverModel
from medallion_assets.silver.pipeline import Prior, SilverDay, initial_state, next_prior, silver_day
from medallion_assets.silver.registry import create_silver_model
from medallion_assets.specs import BRONZE_IO_MANAGER, SILVER_IO_MANAGER, SourceSpec, asset_args
from medallion_resources.io_managers import (
    BronzeInput,
    SilverIOManager,
    definition_facts,
    root_cause_failure,
)
from medallion_resources.lake.manifest import Manifest
from medallion_resources.lake.read import CommittedPartition, verify_attempt

__all__ = ["SilverDay", "build_silver_asset", "initial_state", "silver_day"]


def _blocked(spec: SourceSpec, run_date: str, failures: list[CheckOutcome]) -> SilverCheckError:
    shown = "; ".join(f"{c.name}: {c.description}" for c in failures)
    return SilverCheckError(
        f"Silver {spec.name} for {run_date}: blocking check(s) failed, nothing was committed: {shown}"
    )


def build_silver_asset(
    spec: SourceSpec, partitions_def: dg.TimeWindowPartitionsDefinition
) -> dg.AssetsDefinition:
    # Dependencies, not inputs: the body reads Bronze D and Silver D-1 from the IO manager resources itself,
    # so no input is loaded through an IO manager (each input would cost a LOADED_INPUT and a STEP_INPUT
    # event per run). The lineage, the partition mappings and the data-version provenance are the same.
    deps = [dg.AssetDep(spec.bronze_key)]
    if spec.stateful:
        with warnings.catch_warnings():
            # allow_nonexistent_upstream_partitions is "beta" but is how Dagster expresses "D-1, none for
            # the first partition"; the behaviour is covered by tests/integration/test_factory.py.
            warnings.simplefilter("ignore", dg.BetaWarning)
            previous_day = dg.TimeWindowPartitionMapping(
                start_offset=-1, end_offset=-1, allow_nonexistent_upstream_partitions=True
            )
        deps.append(dg.AssetDep(spec.silver_key, partition_mapping=previous_day))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)  # backfill_policy is "beta" in dagster 1.13
        decorator = _silver_decorator(spec, partitions_def, deps)
    first_key = partitions_def.get_first_partition_key()
    return _define(spec, decorator, first_key)


def _silver_decorator(
    spec: SourceSpec, partitions_def: dg.TimeWindowPartitionsDefinition, deps: list[dg.AssetDep]
) -> Any:
    return dg.asset(
        **asset_args(spec.silver_asset_spec()),
        deps=deps,
        partitions_def=partitions_def,
        # Downstream assets read Silver through it; the asset commits its own partitions with it.
        io_manager_key=SILVER_IO_MANAGER,
        required_resource_keys={SILVER_IO_MANAGER, BRONZE_IO_MANAGER},
        check_specs=silver_check_specs(spec, partitions_def),
        backfill_policy=BACKFILL_POLICY,
        pool=spec.pool,
    )


def _define(spec: SourceSpec, decorator: Any, first_key: str | None) -> dg.AssetsDefinition:
    @decorator
    def _silver(context: AssetExecutionContext):
        yield from _run(spec, first_key, context)

    return _silver


def _run(spec: SourceSpec, first_key: str | None, context: AssetExecutionContext) -> Iterator[Any]:
    """The asset body: one partition, or a range run (a backfill) committing each day itself."""
    io: SilverIOManager = context.resources.silver_io_manager
    model = create_silver_model(spec.model, spec.entry.silver)
    keys = context.partition_keys
    run_date = date.fromisoformat(keys[0])
    bronze = BronzeInput(context.resources.bronze_io_manager, spec.bronze_path, keys[0])
    # Silver D-1: the state of a stateful model, and the schema a range's first day compares with (none
    # before the first partition, or when it is not committed).
    previous = None
    if (spec.stateful or len(keys) > 1) and keys[0] != first_key:
        previous = io.committed(spec.silver_path, run_date - timedelta(days=1))

    def state_before() -> Prior:
        return initial_state(
            spec,
            model,
            bronze,
            previous,
            run_date=run_date,
            is_first_partition=keys[0] == first_key,
            log=context.log,
        )

    if len(keys) == 1:
        yield from _one_partition(spec, model, context, io, bronze, state_before)
    else:
        yield from _range(spec, model, context, io, bronze, state_before)


StateBefore = Callable[[], Prior]


def _one_partition(
    spec: SourceSpec,
    model: SilverModel,
    context: AssetExecutionContext,
    io: SilverIOManager,
    bronze: BronzeInput,
    state_before: StateBefore,
) -> Iterator[Any]:
    """One day: the IO manager commits the output (and sets the DataVersion); checks are reported after."""
    key = context.partition_keys[0]
    try:
        before = state_before()  # first: a missing Silver D-1 or Bronze gap is the error to report
        day = _day(spec, model, context, bronze.current(), key, before)
    except Exception as exc:
        raise root_cause_failure(exc) from exc
    if day.blocking_failures:
        for outcome in day.checks:
            yield outcome.result()
        blocked = _blocked(spec, key, day.blocking_failures)
        raise root_cause_failure(blocked) from blocked
    # Committed here, as a range run commits its days: a MaterializeResult without a value does not go
    # through the IO manager again (no HANDLED_OUTPUT event, nothing left for it to do).
    try:
        manifest, metadata = io.write_partition(spec.silver_path, key, day.output, context.run.run_id)
    except dg.Failure:
        raise
    except Exception as exc:
        raise root_cause_failure(exc) from exc
    facts = definition_facts(context.assets_def.specs_by_key[spec.silver_key].metadata)
    # A stateful asset reads its own D-1: its logical data version is kept (see _set_data_version).
    version = None if spec.stateful else dg.DataVersion(manifest.sha256)
    yield dg.MaterializeResult(metadata={**metadata, **facts}, data_version=version)
    for outcome in [_verified(io, spec, key, manifest), *day.checks]:
        yield outcome.result()


def _range(
    spec: SourceSpec,
    model: SilverModel,
    context: AssetExecutionContext,
    io: SilverIOManager,
    bronze: BronzeInput,
    state_before: StateBefore,
) -> Iterator[Any]:
    """The days in order, each from the day just committed, each committed and reported on its own."""
    prior: Prior | None = None

    def commit_day(key: str) -> Generator[Any, None, Mapping[str, Any]]:
        nonlocal prior
        if prior is None:  # in the first day, so that its failure is reported like any other day's
            prior = state_before()
        day = _day(spec, model, context, bronze.for_date(key).current(), key, prior)
        for outcome in day.checks:
            yield outcome.evaluation(spec.silver_key, key)
        if day.blocking_failures:
            raise _blocked(spec, key, day.blocking_failures)
        manifest, metadata = io.write_partition(spec.silver_path, key, day.output, context.run.run_id)
        yield _verified(io, spec, key, manifest).evaluation(spec.silver_key, key)
        prior = next_prior(model, day, io.committed(spec.silver_path, key), key)
        return metadata

    # A stateful model builds day D+1 on day D: after a failing day the rest of the range is not run.
    yield from commit_range(
        context,
        spec.silver_key,
        context.partition_keys,
        commit_day,
        stop_at_failure=model.stateful,
        what=f"Silver {spec.name}",
    )
    yield from selected_check_outputs(context)


def _day(
    spec: SourceSpec,
    model: SilverModel,
    context: AssetExecutionContext,
    current: CommittedPartition,
    key: str,
    prior: Prior,
) -> SilverDay:
    """Silver of partition ``key`` from the state before it."""
    return silver_day(
        spec, model, prior, current, run_date=date.fromisoformat(key), run_id=context.run.run_id
    )


def _verified(io: SilverIOManager, spec: SourceSpec, key: str, committed: Manifest) -> CheckOutcome:
    """``manifest_verified``: the attempt this run committed, re-read after the commit: the files the day
    wrote re-hashed, the shared ones (hashed by the day as it read them) checked in place with their size.

    Not whatever is committed now: a concurrent run of the same partition may have committed a newer attempt
    since, whose clean-up removes our files while we hash them (the check then failed a run whose data was
    fine). When our attempt has been replaced, the check passes saying so; the newer attempt is verified
    by its own run's check.
    """
    prefix = io.partition_prefix(spec.silver_path, key)
    problems, newer = verify_attempt(io.backend, prefix, committed, own_files_only=True)
    if newer is not None:
        return manifest_superseded(committed, newer)
    return manifest_outcome(problems, len(committed.files))
