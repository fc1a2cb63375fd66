"""The one retry policy of every client: exponential backoff with jitter, an attempt budget and a deadline.

What is worth a retry is each client's own rule and stays next to it (``storage.retry.is_transient``,
``sql.connect.is_transient``, ``http.retry.is_transient``); this module only says how long to wait and when
to stop, and walks exception chains for those rules. The n-th retry waits
``min(max_delay_seconds, base_delay_seconds * 2**(n-1))``, of which the fraction ``jitter`` is random:
``1.0`` is AWS's "full jitter" (anywhere between 0 and the cap; spreads the retries of many writers), ``0.5``
between half and all of it, ``0`` none. No retry starts after ``max_attempts`` tries or once
``max_elapsed_seconds`` have passed since the first.

Blocking callers (storage, SQL) use ``RetryPolicy.call``; the HTTP client's sans-I/O flows ask ``delay``
and ``gives_up`` and yield their own sleeps (which is also why this is not tenacity: its loop owns the
sleeping, and the flows must not block).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

__all__ = ["TRANSIENT_STATUSES", "RetryBudgetSpent", "RetryPolicy", "exception_chain"]

T = TypeVar("T")

TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
"""HTTP statuses of throttling and transient server trouble (APIs and object stores alike)."""


def exception_chain(exc: BaseException, limit: int = 10) -> list[BaseException]:
    """``exc`` and its causes/contexts, outermost first (at most ``limit``, cycles cut)."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(chain) < limit and all(current is not seen for seen in chain):
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


class RetryBudgetSpent(Exception):
    """Every attempt failed transiently; ``last`` is the final failure (also the ``__cause__``)."""

    def __init__(self, last: Exception, attempts: int, elapsed: float) -> None:
        super().__init__(f"{attempts} attempt(s) over {elapsed:.1f}s: {type(last).__name__}: {last}")
        self.last = last
        self.attempts = attempts
        self.elapsed = elapsed


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry; see the module docstring. Invalid settings raise ``ValueError``."""

    max_attempts: int = 6
    base_delay_seconds: float = 0.1
    max_delay_seconds: float = 5.0
    max_elapsed_seconds: float | None = None
    jitter: float = 1.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)
    rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if self.base_delay_seconds < 0 or self.max_delay_seconds < 0:
            raise ValueError("base_delay_seconds and max_delay_seconds must be >= 0")
        if self.max_elapsed_seconds is not None and self.max_elapsed_seconds < 0:
            raise ValueError(f"max_elapsed_seconds must be >= 0, got {self.max_elapsed_seconds}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"jitter must be between 0 and 1, got {self.jitter}")

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1 = the first retry)."""
        cap = min(self.max_delay_seconds, self.base_delay_seconds * 2.0 ** min(max(retry - 1, 0), 60))
        return cap * (1 - self.jitter * self.rng.random())

    def gives_up(self, attempts: int, elapsed: float) -> bool:
        """True when no retry may follow ``attempts`` failed tries that took ``elapsed`` seconds."""
        over_time = self.max_elapsed_seconds is not None and elapsed >= self.max_elapsed_seconds
        return attempts >= self.max_attempts or over_time

    def call(
        self,
        fn: Callable[[], T],
        is_transient: Callable[[BaseException], bool],
        on_retry: Callable[[int, float, Exception], None] | None = None,
    ) -> T:
        """``fn()``, retried while it fails transiently.

        ``on_retry(attempt, delay, exc)`` runs before each wait (to log). A failure that is not transient is
        raised as it is, at once; when the budget is spent, ``RetryBudgetSpent`` is raised from the last one.
        """
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            try:
                return fn()
            except Exception as exc:
                if not is_transient(exc):
                    raise
                elapsed = time.monotonic() - started
                if self.gives_up(attempt, elapsed):
                    raise RetryBudgetSpent(exc, attempt, elapsed) from exc
                wait = self.delay(attempt)
                if on_retry is not None:
                    on_retry(attempt, wait, exc)
                self.sleep(wait)
