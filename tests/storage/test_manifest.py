"""The commit protocol: what a commit writes, how readers verify it, and what crashes leave behind."""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

import polars as pl
import pyarrow as pa
import pytest

from medallion_assets.errors import IntegrityError, StorageError
from medallion_resources.lake.commit import PartitionWriter
from medallion_resources.lake.layout import (
    CHECKSUMS_NAME,
    METADATA_NAME,
    attempt_of,
    new_attempt_id,
    staged_metadata_name,
)
from medallion_resources.lake.manifest import Manifest, ManifestFile
from medallion_resources.lake.parts import PartSettings
from medallion_resources.lake.read import (
    iter_artifact_tables,
    read_artifact,
    read_committed,
    read_verified,
    verify_partition,
)
from medallion_resources.lake.schema import schema_to_json
from medallion_resources.storage import StorageBackend

PREFIX = "system=crm/table=users/dt=2026-01-31"
MANIFEST_KEYS = {
    "manifest_version",
    "layer",
    "dataset",
    "run_date",
    "run_id",
    "committed_at",
    "record_count",
    "files",
    "metadata_sha256",
    "attempt",
}
FILE_KEYS = {"path", "artifact", "size_bytes", "sha256", "row_count"}

WriterFactory = Callable[..., PartitionWriter]


def _batches(start: int, count: int, size: int = 4) -> Iterator[pa.RecordBatch]:
    for offset in range(start, start + count, size):
        ids = list(range(offset, min(offset + size, start + count)))
        yield pa.record_batch({"id": ids, "name": [f"user-{i}" for i in ids]})


def _commit(
    make_writer: WriterFactory, backend: StorageBackend, start: int, count: int, **kwargs: Any
) -> Manifest:
    writer = make_writer(backend, max_rows=kwargs.pop("max_rows", 5), **kwargs)
    writer.write_artifact("data", _batches(start, count))
    return writer.commit({"record_count": count, "run_date": date(2026, 1, 31)})


def _snapshot(backend: StorageBackend, prefix: str = PREFIX) -> dict[str, bytes]:
    return {path: backend.read_bytes(path) for path in backend.list_files(prefix)}


def _names(backend: StorageBackend, prefix: str = PREFIX) -> list[str]:
    return [path[len(prefix) + 1 :] for path in backend.list_files(prefix)]


class FaultyBackend(StorageBackend):
    """Delegates to a real backend, raising where ``fail`` says so (crash injection)."""

    name = "faulty"

    def __init__(self, inner: StorageBackend, fail: Callable[[str, str], bool]) -> None:
        self.inner = inner
        self.fail = fail

    def _maybe_fail(self, operation: str, relpath: str) -> None:
        if self.fail(operation, relpath):
            raise StorageError(f"injected failure: {operation} {relpath}")

    def uri(self, relpath: str = "") -> str:
        return self.inner.uri(relpath)

    def put_file(self, local_path: str | Path, relpath: str) -> None:
        self._maybe_fail("put_file", relpath)
        self.inner.put_file(local_path, relpath)

    def put_bytes(self, relpath: str, data: bytes) -> None:
        self._maybe_fail("put_bytes", relpath)
        self.inner.put_bytes(relpath, data)

    def read_bytes(self, relpath: str) -> bytes:
        return self.inner.read_bytes(relpath)

    def open_read(self, relpath: str) -> BinaryIO:
        return self.inner.open_read(relpath)

    def exists(self, relpath: str) -> bool:
        return self.inner.exists(relpath)

    def size(self, relpath: str) -> int:
        return self.inner.size(relpath)

    def list_files(self, prefix: str) -> list[str]:
        return self.inner.list_files(prefix)

    def list_dirs(self, prefix: str) -> list[str]:
        return self.inner.list_dirs(prefix)

    def delete(self, relpaths: Iterable[str]) -> None:
        self.inner.delete(relpaths)

    def staging_dir(self) -> str | None:
        return self.inner.staging_dir()


# --- what a commit writes ---------------------------------------------------------------------------------


