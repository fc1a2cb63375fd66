"""API extractor benchmark: a local server with 20 ms latency per request, 1,000 pages of 100 records.

    .venv/bin/python benchmarks/api.py [--pages 1000]

(a) ``rate_limit_rps: 50``: total time against the limit's floor (pages / rate).
(b) no limit: ``use_async`` with ``prefetch_pages: 8`` against sequential, measured in the same run.
The server (uvicorn) runs in its own process, as a real API would, and pre-serialises its pages, so the
figures are the client's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sampledata"))
from api_server import serve  # noqa: E402

from medallion_assets.config.models import PlatformConfig, SourceEntry  # noqa: E402
from medallion_assets.extractors import ExtractContext, create_extractor  # noqa: E402
from medallion_resources.http.ratelimit import reset_buckets  # noqa: E402

LATENCY = 0.020
PAGE_SIZE = 100


def build_app(pages: int) -> Starlette:
    bodies = [
        json.dumps(
            {
                "data": [
                    {"id": p * PAGE_SIZE + i, "name": f"item {i}", "price": i * 1.5, "tags": ["a", "b"]}
                    for i in range(PAGE_SIZE)
                ],
                "total": pages * PAGE_SIZE,
            }
        ).encode()
        for p in range(pages)
    ]

    async def items(request: Request) -> Response:
        await asyncio.sleep(LATENCY)
        page = int(request.query_params.get("offset", 0)) // PAGE_SIZE
        body = bodies[page] if page < pages else json.dumps({"data": [], "total": pages * PAGE_SIZE}).encode()
        return Response(body, media_type="application/json")

    return Starlette(routes=[Route("/items", items)])


@contextmanager
def server_process(pages: int) -> Iterator[str]:
    """The benchmark API in its own process (``--serve``), so the client does not share its interpreter."""
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--pages", str(pages)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        line = ""
        while not line.startswith("URL "):  # skip anything else the interpreter prints first
            line = server.stdout.readline()
            if not line:
                raise RuntimeError("the benchmark server exited before serving")
        yield line.split(" ", 1)[1].strip()
    finally:
        server.terminate()
        server.wait(timeout=10)


def run(url: str, **api: object) -> tuple[float, int, dict]:
    reset_buckets()
    entry = SourceEntry.model_validate(
        {
            "source": {
                "system": "bench",
                "table": "items",
                "type": "api",
                "api": {
                    "base_url": url,
                    "endpoint": "/items",
                    "data_path": "data",
                    "pagination": {"type": "offset", "page_size": PAGE_SIZE, "total_path": "total"},
                    **api,
                },
            }
        }
    )
    platform = PlatformConfig.model_validate(
        {"bronze": {"local_path": "/tmp/b"}, "silver": {"local_path": "/tmp/s"}}
    )
    extractor = create_extractor(entry, platform)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    ctx = ExtractContext(date(2025, 1, 1), start, start + timedelta(days=1))
    t0 = time.perf_counter()
    rows = sum(batch.num_rows for batch in extractor.extract(ctx))
    return time.perf_counter() - t0, rows, extractor.stats


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--serve", action="store_true", help="only run the server (used by the benchmark)")
    args = parser.parse_args()
    pages = args.pages
    if args.serve:
        with serve(build_app(pages)) as url:
            print(f"URL {url}", flush=True)
            while True:
                time.sleep(3600)
    with server_process(pages) as url:
        run(url, rate_limit_rps=0, max_retries=0)  # warm up imports and the server
        rate = 50
        limited, rows_a, stats = run(url, rate_limit_rps=rate, burst=1)
        floor = pages / rate
        print(f"(a) rate_limit_rps={rate}: {limited:.2f} s for {rows_a} rows / {stats['pages']} pages; "
              f"floor {floor:.2f} s -> {limited / floor:.3f}x the floor (target <= 1.10)")  # fmt: skip
        limited_async, _, _ = run(url, rate_limit_rps=rate, burst=1, use_async=True, prefetch_pages=8)
        print(f"(a) rate_limit_rps={rate} with use_async prefetch_pages=8: {limited_async:.2f} s -> "
              f"{limited_async / floor:.3f}x the floor")  # fmt: skip
        sequential, rows_s, _ = run(url, rate_limit_rps=0)
        prefetch, rows_p, _ = run(url, rate_limit_rps=0, use_async=True, prefetch_pages=8)
        assert rows_s == rows_p == rows_a == pages * PAGE_SIZE
        print(f"(b) no limit: sequential {sequential:.2f} s ({pages / sequential:.0f} pages/s), use_async "
              f"prefetch_pages=8 {prefetch:.2f} s ({pages / prefetch:.0f} pages/s) -> "
              f"{sequential / prefetch:.2f}x faster (target >= 4x)")  # fmt: skip


if __name__ == "__main__":
    main()
