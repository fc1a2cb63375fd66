"""The storage backend contract, and one generic implementation on top of any fsspec filesystem.

A backend stores opaque files under one root. Everything above it (part files, manifests, IO managers)
speaks in *relpaths*: ``/``-separated paths relative to that root, such as
``system=crm/table=users/dt=2026-01-31/_checksums.json``. Backends know nothing about datasets or commits;
the commit protocol in ``medallion_resources.lake.commit`` only needs two guarantees from them:

* ``put_bytes`` is atomic: a reader sees the old object or the new one, never a partial one (object stores
  give this for a single PUT; the local backend writes a temp file and renames it);
* ``put_file`` makes a finished file durable at its final name before it returns.

Errors: a missing object raises ``FileNotFoundError`` (callers rely on it); any other failure of the
underlying filesystem becomes a ``StorageError`` naming the operation and the object's URI. A missing
*root* (an S3 bucket or Azure container that does not exist) is such a failure, not a missing object: the
libraries report it as a missing file or an empty listing, which would read as an empty lake ("not
committed"), so object-store backends check the root on a miss (``FsspecBackend._root_problem``).
"""

from __future__ import annotations

import contextlib
import hashlib
import posixpath
import threading
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, ClassVar, cast

import fsspec

from medallion_resources.checks import CheckResult
from medallion_resources.errors import StorageError
from medallion_resources.redact import redact

__all__ = ["CHECK_PREFIX", "FsspecBackend", "StorageBackend", "join_relpath"]

# Scratch folder that ``check()`` writes to (and removes) under the backend root.
CHECK_PREFIX = "_medallion_check"

# Commit locks are striped: a fixed set of locks, picked by a hash of the locked path.
LOCK_STRIPES = 64
_THREAD_LOCKS = [threading.Lock() for _ in range(LOCK_STRIPES)]