class TestCommitLayout:
    def test_commit_writes_exactly_the_design_files(
        self, backend: StorageBackend, make_writer: WriterFactory
    ) -> None:
        writer = make_writer(backend, max_rows=5)
        writer.write_artifact("data", _batches(0, 12))
        writer.write_artifact("errors", [pa.table({"id": [99], "_error_reason": ["bad date"]})])
        manifest = writer.commit({"system": "crm", "record_count": 12, "run_date": date(2026, 1, 31)})

        a = writer.attempt
        assert _names(backend) == [
            "_checksums.json",
            f"_errors/errors-part-00001-{a}.parquet",
            "_metadata.json",
            f"part-00001-{a}.parquet",
            f"part-00002-{a}.parquet",
            f"part-00003-{a}.parquet",
        ]
        raw = backend.read_bytes(f"{PREFIX}/{CHECKSUMS_NAME}")
        data = json.loads(raw)
        assert set(data) == MANIFEST_KEYS
        assert all(set(f) == FILE_KEYS for f in data["files"])
        assert data["manifest_version"] == 1
        assert (data["layer"], data["dataset"], data["run_date"], data["run_id"]) == (
            "bronze",
            "system=crm/table=users",
            "2026-01-31",
            "run-1",
        )
        assert data["record_count"] == 12  # quarantined rows are not records
        assert [f["row_count"] for f in data["files"]] == [5, 5, 2, 1]
        assert [f["artifact"] for f in data["files"]] == ["data", "data", "data", "errors"]
        metadata_bytes = backend.read_bytes(f"{PREFIX}/{METADATA_NAME}")
        assert data["metadata_sha256"] == hashlib.sha256(metadata_bytes).hexdigest()
        assert (
            metadata_bytes.decode()
            == json.dumps(
                {"record_count": 12, "run_date": "2026-01-31", "system": "crm"}, sort_keys=True, indent=2
            )
            + "\n"
        )
        assert manifest.sha256 == hashlib.sha256(raw).hexdigest()
        assert data["attempt"] == a == attempt_of(data["files"][0]["path"])

    def test_committed_partition_reads_back_verified(
        self, backend: StorageBackend, make_writer: WriterFactory
    ) -> None:
        manifest = _commit(make_writer, backend, 0, 12)
        part = read_committed(backend, PREFIX)
        assert part is not None
        assert part.manifest == manifest
        assert part.metadata == {"record_count": 12, "run_date": "2026-01-31"}
        assert verify_partition(part) == []
        frame = read_artifact(part, "data")
        assert frame["id"].to_list() == list(range(12))
        assert [t.num_rows for t in iter_artifact_tables(part, "data")] == [5, 5, 2]
        assert part.files("errors") == []

    def test_silver_artifacts_are_prefixed_with_their_name(
        self, memory_backend: StorageBackend, make_writer: WriterFactory
    ) -> None:
        writer = make_writer(memory_backend, layer="silver")
        writer.write_artifact("current", [pa.table({"k": [1]})])
        writer.write_artifact("history", [pa.table({"k": [1, 1]})])
        manifest = writer.commit({})
        assert [f.path for f in manifest.files] == [
            f"current-part-00001-{writer.attempt}.parquet",
            f"history-part-00001-{writer.attempt}.parquet",
        ]
        assert manifest.record_count == 3

    def test_name_prefix_can_be_overridden(
        self, memory_backend: StorageBackend, make_writer: WriterFactory
    ) -> None:
        writer = PartitionWriter(
            memory_backend,
            PREFIX,
            layer="silver",
            dataset="d",
            run_date="2026-01-31",
            run_id="r",
            output=make_writer(memory_backend).output,
            name_prefix_for_artifact=lambda artifact: f"x_{artifact}_",
        )
        (file,) = writer.write_artifact("snapshot", [pa.table({"k": [1]})])
        assert file.path == f"x_snapshot_part-00001-{writer.attempt}.parquet"

    def test_empty_artifact_commits_no_part_and_reads_back_with_its_schema(
        self, backend: StorageBackend, make_writer: WriterFactory
    ) -> None:
        writer = make_writer(backend)
        writer.write_artifact(
            "data", [pa.table({"id": pa.array([], pa.int64()), "at": pa.array([], pa.date32())})]
        )
        schema = writer.schemas["data"]
        assert schema is not None
        manifest = writer.commit({"schemas": {"data": schema_to_json(schema)}})
        assert manifest.files == ()
        assert manifest.record_count == 0
        assert _names(backend) == ["_checksums.json", "_metadata.json"]
        part = read_committed(backend, PREFIX)
        assert part is not None
        frame = read_artifact(part, "data")
        assert frame.schema == pl.Schema({"id": pl.Int64, "at": pl.Date})
        assert frame.height == 0

    def test_nothing_committed_reads_as_none(self, backend: StorageBackend) -> None:
        assert read_committed(backend, PREFIX) is None

    def test_a_writer_commits_once(self, memory_backend: StorageBackend, make_writer: WriterFactory) -> None:
        writer = make_writer(memory_backend)
        writer.commit({})
        writer.abort()  # a no-op once committed
        assert read_committed(memory_backend, PREFIX) is not None
        with pytest.raises(StorageError, match=r"commit\(\) on attempt .* already finished"):
            writer.commit({})

    def test_metadata_that_is_not_json_is_refused_and_nothing_is_committed(
        self, memory_backend: StorageBackend, make_writer: WriterFactory
    ) -> None:
        writer = make_writer(memory_backend)
        with pytest.raises(TypeError, match=r"metadata value of type type is not JSON serializable"):
            writer.commit({"bad": object})
        assert read_committed(memory_backend, PREFIX) is None


