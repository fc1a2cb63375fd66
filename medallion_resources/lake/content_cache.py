"""What this process has already read from verified lake files, kept by each file's location and content.

A committed file never changes, and every manifest names its files with their SHA-256 and size, so what was
decoded from a file's bytes that matched them is what a later read of the same file, listed with the same
SHA-256 and size, would decode. Repeated reads within one process then cost nothing (no fetch from the
store, no hash, no decode): a Silver day reads the deletes files of Silver D-1, its ``manifest_verified``
check reads them again with the day's own, and the next day of a range run reads them once more.

What it gives up: a file changed in storage *after* this process read it is not noticed by the reads that
hit the cache (they use the bytes that were verified, so they never return other data than the manifest
lists). ``medallion verify`` and the ``manifest_verified`` check hash the files in storage themselves (the
check: the partition's own files; it checks the size of the ones it carries) and decode deletes files only
once the hashes pass, so what they may take from here is what those bytes give.

Memory is bounded: the least recently used entries go once the entries' sizes pass the budget.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

from medallion_resources.lake.manifest import ManifestFile

__all__ = ["ContentCache"]

T = TypeVar("T")


class ContentCache(Generic[T]):
    """Values computed from a listed file's verified bytes, by (location, SHA-256, size); LRU by bytes."""

    def __init__(self, budget_bytes: int, size_of: Callable[[T], int]) -> None:
        self._budget = budget_bytes
        self._size_of = size_of
        self._entries: OrderedDict[tuple[str, str, int], tuple[T, int]] = OrderedDict()
        self._held = 0
        self._lock = threading.Lock()  # readers decode files in threads

    def get(self, location: str, file: ManifestFile, compute: Callable[[], T]) -> T:
        """The value of ``file`` at ``location`` (its URI): kept, or ``compute()`` (which must verify what it
        reads). Another file with the same bytes is read on its own: its own damage is reported."""
        key = (location, file.sha256, file.size_bytes)
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None:
                self._entries.move_to_end(key)
                return hit[0]
        value = compute()  # outside the lock: a verification failure raises and caches nothing
        size = self._size_of(value)
        with self._lock:
            if key not in self._entries and size <= self._budget:
                self._entries[key] = (value, size)
                self._held += size
                while self._held > self._budget:
                    _, (_, dropped) = self._entries.popitem(last=False)
                    self._held -= dropped
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._held = 0

    @property
    def held_bytes(self) -> int:
        return self._held
