"""API sources materialized through Dagster into a real lake, against the local fake API: what lands in
Bronze, and that no credential reaches the run's error, its event log or the lake."""

from __future__ import annotations

import base64
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from fake_api import API_KEY, PASSWORD, TOKEN, USER, FakeApi, build_app
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from integration._lake import local_lake  # noqa: E402

from medallion_assets.runner import PartitionOutcome, materialize_partition  # noqa: E402
from medallion_resources.lake.read import read_artifact  # noqa: E402

pytestmark = pytest.mark.slow
DAY = date(2025, 1, 2)
RECORDS = [{"id": i, "name": f"n{i}"} for i in range(1, 26)]
PAGINATION = {
    "offset": ({"type": "offset", "page_size": 10}, "data"),
    "cursor": ({"type": "cursor", "cursor_path": "next", "has_more_path": "has_more"}, "data"),
    "page": (
        {"type": "page", "page_size": 10, "page_size_param": "page_size", "has_more_path": "meta.has_more"},
        "data",
    ),
    "next": ({"type": "next_url", "next_url_path": "links.next"}, "data"),
    "link": ({"type": "link_header"}, None),
}
AUTH = {
    "bearer": ({"type": "bearer", "token_env": "T_TOKEN"}, {"T_TOKEN": TOKEN}),
    "basic": (
        {"type": "basic", "username_env": "T_USER", "password_env": "T_PASS"},
        {"T_USER": USER, "T_PASS": PASSWORD},
    ),
    "api_key_header": (
        {"type": "api_key", "key_env": "T_KEY", "key_header": "X-API-Key"},
        {"T_KEY": API_KEY},
    ),
    "api_key_param": ({"type": "api_key", "key_env": "T_KEY", "key_param": "api_key"}, {"T_KEY": API_KEY}),
}


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    (tmp_path / "instance").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "instance")) as inst:
        yield inst


def materialize(
    root: Path,
    instance: dg.DagsterInstance,
    api: dict[str, Any],
    day: date = DAY,
    load_pattern: str = "full",
    layers: tuple[str, ...] = ("bronze",),
) -> tuple[PartitionOutcome, list[dict[str, Any]] | None]:
    """One Bronze day of an API source written as YAML under ``root``; the rows committed (None: none)."""
    source = {
        "source": {
            "system": "shop",
            "table": "items",
            "type": "api",
            "api": api,
            "run": {"load_pattern": load_pattern},
        },
        "silver": {"primary_keys": ["id"]},
    }
    lake = local_lake(root, [source], date(2025, 1, 1))
    spec = lake.spec("shop_items")
    outcome = materialize_partition(lake, spec, day, list(layers), instance)
    part = lake.committed(spec, "bronze", day)
    return outcome, None if part is None else read_artifact(part, "data").to_dicts()


def api_yaml(base_url: str, style: str, **extra: Any) -> dict[str, Any]:
    pagination, data_path = PAGINATION[style]
    api = {
        "base_url": base_url,
        "endpoint": f"/{style}/items",
        "pagination": pagination,
        "rate_limit_rps": 0,
        "max_retries": 1,
        "retry_backoff_seconds": 0.01,
        **extra,
    }
    if data_path:
        api["data_path"] = data_path
    return api


