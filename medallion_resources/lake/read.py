"""Reading committed partitions: only what the manifest lists, each file verified before use (DESIGN §4).

``read_committed`` finds the manifest (``_checksums.json``) of a partition and the metadata whose SHA-256
it records. :func:`scan_artifact` is **the one read path** of an artifact's rows: it reads the listed data
files (shared ones of earlier partitions included), verifying size and SHA-256, drops the rows that the
listed deletes files remove (merge-on-read, see docs/architecture.md), unifies the files' schemas with the
one widening rule and, for an artifact written by key, puts the rows in key order. ``read_artifact``,
``iter_artifact_tables`` and ``read_touched`` (the rows of some keys only, with their row ids, for a
Silver day) are built on the same per-file resolution. The commit protocol that writes them is
:mod:`medallion_resources.lake.commit`.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any, BinaryIO

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from medallion_resources.errors import IntegrityError, PartitionReplacedError, StorageError
from medallion_resources.lake.content_cache import ContentCache
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
from medallion_resources.lake.parts import CHUNK_SIZE, read_parquet_bytes
from medallion_resources.lake.schema import common_type, conform_table, schema_from_json, widen_schema
from medallion_resources.storage.base import StorageBackend, join_relpath

__all__ = [
    "ROW_FILE",
    "ROW_POS",
    "CommittedPartition",
    "artifact_schema",
    "deleted_positions",
    "forget_files_read",
    "iter_artifact_frames",
    "iter_artifact_tables",
    "read_artifact",
    "read_committed",
    "read_verified",
    "scan_artifact",
    "size_problem",
    "verify_attempt",
    "verify_committed",
    "verify_partition",
    "widen_alike",
]

# Row ids of rows read by ``touched.read_touched``: the data file (as the manifest lists it), the position.
ROW_FILE, ROW_POS = "__medallion_file", "__medallion_pos"
DELETE_PATH, DELETE_POS = "path", "pos"  # the columns of a deletes file


_READ_RETRIES = 3  # a commit landing while we read is read again, not reported as corruption
_SCAN_POS = "__medallion_pos"  # a file's row positions while its deletes are dropped
_FOOTER_TAIL = 16 * 1024 * 1024  # verify keeps this much of a file's end to read its footer
# Deletes files read in this process, by location and content (``content_cache``): a day reads D-1's, its
# check reads them again, the next day of a range run once more. Positions are 8 bytes a deleted row:
# 128 MiB holds 16M of them.
_DELETES_READ: ContentCache[dict[str, pl.Series]] = ContentCache(
    128 << 20, lambda positions: sum(int(s.estimated_size()) + len(p) for p, s in positions.items())
)
# Small files of object stores fetched in this process, by location and content: on local disk a read is
# cheap, on a store each is a request, and a range run reads the files D-1 carries again every day.
_SMALL_FILE = 1 << 20
_SMALL_FILES_READ: ContentCache[bytes] = ContentCache(64 << 20, len)


# --- reading ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CommittedPartition:
    """A partition as its manifest describes it, with its (matching) metadata."""

    backend: StorageBackend
    prefix: str
    manifest: Manifest
    metadata: dict[str, Any]

    def files(self, artifact: str | None = None) -> list[ManifestFile]:
        """Listed data files, in manifest order; only ``artifact``'s when given."""
        return self.manifest.data_files(artifact)

    @property
    def root(self) -> str:
        """The dataset root: the folder that holds the partition folders."""
        return self.prefix.rsplit("/", 1)[0] if "/" in self.prefix else ""

    @property
    def folder(self) -> str:
        """The partition's folder name (``load_date=...``), relative to the dataset root."""
        return self.prefix.rsplit("/", 1)[-1]

    def relpath(self, file: ManifestFile) -> str:
        """Where a listed file is: under the dataset root (version 2) or the partition folder (1)."""
        return join_relpath(self.root if self.manifest.shared else self.prefix, file.path)

    def rooted(self, file: ManifestFile) -> ManifestFile:
        """``file`` with its path relative to the dataset root, whatever the manifest version."""
        return file if self.manifest.shared else file.moved_under(self.folder)

    @cached_property
    def _deletes(self) -> dict[str, dict[str, pl.Series]]:
        return {}

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