class TestManifestRecord:
    def test_json_round_trip(self) -> None:
        manifest = Manifest(
            manifest_version=1,
            layer="silver",
            dataset="domain=d/entity=e/v1",
            run_date="2026-01-31",
            run_id="r",
            committed_at="2026-01-31T00:00:00.000000Z",
            record_count=3,
            files=(ManifestFile("current-part-00001-a.parquet", "current", 10, "ab" * 32, 3),),
            metadata_sha256="cd" * 32,
            attempt="20260131T000000000000Z-abcdef",
        )
        again = Manifest.from_json(manifest.to_json())
        assert again == manifest
        assert again.sha256 == manifest.sha256

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("not json", r"not a valid manifest"),
            ("[]", r"not a JSON object"),
            ('{"manifest_version": 1}', r"missing key 'layer'"),
            ('{"manifest_version": 9}', r"manifest_version 9 is newer"),
        ],
    )
    def test_invalid_manifests(self, text: str, message: str) -> None:
        with pytest.raises(ValueError, match=message):
            Manifest.from_json(text)

    def test_attempt_ids_sort_by_creation_and_are_unique(self) -> None:
        ids = [new_attempt_id() for _ in range(200)]
        assert ids == sorted(ids)
        assert len(set(ids)) == len(ids)
        assert attempt_of(f"_errors/errors-part-00001-{ids[0]}.parquet") == ids[0]
        assert attempt_of(staged_metadata_name(ids[1])) == ids[1]
        assert attempt_of("_metadata.json") is None


# --- verification -----------------------------------------------------------------------------------------


