"""Many committed partitions of one dataset, read again later without re-reading the unchanged ones.

The ``inputs_current`` check and the ``medallion_silver_inputs`` sensor judge every Silver day against the
Bronze it read: every manifest and ``_metadata.json`` of both layers. On an object store that is two
requests per day and layer, about 1,500 per source for a year of days, on every sensor tick.
``CommittedCache`` lists the dataset once (``StorageBackend.list_versions``: the ETags, one request per
thousand objects), reads only the partitions whose ``_checksums.json`` or ``_metadata.json`` it has not
read at that version, several at a time, and keeps what it read for the next call. A long-lived process
(the code server evaluating the sensor) then pays one listing per dataset per tick plus the partitions
committed since. A one-off process (a run's check, ``medallion status``) pays one listing plus every
partition, read in parallel.

On local disk listings carry no versions: each partition is read, in order (reading a small JSON file
there costs what listing it does, and the work is parsing, which threads only contend for).

What is kept is a ``CommitRecord`` per partition: which commit it is (the manifest's SHA-256 and
``committed_at``) and the metadata keys the caller asked for, not the manifest's file list: a code server
watching fifty sources for three years holds ~100k of them (a parsed manifest of 100 files is ~50 KiB).

A version seen in the listing and the bytes read afterwards can belong to different commits when one lands
in between: the entry is then kept under the older version, and the next listing's newer one reads the
partition again. A partition is never taken from the cache under a version other than the one it was
stored with.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from medallion_resources.lake.layout import CHECKSUMS_NAME, METADATA_NAME
from medallion_resources.lake.read import read_committed
from medallion_resources.storage.base import StorageBackend, join_relpath

__all__ = ["READERS", "CommitRecord", "CommittedCache"]

READERS = 8
"""Partitions read at once from an object store, where each is two requests."""

_Version = tuple[str, str | None]  # the versions of _checksums.json and _metadata.json


@dataclass(frozen=True)
class CommitRecord:
    """Which commit a partition holds, and some of its metadata: what judging lineage needs."""

    prefix: str
    manifest_sha256: str
    committed_at: str
    metadata: Mapping[str, Any]  # the keys asked for that the metadata has


class CommittedCache:
    """The commit records of one backend read so far, by prefix, with the versions they were read at."""

    def __init__(self, backend: StorageBackend) -> None:
        self.backend = backend
        self._entries: dict[str, tuple[_Version, frozenset[str], CommitRecord]] = {}
        self._lock = threading.Lock()

    def read(
        self, root: str, prefixes: Sequence[str], metadata_keys: Sequence[str] = ()
    ) -> list[CommitRecord | None]:
        """The commit of each prefix (all under ``root``), in order; None where nothing is committed."""
        keys = frozenset(metadata_keys)
        versions = self.backend.list_versions(root)
        if versions is None:
            return [self._read(prefix, keys) for prefix in prefixes]

        def one(prefix: str) -> CommitRecord | None:
            manifest = versions.get(join_relpath(prefix, CHECKSUMS_NAME))
            if manifest is None:
                return None  # nothing committed there when the listing was taken
            version = (manifest, versions.get(join_relpath(prefix, METADATA_NAME)))
            with self._lock:
                entry = self._entries.get(prefix)
            if entry is not None and entry[0] == version and keys <= entry[1]:
                return entry[2]
            record = self._read(prefix, keys)
            with self._lock:
                if record is None:
                    self._entries.pop(prefix, None)
                else:
                    self._entries[prefix] = (version, keys, record)
            return record

        if len(prefixes) < 2:
            return [one(prefix) for prefix in prefixes]
        with ThreadPoolExecutor(READERS, thread_name_prefix="medallion-committed") as pool:
            return list(pool.map(one, prefixes))

    def _read(self, prefix: str, keys: frozenset[str]) -> CommitRecord | None:
        part = read_committed(self.backend, prefix)
        if part is None:
            return None
        kept = {k: part.metadata[k] for k in keys if k in part.metadata}
        return CommitRecord(prefix, part.manifest.sha256, part.manifest.committed_at, kept)
