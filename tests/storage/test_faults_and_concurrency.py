"""Transient faults and concurrent writers on a real S3 server (moto) and Azurite.

* Retries: ``RetryPolicy`` classification, backoff and the error after the budget (no secrets in it).
* Faults: ``FaultInjectingBackend`` fails a random fraction of calls (before the call, or after it took
  effect); a property test commits many partitions under random faults and checks that every committed
  partition verifies and holds exactly the data of the commit that succeeded last, as without faults.
* Concurrency: two writers of one partition at the same time, without a shared lock (two machines), end
  with one complete, verifiable commit and no stray files.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medallion_assets.errors import StorageError
from medallion_resources.lake.commit import PartitionWriter
from medallion_resources.lake.parts import PartSettings
from medallion_resources.lake.read import read_artifact, read_committed, verify_partition
from medallion_resources.redact import Redactor
from medallion_resources.storage import StorageBackend
from medallion_resources.storage.azure import AzureBackend, AzureSettings
from medallion_resources.storage.retry import (
    RetryPolicy,
    TransientStorageError,
    call,
    is_transient,
    policy_from_options,
)
from medallion_resources.storage.s3 import S3Backend, S3Settings
from medallion_resources.storage.wrappers import FaultInjectingBackend, RetryingBackend, WrappingBackend

pytestmark = pytest.mark.services

FAST = {"base_delay_seconds": 0.001, "max_delay_seconds": 0.01}


@pytest.fixture(scope="module")
def s3(s3_endpoint) -> S3Backend:
    settings = S3Settings(endpoint_url=s3_endpoint.url, key="test", secret="test", region="us-east-1")
    return S3Backend(s3_endpoint.create_bucket(), "lake", settings)


def writer_for(backend: StorageBackend, prefix: str, run_id: str, max_rows: int = 50) -> PartitionWriter:
    return PartitionWriter(
        backend,
        prefix,
        layer="bronze",
        dataset="system=s/table=t",
        run_date="2025-01-01",
        run_id=run_id,
        output=PartSettings(max_rows_per_file=max_rows),
    )


def commit(backend: StorageBackend, prefix: str, frame: pl.DataFrame, run_id: str) -> None:
    with writer_for(backend, prefix, run_id) as writer:
        writer.write_artifact("data", [frame])
        writer.commit({"run": run_id})


# --- retries ----------------------------------------------------------------------------------------------


class _ClientError(Exception):
    def __init__(self, status: int, code: str) -> None:
        super().__init__(f"An error occurred ({code}) when calling the PutObject operation")
        self.response = {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}


class TestRetryPolicy:
    @pytest.mark.parametrize(
        ("exc", "transient"),
        [
            (_ClientError(503, "SlowDown"), True),
            (_ClientError(500, "InternalError"), True),
            (_ClientError(429, "TooManyRequests"), True),
            (_ClientError(403, "AccessDenied"), False),
            (_ClientError(412, "PreconditionFailed"), False),
            (ConnectionResetError(104, "Connection reset by peer"), True),
            (TimeoutError("read timed out"), True),
            (FileNotFoundError("s3://b/k"), False),
            (PermissionError("denied"), False),
            (ValueError("bad bucket name"), False),
            (TransientStorageError("injected"), True),
        ],
    )
    def test_classification(self, exc: Exception, transient: bool) -> None:
        assert is_transient(exc) is transient
        wrapped = StorageError("put_bytes s3://b/k failed")
        wrapped.__cause__ = exc
        assert is_transient(wrapped) is transient

    def test_retries_then_succeeds_with_growing_jittered_delays(self) -> None:
        sleeps: list[float] = []
        policy = RetryPolicy(
            max_attempts=5, base_delay_seconds=0.1, max_delay_seconds=0.3, sleep=sleeps.append
        )
        calls = iter(
            [ConnectionResetError("reset"), _ClientError(503, "SlowDown"), _ClientError(503, "SlowDown")]
        )

        def flaky() -> str:
            failure = next(calls, None)
            if failure is not None:
                raise failure
            return "ok"

        assert call(policy, "put_bytes", "s3://b/k", flaky) == "ok"
        assert len(sleeps) == 3
        assert 0 <= sleeps[0] <= 0.1 and 0 <= sleeps[1] <= 0.2 and 0 <= sleeps[2] <= 0.3

    def test_budget_spent_names_operation_and_object_without_secrets(self) -> None:
        policy = RetryPolicy(max_attempts=3, sleep=lambda _: None)
        redactor = Redactor(["SuperSecretKey123"])

        def always() -> None:
            raise ConnectionResetError(
                "reset while sending https://u:pw@host/k?X-Amz-Signature=abc key SuperSecretKey123"
            )

        with pytest.raises(StorageError, match=r"put_file s3://bucket/key failed after 3 attempt") as info:
            call(policy, "put_file", "s3://bucket/key", always, redactor)
        text = str(info.value)
        assert "SuperSecretKey123" not in text and "X-Amz-Signature=abc" not in text and "u:pw" not in text

    def test_permanent_errors_are_not_retried(self) -> None:
        calls = []

        def missing() -> None:
            calls.append(1)
            raise FileNotFoundError("s3://b/missing")

        with pytest.raises(FileNotFoundError, match="missing"):
            call(RetryPolicy(sleep=lambda _: None), "read_bytes", "s3://b/missing", missing)
        assert len(calls) == 1

    def test_options_are_validated(self) -> None:
        assert policy_from_options({"retry": {"max_attempts": 9}}).max_attempts == 9
        with pytest.raises(StorageError, match=r"options.retry: unknown key\(s\) max_tries"):
            policy_from_options({"retry": {"max_tries": 9}})


# --- faults -----------------------------------------------------------------------------------------------


def test_every_call_survives_faults_before_and_after(s3: S3Backend) -> None:
    faulty = FaultInjectingBackend(s3, rate=0.5, after_rate=0.5, seed=3)
    backend = RetryingBackend(faulty, RetryPolicy(max_attempts=30, **FAST))
    prefix = "faults/every-call"
    frame = pl.DataFrame({"id": list(range(300))})
    commit(backend, prefix, frame, "run-1")
    part = read_committed(backend, prefix)
    assert part is not None and verify_partition(part) == []
    assert read_artifact(part, "data").sort("id").equals(frame)
    assert faulty.injected > 10


def test_exhausted_budget_on_the_commit_keeps_the_previous_commit(s3: S3Backend) -> None:
    prefix = "faults/commit-fails"
    first = pl.DataFrame({"id": [1, 2, 3]})
    commit(s3, prefix, first, "run-1")
    faulty = FaultInjectingBackend(s3)
    faulty.fail_next["put_bytes_if"] = 10
    backend = RetryingBackend(faulty, RetryPolicy(max_attempts=3, **FAST))
    with pytest.raises(StorageError, match=r"put_bytes_if s3://.*_checksums.json failed after 3 attempt"):
        commit(backend, prefix, pl.DataFrame({"id": [9]}), "run-2")
    part = read_committed(s3, prefix)
    assert part is not None and part.manifest.run_id == "run-1" and verify_partition(part) == []
    assert read_artifact(part, "data").equals(first)
    assert len(s3.list_files(prefix)) == 3  # the failed attempt's parts and staged metadata are gone


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    runs=st.lists(st.integers(min_value=0, max_value=120), min_size=1, max_size=3),
    rate=st.sampled_from([0.0, 0.1, 0.3]),
    attempts=st.sampled_from([2, 4, 20]),
    seed=st.integers(0, 10_000),
)
def test_property_committed_partitions_verify_and_match_the_fault_free_result(
    s3: S3Backend, runs: list[int], rate: float, attempts: int, seed: int
) -> None:
    """Under random faults a commit either lands whole or leaves the previous one; never a mix."""
    prefix = f"faults/property/{seed}-{time.monotonic_ns()}"
    faulty = FaultInjectingBackend(s3, rate=rate, seed=seed)
    backend = RetryingBackend(faulty, RetryPolicy(max_attempts=attempts, **FAST))
    expected: pl.DataFrame | None = None
    for number, rows in enumerate(runs):
        frame = pl.DataFrame(
            {"id": list(range(rows)), "run": [number] * rows}, schema={"id": pl.Int64, "run": pl.Int64}
        )
        try:
            commit(backend, prefix, frame, f"run-{number}")
        except StorageError as exc:
            assert "attempt" in str(exc)
            # A lost response on the manifest put can still have committed; the store decides.
        part = read_committed(s3, prefix)
        if part is not None and part.manifest.run_id == f"run-{number}":
            expected = frame
        if expected is None:
            assert part is None
            continue
        assert part is not None and verify_partition(part) == []
        got = read_artifact(part, "data")
        assert got.height == expected.height
        if expected.height:
            assert got.sort("id").equals(expected.sort("id"))
    # After a clean re-run nothing but the committed files remains.
    final = pl.DataFrame({"id": [1], "run": [99]})
    commit(s3, prefix, final, "run-final")
    part = read_committed(s3, prefix)
    listed = {part.relpath(f) for f in part.files()} | {
        f"{prefix}/_checksums.json",
        f"{prefix}/_metadata.json",
    }
    assert set(s3.list_files(prefix)) == listed


# --- concurrency ------------------------------------------------------------------------------------------


class TwoMachines(WrappingBackend):
    """A writer on its own machine: no shared commit lock, and a pause that widens the commit race."""

    def __init__(self, inner: StorageBackend, pause: float) -> None:
        super().__init__(inner)
        self.pause = pause

    @contextlib.contextmanager
    def lock(self, relpath: str) -> Iterator[None]:
        yield

    def put_bytes_if(self, relpath: str, data: bytes, expected_version: str | None) -> bool:
        time.sleep(self.pause)  # between reading the manifest and the conditional put
        return self.inner.put_bytes_if(relpath, data, expected_version)


def _store(request: pytest.FixtureRequest, kind: str, prefix: str) -> StorageBackend:
    if kind == "s3":
        endpoint = request.getfixturevalue("s3_endpoint")
        settings = S3Settings(endpoint_url=endpoint.url, key="test", secret="test", region="us-east-1")
        return S3Backend(request.getfixturevalue("s3").bucket, prefix, settings)
    endpoint = request.getfixturevalue("azurite_endpoint")
    if "_container" not in request.node.__dict__:
        request.node.__dict__["_container"] = endpoint.create_container()
    container = request.node.__dict__["_container"]
    return AzureBackend(container, prefix, AzureSettings(connection_string=endpoint.connection_string))


def _race(
    barrier: threading.Barrier,
    backend: StorageBackend,
    prefix: str,
    frame: pl.DataFrame,
    run_id: str,
    outcomes: dict[str, str],
) -> None:
    barrier.wait()
    try:
        commit(backend, prefix, frame, run_id)
        outcomes[run_id] = "committed"
    except StorageError as exc:
        outcomes[run_id] = f"failed: {exc}"


@pytest.mark.parametrize("kind", ["s3", "azure"])
def test_two_simultaneous_runs_end_with_one_complete_verifiable_commit(
    request: pytest.FixtureRequest, kind: str
) -> None:
    for round_number in range(2):
        prefix = f"concurrency/{kind}/{round_number}"
        # Each writer has its own client (its own "machine"); the first has an old commit to replace.
        writers = [TwoMachines(_store(request, kind, "lake"), pause=0.05 * (i + 1)) for i in range(2)]
        commit(writers[0], prefix, pl.DataFrame({"id": [0], "who": ["old"]}), "old")
        frames = {f"w{i}": pl.DataFrame({"id": list(range(120)), "who": [f"w{i}"] * 120}) for i in range(2)}
        barrier = threading.Barrier(2)
        outcomes: dict[str, str] = {}
        args = [(barrier, writers[i], prefix, frames[f"w{i}"], f"w{i}", outcomes) for i in range(2)]
        threads = [threading.Thread(target=_race, args=a) for a in args]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        committed = [w for w, outcome in outcomes.items() if outcome == "committed"]
        assert committed, outcomes
        for outcome in outcomes.values():
            assert outcome == "committed" or "superseded" in outcome or "kept changing" in outcome, outcome
        reader = writers[0].inner
        part = read_committed(reader, prefix)
        assert part is not None and part.manifest.run_id in committed
        assert verify_partition(part) == []
        assert read_artifact(part, "data").sort("id").equals(frames[part.manifest.run_id])
        listed = {part.relpath(f) for f in part.files()}
        remaining = set(reader.list_files(prefix)) - {f"{prefix}/_checksums.json", f"{prefix}/_metadata.json"}
        # Files of the losing attempt may only remain while it is being superseded; none remain after.
        assert remaining == listed, sorted(remaining - listed)