def _flip_byte(backend: StorageBackend, relpath: str) -> None:
    data = bytearray(backend.read_bytes(relpath))
    data[len(data) // 2] ^= 0xFF
    backend.put_bytes(relpath, bytes(data))


def _truncate(backend: StorageBackend, relpath: str) -> None:
    backend.put_bytes(relpath, backend.read_bytes(relpath)[:-7])


def _remove(backend: StorageBackend, relpath: str) -> None:
    backend.delete([relpath])


CORRUPTIONS = [
    ("flipped byte", _flip_byte, r"has SHA-256 [0-9a-f]{64}, the manifest says", r"SHA-256"),
    ("truncated", _truncate, r"has \d+ bytes, the manifest says \d+", r"size \d+ bytes"),
    ("missing", _remove, r"is listed in the manifest but missing", r"missing \(listed in the manifest\)"),
]


class TestVerification:
    @pytest.mark.parametrize(
        ("case", "corrupt", "read_error", "problem"), CORRUPTIONS, ids=[c[0] for c in CORRUPTIONS]
    )
    def test_damaged_part_file(
        self,
        backend: StorageBackend,
        make_writer: WriterFactory,
        case: str,
        corrupt: Callable[[StorageBackend, str], None],
        read_error: str,
        problem: str,
    ) -> None:
        _commit(make_writer, backend, 0, 12)
        part = read_committed(backend, PREFIX)
        assert part is not None
        damaged = part.files("data")[1]
        corrupt(backend, part.relpath(damaged))

        with pytest.raises(
            IntegrityError, match=rf"bronze system=crm/table=users run_date 2026-01-31 .*{read_error}"
        ):
            read_artifact(part, "data")
        with pytest.raises(IntegrityError, match=damaged.path):
            read_verified(part, damaged)
        assert read_verified(part, part.files("data")[0])  # the other parts are still fine
        problems = verify_partition(part)
        assert len(problems) == 1
        assert damaged.path in problems[0]
        assert re.search(problem, problems[0])

    def test_edited_metadata(self, backend: StorageBackend, make_writer: WriterFactory) -> None:
        _commit(make_writer, backend, 0, 4)
        part = read_committed(backend, PREFIX)
        assert part is not None
        backend.put_bytes(f"{PREFIX}/{METADATA_NAME}", b'{"record_count": 1000}\n')
        with pytest.raises(IntegrityError, match=r"no metadata matches the manifest's metadata_sha256"):
            read_committed(backend, PREFIX)
        (problem,) = verify_partition(part)
        assert METADATA_NAME in problem

    def test_unparsable_manifest(self, backend: StorageBackend, make_writer: WriterFactory) -> None:
        _commit(make_writer, backend, 0, 4)
        backend.put_bytes(f"{PREFIX}/{CHECKSUMS_NAME}", b'{"manifest_version": 1, "files": [')
        with pytest.raises(IntegrityError, match=r"_checksums\.json: not a valid manifest"):
            read_committed(backend, PREFIX)

    def test_record_count_must_match_the_files(
        self, memory_backend: StorageBackend, make_writer: WriterFactory
    ) -> None:
        _commit(make_writer, memory_backend, 0, 4)
        part = read_committed(memory_backend, PREFIX)
        assert part is not None
        forged = Manifest.from_json(part.manifest.to_json().replace('"record_count": 4', '"record_count": 5'))
        problems = verify_partition(type(part)(memory_backend, PREFIX, forged, part.metadata))
        footers = "the Parquet footers of the listed files hold 4 rows"
        assert problems == [f"{PREFIX}/_checksums.json: record_count 5, but {footers}"]

    def test_row_counts_are_checked_against_the_parquet_footers(
        self, memory_backend: StorageBackend, make_writer: WriterFactory
    ) -> None:
        _commit(make_writer, memory_backend, 0, 4)
        part = read_committed(memory_backend, PREFIX)
        assert part is not None
        text = part.manifest.to_json().replace('"record_count": 4', '"record_count": 9')
        forged = Manifest.from_json(text.replace('"row_count": 4', '"row_count": 9'))
        [file] = forged.files
        problems = verify_partition(type(part)(memory_backend, PREFIX, forged, part.metadata))
        assert problems == [f"{PREFIX}/{file.path}: 4 rows in its Parquet footer, the manifest says 9"]


# --- crashes ----------------------------------------------------------------------------------------------


class TestCrashSafety:
    def test_stream_failing_mid_way_leaves_the_previous_commit(
        self, backend: StorageBackend, make_writer: WriterFactory
    ) -> None:
        _commit(make_writer, backend, 0, 12)
        before = _snapshot(backend)

        def failing_stream() -> Iterator[pa.RecordBatch]:
            yield from _batches(100, 20)  # 4 parts written and durable
            raise ConnectionError("source went away")

        with (
            pytest.raises(ConnectionError, match=r"source went away"),
            make_writer(backend, max_rows=5) as writer,
        ):
            writer.write_artifact("data", failing_stream())
        assert _snapshot(backend) == before  # aborted: the attempt's parts are gone
        part = read_committed(backend, PREFIX)
        assert part is not None and verify_partition(part) == []
        assert read_artifact(part, "data")["id"].to_list() == list(range(12))

    def test_an_abandoned_attempt_leaves_the_previous_commit_and_the_next_commit_cleans_up(
        self, backend: StorageBackend, make_writer: WriterFactory
    ) -> None:
        """What a killed writer leaves behind (parts, no commit, no abort), made in-process: no process is
        killed here; that is the subject of the operator tests of issue 11."""
        _commit(make_writer, backend, 0, 12)
        before = _snapshot(backend)
        crashed = make_writer(backend, max_rows=5)
        crashed.write_artifact("data", _batches(100, 20))  # no commit, no abort: the process died
        assert len(_snapshot(backend)) == len(before) + 4
        part = read_committed(backend, PREFIX)
        assert part is not None and verify_partition(part) == []
        assert {k: v for k, v in _snapshot(backend).items() if k in before} == before

        _commit(make_writer, backend, 200, 3)
        assert not [name for name in _names(backend) if attempt_of(name) == crashed.attempt]

    @pytest.mark.parametrize("failing", [CHECKSUMS_NAME, "staged"])
    def test_failing_put_before_the_commit_leaves_the_previous_commit(
        self, backend: StorageBackend, make_writer: WriterFactory, failing: str
    ) -> None:
        _commit(make_writer, backend, 0, 12)
        before = _snapshot(backend)

        def fail(operation: str, relpath: str) -> bool:
            name = relpath.rsplit("/", 1)[-1]
            return operation == "put_bytes" and (
                name == CHECKSUMS_NAME if failing == CHECKSUMS_NAME else name.startswith("_metadata.2")
            )

        faulty = FaultyBackend(backend, fail)
        writer = make_writer(faulty, max_rows=5)
        writer.write_artifact("data", _batches(100, 20))
        with pytest.raises(StorageError, match=r"injected failure: put_bytes"):
            writer.commit({"record_count": 20})
        part = read_committed(backend, PREFIX)
        assert part is not None and verify_partition(part) == []
        assert {k: v for k, v in _snapshot(backend).items() if k in before} == before
        writer.abort()
        assert _snapshot(backend) == before

    def test_crash_between_manifest_and_metadata_rolls_forward(
        self, backend: StorageBackend, make_writer: WriterFactory
    ) -> None:
        _commit(make_writer, backend, 0, 12)
        faulty = FaultyBackend(
            backend, lambda op, path: op == "put_bytes" and path.endswith(f"/{METADATA_NAME}")
        )
        writer = make_writer(faulty, max_rows=5)
        writer.write_artifact("data", _batches(100, 3))
        with pytest.raises(StorageError, match=r"injected failure: put_bytes .*_metadata\.json"):
            writer.commit({"record_count": 3, "new": True})
        writer.abort()  # the manifest landed: abort must not undo the commit

        part = read_committed(backend, PREFIX)
        assert part is not None
        assert part.manifest.attempt == writer.attempt
        assert part.metadata == {"record_count": 3, "new": True}  # from _metadata.<attempt>.json
        assert verify_partition(part) == []
        assert read_artifact(part, "data")["id"].to_list() == [100, 101, 102]

        _commit(make_writer, backend, 200, 2)  # the next commit tidies up
        assert [n for n in _names(backend) if not n.startswith("part-")] == [CHECKSUMS_NAME, METADATA_NAME]


# --- re-runs and concurrency ------------------------------------------------------------------------------


class TestReplaceAndConcurrency:
    def test_rerun_replaces_the_partition(self, backend: StorageBackend, make_writer: WriterFactory) -> None:
        first = _commit(make_writer, backend, 0, 12)
        second = _commit(make_writer, backend, 500, 7)
        assert second.attempt > first.attempt
        assert _names(backend) == [
            CHECKSUMS_NAME,
            METADATA_NAME,
            f"part-00001-{second.attempt}.parquet",
            f"part-00002-{second.attempt}.parquet",
        ]
        part = read_committed(backend, PREFIX)
        assert part is not None
        assert part.manifest.record_count == 7
        assert read_artifact(part, "data")["id"].to_list() == list(range(500, 507))

    def test_older_attempt_is_superseded_when_the_newer_one_removed_its_files(
        self, backend: StorageBackend, make_writer: WriterFactory
    ) -> None:
        older = make_writer(backend, max_rows=5)
        older.write_artifact("data", _batches(0, 8))
        newer = make_writer(backend, max_rows=5)
        newer.write_artifact("data", _batches(100, 3))
        newer.commit({"who": "newer"})
        with pytest.raises(StorageError, match=r"superseded by a newer attempt .*removed by its cleanup"):
            older.commit({"who": "older"})
        part = read_committed(backend, PREFIX)
        assert part is not None and part.metadata == {"who": "newer"}
        assert verify_partition(part) == []
        assert {attempt_of(n) for n in _names(backend)} == {newer.attempt, None}

    def test_older_attempt_whose_files_survived_still_commits(
        self, backend: StorageBackend, make_writer: WriterFactory
    ) -> None:
        older = make_writer(backend, max_rows=5)
        newer = make_writer(backend, max_rows=5)
        newer.write_artifact("data", _batches(100, 3))
        newer.commit({"who": "newer"})
        older.write_artifact("data", _batches(0, 8))  # written after the newer cleanup
        older.commit({"who": "older"})
        part = read_committed(backend, PREFIX)
        assert part is not None and part.metadata == {"who": "older"}
        assert verify_partition(part) == []
        assert {attempt_of(n) for n in _names(backend)} == {older.attempt, None}  # replaced commit removed

    def test_older_attempt_never_commits_over_a_newer_commit_in_progress(
        self, backend: StorageBackend, make_writer: WriterFactory
    ) -> None:
        older = make_writer(backend, max_rows=5)
        faulty = FaultyBackend(
            backend, lambda op, path: op == "put_bytes" and path.endswith(f"/{METADATA_NAME}")
        )
        newer = make_writer(faulty, max_rows=5)
        newer.write_artifact("data", _batches(100, 3))
        with pytest.raises(StorageError, match=r"injected failure"):
            newer.commit({"who": "newer"})  # stopped between steps 3 and 4
        older.write_artifact("data", _batches(0, 8))
        with pytest.raises(StorageError, match=r"superseded by a newer attempt .*still committing"):
            older.commit({"who": "older"})
        part = read_committed(backend, PREFIX)
        assert part is not None and part.metadata == {"who": "newer"}
        assert not [n for n in _names(backend) if attempt_of(n) == older.attempt]

    def test_a_killed_writer_whose_clock_ran_ahead_does_not_wedge_the_partition(
        self, local_backend: StorageBackend, make_writer: WriterFactory
    ) -> None:
        """A writer on a machine whose clock runs an hour fast is killed between steps 3 and 4: its
        manifest stands, its staged metadata stays. Every later writer of a machine with the right time has
        an *older* attempt id; it used to be refused ("still committing") until the wall clock passed the
        dead writer's attempt. Liveness is judged by the store's own clock: once the staged metadata is
        older than a commit can take, the dead writer's commit is replaced."""
        fast = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y%m%dT%H%M%S%f") + "Z-fa57c1"
        faulty = FaultyBackend(
            local_backend, lambda op, path: op == "put_bytes" and path.endswith(f"/{METADATA_NAME}")
        )
        newer = PartitionWriter(
            faulty,
            PREFIX,
            layer="bronze",
            dataset="system=crm/table=users",
            run_date="2026-01-31",
            run_id="run-fast-clock",
            output=PartSettings(max_rows_per_file=5, max_file_size_mb=64.0),
            attempt=fast,
        )
        newer.write_artifact("data", _batches(100, 3))
        with pytest.raises(StorageError, match=r"injected failure"):
            newer.commit({"who": "killed, fast clock"})  # its manifest landed; then it "died"
        staged = local_backend.local_path(f"{PREFIX}/{staged_metadata_name(fast)}")
        assert os.path.exists(staged)
        # Still fresh by the store's clock: refused, as a newer commit in progress is.
        too_soon = make_writer(local_backend, max_rows=5)
        too_soon.write_artifact("data", _batches(0, 8))
        with pytest.raises(StorageError, match=r"still committing"):
            too_soon.commit({"who": "too soon"})
        # Eleven minutes later by the store's clock: the dead writer's commit is replaced.
        aged = time.time() - 11 * 60
        os.utime(staged, (aged, aged))
        later = make_writer(local_backend, max_rows=5)
        later.write_artifact("data", _batches(0, 8))
        later.commit({"who": "later"})
        part = read_committed(local_backend, PREFIX)
        assert part is not None and part.metadata == {"who": "later"}
        assert verify_partition(part) == []
        assert read_artifact(part, "data")["id"].to_list() == list(range(8))
        assert {attempt_of(n) for n in _names(local_backend)} == {later.attempt, None}  # the dead one's gone

    @pytest.mark.parametrize("round_", range(6))
    def test_two_concurrent_writers_end_with_one_complete_commit(
        self, backend: StorageBackend, make_writer: WriterFactory, round_: int
    ) -> None:
        _commit(make_writer, backend, 0, 4)
        barrier = threading.Barrier(2)
        outcomes: dict[int, str] = {}

        def run(start: int) -> None:
            writer = make_writer(backend, max_rows=3, run_id=f"run-{start}")
            barrier.wait()
            try:
                with writer:
                    writer.write_artifact("data", _batches(start, 3 * (round_ % 3 + 2), size=2))
                    writer.commit({"start": start})
                outcomes[start] = "committed"
            except StorageError as exc:
                outcomes[start] = f"superseded: {exc}"

        threads = [threading.Thread(target=run, args=(start,)) for start in (1000, 2000)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert "committed" in outcomes.values(), outcomes
        part = read_committed(backend, PREFIX)
        assert part is not None
        assert verify_partition(part) == []
        start = part.metadata["start"]
        assert outcomes[start] == "committed"
        count = 3 * (round_ % 3 + 2)
        assert read_artifact(part, "data")["id"].to_list() == list(range(start, start + count))
