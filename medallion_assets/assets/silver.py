"""The Silver asset: Silver D = model(Silver D-1, prepared Bronze D), or a rebuild from Bronze (DESIGN §6).

``compute_silver`` is plain Python over committed partitions, so the same code serves a Dagster run, a
test, or a future multi-day backfill. The Dagster wrapper only resolves the partition and its inputs.
"""

import warnings
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg
import polars as pl
from dagster import AssetExecutionContext

from medallion_assets.errors import SilverInputError
from medallion_assets.silver.base import SilverContext
from medallion_assets.silver.prepare import enforce_thresholds, prepare
from medallion_assets.silver.registry import create_silver_model
from medallion_assets.specs import SourceSpec
from medallion_resources.io_managers import (
    DATASET_PATH_KEY,
    ERRORS_ARTIFACT,
    BronzeInput,
    PartitionOutput,
    WrittenArtifact,
)
from medallion_resources.manifest import CommittedPartition, read_artifact

__all__ = ["build_silver_asset", "compute_silver"]

GAPLESS_PATTERNS = frozenset({"incremental", "cdc"})


def compute_silver(
    spec: SourceSpec,
    bronze: BronzeInput,
    previous: CommittedPartition | None,
    *,
    run_date: date,
    is_first_partition: bool,
    run_id: str,
    log: Any = None,
) -> PartitionOutput:
    started_at = datetime.now(UTC)
    silver_cfg = spec.entry.silver
    model = create_silver_model(spec.model, silver_cfg)

    state: dict[str, pl.DataFrame] | None = None
    previous_state: str | None = None
    if model.stateful:
        if previous is not None:
            state = _non_empty({a: read_artifact(previous, a) for a in model.artifacts})
            previous_state = previous.manifest.run_date
        elif not is_first_partition:
            if log is not None:
                log.info(
                    f"Silver {spec.name} has no committed {run_date - timedelta(days=1)}: "
                    "rebuilding from Bronze"
                )
            state = _rebuild_state(spec, model, bronze, run_date)
            previous_state = "rebuilt_from_bronze"

    current = bronze.current()
    raw = read_artifact(current, "data")
    prepared = prepare(raw, silver_cfg, dataset=spec.name)
    result = model.apply(state, prepared.clean, _context(spec, run_date))
    errors = [e for e in (prepared.errors, result.errors) if e is not None and e.height]
    error_frame = pl.concat(errors, how="diagonal_relaxed") if errors else None
    quarantined = error_frame.height if error_frame is not None else 0
    # Checked before anything is written: past the thresholds the previous commit stays in place.
    reasons = dict(prepared.reason_counts)
    if result.errors is not None and result.errors.height:
        reasons["rejected by the model"] = result.errors.height
    enforce_thresholds(
        raw.height, quarantined, silver_cfg.error_handling, dataset=spec.name, reason_counts=reasons
    )

    artifacts: dict[str, list[pl.DataFrame]] = {name: [frame] for name, frame in result.artifacts.items()}
    if error_frame is not None:
        artifacts[ERRORS_ARTIFACT] = [error_frame]
    main_artifact = model.artifacts[0]

    def build_metadata(written: Mapping[str, WrittenArtifact]) -> dict[str, Any]:
        return {
            "run_date": run_date.isoformat(),
            "load_date": run_date.isoformat(),
            "domain": spec.domain,
            "entity": spec.entity,
            "version": spec.version,
            "source_name": spec.name,
            "model": spec.model,
            "load_pattern": spec.load_pattern,
            "primary_keys": list(silver_cfg.primary_keys),
            "order_column": silver_cfg.order_column,
            "delete_mode": silver_cfg.delete_mode,
            "bronze_manifest_sha256": current.manifest.sha256,
            "previous_state": previous_state,
            "rows_in": raw.height,
            "rows_out": {name: w.row_count for name, w in written.items() if name != ERRORS_ARTIFACT},
            **result.stats(),
            "quarantined": quarantined,
            "schema": written[main_artifact].schema_json() if main_artifact in written else [],
            "started_at": started_at.isoformat(),
            "finished_at": datetime.now(UTC).isoformat(),
            "dagster_run_id": run_id,
        }

    main = result.artifacts.get(main_artifact)
    lineage = _column_lineage(spec, main.columns if main is not None else [], raw.columns)
    return PartitionOutput(
        artifacts=artifacts,
        build_metadata=build_metadata,
        output=spec.silver_output,
        dagster_metadata={"dagster/column_lineage": lineage} if lineage else {},
    )


