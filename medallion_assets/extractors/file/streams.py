"""Reading a file once: its stored bytes hashed (SHA-256, size) as they stream, decompressed on the fly."""

from __future__ import annotations

import hashlib
import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

import fsspec
from fsspec.compression import compr

__all__ = ["HASH_CHUNK", "Gate", "HashingReader", "Prefixed", "hash_file", "open_hashed"]

HASH_CHUNK = 1 << 20


class HashingReader(io.RawIOBase):
    """Passes a file's stored bytes through, hashing them: SHA-256 and size without a second read."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._sha = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._raw.read(len(buffer))
        count = len(data)
        buffer[:count] = data
        self._sha.update(data)
        self.size += count
        return count

    def drain(self) -> None:
        """Hash whatever the format reader left unread (trailing bytes, a gzip trailer)."""
        while chunk := self._raw.read(HASH_CHUNK):
            self._sha.update(chunk)
            self.size += len(chunk)

    def hexdigest(self) -> str:
        return self._sha.hexdigest()


class Prefixed(io.RawIOBase):
    """A stream that first replays ``head`` (bytes already read to peek) and then continues ``rest``."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = memoryview(head)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            count = min(len(buffer), len(self._head))
            buffer[:count] = self._head[:count]
            self._head = self._head[count:]
            return count
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class Gate(io.RawIOBase):
    """Lets a background reader (Arrow's streaming CSV reader) run at most ``ahead`` bytes past its consumer.

    Arrow reads the input on its own thread, up to 32 blocks ahead of the batches taken from it: with big
    blocks that is hundreds of MB. The reader's ``readinto`` waits here until the consumer has taken enough
    (``advance``), so memory stays at a few blocks. ``release`` (the consumer stopped) makes every later read
    an end of file, so the background thread finishes instead of waiting for ever.
    """

    def __init__(self, raw: BinaryIO, ahead: int) -> None:
        self._raw = raw
        self._allowed = ahead
        self._given = 0
        self._stopped = False
        self._cond = threading.Condition()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        with self._cond:
            while self._given >= self._allowed and not self._stopped:
                self._cond.wait()
            if self._stopped:
                return 0
        data = self._raw.read(len(buffer))
        count = len(data)
        buffer[:count] = data
        self._given += count
        return count

    def advance(self, nbytes: int) -> None:
        with self._cond:
            self._allowed += nbytes
            self._cond.notify_all()

    def release(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()


@contextmanager
def open_hashed(
    fs: fsspec.AbstractFileSystem, path: str, compression: str | None
) -> Iterator[tuple[BinaryIO, HashingReader]]:
    """Open ``path`` for one sequential pass: (decompressed stream, hasher of the stored bytes)."""
    with fs.open(path, "rb") as raw:
        hasher = HashingReader(raw)
        stream: BinaryIO = io.BufferedReader(hasher, buffer_size=HASH_CHUNK)  # type: ignore[arg-type]
        if compression:
            stream = compr[compression](stream, mode="rb")
        try:
            yield stream, hasher
        finally:
            if compression:
                stream.close()


def hash_file(fs: fsspec.AbstractFileSystem, path: str) -> tuple[int, str]:
    sha = hashlib.sha256()
    size = 0
    with fs.open(path, "rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            sha.update(chunk)
            size += len(chunk)
    return size, sha.hexdigest()
