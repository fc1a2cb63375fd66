"""When to retry a request and how long to wait: exponential backoff with jitter, and ``Retry-After``."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

__all__ = ["RETRY_STATUSES", "RetryPolicy", "retry_after_seconds"]

RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
"""Statuses worth another attempt (throttling, transient server trouble); any other 4xx/5xx fails now."""
RETRY_AFTER_STATUSES = frozenset({429, 503})
MAX_RETRY_AFTER_SECONDS = 300.0
"""A ``Retry-After`` beyond this is capped (the attempt after it may be throttled again, and counted)."""


@dataclass(frozen=True)
class RetryPolicy:
    """``max_retries`` attempts after the first; the n-th waits ``base * 2**(n-1)`` (capped), jittered
    to between half and all of it so that many clients do not retry in lock-step."""

    max_retries: int = 5
    backoff_seconds: float = 0.5
    max_backoff_seconds: float = 30.0

    def backoff(self, retry_number: int) -> float:
        delay = min(self.max_backoff_seconds, self.backoff_seconds * 2 ** (retry_number - 1))
        return delay * (0.5 + random.random() / 2)


def retry_after_seconds(response: httpx.Response) -> float | None:
    """Seconds the server asked to wait on a 429/503, from ``Retry-After`` as seconds or an HTTP-date."""
    if response.status_code not in RETRY_AFTER_STATUSES:
        return None
    value = response.headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)
