"""One dataset's committed partitions, as readers downstream of the lake see them (docs/reading.md).

A ``Dataset`` is one Bronze or Silver dataset folder on a backend. It answers what a reader asks before
reading: which run dates are committed, the committed partition of a date, the latest one on or before a
date; and it gives a LazyFrame over one artifact of some partitions through the one resolver,
:func:`medallion_resources.lake.read.scan_artifact`. Errors name the dataset, the layer and what exists.
Users reach it through a Gold asset's input (the IO managers) or ``medallion_assets.read``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pyarrow as pa

from medallion_resources.errors import NotCommittedError, PartitionReplacedError, UnknownNameError
from medallion_resources.lake.layout import (
    CHECKSUMS_NAME,
    DEFAULT_ARTIFACT,
    ERRORS_ARTIFACT,
    partition_folder,
    run_dates,
)
from medallion_resources.lake.read import CommittedPartition, artifact_schema, read_committed, scan_artifact
from medallion_resources.lake.schema import widen_schema
from medallion_resources.storage.base import StorageBackend, join_relpath

__all__ = ["Dataset", "describe_dates"]

_REREADS = 3  # a partition committed again while read is read again, at most this many times


@dataclass(frozen=True)
class Dataset:
    """A dataset folder (``system=../table=..`` or ``domain=../entity=../v<n>``) of one layer's backend."""

    backend: StorageBackend
    path: str
    layer: str  # "bronze" or "silver"
    name: str  # how messages name it: a source name or an asset key

    @property
    def label(self) -> str:
        return f"{self.layer.capitalize()} {self.name}"

    def prefix(self, run_date: str) -> str:
        return join_relpath(self.path, partition_folder(self.layer, run_date))

    # --- which partitions exist ---
    def folder_dates(self) -> list[str]:
        """Run dates that have a folder, committed or not (a failed first attempt leaves one), sorted."""
        return run_dates(self.layer, self.backend.list_dirs(self.path))

    def committed_dates(self) -> list[str]:
        """Run dates whose folder holds a manifest: the committed partitions."""
        return [
            d
            for d in self.folder_dates()
            if self.backend.exists(join_relpath(self.prefix(d), CHECKSUMS_NAME))
        ]

    def partition(self, run_date: str | date) -> CommittedPartition | None:
        return read_committed(self.backend, self.prefix(str(run_date)))

    def latest(self, on_or_before: str | date | None = None) -> CommittedPartition | None:
        """The committed partition with the latest run date (on or before ``on_or_before`` when given)."""
        bound = None if on_or_before is None else str(on_or_before)
        for run_date in reversed(self.folder_dates()):
            if bound is not None and run_date > bound:
                continue
            part = self.partition(run_date)
            if part is not None:
                return part
        return None

    # --- the same, or a clear error ---
    def require(self, run_date: str | date) -> CommittedPartition:
        part = self.partition(run_date)
        if part is None:
            raise NotCommittedError(
                f"{self.label} has no committed partition for {run_date}; {self._what_exists()}"
            )
        return part

    def require_latest(self, on_or_before: str | date | None = None) -> CommittedPartition:
        part = self.latest(on_or_before)
        if part is None:
            when = "" if on_or_before is None else f" on or before {on_or_before}"
            raise NotCommittedError(f"{self.label} has no committed partition{when}; {self._what_exists()}")
        return part

    def _what_exists(self) -> str:
        dates = self.committed_dates()
        where = self.backend.local_path(self.path) or self.backend.uri(self.path)
        if not dates:
            return f"nothing is committed under {where} (materialize it first)"
        return f"committed: {describe_dates(dates)} ({where})"

    # --- reading ---
    def scan(
        self,
        parts: Sequence[CommittedPartition],
        artifact: str,
        *,
        verify: bool = True,
        cache_dir: Path | None = None,
    ) -> pl.LazyFrame:
        """One artifact of ``parts``, in order, as one LazyFrame (the union of the partitions' rows).

        Partitions whose columns differ in type (``1`` one day, ``"x"`` the next; a date-time that gained a
        time zone) are read as the parts of one partition are: widened by the lake's rule to the union of
        the schemas their metadata records (polars' own relaxed concat refuses naive with zoned date-times
        and spells a float ``2.0`` where the lake reads ``2``).

        A partition committed again while it is read (a re-run of that day removing the files of the commit
        being read) is read again as committed now, so a reader next to a schedule gets the rows of one
        whole commit instead of an error.
        """
        for part in parts:
            self.check_artifact(part, artifact)
        for _ in range(_REREADS):
            try:
                return self._scan(parts, artifact, verify, cache_dir)
            except PartitionReplacedError as exc:
                parts = self._in_place(parts, artifact, exc)
        return self._scan(parts, artifact, verify, cache_dir)

    def _scan(
        self, parts: Sequence[CommittedPartition], artifact: str, verify: bool, cache_dir: Path | None
    ) -> pl.LazyFrame:
        widest = _widest(parts, artifact) if len(parts) > 1 else None
        frames = [
            scan_artifact(part, artifact, verify=verify, cache_dir=cache_dir, schema=widest) for part in parts
        ]
        if not frames:
            return pl.LazyFrame()
        return frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")

    def _in_place(
        self, parts: Sequence[CommittedPartition], artifact: str, replaced: PartitionReplacedError
    ) -> list[CommittedPartition]:
        """``parts`` with each one committed again since it was read replaced by its commit in place."""
        fresh, changed = [], False
        for part in parts:
            current = read_committed(self.backend, part.prefix)
            if current is None:
                raise replaced
            if current.manifest.sha256 != part.manifest.sha256:
                self.check_artifact(current, artifact)
                part, changed = current, True
            fresh.append(part)
        if not changed:
            raise replaced
        return fresh

    def check_artifact(self, part: CommittedPartition, artifact: str) -> None:
        """``UnknownNameError`` listing the partition's artifacts when ``artifact`` is not one of them."""
        known = artifacts_of(part)
        if artifact not in known:
            raise UnknownNameError(
                "artifact",
                artifact,
                known,
                known=f"the artifacts of {self.label} {part.manifest.run_date} are",
            )


