"""The token bucket under load (sync and concurrent async) and the exactness property under random faults."""

from __future__ import annotations

import threading
import time

import pytest
from fake_api import FakeApi
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.responses import JSONResponse, Response
from test_api_extractor import extractor, rows

from medallion_resources.http.ratelimit import TokenBucket, bucket_for_host, reset_buckets
from medallion_resources.http.retry import retry_after_seconds


def max_in_window(times: list[float], window: float = 1.0) -> int:
    """Most requests whose arrival falls in any interval [t, t + window)."""
    times = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] < t - window + 1e-9:
            j += 1
        best = max(best, i - j + 1)
    return best


class TestTokenBucket:
    def test_threads_sharing_a_host_never_exceed_rate_plus_burst(self) -> None:
        bucket = bucket_for_host("rate.test:1", 40, 5)
        stamps: list[float] = []
        lock = threading.Lock()

        def worker() -> None:
            for _ in range(15):
                while (wait := bucket.acquire()) > 0:
                    time.sleep(wait)
                with lock:
                    stamps.append(time.monotonic())

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert max_in_window(stamps) <= 40 + 5
        assert stamps and max(stamps) - min(stamps) >= (60 - 5) / 40 * 0.9

    def test_the_strictest_limit_of_a_host_wins(self) -> None:
        a = bucket_for_host("shared.test:1", 20, 10)
        b = bucket_for_host("shared.test:1", 5, 2)
        assert a is b and (a.rate, a.burst) == (5, 2)
        reset_buckets()
        assert bucket_for_host("shared.test:1", 20, 10).rate == 20

    def test_a_full_bucket_serves_the_burst_without_waiting(self) -> None:
        bucket = TokenBucket(1, 3)
        assert [bucket.acquire() > 0 for _ in range(4)] == [False, False, False, True]
        assert 0.9 < bucket.acquire() <= 1.0


@pytest.mark.parametrize("use_async", [False, True])
def test_measured_request_rate_never_exceeds_the_limit(api: FakeApi, base_url: str, use_async: bool) -> None:
    api.records = [{"id": i} for i in range(60)]
    flag = str(use_async).lower()
    extra = f"    rate_limit_rps: 20\n    burst: 4\n    use_async: {flag}\n    prefetch_pages: 8"
    ex = extractor(base_url, "offset", extra)  # (the later rate_limit_rps key wins over the helper's 0)
    ex.config.pagination.__dict__["page_size"] = 2  # 30 pages
    started = time.monotonic()
    assert rows(ex) == api.records
    elapsed = time.monotonic() - started
    arrivals = [h.at for h in api.data_hits()]
    assert len(arrivals) >= 30
    assert max_in_window(arrivals) <= 20 + 4 + 1  # +1: arrival jitter at a window's edge
    assert elapsed >= (len(arrivals) - 4) / 20 * 0.9
    assert ex.stats["throttled_seconds"] > 0


@pytest.mark.parametrize(
    "header, low, high", [("3", 3, 3), ("0", 0, 0), ("-5", 0, 0), ("soon", None, None), ("99999", 300, 300)]
)
def test_retry_after_seconds_form(header: str, low: float | None, high: float | None) -> None:
    import httpx

    value = retry_after_seconds(httpx.Response(429, headers={"Retry-After": header}))
    assert value == low == high if low is not None else value is None


def test_retry_after_is_ignored_on_other_statuses() -> None:
    import httpx

    assert retry_after_seconds(httpx.Response(500, headers={"Retry-After": "3"})) is None


FAULTS = st.sampled_from([None, None, None, 429, 500, 502, 503, "slow"])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    count=st.integers(0, 60),
    page_size=st.integers(1, 13),
    style=st.sampled_from(["offset", "page", "cursor", "link", "next"]),
    use_async=st.booleans(),
    faults=st.lists(FAULTS, min_size=0, max_size=12),
)
def test_extracted_records_equal_the_servers_dataset(
    fake_server, count: int, page_size: int, style: str, use_async: bool, faults: list
) -> None:
    """Whatever the page size, record count, style and injected 429/5xx/timeouts: each record once."""
    base_url, holder = fake_server
    reset_buckets()
    api = holder["api"] = FakeApi()
    api.records = [{"id": i, "v": f"r{i}"} for i in range(count)]
    plan = dict(enumerate(faults, start=1))

    def fault(n: int, request) -> Response | float | None:
        kind = plan.get(n)
        if kind == "slow":
            return 0.5
        if kind == 429:
            return JSONResponse({}, 429, headers={"Retry-After": "0"})
        return JSONResponse({}, kind) if kind else None

    api.fault = fault
    pagination = {
        "offset": f"{{type: offset, page_size: {page_size}}}",
        "page": f"{{type: page, page_size: {page_size}, total_path: meta.total}}",
        "cursor": "{type: cursor, cursor_path: next}",
        "link": "{type: link_header}",
        "next": "{type: next_url, next_url_path: links.next}",
    }[style]
    size_param = f"\n    params: {{size: {page_size}}}" if style in ("cursor", "link", "next") else ""
    extra = (
        f"    pagination: {pagination}\n    max_retries: 20\n    timeout_seconds: 0.25\n"
        f"    use_async: {str(use_async).lower()}\n    prefetch_pages: 4{size_param}"
    )
    ex = extractor(base_url, style, extra)
    assert rows(ex) == api.records
    assert ex.stats["retries"] >= 0 and ex.stats["requests"] >= ex.stats["pages"]