def size_problem(part: CommittedPartition, file: ManifestFile) -> str | None:
    """Why a listed file is not the one the manifest lists by its size alone (missing, another size), or
    None: the cheap half of :func:`verify_partition` (``medallion inspect``)."""
    relpath = part.relpath(file)
    try:
        size = part.backend.size(relpath)
    except FileNotFoundError:
        return f"{relpath}: missing (listed in the manifest)"
    if size != file.size_bytes:
        return f"{relpath}: size {size} bytes, the manifest says {file.size_bytes}"
    return None


def verify_attempt(
    backend: StorageBackend, prefix: str, ours: Manifest, *, own_files_only: bool = False
) -> tuple[list[str], Manifest | None]:
    """Verify the attempt that committed ``ours`` at ``prefix`` (a run's ``manifest_verified`` check).

    Not whatever is committed there now: a concurrent run of the same partition may have committed a newer
    attempt since, whose clean-up removes our files while we hash them. Returns ``(problems, None)``; or
    ``([], newer)`` when our files are gone because a newer attempt replaced our commit (its own run
    verifies it), so that a commit replaced whole is not reported as a damaged one.
    """
    problems = verify_partition(CommittedPartition(backend, prefix, ours, {}), own_files_only=own_files_only)
    if problems:
        current = read_committed(backend, prefix)
        if current is not None and current.manifest.attempt > ours.attempt:
            return [], current.manifest
    return problems, None


def verify_committed(part: CommittedPartition) -> tuple[CommittedPartition, list[str]]:
    """Verify what is committed at ``part``'s folder (``medallion verify``): the partition verified and
    its problems. When problems were found because the partition was committed again meanwhile (a re-run
    replaced the manifest and removed the files the old one listed), the new commit is verified instead:
    a whole lake is not reported as damaged for having been re-run while it was checked.
    """
    problems = verify_partition(part)
    for _ in range(_READ_RETRIES):
        if not problems:
            break
        try:
            current = read_committed(part.backend, part.prefix)
        except IntegrityError:
            break
        if current is None or current.manifest.sha256 == part.manifest.sha256:
            break
        part, problems = current, verify_partition(current)
    return part, problems


def verify_partition(part: CommittedPartition, *, own_files_only: bool = False) -> list[str]:
    """Re-hash every listed file and the metadata; the problems found, each naming its file (empty: ok).

    Also checks that every deletes file names listed data files of its artifact and positions inside them,
    each once, and that ``record_count`` is the live rows (rows of the data files less the deleted ones).
    ``own_files_only``: re-hash only the files the partition's own folder holds and check the size of the
    ones it shares (the Silver step's ``manifest_verified``, right after a commit whose day verified every
    shared file as it read it); ``medallion verify`` re-hashes everything.
    Counts rows where the data says them, each file's Parquet footer, not where the manifest does, so a
    manifest whose ``row_count`` and ``record_count`` were edited together is caught.
    """
    problems: list[str] = []
    for file in part.manifest.files:
        relpath = part.relpath(file)
        wrong = size_problem(part, file)
        if wrong is not None:
            problems.append(wrong)
            continue
        if own_files_only and not relpath.startswith(part.prefix + "/"):
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
    try:
        _matching_metadata(part.backend, part.prefix, part.manifest)
    except IntegrityError as exc:
        problems.append(f"{join_relpath(part.prefix, METADATA_NAME)}: {exc}")
    if not problems:
        problems += _check_deletes(part)
    counted = sum(part.manifest.live_rows(a) for a in part.manifest.artifacts() if a != ERRORS_ARTIFACT)
    if counted != part.manifest.record_count:
        problems.append(
            f"{join_relpath(part.prefix, CHECKSUMS_NAME)}: record_count {part.manifest.record_count}, "
            f"but the Parquet footers of the listed files hold {counted} rows"
            + (" once their deletes are applied" if part.manifest.delete_files() else "")
        )
    return problems


