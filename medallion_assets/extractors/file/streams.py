"""Reading a file once: its stored bytes hashed (SHA-256, size) as they stream, decompressed on the fly; an
object store's small files fetched ahead, several at once (``prefetched``)."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Generator, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, BinaryIO

import fsspec
from fsspec.compression import compr

from medallion_resources.threads import ordered_map

__all__ = [
    "HASH_CHUNK",
    "PREFETCH_BYTES",
    "HashingReader",
    "Prefetched",
    "Prefixed",
    "hash_file",
    "hash_handle",
    "open_hashed",
    "prefetched",
]

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
        readinto = getattr(self._raw, "readinto", None)
        if readinto is None:  # a file object without readinto: read, then copy
            data = self._raw.read(len(buffer))
            count = len(data)
            buffer[:count] = data
        else:  # straight into the caller's buffer: no bytes object to allocate, fill and copy again
            count = readinto(buffer) or 0
        with memoryview(buffer) as view:
            self._sha.update(view[:count])
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
    """A stream that first replays ``head`` (bytes already read to peek), then continues ``rest`` and ends
    with ``tail`` (bytes the reader adds after the file's own)."""

    def __init__(self, head: bytes, rest: BinaryIO, tail: bytes = b"") -> None:
        self._head = memoryview(head)
        self._rest = rest
        self._tail = memoryview(tail)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            count = min(len(buffer), len(self._head))
            buffer[:count] = self._head[:count]
            self._head = self._head[count:]
            return count
        filled = 0
        while filled < len(buffer) and (data := self._rest.read(len(buffer) - filled)):
            buffer[filled : filled + len(data)] = data
            filled += len(data)
        if filled < len(buffer) and self._tail:  # the end of ``rest``: the tail comes in the same read (a
            count = min(len(buffer) - filled, len(self._tail))  # last row must not span one more block)
            buffer[filled : filled + count] = self._tail[:count]
            self._tail = self._tail[count:]
            filled += count
        return filled


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
    with fs.open(path, "rb") as handle:
        return hash_handle(handle)


def hash_handle(handle: BinaryIO) -> tuple[int, str]:
    """Size and SHA-256 of an open file, from its start: the bytes of the file that was read through it
    (a file replaced since, renamed over its path, is another file; opening the path again would hash it)."""
    handle.seek(0)
    sha = hashlib.sha256()
    size = 0
    while chunk := handle.read(HASH_CHUNK):
        sha.update(chunk)
        size += len(chunk)
    return size, sha.hexdigest()


PREFETCH_BYTES = 8 << 20
"""Files of an object store up to this size are fetched whole, ``PREFETCH_FILES`` at once, ahead of their
turn: read one after the other, each cost its round trips (a landing zone of 2,000 small files)."""
PREFETCH_FILES = 8


class Prefetched:
    """``fs`` with some files' bytes already fetched: ``open`` serves those from memory, anything else
    goes to ``fs``."""

    def __init__(self, fs: fsspec.AbstractFileSystem, data: Mapping[str, bytes]) -> None:
        self._fs = fs
        self._data = data

    def open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        data = self._data.get(path)
        if data is None or mode != "rb":
            return self._fs.open(path, mode, **kwargs)
        return io.BytesIO(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fs, name)


def prefetched(
    fs: fsspec.AbstractFileSystem, paths: list[str], sizes: Mapping[str, int]
) -> Generator[tuple[str, bytes | None], None, None]:
    """Each path with its bytes when it is a small file fetched ahead (``PREFETCH_FILES`` on threads), or
    None (a big file, or one the fetch failed on: read as it is opened, which names any error). ``sizes``:
    what the listing said (a path it lacks is asked for)."""

    def fetch(path: str) -> tuple[str, bytes | None]:
        try:
            size = sizes[path] if path in sizes else fs.size(path)
            if size <= PREFETCH_BYTES:
                return path, bytes(fs.cat_file(path))
        except Exception:  # noqa: BLE001 - the file is opened in turn, and its error reported then
            pass
        return path, None

    yield from ordered_map(fetch, paths, workers=PREFETCH_FILES)
