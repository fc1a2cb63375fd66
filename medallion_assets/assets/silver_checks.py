"""Asset checks of a Silver partition (DESIGN §7), evaluated on the frames about to be committed.

Every check is partitioned like its asset and evaluated in the Silver step itself, before the commit:
a failing *blocking* check fails the step, so the previous commit stays in place and nothing downstream
(Silver D+1 reads Silver D) runs. The results are reported per partition and shown in the UI.

========================  ========  =====================================================================
check                     blocking  passes when
========================  ========  =====================================================================
manifest_verified         yes       every file of the committed Silver partition matches its manifest
                                    sha256 (re-read after the commit: the files the day wrote re-hashed,
                                    the files it shares with D-1 in place with their size, hashed when the
                                    day read them; Bronze D and Silver D-1 are verified
                                    when they are loaded)
primary_key_unique        yes       the keys of ``current`` (``snapshot`` / ``events``) are unique
no_null_keys              yes       no primary-key value is null in the main artifact
scd2_windows              yes       history only: per key ``effective_from <= effective_to``, each
                                    version closed where the next one starts (a version closed by a
                                    hard delete: at or before it, the gap is legal), one open version
                                    per key
reconciliation            yes       rows in = quarantined + the model's categories, per model:
                                    periodic_snapshot, event_log: inserted + duplicates_dropped;
                                    scd_type_1: inserted + updated + unchanged + duplicates_dropped;
                                    scd_type_2: versions_added + duplicates_dropped;
                                    cdc: versions_added + deletes_applied + duplicates_dropped
quarantine_threshold      yes       quarantined rows within ``silver.error_handling`` (past it the asset
                                    already fails before writing; the check records the figures)
schema_drift              no (warn) the main artifact has the same columns and types as Silver D-1
========================  ========  =====================================================================
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
import polars as pl

from medallion_assets.config.models import ErrorHandlingConfig
from medallion_assets.silver.chain import CLOSED_BY_DELETE, EFFECTIVE_FROM, EFFECTIVE_TO, same_key
from medallion_assets.silver.registry import silver_model_class
from medallion_assets.specs import SourceSpec
from medallion_resources.lake.manifest import Manifest

__all__ = [
    "CHECKS",
    "CheckOutcome",
    "evaluate_checks",
    "manifest_outcome",
    "manifest_superseded",
    "silver_check_specs",
]


@dataclass(frozen=True)
class CheckDef:
    name: str
    blocking: bool
    description: str


CHECKS = (
    CheckDef("manifest_verified", True, "Every committed file matches its manifest sha256."),
    CheckDef("primary_key_unique", True, "Primary keys are unique in current (snapshot/events)."),
    CheckDef("no_null_keys", True, "No null primary-key value in the main artifact."),
    CheckDef("scd2_windows", True, "History windows do not overlap; one open version per key."),
    CheckDef("reconciliation", True, "Rows in = quarantined + the model's row categories."),
    CheckDef("quarantine_threshold", True, "Quarantined rows within silver.error_handling."),
    CheckDef("schema_drift", False, "Same columns and types as Silver D-1 (warns)."),
)


@dataclass(frozen=True)
class CheckOutcome:
    name: str
    passed: bool
    blocking: bool
    description: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    # Default: ERROR when blocking, else WARN; Bronze has checks that are errors without blocking.
    severity_override: dg.AssetCheckSeverity | None = None

    @property
    def severity(self) -> dg.AssetCheckSeverity:
        if self.severity_override is not None:
            return self.severity_override
        return dg.AssetCheckSeverity.ERROR if self.blocking else dg.AssetCheckSeverity.WARN

    def result(self) -> dg.AssetCheckResult:
        return dg.AssetCheckResult(
            check_name=self.name,
            passed=self.passed,
            severity=self.severity,
            description=self.description,
            metadata=self.metadata,
        )

    def evaluation(self, asset_key: dg.AssetKey, partition: str) -> dg.AssetCheckEvaluation:
        return dg.AssetCheckEvaluation(
            asset_key=asset_key,
            check_name=self.name,
            passed=self.passed,
            severity=self.severity,
            description=self.description,
            metadata=self.metadata,
            blocking=self.blocking,
            partition=partition,
        )


def silver_check_specs(spec: SourceSpec, partitions_def: dg.PartitionsDefinition) -> list[dg.AssetCheckSpec]:
    """The partitioned check specs of a Silver asset (``scd2_windows`` only for models with history)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)  # partitions_def on a check spec is "preview"
        return [
            dg.AssetCheckSpec(
                c.name,
                asset=spec.silver_key,
                blocking=c.blocking,
                description=c.description,
                partitions_def=partitions_def,
            )
            for c in CHECKS
            if c.name != "scd2_windows" or _has_history(spec)
        ]


