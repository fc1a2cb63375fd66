"""When an HTTP request is worth another attempt, the HTTP default of the one retry policy, and
``Retry-After``.

The policy itself (backoff, jitter, budget) is ``medallion_resources.retry.RetryPolicy``; the client's
sans-I/O flow asks it for ``delay`` and ``gives_up`` and yields the sleeps itself.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from medallion_resources.retry import TRANSIENT_STATUSES, RetryPolicy

__all__ = [
    "DEFAULT_POLICY",
    "NO_RESPONSE",
    "RETRY_STATUSES",
    "RetryPolicy",
    "is_transient",
    "policy",
    "retry_after_seconds",
]

RETRY_STATUSES = TRANSIENT_STATUSES
"""Statuses worth another attempt (throttling, transient server trouble); any other 4xx/5xx fails now."""
RETRY_AFTER_STATUSES = frozenset({429, 503})
MAX_RETRY_AFTER_SECONDS = 300.0
"""A ``Retry-After`` beyond this is capped (the attempt after it may be throttled again, and counted)."""


def policy(max_retries: int = 5, backoff_seconds: float = 0.5) -> RetryPolicy:
    """The policy of ``api.max_retries`` / ``api.retry_backoff_seconds``: ``max_retries`` attempts after the
    first; the n-th waits ``backoff_seconds * 2**(n-1)`` (at most 30 s), jittered to between half and all
    of it so that many clients do not retry in lock-step."""
    return RetryPolicy(
        max_attempts=max_retries + 1, base_delay_seconds=backoff_seconds, max_delay_seconds=30.0, jitter=0.5
    )


DEFAULT_POLICY = policy()


NO_RESPONSE: tuple[type[httpx.HTTPError], ...] = (httpx.TransportError, httpx.DecodingError)
"""What sending a request raises instead of giving a response: a transport failure (timeout, refused or
dropped connection, broken response) or a body its ``Content-Encoding`` cannot decode (a corrupt gzip
stream from a proxy). The flow drivers throw these into the flow that asked for the request."""


def is_transient(exc: BaseException) -> bool:
    """A request that got no usable response (``NO_RESPONSE``) may be retried; a response is judged by its
    status (``RETRY_STATUSES``)."""
    return isinstance(exc, NO_RESPONSE)


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
