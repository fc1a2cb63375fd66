"""Shared, immutable files between partitions (manifest version 2, merge-on-read; docs/architecture.md).

A partition lists files of an earlier partition by reference and adds its own rows and a deletes file; the
one read path resolves them; ``verify_partition`` covers shared files and deletes; cleanup never deletes a
file any committed manifest lists, and does delete files of replaced or failed attempts nobody lists.
"""

from __future__ import annotations

from collections import Counter

import polars as pl
import pytest

from medallion_assets.errors import StorageError
from medallion_resources.errors import IntegrityError
from medallion_resources.lake.commit import PartitionWriter
from medallion_resources.lake.layout import CHECKSUMS_NAME
from medallion_resources.lake.manifest import Manifest
from medallion_resources.lake.parts import PartSettings
from medallion_resources.lake.read import (
    CommittedPartition,
    deleted_positions,
    forget_files_read,
    read_artifact,
    read_committed,
    verify_partition,
)
from medallion_resources.lake.touched import read_touched
from medallion_resources.storage import StorageBackend

ROOT = "domain=d/entity=e/v1"
DAY1, DAY2, DAY3 = (f"{ROOT}/load_date=2026-01-0{i}" for i in (1, 2, 3))


def _writer(backend: StorageBackend, prefix: str, *, shared: bool = True) -> PartitionWriter:
    return PartitionWriter(
        backend,
        prefix,
        layer="silver",
        dataset=ROOT,
        run_date=prefix[-10:],
        run_id="r",
        output=PartSettings(max_rows_per_file=2),
        shared=shared,
    )


def _base(backend: StorageBackend, prefix: str = DAY1, *, shared: bool = True) -> CommittedPartition:
    """Day 1: keys 1..4 (two part files), written whole."""
    writer = _writer(backend, prefix, shared=shared)
    writer.write_artifact("current", [pl.DataFrame({"id": [1, 2, 3, 4], "v": ["a", "b", "c", "d"]})])
    if shared:
        writer.set_keyed("current", ["id"], sorted_=True)
    writer.commit({"day": 1})
    part = read_committed(backend, prefix)
    assert part is not None
    return part


def _delta(
    backend: StorageBackend, prior: CommittedPartition, prefix: str, changes: dict[int, str | None]
) -> CommittedPartition:
    """The day after ``prior``: keys in ``changes`` replaced (None: removed), the rest carried."""
    keys = pl.DataFrame({"id": list(changes)})
    old = read_touched(prior, "current", keys)
    assert old is not None
    writer = _writer(backend, prefix)
    writer.reference(prior.rooted(f) for f in prior.manifest.files)
    writer.write_deletes(
        "current",
        old.select(pl.col("__medallion_file").alias("path"), pl.col("__medallion_pos").alias("pos")),
    )
    new = pl.DataFrame(
        {"id": [k for k, v in changes.items() if v], "v": [v for v in changes.values() if v]},
        schema={"id": pl.Int64, "v": pl.String},
    )
    writer.write_artifact("current", [new])
    writer.set_keyed("current", ["id"], sorted_=False)
    writer.commit({"day": prefix[-1]})
    part = read_committed(backend, prefix)
    assert part is not None
    return part


def _rows(part: CommittedPartition) -> list[tuple[int, str]]:
    return [tuple(r) for r in read_artifact(part, "current").iter_rows()]  # type: ignore[misc]


def test_a_day_lists_the_day_before_by_reference(backend: StorageBackend) -> None:
    day1 = _base(backend)
    day2 = _delta(backend, day1, DAY2, {2: "B", 4: None, 5: "e"})
    assert day2.manifest.manifest_version == 2
    shared = [f for f in day2.manifest.files if f.path.startswith("load_date=2026-01-01/")]
    assert len(shared) == 2 and all(f.kind == "data" for f in shared)
    assert _rows(day2) == [(1, "a"), (2, "B"), (3, "c"), (5, "e")]  # key order restored
    assert _rows(day1) == [(1, "a"), (2, "b"), (3, "c"), (4, "d")]  # day 1 is unchanged
    assert day2.manifest.record_count == 4
    assert verify_partition(day2) == []