def _has_history(spec: SourceSpec) -> bool:
    cdc = spec.entry.silver.cdc
    return spec.model == "scd_type_2" or (spec.model == "cdc" and cdc is not None and cdc.keep_history)


def _by_name(name: str) -> CheckDef:
    return next(c for c in CHECKS if c.name == name)


def _outcome(name: str, passed: bool, text: str, **metadata: Any) -> CheckOutcome:
    check = _by_name(name)
    return CheckOutcome(name, passed, check.blocking, text, metadata)


def evaluate_checks(
    spec: SourceSpec,
    artifacts: Mapping[str, pl.DataFrame],
    stats: Mapping[str, int],
    *,
    rows_in: int,
    quarantined: int,
    main_artifact: str,
    previous_schema: Mapping[str, pl.DataType] | None,
) -> list[CheckOutcome]:
    """Every pre-commit check (all but ``manifest_verified``) on the artifacts of one partition."""
    keys = list(spec.entry.silver.primary_keys)
    main = artifacts.get(main_artifact)
    keyed = artifacts.get("current", main)
    outcomes = [
        _unique(keyed, keys),
        _no_null_keys(main, keys),
        _reconciliation(spec.model, stats, rows_in, quarantined),
        _quarantine(spec.entry.silver.error_handling, rows_in, quarantined),
        _schema_drift(main, previous_schema),
    ]
    if _has_history(spec):
        outcomes.insert(2, _windows(artifacts.get("history"), keys))
    return outcomes


def manifest_outcome(problems: Sequence[str], files: int) -> CheckOutcome:
    if problems:
        return _outcome("manifest_verified", False, "; ".join(problems[:5]), problems=len(problems))
    return _outcome("manifest_verified", True, f"{files} file(s) match the manifest", files=files)


def manifest_superseded(ours: Manifest, newer: Manifest) -> CheckOutcome:
    """Our attempt committed, then a newer one (a concurrent run) replaced it before we could re-hash it."""
    text, metadata = superseded_description(ours, newer)
    return _outcome("manifest_verified", True, text, **metadata)


def superseded_description(ours: Manifest, newer: Manifest) -> tuple[str, dict[str, Any]]:
    """What a passing ``manifest_verified`` of either layer says when a newer attempt replaced ours."""
    text = (
        f"attempt {ours.attempt} committed; a newer attempt {newer.attempt} (run {newer.run_id}) has "
        "replaced it since, and that run's check verifies it"
    )
    return text, {"files": len(ours.files), "superseded_by": newer.attempt}


def _unique(frame: pl.DataFrame | None, keys: list[str]) -> CheckOutcome:
    if frame is None or not keys or not frame.height:
        return _outcome("primary_key_unique", True, "no keyed rows", duplicate_keys=0)
    duplicates = frame.height - frame.select(keys).n_unique()
    return _outcome(
        "primary_key_unique",
        duplicates == 0,
        f"{duplicates} duplicate key(s) over {', '.join(keys)}",
        duplicate_keys=duplicates,
    )


def _no_null_keys(frame: pl.DataFrame | None, keys: list[str]) -> CheckOutcome:
    if frame is None or not keys:
        return _outcome("no_null_keys", True, "no keyed rows", null_key_rows=0)
    nulls = frame.filter(pl.any_horizontal(pl.col(k).is_null() for k in keys)).height
    return _outcome("no_null_keys", nulls == 0, f"{nulls} row(s) with a null key", null_key_rows=nulls)


