"""The API session: ``pages`` → ``fetch_page`` → ``send_with_retry`` → one ``Send``, for sync and async.

``ApiSession`` holds what a source's requests share (settings, auth, paginator, the host's token bucket,
counters). Its flows are driven by ``flow.run_sync`` over one pooled ``httpx.Client``, or, with
``use_async``, by ``flow.run_async`` over an ``httpx.AsyncClient`` on a private event loop that keeps up to
``prefetch_pages`` indexed pages in flight and hands them out in order.
"""

from __future__ import annotations

import asyncio
import codecs
import json
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import httpx

from medallion_resources.errors import ApiError
from medallion_resources.http.auth import Auth, create_auth
from medallion_resources.http.flow import Flow, Send, Sleep, run_async, run_sync
from medallion_resources.http.pagination import (
    IndexedPaginator,
    Page,
    PageGuard,
    Paginator,
    RequestSpec,
    create_paginator,
    lookup,
    query_params,
)
from medallion_resources.http.ratelimit import TokenBucket, bucket_for_host
from medallion_resources.http.retry import DEFAULT_POLICY, RETRY_STATUSES, is_transient, retry_after_seconds
from medallion_resources.redact import Redactor, redacting_logs, secret_name
from medallion_resources.retry import RetryPolicy

__all__ = ["ApiSession", "HttpSettings", "HttpStats"]

T = TypeVar("T")
_SNIPPET_CHARS = 200
"""How much of a body an error quotes."""
_SNIPPET_SCAN = 64 * 1024
"""How much of it is redacted first: the quote and any secret that starts in it."""


@dataclass(frozen=True)
class HttpSettings:
    """Resolved transport settings of one source (``api:`` over ``platform.defaults.http``)."""

    rate_limit_rps: float | None = 10.0
    burst: int = 10
    timeout_seconds: float = 30.0
    retry: RetryPolicy = DEFAULT_POLICY
    use_async: bool = False
    prefetch_pages: int = 2
    data_path: str | None = None
    # A first page without a record list (null at ``data_path``, a null body) means no records, not an error.
    allow_empty: bool = False


@dataclass
class HttpStats:
    """Counters that land in Bronze ``_metadata.json``."""

    pages: int = 0
    requests: int = 0
    retries: int = 0
    throttled_seconds: float = 0.0
    # The API's own count of the records (``pagination.total_path``), when it gives one.
    source_total: int | None = None

    def as_dict(self) -> dict[str, Any]:
        counters: dict[str, Any] = {
            "pages": self.pages,
            "requests": self.requests,
            "retries": self.retries,
            "throttled_seconds": round(self.throttled_seconds, 3),
        }
        if self.source_total is not None:
            counters["source_row_count"] = self.source_total
        return counters


