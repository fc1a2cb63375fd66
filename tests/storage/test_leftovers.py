"""Temp files of killed writers: which ones a commit removes (a dead owner's, of this dataset) and which it
leaves (a live writer's, another dataset's, another host's)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil

from medallion_resources.lake.leftovers import find_leftovers, remove_leftovers, temp_prefix
from medallion_resources.processes import ProcessRef, host_id
from medallion_resources.storage.local import LocalBackend

PARTITION = "system=crm/table=users/dt=2025-01-01"
OTHER = "system=crm/table=orders/dt=2025-01-01"


def _dead_process() -> ProcessRef:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    ref = ProcessRef(host_id(), child.pid, psutil.Process(child.pid).create_time())
    child.wait()
    return ref


def _temp(staging: Path, backend: LocalBackend, partition: str, owner: ProcessRef) -> Path:
    key = temp_prefix(backend, partition).split("-")[2]  # .medallion-part-<dataset key>-<owner>-
    path = staging / f".medallion-part-{key}-{owner.token}-abc123.parquet"
    path.write_bytes(b"part")
    return path


def test_a_commit_removes_only_dead_writers_files_of_its_dataset(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "lake")
    staging = Path(backend.staging_dir())
    dead = _dead_process()
    gone = _temp(staging, backend, PARTITION, dead)
    other_dataset = _temp(staging, backend, OTHER, dead)
    live = _temp(staging, backend, PARTITION, ProcessRef.current())
    elsewhere = _temp(staging, backend, PARTITION, ProcessRef("0" * 12, dead.pid, dead.started))
    legacy_old = staging / ".medallion-part-k3j2h1g0.parquet"
    legacy_old.write_bytes(b"part")
    os.utime(legacy_old, (1, 1))
    legacy_new = staging / ".medallion-part-z9y8x7w6.parquet"
    legacy_new.write_bytes(b"part")
    commit_time = datetime.now(UTC) - timedelta(seconds=60)

    listed = find_leftovers(backend, PARTITION, older_than=commit_time)
    assert [Path(x.path) for x in listed] == sorted([gone, legacy_old])
    assert (
        f"pid {dead.pid} on this host, which is gone" in next(x for x in listed if x.path == str(gone)).owner
    )
    assert remove_leftovers(backend, PARTITION, committed_at=commit_time) == 2
    assert not gone.exists() and not legacy_old.exists()
    assert other_dataset.exists() and live.exists() and elsewhere.exists() and legacy_new.exists()