def _check_deletes(part: CommittedPartition) -> list[str]:
    """Problems of the deletes files: unknown data files, positions out of range, a position twice."""
    problems: list[str] = []
    for artifact in part.manifest.artifacts():
        if not part.manifest.delete_files(artifact):
            continue
        rows = {f.path: f.row_count for f in part.manifest.data_files(artifact)}
        by_path = deleted_positions(part, artifact)  # per data file: integer work, no string hashing
        for path in sorted(path for path in by_path if path not in rows):
            problems.append(f"deletes of '{artifact}' name {path}, which is not a listed data file of it")
        outside = twice = 0
        for path, positions in by_path.items():
            if path in rows:
                outside += positions.filter((positions < 0) | (positions >= rows[path])).len()
                twice += positions.len() - positions.n_unique()
        if outside:
            problems.append(f"deletes of '{artifact}': {outside} position(s) outside their data file")
        if twice:
            problems.append(f"deletes of '{artifact}': {twice} position(s) deleted more than once")
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
    """The bytes of a listed file after checking size and SHA-256; ``IntegrityError`` on any mismatch.

    A small file of an object store is fetched once per process (``content_cache``): each day of a range
    run reads the files D-1 carries, a small table's up to ~100 of them, and on a store each is a request.
    """
    if file.size_bytes <= _SMALL_FILE and part.backend.local_path(part.relpath(file)) is None:
        return _SMALL_FILES_READ.get(_location(part, file), file, lambda: _fetch_verified(part, file))
    return _fetch_verified(part, file)


def _fetch_verified(part: CommittedPartition, file: ManifestFile) -> bytes:
    relpath = part.relpath(file)
    try:
        data = part.backend.read_bytes(relpath)
    except FileNotFoundError as exc:
        raise missing_file_error(part, file) from exc
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


def missing_file_error(part: CommittedPartition, file: ManifestFile) -> IntegrityError:
    """The error for a listed file that is not there: the partition was committed again after its manifest
    was read (a commit deletes the files of the one it replaces), so the read should start over; or, when
    the manifest in place is still the one read, the file was lost."""
    try:
        raw = part.backend.read_bytes(join_relpath(part.prefix, CHECKSUMS_NAME))
    except (FileNotFoundError, StorageError):
        raw = None
    if raw is not None and sha256_hex(raw) != part.manifest.sha256:
        try:
            newer = Manifest.from_json(raw).attempt
        except ValueError:
            newer = "another"
        return PartitionReplacedError(
            f"{part.describe()}: {file.path} is gone: the partition was committed again while this read it "
            f"(attempt {part.manifest.attempt} replaced by {newer}); nothing is damaged: read it again"
        )
    return IntegrityError(f"{part.describe()}: {file.path} is listed in the manifest but missing")


def _file_deletes(part: CommittedPartition, file: ManifestFile) -> dict[str, pl.Series]:
    """The positions one deletes file removes, per data file: verified and decoded once per process."""

    def read() -> dict[str, pl.Series]:
        data = read_verified(part, file)
        by_path = _dictionary_deletes(data)
        if by_path is None:
            frame = _decode(data)
            by_path = _positions_by_path(frame.select(DELETE_PATH, pl.col(DELETE_POS).cast(pl.Int64)))
        return by_path

    return _DELETES_READ.get(_location(part, file), file, read)


class _ArrowStream:
    """An Arrow array handed to polars through the Arrow PyCapsule interface. Given a pyarrow object,
    polars first imports ``pyarrow.compute`` (28 ms, once per process; a Silver day needs it nowhere else)."""

    def __init__(self, data: pa.ChunkedArray) -> None:
        self._data = data

    def __arrow_c_stream__(self, requested_schema: object = None) -> object:
        return self._data.__arrow_c_stream__(requested_schema)


def _dictionary_deletes(data: bytes) -> dict[str, pl.Series] | None:
    """A deletes file's positions per path, its paths read as an Arrow dictionary: runs of equal paths are
    runs of equal integer indices, so no path string is decoded or compared per row (720k deleted rows:
    19 -> 12 ms, 5 ms with the encodings ``parts._write_deletes`` writes). None for a file this cannot
    read (another layout, a null path): :func:`_positions_by_path` then reads it, or says what is wrong."""
    try:
        table = read_parquet_bytes(data, [DELETE_PATH, DELETE_POS], read_dictionary=[DELETE_PATH])
        paths = table.column(DELETE_PATH)
        if paths.null_count or not pa.types.is_dictionary(paths.type):
            return None
        positions = pl.Series(_ArrowStream(table.column(DELETE_POS))).cast(pl.Int64)
    except (pa.ArrowException, KeyError, ValueError, pl.exceptions.PolarsError):
        return None
    slices: dict[str, list[pl.Series]] = {}
    offset = 0
    for chunk in paths.chunks:
        names = chunk.dictionary.to_pylist()
        indices = pl.Series(_ArrowStream(pa.chunked_array([chunk.indices])))
        for length, index in indices.rle().struct.unnest().iter_rows():
            slices.setdefault(names[index], []).append(positions.slice(offset, length))
            offset += length
    return _joined(slices)


