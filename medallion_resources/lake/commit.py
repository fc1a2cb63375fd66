"""The commit protocol: the manifest (``_checksums.json``) is the commit (DESIGN §4).

A partition folder holds part files, ``_metadata.json`` and ``_checksums.json``. Readers trust only the
files the manifest lists, after checking their size and SHA-256. Every write belongs to an *attempt*, an id
that sorts by time (``20261127T051203123456Z-1a2b3c``) and appears in every file name the attempt writes,
so that files of different attempts never collide and cleanup can tell them apart.

Commit protocol (``PartitionWriter.commit``):

1. Every part file is already durable at its final name (``StorageBackend.put_file``); nothing lists it yet.
2. The metadata is staged as ``_metadata.<attempt>.json`` (JSON, sorted keys, indent 2). The committed
   ``_metadata.json`` is not touched yet: it still belongs to the previous commit.
3. ``_checksums.json`` is written in ONE atomic ``put_bytes``. **This is the commit.** It lists every part
   file (path relative to the partition, artifact, size, SHA-256, rows), ``record_count`` (rows of every
   artifact except ``errors``) and ``metadata_sha256`` (SHA-256 of the staged metadata bytes).
4. ``_metadata.json`` is written with the same bytes as the staged copy.
5. Cleanup (:mod:`medallion_resources.lake.cleanup`): delete every file under the partition that the new
   manifest does not list, that is neither ``_checksums.json`` nor ``_metadata.json``, and whose name
   carries an attempt id *older* than ours (a replaced commit or a failed attempt), or that of the commit
   we replaced. Files of *newer* attempts are left alone: they may belong to a writer that is still
   running. The staged metadata goes next, once ``_metadata.json`` is confirmed to match, then the
   unfinished uploads (S3 multipart) of older attempts, then the temp files of the dataset's killed
   writers (:mod:`medallion_resources.lake.leftovers`). Cleanup failures are logged, never raised: the
   commit stands.

Shared files (``shared=True``, Silver; manifest version 2, see docs/architecture.md "Merge-on-read"):
the manifest lists paths relative to the dataset root, so it can list files of earlier partitions
(``reference``: carried by reference, never copied) and deletes files (``write_deletes``) next to the
data files. Before step 3 every referenced file of another partition is checked to be still in place, so
a manifest never lists a file a concurrent cleanup removed. Cleanup (step 5) is *reference-aware*: a file
is deleted only if no committed manifest of the dataset lists it (the partition's own, or any later
partition's, the only ones that can reference it); besides the partition's own folder it also sweeps the
folders whose files the replaced manifest referenced, since a replaced commit can leave a re-run day's
older files unreferenced there.

Crash safety: a crash before step 3 leaves the previous manifest, its parts and its ``_metadata.json``
untouched, so the previous commit stays readable (the crashed attempt's files are removed by ``abort`` or by
the next successful commit). A crash between steps 3 and 4 leaves a new manifest next to the old
``_metadata.json``: readers *roll forward* by using ``_metadata.<attempt>.json`` when ``_metadata.json``
does not match ``metadata_sha256``.

Concurrency (two writers of one partition): steps 3-5 run under ``StorageBackend.lock(prefix)`` (threads of
one process for every backend; processes of one machine for the local backend, via ``flock``). Writing parts
is not locked, so writers run in parallel and only their commits are serialized. Under the lock the writer
reads the current manifest *and its version* (ETag): if a *newer* attempt committed it, ours still commits
only when that attempt has finished (its staged metadata is gone) and every one of our files is still in
place (size checked); otherwise we abort and raise ``StorageError("superseded ...")``. A newer attempt
whose staged metadata is older than ``COMMIT_GIVEN_UP_AFTER`` by the store's own clock (``modified``) was
killed between steps 3 and 5 and counts as finished: attempt ids carry their machines' clocks, and a writer
killed on a machine whose clock ran ahead must not hold off the others until their clocks catch up.

Step 3 is a compare-and-swap: ``put_bytes_if(_checksums.json, ours, version read)``. Where the lock does not
reach (two machines on one object store), the store's conditional write (S3 ``If-Match``/``If-None-Match``,
Azure ETag conditions; ``atomic_conditional_put``) makes sure nobody committed between our check and our
put; when somebody did, the put fails and the writer re-reads and re-judges the new manifest (a few rounds).
Step 4 is conditional as well, on the version of ``_metadata.json`` read before step 3: a newer commit can
only write its metadata after its manifest replaced ours, so a slow writer never overwrites the metadata of
a newer commit (which would leave a manifest without matching metadata). So a manifest is only ever replaced
by a writer that saw it and judged it safe to replace, and two simultaneous runs end with one complete
commit: the other run's put either fails its condition or is judged superseded. After step 3 the writer
re-reads the manifest; if a newer writer has already replaced it, ours aborts, leaving the other commit
alone. A conditional put whose response was lost (retried, then failing its condition against our own bytes)
is recognized by comparing the bytes in place with ours.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

import polars as pl
import pyarrow as pa

from medallion_resources import progress
from medallion_resources.errors import StorageError
from medallion_resources.lake.cleanup import listed_paths, stale_files, stale_uploads
from medallion_resources.lake.layout import (
    CHECKSUMS_NAME,
    DEFAULT_ARTIFACT,
    ERRORS_ARTIFACT,
    ERRORS_DIR,
    METADATA_NAME,
    attempt_of,
    dump_metadata,
    new_attempt_id,
    sha256_hex,
    staged_metadata_name,
)
from medallion_resources.lake.leftovers import remove_leftovers
from medallion_resources.lake.manifest import (
    DATA,
    DELETES,
    SHARED_MANIFEST_VERSION,
    Keyed,
    Manifest,
    ManifestFile,
)
from medallion_resources.lake.parts import PartSettings, PartWriter, Writable
from medallion_resources.storage.base import StorageBackend, join_relpath

__all__ = ["PartitionWriter"]

log = logging.getLogger("medallion.storage")

_CAS_ROUNDS = 8
#: Steps 3-5 of a commit take seconds; a newer attempt whose manifest is in place but whose staged metadata
#: is older than this (by the store's clock) was killed, and a later writer may replace its commit.
COMMIT_GIVEN_UP_AFTER = timedelta(minutes=10)


def _default_name_prefix(artifact: str) -> str:
    return "" if artifact == DEFAULT_ARTIFACT else f"{artifact}-"


class PartitionWriter:
    """Writes one attempt at one partition: part files per artifact, then the commit.

    File names: Bronze ``part-00001-<attempt>.parquet`` (artifact ``data``), Silver
    ``<artifact>-part-00001-<attempt>.parquet``, quarantined rows
    ``_errors/errors-part-00001-<attempt>.parquet`` (``writer("errors", subdir="_errors")``).
    ``name_prefix_for_artifact`` overrides the ``<artifact>-`` part. Use it as a context manager (or call
    ``abort`` on failure) so that a failed attempt leaves nothing behind.
    """

    def __init__(
        self,
        backend: StorageBackend,
        prefix: str,
        *,
        layer: str,
        dataset: str,
        run_date: str,
        run_id: str,
        output: PartSettings,
        name_prefix_for_artifact: Callable[[str], str] | None = None,
        attempt: str | None = None,
        tmp_dir: str | None = None,
        shared: bool = False,
    ) -> None:
        self.backend = backend
        self.prefix = prefix.strip("/")
        self.layer = layer
        self.dataset = dataset
        self.run_date = run_date
        self.run_id = run_id
        self.output = output
        self.attempt = attempt or new_attempt_id()
        self.tmp_dir = tmp_dir
        self._name_prefix = name_prefix_for_artifact or _default_name_prefix
        self.shared = shared
        self.root, _, self.folder = self.prefix.rpartition("/")
        self._writers: dict[str, PartWriter] = {}
        self._carried: list[ManifestFile] = []  # files of earlier partitions, root-relative
        self._keyed: dict[str, Keyed] = {}
        self._manifest_put = False  # step 3 was attempted: our manifest may be the current one
        self._done = False  # committed or aborted
        progress.started(layer, dataset, run_date)

    # --- parts ---
    def writer(self, artifact: str, subdir: str = "", kind: str = DATA) -> PartWriter:
        """The part writer of ``artifact`` (created on first use; one per artifact and kind)."""
        self._require_open("writer")
        slot = artifact if kind == DATA else f"{artifact}#{kind}"
        existing = self._writers.get(slot)
        if existing is not None:
            return existing
        stem = "part" if kind == DATA else kind
        template = join_relpath(
            subdir, f"{self._name_prefix(artifact)}{stem}-{{n:05d}}-{self.attempt}.parquet"
        )
        writer = PartWriter(
            self.backend,
            self.prefix,
            template,
            max_rows=self.output.max_rows_per_file,
            max_bytes=max(1, int(self.output.max_file_size_mb * 1024 * 1024)),
            compression=self.output.parquet_compression,
            compression_level=self.output.parquet_compression_level,
            tmp_dir=self.tmp_dir,
            artifact=artifact,
            kind=kind,
        )
        self._writers[slot] = writer
        return writer

    def write_artifact(
        self, artifact: str, batches: Iterable[Writable], subdir: str = ""
    ) -> list[ManifestFile]:
        """Drain ``batches`` into ``artifact``'s part files and close it."""
        if artifact == ERRORS_ARTIFACT and not subdir:
            subdir = ERRORS_DIR
        part_writer = self.writer(artifact, subdir)
        report = artifact != ERRORS_ARTIFACT
        for batch in batches:
            part_writer.write(batch)
            if report:
                progress.rows_written(self.layer, self.dataset, self.run_date, *_batch_size(batch))
        return part_writer.close()

    def write_deletes(self, artifact: str, deletes: pl.DataFrame) -> list[ManifestFile]:
        """Write a deletes file of ``artifact``: the (``path``, ``pos``) of rows it no longer holds.

        ``path`` is a data file as the manifest lists it (relative to the dataset root), ``pos`` the row's
        0-based position in that file. Shared partitions only.
        """
        if not self.shared:
            raise StorageError(f"{self._where()}: deletes files need a shared (version 2) partition")
        if not deletes.height:
            return []
        frame = deletes.select(pl.col("path").cast(pl.String), pl.col("pos").cast(pl.Int64)).sort(
            "path", "pos"
        )
        part_writer = self.writer(artifact, kind=DELETES)
        part_writer.write(frame)
        return part_writer.close()

    def reference(self, files: Iterable[ManifestFile]) -> None:
        """List files an earlier partition committed (paths relative to the dataset root) in this commit."""
        if not self.shared:
            raise StorageError(f"{self._where()}: only a shared (version 2) partition references files")
        self._require_open("reference")
        self._carried.extend(files)

    def set_keyed(self, artifact: str, keys: Iterable[str], *, sorted_: bool) -> None:
        """Record that ``artifact`` is written by key: readers put its live rows in key order."""
        self._keyed[artifact] = Keyed(tuple(keys), sorted_)

    @property
    def schemas(self) -> dict[str, pa.Schema | None]:
        """Widened schema of each artifact's data written so far (None for one that saw no batch)."""
        return {name: w.schema for name, w in self._writers.items() if w.kind == DATA}

    @property
    def files(self) -> list[ManifestFile]:
        """The files this attempt wrote, as written (paths relative to the partition folder)."""
        return [f for w in self._writers.values() for f in w.files]

    def _listed(self, written: list[ManifestFile]) -> list[ManifestFile]:
        """What the manifest lists: carried files first (in their order), then ours, rooted when shared."""
        if not self.shared:
            return written
        return [*self._carried, *(f.moved_under(self.folder) for f in written)]

    # --- commit ---
    def commit(self, metadata: dict[str, Any]) -> Manifest:
        """Commit the attempt (module docstring, steps 1-5); returns the manifest written."""
        self._require_open("commit")
        written = [f for w in self._writers.values() for f in w.close()]  # 1. parts are durable
        files = self._listed(written)
        metadata_bytes = dump_metadata(metadata)
        self.backend.put_bytes(self._rel(staged_metadata_name(self.attempt)), metadata_bytes)  # 2.
        live: dict[str, int] = {}
        for f in files:
            live[f.artifact] = live.get(f.artifact, 0) + (f.row_count if f.kind == DATA else -f.row_count)
        manifest = Manifest(
            manifest_version=SHARED_MANIFEST_VERSION if self.shared else 1,
            layer=self.layer,
            dataset=self.dataset,
            run_date=self.run_date,
            run_id=self.run_id,
            committed_at=datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z"),
            record_count=sum(rows for artifact, rows in live.items() if artifact != ERRORS_ARTIFACT),
            files=tuple(files),
            metadata_sha256=sha256_hex(metadata_bytes),
            attempt=self.attempt,
            keyed=dict(self._keyed) if self.shared else {},
        )
        with self.backend.lock(self.prefix):
            self._commit_locked(manifest, written, metadata_bytes)
        progress.committed(  # live rows per artifact (errors: quarantined), files and bytes written now (as
            self.layer,  # the metadata's `files` table: a Silver day also lists the files it carries)
            self.dataset,
            self.run_date,
            live,
            len(written),
            sum(f.size_bytes for f in written),
        )
        return Manifest.from_json(manifest.to_json())

    def _commit_locked(self, manifest: Manifest, files: list[ManifestFile], metadata_bytes: bytes) -> None:
        """Steps 3-5, under the partition's commit lock; step 3 is a compare-and-swap of the manifest."""
        manifest_bytes = manifest.to_json().encode()
        gone = self._missing_references()
        if gone:
            self.abort()
            raise StorageError(
                f"{self._where()}: attempt {self.attempt} references {len(gone)} file(s) of earlier "
                f"partitions that are no longer in place (e.g. {gone[0]}; an earlier day was re-run "
                "meanwhile); nothing committed: run the day again"
            )
        previous: Manifest | None = None
        metadata_version: str | None = None
        for _ in range(_CAS_ROUNDS):
            previous, version, raw = self._current_manifest_versioned()
            # Read before our manifest lands: a newer commit's _metadata.json can only be written after it,
            # so our conditional metadata put (step 4) can never overwrite a newer commit's metadata.
            metadata_version = self._version_of(METADATA_NAME)
            if raw == manifest_bytes:
                break  # our put landed although its response was lost (a retried conditional put)
            if previous is not None and previous.attempt > self.attempt:
                reason = self._superseded_reason(previous, files)
                if reason:
                    self.abort()
                    raise StorageError(
                        f"{self._where()}: attempt {self.attempt} superseded by a newer attempt "
                        f"{previous.attempt} ({reason}); nothing committed"
                    )
            self._manifest_put = True
            # 3. THE COMMIT: only if the manifest is still the one we just judged.
            if self.backend.put_bytes_if(self._rel(CHECKSUMS_NAME), manifest_bytes, version):
                break
            log.info(
                "%s: the manifest changed while attempt %s committed; re-checking",
                self._where(),
                self.attempt,
            )
        else:
            self.abort()
            raise StorageError(
                f"{self._where()}: attempt {self.attempt} could not commit: the manifest kept changing under "
                f"{_CAS_ROUNDS} concurrent commits; nothing committed by this attempt"
            )
        current = self._current_manifest()
        if (
            current is None
            or current.attempt != self.attempt
            or not self._put_metadata(metadata_bytes, metadata_version)
        ):  # 4.
            current = self._current_manifest()
            newer = current.attempt if current else "none"
            self.abort()
            raise StorageError(
                f"{self._where()}: attempt {self.attempt} superseded by a concurrent commit of attempt "
                f"{newer} right after committing; its commit stands"
            )
        self._done = True
        try:
            self._cleanup(manifest, previous, metadata_bytes)  # 5.
        except (StorageError, OSError) as exc:
            log.warning("%s: committed, but cleaning up older files failed: %s", self._where(), exc)
        remove_leftovers(self.backend, self.prefix, committed_at=datetime.now(UTC))  # killed writers' temps

    def abort(self) -> None:
        """Delete this attempt's files (best effort); a no-op once committed."""
        if self._done:
            return
        self._done = True
        for part_writer in self._writers.values():
            part_writer.discard()
        try:
            keep: set[str] = set()
            if self._manifest_put:
                current = self._current_manifest()
                if current is not None and current.attempt == self.attempt:
                    return  # our manifest landed: the commit stands (readers roll forward if needed)
                keep = set(listed_paths(self.prefix, current)) if current else set()
            ours = {self._rel(f.path) for f in self.files}
            ours.update(p for p in self.backend.list_files(self.prefix) if attempt_of(p) == self.attempt)
            self.backend.delete(sorted(ours - keep))
        except (StorageError, OSError) as exc:
            log.warning(
                "%s: could not remove the files of aborted attempt %s: %s", self._where(), self.attempt, exc
            )

    def __enter__(self) -> PartitionWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is not None:
            self.abort()

    # --- helpers ---
    def _rel(self, name: str) -> str:
        return join_relpath(self.prefix, name)

    def _missing_references(self) -> list[str]:
        """Carried files (of other partitions) that are gone or changed size."""
        gone = []
        for f in self._carried:
            relpath = join_relpath(self.root, f.path)
            try:
                if self.backend.size(relpath) != f.size_bytes:
                    gone.append(relpath)
            except FileNotFoundError:
                gone.append(relpath)
        return gone

    def _where(self) -> str:
        return f"{self.layer} {self.dataset} run_date {self.run_date} ({self.backend.uri(self.prefix)})"

    def _require_open(self, operation: str) -> None:
        if self._done:
            raise StorageError(f"{self._where()}: {operation}() on attempt {self.attempt}, already finished")

    def _current_manifest(self) -> Manifest | None:
        """The manifest in place now; an unreadable one counts as none (the next commit repairs it)."""
        try:
            return Manifest.from_json(self.backend.read_bytes(self._rel(CHECKSUMS_NAME)))
        except (FileNotFoundError, ValueError):
            return None

    def _version_of(self, name: str) -> str | None:
        try:
            return self.backend.read_versioned(self._rel(name))[1]
        except FileNotFoundError:
            return None

    def _put_metadata(self, metadata_bytes: bytes, version: str | None) -> bool:
        """Step 4 as a conditional put; False when a newer commit replaced ours meanwhile."""
        for _ in range(_CAS_ROUNDS):
            if self.backend.put_bytes_if(self._rel(METADATA_NAME), metadata_bytes, version):
                return True
            current = self._current_manifest()
            if current is None or current.attempt != self.attempt:
                return False
            version = self._version_of(METADATA_NAME)  # an older writer's metadata: replace it
        log.warning("%s: could not write _metadata.json; readers use the staged copy", self._where())
        return True

    def _current_manifest_versioned(self) -> tuple[Manifest | None, str | None, bytes | None]:
        """The manifest in place now, its version token and raw bytes (an unreadable one parses as None)."""
        try:
            raw, version = self.backend.read_versioned(self._rel(CHECKSUMS_NAME))
        except FileNotFoundError:
            return None, None, None
        try:
            return Manifest.from_json(raw), version, raw
        except ValueError:
            return None, version, raw

    def _superseded_reason(self, newer: Manifest, files: list[ManifestFile]) -> str | None:
        """Why we must not commit over ``newer``'s commit, or None when it is safe."""
        committing = self._committing_for(newer.attempt)
        if committing is not None:
            return (
                f"it is still committing: its staged metadata is {committing.total_seconds():.0f} s old by "
                f"the store's clock; a commit unfinished after {COMMIT_GIVEN_UP_AFTER.seconds // 60} min "
                "counts as killed and is replaced"
            )
        for f in files:
            try:
                size = self.backend.size(self._rel(f.path))
            except FileNotFoundError:
                return f"our file {f.path} was removed by its cleanup"
            if size != f.size_bytes:
                return f"our file {f.path} changed size"
        return None

    def _committing_for(self, attempt: str) -> timedelta | None:
        """How long ``attempt``, whose manifest is in place, has been committing; None once it finished
        (its staged metadata is gone) or when it was killed: unfinished for longer than a commit takes.

        Both stamps are the store's (``StorageBackend.modified``): the attempt ids of writers on different
        machines carry their own clocks, so a writer killed on a machine whose clock ran ahead would
        otherwise hold off every later writer until the wall clock passed its attempt id.
        """
        staged = self._rel(staged_metadata_name(attempt))
        try:
            theirs = self.backend.modified(staged)
            ours = self.backend.modified(self._rel(staged_metadata_name(self.attempt)))
        except FileNotFoundError:
            return timedelta(0) if self.backend.exists(staged) else None
        if theirs is None or ours is None:  # the store cannot tell: it may still be committing
            return timedelta(0) if self.backend.exists(staged) else None
        age = max(ours - theirs, timedelta(0))
        return None if age > COMMIT_GIVEN_UP_AFTER else age

    def _cleanup(self, manifest: Manifest, previous: Manifest | None, metadata_bytes: bytes) -> None:
        current = self._current_manifest()
        if current is None or current.attempt != self.attempt:
            return  # superseded meanwhile: the newer commit cleans up
        self.backend.delete(stale_files(self.backend, self.prefix, current, previous))
        # Drop the staged metadata only once _metadata.json is ours (step 4 is conditional, so no slower
        # writer can overwrite it later); otherwise it stays, and readers roll forward with it.
        if sha256_hex(self.backend.read_bytes(self._rel(METADATA_NAME))) == manifest.metadata_sha256:
            self.backend.delete([self._rel(staged_metadata_name(self.attempt))])
        try:  # a killed writer's S3 multipart upload: no listing shows it, the store keeps (bills) its parts
            for relpath, upload in stale_uploads(self.backend, self.prefix, current, previous):
                self.backend.abort_upload(relpath, upload)
        except (StorageError, OSError) as exc:
            log.warning(
                "%s: committed, but could not abort the unfinished uploads of killed writers (the role "
                "needs s3:ListBucketMultipartUploads and s3:AbortMultipartUpload; or give the bucket a "
                "lifecycle rule that aborts them): %s",
                self._where(),
                exc,
            )


def _batch_size(batch: Writable) -> tuple[int, int]:
    """Rows and in-memory bytes of a batch (Arrow or polars), for progress reports."""
    if isinstance(batch, pa.RecordBatch | pa.Table):
        return batch.num_rows, batch.nbytes
    height = getattr(batch, "height", 0)
    estimated = getattr(batch, "estimated_size", None)
    return int(height), int(estimated()) if callable(estimated) else 0