def lock_stripe(key: str) -> int:
    """The stripe (0..LOCK_STRIPES-1) that serializes everything locked under ``key``."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") % LOCK_STRIPES


def join_relpath(*parts: str) -> str:
    """Join relpath pieces with ``/``, ignoring empty ones: ``join_relpath("a", "", "b/c") == "a/b/c"``."""
    return "/".join(p.strip("/") for p in parts if p and p.strip("/"))


def _check_relpath(relpath: str) -> str:
    """Normalize a relpath and refuse the ones that would escape the root."""
    relpath = relpath.replace("\\", "/").strip("/")
    if any(segment == ".." for segment in relpath.split("/")):
        raise StorageError(f"relpath '{relpath}' must stay under the backend root (no '..' segments)")
    return relpath


class StorageBackend(ABC):
    """A root folder of files on some storage; every path is a ``/``-separated relpath under the root.

    Selected in YAML by ``storage_backend`` (``local``, ``memory`` or a plugin name)::

        platform:
          bronze: {storage_backend: local, local_path: ./lake/bronze}
    """

    name: ClassVar[str] = ""

    @abstractmethod
    def uri(self, relpath: str = "") -> str:
        """Where ``relpath`` lives, as a URI (``file:///...``, ``s3://bucket/...``), for display only."""

    @abstractmethod
    def put_file(self, local_path: str | Path, relpath: str) -> None:
        """Move (or upload) a finished local file to ``relpath``; the local file is gone afterwards."""

    @abstractmethod
    def put_bytes(self, relpath: str, data: bytes) -> None:
        """Write ``data`` to ``relpath`` atomically: readers see the old object or the new one."""

    @abstractmethod
    def read_bytes(self, relpath: str) -> bytes:
        """The whole object; ``FileNotFoundError`` when it does not exist."""

    @abstractmethod
    def open_read(self, relpath: str) -> BinaryIO:
        """A binary file object for streaming reads; ``FileNotFoundError`` when missing."""

    @abstractmethod
    def exists(self, relpath: str) -> bool:
        """True when ``relpath`` is a file."""

    @abstractmethod
    def size(self, relpath: str) -> int:
        """Size in bytes; ``FileNotFoundError`` when missing."""

    @abstractmethod
    def list_files(self, prefix: str) -> list[str]:
        """Relpaths of every file under ``prefix`` (recursive), sorted; ``[]`` when there is none."""

    @abstractmethod
    def list_dirs(self, prefix: str) -> list[str]:
        """Names (not paths) of the immediate sub-folders of ``prefix``, sorted; ``[]`` when none."""

    @property
    def versioned_listings(self) -> bool:
        """True when ``list_versions`` gives versions (object stores), so a reader can plan on them."""
        return False

    def list_versions(self, prefix: str) -> dict[str, str] | None:
        """Every file under ``prefix`` (recursive) with a token that changes whenever it is replaced, from
        one listing; ``None`` when the store's listings carry no such token.

        Object stores list their ETags (one request per thousand objects), so a reader of many manifests
        can skip the ones it has read before (``medallion_resources.lake.committed_cache``). The default is
        ``None``: on local disk reading a manifest costs about what listing it does.
        """
        return None

    def modified(self, relpath: str) -> datetime | None:
        """When ``relpath`` was last written, by the store's own clock (UTC); None when it cannot tell.

        Writers on different machines disagree about the time; two stamps of one store do not, so the
        commit judges a dead writer by these (``FileNotFoundError`` when missing).
        """
        return None

    @abstractmethod
    def delete(self, relpaths: Iterable[str]) -> None:
        """Delete files; missing ones are fine."""

    def unfinished_uploads(self, prefix: str) -> list[tuple[str, str]]:
        """Uploads started under ``prefix`` and never finished, as ``(relpath, upload id)``: an S3 multipart
        upload whose writer was killed is invisible to listings, but the store keeps (and bills) its parts
        until it is aborted. The default is none (local disk has none; Azure drops uncommitted blocks
        itself after seven days)."""
        return []

    def abort_upload(self, relpath: str, upload_id: str) -> None:
        """Abort an unfinished upload of ``unfinished_uploads``; one that is gone already is fine."""
        return None  # the default lists none

    # --- conditional puts (the manifest's compare-and-swap) ---
    def read_versioned(self, relpath: str) -> tuple[bytes, str]:
        """The whole object and a version token that changes whenever it is replaced.

        The default token is the SHA-256 of the bytes; object stores return their ETag.
        ``FileNotFoundError`` when missing.
        """
        data = self.read_bytes(relpath)
        return data, hashlib.sha256(data).hexdigest()

    def put_bytes_if(self, relpath: str, data: bytes, expected_version: str | None) -> bool:
        """Write ``data`` only if ``relpath`` is still at ``expected_version`` (``None``: only if absent).

        Returns False, writing nothing, when the object changed (or appeared) since it was read. The
        default compares and writes in two steps, so it is atomic only as far as ``lock()`` reaches (the
        commit holds it around this call); backends whose store has conditional writes (S3 ``If-Match``,
        Azure ETag conditions) override it and set ``atomic_conditional_put``.
        """
        try:
            _, current = self.read_versioned(relpath)
        except FileNotFoundError:
            current = None
        if current != expected_version:
            return False
        self.put_bytes(relpath, data)
        return True

    #: True when ``put_bytes_if`` is atomic in the store itself (safe across machines without ``lock()``).
    atomic_conditional_put: ClassVar[bool] = False

    #: How many part files a writer uploads in parallel (1: one after the other, as on local disk).
    upload_concurrency: int = 1

    def staging_dir(self) -> str | None:
        """A local folder for temp files that ``put_file`` can move from cheaply (same filesystem).

        ``None`` (the default) means the system temp folder.
        """
        return None

    def local_path(self, relpath: str) -> str | None:
        """The path of ``relpath`` on this machine's disk when the backend stores files there, else None.

        Readers scan such files in place (``medallion_resources.lake.local_copy``); files of other
        backends are copied to a local cache first.
        """
        return None

    @contextlib.contextmanager
    def lock(self, relpath: str) -> Iterator[None]:
        """Serialize the commits of one partition (``relpath`` is its folder).

        The default only serializes threads of this process; backends that can lock across processes
        (the local one, with ``flock``) extend it. Paths sharing a stripe also wait for each other.
        """
        with _THREAD_LOCKS[lock_stripe(self.uri(relpath))]:
            yield

    def check(self) -> CheckResult:
        """List the root, then write, read back and delete a scratch object under ``_medallion_check/``."""
        scratch = f"{CHECK_PREFIX}/{uuid.uuid4().hex}.txt"
        payload = b"medallion storage check\n"
        try:
            self.list_dirs("")
            self.put_bytes(scratch, payload)
            ok = self.read_bytes(scratch) == payload
            self.delete([scratch])
        except (OSError, StorageError) as exc:
            return CheckResult(ok=False, detail=f"{self.uri()}: {type(exc).__name__}: {exc}")
        if not ok:
            return CheckResult(ok=False, detail=f"{self.uri()}: read back different bytes than written")
        return CheckResult(ok=True, detail=f"{self.uri()}: list, write, read and delete ok")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.uri()!r})"