def _joined(slices: dict[str, list[pl.Series]]) -> dict[str, pl.Series]:
    """Each path's position slices as one series, in their order."""
    return {path: parts[0] if len(parts) == 1 else pl.concat(parts) for path, parts in slices.items()}


def _location(part: CommittedPartition, file: ManifestFile) -> str:
    return part.backend.uri(part.relpath(file))


def forget_files_read() -> None:
    """Drop what this process keeps of the files it read (tests; a long-lived process that wants memory)."""
    _DELETES_READ.clear()
    _SMALL_FILES_READ.clear()


def deleted_positions(part: CommittedPartition, artifact: str) -> dict[str, pl.Series]:
    """Per data file (its path as listed), the positions of its rows that no longer belong to ``artifact``."""
    cache = part._deletes  # a CommittedPartition is immutable: its deletes are read once
    if artifact not in cache:
        merged: dict[str, list[pl.Series]] = {}
        for file in part.manifest.delete_files(artifact):
            for path, positions in _file_deletes(part, file).items():
                merged.setdefault(path, []).append(positions)
        cache[artifact] = _joined(merged)
    return cache[artifact]


def _positions_by_path(deletes: pl.DataFrame) -> dict[str, pl.Series]:
    """Each path's positions, in their order: one slice per run of equal paths. A deletes file is written
    sorted by path, so it holds one run per data file; no hashing of the long path strings (a third of
    the time of a group-by, at a million deleted rows)."""
    runs = deletes.select(pl.col(DELETE_PATH).rle()).unnest(DELETE_PATH)
    positions = deletes.get_column(DELETE_POS)
    slices: dict[str, list[pl.Series]] = {}
    offset = 0
    for length, path in runs.iter_rows():
        slices.setdefault(str(path), []).append(positions.slice(offset, length))
        offset += length
    return _joined(slices)


def _decode(data: bytes, columns: Sequence[str] | None = None) -> pl.DataFrame:
    """A part file's bytes as a polars frame: polars' reader (several times faster than going through
    pyarrow), pyarrow for the few types polars cannot read."""
    try:
        return pl.read_parquet(io.BytesIO(data), columns=list(columns) if columns is not None else None)
    except (pl.exceptions.PolarsError, pa.ArrowException, OSError, ValueError, NotImplementedError):
        return pl.DataFrame(pl.from_arrow(read_parquet_bytes(data, columns)))


def _live_frame(
    part: CommittedPartition,
    file: ManifestFile,
    deleted: pl.Series | None,
    *,
    columns: Sequence[str] | None = None,
) -> pl.DataFrame:
    """One verified data file less its deleted rows (``columns`` only, when given)."""
    frame = _decode(read_verified(part, file), columns)
    if deleted is None:
        return frame
    keep = ~pl.int_range(pl.len(), dtype=pl.Int64).is_in(deleted.cast(pl.Int64).implode())
    return frame.filter(keep)


def _with_deletes(
    part: CommittedPartition, artifact: str, also_deleted: pl.DataFrame | None
) -> dict[str, pl.Series]:
    deleted = dict(deleted_positions(part, artifact))
    if also_deleted is not None and also_deleted.height:
        for (path,), group in also_deleted.group_by(DELETE_PATH):
            more = group.get_column(DELETE_POS).cast(pl.Int64)
            known = deleted.get(str(path))
            deleted[str(path)] = more if known is None else pl.concat([known, more])
    return deleted