def _rebuild_state(
    spec: SourceSpec, model: Any, bronze: BronzeInput, run_date: date
) -> dict[str, pl.DataFrame] | None:
    """Fold the model over every committed Bronze partition before ``run_date``."""
    expected = _days(spec.start_date, run_date)
    committed = {d: bronze.committed(d) for d in bronze.dates_before() if d >= spec.start_date.isoformat()}
    committed = {d: p for d, p in committed.items() if p is not None}
    missing = [d for d in expected if d not in committed]
    if missing and spec.load_pattern in GAPLESS_PATTERNS:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise SilverInputError(
            f"Silver {spec.name} for {run_date} must be rebuilt from Bronze "
            f"(Silver {run_date - timedelta(days=1)} "
            f"is not committed), but the {spec.load_pattern} Bronze partitions {shown} are missing; "
            "materialize Bronze for those dates first"
        )
    state: dict[str, pl.DataFrame] | None = None
    for day in sorted(committed):
        frame = prepare(read_artifact(committed[day], "data"), spec.entry.silver, dataset=spec.name).clean
        state = _non_empty(model.apply(state, frame, _context(spec, date.fromisoformat(day))).artifacts)
    return state


def _context(spec: SourceSpec, run_date: date) -> SilverContext:
    tz = ZoneInfo(spec.partitions.timezone)
    window_end = datetime.combine(run_date + timedelta(days=1), datetime.min.time(), tzinfo=tz)
    return SilverContext(load_date=run_date, window_end=window_end, load_pattern=spec.load_pattern)


def _days(start: date, end: date) -> list[str]:
    return [(start + timedelta(days=i)).isoformat() for i in range((end - start).days)]


def _non_empty(artifacts: Mapping[str, pl.DataFrame]) -> dict[str, pl.DataFrame] | None:
    """An empty state (no rows) is the same as no state; models then need not handle column-less frames."""
    if all(frame.height == 0 for frame in artifacts.values()):
        return None
    return dict(artifacts)


def _column_lineage(
    spec: SourceSpec, silver_columns: list[str], bronze_columns: list[str]
) -> dg.TableColumnLineage | None:
    renamed_from = {new: old for old, new in spec.entry.silver.silver_schema.rename_map.items()}
    deps: dict[str, list[dg.TableColumnDep]] = {}
    for column in silver_columns:
        origin = renamed_from.get(column, column)
        if origin in bronze_columns:
            deps[column] = [dg.TableColumnDep(asset_key=spec.bronze_key, column_name=origin)]
    return dg.TableColumnLineage(deps_by_column=deps) if deps else None


def build_silver_asset(
    spec: SourceSpec, partitions_def: dg.TimeWindowPartitionsDefinition
) -> dg.AssetsDefinition:
    ins: dict[str, dg.AssetIn] = {"bronze": dg.AssetIn(key=spec.bronze_key)}
    if spec.stateful:
        with warnings.catch_warnings():
            # allow_nonexistent_upstream_partitions is "beta" but is how Dagster expresses "D-1, none for
            # the first partition"; the behaviour is covered by tests/integration/test_factory.py.
            warnings.simplefilter("ignore", dg.BetaWarning)
            previous_day = dg.TimeWindowPartitionMapping(
                start_offset=-1, end_offset=-1, allow_nonexistent_upstream_partitions=True
            )
        ins["previous"] = dg.AssetIn(key=spec.silver_key, partition_mapping=previous_day)
    decorator = dg.asset(
        key=spec.silver_key,
        ins=ins,
        partitions_def=partitions_def,
        group_name=spec.group,
        description=spec.silver_description,
        code_version=spec.silver_code_version,
        kinds={"parquet", "polars"},
        owners=list(spec.entry.owners),
        tags={"medallion/layer": "silver", "medallion/model": spec.model},
        metadata={DATASET_PATH_KEY: spec.silver_path, "model": spec.model},
        io_manager_key="silver_io_manager",
        pool=spec.pool,
        freshness_policy=spec.freshness_policy,
    )
    first_key = partitions_def.get_first_partition_key()

    def _run(
        context: AssetExecutionContext, bronze: BronzeInput, previous: CommittedPartition | None
    ) -> PartitionOutput:
        run_date = context.partition_time_window.start.date()
        return compute_silver(
            spec,
            bronze,
            previous,
            run_date=run_date,
            is_first_partition=context.partition_key == first_key,
            run_id=context.run.run_id,
            log=context.log,
        )

    if spec.stateful:

        @decorator
        def _silver_stateful(
            context: AssetExecutionContext, bronze: BronzeInput, previous
        ) -> PartitionOutput:
            return _run(context, bronze, previous)

        return _silver_stateful

    @decorator
    def _silver(context: AssetExecutionContext, bronze: BronzeInput) -> PartitionOutput:
        return _run(context, bronze, None)

    return _silver
