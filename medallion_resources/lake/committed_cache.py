"""Which commit each of many partitions holds, read again later without re-reading the unchanged ones.

The ``inputs_current`` check and the ``medallion_silver_inputs`` sensor judge every Silver day against the
Bronze it read: every manifest and ``_metadata.json`` of both layers. On an object store that is two
requests per day and layer, about 1,500 per source for a year of days, on every sensor tick and in every
run's check. ``CommittedCache`` lists the dataset once (``StorageBackend.list_versions``: the ETags, one
request per thousand objects), reads only the partitions whose ``_checksums.json`` or ``_metadata.json``
it has not read at that version, several at a time, and keeps what it read for the next call, in memory
and in a file per dataset under the cache folder (below), so that a run in a fresh process, like the
sensor's next tick, pays one listing per dataset plus the partitions committed since.

On local disk listings carry no versions: each partition is read, in order (reading a small JSON file
there costs what listing it does, and the work is parsing, which threads only contend for). A dataset
whose partitions hold many files each (a Bronze day of 100M rows is 1,000 parts) is read without the
listing, as if there were no cache: its listing would cost more than reading every partition
(``LISTING_PAYS_BELOW``).

What is kept is a ``CommitRecord`` per partition: which commit it is (the manifest's SHA-256 and
``committed_at``) and the metadata keys the caller asked for, not the manifest's file list: a code server
watching fifty sources for three years holds ~100k of them (a parsed manifest of 100 files is ~50 KiB).

A record is used only under the versions (ETag and size of both files) it was read at: S3's ETag is the
MD5 of the object, Azure's changes with every write. A version seen in the listing and the bytes read
afterwards can belong to different commits when one lands in between: the record is then kept under the
older version, and the next listing's newer one reads the partition again. The cache folder is
``$MEDALLION_CACHE_DIR`` (empty: nothing on disk), else ``$XDG_CACHE_HOME/medallion``, else
``~/.cache/medallion``; a file that cannot be read or written is ignored (it is only a cache).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from medallion_resources.lake.layout import CHECKSUMS_NAME, METADATA_NAME
from medallion_resources.lake.read import read_committed
from medallion_resources.storage.base import StorageBackend, join_relpath
from medallion_resources.storage.local import write_atomically

__all__ = ["CACHE_DIR_ENV", "LISTING_PAYS_BELOW", "READERS", "CommitRecord", "CommittedCache", "cache_dir"]

READERS = 8
"""Partitions read at once from an object store, where each is two requests."""

LISTING_PAYS_BELOW = 250
"""Objects per partition up to which one listing of a dataset costs less than reading its partitions."""
_OWN_FILES = 3  # _checksums.json, _metadata.json, and an _errors/ file or two

CACHE_DIR_ENV = "MEDALLION_CACHE_DIR"
_FORMAT = 2

log = logging.getLogger("medallion.storage")

_Version = tuple[str, str | None]  # the versions of _checksums.json and _metadata.json


@dataclass(frozen=True)
class CommitRecord:
    """Which commit a partition holds, and some of its metadata: what judging lineage needs."""

    prefix: str
    manifest_sha256: str
    committed_at: str
    metadata: Mapping[str, Any]  # the keys asked for that the metadata has
    files: int = 0  # files its folder holds that its manifest lists (what a listing of the folder returns)


@dataclass(frozen=True)
class _Entry:
    version: _Version
    keys: frozenset[str]
    record: CommitRecord


def _in_parallel(
    read: Callable[[str], CommitRecord | None], prefixes: Sequence[str]
) -> list[CommitRecord | None]:
    if len(prefixes) < 2:
        return [read(prefix) for prefix in prefixes]
    with ThreadPoolExecutor(READERS, thread_name_prefix="medallion-committed") as pool:
        return list(pool.map(read, prefixes))


def cache_dir() -> Path | None:
    """The folder of the files this cache keeps across processes; None: keep nothing on disk."""
    configured = os.environ.get(CACHE_DIR_ENV)
    if configured is not None:
        return Path(configured).expanduser() if configured.strip() else None
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "medallion"


class CommittedCache:
    """The commit records of one backend read so far, by prefix, with the versions they were read at."""

    def __init__(self, backend: StorageBackend) -> None:
        self.backend = backend
        self._entries: dict[str, _Entry] = {}
        self._loaded: set[str] = set()  # dataset roots whose file was read into _entries
        self._lock = threading.Lock()

    def read(
        self, root: str, prefixes: Sequence[str], metadata_keys: Sequence[str] = ()
    ) -> list[CommitRecord | None]:
        """The commit of each prefix (all under ``root``), in order; None where nothing is committed."""
        keys = frozenset(metadata_keys)
        if self.backend.local_path(root) is not None:
            return [self._read(prefix, keys) for prefix in prefixes]
        if not self.backend.versioned_listings:
            return self._read_all(prefixes, keys)
        self._load(root)
        versions = self.backend.list_versions(root) if self._listing_pays(root, prefixes) else None
        if versions is None:  # no versions, or a listing longer than reading every partition
            return self._read_all(prefixes, keys)
        changed = False

        def one(prefix: str) -> CommitRecord | None:
            nonlocal changed
            manifest = versions.get(join_relpath(prefix, CHECKSUMS_NAME))
            if manifest is None:
                return None  # nothing committed there when the listing was taken
            version = (manifest, versions.get(join_relpath(prefix, METADATA_NAME)))
            with self._lock:
                entry = self._entries.get(prefix)
            if entry is not None and entry.version == version and keys <= entry.keys:
                return entry.record
            record = self._read(prefix, keys)
            with self._lock:
                changed = True
                if record is None:
                    self._entries.pop(prefix, None)
                else:
                    self._entries[prefix] = _Entry(version, keys, record)
            return record

        found = _in_parallel(one, prefixes)
        with self._lock:
            gone = [p for p in self._under(root) if join_relpath(p, CHECKSUMS_NAME) not in versions]
            for prefix in gone:  # partitions removed from the lake since they were read
                del self._entries[prefix]
        if changed or gone:
            self._save(root)
        return found

    def _listing_pays(self, root: str, prefixes: Sequence[str]) -> bool:
        """Whether one listing of ``root`` costs less than reading its partitions: a page of the listing
        holds 1,000 objects and costs about one request, reading a partition two (8 at a time); so it pays
        while a partition holds fewer than ``LISTING_PAYS_BELOW`` objects. A Bronze day of 100M rows is
        1,000 part files: a year of those is 365 pages read one after the other, against 730 reads 8 at a
        time. Estimated from the partitions' file counts seen before, else from the newest one."""
        if not prefixes:
            return False
        with self._lock:
            seen = [e.record.files for e in self._under(root).values()]
        if not seen:
            newest = self._read(prefixes[-1], frozenset())
            seen = [newest.files if newest is not None else 0]
        return sum(seen) / len(seen) + _OWN_FILES < LISTING_PAYS_BELOW

    def _under(self, root: str) -> dict[str, _Entry]:
        """The entries of the dataset at ``root`` (callers hold the lock)."""
        under = root.strip("/") + "/"
        return {prefix: e for prefix, e in self._entries.items() if prefix.startswith(under)}

    def _read_all(self, prefixes: Sequence[str], keys: frozenset[str]) -> list[CommitRecord | None]:
        return _in_parallel(lambda prefix: self._read(prefix, keys), prefixes)

    def _read(self, prefix: str, keys: frozenset[str]) -> CommitRecord | None:
        part = read_committed(self.backend, prefix)
        if part is None:
            return None
        kept = {k: part.metadata[k] for k in keys if k in part.metadata}
        own = part.prefix + "/"  # files carried from earlier days live in their folders
        files = sum(1 for f in part.manifest.files if part.relpath(f).startswith(own))
        return CommitRecord(prefix, part.manifest.sha256, part.manifest.committed_at, kept, files)

    # --- the copy on disk ---
    def _file(self, root: str) -> Path | None:
        folder = cache_dir()
        if folder is None:
            return None
        name = hashlib.sha256(self.backend.uri(root).encode()).hexdigest()[:32]
        return folder / "commits" / f"{name}.json"

    def _load(self, root: str) -> None:
        if root in self._loaded:
            return
        self._loaded.add(root)
        path = self._file(root)
        if path is None:
            return
        try:
            data = json.loads(path.read_bytes())
            if data.get("format") != _FORMAT or data.get("uri") != self.backend.uri(root):
                return
            loaded = {
                prefix: _Entry(
                    (str(e["version"][0]), None if e["version"][1] is None else str(e["version"][1])),
                    frozenset(e["keys"]),
                    CommitRecord(**e["record"]),
                )
                for prefix, e in data["entries"].items()
            }
        except FileNotFoundError:
            return
        except (OSError, ValueError, TypeError, KeyError, IndexError) as exc:
            log.debug("ignoring the commit cache %s: %s", path, exc)
            return
        with self._lock:
            for prefix, entry in loaded.items():
                self._entries.setdefault(prefix, entry)

    def _save(self, root: str) -> None:
        path = self._file(root)
        if path is None:
            return
        with self._lock:
            entries = {
                prefix: {"version": list(e.version), "keys": sorted(e.keys), "record": asdict(e.record)}
                for prefix, e in self._under(root).items()
            }
        data = json.dumps({"format": _FORMAT, "uri": self.backend.uri(root), "entries": entries}).encode()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Readers see the old file or the new one; the last writer wins.
            write_atomically(str(path), lambda out: out.write(data))
        except OSError as exc:
            log.debug("could not write the commit cache %s: %s", path, exc)
