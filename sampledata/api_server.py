"""A small local REST API over the generated sample tickets, so the demo exercises the API extractor.

    python sampledata/api_server.py [--sample-dir DIR] [--port 0] -- COMMAND [ARGS...]

starts the API on 127.0.0.1 (a free port unless ``--port``), runs COMMAND with ``MEDALLION_SAMPLE_API_URL``
pointing at it (and ``MEDALLION_SAMPLE_API_TOKEN`` defaulted to ``demo-token``), stops the API when
COMMAND ends and exits with COMMAND's status. Without COMMAND it serves until interrupted. ``make demo``
and ``make ui`` run through it.

The API: ``GET /v1/tickets?updated_from=ISO&updated_to=ISO&page=N&per_page=M`` with
``Authorization: Bearer <token>`` answers ``{"data": [tickets], "meta": {"page", "per_page", "total"}}``:
the tickets (``generated/support/tickets.json``) whose ``updated_at`` is in ``[updated_from, updated_to)``,
in ``updated_at, ticket_id`` order.

``serve(app)`` (a uvicorn server in a thread on a free port) is also what the tests and benchmarks use.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

DEFAULT_SAMPLE_DIR = Path(
    os.environ.get("MEDALLION_SAMPLE_DIR") or Path(__file__).resolve().parent / "generated"
)
TOKEN_ENV = "MEDALLION_SAMPLE_API_TOKEN"
URL_ENV = "MEDALLION_SAMPLE_API_URL"
DEFAULT_TOKEN = "demo-token"


@contextlib.contextmanager
def serve(app, port: int = 0) -> Iterator[str]:
    """Run ``app`` with uvicorn in a daemon thread on 127.0.0.1; yields its base URL, stops on exit."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False, backlog=512)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the local API server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def build_sample_app(sample_dir: Path, token: str) -> Starlette:
    """The tickets API over ``sample_dir/support/tickets.json`` (read on each request: it is small)."""

    async def tickets(request: Request) -> JSONResponse:
        if request.headers.get("authorization") != f"Bearer {token}":
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        q = request.query_params
        try:
            start = _instant(q.get("updated_from"))
            end = _instant(q.get("updated_to"))
            page, per_page = int(q.get("page", "1")), min(int(q.get("per_page", "50")), 100)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        rows = json.loads((sample_dir / "support" / "tickets.json").read_text(encoding="utf-8"))
        rows = [
            r
            for r in rows
            if (start is None or _instant(r["updated_at"]) >= start)
            and (end is None or _instant(r["updated_at"]) < end)
        ]
        rows.sort(key=lambda r: (r["updated_at"], r["ticket_id"]))
        chunk = rows[(page - 1) * per_page : page * per_page]
        return JSONResponse({"data": chunk, "meta": {"page": page, "per_page": per_page, "total": len(rows)}})

    return Starlette(routes=[Route("/v1/tickets", tickets)])


def _instant(text: str | None) -> datetime | None:
    if not text:
        return None
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample-dir", type=Path, default=DEFAULT_SAMPLE_DIR)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    token = os.environ.get(TOKEN_ENV) or DEFAULT_TOKEN
    with serve(build_sample_app(args.sample_dir, token), args.port) as url:
        env = {**os.environ, URL_ENV: url, TOKEN_ENV: token}
        print(f"sample API on {url}", flush=True)
        if not command:
            with contextlib.suppress(KeyboardInterrupt):
                threading.Event().wait()
            return 0
        try:
            return subprocess.call(command, env=env)
        except KeyboardInterrupt:
            return 130


if __name__ == "__main__":
    sys.exit(main())
