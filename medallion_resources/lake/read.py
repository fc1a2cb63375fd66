"""Reading committed partitions: only what the manifest lists, each file verified before use (DESIGN §4).

``read_committed`` finds the manifest (``_checksums.json``) of a partition and the metadata whose SHA-256
it records; ``read_artifact`` and friends read the listed part files, verifying size and SHA-256, and
unify their schemas with the one widening rule. The commit protocol that writes them is
:mod:`medallion_resources.lake.commit`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO

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
from medallion_resources.lake.manifest import Manifest, ManifestFile
from medallion_resources.lake.parts import CHUNK_SIZE, read_parquet_bytes
from medallion_resources.lake.schema import conform_table, schema_from_json, widen_schema
from medallion_resources.storage.base import StorageBackend, join_relpath

__all__ = [
    "CommittedPartition",
    "artifact_schema",
    "iter_artifact_tables",
    "read_artifact",
    "read_committed",
    "read_verified",
    "verify_partition",
]


_READ_RETRIES = 3  # a commit landing while we read is read again, not reported as corruption
_FOOTER_TAIL = 16 * 1024 * 1024  # verify keeps this much of a file's end to read its footer

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

    @property
    def committed_time(self) -> datetime | None:
        """When the manifest was committed (``committed_at``), None when unparsable."""
        try:
            return datetime.fromisoformat(self.manifest.committed_at.replace("Z", "+00:00"))
        except ValueError:
            return None


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
    """Re-hash every listed file and the metadata, and count rows where the data says them (each file's
    Parquet footer), not where the manifest does; the problems found, each naming its file (empty: ok).

    A manifest whose ``row_count`` and ``record_count`` were edited together is caught by the footers.
    """
    problems: list[str] = []
    footer_total = 0
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
            sha256, rows = _hash_and_count(stream)
        if sha256 != file.sha256:
            problems.append(f"{relpath}: SHA-256 {sha256}, the manifest says {file.sha256}")
            continue
        if rows is None:
            problems.append(f"{relpath}: no readable Parquet footer")
            continue
        if rows != file.row_count:
            problems.append(
                f"{relpath}: {rows} rows in its Parquet footer, the manifest says {file.row_count}"
            )
        if file.artifact != ERRORS_ARTIFACT:
            footer_total += rows
    try:
        _matching_metadata(part.backend, part.prefix, part.manifest)
    except IntegrityError as exc:
        problems.append(f"{join_relpath(part.prefix, METADATA_NAME)}: {exc}")
    listed = sum(f.row_count for f in part.manifest.files if f.artifact != ERRORS_ARTIFACT)
    if not problems and footer_total != part.manifest.record_count:
        problems.append(
            f"{join_relpath(part.prefix, CHECKSUMS_NAME)}: record_count {part.manifest.record_count}, "
            f"but the Parquet footers of the listed files hold {footer_total} rows"
        )
    elif listed != part.manifest.record_count:
        problems.append(
            f"{join_relpath(part.prefix, CHECKSUMS_NAME)}: record_count {part.manifest.record_count}, "
            f"but the listed files' row_count add up to {listed}"
        )
    return problems


def _hash_and_count(stream: BinaryIO) -> tuple[str, int | None]:
    """SHA-256 of a Parquet file and the rows its footer records, in one pass (the stream need not seek:
    only the last ``_FOOTER_TAIL`` bytes are kept)."""
    digest = hashlib.sha256()
    tail: list[bytes] = []
    kept = 0
    while chunk := stream.read(CHUNK_SIZE):
        digest.update(chunk)
        tail.append(chunk)
        kept += len(chunk)
        while tail and kept - len(tail[0]) >= _FOOTER_TAIL:
            kept -= len(tail.pop(0))
    return digest.hexdigest(), _footer_rows(b"".join(tail))


def _footer_rows(tail: bytes) -> int | None:
    """Rows in the Parquet footer at the end of ``tail``; None when there is no readable footer in it."""
    if len(tail) < 12 or tail[-4:] != b"PAR1":
        return None
    length = int.from_bytes(tail[-8:-4], "little")
    if length + 8 > len(tail):
        return None
    try:  # the footer alone, behind the leading magic bytes, reads as a file without row groups' data
        return int(pq.read_metadata(pa.BufferReader(b"PAR1" + tail[-(length + 8) :])).num_rows)
    except (pa.ArrowException, OSError):
        return None


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
        schema = artifact_schema(part, artifact)
        return pl.DataFrame() if schema is None else pl.DataFrame(pl.from_arrow(schema.empty_table()))
    schema = tables[0].schema
    for table in tables[1:]:
        schema = widen_schema(schema, table.schema)
    frames = [pl.DataFrame(pl.from_arrow(conform_table(t, schema))) for t in tables]
    return pl.concat(frames, how="diagonal_relaxed")
