"""Temp files of killed writers: named by dataset and owner process, removed at the dataset's next commit.

A part file is written to a temp file first (in the backend's staging folder, ``<root>/.medallion-staging`` on
local disk, else the system temp folder) and moved into place; a writer killed in between leaves the temp
file behind for ever. Each temp file's name says whose it is::

    .medallion-part-<dataset key>-<host>.<pid>.<start ms>-<random>.parquet

(``ProcessRef.token``). After every successful commit of a dataset, the temp files of that dataset whose
process is gone from this host are deleted (never those of a live writer, nor of another host's), as are
temp files of the older unnamed form (``.medallion-part-<random>.parquet``) older than the commit.
``medallion inspect`` lists what is left.
"""

from __future__ import annotations

import hashlib
import logging
import os
import posixpath
import re
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

from medallion_resources.processes import ProcessRef
from medallion_resources.storage.base import StorageBackend

__all__ = ["Leftover", "find_leftovers", "remove_leftovers", "temp_prefix"]

log = logging.getLogger("medallion.storage")

_PREFIX = ".medallion-part-"
_NAMED = re.compile(r"\.medallion-part-(?P<dataset>[0-9a-f]{10})-(?P<owner>[0-9a-f]+\.\d+\.\d+)-.*\.parquet")
_UNNAMED = re.compile(r"\.medallion-part-[^-]+\.parquet")  # before temp files said whose they were


@dataclass(frozen=True)
class Leftover:
    """A temp file nobody will move into place any more."""

    path: str
    size_bytes: int
    modified: datetime
    owner: str  # "pid 123 on this host", or why it counts as left over

    def describe(self) -> str:
        return f"{self.path} ({self.size_bytes} bytes, {self.modified:%Y-%m-%d %H:%M:%S}Z, {self.owner})"


def _dataset_key(backend: StorageBackend, partition_prefix: str) -> str:
    dataset = posixpath.dirname(partition_prefix.strip("/"))
    return hashlib.sha256(backend.uri(dataset).encode()).hexdigest()[:10]


@cache
def _owner() -> str:
    return ProcessRef.current().token


def temp_prefix(backend: StorageBackend, partition_prefix: str) -> str:
    """The name prefix of this process's temp files for a partition of ``partition_prefix``'s dataset."""
    return f"{_PREFIX}{_dataset_key(backend, partition_prefix)}-{_owner()}-"


def _staging(backend: StorageBackend) -> str:
    return backend.staging_dir() or tempfile.gettempdir()


def find_leftovers(
    backend: StorageBackend, partition_prefix: str, *, older_than: datetime | None = None
) -> list[Leftover]:
    """Temp files of the dataset whose writer is gone, and unnamed ones older than ``older_than``."""
    folder = _staging(backend)
    key = _dataset_key(backend, partition_prefix)
    try:
        entries = [e for e in os.scandir(folder) if e.name.startswith(_PREFIX) and e.is_file()]
    except OSError:
        return []
    found = []
    for entry in entries:
        try:
            stat = entry.stat()
        except OSError:
            continue  # moved into place meanwhile
        modified = datetime.fromtimestamp(stat.st_mtime, UTC)
        named = _NAMED.fullmatch(entry.name)
        if named is not None:
            owner = ProcessRef.parse(named.group("owner"))
            if named.group("dataset") != key or owner is None or owner.alive() is not False:
                continue
            why = f"written by {owner.describe()}, which is gone"
        elif _UNNAMED.fullmatch(entry.name) and older_than is not None and modified < older_than:
            why = "written by an older medallion before the last commit"
        else:
            continue
        found.append(Leftover(entry.path, stat.st_size, modified, why))
    return sorted(found, key=lambda leftover: leftover.path)


def remove_leftovers(backend: StorageBackend, partition_prefix: str, *, committed_at: datetime) -> int:
    """Delete the dataset's leftovers after a successful commit (best effort); how many were removed."""
    removed = 0
    for leftover in find_leftovers(backend, partition_prefix, older_than=committed_at):
        try:
            os.remove(leftover.path)
            removed += 1
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("could not remove the leftover temp file %s: %s", leftover.path, exc)
    if removed:
        log.info("removed %d temp file(s) of killed writers from %s", removed, _staging(backend))
    return removed
