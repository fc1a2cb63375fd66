"""Paginators: one class per ``api.pagination.type``, selected through ``PAGINATORS`` / ``create_paginator``.

Contract (two methods): ``first(request)`` gives the first page's request, ``next(page)`` the request after
a fetched page, or None at the end. The guards every type shares (empty page or null data ends the run
unless ``has_more_path`` says more follow, ``has_more_path`` false ends it, ``max_pages``, ``total_path``
against what was fetched) live in ``PageGuard``, so a paginator only knows how its API links pages.

Offset and page-number paginators are *indexed*: ``request_at(i)`` is the i-th page's request without
having seen the pages before it, which is what lets ``use_async`` fetch ahead.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar
from urllib.parse import urljoin

import httpx

from medallion_resources.errors import ApiError
from medallion_resources.http.settings import PaginationSettings

__all__ = [
    "MISSING",
    "PAGINATORS",
    "CursorPaginator",
    "IndexedPaginator",
    "LinkHeaderPaginator",
    "NextUrlPaginator",
    "NoPaginator",
    "OffsetPaginator",
    "Page",
    "PageGuard",
    "PageNumberPaginator",
    "Paginator",
    "RequestSpec",
    "create_paginator",
    "lookup",
    "query_params",
]

MISSING: Any = object()


@dataclass(frozen=True)
class RequestSpec:
    """One request before auth: method, absolute URL, query params, headers and JSON body; ``credentials``
    False sends it without the source's auth, and without the headers whose name looks secret (a next
    link to another host)."""

    method: str
    url: str
    params: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None
    credentials: bool = True

    def with_params(self, **params: Any) -> RequestSpec:
        return replace(self, params={**self.params, **params})


@dataclass
class Page:
    """A fetched page: its position, the response, the parsed body, the records at ``data_path`` (None
    when the path holds null, which ``ApiSession.fetch_page`` refuses on the first page unless
    ``allow_empty``) and ``url``, the URL it came from with credentials masked: the only form of
    it a message may show (a next link may carry an API key the server echoed)."""

    index: int
    request: RequestSpec
    response: httpx.Response
    body: Any
    records: list[Any] | None
    url: str


def query_params(params: dict[str, Any]) -> httpx.QueryParams:
    """A request's ``params`` as the query an API reads: a list is the parameter repeated
    (``status=open&status=pending``), an object its JSON text, a boolean ``true``/``false``; a null
    leaves the parameter out (as HTTP clients do), and so does an empty list."""
    items: list[tuple[str, str]] = []
    for name, value in params.items():
        for item in value if isinstance(value, list | tuple) else [value]:
            if item is not None:
                items.append((str(name), _param_text(item)))
    return httpx.QueryParams(tuple(items))


def _param_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def lookup(body: Any, path: str, *, what: str, url: str, default: Any = MISSING) -> Any:
    """Follow a dot path (``data.items``; numbers index lists) through a JSON body.

    A key may hold dots itself (OData's ``@odata.nextLink``, ``@odata.count``): where a segment is no key,
    the segments joined with the next ones are tried (``@odata.nextLink`` as one key).

    Raises:
        ApiError: a segment is missing (listing the keys present there) and no ``default`` was given.
    """
    segments = path.split(".")
    found = _follow(body, segments, 0)
    if found is not _NOT_FOUND:
        return found
    if default is not MISSING:
        return default
    node = body
    for depth, segment in enumerate(segments):  # the segment-by-segment walk, to say where it stopped
        where = ".".join(segments[:depth]) or "the top level"
        if isinstance(node, dict) and segment in node:
            node = node[segment]
        elif isinstance(node, list) and _index(node, segment) is not None:
            node = node[int(segment)]
        elif isinstance(node, dict):
            keys = ", ".join(sorted(map(str, node))) or "none"
            raise ApiError(f"{what} '{path}': no key '{segment}' at {where} of {url}; keys there: {keys}")
        else:
            kind = "a list" if isinstance(node, list) else type(node).__name__
            raise ApiError(f"{what} '{path}': cannot take '{segment}' at {where} of {url}, which is {kind}")
    raise ApiError(f"{what} '{path}' is not in {url}")  # a dotted key along the way led nowhere


_NOT_FOUND: Any = object()


def _follow(node: Any, segments: list[str], start: int) -> Any:
    """The value at ``segments[start:]`` under ``node`` (``_NOT_FOUND``): one segment as a key or a list
    index first, then the segment joined with the next ones as one key holding dots."""
    if start == len(segments):
        return node
    if isinstance(node, list):
        index = _index(node, segments[start])
        return _NOT_FOUND if index is None else _follow(node[index], segments, start + 1)
    if not isinstance(node, dict):
        return _NOT_FOUND
    for end in range(start + 1, len(segments) + 1):
        key = ".".join(segments[start:end])
        if key in node and (found := _follow(node[key], segments, end)) is not _NOT_FOUND:
            return found
    return _NOT_FOUND


def _index(node: list[Any], segment: str) -> int | None:
    """``segment`` as an index of the list ``node`` (negative from the end), or None."""
    if segment.lstrip("-").isdigit() and -len(node) <= int(segment) < len(node):
        return int(segment)
    return None


class Paginator:
    """No pagination (``pagination: {type: none}``): one request. The base of every paginator."""

    type_name: ClassVar[str] = "none"

    def __init__(self, cfg: PaginationSettings) -> None:
        self.cfg = cfg

    def first(self, request: RequestSpec) -> RequestSpec:
        return request

    def next(self, page: Page) -> RequestSpec | None:
        return None


NoPaginator = Paginator


class IndexedPaginator(Paginator):
    """Pages addressed by number; a short page must be the last one (else the server caps the size)."""

    position_param: ClassVar[str]
    """The setting that names the query parameter moving from page to page (``PageGuard``'s messages)."""

    def __init__(self, cfg: PaginationSettings) -> None:
        super().__init__(cfg)
        self._short_page: int | None = None

    def request_at(self, request: RequestSpec, index: int) -> RequestSpec:
        raise NotImplementedError

    def first(self, request: RequestSpec) -> RequestSpec:
        self._base = request
        return self.request_at(request, 0)

    def next(self, page: Page) -> RequestSpec | None:
        count = len(page.records or ())
        if self._short_page is not None and count:
            raise ApiError(
                f"page {self._short_page + 1} of {page.url} returned fewer than page_size="
                f"{self.cfg.page_size} records but page {page.index + 1} has more: the server caps the page "
                "size, so records would be skipped; set pagination.page_size to the server's maximum"
            )
        if count < self.cfg.page_size:
            self._short_page = page.index
        return self.request_at(self._base, page.index + 1)

    def page_count(self, total: int) -> int:
        """Pages needed for ``total`` records."""
        return math.ceil(total / self.cfg.page_size)


class OffsetPaginator(IndexedPaginator):
    """``?offset=0&limit=100``, then ``offset=100``, ...::

    pagination: {type: offset, page_size: 100, offset_param: offset, limit_param: limit, total_path: total}
    """

    type_name = "offset"
    position_param = "offset_param"

    def request_at(self, request: RequestSpec, index: int) -> RequestSpec:
        size = self.cfg.page_size
        return request.with_params(**{self.cfg.offset_param: index * size, self.cfg.limit_param: size})

    def next(self, page: Page) -> RequestSpec | None:
        count = len(page.records or ())
        if count > self.cfg.page_size:
            raise ApiError(
                f"page {page.index + 1} of {page.url} returned {count} records, more than page_size="
                f"{self.cfg.page_size}: the server does not honour limit_param '{self.cfg.limit_param}', so "
                "the next offset would read records again; set pagination.page_size (or limit_param) to what "
                "the server sends"
            )
        return super().next(page)


class PageNumberPaginator(IndexedPaginator):
    """``?page=1&page_size=100``, then ``page=2``, ...::

    pagination: {type: page, page_size: 100, page_param: page, page_size_param: per_page, start_page: 1}
    """

    type_name = "page"
    position_param = "page_param"

    def request_at(self, request: RequestSpec, index: int) -> RequestSpec:
        params: dict[str, Any] = {self.cfg.page_param: self.cfg.start_page + index}
        if self.cfg.page_size_param:
            params[self.cfg.page_size_param] = self.cfg.page_size
        return request.with_params(**params)


class CursorPaginator(Paginator):
    """The next page's cursor comes in the body and goes back as a query param::

    pagination: {type: cursor, cursor_path: meta.next_cursor, cursor_param: cursor, initial_cursor: null}

    A missing, null or empty-string cursor ends the run (Slack's ``next_cursor`` is ``""`` on the last
    page; sent back, it would restart the listing), unless ``has_more_path`` says more follow
    (``PageGuard``); a cursor seen before is an error (the next request would loop).
    """

    type_name = "cursor"

    def __init__(self, cfg: PaginationSettings) -> None:
        super().__init__(cfg)
        self._seen: set[str] = set()

    def first(self, request: RequestSpec) -> RequestSpec:
        self._base = request
        if self.cfg.initial_cursor is not None:
            self._seen.add(str(self.cfg.initial_cursor))
            return request.with_params(**{self.cfg.cursor_param: self.cfg.initial_cursor})
        return request

    def next(self, page: Page) -> RequestSpec | None:
        path = str(self.cfg.cursor_path)
        cursor = lookup(page.body, path, what="cursor_path", url=page.url, default=None)
        if cursor is None:
            return None
        cursor = str(cursor)
        if cursor == "":  # Slack's "no further results"; sent back, it would restart the listing
            return None
        if cursor in self._seen:
            raise ApiError(
                f"cursor_path '{path}' of {page.url} repeated cursor '{cursor}' on page "
                f"{page.index + 1}: the API would loop"
            )
        self._seen.add(cursor)
        return self._base.with_params(**{self.cfg.cursor_param: cursor})


class _UrlPaginator(Paginator):
    """Follows absolute or relative next-page URLs; a URL seen before is an error. A link to another host
    (or port, or from https to http) is followed without the source's credentials, as browsers and HTTP
    clients do on redirects: the server's response must not be able to send them elsewhere."""

    def __init__(self, cfg: PaginationSettings) -> None:
        super().__init__(cfg)
        self._seen: set[str] = set()

    def first(self, request: RequestSpec) -> RequestSpec:
        self._base = request
        self._seen.add(str(httpx.URL(request.url).copy_merge_params(query_params(request.params))))
        return request

    def next_url(self, page: Page) -> str | None:
        raise NotImplementedError

    def next(self, page: Page) -> RequestSpec | None:
        link = self.next_url(page)
        if not link:
            return None
        url = urljoin(str(page.response.url), link)
        if url in self._seen:
            raise ApiError(
                f"{self.type_name} pagination of {page.url}: page {page.index + 1} links to a URL "
                "already fetched; the API would loop"
            )
        self._seen.add(url)
        return replace(self._base, url=url, params={}, credentials=_trusted(self._base.url, url))


def _trusted(origin: str, link: str) -> bool:
    """Whether a request to ``link`` may carry the credentials of ``origin``: the same host and port and
    scheme, or the same host moving from http to https on the default ports."""
    a, b = httpx.URL(origin), httpx.URL(link)
    if a.host != b.host:
        return False
    if (a.scheme, a.port) == (b.scheme, b.port):
        return True
    return a.scheme == "http" and b.scheme == "https" and a.port is None and b.port is None


class LinkHeaderPaginator(_UrlPaginator):
    """RFC 8288 ``Link: <https://api/items?page=2>; rel="next"`` (any case; ``rel`` may list several)::

    pagination: {type: link_header}
    """

    type_name = "link_header"

    def next_url(self, page: Page) -> str | None:
        # RFC 8288 §3.3: parameter names and relation types are case-insensitive, and ``rel`` may hold
        # several space-separated types (``rel="next last"``); httpx keys its ``links`` by the raw value.
        for link in page.response.links.values():
            rel = next((str(v) for k, v in link.items() if k.lower() == "rel"), "")
            if "next" in rel.lower().split():
                return link.get("url")
        return None


class NextUrlPaginator(_UrlPaginator):
    """The next page's URL in the body::

    pagination: {type: next_url, next_url_path: links.next}
    """

    type_name = "next_url"

    def next_url(self, page: Page) -> str | None:
        path = str(self.cfg.next_url_path)
        value = lookup(page.body, path, what="next_url_path", url=page.url, default=None)
        return str(value) if value else None


PAGINATORS: dict[str, type[Paginator]] = {
    cls.type_name: cls
    for cls in (
        Paginator,
        OffsetPaginator,
        PageNumberPaginator,
        CursorPaginator,
        LinkHeaderPaginator,
        NextUrlPaginator,
    )
}


def create_paginator(cfg: PaginationSettings) -> Paginator:
    return PAGINATORS[cfg.type](cfg)


class PageGuard:
    """The rules every paginator obeys, applied to each page in order.

    ``after(page)`` returns the next request or None; it raises when going on would loop or lose data:
    ``max_pages`` reached with more to fetch, a ``total_path`` total that disagrees with what was fetched,
    or an empty offset/page page that ``has_more_path`` says is not the last. An empty page ends the run
    unless ``has_more_path`` says more follow: a cursor or next link is then followed (an API may return an
    empty page mid-listing), its loop guards still apply.

    Numbered (offset/page) pages address positions, so two more rules hold for them: a page may not repeat
    the page before it (the server ignores the parameter that moves, a misnamed ``offset_param`` or
    ``page_param``, and sends its first page for every request), and the ``total_path`` total may not
    change between pages (records added or removed while the run pages shift the positions: one is read
    twice or skipped, and the count at the end may still match).
    """

    def __init__(self, paginator: Paginator) -> None:
        self.paginator = paginator
        self.cfg = paginator.cfg
        self.pages = 0
        self.records = 0
        self.total: int | None = None
        self._previous: list[Any] | None = None

    def after(self, page: Page) -> RequestSpec | None:
        self.pages += 1
        self.records += len(page.records or ())
        url = page.url
        paginator = self.paginator
        indexed = isinstance(paginator, IndexedPaginator)
        if isinstance(paginator, IndexedPaginator) and page.records and page.records == self._previous:
            param = paginator.position_param
            raise ApiError(
                f"page {page.index + 1} of {url} holds the same records as page {page.index}: the server "
                f"ignores {param} '{getattr(self.cfg, param)}' and sends one page for every request (it "
                f"would land again and again, the other records never); set pagination.{param} to the "
                "parameter the API pages with"
            )
        self._previous = page.records if indexed else None
        if self.cfg.total_path:
            total = lookup(page.body, self.cfg.total_path, what="total_path", url=url, default=None)
            if total is not None:
                try:
                    count = int(total)
                except (TypeError, ValueError):
                    raise ApiError(
                        f"total_path '{self.cfg.total_path}' of {url} is {total!r}, not a number"
                    ) from None
                if indexed and self.total is not None and count != self.total:
                    raise ApiError(
                        f"total_path '{self.cfg.total_path}' of {url} changed from {self.total} to {count} "
                        f"on page {page.index + 1}: records were added or removed while the run paged, so "
                        "the numbered pages shifted and a record may have been read twice or skipped; run "
                        "again, or prefer cursor or next-link pagination for data that changes"
                    )
                self.total = count
        more = self._more(page)
        if more is False or self._reached_total(page) or (not page.records and more is None):
            self._check_total(url)
            return None
        if not page.records and isinstance(self.paginator, IndexedPaginator):
            raise ApiError(
                f"page {page.index + 1} of {url} is empty but has_more_path '{self.cfg.has_more_path}' says "
                "more pages follow; numbered pages cannot skip past it (records would be lost or the run "
                "would not end)"
            )
        following = self.paginator.next(page)
        if following is None and more:
            raise ApiError(
                f"page {page.index + 1} of {url} has no link to the next page ({self._link()} null, empty "
                f"or missing), but has_more_path "
                f"'{self.cfg.has_more_path}' says more pages follow: ending there would commit part of the "
                "listing as the whole of it"
            )
        if following is None:
            self._check_total(url)
            return None
        if self.cfg.max_pages is not None and self.pages >= self.cfg.max_pages:
            raise ApiError(
                f"pagination of {url} reached max_pages={self.cfg.max_pages} with more pages to fetch; "
                "raise pagination.max_pages or narrow the request"
            )
        return following

    def _link(self) -> str:
        """What links a page to the next, for messages."""
        if self.cfg.type == "cursor":
            return f"cursor_path '{self.cfg.cursor_path}'"
        if self.cfg.type == "next_url":
            return f"next_url_path '{self.cfg.next_url_path}'"
        return 'its Link header rel="next"'

    def _more(self, page: Page) -> bool | None:
        """What ``has_more_path`` says of the pages after ``page``; None without one, or when the body is
        null (a 204, a ``null`` body: no record list, which ends the listing after the first page)."""
        if not self.cfg.has_more_path or page.body is None:
            return None
        more = lookup(page.body, self.cfg.has_more_path, what="has_more_path", url=page.url)
        if isinstance(more, str):
            return more.strip().lower() not in ("false", "0", "no", "")
        return bool(more)

    def _reached_total(self, page: Page) -> bool:
        if self.total is None or not isinstance(self.paginator, IndexedPaginator):
            return False
        return page.index + 1 >= self.paginator.page_count(self.total)

    def _check_total(self, url: str) -> None:
        if self.total is not None and self.total != self.records:
            raise ApiError(
                f"{url} reported a total of {self.total} records (total_path '{self.cfg.total_path}') but "
                f"{self.records} were fetched over {self.pages} page(s); the data changed during the run or "
                "the pagination settings do not match the API"
            )
