"""The HTTP client of the API extractor: auth, pagination, rate limiting and retries, sync and async.

Layers (each a module): ``flow`` (sans-I/O actions and the sync/async drivers), ``ratelimit`` (token bucket
per host), ``retry`` (backoff, ``Retry-After``), ``auth`` and ``pagination`` (one class per YAML ``type``,
each with a registry) and ``client`` (``ApiSession``); secrets leave messages through the one redactor,
``medallion_resources.redact``.
"""

from medallion_resources.http.auth import AUTH_TYPES, Auth, create_auth
from medallion_resources.http.client import ApiSession, HttpSettings, HttpStats
from medallion_resources.http.pagination import (
    PAGINATORS,
    Page,
    PageGuard,
    Paginator,
    RequestSpec,
    create_paginator,
    lookup,
)
from medallion_resources.http.ratelimit import TokenBucket, bucket_for_host
from medallion_resources.http.retry import RetryPolicy, retry_after_seconds
from medallion_resources.http.retry import policy as retry_policy

__all__ = [
    "AUTH_TYPES",
    "PAGINATORS",
    "ApiSession",
    "Auth",
    "HttpSettings",
    "HttpStats",
    "Page",
    "PageGuard",
    "Paginator",
    "RequestSpec",
    "RetryPolicy",
    "TokenBucket",
    "bucket_for_host",
    "create_auth",
    "create_paginator",
    "lookup",
    "retry_after_seconds",
    "retry_policy",
]
