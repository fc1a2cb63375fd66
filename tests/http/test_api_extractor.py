"""``ApiExtractor`` from YAML-shaped config against a real local API: pagination, auth, faults, stats."""

from __future__ import annotations

import json
import logging
import re
import time
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pyarrow as pa
import pytest
import yaml
from fake_api import API_KEY, CLIENT_ID, CLIENT_SECRET, PASSWORD, TOKEN, USER, FakeApi
from starlette.responses import JSONResponse, Response

from medallion_assets.config.models import PlatformConfig, SourceEntry
from medallion_assets.errors import ApiError
from medallion_assets.extractors import ExtractContext, create_extractor
from medallion_assets.extractors.api import ApiExtractor

PLATFORM = PlatformConfig.model_validate(
    {"bronze": {"local_path": "/tmp/x"}, "silver": {"local_path": "/tmp/y"}}
)
RECORDS = [{"id": i, "name": f"n{i}", "updated_at": f"2025-01-02T00:{i % 60:02d}:00Z"} for i in range(1, 48)]

PAGINATION_YAML = {
    "offset": "{type: offset, page_size: 10, total_path: total}",
    "page": "{type: page, page_size: 10, page_size_param: page_size, total_path: meta.total}",
    "cursor": "{type: cursor, cursor_path: next, cursor_param: cursor, page_size: 10}",
    "link": "{type: link_header}",
    "next": "{type: next_url, next_url_path: links.next}",
    "none": "{type: none}",
}
DATA_PATH = {"offset": "data", "page": "data", "cursor": "data", "link": None, "next": "data", "none": "data"}


def context(run_date: date = date(2025, 1, 2), watermark_in: str | None = None) -> ExtractContext:
    start = datetime(run_date.year, run_date.month, run_date.day, tzinfo=UTC)
    return ExtractContext(run_date, start, start + timedelta(days=1), watermark_in)


def extractor(base_url: str, style: str, extra: str = "") -> ApiExtractor:
    """The extractor of a source written in YAML, as a user would."""
    text = f"""
source:
  system: shop
  table: items
  type: api
  api:
    base_url: {base_url}
    endpoint: /{style}/items
    pagination: {PAGINATION_YAML[style]}
    rate_limit_rps: 0
    retry_backoff_seconds: 0.01
{extra}
"""
    entry = yaml.safe_load(text)
    if entry["source"]["api"].get("incremental") is not None:  # load_pattern full would refuse it
        entry["source"]["run"] = {"load_pattern": "incremental"}
        entry["silver"] = {"model": "periodic_snapshot"}  # no keys needed: Silver is not under test
    if DATA_PATH[style]:
        entry["source"]["api"].setdefault("data_path", DATA_PATH[style])
    ex = create_extractor(SourceEntry.model_validate(entry), PLATFORM)
    assert isinstance(ex, ApiExtractor)
    return ex


def rows(ex: ApiExtractor, ctx: ExtractContext | None = None) -> list[dict[str, Any]]:
    return [r for b in ex.extract(ctx or context()) for r in b.to_pylist()]


def oauth_yaml(base_url: str, secret_env: str) -> str:
    return (
        f"    auth: {{type: oauth2_client_credentials, token_url: {base_url}/token, client_id_env: T_CID, "
        f"client_secret_env: {secret_env}}}"
    )


