"""Backends that wrap another backend: retries of transient faults, and fault injection for tests.

``RetryingBackend`` is what the object-store factories return: every call of the wrapped backend goes
through a ``RetryPolicy`` with the storage rule of what is transient
(``medallion_resources.storage.retry``). ``FaultInjectingBackend`` fails a chosen
or random fraction of calls with ``TransientStorageError``, before the call or *after* it took effect (a lost
response), to prove that retries plus the commit protocol keep every committed partition whole::

    backend = RetryingBackend(FaultInjectingBackend(S3Backend(...), rate=0.2, seed=7), RetryPolicy())
"""

from __future__ import annotations

import contextlib
import functools
import io
import random
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, TypeVar, cast

from medallion_resources.redact import Redactor
from medallion_resources.retry import RetryPolicy
from medallion_resources.storage import retry
from medallion_resources.storage.base import StorageBackend
from medallion_resources.storage.retry import TransientStorageError

__all__ = ["FaultInjectingBackend", "RetryingBackend", "WrappingBackend"]

T = TypeVar("T")


class WrappingBackend(StorageBackend):
    """Delegates every call to ``inner`` through ``_call``; subclasses decide what ``_call`` adds."""

    def __init__(self, inner: StorageBackend) -> None:
        self.inner = inner

    @property
    def atomic_conditional_put(self) -> bool:  # type: ignore[override]
        return self.inner.atomic_conditional_put

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.inner.name

    @property
    def upload_concurrency(self) -> int:  # type: ignore[override]
        return self.inner.upload_concurrency

    @property
    def versioned_listings(self) -> bool:
        return self.inner.versioned_listings

    def _call(self, operation: str, relpath: str, fn: Callable[[], T]) -> T:
        return fn()

    def uri(self, relpath: str = "") -> str:
        return self.inner.uri(relpath)

    def put_file(self, local_path: str | Path, relpath: str) -> None:
        self._call("put_file", relpath, lambda: self.inner.put_file(local_path, relpath))

    def put_bytes(self, relpath: str, data: bytes) -> None:
        self._call("put_bytes", relpath, lambda: self.inner.put_bytes(relpath, data))

    def read_bytes(self, relpath: str) -> bytes:
        return self._call("read_bytes", relpath, lambda: self.inner.read_bytes(relpath))

    def open_read(self, relpath: str) -> BinaryIO:
        return self._call("open_read", relpath, lambda: self.inner.open_read(relpath))

    def exists(self, relpath: str) -> bool:
        return self._call("exists", relpath, lambda: self.inner.exists(relpath))

    def size(self, relpath: str) -> int:
        return self._call("size", relpath, lambda: self.inner.size(relpath))

    def modified(self, relpath: str) -> datetime | None:
        return self._call("modified", relpath, lambda: self.inner.modified(relpath))

    def list_files(self, prefix: str) -> list[str]:
        return self._call("list_files", prefix, lambda: self.inner.list_files(prefix))

    def list_dirs(self, prefix: str) -> list[str]:
        return self._call("list_dirs", prefix, lambda: self.inner.list_dirs(prefix))

    def list_versions(self, prefix: str) -> dict[str, str] | None:
        return self._call("list_versions", prefix, lambda: self.inner.list_versions(prefix))

    def delete(self, relpaths: Iterable[str]) -> None:
        for relpath in list(relpaths):  # one call per object, so a retry repeats only the failed delete
            self._call("delete", relpath, functools.partial(self.inner.delete, [relpath]))

    def unfinished_uploads(self, prefix: str) -> list[tuple[str, str]]:
        return self._call("unfinished_uploads", prefix, lambda: self.inner.unfinished_uploads(prefix))

    def abort_upload(self, relpath: str, upload_id: str) -> None:
        self._call("abort_upload", relpath, lambda: self.inner.abort_upload(relpath, upload_id))

    def read_versioned(self, relpath: str) -> tuple[bytes, str]:
        return self._call("read_versioned", relpath, lambda: self.inner.read_versioned(relpath))

    def put_bytes_if(self, relpath: str, data: bytes, expected_version: str | None) -> bool:
        return self._call(
            "put_bytes_if", relpath, lambda: self.inner.put_bytes_if(relpath, data, expected_version)
        )

    def staging_dir(self) -> str | None:
        return self.inner.staging_dir()

    def local_path(self, relpath: str) -> str | None:
        return self.inner.local_path(relpath)

    @contextlib.contextmanager
    def lock(self, relpath: str) -> Iterator[None]:
        with self.inner.lock(relpath):
            yield

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.inner!r})"