class ApiSession:
    """Everything one source's requests share; build it with ``ApiSession.create``."""

    def __init__(self, settings: HttpSettings, auth: Auth, paginator: Paginator, bucket: TokenBucket | None):
        self.settings = settings
        self.auth = auth
        self.paginator = paginator
        self.bucket = bucket
        self.stats = HttpStats()
        self.sent_secrets: list[str] = []
        """Values the source's own request sends under a secret-looking name (``learn_secrets``), and those
        its config took from the environment (``create``'s ``secrets``)."""
        self._redactor = Redactor(auth.secrets, auth.secret_params)
        self._redacted_secrets = len(auth.secrets)

    @property
    def redactor(self) -> Redactor:
        """Masks every secret the auth holds *now* (an OAuth2 access token is only known once fetched) and
        the values of ``sent_secrets``."""
        known = (*self.auth.secrets, *self.sent_secrets)
        if len(known) != self._redacted_secrets:
            self._redactor = Redactor(known, self.auth.secret_params)
            self._redacted_secrets = len(known)
        return self._redactor

    def learn_secrets(self, spec: RequestSpec) -> None:
        """Count as secrets the values of ``spec``'s parameters, headers and JSON body keys with a
        secret-looking name (``params: {apikey: ${KEY}}``, ``headers: {X-Auth-Token: ${TOKEN}}``,
        ``body: {credentials: {api_key: ...}}``): a server echoing one in a
        body is masked like the auth's. Only the source's first request (what its config sets): the
        paginator's cursors are no credentials."""
        sent = [*query_params(spec.params).multi_items(), *spec.headers.items(), *_named_texts(spec.json)]
        for name, text in sent:
            if not secret_name(str(name)):
                continue
            # ``Authorization: Token abc...``: the credential after its scheme, which a server may echo alone.
            scheme, _, credential = text.partition(" ")
            for secret in (text, credential) if scheme and len(credential) >= 8 else (text,):
                if secret not in self.sent_secrets:
                    self.sent_secrets.append(secret)

    @classmethod
    def create(
        cls, settings: HttpSettings, auth_cfg: Any, pagination_cfg: Any, base_url: str,
        env: Mapping[str, str] | None = None, secrets: Iterable[str] = (),
    ) -> ApiSession:  # fmt: skip
        """``secrets``: values of the source's own request to count as secrets from the start (those the
        config took from the environment: a token in the path), besides the auth's."""
        auth = create_auth(auth_cfg, env)
        bucket = None
        if settings.rate_limit_rps is not None:
            bucket = bucket_for_host(
                httpx.URL(base_url).netloc.decode(), settings.rate_limit_rps, settings.burst
            )
        session = cls(settings, auth, create_paginator(pagination_cfg), bucket)
        session.sent_secrets.extend(s for s in secrets if s not in session.sent_secrets)
        return session

    # --- the layers, each a flow ------------------------------------------------------------------------

    def send_with_retry(self, spec: RequestSpec) -> Flow[httpx.Response]:
        """Rate limit, authenticate, send; retry 429/5xx/timeouts/connection errors with backoff (and
        ``Retry-After``); refresh credentials once on a 401. Only a 2xx is an answer: a redirect (3xx) is
        not followed (it could take the credentials to another host) and fails naming where it points."""
        policy = self.settings.retry
        retries, refreshed, started = 0, False, time.monotonic()
        while True:
            while self.bucket is not None and (wait := self.bucket.acquire()) > 0:
                self.stats.throttled_seconds += wait
                yield Sleep(wait)
            request = self._build(spec)
            if spec.credentials:
                yield from self._retried(self.auth.apply(request))
            self.stats.requests += 1
            try:
                response: httpx.Response = yield Send(request, self.settings.timeout_seconds)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                broken = isinstance(exc, httpx.DecodingError)
                answer = "a body it could not decode" if broken else "no response"
                status, failure, wait_for = None, f"{type(exc).__name__} ({answer})", None
            else:
                status = response.status_code
                if status < 300:
                    return response
                if status < 400:
                    raise self._redirect_error(request, response)
                if status == 401 and spec.credentials and not refreshed and self.auth.refresh():
                    refreshed = True
                    continue
                if status not in RETRY_STATUSES:
                    withheld = (
                        ""
                        if spec.credentials
                        else (
                            " (sent without the source's credentials: a next link to another host than the "
                            "first request's never gets them)"
                        )
                    )
                    raise ApiError(
                        f"{spec.method} {self._url(request)} returned HTTP {status}{withheld}: "
                        f"{self._snippet(response)}",
                        url=self._url(request),
                        status=status,
                    )
                failure, wait_for = f"HTTP {status}", retry_after_seconds(response)
            if policy.gives_up(retries + 1, time.monotonic() - started):
                raise ApiError(
                    f"{spec.method} {self._url(request)} failed after {retries + 1} attempt(s) "
                    f"(max_retries={policy.max_attempts - 1}); last: {failure}",
                    url=self._url(request),
                    status=status,
                )
            retries += 1
            self.stats.retries += 1
            delay = wait_for if wait_for is not None else policy.delay(retries)
            if wait_for is not None:
                self.stats.throttled_seconds += delay
            yield Sleep(delay)

    def _retried(self, flow: Flow[T]) -> Flow[T]:
        """Run ``flow`` (an auth's own requests: the OAuth2 token request) with every request it sends
        retried like the data requests (transient statuses, timeouts, connection errors, ``Retry-After``);
        once the attempts are spent, the last response or error goes to ``flow``, which reports it."""
        policy = self.settings.retry
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                action = flow.throw(error) if error is not None else flow.send(value)
            except StopIteration as stop:
                return cast(T, stop.value)
            if not isinstance(action, Send):
                value, error = (yield action), None
                continue
            started, attempts = time.monotonic(), 0
            while True:
                attempts += 1
                wait_for = None
                try:
                    value, error = (yield action), None
                except Exception as exc:
                    if not is_transient(exc):
                        raise
                    value, error = None, exc
                else:
                    if value.status_code not in RETRY_STATUSES:
                        break
                    wait_for = retry_after_seconds(value)
                if policy.gives_up(attempts, time.monotonic() - started):
                    break
                self.stats.retries += 1
                delay = wait_for if wait_for is not None else policy.delay(attempts)
                if wait_for is not None:
                    self.stats.throttled_seconds += delay
                yield Sleep(delay)

    def fetch_page(self, spec: RequestSpec, index: int) -> Flow[Page]:
        """One page: the response parsed as JSON and its records at ``data_path``.

        Raises:
            ApiError: the first page has no record list (null), unless ``allow_empty``: an API answering
                null where its records are is more likely failing than empty (an empty list is no records).
        """
        response = yield from self.send_with_retry(spec)
        url = self._url(response.request)
        try:
            # 204 No Content has no body: read as a null one (no record list; the first page's rule below).
            body = None if response.status_code == 204 else json.loads(_json_text(response))
        except ValueError as exc:
            raise ApiError(
                f"{url} returned HTTP {response.status_code} with a body that is not valid JSON ({exc}); "
                f"content-type {response.headers.get('content-type', 'none')!r}, starts with "
                f"{self._snippet(response)}",
                url=url,
                status=response.status_code,
            ) from None
        records = self._records(body, url)
        if records is None and index == 0 and not self.settings.allow_empty:
            path = self.settings.data_path
            where = f"null at data_path '{path}'" if path and body is not None else "a null body"
            if response.status_code == 204:
                where = "HTTP 204 (no content)"
            raise ApiError(
                f"{url} returned {where} on the first page, where the records should be: more likely an "
                "error than no data; set api.allow_empty: true if this API answers null when it has no "
                "records",
                url=url,
                status=response.status_code,
            )
        return Page(index, spec, response, body, records, url)

    def _records(self, body: Any, url: str) -> list[Any] | None:
        """The records of a body: the list at ``data_path`` (None: null there); one object there is one
        record, an empty object none (it has no field to land: a row of nulls would be a phantom)."""
        path = self.settings.data_path
        data = body
        if path and body is not None:
            data = lookup(body, path, what="data_path", url=url, default=MISSING_RECORDS)
            if data is MISSING_RECORDS:
                self._check_missing_records(body, path, url)
                return None
        if data is None or isinstance(data, list):
            return data
        if isinstance(data, dict) and not path:
            keys = ", ".join(sorted(map(str, data))) or "none"
            raise ApiError(
                f"{url} returned a JSON object, not a list of records; set api.data_path to the list "
                f"(keys at the top level: {keys})"
            )
        if not isinstance(data, dict):  # "rate limited", 42, true: an answer about the request, not a record
            where = f"at data_path '{path}'" if path else "as its body"
            raise ApiError(
                f"{url} returned {_json_kind(data)} {where}, where a list of records or one object should "
                "be: more likely an error message than data; point api.data_path at the records",
                url=url,
            )
        if data == {}:
            return []
        return [data]  # data_path points at one object: one record

    def _check_missing_records(self, body: Any, path: str, url: str) -> None:
        """``data_path`` is not in ``body``: no records (as a null there) with ``allow_empty`` when the body
        is an object without an error envelope (Google's APIs, proto3 JSON, leave an empty list out:
        ``{"kind": ...}``); else the error naming the keys there."""
        envelope = isinstance(body, dict) and any(str(k).lower() in _ERROR_KEYS for k in body)
        if self.settings.allow_empty and isinstance(body, dict) and not envelope:
            return
        try:
            lookup(body, path, what="data_path", url=url)
        except ApiError as exc:
            if envelope or not isinstance(body, dict):
                raise
            raise ApiError(
                f"{exc}. If this API leaves the list out when it is empty (as Google's do), set "
                "api.allow_empty: true",
                url=url,
            ) from None

    # --- drivers ----------------------------------------------------------------------------------------

    def pages(self, first: RequestSpec) -> Iterator[Page]:
        """Every page in order, guarded (see ``PageGuard``); async with prefetch when configured."""
        self.learn_secrets(first)
        with redacting_logs("httpx", self._mask):
            if self.settings.use_async:
                yield from self._pages_async(first)
                return
            guard = PageGuard(self.paginator)
            with httpx.Client(timeout=self.settings.timeout_seconds) as client:
                spec: RequestSpec | None = self.paginator.first(first)
                index = 0
                while spec is not None:
                    page = run_sync(self.fetch_page(spec, index), client)
                    spec = guard.after(page)
                    self.stats.pages += 1
                    self.stats.source_total = guard.total
                    yield page
                    index += 1

    def _pages_async(self, first: RequestSpec) -> Iterator[Page]:
        """Pages from an event loop private to this generator. Indexed paginators keep up to
        ``prefetch_pages`` requests in flight (stopping at a known page count); others go one by one.
        Pages are consumed, guarded and yielded strictly in order; pages fetched past the end are dropped."""
        loop = asyncio.new_event_loop()
        client = httpx.AsyncClient(timeout=self.settings.timeout_seconds)
        window: deque[asyncio.Task[Page]] = deque()
        guard = PageGuard(self.paginator)
        ahead = self.settings.prefetch_pages if isinstance(self.paginator, IndexedPaginator) else 1
        try:
            spec: RequestSpec | None = self.paginator.first(first)
            next_index, last_index = 0, None
            while True:
                while (
                    spec is not None
                    and len(window) < ahead
                    and (last_index is None or next_index <= last_index)
                ):
                    flow = self.fetch_page(spec, next_index)
                    window.append(loop.create_task(run_async(flow, client)))
                    next_index += 1
                    spec = self._request_at(first, next_index) if ahead > 1 else None
                if not window:
                    return
                page = loop.run_until_complete(window.popleft())
                following = guard.after(page)
                self.stats.pages += 1
                self.stats.source_total = guard.total
                yield page
                if following is None:
                    return
                if ahead == 1:
                    spec = following
                elif guard.total is not None:
                    last_index = self.paginator.page_count(guard.total) - 1  # type: ignore[attr-defined]
        finally:
            for task in window:
                task.cancel()
            if window:
                loop.run_until_complete(asyncio.gather(*window, return_exceptions=True))
            loop.run_until_complete(client.aclose())
            loop.close()

    def _request_at(self, first: RequestSpec, index: int) -> RequestSpec:
        assert isinstance(self.paginator, IndexedPaginator)
        return self.paginator.request_at(first, index)

    def send_once(self, spec: RequestSpec) -> Page:
        """One request through the whole stack (auth, retries), for ``check``."""
        self.learn_secrets(spec)
        with (
            redacting_logs("httpx", self._mask),
            httpx.Client(timeout=self.settings.timeout_seconds) as client,
        ):
            return run_sync(self.fetch_page(self.paginator.first(spec), 0), client)

    def _mask(self, text: str) -> str:
        return self.redactor.text(text)  # the secrets learned so far (an OAuth2 token arrives mid-run)

    # --- helpers ----------------------------------------------------------------------------------------

    def _build(self, spec: RequestSpec) -> httpx.Request:
        timeout = httpx.Timeout(self.settings.timeout_seconds)
        url = httpx.URL(spec.url)
        if spec.params:
            url = url.copy_merge_params(query_params(spec.params))
        headers = {"Accept": "application/json", **spec.headers}
        if not spec.credentials:  # nor a configured header that carries one (``learn_secrets``'s rule)
            own = self._own_secrets()
            headers = {
                name: value
                for name, value in headers.items()
                if not secret_name(name) and not any(_carries(value, secret) for secret in own)
            }
            url = self._without_own_secrets(url)
        body = spec.json if spec.credentials else _without_secrets(spec.json, self._own_secrets())
        return httpx.Request(
            spec.method,
            url,
            headers=headers,
            json=body,
            extensions={"timeout": timeout.as_dict()},
        )

    def _own_secrets(self) -> set[str]:
        """The source's credentials: the auth's values, and those its first request sends as secrets."""
        return {s for s in (*self.auth.secrets, *self.sent_secrets) if s}

    def _without_own_secrets(self, url: httpx.URL) -> httpx.URL:
        """``url`` (a link to another host) without the query parameters that carry this source's own
        credentials: the auth's ``key_param``, and any value the auth holds or the first request sent under
        a secret-looking name. APIs echo the request's query in their next links, the API key too; the
        other host's own parameters (a signed link's signature) stay."""
        own = self._own_secrets()
        names = {name.lower() for name in self.auth.secret_params}
        items = url.params.multi_items()
        kept = [(k, v) for k, v in items if k.lower() not in names and v not in own]
        return url if len(kept) == len(items) else url.copy_with(params=kept)

    def _redirect_error(self, request: httpx.Request, response: httpx.Response) -> ApiError:
        try:
            location = str(request.url.join(response.headers["location"]))
        except (KeyError, httpx.InvalidURL):
            location = None
        where = f" to {self.redactor.url(location)}" if location else ""
        return ApiError(
            f"{request.method} {self._url(request)} returned HTTP {response.status_code}, a redirect{where}: "
            "redirects are not followed (one could take the source's credentials to another host); set "
            "api.base_url and api.endpoint to where it points",
            url=self._url(request),
            status=response.status_code,
        )

    def _url(self, request: httpx.Request) -> str:
        return self.redactor.url(str(request.url))

    def _snippet(self, response: httpx.Response) -> str:
        """The start of the body, quoted; redacted before it is cut (a secret cut in two is not masked)."""
        text = response.content[:_SNIPPET_SCAN].decode("utf-8", "replace").replace("\n", " ")
        return repr(self.redactor.text(text)[:_SNIPPET_CHARS])


