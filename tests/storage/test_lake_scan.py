"""Reading downstream of the lake: ``scan_artifact`` and ``Dataset`` on local disk and fsspec's memory store.

The guarantee under test (docs/reading.md): a scan sees exactly the rows of the committed files (never an
uncommitted attempt's), verified against the manifest, the same rows ``read_artifact`` gives; errors name
the dataset and list what is committed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest
from polars.testing import assert_frame_equal

from medallion_resources.errors import IntegrityError, NotCommittedError, UnknownNameError
from medallion_resources.lake.commit import PartitionWriter
from medallion_resources.lake.dataset import Dataset, describe_dates
from medallion_resources.lake.layout import partition_folder
from medallion_resources.lake.parts import PartSettings
from medallion_resources.lake.read import read_artifact, read_committed, scan_artifact
from medallion_resources.lake.schema import schema_to_json
from medallion_resources.storage import StorageBackend

DATASET = "domain=sales/entity=orders/v1"


def _writer(backend: StorageBackend, run_date: str, *, max_rows: int = 3) -> PartitionWriter:
    return PartitionWriter(
        backend,
        f"{DATASET}/{partition_folder('silver', run_date)}",
        layer="silver",
        dataset=DATASET,
        run_date=run_date,
        run_id=f"run-{run_date}",
        output=PartSettings(max_rows_per_file=max_rows),
    )


def _commit(backend: StorageBackend, run_date: str, artifacts: dict[str, list[pa.Table]]) -> None:
    writer = _writer(backend, run_date)
    for name, tables in artifacts.items():
        writer.write_artifact(name, tables)
    writer.commit({"schemas": {n: schema_to_json(s) for n, s in writer.schemas.items() if s is not None}})


def _orders(ids: list[int], day: str) -> pa.Table:
    return pa.table({"order_id": ids, "amount": [float(i) * 1.5 for i in ids], "day": [day] * len(ids)})


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "read-cache"


class TestScanArtifact:
    def test_same_rows_as_read_artifact_across_drifting_part_schemas(
        self, backend: StorageBackend, cache: Path
    ) -> None:
        """Parts where later ones gain a column and widen int to float: the scan widens like the writer."""
        writer = _writer(backend, "2025-01-02", max_rows=2)
        writer.write_artifact(
            "current",
            [
                pa.table({"k": [1, 2], "v": [10, 20]}),
                pa.table({"k": [3, 4], "v": [30, 40]}),
                pa.table({"k": [5, 6], "v": [0.5, 0.25], "note": ["a", None]}),
                pa.table({"k": [7], "v": [70], "note": ["z"]}),
            ],
        )
        writer.commit({})
        part = read_committed(backend, f"{DATASET}/load_date=2025-01-02")
        assert part is not None and len(part.files("current")) >= 3
        lazy = scan_artifact(part, "current", cache_dir=cache)
        assert isinstance(lazy, pl.LazyFrame)
        got = lazy.collect()
        assert_frame_equal(got, read_artifact(part, "current"))
        assert got["k"].to_list() == [1, 2, 3, 4, 5, 6, 7]  # manifest order
        assert got.schema["v"] == pl.Float64 and got["note"].to_list() == [None] * 4 + ["a", None, "z"]

    def test_only_committed_files_are_seen(self, backend: StorageBackend, cache: Path) -> None:
        _commit(backend, "2025-01-02", {"current": [_orders([1, 2, 3], "d1")]})
        crashed = _writer(backend, "2025-01-02")  # a second attempt that wrote parts and never committed
        crashed.write_artifact("current", [_orders([7, 8, 9, 10], "crashed")])
        assert any(crashed.attempt in name for name in backend.list_files(DATASET))
        part = read_committed(backend, f"{DATASET}/load_date=2025-01-02")
        assert part is not None
        got = scan_artifact(part, "current", cache_dir=cache).collect()
        assert got["order_id"].to_list() == [1, 2, 3] and set(got["day"]) == {"d1"}

    def test_a_changed_byte_is_an_integrity_error_naming_the_file(
        self, backend: StorageBackend, cache: Path
    ) -> None:
        _commit(backend, "2025-01-02", {"current": [_orders([1, 2, 3], "d1")]})
        part = read_committed(backend, f"{DATASET}/load_date=2025-01-02")
        assert part is not None
        (file,) = part.files("current")
        data = bytearray(backend.read_bytes(part.relpath(file)))
        data[len(data) // 2] ^= 0x01
        backend.put_bytes(part.relpath(file), bytes(data))
        with pytest.raises(
            IntegrityError, match=rf"{file.path} has SHA-256 .*the manifest says {file.sha256}"
        ):
            scan_artifact(part, "current", cache_dir=cache)

    def test_verify_false_checks_sizes_only(self, backend: StorageBackend, cache: Path) -> None:
        _commit(backend, "2025-01-02", {"current": [_orders([1, 2, 3], "d1")]})
        part = read_committed(backend, f"{DATASET}/load_date=2025-01-02")
        assert part is not None
        (file,) = part.files("current")
        wrong = replace(part.manifest, files=(replace(file, sha256="0" * 64),))
        lying = replace(part, manifest=wrong)  # a manifest whose hash the file does not have
        with pytest.raises(IntegrityError, match=r"has SHA-256 .*the manifest says 0000"):
            scan_artifact(lying, "current", cache_dir=cache)
        rows = scan_artifact(lying, "current", verify=False, cache_dir=cache).collect()
        assert rows["order_id"].to_list() == [1, 2, 3]

    def test_a_missing_or_truncated_file_is_an_integrity_error(
        self, backend: StorageBackend, cache: Path
    ) -> None:
        _commit(backend, "2025-01-02", {"current": [_orders([1, 2, 3], "d1")]})
        part = read_committed(backend, f"{DATASET}/load_date=2025-01-02")
        assert part is not None
        (file,) = part.files("current")
        backend.put_bytes(part.relpath(file), backend.read_bytes(part.relpath(file))[:-10])
        with pytest.raises(IntegrityError, match=rf"{file.path} has {file.size_bytes - 10} bytes"):
            scan_artifact(part, "current", verify=False, cache_dir=cache)
        backend.delete([part.relpath(file)])
        with pytest.raises(IntegrityError, match=rf"{file.path} is listed in the manifest but missing"):
            scan_artifact(part, "current", cache_dir=cache)

    def test_a_file_gone_because_the_day_was_committed_again_says_so_not_that_the_lake_is_damaged(
        self, backend: StorageBackend, cache: Path
    ) -> None:
        """A run's Silver step read Bronze D's manifest, then another run committed Bronze D again (and
        deleted the files it replaced): the step failed with "listed in the manifest but missing", a
        damaged lake by its words, while ``medallion verify`` found nothing wrong."""
        _commit(backend, "2025-01-02", {"current": [_orders([1, 2, 3], "d1")]})
        part = read_committed(backend, f"{DATASET}/load_date=2025-01-02")
        assert part is not None
        _commit(backend, "2025-01-02", {"current": [_orders([4, 5], "d1")]})  # the other run's commit
        newer = read_committed(backend, f"{DATASET}/load_date=2025-01-02")
        assert newer is not None and newer.manifest.attempt != part.manifest.attempt
        replaced = f"attempt {part.manifest.attempt} replaced by {newer.manifest.attempt}"
        again = rf"committed again while this read it \({replaced}\)"
        with pytest.raises(IntegrityError, match=again):
            read_artifact(part, "current")
        with pytest.raises(IntegrityError, match=again):
            scan_artifact(part, "current", cache_dir=cache)
        assert read_artifact(newer, "current")["order_id"].to_list() == [4, 5]  # read again: the new commit
        # Dataset.scan, under read() and every input downstream, reads the commit in place itself.
        dataset = Dataset(backend, DATASET, "silver", "orders")
        assert dataset.scan([part], "current", cache_dir=cache).collect()["order_id"].to_list() == [4, 5]
        _commit(backend, "2025-01-01", {"current": [_orders([7], "d0")]})  # a range: only D was replaced
        day_before = read_committed(backend, f"{DATASET}/load_date=2025-01-01")
        assert day_before is not None
        both = dataset.scan([day_before, part], "current", cache_dir=cache).collect()
        assert both["order_id"].to_list() == [7, 4, 5]

    def test_an_empty_artifact_scans_with_its_recorded_schema(
        self, backend: StorageBackend, cache: Path
    ) -> None:
        empty = pa.table({"order_id": pa.array([], pa.int64()), "day": pa.array([], pa.string())})
        _commit(backend, "2025-01-02", {"current": [empty]})
        part = read_committed(backend, f"{DATASET}/load_date=2025-01-02")
        assert part is not None
        got = scan_artifact(part, "current", cache_dir=cache).collect()
        assert got.height == 0 and got.schema == pl.Schema({"order_id": pl.Int64, "day": pl.String})


def test_local_files_are_scanned_in_place_and_remote_ones_from_a_verified_copy(
    local_backend: StorageBackend, memory_backend: StorageBackend, cache: Path
) -> None:
    for backend in (local_backend, memory_backend):
        _commit(backend, "2025-01-02", {"current": [_orders([1, 2], "d1")]})
    local = read_committed(local_backend, f"{DATASET}/load_date=2025-01-02")
    remote = read_committed(memory_backend, f"{DATASET}/load_date=2025-01-02")
    assert local is not None and remote is not None
    scan_artifact(local, "current", cache_dir=cache).collect()
    assert not cache.exists()  # nothing copied: the scan reads the lake's own file
    scan_artifact(remote, "current", cache_dir=cache).collect()
    (file,) = remote.files("current")
    copy = cache / f"{file.sha256}.parquet"
    assert copy.is_file() and copy.stat().st_size == file.size_bytes
    # The copy is named by its content, so the next scan does not download again: even a file that was
    # replaced in the store since then is read as the verified bytes the manifest lists.
    memory_backend.delete([remote.relpath(file)])
    again = scan_artifact(remote, "current", cache_dir=cache).collect()
    assert again["order_id"].to_list() == [1, 2]


@pytest.fixture
def dataset(backend: StorageBackend) -> Iterator[Dataset]:
    yield Dataset(backend, DATASET, "silver", "retail_orders")


class TestDataset:
    def test_latest_and_as_of(self, dataset: Dataset, cache: Path) -> None:
        backend = dataset.backend
        for day, ids in (("2025-01-01", [1]), ("2025-01-02", [1, 2]), ("2025-01-04", [1, 2, 4])):
            _commit(backend, day, {"current": [_orders(ids, day)]})
        _writer(backend, "2025-01-05").write_artifact("current", [_orders([9], "x")])  # folder, no commit
        assert dataset.folder_dates() == ["2025-01-01", "2025-01-02", "2025-01-04", "2025-01-05"]
        assert dataset.committed_dates() == ["2025-01-01", "2025-01-02", "2025-01-04"]
        assert dataset.require_latest().manifest.run_date == "2025-01-04"
        assert dataset.require_latest("2025-01-03").manifest.run_date == "2025-01-02"
        assert dataset.require_latest("2025-01-02").manifest.run_date == "2025-01-02"
        with pytest.raises(
            NotCommittedError,
            match=r"^Silver retail_orders has no committed partition on or before 2024-12-31; "
            r"committed: 2025-01-01\.\.2025-01-02, 2025-01-04 \(",
        ):
            dataset.require_latest("2024-12-31")
        with pytest.raises(NotCommittedError, match=r"no committed partition for 2025-01-05; committed: "):
            dataset.require("2025-01-05")

    def test_scan_of_several_partitions_is_their_union_in_order(self, dataset: Dataset, cache: Path) -> None:
        for day, ids in (("2025-01-01", [1, 2]), ("2025-01-02", [3])):
            _commit(dataset.backend, day, {"current": [_orders(ids, day)]})
        parts = [dataset.require("2025-01-01"), dataset.require("2025-01-02")]
        got = dataset.scan(parts, "current", cache_dir=cache).collect()
        assert got.select("order_id", "day").rows() == [
            (1, "2025-01-01"),
            (2, "2025-01-01"),
            (3, "2025-01-02"),
        ]

    def test_unknown_artifact_lists_the_partitions_artifacts(self, dataset: Dataset, cache: Path) -> None:
        _commit(
            dataset.backend, "2025-01-01", {"history": [_orders([1], "h")], "current": [_orders([1], "c")]}
        )
        part = dataset.require("2025-01-01")
        with pytest.raises(
            UnknownNameError,
            match=r"unknown artifact 'events'; the artifacts of Silver retail_orders 2025-01-01 are: "
            r"current, errors, history",
        ):
            dataset.scan([part], "events", cache_dir=cache)
        assert dataset.scan([part], "history", cache_dir=cache).collect()["day"].to_list() == ["h"]
        assert dataset.scan([part], "errors", cache_dir=cache).collect().height == 0

    def test_nothing_committed(self, dataset: Dataset) -> None:
        with pytest.raises(NotCommittedError, match=r"nothing is committed under .*materialize it first"):
            dataset.require_latest()


def test_describe_dates() -> None:
    assert describe_dates(["2025-01-03", "2025-01-01", "2025-01-02", "2025-01-05", "x"]) == (
        "2025-01-01..2025-01-03, 2025-01-05, x"
    )
