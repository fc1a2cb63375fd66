"""A programmable REST API on a real socket: every pagination style, every auth type, injected faults.

``FakeApi`` is the state the app reads on each request; tests change it (dataset, auth, faults) and read
``log`` (what the server saw, with arrival times). Routes: ``/{style}/items`` for style in offset, page,
cursor, link, next, none; ``/token`` (OAuth2 client credentials).
"""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

CLIENT_ID, CLIENT_SECRET = "client-1", "s3cret-client"
TOKEN, API_KEY, USER, PASSWORD = "tok-abc123", "key-xyz789", "alice", "pa55word"


@dataclass
class Hit:
    at: float
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class FakeApi:
    records: list[dict[str, Any]] = field(default_factory=list)
    auth: str = "none"  # none | bearer | basic | api_key_header | api_key_param | oauth2
    max_page_size: int = 10_000
    min_page_size: int = 1
    """offset: pages hold at least this many records, whatever the limit asked (a server that ignores it)."""
    latency: float = 0.0
    fault: Callable[[int, Request], Response | float | None] | None = None
    """Called with the 1-based number of the data request: a Response to send instead, seconds to stall."""
    repeat_cursor: bool = False
    link_base: str = ""
    """Prefix of the next-page links (link and next styles): another host's base URL, say."""
    echo_params: bool = False
    """Next-page links repeat the other query parameters of the request (an API key too), as many APIs do."""
    link_rel: str = 'rel="next"'
    """The relation parameter of the Link header's next link (RFC 8288 allows any case, several types)."""
    repeat_link: bool = False
    """Next-page links always point at page 2 (a loop)."""
    empty_cursor: bool = False
    total_offset: int = 0
    token_lifetime_requests: int | None = None
    token_fault: Callable[[int], Response | None] | None = None
    """Called with the 1-based number of the token request: a Response to send instead."""
    token_requests: int = 0
    tokens_issued: int = 0
    log: list[Hit] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _token_uses: dict[str, int] = field(default_factory=dict)

    def data_hits(self) -> list[Hit]:
        return [h for h in self.log if h.path != "/token"]


def build_app(holder: dict[str, FakeApi]) -> Starlette:
    async def token(request: Request) -> Response:
        api = holder["api"]
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        with api._lock:
            api.token_requests += 1
            number = api.token_requests
        if api.token_fault is not None and (outcome := api.token_fault(number)) is not None:
            return outcome
        if request.headers.get("authorization") != f"Basic {expected}":
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        if form.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        with api._lock:
            api.tokens_issued += 1
            value = f"oauth-{api.tokens_issued}"
            api._token_uses[value] = 0
        api.log.append(Hit(time.monotonic(), "/token", {}, dict(request.headers)))
        return JSONResponse({"access_token": value, "token_type": "bearer", "expires_in": 3600})

    async def items(request: Request) -> Response:
        api = holder["api"]
        style = request.path_params["style"]
        query = dict(request.query_params)
        body = await request.body()
        with api._lock:
            api.log.append(Hit(time.monotonic(), request.url.path, query, dict(request.headers)))
            api.bodies.append(body)
            number = len(api.data_hits())
        if api.latency:
            await asyncio.sleep(api.latency)
        denied = _check_auth(api, request)
        if denied is not None:
            return denied
        if api.fault is not None:
            outcome = api.fault(number, request)
            if isinstance(outcome, Response):
                return outcome
            if isinstance(outcome, int | float):
                await asyncio.sleep(outcome)
        return _page(api, style, query)

    return Starlette(
        routes=[
            Route("/token", token, methods=["POST"]),
            Route("/{style}/items", items, methods=["GET", "POST"]),
        ]
    )


def _check_auth(api: FakeApi, request: Request) -> Response | None:
    h, q = request.headers, request.query_params
    ok = {
        "none": lambda: True,
        "bearer": lambda: h.get("authorization") == f"Bearer {TOKEN}",
        "basic": lambda: (
            h.get("authorization") == "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        ),
        "api_key_header": lambda: h.get("x-api-key") == API_KEY,
        "api_key_param": lambda: q.get("api_key") == API_KEY,
        "oauth2": lambda: _oauth_ok(api, h.get("authorization", "")),
    }[api.auth]()
    return None if ok else JSONResponse({"error": "unauthorized"}, status_code=401)


def _oauth_ok(api: FakeApi, header: str) -> bool:
    value = header.removeprefix("Bearer ")
    with api._lock:
        if value not in api._token_uses:
            return False
        api._token_uses[value] += 1
        limit = api.token_lifetime_requests
        return limit is None or api._token_uses[value] <= limit


def _page(api: FakeApi, style: str, q: dict[str, str]) -> Response:
    rows = api.records
    if "updated_since" in q:  # an inclusive "changed since" filter, as most APIs have, on instants
        since = _instant(q["updated_since"])
        rows = [r for r in rows if _instant(str(r["updated_at"])) >= since]
    if "since_id" in q:  # an inclusive "from this id on" filter (an id cursor)
        rows = [r for r in rows if r["id"] >= int(q["since_id"])]
    n = len(rows)
    if style == "none":
        return JSONResponse({"data": rows})
    if style == "offset":
        offset, size = int(q.get("offset", 0)), min(int(q.get("limit", 100)), api.max_page_size)
        size = max(size, api.min_page_size)
        return JSONResponse({"data": rows[offset : offset + size], "total": n + api.total_offset})
    if style == "page":
        page, size = int(q.get("page", 1)), min(int(q.get("page_size", 100)), api.max_page_size)
        chunk = rows[(page - 1) * size : page * size]
        return JSONResponse(
            {"data": chunk, "meta": {"total": n + api.total_offset, "has_more": page * size < n}}
        )
    size = min(int(q.get("size", 10)), api.max_page_size)
    if style == "cursor":
        start = int(q.get("cursor", "c0")[1:])
        end = start + size
        nxt: str | None = f"c{end}" if end < n else None
        if api.repeat_cursor and nxt:
            nxt = f"c{size}"
        if api.empty_cursor and nxt:
            nxt = ""
        return JSONResponse({"data": rows[start:end], "next": nxt, "has_more": nxt is not None})
    page = int(q.get("page", 1))
    chunk = rows[(page - 1) * size : page * size]
    extra = "".join(f"&{k}={v}" for k, v in q.items() if k not in ("page", "size")) if api.echo_params else ""
    target = 2 if api.repeat_link else page + 1
    following = f"{api.link_base}/{style}/items?page={target}&size={size}{extra}" if page * size < n else None
    if style == "link":
        headers = {"Link": f"<{following}>; {api.link_rel}"} if following else {}
        return JSONResponse(chunk, headers=headers)
    return JSONResponse({"data": chunk, "links": {"next": following}})


def _instant(text: str) -> datetime | str:
    """An ISO timestamp as the instant it names (a server compares times, not their spelling)."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return text
    return value if value.tzinfo else value.replace(tzinfo=UTC)