MISSING_RECORDS: Any = object()
_ERROR_KEYS = frozenset({"error", "errors", "fault", "message", "detail"})
"""Top-level keys of an error answered with status 200: such a body without the records always fails."""


def _named_texts(value: Any) -> list[tuple[str, str]]:
    """The (key, text) of every scalar under a key in a JSON body, nested objects and lists included."""
    if isinstance(value, dict):
        found = []
        for key, item in value.items():
            if isinstance(item, dict | list):
                found.extend(_named_texts(item))
            elif item is not None:
                found.append((str(key), str(item)))
        return found
    if isinstance(value, list):
        return [pair for item in value for pair in _named_texts(item)]
    return []


def _without_secrets(value: Any, secrets: set[str]) -> Any:
    """A JSON body without the strings that carry one of ``secrets`` (entries of objects, items of
    lists), for a request to another host than the first."""
    if isinstance(value, dict):
        return {k: _without_secrets(v, secrets) for k, v in value.items() if not _secret_text(v, secrets)}
    if isinstance(value, list):
        return [_without_secrets(v, secrets) for v in value if not _secret_text(v, secrets)]
    return value


def _secret_text(value: Any, secrets: set[str]) -> bool:
    return isinstance(value, str) and any(_carries(value, secret) for secret in secrets)


def _carries(value: str, secret: str) -> bool:
    """Whether a header value carries ``secret``: is it, or holds it when it is long enough to tell (a
    short basic-auth user name may be part of any text)."""
    return value == secret or (len(secret) >= 8 and secret in value)


def _json_text(response: httpx.Response) -> bytes | str:
    """The body for ``json.loads``: bytes, whose UTF-8/16/32 (BOM or not) it detects itself (RFC 8259), or
    text decoded from the charset the ``Content-Type`` declares when that is another one (an older API's
    ``charset=iso-8859-1``). A charset Python does not know is ignored (the body is then read as UTF)."""
    charset = response.charset_encoding
    if charset:
        try:
            codec = codecs.lookup(charset).name
        except LookupError:
            return response.content
        if not codec.startswith("utf") and codec != "ascii":
            return response.content.decode(codec)  # a UnicodeDecodeError is a ValueError: "not valid JSON"
    return response.content


def _json_kind(value: Any) -> str:
    """What a JSON value is, for an error that must not repeat the value (it may hold anything)."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "a string" if isinstance(value, str) else f"a {type(value).__name__}"