class RetryingBackend(WrappingBackend):
    """Retries every call of ``inner`` on transient faults; one clear ``StorageError`` after the budget.

    ``secrets`` are the backend's resolved credentials, masked in that error with every other credential form.
    """

    def __init__(
        self, inner: StorageBackend, policy: RetryPolicy | None = None, secrets: Iterable[str] = ()
    ) -> None:
        super().__init__(inner)
        self.policy = policy or retry.DEFAULT_POLICY
        self.redactor = Redactor(secrets)

    def _call(self, operation: str, relpath: str, fn: Callable[[], T]) -> T:
        return retry.call(self.policy, operation, self.inner.uri(relpath), fn, self.redactor)

    def open_read(self, relpath: str) -> BinaryIO:
        """A stream whose reads are retried too: a read that breaks re-opens the object at the offset."""
        stream = self._call("open_read", relpath, lambda: self.inner.open_read(relpath))
        reader = _ResumingReader(
            stream,
            lambda: self.inner.open_read(relpath),
            lambda fn: self._call("read", relpath, fn),
        )
        return cast(BinaryIO, reader)


class _ResumingReader(io.RawIOBase):
    """Reads ``stream``; after a failed read the next attempt re-opens the object and seeks to where the
    last good read ended (the libraries' own mid-stream retries are off: one retry layer)."""

    def __init__(
        self,
        stream: BinaryIO,
        reopen: Callable[[], BinaryIO],
        call: Callable[[Callable[[], bytes]], bytes],
    ) -> None:
        super().__init__()
        self._stream, self._reopen, self._call = stream, reopen, call
        self._position = 0
        self._broken = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._call(lambda: self._read(len(buffer)))
        buffer[: len(data)] = data
        return len(data)

    def _read(self, size: int) -> bytes:
        if self._broken:
            with contextlib.suppress(Exception):
                self._stream.close()
            self._stream = self._reopen()
            self._stream.seek(self._position)
            self._broken = False
        try:
            data = self._stream.read(size)
        except BaseException:
            self._broken = True
            raise
        self._position += len(data)
        return bytes(data)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._stream.close()
        super().close()


class FaultInjectingBackend(WrappingBackend):
    """Fails calls of ``inner`` with ``TransientStorageError``: a random ``rate`` of them, or chosen ones.

    ``after_rate`` of the injected faults happen *after* the call took effect (the object was written or
    deleted, but the caller sees an error), the way a lost response looks to a client. ``fail_next``
    queues faults for named operations (``{"put_bytes_if": 2}``), for deterministic tests. Injected faults
    are counted in ``injected``.
    """

    def __init__(
        self,
        inner: StorageBackend,
        *,
        rate: float = 0.0,
        after_rate: float = 0.5,
        seed: int | None = None,
        operations: Iterable[str] | None = None,
    ) -> None:
        super().__init__(inner)
        self.rate = rate
        self.after_rate = after_rate
        self.operations = set(operations) if operations is not None else None
        self.fail_next: dict[str, int] = {}
        self.injected = 0
        self._rng = random.Random(seed)
        self._mutex = threading.Lock()

    def _decide(self, operation: str) -> str | None:
        """None (no fault), "before" or "after"."""
        with self._mutex:
            if self.fail_next.get(operation, 0) > 0:
                self.fail_next[operation] -= 1
                return "before"
            if self.operations is not None and operation not in self.operations:
                return None
            if self._rng.random() >= self.rate:
                return None
            self.injected += 1
            return "after" if self._rng.random() < self.after_rate else "before"

    def _call(self, operation: str, relpath: str, fn: Callable[[], T]) -> T:
        when = self._decide(operation)
        if when == "before":
            raise TransientStorageError(f"injected fault before {operation} {relpath} (503 SlowDown)")
        result = fn()
        if when == "after":
            if hasattr(result, "close"):
                result.close()
            raise TransientStorageError(f"injected fault after {operation} {relpath} (connection reset)")
        return result

    def put_file(self, local_path: str | Path, relpath: str) -> None:
        when = self._decide("put_file")
        if when == "before":
            raise TransientStorageError(f"injected fault before put_file {relpath} (503 SlowDown)")
        if when == "after":
            # The upload lands but the response is lost: the local file is still there for the retry.
            with tempfile.NamedTemporaryFile(delete=False, dir=Path(local_path).parent) as copy:
                pass
            shutil.copyfile(local_path, copy.name)
            self.inner.put_file(copy.name, relpath)
            raise TransientStorageError(f"injected fault after put_file {relpath} (connection reset)")
        self.inner.put_file(local_path, relpath)
