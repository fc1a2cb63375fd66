"""One implementation of every HTTP mechanism for sync and async: flows that *ask* for I/O.

Auth, rate limiting, retries and paging are written once, as generators ("flows") that yield an action
(``Send`` a request, ``Sleep`` a while) and receive its result. A driver performs the actions: ``run_sync``
with an ``httpx.Client`` and ``time.sleep``, ``run_async`` with an ``httpx.AsyncClient`` and
``asyncio.sleep``. So the async path cannot drift from the sync one: it is the same code.

A transport failure (timeout, refused connection, broken response) or a body that cannot be decoded
(``retry.NO_RESPONSE``) is thrown *into* the flow at the ``yield`` that asked for the request, where the
retry logic catches it like any exception.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import httpx

from medallion_resources.http.retry import NO_RESPONSE

__all__ = ["Flow", "Send", "Sleep", "run_async", "run_sync"]

T = TypeVar("T")


@dataclass(frozen=True)
class Send:
    """Send ``request`` and hand back the ``httpx.Response`` (body read), or throw the transport error."""

    request: httpx.Request


@dataclass(frozen=True)
class Sleep:
    """Wait ``seconds`` (rate limit, backoff, Retry-After)."""

    seconds: float


Flow = Generator[Send | Sleep, Any, T]


def run_sync(flow: Flow[T], client: httpx.Client) -> T:
    """Drive ``flow`` to its return value with blocking I/O."""
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            action = flow.throw(error) if error is not None else flow.send(value)
        except StopIteration as stop:
            return cast(T, stop.value)
        value, error = None, None
        if isinstance(action, Sleep):
            if action.seconds > 0:
                time.sleep(action.seconds)
            continue
        try:
            value = client.send(action.request)
        except NO_RESPONSE as exc:
            error = exc


async def run_async(flow: Flow[T], client: httpx.AsyncClient) -> T:
    """Drive ``flow`` to its return value on the running event loop."""
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            action = flow.throw(error) if error is not None else flow.send(value)
        except StopIteration as stop:
            return cast(T, stop.value)
        value, error = None, None
        if isinstance(action, Sleep):
            if action.seconds > 0:
                await asyncio.sleep(action.seconds)
            continue
        try:
            value = await client.send(action.request)
        except NO_RESPONSE as exc:
            error = exc
