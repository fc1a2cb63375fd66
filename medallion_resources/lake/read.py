"""Reading committed partitions: only what the manifest lists, each file verified before use (DESIGN §4).

``read_committed`` finds the manifest (``_checksums.json``) of a partition and the metadata whose SHA-256
it records; ``read_artifact`` and friends read the listed part files, verifying size and SHA-256, and
unify their schemas with the one widening rule. ``scan_artifact`` gives the same rows as a LazyFrame,
for readers downstream of the lake. The commit protocol that writes them is
:mod:`medallion_resources.lake.commit`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from medallion_resources.errors import IntegrityError
from medallion_resources.lake.layout import (
    CHECKSUMS_NAME,
    DEFAULT_ARTIFACT,
    ERRORS_ARTIFACT,
    METADATA_NAME,
    sha256_hex,
    staged_metadata_name,
)
from medallion_resources.lake.local_copy import verified_local_path
from medallion_resources.lake.manifest import Manifest, ManifestFile
from medallion_resources.lake.parts import hash_stream, read_parquet_bytes
from medallion_resources.lake.schema import conform_table, schema_from_json, widen_schema
from medallion_resources.storage.base import StorageBackend, join_relpath

__all__ = [
    "CommittedPartition",
    "artifact_schema",
    "iter_artifact_tables",
    "read_artifact",
    "read_committed",
    "read_verified",
    "scan_artifact",
    "verify_partition",
]


_READ_RETRIES = 3  # a commit landing while we read is read again, not reported as corruption

# --- reading ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CommittedPartition:
    """A partition as its manifest describes it, with its (matching) metadata."""

    backend: StorageBackend
    prefix: str
    manifest: Manifest
    metadata: dict[str, Any]

    def files(self, artifact: str | None = None) -> list[ManifestFile]:
        """Listed files, in manifest order; only ``artifact``'s when given."""
        return [f for f in self.manifest.files if artifact is None or f.artifact == artifact]

    def relpath(self, file: ManifestFile) -> str:
        return join_relpath(self.prefix, file.path)

    def describe(self) -> str:
        return f"{self.manifest.describe()} ({self.backend.uri(self.prefix)})"


def _matching_metadata(backend: StorageBackend, prefix: str, manifest: Manifest) -> bytes:
    """``_metadata.json``, or the staged copy when a commit stopped between steps 3 and 4 (roll forward)."""
    seen = []
    for name in (METADATA_NAME, staged_metadata_name(manifest.attempt)):
        try:
            data = backend.read_bytes(join_relpath(prefix, name))
        except FileNotFoundError:
            seen.append(f"{name} is missing")
            continue
        if sha256_hex(data) == manifest.metadata_sha256:
            return data
        seen.append(f"{name} has SHA-256 {sha256_hex(data)}")
    raise IntegrityError(
        f"{manifest.describe()} ({backend.uri(prefix)}): no metadata matches the manifest's metadata_sha256 "
        f"{manifest.metadata_sha256}: {'; '.join(seen)}"
    )


def read_committed(backend: StorageBackend, prefix: str) -> CommittedPartition | None:
    """The committed partition under ``prefix``; None when nothing was ever committed there.

    Raises ``IntegrityError`` when the manifest is unparsable or no metadata file matches it. A commit that
    lands while we read is retried (a few times) rather than reported as corruption.
    """
    prefix = prefix.strip("/")
    checksums = join_relpath(prefix, CHECKSUMS_NAME)
    for retry in range(_READ_RETRIES):
        try:
            raw = backend.read_bytes(checksums)
        except FileNotFoundError:
            return None
        try:
            manifest = Manifest.from_json(raw)
        except ValueError as exc:
            raise IntegrityError(f"{backend.uri(checksums)}: {exc}") from exc
        try:
            metadata_bytes = _matching_metadata(backend, prefix, manifest)
        except IntegrityError:
            if retry + 1 < _READ_RETRIES and backend.read_bytes(checksums) != raw:
                continue  # a new commit landed meanwhile: read that one
            raise
        try:
            metadata = json.loads(metadata_bytes)
        except ValueError as exc:
            raise IntegrityError(f"{manifest.describe()}: _metadata.json is not valid JSON: {exc}") from exc
        return CommittedPartition(backend=backend, prefix=prefix, manifest=manifest, metadata=metadata)
    raise AssertionError("unreachable")  # pragma: no cover


def verify_partition(part: CommittedPartition) -> list[str]:
    """Re-hash every listed file and the metadata; the problems found, each naming its file (empty: ok)."""
    problems: list[str] = []
    for file in part.manifest.files:
        relpath = part.relpath(file)
        try:
            size = part.backend.size(relpath)
        except FileNotFoundError:
            problems.append(f"{relpath}: missing (listed in the manifest)")
            continue
        if size != file.size_bytes:
            problems.append(f"{relpath}: size {size} bytes, the manifest says {file.size_bytes}")
            continue
        with part.backend.open_read(relpath) as stream:
            _, sha256 = hash_stream(stream)
        if sha256 != file.sha256:
            problems.append(f"{relpath}: SHA-256 {sha256}, the manifest says {file.sha256}")
    try:
        _matching_metadata(part.backend, part.prefix, part.manifest)
    except IntegrityError as exc:
        problems.append(f"{join_relpath(part.prefix, METADATA_NAME)}: {exc}")
    counted = sum(f.row_count for f in part.manifest.files if f.artifact != ERRORS_ARTIFACT)
    if counted != part.manifest.record_count:
        problems.append(
            f"{join_relpath(part.prefix, CHECKSUMS_NAME)}: record_count {part.manifest.record_count}, "
            f"but the listed files hold {counted} rows"
        )
    return problems