class TestPagination:
    @pytest.mark.parametrize("style", ["offset", "page", "cursor", "link", "next", "none"])
    @pytest.mark.parametrize("use_async", [False, True])
    def test_every_style_returns_every_record_once(
        self, api: FakeApi, base_url: str, style: str, use_async: bool
    ) -> None:
        api.records = RECORDS
        extra = f"    use_async: {str(use_async).lower()}\n    prefetch_pages: 3"
        ex = extractor(base_url, style, extra)
        assert rows(ex) == RECORDS
        pages = 1 if style == "none" else 5
        assert ex.stats["pages"] == pages
        assert ex.stats["requests"] >= pages and ex.stats["retries"] == 0
        assert ex.stats["endpoint"] == f"{base_url}/{style}/items"

    def test_offset_sends_offset_and_limit(self, api: FakeApi, base_url: str) -> None:
        api.records = RECORDS
        rows(extractor(base_url, "offset"))
        assert [(h.query["offset"], h.query["limit"]) for h in api.data_hits()] == [
            ("0", "10"),
            ("10", "10"),
            ("20", "10"),
            ("30", "10"),
            ("40", "10"),
        ]  # fmt: skip  (the known total stops it: no empty page asked for)

    def test_page_stops_on_has_more_false(self, api: FakeApi, base_url: str) -> None:
        api.records = RECORDS
        ex = extractor(
            base_url, "page", "    pagination: {type: page, page_size: 10, has_more_path: meta.has_more}"
        )
        assert rows(ex) == RECORDS and len(api.data_hits()) == 5

    def test_without_total_an_empty_page_ends_the_run(self, api: FakeApi, base_url: str) -> None:
        api.records = RECORDS[:20]
        ex = extractor(base_url, "offset", "    pagination: {type: offset, page_size: 10}")
        assert rows(ex) == RECORDS[:20]
        assert [h.query["offset"] for h in api.data_hits()] == ["0", "10", "20"]
        assert ex.stats["pages"] == 3

    def test_a_server_that_caps_the_page_size_fails_loudly(self, api: FakeApi, base_url: str) -> None:
        api.records, api.max_page_size = RECORDS, 7
        ex = extractor(base_url, "offset", "    pagination: {type: offset, page_size: 10}")
        with pytest.raises(ApiError, match=r"fewer than page_size=10 .* server caps the page size"):
            rows(ex)

    def test_a_total_that_disagrees_fails(self, api: FakeApi, base_url: str) -> None:
        api.records, api.total_offset = RECORDS, 3
        with pytest.raises(ApiError, match=r"reported a total of 50 records .* but 47 were fetched"):
            rows(extractor(base_url, "offset"))

    def test_repeated_cursor_fails(self, api: FakeApi, base_url: str) -> None:
        api.records, api.repeat_cursor = RECORDS, True
        with pytest.raises(ApiError, match=r"repeated cursor 'c10' on page 2"):
            rows(extractor(base_url, "cursor"))

    def test_an_empty_string_cursor_where_has_more_says_more_follow_fails(
        self, api: FakeApi, base_url: str
    ) -> None:
        """``""`` ends a listing (Slack's convention), but not one whose ``has_more`` says more follow."""
        api.records, api.empty_cursor = RECORDS, True
        pagination = "{type: cursor, cursor_path: next, page_size: 10, has_more_path: has_more}"
        ex = extractor(base_url, "cursor", f"    pagination: {pagination}")
        with pytest.raises(ApiError, match=r"page 1 of .* \(cursor_path 'next' null, empty or missing\)"):
            rows(ex)

    def test_initial_cursor_is_sent_first(self, api: FakeApi, base_url: str) -> None:
        api.records = RECORDS
        ex = extractor(
            base_url, "cursor", "    pagination: {type: cursor, cursor_path: next, initial_cursor: c40}"
        )
        assert rows(ex) == RECORDS[40:]
        assert api.data_hits()[0].query["cursor"] == "c40"

    def test_max_pages_reached_fails(self, api: FakeApi, base_url: str) -> None:
        api.records = RECORDS
        ex = extractor(base_url, "link", "    pagination: {type: link_header, max_pages: 2}")
        with pytest.raises(ApiError, match=r"reached max_pages=2 with more pages to fetch"):
            rows(ex)

    def test_null_data_after_the_first_page_ends_the_run(self, api: FakeApi, base_url: str) -> None:
        api.records = RECORDS
        api.fault = lambda n, r: JSONResponse({"data": None}) if n == 2 else None
        ex = extractor(base_url, "offset", "    pagination: {type: offset, page_size: 10}")
        assert rows(ex) == RECORDS[:10] and ex.stats["pages"] == 2

    def test_null_data_on_the_first_page_is_an_error_unless_allow_empty(
        self, api: FakeApi, base_url: str
    ) -> None:
        api.fault = lambda n, r: JSONResponse({"data": None, "total": 0})
        pagination = "    pagination: {type: offset, page_size: 10}"
        with pytest.raises(ApiError, match=r"/offset/items.* null at data_path 'data' on the first page"):
            rows(extractor(base_url, "offset", pagination))
        ex = extractor(base_url, "offset", pagination + "\n    allow_empty: true")
        assert rows(ex) == [] and ex.stats["pages"] == 1

    def test_a_data_path_that_does_not_match_lists_the_keys(self, api: FakeApi, base_url: str) -> None:
        api.records = RECORDS
        ex = extractor(base_url, "offset", "    data_path: results.items")
        with pytest.raises(
            ApiError, match=r"data_path 'results.items': no key 'results' .* keys there: data, total"
        ):
            rows(ex)

    def test_an_object_without_data_path_is_an_error(self, api: FakeApi, base_url: str) -> None:
        api.records = RECORDS
        ex = extractor(base_url, "none")
        ex.config.__dict__["data_path"] = None  # as if the YAML had no data_path
        with pytest.raises(
            ApiError, match=r"not a list of records; set api.data_path .*keys at the top level: data"
        ):
            rows(ex)

    def test_malformed_json_fails_with_the_start_of_the_body(self, api: FakeApi, base_url: str) -> None:
        api.fault = lambda n, r: Response('{"data": [1, 2', media_type="application/json")
        with pytest.raises(ApiError, match=r"not valid JSON .* starts with '\{\"data\": \[1, 2'"):
            rows(extractor(base_url, "offset"))


