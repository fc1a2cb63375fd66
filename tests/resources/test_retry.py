"""The one retry policy (``medallion_resources.retry``) and the per-client rules of what is transient.

The storage rule has its own table in tests/storage/test_faults_and_concurrency.py; here are the behaviours
the merge shares between clients: one set of transient HTTP statuses, and exception chains walked by every
rule (a wrapped connection failure is transient for storage and SQL alike).
"""

from __future__ import annotations

import random

import httpx
import pytest
import sqlalchemy as sa

from medallion_resources.http import retry as http_retry
from medallion_resources.retry import TRANSIENT_STATUSES, RetryBudgetSpent, RetryPolicy, exception_chain
from medallion_resources.sql import connect as sql
from medallion_resources.storage import retry as storage_retry


class _Status(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status_code = status


def _wrapped(inner: BaseException) -> RuntimeError:
    outer = RuntimeError("while talking to the server")
    outer.__cause__ = inner
    return outer


class TestPolicy:
    def test_waits_grow_exponentially_up_to_the_cap_within_the_jitter(self) -> None:
        for jitter, low in ((1.0, 0.0), (0.5, 0.5), (0.0, 1.0)):
            policy = RetryPolicy(
                base_delay_seconds=1, max_delay_seconds=5, jitter=jitter, rng=random.Random(1)
            )
            for retry, cap in ((1, 1), (2, 2), (3, 4), (4, 5), (60, 5), (5000, 5)):
                waits = [policy.delay(retry) for _ in range(200)]
                assert all(low * cap <= w <= cap for w in waits), (jitter, retry)
                if jitter:
                    assert len(set(waits)) > 100  # really random, not one fixed value

    def test_gives_up_after_the_attempts_or_the_deadline(self) -> None:
        policy = RetryPolicy(max_attempts=3, max_elapsed_seconds=10)
        assert not policy.gives_up(2, 9.9)
        assert policy.gives_up(3, 0.0) and policy.gives_up(1, 10.0)
        assert not RetryPolicy(max_attempts=3).gives_up(2, 1e9)  # no deadline

    def test_call_retries_transient_failures_and_reports_each_wait(self) -> None:
        waits: list[float] = []
        seen: list[int] = []
        failures = iter([TimeoutError("t"), TimeoutError("t")])

        def flaky() -> str:
            if (failure := next(failures, None)) is not None:
                raise failure
            return "ok"

        policy = RetryPolicy(max_attempts=3, base_delay_seconds=0.1, sleep=waits.append)
        result = policy.call(flaky, lambda e: isinstance(e, TimeoutError), lambda n, _d, _e: seen.append(n))
        assert result == "ok" and seen == [1, 2] and len(waits) == 2

    def test_the_budget_spent_names_attempts_and_keeps_the_last_failure(self) -> None:
        policy = RetryPolicy(max_attempts=2, sleep=lambda _: None)
        with pytest.raises(RetryBudgetSpent) as info:
            policy.call(lambda: (_ for _ in ()).throw(TimeoutError("slow")), lambda _: True)
        assert info.value.attempts == 2 and isinstance(info.value.last, TimeoutError)
        assert info.value.__cause__ is info.value.last

    def test_permanent_failures_are_raised_at_once(self) -> None:
        calls: list[int] = []

        def bad() -> None:
            calls.append(1)
            raise ValueError("no")

        with pytest.raises(ValueError, match="no"):
            RetryPolicy(sleep=lambda _: None).call(bad, lambda _: False)
        assert calls == [1]

    @pytest.mark.parametrize(
        "kwargs",
        [{"max_attempts": 0}, {"base_delay_seconds": -1}, {"jitter": 1.5}, {"max_elapsed_seconds": -1}],
    )
    def test_invalid_settings_are_refused(self, kwargs: dict[str, float]) -> None:
        with pytest.raises(ValueError, match=next(iter(kwargs))):
            RetryPolicy(**kwargs)  # type: ignore[arg-type]

    def test_storage_options_build_the_policy_over_the_storage_defaults(self) -> None:
        policy = storage_retry.policy_from_options({"retry": {"max_attempts": "3", "max_delay_seconds": 1}})
        assert (policy.max_attempts, policy.max_delay_seconds) == (3, 1.0)
        assert policy.max_elapsed_seconds == 120.0 and policy.jitter == 1.0
        with pytest.raises(Exception, match=r"options.retry: max_attempts must be >= 1"):
            storage_retry.policy_from_options({"retry": {"max_attempts": 0}})

    def test_http_settings_map_onto_the_policy(self) -> None:
        policy = http_retry.policy(max_retries=2, backoff_seconds=0.25)
        assert (policy.max_attempts, policy.base_delay_seconds, policy.jitter) == (3, 0.25, 0.5)


def test_exception_chain_follows_causes_and_contexts_and_stops_at_cycles() -> None:
    inner = ConnectionResetError("reset")
    middle = _wrapped(inner)
    try:
        raise KeyError("outer") from middle
    except KeyError as exc:
        outer = exc
    assert exception_chain(outer) == [outer, middle, inner]
    inner.__context__ = outer  # a cycle
    assert exception_chain(outer) == [outer, middle, inner]


@pytest.mark.parametrize("status", sorted(TRANSIENT_STATUSES))
def test_http_and_storage_agree_on_the_transient_statuses(status: int) -> None:
    assert status in http_retry.RETRY_STATUSES
    assert storage_retry.is_transient(_Status(status))


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 412])
def test_other_4xx_are_permanent_for_both(status: int) -> None:
    assert status not in http_retry.RETRY_STATUSES
    assert not storage_retry.is_transient(_Status(status))


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (httpx.ConnectError("refused"), True),
        (httpx.ReadTimeout("slow"), True),
        (httpx.RemoteProtocolError("dropped"), True),
        (ValueError("not json"), False),
    ],
)
def test_http_rule(exc: Exception, transient: bool) -> None:
    assert http_retry.is_transient(exc) is transient


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (sa.exc.OperationalError("SELECT 1", {}, Exception("connection refused")), True),
        (sa.exc.InterfaceError("SELECT 1", {}, Exception("connection closed")), True),
        (sa.exc.ProgrammingError("SELECT x", {}, Exception("no such column")), False),
        (ConnectionRefusedError(111, "refused"), True),
        (TimeoutError("timed out"), True),
        (_wrapped(ConnectionResetError(104, "reset")), True),  # merged: the chain is walked (as storage)
        (_wrapped(ValueError("bad")), False),
        (ValueError("bad"), False),
    ],
)
def test_sql_rule(exc: Exception, transient: bool) -> None:
    assert sql.is_transient(exc) is transient


def test_a_wrapped_connection_failure_is_transient_for_storage_too() -> None:
    assert storage_retry.is_transient(_wrapped(ConnectionResetError(104, "reset")))
    assert not storage_retry.is_transient(_wrapped(ValueError("bad")))