def read_verified(part: CommittedPartition, file: ManifestFile) -> bytes:
    """The bytes of a listed file after checking size and SHA-256; ``IntegrityError`` on any mismatch."""
    relpath = part.relpath(file)
    try:
        data = part.backend.read_bytes(relpath)
    except FileNotFoundError as exc:
        raise IntegrityError(f"{part.describe()}: {file.path} is listed in the manifest but missing") from exc
    if len(data) != file.size_bytes:
        raise IntegrityError(
            f"{part.describe()}: {file.path} has {len(data)} bytes, the manifest says {file.size_bytes}"
        )
    sha256 = sha256_hex(data)
    if sha256 != file.sha256:
        raise IntegrityError(
            f"{part.describe()}: {file.path} has SHA-256 {sha256}, the manifest says {file.sha256}"
        )
    return data


def iter_artifact_tables(part: CommittedPartition, artifact: str) -> Iterator[pa.Table]:
    """One verified Arrow table per part file of ``artifact``, in manifest order."""
    for file in part.files(artifact):
        yield read_parquet_bytes(read_verified(part, file))


def artifact_schema(part: CommittedPartition, artifact: str) -> pa.Schema | None:
    """The schema recorded in the metadata: ``schemas[artifact]``, or ``schema`` for Bronze's ``data``."""
    schemas = part.metadata.get("schemas")
    columns = schemas.get(artifact) if isinstance(schemas, dict) else None
    if columns is None and artifact == DEFAULT_ARTIFACT:
        columns = part.metadata.get("schema")
    if not isinstance(columns, list):
        return None
    try:
        return schema_from_json(columns)
    except (AttributeError, TypeError, ValueError):
        return None


def read_artifact(part: CommittedPartition, artifact: str) -> pl.DataFrame:
    """Every part of ``artifact``, verified, as one frame.

    Parts may differ in schema; they are unified with ``widen_schema`` (the writer's rule) and then
    concatenated, so the result has the same columns and types the writer reported. An artifact without
    files gives an empty frame, with the schema from the metadata when it records one.
    """
    tables = list(iter_artifact_tables(part, artifact))
    if not tables:
        return _empty_frame(part, artifact)
    schema = tables[0].schema
    for table in tables[1:]:
        schema = widen_schema(schema, table.schema)
    frames = [pl.DataFrame(pl.from_arrow(conform_table(t, schema))) for t in tables]
    return pl.concat(frames, how="diagonal_relaxed")


def _empty_frame(part: CommittedPartition, artifact: str) -> pl.DataFrame:
    """An artifact without files: no rows, with the schema from the metadata when it records one."""
    schema = artifact_schema(part, artifact)
    return pl.DataFrame() if schema is None else pl.DataFrame(pl.from_arrow(schema.empty_table()))


def scan_artifact(
    part: CommittedPartition, artifact: str, *, verify: bool = True, cache_dir: Path | None = None
) -> pl.LazyFrame:
    """A LazyFrame over the committed files of ``artifact``: the rows ``read_artifact`` gives, lazily.

    Every reader downstream of the lake (a Gold asset's input, ``medallion_assets.read``) goes through
    here. Each listed file is verified once (size and SHA-256; ``verify=False``: size only) and scanned
    from local disk: in place on the local backend, from a verified local copy on any other
    (:mod:`medallion_resources.lake.local_copy`). Parts whose schemas differ are unified by the writer's
    widening rule: parts that already have the widened schema are scanned lazily, the others (older
    parts of a drifted schema) are converted one part at a time.
    """
    files = part.files(artifact)
    if not files:
        return _empty_frame(part, artifact).lazy()
    where = part.describe()
    paths = [
        verified_local_path(part.backend, part.relpath(f), f, where=where, verify=verify, cache_dir=cache_dir)
        for f in files
    ]
    return _scan_widened(paths)


def _scan_widened(paths: list[str]) -> pl.LazyFrame:
    """The files in order, each with the widened schema of all (read from the footers only)."""
    schemas = [pq.read_schema(path) for path in paths]
    target = schemas[0]
    for schema in schemas[1:]:
        target = widen_schema(target, schema)
    frames: list[pl.LazyFrame] = []
    run: list[str] = []  # consecutive files that already have the target schema: one scan
    for path, schema in zip(paths, schemas, strict=True):
        if schema.equals(target):
            run.append(path)
            continue
        if run:
            frames.append(pl.scan_parquet(run, hive_partitioning=False))
            run = []
        table = conform_table(pq.read_table(path), target)
        frames.append(pl.DataFrame(pl.from_arrow(table)).lazy())
    if run:
        frames.append(pl.scan_parquet(run, hive_partitioning=False))
    return frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")