def iter_artifact_frames(
    part: CommittedPartition, artifact: str, also_deleted: pl.DataFrame | None = None
) -> Iterator[pl.DataFrame]:
    """One verified frame per data file of ``artifact``, in manifest order, deleted rows dropped.

    ``also_deleted`` (``path``, ``pos``) drops more rows: a compaction folding a day's deletes in.
    """
    deleted = _with_deletes(part, artifact, also_deleted)
    for file in part.files(artifact):
        yield _live_frame(part, file, deleted.get(part.rooted(file).path))


def iter_artifact_tables(
    part: CommittedPartition, artifact: str, also_deleted: pl.DataFrame | None = None
) -> Iterator[pa.Table]:
    """:func:`iter_artifact_frames` as Arrow tables."""
    for frame in iter_artifact_frames(part, artifact, also_deleted):
        yield frame.to_arrow()


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


def _as_frame(frames: Sequence[pl.DataFrame]) -> pl.DataFrame:
    """Frames of one artifact as one frame: as they are when their schemas agree, else unified with
    ``widen_schema`` (the writer's rule) first."""
    if all(f.schema == frames[0].schema for f in frames[1:]):
        return pl.concat(frames, how="vertical") if len(frames) > 1 else frames[0]
    tables = [f.to_arrow() for f in frames]
    schema = tables[0].schema
    for table in tables[1:]:
        schema = widen_schema(schema, table.schema)
    conformed = [pl.DataFrame(pl.from_arrow(conform_table(t, schema))) for t in tables]
    return pl.concat(conformed, how="diagonal_relaxed")


def widen_alike(frames: Sequence[pl.DataFrame]) -> list[pl.DataFrame]:
    """The frames with every column they type differently converted to one type by the widening rule that
    unifies parts when they are read (``widen_schema``: ``2`` and ``"x"`` -> text, ``2`` reading ``"2"``;
    a ``null`` column takes the other's type). Each frame keeps its own columns; frames that already agree
    come back as they are.

    Rows of different days (Silver D-1's and Bronze D's) meet through it, so they join and compare as
    the lake would read them together, whatever types each day's files had: polars' own coercion (a
    relaxed concat, a join) refuses some pairs and writes a float as text differently (``2.0`` -> ``"2.0"``
    where the lake reads ``"2"``).
    """
    types: dict[str, list[pl.DataType]] = {}
    for frame in frames:
        for name, dtype in frame.schema.items():
            types.setdefault(name, []).append(dtype)
    drifted = {name: found for name, found in types.items() if any(t != found[0] for t in found[1:])}
    if not drifted:
        return list(frames)
    targets: dict[str, pa.DataType] = {}
    for name, found in drifted.items():
        arrow = [pl.DataFrame(schema={name: t}).to_arrow().schema.field(0).type for t in found]
        common = arrow[0]
        for other in arrow[1:]:
            common = common_type(common, other)
        targets[name] = common
    widened = []
    for frame in frames:
        columns = [c for c in frame.columns if c in targets]
        if not columns:
            widened.append(frame)
            continue
        schema = pa.schema([pa.field(c, targets[c]) for c in columns])
        converted = pl.DataFrame(pl.from_arrow(conform_table(frame.select(columns).to_arrow(), schema)))
        widened.append(frame.with_columns(converted.get_column(c) for c in columns))
    return widened


def _empty(part: CommittedPartition, artifact: str) -> pl.DataFrame:
    schema = artifact_schema(part, artifact)
    return pl.DataFrame() if schema is None else pl.DataFrame(pl.from_arrow(schema.empty_table()))


def _in_key_order(part: CommittedPartition, artifact: str, frame: pl.DataFrame) -> pl.DataFrame:
    """Live rows of an artifact written by key, in key order (a key's rows keep their written order)."""
    keyed = part.manifest.keyed.get(artifact)
    if keyed is None or keyed.sorted or not frame.height:
        return frame
    return frame.sort(list(keyed.keys), maintain_order=True, nulls_last=False)


