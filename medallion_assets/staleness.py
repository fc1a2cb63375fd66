"""Whether a committed Silver day is stale, and why: one verdict for status, plan, run and the check.

``medallion status`` lists it, ``medallion plan`` and ``medallion run`` say when a range builds on a stale
state, and the ``inputs_current`` check turns red on it; ``status`` imports ``plan``, so it lives here.

Silver D is a pure function of the committed Bronze partitions it reads, so it is *stale* when one of them
changed after it was computed. What Silver D read is in its ``_metadata.json``:

- ``bronze_manifest_sha256``: the manifest of Bronze D. Stale when Bronze D's committed manifest differs.
- stateful models (scd_type_1/2, cdc, event_log) also read the state before D: ``previous_state`` is the
  Silver D-1 date, or ``rebuilt_from_bronze`` (a fold over Bronze start..D-1), and
  ``previous_state_sha256`` which commit(s) of it: Silver D-1's manifest, or one digest of the Bronze
  manifests folded. From Silver D-1: stale when Silver D-1 is stale itself (the chain goes back to the
  first day) or its committed manifest is not the one read. Rebuilt: stale when a Bronze day before D is
  no longer committed or the digest of their manifests changed. Commits, not clocks: writers on several
  machines disagree about the time. (Lakes written before the digest are judged by ``committed_at`` of the
  input later than ``started_at`` of D.)
- ``periodic_snapshot`` reads Bronze D only.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime, timedelta

from medallion_assets.specs import SourceSpec
from medallion_resources.errors import IntegrityError
from medallion_resources.io_managers import LakeIOManager
from medallion_resources.lake.committed_cache import CommitRecord
from medallion_resources.lake.manifest import commits_sha256

__all__ = ["REBUILT", "Unreadable", "committed_records", "days_between", "silver_staleness", "staleness_of"]

REBUILT = "rebuilt_from_bronze"

# By layer, the days whose commit cannot be read (a damaged manifest or metadata), with the error.
Unreadable = dict[str, dict[date, str]]


def silver_staleness(
    spec: SourceSpec, bronze: LakeIOManager, silver: LakeIOManager, end: date
) -> dict[date, str | None]:
    """For each committed Silver day from the start date to ``end``: why it is stale, or None if current.
    A day whose commit cannot be read is left out (what reads it is stale), never an error for the rest."""
    damaged: Unreadable = {"bronze": {}, "silver": {}}
    bronze_parts = dict(committed_records(bronze, spec.bronze_path, spec.start_date, end, damaged["bronze"]))
    silver_parts = dict(committed_records(silver, spec.silver_path, spec.start_date, end, damaged["silver"]))
    return staleness_of(spec, bronze_parts, silver_parts, damaged)


def staleness_of(
    spec: SourceSpec,
    bronze_parts: Mapping[date, CommitRecord],
    silver_parts: Mapping[date, CommitRecord],
    unreadable: Unreadable | None = None,
) -> dict[date, str | None]:
    """Silver days in date order, each judged on the days before it (``silver_parts`` is in date order).
    ``unreadable``: the days left out of the parts because their commit cannot be read, which the
    reasons name as such rather than as no longer committed."""
    gone = {layer: set((unreadable or {}).get(layer, ())) for layer in ("bronze", "silver")}
    reasons: dict[date, str | None] = {}
    for day, part in silver_parts.items():
        reasons[day] = _stale_reason(spec, day, part, bronze_parts, silver_parts, reasons, gone)
    return reasons


def _absent(layer: str, day: date, gone: Mapping[str, set[date]]) -> str:
    return "cannot be read (its commit is damaged)" if day in gone[layer] else "is no longer committed"


def _stale_reason(
    spec: SourceSpec,
    day: date,
    part: CommitRecord,
    bronze: Mapping[date, CommitRecord],
    silver: Mapping[date, CommitRecord],
    reasons: Mapping[date, str | None],
    gone: Mapping[str, set[date]],
) -> str | None:
    meta = part.metadata
    own = bronze.get(day)
    if own is None:
        return f"Bronze {day}, its input, {_absent('bronze', day, gone)}"
    if meta.get("bronze_manifest_sha256") != own.manifest_sha256:
        return f"Bronze {day} was committed again after Silver {day} was computed"
    if not spec.stateful:
        return None
    started = _instant(meta.get("started_at"))
    previous = meta.get("previous_state")
    read = meta.get("previous_state_sha256")  # which commit(s) it read; absent in lakes written before
    if previous == REBUILT:
        folded = list(days_between(spec.start_date, day))
        missing = next((earlier for earlier in folded if bronze.get(earlier) is None), None)
        if missing is not None:
            return f"Bronze {missing}, read by its rebuild, {_absent('bronze', missing, gone)}"
        after = [earlier for earlier in folded if _after(bronze[earlier].committed_at, started)]
        if read is not None:  # exact: which commits it folded
            if read == commits_sha256((d.isoformat(), bronze[d].manifest_sha256) for d in folded):
                return None
            which = str(after[0]) if after else f"from {folded[0]} to {folded[-1]}"  # the clocks may not say
            return f"Bronze {which} was committed again after Silver {day} was rebuilt from Bronze"
        if after:  # lakes written before the digest: two clock readings
            return f"Bronze {after[0]} was committed after Silver {day} was rebuilt from Bronze"
        return None
    if previous is None:
        return None  # the first partition: Bronze D only
    before = date.fromisoformat(str(previous))
    if silver.get(before) is None:
        return f"Silver {before}, its input, {_absent('silver', before, gone)}"
    if reasons.get(before):
        return f"Silver {before}, its input, is stale"
    if read is not None:  # exact: which commit it read
        recommitted = read != silver[before].manifest_sha256
    else:  # lakes written before the digest: two clock readings
        recommitted = _after(silver[before].committed_at, started)
    if recommitted:
        return f"Silver {before}, its input, was committed again after Silver {day} was computed"
    return None


# What the verdict reads of a Silver day's metadata (Bronze days: only which commit they are).
_LINEAGE = (
    "bronze_manifest_sha256",
    "previous_state",
    "previous_state_sha256",
    "started_at",
    "dagster_run_id",
)


def committed_records(
    io: LakeIOManager,
    dataset_path: str,
    start: date,
    end: date,
    damaged: dict[date, str] | None = None,
) -> Iterator[tuple[date, CommitRecord]]:
    """The committed partitions of ``dataset_path`` from ``start`` to ``end``, in date order, with what the
    verdict reads of their metadata.

    A partition whose commit cannot be read (a damaged ``_checksums.json`` or ``_metadata.json``) raises
    ``IntegrityError``; given ``damaged``, it is left out instead, with the error, by date, and the others
    are read one by one."""
    keys = [k for k in io.partition_dates(dataset_path) if start <= date.fromisoformat(k) <= end]
    try:
        commits = io.commits(dataset_path, keys, _LINEAGE)
    except IntegrityError:
        if damaged is None:
            raise
        commits = [_one_commit(io, dataset_path, key, damaged) for key in keys]
    for key, commit in zip(keys, commits, strict=True):
        if commit is not None:
            yield date.fromisoformat(key), commit


def _one_commit(
    io: LakeIOManager, dataset_path: str, key: str, damaged: dict[date, str]
) -> CommitRecord | None:
    try:
        return io.commits(dataset_path, [key], _LINEAGE)[0]
    except IntegrityError as exc:
        damaged[date.fromisoformat(key)] = str(exc)
        return None


def days_between(start: date, end: date) -> Iterable[date]:
    """The days from ``start`` up to, not including, ``end``."""
    return (start + timedelta(days=i) for i in range((end - start).days))


def _after(committed_at: str, started: datetime | None) -> bool:
    """A commit made after a run started, by the two clocks' readings (or when either is unknown)."""
    committed = _instant(committed_at)
    return started is None or committed is None or committed > started


def _instant(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