def test_deletes_of_several_days_on_the_same_files_all_apply(backend: StorageBackend) -> None:
    """Day 2 and day 3 each delete a row of both base files: two deletes files name each base file."""
    day2 = _delta(backend, _base(backend), DAY2, {2: "B", 4: None})
    day3 = _delta(backend, day2, DAY3, {1: "A", 3: None, 2: "BB"})
    assert _rows(day3) == [(1, "A"), (2, "BB")]
    assert day3.manifest.record_count == 2 and verify_partition(day3) == []
    deleted = deleted_positions(day3, "current")
    base = sorted(f.path for f in day3.manifest.data_files("current") if "01-01" in f.path)
    assert [sorted(deleted[path].to_list()) for path in base] == [[0, 1], [0, 1]]
    assert read_touched(day3, "current", pl.DataFrame({"id": [1, 3, 4]})).get_column("v").to_list() == ["A"]


def test_a_deletes_file_is_fetched_and_decoded_once_per_process(
    backend: StorageBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Silver D reads D-1's deletes, its ``manifest_verified`` check reads them again with its own, the next
    day of a range run once more: the same bytes (by SHA-256 and size) are fetched and decoded once."""
    day3 = _delta(backend, _delta(backend, _base(backend), DAY2, {2: "B", 4: None}), DAY3, {1: "A"})
    deletes = {day3.relpath(f) for f in day3.manifest.delete_files("current")}
    assert len(deletes) == 2
    want = {p: s.to_list() for p, s in deleted_positions(day3, "current").items()}
    forget_files_read()
    fetched: list[str] = []
    read_bytes = backend.read_bytes
    monkeypatch.setattr(backend, "read_bytes", lambda p: fetched.append(p) or read_bytes(p))
    for _ in range(3):
        again = read_committed(backend, DAY3)  # a new partition object, as each day and check has
        assert again is not None
        assert {p: s.to_list() for p, s in deleted_positions(again, "current").items()} == want
        assert verify_partition(again) == []
        assert _rows(again) == [(1, "A"), (2, "B"), (3, "c")]
    assert sorted(p for p in fetched if p in deletes) == sorted(deletes)


def test_a_small_file_of_an_object_store_is_fetched_once_per_process(
    backend: StorageBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each day of a range run reads the files D-1 carries: on a store (here the in-memory backend, which
    has no local path) a small one is a request once per process; on local disk it is read every time."""
    day3 = _delta(backend, _delta(backend, _base(backend), DAY2, {2: "B", 4: None}), DAY3, {1: "A"})
    data = {day3.relpath(f) for f in day3.manifest.data_files("current")}
    forget_files_read()
    fetched: list[str] = []
    read_bytes = backend.read_bytes
    monkeypatch.setattr(backend, "read_bytes", lambda p: fetched.append(p) or read_bytes(p))
    for _ in range(3):
        again = read_committed(backend, DAY3)
        assert again is not None
        assert _rows(again) == [(1, "A"), (2, "B"), (3, "c")]
        touched = read_touched(again, "current", pl.DataFrame({"id": [1, 3]}))
        assert touched is not None and touched.get_column("v").to_list() == ["c", "A"]
    reads = Counter(p for p in fetched if p in data)
    if backend.local_path(next(iter(data))) is None:
        assert reads == dict.fromkeys(data, 1)
    else:
        assert set(reads) == data and min(reads.values()) >= 3  # every pass reads every file again


def test_verify_hashes_a_deletes_file_in_storage_even_after_reading_it(backend: StorageBackend) -> None:
    """What the process keeps never hides a file changed in storage from ``medallion verify``."""
    day2 = _delta(backend, _base(backend), DAY2, {2: "B", 4: None})
    deleted_positions(day2, "current")
    (listed,) = day2.manifest.delete_files("current")
    relpath = day2.relpath(listed)
    data = backend.read_bytes(relpath)
    backend.put_bytes(relpath, data[:-9] + bytes(8) + data[-1:])  # same size, other bytes
    again = read_committed(backend, DAY2)
    assert again is not None
    assert any(relpath in p and "SHA-256" in p for p in verify_partition(again))
    forget_files_read()  # a process that has not read it yet refuses it on read
    with pytest.raises(IntegrityError, match="SHA-256"):
        deleted_positions(read_committed(backend, DAY2), "current")  # type: ignore[arg-type]


def test_re_running_an_old_day_never_breaks_a_later_day(backend: StorageBackend) -> None:
    day1 = _base(backend)
    day2 = _delta(backend, day1, DAY2, {2: "B"})
    old_day1_files = {day1.relpath(f) for f in day1.manifest.files}
    _base(backend)  # day 1 again: a new attempt replaces it
    assert all(backend.exists(p) for p in old_day1_files), "files day 2 lists were deleted"
    again = read_committed(backend, DAY2)
    assert again is not None and verify_partition(again) == [] and _rows(again) == _rows(day2)
    # Re-running day 2 on the new day 1 leaves the old day-1 attempt's files unreferenced: now they go.
    _delta(backend, read_committed(backend, DAY1), DAY2, {2: "B"})  # type: ignore[arg-type]
    assert not any(backend.exists(p) for p in old_day1_files)
    for prefix in (DAY1, DAY2):
        part = read_committed(backend, prefix)
        assert part is not None and verify_partition(part) == []


def test_a_failed_attempt_leaves_no_files(backend: StorageBackend) -> None:
    day1 = _base(backend)
    before = set(backend.list_files(ROOT))
    with pytest.raises(RuntimeError), _writer(backend, DAY2) as writer:
        writer.reference(day1.rooted(f) for f in day1.manifest.files)
        writer.write_artifact("current", [pl.DataFrame({"id": [9], "v": ["z"]})])
        raise RuntimeError("boom")
    assert set(backend.list_files(ROOT)) == before


def test_a_commit_refuses_a_reference_that_is_gone(backend: StorageBackend) -> None:
    day1 = _base(backend)
    writer = _writer(backend, DAY2)
    writer.reference(day1.rooted(f) for f in day1.manifest.files)
    backend.delete([day1.relpath(day1.manifest.files[0])])
    with pytest.raises(StorageError, match="no longer in place"):
        writer.commit({})
    assert read_committed(backend, DAY2) is None


def test_verify_names_a_changed_shared_file_and_bad_deletes(backend: StorageBackend) -> None:
    day1 = _base(backend)
    day2 = _delta(backend, day1, DAY2, {1: "A"})
    shared = day2.relpath(day2.manifest.data_files("current")[0])
    data = bytearray(backend.read_bytes(shared))
    data[len(data) // 2] ^= 0xFF
    backend.put_bytes(shared, bytes(data))
    problems = verify_partition(day2)
    assert len(problems) == 1 and problems[0].startswith(f"{shared}: SHA-256")
    # A deletes file naming a file the manifest does not list, or a row past its end, is reported.
    day3 = _delta(backend, _base(backend, DAY3.replace("03", "04")), DAY3, {1: "x"})
    writer = _writer(backend, DAY3)
    listed = day3.rooted(day3.manifest.data_files("current")[0]).path
    bad = pl.DataFrame(
        {
            "path": ["load_date=2026-01-09/nope.parquet", listed, listed, listed, listed],
            "pos": [0, 99, -1, 0, 0],
        }
    )
    writer.reference(f for f in day3.manifest.files if f.kind == "data")
    writer.write_deletes("current", bad)
    writer.commit({})
    part = read_committed(backend, DAY3)
    assert part is not None
    problems = verify_partition(part)
    assert any("nope.parquet, which is not a listed data file" in p for p in problems)
    assert "deletes of 'current': 2 position(s) outside their data file" in problems
    assert "deletes of 'current': 1 position(s) deleted more than once" in problems


def test_version_1_partitions_still_read_and_can_be_shared(backend: StorageBackend) -> None:
    day1 = _base(backend, shared=False)
    raw = Manifest.from_json(backend.read_bytes(f"{DAY1}/{CHECKSUMS_NAME}"))
    assert raw.manifest_version == 1 and not raw.files[0].path.startswith("load_date=")
    assert _rows(day1) == [(1, "a"), (2, "b"), (3, "c"), (4, "d")]
    day2 = _delta(backend, day1, DAY2, {3: "C"})
    assert _rows(day2) == [(1, "a"), (2, "b"), (3, "C"), (4, "d")]
    assert verify_partition(day2) == []
