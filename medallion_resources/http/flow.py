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
    """Send ``request`` and hand back the ``httpx.Response`` (body read), or throw the transport error.

    ``timeout``: seconds the whole exchange may take, body included. httpx's own timeouts bound each
    network operation (a connect, one read), so a server that trickles its body a byte at a time would
    hold the run for ever; a body still arriving after ``timeout`` is cut off as a ``ReadTimeout``.
    """

    request: httpx.Request
    timeout: float | None = None


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
            value = _send_sync(client, action)
        except NO_RESPONSE as exc:
            error = exc


def _send_sync(client: httpx.Client, action: Send) -> httpx.Response:
    if action.timeout is None:
        return client.send(action.request)
    deadline = time.monotonic() + action.timeout
    response = client.send(action.request, stream=True)
    try:
        body = bytearray()
        for chunk in response.iter_raw():
            _check_deadline(action, deadline)
            body += chunk
    finally:
        response.close()
    return _read(response, body)


async def _send_async(client: httpx.AsyncClient, action: Send) -> httpx.Response:
    if action.timeout is None:
        return await client.send(action.request)
    deadline = time.monotonic() + action.timeout
    response = await client.send(action.request, stream=True)
    try:
        body = bytearray()
        async for chunk in response.aiter_raw():
            _check_deadline(action, deadline)
            body += chunk
    finally:
        await response.aclose()
    return _read(response, body)


def _check_deadline(action: Send, deadline: float) -> None:
    if time.monotonic() > deadline:
        raise httpx.ReadTimeout(
            f"the response was still arriving after timeout_seconds={action.timeout}", request=action.request
        )


def _read(response: httpx.Response, raw: bytearray) -> httpx.Response:
    """``response`` with its body read from ``raw`` (decoded as its ``Content-Encoding`` says)."""
    return httpx.Response(
        response.status_code,
        headers=response.headers,
        content=bytes(raw),
        request=response.request,
        extensions=response.extensions,
    )


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
            value = await _send_async(client, action)
        except NO_RESPONSE as exc:
            error = exc