def _widest(parts: Sequence[CommittedPartition], artifact: str) -> pa.Schema | None:
    """The recorded schemas of ``artifact`` in ``parts`` widened into one; None when they agree or one
    partition records none (each is then read with its own)."""
    schemas = [artifact_schema(part, artifact) for part in parts]
    recorded = [schema for schema in schemas if schema is not None]
    if len(recorded) < len(schemas) or all(s.equals(recorded[0]) for s in recorded[1:]):
        return None
    widest = recorded[0]
    for schema in recorded[1:]:
        widest = widen_schema(widest, schema)
    return widest


def artifacts_of(part: CommittedPartition) -> set[str]:
    """Artifacts a partition holds: those with files, those its metadata records a schema of (empty
    ones), Bronze's ``data``, and ``errors`` (the quarantined rows, possibly none)."""
    found = {f.artifact for f in part.manifest.files}
    schemas = part.metadata.get("schemas")
    if isinstance(schemas, dict):
        found |= {str(name) for name in schemas}
    found.add(DEFAULT_ARTIFACT if part.manifest.layer == "bronze" else ERRORS_ARTIFACT)
    return found


def describe_dates(dates: Iterable[str]) -> str:
    """``2025-01-01..2025-01-03, 2025-01-05``: consecutive days as ranges, the rest one by one."""
    ranges: list[list[date]] = []
    other: list[str] = []
    for text in sorted(dates):
        try:
            day = date.fromisoformat(text)
        except ValueError:
            other.append(text)  # a folder that is not a run date: shown as it is
            continue
        if ranges and ranges[-1][1] + timedelta(days=1) == day:
            ranges[-1][1] = day
        else:
            ranges.append([day, day])
    return ", ".join([str(a) if a == b else f"{a}..{b}" for a, b in ranges] + other)