class TestRecords:
    def test_nested_values_become_json_text_and_late_fields_widen(self, api: FakeApi, base_url: str) -> None:
        api.records = (
            [{"id": 1, "tags": ["a"], "meta": {"b": 1}}]
            + [{"id": i} for i in range(2, 11)]
            + [{"id": "x11", "late": True}]
        )
        batches = list(extractor(base_url, "offset").extract(context()))
        assert [b.num_rows for b in batches] == [10, 1]
        first, second = batches
        assert first.schema.field("tags").type == pa.string() and first.column("meta")[0].as_py() == '{"b":1}'
        assert first.schema.field("id").type == pa.int64() and second.schema.field("id").type == pa.string()
        assert second.to_pylist() == [{"id": "x11", "late": True}]


class TestTemplatesAndIncremental:
    def test_templates_fill_endpoint_params_and_body(self, api: FakeApi, base_url: str) -> None:
        api.records = RECORDS[:3]
        extra = """    method: POST
    params: {day: "{run_date:%Y%m%d}", since: "{watermark}", till: "{window_end}"}
    body: {filter: {from: "{window_start}"}, keep: "{other}"}"""
        ex = extractor(base_url, "none", extra)
        assert rows(ex, context(watermark_in="2025-01-01T05:00:00Z")) == RECORDS[:3]
        hit = api.data_hits()[0]
        assert hit.query == {
            "day": "20250102",
            "since": "2025-01-01T05:00:00Z",
            "till": "2025-01-03T00:00:00+00:00",
        }
        assert json.loads(api.bodies[0]) == {
            "filter": {"from": "2025-01-02T00:00:00+00:00"},
            "keep": "{other}",
        }

    def test_watermark_round_trip(self, api: FakeApi, base_url: str) -> None:
        api.records = RECORDS
        extra = (
            '    incremental: {cursor_field: updated_at, param: updated_since, initial_value: "2024-12-31"}'
        )
        first = extractor(base_url, "offset", extra)
        rows(first)
        assert api.data_hits()[0].query["updated_since"] == "2024-12-31"
        assert first.watermark_out == max(r["updated_at"] for r in RECORDS)
        second = extractor(base_url, "offset", extra)
        rows(second, context(date(2025, 1, 3), watermark_in=first.watermark_out))
        assert api.data_hits()[-1].query["updated_since"] == first.watermark_out

    def test_numeric_cursor_compares_as_numbers(self, api: FakeApi, base_url: str) -> None:
        api.records = [{"id": 9, "v": 9}, {"id": 10, "v": 10}]
        ex = extractor(base_url, "none", "    incremental: {cursor_field: v}")
        rows(ex)
        assert ex.watermark_out == "10"

    def test_a_numeric_watermark_in_compares_as_a_number_and_never_falls(
        self, api: FakeApi, base_url: str
    ) -> None:
        api.records = [{"id": 9, "v": 9}, {"id": 10, "v": 10}]
        first = extractor(base_url, "none", "    incremental: {cursor_field: v}")
        rows(first)
        assert first.watermark_out == "10" and first.boundary_hashes_out is not None
        assert len(first.boundary_hashes_out) == 1
        ctx = context(watermark_in="10")
        ctx = ExtractContext(
            ctx.run_date, ctx.window_start, ctx.window_end, "10", tuple(first.boundary_hashes_out)
        )
        api.records = [{"id": 9, "v": 9}, {"id": 10, "v": 10}, {"id": 11, "v": 10}]
        second = extractor(base_url, "none", "    incremental: {cursor_field: v}")
        assert rows(second, ctx) == [{"id": 9, "v": 9}, {"id": 11, "v": 10}]  # id 10 landed already
        assert second.watermark_out == "10" and second.stats["boundary_rows_dropped"] == 1
        assert len(second.boundary_hashes_out or []) == 2
        api.records = [{"id": 8, "v": 8}]
        third = extractor(base_url, "none", "    incremental: {cursor_field: v}")
        rows(third, context(watermark_in="10"))
        assert third.watermark_out == "10"

    def test_without_a_watermark_a_lone_watermark_param_is_left_out(
        self, api: FakeApi, base_url: str
    ) -> None:
        api.records = RECORDS[:1]
        rows(extractor(base_url, "none", '    params: {since: "{watermark}", x: "1"}'))
        assert api.data_hits()[0].query == {"x": "1"}