class FsspecBackend(StorageBackend):
    """A backend on any fsspec filesystem; S3 and Azure specialize it, tests use ``memory``.

    ``root`` is a path in ``fs`` (a protocol prefix such as ``memory://`` is stripped). Single-object
    writes go through ``fs.pipe_file``, which is atomic on object stores and on fsspec's memory filesystem.
    """

    name: ClassVar[str] = "fsspec"
    secrets: tuple[str, ...] = ()
    """Resolved credentials of the filesystem, masked in every error (set by S3/Azure from their settings)."""
    _root_checked = False
    """The root was checked once (``_root_problem`` found it, or could not tell): a miss is then a missing
    object, and no later miss pays for another request."""

    def __init__(self, fs: fsspec.AbstractFileSystem, root: str) -> None:
        self.fs = fs
        self.root = str(fs._strip_protocol(root)).rstrip("/")

    # --- a root that does not exist ---
    def _root_problem(self) -> str | None:
        """Why the root cannot hold anything (its bucket or container does not exist: a sentence naming it
        and the setting to fix), or None when it exists or the store cannot tell. Object stores override it
        (one request); the default never finds a problem."""
        return None

    def _check_root(self, operation: str, relpath: str) -> None:
        """On a miss (a missing object, an empty listing): raise ``StorageError`` when the root itself does
        not exist, so that a lake in a missing bucket is an error naming it, never "nothing committed"."""
        if self._root_checked:
            return
        problem = self._root_problem()
        if problem is not None:
            raise StorageError(f"{operation} {self.uri(relpath)} failed: {redact(problem, self.secrets)}")
        self._root_checked = True

    # --- paths ---
    def full_path(self, relpath: str) -> str:
        """The filesystem path of ``relpath``."""
        relpath = _check_relpath(relpath)
        if not relpath:
            return self.root or "/"
        return f"{self.root}/{relpath}" if self.root else relpath

    def _relpath(self, full: str) -> str:
        full = str(self.fs._strip_protocol(full)).rstrip("/")
        root = self.root
        if root and (full == root):
            return ""
        if root and full.startswith(root + "/"):
            return full[len(root) + 1 :]
        if not root or root == "/":
            return full.lstrip("/")
        raise StorageError(f"path '{full}' returned by the filesystem is outside the root '{root}'")

    def uri(self, relpath: str = "") -> str:
        return str(self.fs.unstrip_protocol(self.full_path(relpath)))

    @contextlib.contextmanager
    def _op(self, operation: str, relpath: str) -> Iterator[None]:
        """Turn filesystem errors (except a missing file) into a StorageError naming what failed."""
        try:
            yield
        except FileNotFoundError:
            self._check_root(operation, relpath)
            raise
        except OSError as exc:
            detail = redact(self._error_detail(exc), self.secrets)  # SAS tokens, signed URLs, keys
            raise StorageError(f"{operation} {self.uri(relpath)} failed: {detail}") from exc

    #: The settings to check when the store refuses our credentials (HTTP 401/403), said after the error.
    credentials_hint: ClassVar[str] = ""

    def _error_detail(self, exc: OSError) -> str:
        """What a failed call says: the error (with the store's HTTP status and error code when known), and
        the settings to check when the store refused our credentials."""
        status, code = self._error_status(exc)
        said = ", ".join(x for x in (f"HTTP {status}" if status else None, code) if x and x != str(status))
        detail = f"{type(exc).__name__}{f' ({said})' if said else ''}: {exc}"
        if self.credentials_hint and (isinstance(exc, PermissionError) or status in (401, 403)):
            detail = f"{detail.rstrip('. ')}; {self.credentials_hint}"
        return detail

    def _error_status(self, exc: BaseException) -> tuple[int | None, str | None]:
        """The HTTP status and the store's error code behind ``exc``, when the library kept them."""
        return None, None

    def _ensure_parent(self, full: str) -> None:
        parent = posixpath.dirname(full)
        if parent:
            self.fs.makedirs(parent, exist_ok=True)

    # --- writes ---
    def put_file(self, local_path: str | Path, relpath: str) -> None:
        full = self.full_path(relpath)
        with self._op("put_file", relpath):
            self._ensure_parent(full)
            self.fs.put_file(str(local_path), full)
        Path(local_path).unlink(missing_ok=True)

    def put_bytes(self, relpath: str, data: bytes) -> None:
        full = self.full_path(relpath)
        with self._op("put_bytes", relpath):
            self._ensure_parent(full)
            self.fs.pipe_file(full, data)

    def delete(self, relpaths: Iterable[str]) -> None:
        for relpath in relpaths:
            with contextlib.suppress(FileNotFoundError), self._op("delete", relpath):
                self.fs.rm_file(self.full_path(relpath))

    # --- reads ---
    def read_bytes(self, relpath: str) -> bytes:
        with self._op("read_bytes", relpath):
            return bytes(self.fs.cat_file(self.full_path(relpath)))

    def open_read(self, relpath: str) -> BinaryIO:
        with self._op("open_read", relpath):
            return cast(BinaryIO, self.fs.open(self.full_path(relpath), "rb"))

    def exists(self, relpath: str) -> bool:
        with self._op("exists", relpath):
            found = bool(self.fs.isfile(self.full_path(relpath)))
        if not found:
            self._check_root("exists", relpath)
        return found

    def size(self, relpath: str) -> int:
        with self._op("size", relpath):
            info = self.fs.info(self.full_path(relpath))
        if info.get("type") != "file":
            raise FileNotFoundError(self.uri(relpath))
        return int(info["size"])

    def modified(self, relpath: str) -> datetime | None:
        with self._op("modified", relpath):
            stamp: datetime = self.fs.modified(self.full_path(relpath))
        return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)

    def list_files(self, prefix: str) -> list[str]:
        with self._op("list_files", prefix):
            try:
                found = self.fs.find(self.full_path(prefix))
            except FileNotFoundError:
                found = []
        if not found:
            self._check_root("list_files", prefix)
        return sorted(self._relpath(path) for path in found)

    #: The field of the listing's entries that holds the object's version (S3 ``ETag``, Azure ``etag``).
    version_field: ClassVar[str | None] = None

    @property
    def versioned_listings(self) -> bool:
        return self.version_field is not None

    def list_versions(self, prefix: str) -> dict[str, str] | None:
        if self.version_field is None:
            return None
        with self._op("list_versions", prefix):
            try:
                found = self.fs.find(self.full_path(prefix), detail=True)
            except FileNotFoundError:
                found = {}
        if not found:
            self._check_root("list_versions", prefix)
        versions = {}
        for path, info in found.items():
            token = info.get(self.version_field)
            if not token:
                return None  # an entry without one: the listing cannot tell a replaced file
            versions[self._relpath(path)] = f"{token}/{info.get('size')}"
        return versions

    def list_dirs(self, prefix: str) -> list[str]:
        with self._op("list_dirs", prefix):
            try:
                entries = self.fs.ls(self.full_path(prefix), detail=True)
            except FileNotFoundError:
                entries = []
        if not entries:
            self._check_root("list_dirs", prefix)
        names = {
            posixpath.basename(str(e["name"]).rstrip("/")) for e in entries if e.get("type") == "directory"
        }
        return sorted(n for n in names if n)
