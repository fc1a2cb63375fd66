"""Verified local files for lazy scans: each listed part file read once, hashed as it streams.

A ``polars.LazyFrame`` reads its files when it is collected, so what it points at must be the bytes the
manifest lists. On local disk (``StorageBackend.local_path``) the file is hashed in place and scanned
there: the scan reads it a second time, from the page cache. Files of every other backend (S3, Azure,
memory, plugins) are downloaded once into a local cache, hashed as the bytes arrive, and moved under
their SHA-256 only when size and hash match the manifest; the scan then reads the local copy, with
polars' projection and predicate pushdown. A cached copy is named by its content, so a second read of the
same file (another day's scan of a file kept by reference, another Gold asset in the same process) costs
no download at all.

The cache is ``MEDALLION_READ_CACHE_DIR`` when set (kept between processes, never pruned: the operator
owns it), else a temporary folder of this process, removed when the process exits. It costs local disk
the size of the files read, never memory. The trade-off is documented in ``docs/reading.md``.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import tempfile
import threading
from pathlib import Path

from medallion_resources.errors import IntegrityError
from medallion_resources.lake.manifest import ManifestFile
from medallion_resources.lake.parts import CHUNK_SIZE, hash_stream
from medallion_resources.storage.base import StorageBackend

__all__ = ["CACHE_DIR_ENV", "read_cache_dir", "verified_local_path"]

CACHE_DIR_ENV = "MEDALLION_READ_CACHE_DIR"

_lock = threading.Lock()
_process_cache: Path | None = None


def read_cache_dir() -> Path:
    """``$MEDALLION_READ_CACHE_DIR``, else this process's temporary cache (created on first use)."""
    global _process_cache
    configured = os.environ.get(CACHE_DIR_ENV)
    if configured:
        path = Path(configured)
        path.mkdir(parents=True, exist_ok=True)
        return path
    with _lock:
        if _process_cache is None or not _process_cache.is_dir():
            _process_cache = Path(tempfile.mkdtemp(prefix="medallion-read-"))
            atexit.register(shutil.rmtree, _process_cache, True)
        return _process_cache


def verified_local_path(
    backend: StorageBackend,
    relpath: str,
    file: ManifestFile,
    *,
    where: str,
    verify: bool = True,
    cache_dir: Path | None = None,
) -> str:
    """A local path holding exactly ``file``'s listed bytes; ``IntegrityError`` naming ``where`` if not.

    ``verify=False`` skips the SHA-256 (sizes are still checked): a local file is used as it is, a remote
    one is downloaded again on every call to an ``unverified/`` folder of the cache, never under its hash.
    """
    local = backend.local_path(relpath)
    if local is not None:
        _check_local(local, file, where=where, verify=verify)
        return local
    cache = cache_dir or read_cache_dir()
    if verify:
        target = cache / f"{file.sha256}.parquet"
        if target.is_file():  # put there only after its hash matched
            return str(target)
    else:
        target = cache / "unverified" / f"{file.sha256}.parquet"
    _download(backend, relpath, file, target, where=where, verify=verify)
    return str(target)


def _check_local(path: str, file: ManifestFile, *, where: str, verify: bool) -> None:
    try:
        size = os.path.getsize(path)
    except FileNotFoundError as exc:
        raise IntegrityError(f"{where}: {file.path} is listed in the manifest but missing") from exc
    if size != file.size_bytes:
        raise IntegrityError(f"{where}: {file.path} has {size} bytes, the manifest says {file.size_bytes}")
    if verify:
        with open(path, "rb") as stream:
            _, sha256 = hash_stream(stream)
        _check_sha256(sha256, file, where)


def _check_sha256(sha256: str, file: ManifestFile, where: str) -> None:
    if sha256 != file.sha256:
        raise IntegrityError(f"{where}: {file.path} has SHA-256 {sha256}, the manifest says {file.sha256}")


def _download(
    backend: StorageBackend, relpath: str, file: ManifestFile, target: Path, *, where: str, verify: bool
) -> None:
    """Stream ``relpath`` into a temp file next to ``target``, hashing it; moved into place if it matches."""
    try:
        stream = backend.open_read(relpath)
    except FileNotFoundError as exc:
        raise IntegrityError(f"{where}: {file.path} is listed in the manifest but missing") from exc
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=target.parent, prefix=".download-", suffix=".tmp")
    try:
        digest, size = hashlib.sha256(), 0
        with os.fdopen(handle, "wb") as out, stream:
            while chunk := stream.read(CHUNK_SIZE):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
        if size != file.size_bytes:
            raise IntegrityError(
                f"{where}: {file.path} has {size} bytes, the manifest says {file.size_bytes}"
            )
        if verify:
            _check_sha256(digest.hexdigest(), file, where)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