class TestAuth:
    @pytest.mark.parametrize(
        "mode, yaml_auth, env",
        [
            ("bearer", "{type: bearer, token_env: T_TOKEN}", {"T_TOKEN": TOKEN}),
            ("basic", "{type: basic, username_env: T_USER, password_env: T_PASS}",
             {"T_USER": USER, "T_PASS": PASSWORD}),
            ("api_key_header", "{type: api_key, key_env: T_KEY, key_header: X-API-Key}", {"T_KEY": API_KEY}),
            ("api_key_param", "{type: api_key, key_env: T_KEY, key_param: api_key}", {"T_KEY": API_KEY}),
        ],
    )  # fmt: skip
    def test_static_credentials(
        self,
        api: FakeApi,
        base_url: str,
        monkeypatch: pytest.MonkeyPatch,
        mode: str,
        yaml_auth: str,
        env: dict,
    ) -> None:
        api.records, api.auth = RECORDS, mode
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        ex = extractor(base_url, "page", f"    auth: {yaml_auth}")
        assert rows(ex) == RECORDS
        for key in env:
            monkeypatch.setenv(key, "wrong-value")
        with pytest.raises(ApiError, match=r"returned HTTP 401") as info:
            rows(extractor(base_url, "page", f"    auth: {yaml_auth}"))
        assert "wrong-value" not in str(info.value)

    def test_a_missing_secret_env_var_is_named(self, api: FakeApi, base_url: str, monkeypatch) -> None:
        monkeypatch.delenv("T_NOPE", raising=False)
        with pytest.raises(
            ApiError, match=r"api.auth.token_env names environment variable 'T_NOPE', which is not set"
        ):
            rows(extractor(base_url, "none", "    auth: {type: bearer, token_env: T_NOPE}"))

    def oauth(self, base_url: str, monkeypatch: pytest.MonkeyPatch) -> ApiExtractor:
        monkeypatch.setenv("T_CID", CLIENT_ID)
        monkeypatch.setenv("T_CSECRET", CLIENT_SECRET)
        return extractor(base_url, "page", oauth_yaml(base_url, "T_CSECRET"))

    def test_oauth2_token_is_fetched_once_and_cached(self, api: FakeApi, base_url: str, monkeypatch) -> None:
        api.records, api.auth = RECORDS, "oauth2"
        ex = self.oauth(base_url, monkeypatch)
        assert rows(ex) == RECORDS
        assert api.tokens_issued == 1 and ex.stats["pages"] == 5

    def test_oauth2_token_expiry_mid_run_refreshes_once(
        self, api: FakeApi, base_url: str, monkeypatch
    ) -> None:
        api.records, api.auth, api.token_lifetime_requests = RECORDS, "oauth2", 2
        ex = self.oauth(base_url, monkeypatch)
        assert rows(ex) == RECORDS
        assert api.tokens_issued == 3 and ex.stats["retries"] == 0

    def test_oauth2_bad_client_secret(self, api: FakeApi, base_url: str, monkeypatch) -> None:
        api.auth = "oauth2"
        monkeypatch.setenv("T_CID", CLIENT_ID)
        monkeypatch.setenv("T_BAD", "not-the-secret")
        ex = extractor(base_url, "page", oauth_yaml(base_url, "T_BAD"))
        with pytest.raises(
            ApiError, match=r"token request to .*/token returned HTTP 401 without an access_token"
        ):
            rows(ex)


