"""When a storage call is worth a retry, and the storage flavour of the one retry policy.

Object stores fail in ways that go away: throttling (S3 ``SlowDown``, HTTP 429/503), server errors (5xx),
dropped connections and timeouts. ``call`` runs one storage call through a ``RetryPolicy``
(``medallion_resources.retry``: exponential backoff with full jitter), retrying it while the failure is
*transient* (``is_transient``, the storage rule), and after ``max_attempts`` tries (or
``max_elapsed_seconds``) raises ``StorageError`` naming the operation, the object and how long it tried.
Anything else (a missing object, access denied, a bad bucket name) is raised at once: retrying cannot fix it.

Every operation a backend offers is idempotent (puts of whole objects, deletes, reads), so repeating a call
whose response was lost is safe; the conditional manifest put reports a lost-but-applied put as "precondition
failed", which the commit protocol resolves by re-reading the manifest (``medallion_resources.lake.commit``).
This is the only retry layer of the S3 and Azure backends: s3fs/botocore and the Azure SDK are built with
their own retries off (``docs/storage.md``), so the budget configured here is the budget spent.

Messages never carry credentials (``medallion_resources.redact``).

YAML (per layer, all optional)::

    platform:
      bronze:
        storage_backend: s3
        s3_bucket: lake
        options: {retry: {max_attempts: 8, base_delay_seconds: 0.2, max_delay_seconds: 10}}
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from medallion_resources.errors import StorageError
from medallion_resources.redact import Redactor
from medallion_resources.retry import TRANSIENT_STATUSES, RetryBudgetSpent, RetryPolicy, exception_chain

__all__ = [
    "DEFAULT_POLICY",
    "RetryPolicy",
    "TransientStorageError",
    "call",
    "check_options",
    "is_transient",
    "policy_from_options",
]

T = TypeVar("T")

DEFAULT_POLICY = RetryPolicy(
    max_attempts=6, base_delay_seconds=0.1, max_delay_seconds=5.0, max_elapsed_seconds=120.0, jitter=1.0
)
"""What ``options.retry`` starts from: 6 tries, full jitter, waits capped at 5 s, at most 2 minutes."""

# Error codes and message fragments of throttling and server-side faults (S3, Azure, HTTP stacks).
_TRANSIENT_TEXT = re.compile(
    r"SlowDown|Throttl|TooManyRequests|RequestLimitExceeded|ServiceUnavailable|ServerBusy|InternalError|"
    r"OperationTimedOut|RequestTimeout|Connection reset|connection was closed|Server disconnected|"
    r"Connection aborted|Broken pipe|timed out|Temporary failure|\b(429|500|502|503|504)\b",
    re.IGNORECASE,
)
# Exception class names of transient faults in botocore, aiohttp, urllib3, requests and azure-core.
_TRANSIENT_TYPES = frozenset(
    {
        "EndpointConnectionError",
        "ConnectionClosedError",
        "ReadTimeoutError",
        "ConnectTimeoutError",
        "ResponseStreamingError",
        "IncompleteReadError",
        "ClientConnectionError",
        "ClientConnectorError",
        "ClientOSError",
        "ClientPayloadError",
        "ServerDisconnectedError",
        "ServerTimeoutError",
        "ProtocolError",
        "ServiceRequestError",
        "ServiceResponseError",
        "IncompleteRead",
    }
)
# Failures that are never worth a retry, whatever their message says.
_PERMANENT = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError, FileExistsError)


class TransientStorageError(OSError):
    """A fault that may go away when retried (raised by the fault-injecting test backend, among others)."""


def _status_of(exc: BaseException) -> int | None:
    for attr in ("status_code", "status"):
        value = getattr(exc, attr, None)
        if isinstance(value, int):
            return value
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):
        meta = response.get("ResponseMetadata")
        if isinstance(meta, Mapping) and isinstance(meta.get("HTTPStatusCode"), int):
            return int(meta["HTTPStatusCode"])
    return None


def is_transient(exc: BaseException) -> bool:
    """True for throttling, 5xx, timeouts and dropped connections anywhere in the exception's chain."""
    chain = exception_chain(exc)
    if isinstance(chain[0], _PERMANENT):
        return False
    for item in chain:
        if isinstance(item, TransientStorageError | ConnectionError | TimeoutError):
            return True
        if type(item).__name__ in _TRANSIENT_TYPES:
            return True
        status = _status_of(item)
        if status is not None:
            if status in TRANSIENT_STATUSES:
                return True
            if 400 <= status < 500:
                return False
        if _TRANSIENT_TEXT.search(str(item)):
            return True
    return False


def check_options(backend: str, options: Mapping[str, Any], allowed: set[str]) -> None:
    """Refuse ``options`` keys a built-in backend does not know, naming the allowed ones."""
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise StorageError(
            f"storage_backend '{backend}': unknown options key(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(sorted(allowed))}"
        )


def policy_from_options(options: Mapping[str, Any]) -> RetryPolicy:
    """A layer's ``options.retry`` over ``DEFAULT_POLICY``; bad keys or values are a clear error."""
    raw = dict(options.get("retry") or {})
    allowed = {"max_attempts", "base_delay_seconds", "max_delay_seconds", "max_elapsed_seconds"}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise StorageError(
            f"options.retry: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}"
        )
    try:
        values: dict[str, Any] = {k: (int if k == "max_attempts" else float)(v) for k, v in raw.items()}
        return dataclasses.replace(DEFAULT_POLICY, **values)
    except (TypeError, ValueError) as exc:
        raise StorageError(f"options.retry: {exc}") from exc


def call(
    policy: RetryPolicy, operation: str, where: str, fn: Callable[[], T], redactor: Redactor | None = None
) -> T:
    """Run ``fn``; retry transient failures; ``StorageError`` naming ``operation`` and ``where`` after."""
    redactor = redactor or Redactor()
    try:
        return policy.call(fn, is_transient)
    except RetryBudgetSpent as spent:
        detail = redactor.text(f"{type(spent.last).__name__}: {spent.last}")
        raise StorageError(
            f"{operation} {redactor.text(where)} failed after {spent.attempts} attempt(s) over "
            f"{spent.elapsed:.1f}s (transient errors; retry budget spent): {detail}"
        ) from None