def files_holding(root: Path, secret: str) -> list[str]:
    """Every file under ``root`` (the lake, the configs, the Dagster instance and its event log) holding
    ``secret``."""
    needle = secret.encode()
    return [str(p) for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


class TestSecrets:
    @pytest.mark.parametrize("style", ["next", "link"])
    def test_a_key_the_server_echoes_in_its_next_links_is_masked_in_the_loop_error(
        self,
        api: FakeApi,
        base_url: str,
        tmp_path: Path,
        instance: dg.DagsterInstance,
        monkeypatch: pytest.MonkeyPatch,
        style: str,
    ) -> None:
        api.records, api.auth, api.echo_params, api.repeat_link = RECORDS, "api_key_param", True, True
        monkeypatch.setenv("T_KEY", API_KEY)
        auth = AUTH["api_key_param"][0]
        outcome, rows = materialize(tmp_path, instance, api_yaml(base_url, style, auth=auth))
        assert rows is None and outcome.error is not None
        assert "links to a URL already fetched" in outcome.error
        assert API_KEY not in outcome.error, outcome.error
        assert files_holding(tmp_path, API_KEY) == []

    def test_an_oauth2_token_the_server_echoes_is_masked(
        self,
        api: FakeApi,
        base_url: str,
        tmp_path: Path,
        instance: dg.DagsterInstance,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        def echo(number: int, request: Request) -> Response:
            token = request.headers["authorization"].removeprefix("Bearer ")
            return JSONResponse({"error": f"token {token} lacks the scope read:items"}, status_code=403)

        api.records, api.auth, api.fault = RECORDS, "oauth2", echo
        monkeypatch.setenv("T_CID", "client-1")
        monkeypatch.setenv("T_CSECRET", "s3cret-client")
        auth = {
            "type": "oauth2_client_credentials",
            "token_url": f"{base_url}/token",
            "client_id_env": "T_CID",
            "client_secret_env": "T_CSECRET",
        }
        outcome, rows = materialize(tmp_path, instance, api_yaml(base_url, "next", auth=auth))
        assert rows is None and outcome.error is not None
        assert "HTTP 403" in outcome.error and "lacks the scope" in outcome.error
        assert api.tokens_issued == 1
        assert "oauth-1" not in outcome.error, outcome.error
        assert files_holding(tmp_path, "oauth-1") == []

    @pytest.mark.parametrize("style", ["next", "link"])
    @pytest.mark.parametrize("mode", list(AUTH))
    def test_next_links_to_another_host_are_followed_without_credentials(
        self,
        api: FakeApi,
        base_url: str,
        tmp_path: Path,
        instance: dg.DagsterInstance,
        monkeypatch: pytest.MonkeyPatch,
        style: str,
        mode: str,
    ) -> None:
        from api_server import serve

        auth, env = AUTH[mode]
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        other = FakeApi(records=RECORDS)  # another host serving the following pages, without auth
        with serve(build_app({"api": other})) as other_url:
            api.records, api.auth, api.link_base = RECORDS, mode, other_url
            other.link_base = other_url
            outcome, rows = materialize(tmp_path, instance, api_yaml(base_url, style, auth=auth))
        assert outcome.error is None, outcome.error
        assert rows is not None and sorted(r["id"] for r in rows) == [r["id"] for r in RECORDS]
        assert len(api.data_hits()) == 1 and len(other.data_hits()) == 2
        basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        for hit in other.data_hits():
            sent = " ".join([*hit.query.values(), *hit.headers.values()])
            for secret in (TOKEN, API_KEY, basic):
                assert secret not in sent, (hit.path, hit.query, hit.headers)

    def test_another_host_that_wants_the_credentials_fails_saying_they_were_withheld(
        self,
        api: FakeApi,
        base_url: str,
        tmp_path: Path,
        instance: dg.DagsterInstance,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        from api_server import serve

        monkeypatch.setenv("T_TOKEN", TOKEN)
        other = FakeApi(records=RECORDS, auth="bearer")
        with serve(build_app({"api": other})) as other_url:
            api.records, api.auth, api.link_base = RECORDS, "bearer", other_url
            cfg = api_yaml(base_url, "next", auth=AUTH["bearer"][0])
            outcome, rows = materialize(tmp_path, instance, cfg)
        assert rows is None and outcome.error is not None
        assert "returned HTTP 401 (sent without the source's credentials" in outcome.error, outcome.error
        assert [h.headers.get("authorization") for h in other.data_hits()] == [None]


class TestIncremental:
    def test_rows_read_again_at_the_watermark_land_once(
        self, api: FakeApi, base_url: str, tmp_path: Path, instance: dg.DagsterInstance
    ) -> None:
        """The API's ``updated_since`` is inclusive, so each run reads the rows at the watermark again: the
        versions the previous partition landed are dropped (DESIGN §5), a late row or a new version with
        the same cursor value lands, and a re-run of the day gives the same partition."""
        api.records = [
            {"id": 1, "name": "a", "updated_at": "2025-01-01T10:00:00Z"},
            {"id": 2, "name": "b", "updated_at": "2025-01-01T23:00:00Z"},
            {"id": 3, "name": "c", "updated_at": "2025-01-01T23:00:00Z"},
        ]
        cfg = api_yaml(base_url, "next", incremental={"cursor_field": "updated_at", "param": "updated_since"})

        def day(d: date) -> list[tuple[int, str]]:
            outcome, rows = materialize(tmp_path, instance, cfg, d, load_pattern="incremental")
            assert outcome.error is None and rows is not None, outcome.error
            return sorted((r["id"], r["name"]) for r in rows)

        assert day(date(2025, 1, 1)) == [(1, "a"), (2, "b"), (3, "c")]
        api.records = [
            *api.records[:2],
            {"id": 3, "name": "c2", "updated_at": "2025-01-01T23:00:00Z"},  # changed, same cursor value
            {"id": 4, "name": "d", "updated_at": "2025-01-01T23:00:00Z"},  # committed late at the watermark
            {"id": 5, "name": "e", "updated_at": "2025-01-02T05:00:00Z"},
        ]
        assert api.data_hits()[-1].query == {}
        expected = [(3, "c2"), (4, "d"), (5, "e")]
        assert day(date(2025, 1, 2)) == expected
        assert api.data_hits()[-1].query == {"updated_since": "2025-01-01T23:00:00Z"}
        assert day(date(2025, 1, 2)) == expected  # a re-run replaces, never duplicates
        api.records.append({"id": 6, "name": "f", "updated_at": "2025-01-03T01:00:00Z"})
        assert day(date(2025, 1, 3)) == [(6, "f")]

    def test_a_day_that_only_reads_again_what_landed_keeps_its_columns_for_silver(
        self, api: FakeApi, base_url: str, tmp_path: Path, instance: dg.DagsterInstance
    ) -> None:
        """A quiet day reads only the boundary records again and drops them: Bronze commits 0 rows with
        the columns it read, so Silver (which needs its primary key column) commits too."""
        api.records = [{"id": 1, "updated_at": "2025-01-01T10:00:00Z"}]
        cfg = api_yaml(base_url, "next", incremental={"cursor_field": "updated_at", "param": "updated_since"})
        for day, expected in ((date(2025, 1, 1), 1), (date(2025, 1, 2), 0)):
            outcome, rows = materialize(
                tmp_path, instance, cfg, day, load_pattern="incremental", layers=("bronze", "silver")
            )
            assert outcome.error is None, outcome.error
            assert rows is not None and len(rows) == expected
            assert set(outcome.layers) == {"bronze", "silver"}
            assert outcome.layers["silver"].rows == 1

    def test_timestamps_that_differ_in_precision_or_offset_compare_as_instants(
        self, api: FakeApi, base_url: str, tmp_path: Path, instance: dg.DagsterInstance
    ) -> None:
        """An API may drop a zero fraction or write +00:00 for Z: as text '...00Z' sorts after
        '...00.5Z', so the watermark would stay behind the latest record and it would land again."""
        api.records = [
            {"id": 1, "updated_at": "2025-01-01T23:00:00Z"},
            {"id": 2, "updated_at": "2025-01-01T23:00:00.500000Z"},
            {"id": 3, "updated_at": "2025-01-01T22:00:00+00:00"},
        ]
        cfg = api_yaml(base_url, "next", incremental={"cursor_field": "updated_at", "param": "updated_since"})
        outcome, rows = materialize(tmp_path, instance, cfg, date(2025, 1, 1), load_pattern="incremental")
        assert outcome.error is None and rows is not None and len(rows) == 3, outcome.error
        outcome, rows = materialize(tmp_path, instance, cfg, date(2025, 1, 2), load_pattern="incremental")
        assert outcome.error is None and rows == [], (outcome.error, rows)
        assert api.data_hits()[-1].query == {"updated_since": "2025-01-01T23:00:00.500000Z"}


class TestPagination:
    def test_an_empty_page_that_says_more_follow_does_not_end_a_cursor_run(
        self, api: FakeApi, base_url: str, tmp_path: Path, instance: dg.DagsterInstance
    ) -> None:
        """Cursor APIs may return an empty page mid-listing (a filtered search, a time slice with no
        changes) with a next cursor and ``has_more: true``: the records after it must land."""

        def empty_second_page(number: int, request: Request) -> Response | None:
            if number == 2:
                return JSONResponse({"data": [], "next": "c010", "has_more": True})
            return None

        api.records, api.fault = RECORDS, empty_second_page
        outcome, rows = materialize(tmp_path, instance, api_yaml(base_url, "cursor"))
        assert outcome.error is None, outcome.error
        assert rows is not None and sorted(r["id"] for r in rows) == [r["id"] for r in RECORDS]

    def test_an_empty_numbered_page_that_says_more_follow_fails(
        self, api: FakeApi, base_url: str, tmp_path: Path, instance: dg.DagsterInstance
    ) -> None:
        """Offset and page numbers cannot skip past an empty page that says more follow (nothing would stop
        a server that always says so): the run fails instead of ending with the records after it lost."""

        def empty_second_page(number: int, request: Request) -> Response | None:
            if number == 2:
                return JSONResponse({"data": [], "meta": {"has_more": True}})
            return None

        api.records, api.fault = RECORDS, empty_second_page
        outcome, rows = materialize(tmp_path, instance, api_yaml(base_url, "page"))
        assert rows is None and outcome.error is not None
        assert "page 2" in outcome.error and "has_more_path 'meta.has_more'" in outcome.error, outcome.error

    @pytest.mark.parametrize("use_async", [False, True])
    def test_an_offset_server_that_sends_more_than_the_limit_fails(
        self, api: FakeApi, base_url: str, tmp_path: Path, instance: dg.DagsterInstance, use_async: bool
    ) -> None:
        """A server that ignores ``limit`` (or has a larger minimum) sends records that the next offset
        sends again: the run fails instead of landing them twice."""
        api.records, api.min_page_size = RECORDS, 15
        outcome, rows = materialize(tmp_path, instance, api_yaml(base_url, "offset", use_async=use_async))
        assert rows is None and outcome.error is not None
        assert "15 records, more than page_size=10" in outcome.error, outcome.error

    @pytest.mark.parametrize("rel", ['rel="Next"', 'REL="next"', 'rel="next last"', "rel=next"])
    def test_every_rfc_8288_spelling_of_the_next_link_is_followed(
        self, api: FakeApi, base_url: str, tmp_path: Path, instance: dg.DagsterInstance, rel: str
    ) -> None:
        """Relation types are case-insensitive and ``rel`` may hold several (RFC 8288 §3.3)."""
        api.records, api.link_rel = RECORDS, rel
        outcome, rows = materialize(tmp_path, instance, api_yaml(base_url, "link"))
        assert outcome.error is None, outcome.error
        assert rows is not None and sorted(r["id"] for r in rows) == [r["id"] for r in RECORDS]


class TestRetries:
    def test_a_token_endpoint_that_fails_transiently_is_retried(
        self,
        api: FakeApi,
        base_url: str,
        tmp_path: Path,
        instance: dg.DagsterInstance,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """The OAuth2 token request is a request like the others: a 503 or a 429 is retried."""

        def flaky(number: int) -> Response | None:
            if number == 1:
                return JSONResponse({"error": "temporarily_unavailable"}, status_code=503)
            if number == 2:
                return JSONResponse({"error": "slow down"}, status_code=429, headers={"Retry-After": "0"})
            return None

        api.records, api.auth, api.token_fault = RECORDS, "oauth2", flaky
        monkeypatch.setenv("T_CID", "client-1")
        monkeypatch.setenv("T_CSECRET", "s3cret-client")
        auth = {
            "type": "oauth2_client_credentials",
            "token_url": f"{base_url}/token",
            "client_id_env": "T_CID",
            "client_secret_env": "T_CSECRET",
        }
        outcome, rows = materialize(tmp_path, instance, api_yaml(base_url, "next", auth=auth, max_retries=2))
        assert outcome.error is None, outcome.error
        assert rows is not None and sorted(r["id"] for r in rows) == [r["id"] for r in RECORDS]
        assert api.token_requests == 3 and api.tokens_issued == 1


class TestRecords:
    def test_an_empty_key_lands_as_one_named_column_across_pages(
        self, api: FakeApi, base_url: str, tmp_path: Path, instance: dg.DagsterInstance
    ) -> None:
        """The records rule every JSON source follows names the empty key ``empty_key`` whatever its
        position in a page, so pages whose keys come in another order land it in one column."""
        api.records = [{"id": i, "": f"v{i}"} for i in range(1, 11)] + [{"": "v11", "id": 11}]
        outcome, rows = materialize(tmp_path, instance, api_yaml(base_url, "offset"))
        assert outcome.error is None, outcome.error
        assert rows is not None and all("" not in r for r in rows), rows[0] if rows else None
        assert sorted((r["id"], r["empty_key"]) for r in rows) == [(i, f"v{i}") for i in range(1, 12)]