class TestRetries:
    def test_429_with_retry_after_seconds(self, api: FakeApi, base_url: str) -> None:
        api.records = RECORDS
        api.fault = lambda n, r: JSONResponse({}, 429, headers={"Retry-After": "1"}) if n == 2 else None
        started = time.monotonic()
        ex = extractor(base_url, "offset")
        assert rows(ex) == RECORDS
        assert time.monotonic() - started >= 0.9
        assert ex.stats["retries"] == 1 and ex.stats["throttled_seconds"] >= 1.0

    def test_503_with_retry_after_http_date(self, api: FakeApi, base_url: str) -> None:
        api.records = RECORDS
        when = format_datetime(datetime.now(UTC) + timedelta(seconds=2), usegmt=True)
        hits: list[float] = []

        def fault(n: int, r: Any) -> Response | None:
            hits.append(time.monotonic())
            return JSONResponse({}, 503, headers={"Retry-After": when}) if n == 1 else None

        api.fault = fault
        ex = extractor(base_url, "offset")
        assert rows(ex) == RECORDS
        assert hits[1] - hits[0] >= 0.5  # the date is whole seconds: at least ~1 s of the 2 remain
        assert ex.stats["retries"] == 1

    def test_a_burst_of_500s_and_503s_is_retried(self, api: FakeApi, base_url: str) -> None:
        api.records = RECORDS
        api.fault = lambda n, r: JSONResponse({}, 500 if n % 2 else 503) if n in (2, 3, 4, 7) else None
        ex = extractor(base_url, "page")
        assert rows(ex) == RECORDS
        assert ex.stats["retries"] == 4 and ex.stats["requests"] == 9

    def test_slow_responses_time_out_and_are_retried(self, api: FakeApi, base_url: str) -> None:
        api.records = RECORDS
        api.fault = lambda n, r: 1.5 if n == 1 else None
        ex = extractor(base_url, "offset", "    timeout_seconds: 0.3")
        assert rows(ex) == RECORDS and ex.stats["retries"] == 1

    def test_giving_up_names_the_url_and_the_last_status_without_secrets(
        self, api: FakeApi, base_url: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        api.auth = "api_key_param"
        monkeypatch.setenv("T_KEY", API_KEY)
        api.fault = lambda n, r: JSONResponse({"echo": API_KEY}, 502)
        ex = extractor(
            base_url,
            "offset",
            "    max_retries: 2\n    auth: {type: api_key, key_env: T_KEY, key_param: api_key}",
        )
        with pytest.raises(
            ApiError,
            match=r"GET http://127.0.0.1:\d+/offset/items\?.*failed after 3 attempt\(s\).*last: HTTP 502",
        ) as info:
            rows(ex)
        assert (
            API_KEY not in str(info.value)
            and "api_key=%2A%2A%2A" in str(info.value)
            or "api_key=***" in str(info.value)
        )
        assert info.value.status == 502 and len(api.data_hits()) == 3

    @pytest.mark.parametrize("use_async", [False, True])
    def test_httpxs_own_request_log_shows_no_credential(
        self,
        api: FakeApi,
        base_url: str,
        monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture,
        use_async: bool,
    ) -> None:
        """httpx logs every request's full URL at INFO. A user who lets that logger through (Dagster's
        ``python_logs.managed_python_loggers: [httpx]``, a root logger at INFO) saw the API key of a
        ``key_param`` auth in the run's logs."""
        api.records, api.auth = RECORDS, "api_key_param"
        monkeypatch.setenv("T_KEY", API_KEY)
        yaml_auth = "    auth: {type: api_key, key_env: T_KEY, key_param: api_key}"
        ex = extractor(base_url, "page", yaml_auth + ("\n    use_async: true" if use_async else ""))
        with caplog.at_level(logging.INFO, logger="httpx"):
            assert rows(ex) == RECORDS
        lines = [r.getMessage() for r in caplog.records if r.name == "httpx"]
        assert len(lines) == 5 and all("HTTP Request: GET http://127.0.0.1:" in line for line in lines), lines
        assert not [line for line in lines if API_KEY in line], lines
        assert all("api_key=***" in line for line in lines), lines

    def test_an_echoed_url_encoded_key_is_masked_in_the_error(
        self, api: FakeApi, base_url: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("T_KEY", "k3y/with+special=")
        api.fault = lambda n, r: JSONResponse({"error": f"bad key in {r.url}"}, 400)
        ex = extractor(base_url, "offset", "    auth: {type: api_key, key_env: T_KEY, key_param: apikey}")
        with pytest.raises(ApiError, match=r"returned HTTP 400: .*bad key in") as info:
            rows(ex)
        assert "k3y" not in str(info.value)

    def test_a_4xx_is_not_retried(self, api: FakeApi, base_url: str) -> None:
        api.fault = lambda n, r: JSONResponse({"error": "bad filter"}, 400)
        with pytest.raises(ApiError, match=r"returned HTTP 400: .*bad filter"):
            rows(extractor(base_url, "offset"))
        assert len(api.data_hits()) == 1

    def test_connection_refused_is_retried_then_reported(self) -> None:
        ex = extractor("http://127.0.0.1:9", "offset", "    max_retries: 1")
        with pytest.raises(
            ApiError, match=r"failed after 2 attempt\(s\).*last: ConnectError \(no response\)"
        ):
            rows(ex)


class TestCheck:
    def test_check_makes_one_authenticated_request(self, api: FakeApi, base_url: str, monkeypatch) -> None:
        api.records, api.auth = RECORDS, "bearer"
        monkeypatch.setenv("T_TOKEN", TOKEN)
        result = extractor(base_url, "page", "    auth: {type: bearer, token_env: T_TOKEN}").check()
        assert result.ok and re.search(r"HTTP 200 from .*/page/items, 10 record\(s\)", result.detail)
        assert len(api.data_hits()) == 1

    def test_check_reports_a_refusal(self, api: FakeApi, base_url: str, monkeypatch) -> None:
        api.auth = "bearer"
        monkeypatch.setenv("T_TOKEN", "nope-token")
        result = extractor(base_url, "page", "    auth: {type: bearer, token_env: T_TOKEN}").check()
        assert not result.ok and "HTTP 401" in result.detail and "nope-token" not in result.detail

    def test_check_reports_null_records(self, api: FakeApi, base_url: str) -> None:
        api.fault = lambda n, r: JSONResponse({"data": None})
        result = extractor(base_url, "none").check()
        assert (
            not result.ok
            and "null at data_path 'data'" in result.detail
            and "api.allow_empty" in result.detail
        )