def read_artifact(
    part: CommittedPartition,
    artifact: str,
    widen: Callable[[Sequence[pl.DataFrame]], list[pl.DataFrame]] | None = None,
) -> pl.DataFrame:
    """Every live row of ``artifact``, verified, as one frame (see :func:`scan_artifact`).

    Parts may differ in schema; they are unified with ``widen_schema`` (the writer's rule) and then
    concatenated, so the result has the same columns and types the writer reported. An artifact without
    files gives an empty frame, with the schema from the metadata when it records one. ``widen``: another
    rule for parts that differ (Silver's, which reads naive date-times meeting zoned ones as wall time in
    the source's zone; :func:`widen_alike` is the lake's).
    """
    frames = list(iter_artifact_frames(part, artifact))
    if not frames:
        return _empty(part, artifact)
    if widen is not None and any(f.schema != frames[0].schema for f in frames[1:]):
        frame = pl.concat(widen(frames), how="diagonal_relaxed")
    else:
        frame = _as_frame(frames)
    return _in_key_order(part, artifact, frame)


def scan_artifact(
    part: CommittedPartition,
    artifact: str,
    *,
    verify: bool = True,
    cache_dir: Path | None = None,
    schema: pa.Schema | None = None,
) -> pl.LazyFrame:
    """The one read path: the committed, verified rows of one artifact of a partition, as a LazyFrame.

    Exactly the rows of :func:`read_artifact`, lazily: every reader downstream of the lake (a Gold asset's
    input, ``medallion_assets.read``) goes through here. Each listed data file (shared ones of earlier
    partitions included) is verified once (size and SHA-256; ``verify=False``: size only) and scanned from
    local disk: in place on the local backend, from a verified local copy on any other
    (:mod:`medallion_resources.lake.local_copy`). The rows the listed deletes files remove are dropped by
    position (merge-on-read), parts of a drifted schema are widened by the writer's rule, and an artifact
    written by key is put in key order (a key's rows keep their written order). ``schema``: widen to it
    too (several partitions read as one, :meth:`~medallion_resources.lake.dataset.Dataset.scan`).
    """
    files = part.files(artifact)
    if not files:
        if schema is not None:
            return pl.DataFrame(pl.from_arrow(schema.empty_table())).lazy()
        return _empty(part, artifact).lazy()
    where = part.describe()
    deleted = deleted_positions(part, artifact)  # deletes files are small: read (verified) eagerly
    paths = []
    for f in files:
        try:
            paths.append(
                verified_local_path(
                    part.backend, part.relpath(f), f, where=where, verify=verify, cache_dir=cache_dir
                )
            )
        except IntegrityError as exc:
            if isinstance(exc.__cause__, FileNotFoundError):
                raise missing_file_error(part, f) from exc.__cause__
            raise
    positions = [deleted.get(part.rooted(f).path) for f in files]
    frame = _scan_widened(paths, positions, schema)
    keyed = part.manifest.keyed.get(artifact)
    if keyed is not None and not keyed.sorted:
        frame = frame.sort(list(keyed.keys), maintain_order=True, nulls_last=False)
    return frame


def _scan_widened(
    paths: list[str], deleted: list[pl.Series | None], widest: pa.Schema | None = None
) -> pl.LazyFrame:
    """The files in order, their deleted positions dropped, each with the widened schema of all (read from
    the footers only; and ``widest``, when given). Consecutive files that already have that schema and no
    deletes are one scan."""
    schemas = [pq.read_schema(path) for path in paths]
    target = schemas[0] if widest is None else widest
    for schema in schemas if widest is not None else schemas[1:]:
        target = widen_schema(target, schema)
    frames: list[pl.LazyFrame] = []
    run: list[str] = []
    for path, schema, positions in zip(paths, schemas, deleted, strict=True):
        if schema.equals(target) and positions is None:
            run.append(path)
            continue
        if run:
            frames.append(pl.scan_parquet(run, hive_partitioning=False))
            run = []
        if schema.equals(target):
            one = pl.scan_parquet(path, hive_partitioning=False)
        else:  # an older part of a drifted schema: converted on its own
            one = pl.DataFrame(pl.from_arrow(conform_table(pq.ParquetFile(path).read(), target))).lazy()
        if positions is not None:
            one = (
                one.with_row_index(_SCAN_POS)
                .filter(~pl.col(_SCAN_POS).is_in(positions.cast(pl.UInt32).implode()))
                .drop(_SCAN_POS)
            )
        frames.append(one)
    if run:
        frames.append(pl.scan_parquet(run, hive_partitioning=False))
    return frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")
