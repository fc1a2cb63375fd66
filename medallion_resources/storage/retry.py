"""Retries of transient storage faults: exponential backoff with full jitter, then one clear error.

Object stores fail in ways that go away: throttling (S3 ``SlowDown``, HTTP 429/503), server errors (5xx),
dropped connections and timeouts. ``RetryPolicy.call`` runs one storage call, retries it while the failure
is *transient* (``is_transient``), sleeping ``uniform(0, min(max_delay, base_delay * 2**n))`` between tries
(AWS's "full jitter", which spreads the retries of many writers), and after ``max_attempts`` tries (or
``max_elapsed_seconds``) raises ``StorageError`` naming the operation, the object and how long it tried.
Anything else (a missing object, access denied, a bad bucket name) is raised at once: retrying cannot fix it.

Every operation a backend offers is idempotent (puts of whole objects, deletes, reads), so repeating a call
whose response was lost is safe; the conditional manifest put reports a lost-but-applied put as "precondition
failed", which the commit protocol resolves by re-reading the manifest (``medallion_resources.manifest``).

Messages never carry credentials: ``redact`` strips URL user-info, query strings (pre-signed URLs, SAS
tokens) and ``key=value`` secrets of connection strings.

YAML (per layer, all optional)::

    platform:
      bronze:
        storage_backend: s3
        s3_bucket: lake
        options: {retry: {max_attempts: 8, base_delay_seconds: 0.2, max_delay_seconds: 10}}
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from medallion_resources.errors import StorageError

__all__ = ["RetryPolicy", "TransientStorageError", "check_options", "is_transient", "redact"]

T = TypeVar("T")

TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
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


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 10:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def is_transient(exc: BaseException) -> bool:
    """True for throttling, 5xx, timeouts and dropped connections anywhere in the exception's chain."""
    chain = _chain(exc)
    if isinstance(chain[0], _PERMANENT):
        return False
    for item in chain:
        if isinstance(item, TransientStorageError | ConnectionError | TimeoutError):
            return True
        if type(item).__name__ in _TRANSIENT_TYPES:
            return True
        status = _status_of(item)
        if status is not None:
            if status in TRANSIENT_STATUS:
                return True
            if 400 <= status < 500:
                return False
        if _TRANSIENT_TEXT.search(str(item)):
            return True
    return False


_SECRET_PATTERNS = (
    (re.compile(r"(?<=://)[^/@\s]+@"), "***@"),  # user:password@host
    (re.compile(r"\?[^\s'\"]*"), "?***"),  # query strings: pre-signed URLs, SAS tokens
    (
        re.compile(
            r"(?i)\b(AccountKey|SharedAccessSignature|sig|SecretAccessKey|aws_secret_access_key|"
            r"client_secret|password|token|X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token)=[^;&\s'\"]+"
        ),
        r"\1=***",
    ),
)


def check_options(backend: str, options: Mapping[str, Any], allowed: set[str]) -> None:
    """Refuse ``options`` keys a built-in backend does not know, naming the allowed ones."""
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise StorageError(
            f"storage_backend '{backend}': unknown options key(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(sorted(allowed))}"
        )


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """``text`` without credentials: URL user-info, query strings, ``Key=secret`` pairs and ``secrets``."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long a storage call is retried; see the module docstring."""

    max_attempts: int = 6
    base_delay_seconds: float = 0.1
    max_delay_seconds: float = 5.0
    max_elapsed_seconds: float = 120.0
    # Values that must never appear in an error message (resolved secrets of the backend).
    secrets: tuple[str, ...] = field(default=(), repr=False)
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)
    rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)

    @classmethod
    def from_options(cls, options: Mapping[str, Any], secrets: tuple[str, ...] = ()) -> RetryPolicy:
        """Build from a layer's ``options.retry`` mapping; unknown keys are a clear error."""
        raw = dict(options.get("retry") or {})
        allowed = {"max_attempts", "base_delay_seconds", "max_delay_seconds", "max_elapsed_seconds"}
        unknown = sorted(set(raw) - allowed)
        if unknown:
            raise StorageError(
                f"options.retry: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}"
            )
        try:
            policy = cls(**{k: type(getattr(cls, k))(v) for k, v in raw.items()}, secrets=secrets)
        except (TypeError, ValueError) as exc:
            raise StorageError(f"options.retry: {exc}") from exc
        if policy.max_attempts < 1 or policy.base_delay_seconds < 0 or policy.max_delay_seconds < 0:
            raise StorageError("options.retry: max_attempts must be >= 1 and delays >= 0")
        return policy

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (0-based): full jitter over an exponential cap."""
        cap = min(self.max_delay_seconds, self.base_delay_seconds * (2**retry))
        return self.rng.uniform(0, cap)

    def call(self, operation: str, where: str, fn: Callable[[], T]) -> T:
        """Run ``fn``; retry transient failures; ``StorageError`` naming ``operation`` and ``where`` after."""
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
                if attempt >= self.max_attempts or elapsed >= self.max_elapsed_seconds:
                    detail = redact(f"{type(exc).__name__}: {exc}", self.secrets)
                    raise StorageError(
                        f"{operation} {redact(where, self.secrets)} failed after {attempt} attempt(s) over "
                        f"{elapsed:.1f}s (transient errors; retry budget spent): {detail}"
                    ) from None
                self.sleep(self.delay(attempt - 1))