def _windows(history: pl.DataFrame | None, keys: list[str]) -> CheckOutcome:
    if history is None or not history.height:
        return _outcome("scd2_windows", True, "no history rows", bad_windows=0, keys_with_open_versions=0)
    # Plain shifts on the key-sorted rows with a "same key as the next row" mask, not per-key windows.
    frame = history.sort(keys, maintain_order=True, nulls_last=False)
    same_next = same_key(keys).shift(-1).fill_null(False)
    frame = frame.with_columns(pl.when(same_next).then(pl.col(EFFECTIVE_FROM).shift(-1)).alias("__next"))
    inverted = frame.filter(pl.col(EFFECTIVE_TO) < pl.col(EFFECTIVE_FROM)).height
    # After a hard delete the key has no version until it comes back: a gap, never an overlap.
    closed = (
        pl.col(CLOSED_BY_DELETE).fill_null(False) if CLOSED_BY_DELETE in history.columns else pl.lit(False)
    )
    to, after = pl.col(EFFECTIVE_TO), pl.col("__next")
    gaps = frame.filter(
        after.is_not_null()
        & pl.when(closed).then(to.is_null() | (to > after)).otherwise(to.ne_missing(after))
    ).height
    open_rows = frame.filter(pl.col(EFFECTIVE_TO).is_null())
    many_open = open_rows.height - open_rows.select(keys).n_unique()
    open_not_last = frame.filter(pl.col(EFFECTIVE_TO).is_null() & pl.col("__next").is_not_null()).height
    bad = inverted + gaps + many_open + open_not_last
    return _outcome(
        "scd2_windows",
        bad == 0,
        f"{inverted} inverted window(s), {gaps} version(s) not closed where the next starts "
        "(or, after a delete, closed after it), "
        f"{many_open + open_not_last} extra open version(s)",
        bad_windows=bad,
    )


def _reconciliation(model: str, stats: Mapping[str, int], rows_in: int, quarantined: int) -> CheckOutcome:
    parts = silver_model_class(model).reconciled  # declared by the model class
    accounted = quarantined + sum(int(stats.get(p, 0)) for p in parts)
    formula = " + ".join(["quarantined", *parts])
    return _outcome(
        "reconciliation",
        accounted == rows_in,
        f"rows in {rows_in} vs {formula} = {accounted}",
        rows_in=rows_in,
        accounted=accounted,
    )


def _quarantine(config: ErrorHandlingConfig, rows_in: int, quarantined: int) -> CheckOutcome:
    percent = 100.0 * quarantined / rows_in if rows_in else 0.0
    within = quarantined == 0 or (
        config.enabled and (quarantined <= config.max_bad_records or percent <= config.max_bad_percent)
    )
    return _outcome(
        "quarantine_threshold",
        within,
        f"{quarantined} of {rows_in} rows quarantined ({percent:.2f}%); limits "
        f"max_bad_records={config.max_bad_records}, max_bad_percent={config.max_bad_percent:g}%",
        quarantined=quarantined,
        quarantined_percent=round(percent, 4),
    )


def _schema_drift(frame: pl.DataFrame | None, before: Mapping[str, pl.DataType] | None) -> CheckOutcome:
    if frame is None or not before:
        return _outcome("schema_drift", True, "no previous schema to compare with")
    same, text, counts = compare_schemas(dict(frame.schema), before)
    return _outcome("schema_drift", same, text, **counts)


def compare_schemas(now: Mapping[str, Any], before: Mapping[str, Any]) -> tuple[bool, str, dict[str, int]]:
    """``schema_drift`` of both layers: do two ``column -> type`` mappings agree, what differs, counts."""
    added = sorted(set(now) - set(before))
    removed = sorted(set(before) - set(now))
    changed = sorted(c for c in set(now) & set(before) if now[c] != before[c])
    text = f"added {added or '-'}, removed {removed or '-'}, type changed {changed or '-'}"
    counts = {"added": len(added), "removed": len(removed), "changed": len(changed)}
    return not (added or removed or changed), text, counts
