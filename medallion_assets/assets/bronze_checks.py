"""Asset checks of a Bronze partition, partitioned like Silver's, and the sensor that flags missed deadlines.

Evaluated in the Bronze step right after the partition committed (one-partition and range runs alike):

=========================  ==========  =================================================================
check                      blocking    passes when
=========================  ==========  =================================================================
manifest_verified          yes         every committed file matches its manifest size and sha256 (re-read)
row_count_matches_source   no (error)  the rows landed (+ rows the boundary dedupe dropped) equal the
                                       source's own count: the API's ``pagination.total_path``, ``SELECT
                                       count(*)`` of the partition's bounded query for db, the files' row
                                       counts (a Parquet footer; for text formats the rows parsed). A
                                       source without a count passes and says so. A db source is counted
                                       before and after the read: when the two differ (rows written during
                                       the read), the rows must lie between them.
not_empty                  no (error)  the partition has rows, unless empty is allowed
                                       (``checks.allow_empty``; default: allowed for incremental/cdc
                                       loads and ``file.required: false``, not for full snapshots)
schema_drift               no (warn)   the same columns and types as the latest committed partition before
freshness                  no (error)  only with ``freshness.deadline``: partition D was committed by its
                                       deadline (``deadline`` on D + ``deadline_days``, in ``timezone``)
=========================  ==========  =================================================================

``freshness`` is evaluated twice over: by the Bronze step when D commits (on time, or late with both times),
and by the sensor ``medallion_freshness`` once D's deadline has passed without a commit, so a missed day is
red in the UI without any run. Dagster's own FreshnessPolicy is asset-level: a backfill of an old day would
make a late asset look fresh, a per-partition deadline does not.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg

from medallion_assets.assets.silver_checks import CheckOutcome, compare_schemas, superseded_description
from medallion_assets.specs import SourceSpec
from medallion_resources.io_managers import BronzeIOManager
from medallion_resources.lake.manifest import Manifest
from medallion_resources.lake.read import CommittedPartition, verify_attempt, verify_partition

__all__ = [
    "BRONZE_CHECKS",
    "FRESHNESS_SENSOR",
    "bronze_check_specs",
    "build_freshness_sensor",
    "deadline_for",
    "evaluate_bronze_checks",
]

FRESHNESS_SENSOR = "medallion_freshness"
# How many missed days the sensor reports at most when it first sees a source (older ones stay unreported).
_CATCH_UP_DAYS = 7

# name -> (blocking, severity, description)
BRONZE_CHECKS: dict[str, tuple[bool, dg.AssetCheckSeverity, str]] = {
    "manifest_verified": (True, dg.AssetCheckSeverity.ERROR, "Every committed file matches its manifest."),
    "row_count_matches_source": (
        False,
        dg.AssetCheckSeverity.ERROR,
        "Rows landed equal the source's own count (API total_path, db count(*), file row counts).",
    ),
    "not_empty": (False, dg.AssetCheckSeverity.ERROR, "The partition has rows (unless checks.allow_empty)."),
    "schema_drift": (False, dg.AssetCheckSeverity.WARN, "Same columns and types as the previous partition."),
    "freshness": (False, dg.AssetCheckSeverity.ERROR, "Partition D committed by its deadline."),
}


def _names(spec: SourceSpec) -> list[str]:
    return [n for n in BRONZE_CHECKS if n != "freshness" or _deadline(spec) is not None]


def bronze_check_specs(spec: SourceSpec, partitions_def: dg.PartitionsDefinition) -> list[dg.AssetCheckSpec]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)  # partitions_def on a check spec is "preview"
        return [
            dg.AssetCheckSpec(
                name,
                asset=spec.bronze_key,
                blocking=BRONZE_CHECKS[name][0],
                description=BRONZE_CHECKS[name][2],
                partitions_def=partitions_def,
            )
            for name in _names(spec)
        ]


def _outcome(name: str, passed: bool, text: str, **metadata: Any) -> CheckOutcome:
    blocking, severity, _ = BRONZE_CHECKS[name]
    return CheckOutcome(name, passed, blocking, text, metadata, severity_override=severity)


def evaluate_bronze_checks(
    spec: SourceSpec,
    part: CommittedPartition | None,
    previous_schema: Sequence[Mapping[str, str]] | None,
    committed: Manifest | None = None,
) -> list[CheckOutcome]:
    """Every check of a just-committed Bronze partition (``previous_schema``: the latest one before it).

    ``committed``: the manifest this run committed. ``manifest_verified`` re-hashes that attempt, not
    whatever is committed now (``verify_attempt``): a concurrent run that replaced it meanwhile removes its
    files, and the check said they were missing of a partition committed whole.
    """
    if part is None:
        missing = "the partition is not committed"
        return [_outcome(name, False, missing) for name in _names(spec)]
    meta = part.metadata
    landed = int(meta.get("record_count") or 0)
    outcomes = [
        _manifest_verified(part, committed),
        _row_count(meta, landed),
        _not_empty(spec, landed),
        _schema_drift(meta.get("schema"), previous_schema),
    ]
    if _deadline(spec) is not None:
        outcomes.append(_on_time(spec, part))
    return outcomes


def _manifest_verified(part: CommittedPartition, committed: Manifest | None) -> CheckOutcome:
    if committed is None:
        problems, newer = verify_partition(part), None
    else:
        problems, newer = verify_attempt(part.backend, part.prefix, committed)
    if newer is not None and committed is not None:
        text, metadata = superseded_description(committed, newer)
        return _outcome("manifest_verified", True, text, **metadata)
    files = len((committed or part.manifest).files)
    return _outcome(
        "manifest_verified",
        not problems,
        "; ".join(problems[:5]) if problems else f"{files} file(s) match the manifest",
        problems=len(problems),
    )


def _row_count(meta: Mapping[str, Any], landed: int) -> CheckOutcome:
    source = meta.get("source_row_count")
    if not isinstance(source, int) or isinstance(source, bool):
        return _outcome("row_count_matches_source", True, "the source gives no count of its own", rows=landed)
    dropped = int(meta.get("boundary_rows_dropped") or 0)
    accounted = landed + dropped
    text = (
        f"landed {landed}" + (f" + {dropped} re-read and dropped" if dropped else "") + f"; source {source}"
    )
    before = meta.get("source_row_count_before")
    if isinstance(before, int) and not isinstance(before, bool) and before != source:
        # rows written during the read: the read saw the source at a moment between the two counts
        text += f" after the read, {before} before it (the source changed during the read)"
        passed = min(before, source) <= accounted <= max(before, source)
        return _outcome(
            "row_count_matches_source",
            passed,
            text,
            rows=landed,
            source_rows=source,
            source_rows_before=before,
            dropped=dropped,
        )
    return _outcome(
        "row_count_matches_source",
        accounted == source,
        text,
        rows=landed,
        source_rows=source,
        dropped=dropped,
    )


def _not_empty(spec: SourceSpec, landed: int) -> CheckOutcome:
    if landed:
        return _outcome("not_empty", True, f"{landed} row(s)", rows=landed)
    if _empty_allowed(spec):
        return _outcome("not_empty", True, "no rows, which this source allows", rows=0)
    return _outcome(
        "not_empty",
        False,
        f"no rows in a {spec.load_pattern} load (checks.allow_empty: true if an empty partition is normal)",
        rows=0,
    )


def _empty_allowed(spec: SourceSpec) -> bool:
    checks = spec.entry.checks
    if checks is not None and checks.allow_empty is not None:
        return checks.allow_empty
    file = spec.entry.source.file
    return spec.load_pattern != "full" or (file is not None and not file.required)


def _schema_drift(
    now: Sequence[Mapping[str, str]] | None, before: Sequence[Mapping[str, str]] | None
) -> CheckOutcome:
    if not now or not before:
        return _outcome("schema_drift", True, "no previous schema to compare with")
    same, text, counts = compare_schemas(
        {c["name"]: c["type"] for c in now}, {c["name"]: c["type"] for c in before}
    )
    return _outcome("schema_drift", same, text, **counts)


# --- freshness ----------------------------------------------------------------------------------------------


def _deadline(spec: SourceSpec) -> time | None:
    freshness = spec.entry.freshness
    if freshness is None or freshness.deadline is None:
        return None
    hours, minutes = freshness.deadline.split(":")
    return time(int(hours), int(minutes))


def deadline_for(spec: SourceSpec, day: date) -> datetime:
    """When partition ``day`` must be committed by (UTC): ``deadline`` on ``day + deadline_days``."""
    freshness = spec.entry.freshness
    clock = _deadline(spec)
    if freshness is None or clock is None:
        raise ValueError(f"source '{spec.name}' has no freshness.deadline")
    zone = ZoneInfo(freshness.timezone or spec.partitions.timezone)
    local = datetime.combine(day + timedelta(days=freshness.deadline_days), clock, tzinfo=zone)
    return local.astimezone(UTC)


def _on_time(spec: SourceSpec, part: CommittedPartition) -> CheckOutcome:
    day = date.fromisoformat(part.manifest.run_date)
    due = deadline_for(spec, day)
    committed = datetime.fromisoformat(part.manifest.committed_at.replace("Z", "+00:00"))
    late = (committed - due).total_seconds()
    if late <= 0:
        return _outcome(
            "freshness", True, f"committed {committed:%Y-%m-%d %H:%M} UTC, due {due:%Y-%m-%d %H:%M} UTC"
        )
    return _outcome(
        "freshness",
        False,
        f"committed {committed:%Y-%m-%d %H:%M} UTC, {late / 3600:.1f} h after its deadline "
        f"{due:%Y-%m-%d %H:%M} UTC",
        late_seconds=round(late, 1),
    )


def build_freshness_sensor(specs: Sequence[SourceSpec], io: BronzeIOManager) -> dg.SensorDefinition | None:
    """``medallion_freshness``: a failed ``freshness`` evaluation for each day whose deadline passed with no
    Bronze commit (the Bronze step reports the days that commit). None when no source has a deadline."""
    watched = [spec for spec in specs if _deadline(spec) is not None]
    if not watched:
        return None

    @dg.sensor(
        name=FRESHNESS_SENSOR,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Marks a Bronze partition's freshness check failed once its deadline passed uncommitted.",
        asset_selection=[spec.bronze_key for spec in watched],
    )
    def _freshness(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        cursor = _freshness_cursor(context.cursor)
        events = missed_deadlines(watched, io, cursor, datetime.now(UTC))
        return dg.SensorResult(asset_events=events, cursor=json.dumps(cursor, sort_keys=True))

    return _freshness


def _freshness_cursor(raw: str | None) -> dict[str, str]:
    """The last day reported per source; a cursor that is not ours (edited in the UI) counts as none, and so
    does an entry that is not a date: that source looks back a week again."""
    try:
        value = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    if not isinstance(value, dict):
        return {}
    return {name: day for name, day in value.items() if isinstance(day, str) and _is_date(day)}


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def missed_deadlines(
    specs: Sequence[SourceSpec], io: BronzeIOManager, cursor: dict[str, str], now: datetime
) -> list[dg.AssetCheckEvaluation]:
    """The failed evaluations of days whose deadline passed since ``cursor`` (updated in place)."""
    events = []
    for spec in specs:
        due_day = _latest_due_day(spec, now)
        if due_day is None:
            continue
        seen = cursor.get(spec.name)
        first = (
            date.fromisoformat(seen) + timedelta(days=1) if seen else due_day - timedelta(_CATCH_UP_DAYS - 1)
        )
        day = max(first, spec.start_date)
        while day <= due_day:
            if io.committed(spec.bronze_path, day.isoformat()) is None:
                due = deadline_for(spec, day)
                outcome = _outcome(
                    "freshness", False, f"not committed by its deadline {due:%Y-%m-%d %H:%M} UTC", missed=1
                )
                events.append(outcome.evaluation(spec.bronze_key, day.isoformat()))
            day += timedelta(days=1)
        cursor[spec.name] = due_day.isoformat()
    return events


def _latest_due_day(spec: SourceSpec, now: datetime) -> date | None:
    """The latest partition whose deadline is at or before ``now`` (None before the first one's)."""
    freshness = spec.entry.freshness
    assert freshness is not None
    zone = ZoneInfo(freshness.timezone or spec.partitions.timezone)
    day = now.astimezone(zone).date() - timedelta(days=freshness.deadline_days)
    if deadline_for(spec, day) > now:
        day -= timedelta(days=1)
    return day if day >= spec.start_date else None
