"""API sources materialized through Dagster into a real lake, against the local fake API: what lands in
Bronze, and that no credential reaches the run's error, its event log or the lake."""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from fake_api import API_KEY, CLIENT_ID, CLIENT_SECRET, PASSWORD, TOKEN, USER, FakeApi, build_app
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from integration._lake import local_lake  # noqa: E402

from medallion_assets.runner import PartitionOutcome, materialize_partition  # noqa: E402
from medallion_resources.lake.read import read_artifact  # noqa: E402
from tests.instances import cli_instance_for_test

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
    "none": ({"type": "none"}, "data"),
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
INCREMENTAL = {"cursor_field": "updated_at", "param": "updated_since"}

Rows = list[dict[str, Any]]


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    (tmp_path / "instance").mkdir()
    with cli_instance_for_test(tmp_path / "instance") as inst:
        yield inst


@dataclass
class ApiLake:
    """One API source, ``shop_items``, over the fake API, materialized into a lake under ``root``: a test
    names only the pagination style and the ``api:`` keys that differ from the defaults of ``config``."""

    root: Path
    instance: dg.DagsterInstance
    base_url: str

    def config(self, style: str, **extra: Any) -> dict[str, Any]:
        """The ``api:`` section of a source reading ``/{style}/items``: no rate limit, one quick retry."""
        pagination, data_path = PAGINATION[style]
        api = {
            "base_url": self.base_url,
            "endpoint": f"/{style}/items",
            "pagination": pagination,
            "rate_limit_rps": 0,
            "max_retries": 1,
            "retry_backoff_seconds": 0.01,
            **extra,
        }
        if data_path:
            api.setdefault("data_path", data_path)
        return api

    def run(
        self,
        style: str,
        day: date = DAY,
        *,
        load_pattern: str = "full",
        layers: tuple[str, ...] = ("bronze",),
        **extra: Any,
    ) -> tuple[PartitionOutcome, Rows | None]:
        """One day of the source (``config(style, **extra)``) through Dagster; the rows committed (None:
        no commit)."""
        outcome, rows, _ = self.run_with_metadata(
            style, day, load_pattern=load_pattern, layers=layers, **extra
        )
        return outcome, rows

    def run_with_metadata(
        self,
        style: str,
        day: date = DAY,
        *,
        load_pattern: str = "full",
        layers: tuple[str, ...] = ("bronze",),
        **extra: Any,
    ) -> tuple[PartitionOutcome, Rows | None, dict[str, Any] | None]:
        """``run``, plus the committed partition's ``_metadata.json`` (None: no commit)."""
        source = {
            "source": {
                "system": "shop",
                "table": "items",
                "type": "api",
                "api": self.config(style, **extra),
                "run": {"load_pattern": load_pattern},
            },
            "silver": {"primary_keys": ["id"]},
        }
        lake = local_lake(self.root, [source], date(2025, 1, 1))
        spec = lake.spec("shop_items")
        outcome = materialize_partition(lake, spec, day, list(layers), self.instance)
        part = lake.committed(spec, "bronze", day)
        if part is None:
            return outcome, None, None
        return outcome, read_artifact(part, "data").to_dicts(), dict(part.metadata)

    def files_holding(self, secret: str) -> list[str]:
        """Every file under ``root`` (the lake, the configs, the Dagster instance and its event log) holding
        ``secret``."""
        needle = secret.encode()
        return [str(p) for p in self.root.rglob("*") if p.is_file() and needle in p.read_bytes()]


@pytest.fixture
def lake(base_url: str, tmp_path: Path, instance: dg.DagsterInstance) -> ApiLake:
    return ApiLake(tmp_path, instance, base_url)


@pytest.fixture
def oauth2(api: FakeApi, base_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The fake API wants OAuth2 client credentials: the ``auth:`` section, its secrets in the environment."""
    api.auth = "oauth2"
    monkeypatch.setenv("T_CID", CLIENT_ID)
    monkeypatch.setenv("T_CSECRET", CLIENT_SECRET)
    return {
        "type": "oauth2_client_credentials",
        "token_url": f"{base_url}/token",
        "client_id_env": "T_CID",
        "client_secret_env": "T_CSECRET",
    }


def ids(rows: Rows | None) -> list[Any]:
    assert rows is not None, "nothing committed"
    return sorted(r["id"] for r in rows)


CURSORS = [{"cursor_field": "id", "param": "since_id"}, INCREMENTAL]  # an id and a timestamp cursor


def incremental_ids(lake: ApiLake, incremental: dict[str, str], day: date) -> list[Any]:
    """The ids Bronze holds for ``day`` of the incremental source ``next`` after running it."""
    outcome, rows = lake.run("next", day, load_pattern="incremental", incremental=incremental)
    assert outcome.error is None, outcome.error
    return ids(rows)


class TestSecrets:
    @pytest.mark.parametrize("style", ["next", "link"])
    def test_a_key_the_server_echoes_in_its_next_links_is_masked_in_the_loop_error(
        self, api: FakeApi, lake: ApiLake, monkeypatch: pytest.MonkeyPatch, style: str
    ) -> None:
        api.records, api.auth, api.echo_params, api.repeat_link = RECORDS, "api_key_param", True, True
        monkeypatch.setenv("T_KEY", API_KEY)
        outcome, rows = lake.run(style, auth=AUTH["api_key_param"][0])
        assert rows is None and outcome.error is not None
        assert "links to a URL already fetched" in outcome.error
        assert API_KEY not in outcome.error, outcome.error
        assert lake.files_holding(API_KEY) == []

    def test_an_oauth2_token_the_server_echoes_is_masked(
        self, api: FakeApi, lake: ApiLake, oauth2: dict[str, Any]
    ) -> None:
        def echo(number: int, request: Request) -> Response:
            token = request.headers["authorization"].removeprefix("Bearer ")
            return JSONResponse({"error": f"token {token} lacks the scope read:items"}, status_code=403)

        api.records, api.fault = RECORDS, echo
        outcome, rows = lake.run("next", auth=oauth2)
        assert rows is None and outcome.error is not None
        assert "HTTP 403" in outcome.error and "lacks the scope" in outcome.error
        assert api.tokens_issued == 1
        assert "oauth-1" not in outcome.error, outcome.error
        assert lake.files_holding("oauth-1") == []

    @pytest.mark.parametrize("pad", [170, 185])
    def test_a_token_echoed_across_the_end_of_the_error_snippet_shows_no_part_of_it(
        self, api: FakeApi, lake: ApiLake, monkeypatch: pytest.MonkeyPatch, pad: int
    ) -> None:
        """The error quotes the start of the body: a token the body echoes where the quote ends is masked
        whole, not cut first and then left unrecognised."""
        token = "tok-" + "A1b2C3d4" * 6
        monkeypatch.setenv("T_TOKEN", token)
        api.records = RECORDS
        api.fault = lambda n, r: Response(
            "x" * pad + " token " + r.headers["authorization"].removeprefix("Bearer "), status_code=403
        )
        outcome, rows = lake.run("next", auth={"type": "bearer", "token_env": "T_TOKEN"})
        assert rows is None and outcome.error is not None and "HTTP 403" in outcome.error
        assert token[:7] not in outcome.error, outcome.error
        assert lake.files_holding(token[:7]) == []

    @pytest.mark.parametrize(
        ("section", "name"), [("params", "apikey"), ("params", "access_token"), ("headers", "X-Auth-Token")]
    )
    def test_a_secret_named_param_or_header_the_server_echoes_is_masked(
        self, api: FakeApi, lake: ApiLake, monkeypatch: pytest.MonkeyPatch, section: str, name: str
    ) -> None:
        """A credential sent as a configured parameter or header with a secret-looking name (``${VAR}``
        substituted) is masked wherever it appears, not only as a URL's query value."""
        secret = "subst-s3cret-9f2"
        monkeypatch.setenv("API_SECRET", secret)
        api.records = RECORDS
        api.fault = lambda n, r: JSONResponse(
            {"query": dict(r.query_params), "headers": dict(r.headers)}, status_code=400
        )
        outcome, rows = lake.run("next", **{section: {name: "${API_SECRET}"}})
        assert rows is None and outcome.error is not None and "HTTP 400" in outcome.error
        assert secret not in outcome.error, outcome.error
        assert lake.files_holding(secret) == []

    @pytest.mark.parametrize(
        "where",
        [
            {"endpoint": "/bot${BOT_TOKEN}/items"},  # a token in the path (Telegram's bot API)
            {"params": {"code_id": "${BOT_TOKEN}"}},  # under a name that does not look secret
            {"headers": {"X-Tenant-Ref": "${BOT_TOKEN}"}},
        ],
        ids=["endpoint", "params", "headers"],
    )
    def test_a_value_from_the_environment_in_the_api_section_is_masked_everywhere(
        self, api: FakeApi, lake: ApiLake, monkeypatch: pytest.MonkeyPatch, where: dict[str, Any]
    ) -> None:
        """``${VAR}`` in ``endpoint``, ``params`` or ``headers`` is how a credential that no ``auth`` type
        carries reaches the request (a token in the path): its value was written to ``_metadata.json``'s
        ``endpoint``, the run's log and error, and the Dagster event log. A value substituted from the
        environment into ``api:`` is now masked like the auth's."""
        token = "123456789-AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
        monkeypatch.setenv("BOT_TOKEN", token)
        api.records = RECORDS
        outcome, rows, metadata = lake.run_with_metadata("next", **where)
        assert outcome.error is None and ids(rows) == list(range(1, 26)), outcome.error
        assert metadata is not None
        expected = "/bot***/items" if "endpoint" in where else "/next/items"
        assert metadata["endpoint"] == f"{lake.base_url}{expected}"
        api.fault = lambda n, r: JSONResponse(
            {"query": dict(r.query_params), "headers": dict(r.headers)}, status_code=400
        )
        outcome, rows = lake.run_with_metadata("next", **where)[:2]
        assert outcome.error is not None and "HTTP 400" in outcome.error, outcome.error
        assert token not in outcome.error and "***" in outcome.error, outcome.error
        assert lake.files_holding(token) == []

    def test_an_address_or_a_short_value_from_the_environment_is_shown(
        self, api: FakeApi, lake: ApiLake, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """``base_url: ${API_URL}`` is an address, and ``${PAGE_SIZE}`` too short to be a credential:
        masking them would only shred the messages (a credential in a URL is masked by the URL rules)."""
        monkeypatch.setenv("API_URL", lake.base_url)
        monkeypatch.setenv("SIZE", "10")
        api.records = RECORDS
        outcome, rows, metadata = lake.run_with_metadata(
            "next", base_url="${API_URL}", params={"size": "${SIZE}"}
        )
        assert outcome.error is None and ids(rows) == list(range(1, 26)), outcome.error
        assert metadata is not None and metadata["endpoint"] == f"{lake.base_url}/next/items"
        assert metadata["pages"] == 3

    @pytest.mark.parametrize("style", ["next", "link"])
    @pytest.mark.parametrize("mode", list(AUTH))
    def test_next_links_to_another_host_are_followed_without_credentials(
        self, api: FakeApi, lake: ApiLake, monkeypatch: pytest.MonkeyPatch, style: str, mode: str
    ) -> None:
        from api_server import serve

        auth, env = AUTH[mode]
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        other = FakeApi(records=RECORDS)  # another host serving the following pages, without auth
        with serve(build_app({"api": other})) as other_url:
            api.records, api.auth, api.link_base = RECORDS, mode, other_url
            other.link_base = other_url
            outcome, rows = lake.run(style, auth=auth)
        assert outcome.error is None, outcome.error
        assert ids(rows) == [r["id"] for r in RECORDS]
        assert len(api.data_hits()) == 1 and len(other.data_hits()) == 2
        basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        for hit in other.data_hits():
            sent = " ".join([*hit.query.values(), *hit.headers.values()])
            for secret in (TOKEN, API_KEY, basic):
                assert secret not in sent, (hit.path, hit.query, hit.headers)

    @pytest.mark.parametrize("style", ["next", "link"])
    def test_credentials_in_configured_headers_stay_with_the_first_host(
        self, api: FakeApi, lake: ApiLake, monkeypatch: pytest.MonkeyPatch, style: str
    ) -> None:
        """A key set under ``headers:`` (``X-API-Key``, ``Authorization: Token ...``) is a credential like
        the auth's: a next link to another host gets the other headers, not those."""
        from api_server import serve

        monkeypatch.setenv("T_KEY", API_KEY)
        headers = {
            "X-API-Key": "${T_KEY}",
            "Authorization": "Token ${T_KEY}",
            "X-Tenant-Ref": "${T_KEY}",  # a name that does not look secret, a value from the environment
            "Accept-Version": "2",
        }
        other = FakeApi(records=RECORDS)
        with serve(build_app({"api": other})) as other_url:
            api.records, api.auth, api.link_base = RECORDS, "api_key_header", other_url
            other.link_base = other_url
            outcome, rows = lake.run(style, headers=headers)
        assert outcome.error is None, outcome.error
        assert ids(rows) == [r["id"] for r in RECORDS]
        assert [h.headers.get("authorization") for h in api.data_hits()] == [f"Token {API_KEY}"]
        assert len(other.data_hits()) == 2
        for hit in other.data_hits():
            assert API_KEY not in " ".join([*hit.query.values(), *hit.headers.values()]), hit.headers
            assert hit.headers.get("accept-version") == "2"  # what is no credential still goes along

    @pytest.mark.parametrize("style", ["next", "link"])
    @pytest.mark.parametrize("where", ["auth", "params"])
    def test_a_key_the_server_echoes_in_a_link_to_another_host_is_not_sent_there(
        self, api: FakeApi, lake: ApiLake, monkeypatch: pytest.MonkeyPatch, style: str, where: str
    ) -> None:
        """Many APIs repeat the request's query in their next links, the API key too: a link to another
        host then carried the source's key there in its query, though the auth itself was withheld. The
        key is taken out of such a link; the other parameters stay."""
        from api_server import serve

        monkeypatch.setenv("T_KEY", API_KEY)
        other = FakeApi(records=RECORDS, echo_params=True)
        with serve(build_app({"api": other})) as other_url:
            api.records, api.link_base, api.echo_params = RECORDS, other_url, True
            other.link_base = other_url
            if where == "auth":
                api.auth = "api_key_param"
                extra: dict[str, Any] = {"auth": AUTH["api_key_param"][0]}
            else:
                extra = {"params": {"apikey": "${T_KEY}"}}
            extra["params"] = {**extra.get("params", {}), "status": "active"}
            outcome, rows = lake.run(style, **extra)
        assert outcome.error is None, outcome.error
        assert ids(rows) == [r["id"] for r in RECORDS]
        assert API_KEY in " ".join(api.data_hits()[0].query.values())  # the first host gets it
        assert [h.query for h in other.data_hits()] == [
            {"page": "2", "size": "10", "status": "active"},
            {"page": "3", "size": "10", "status": "active"},
        ]

    @pytest.mark.parametrize(
        ("section", "value"),
        [
            ("params", {"access_token": "literal-tok-5e1f"}),
            ("headers", {"X-Auth-Token": "literal-tok-5e1f"}),
            ("body", {"query": "x", "credentials": {"api_key": "literal-tok-5e1f"}}),
            ("headers", {"Authorization": "Token literal-tok-5e1f"}),  # echoed without its scheme below
        ],
    )
    def test_a_literal_value_under_a_secret_looking_name_the_server_echoes_is_masked(
        self, api: FakeApi, lake: ApiLake, section: str, value: dict[str, Any]
    ) -> None:
        """The name rule for values written in the YAML itself (no ``${VAR}``): a POST body's
        ``api_key`` counts as a secret like a parameter's (it was shown when the server echoed it), and so
        does the credential of an ``Authorization: Token ...`` header, echoed without its scheme."""
        api.fault = lambda n, r: Response(
            f"bad request: {dict(r.query_params)} {dict(r.headers)} {api.bodies[-1].decode()}; token "
            f"{r.headers.get('authorization', '').split(' ')[-1]} is unknown",
            400,
        )
        outcome, rows = lake.run("next", method="POST", **{section: value})
        assert outcome.error is not None and "HTTP 400" in outcome.error and rows is None, outcome.error
        assert "literal-tok-5e1f" not in outcome.error, outcome.error

    def test_a_secret_in_a_post_body_is_not_sent_along_a_link_to_another_host(
        self, api: FakeApi, lake: ApiLake, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A POST source follows its next links with its body: a credential in it (``${VAR}``, or under a
        secret-looking name) went to another host with it. The other host gets the body without it."""
        from api_server import serve

        monkeypatch.setenv("T_KEY", API_KEY)
        other = FakeApi(records=RECORDS)
        body = {"query": "status:open", "auth": {"api_token": "${T_KEY}"}, "tags": ["a", "${T_KEY}"]}
        with serve(build_app({"api": other})) as other_url:
            api.records, api.link_base = RECORDS, other_url
            other.link_base = other_url
            outcome, rows = lake.run("next", method="POST", body=body)
        assert outcome.error is None, outcome.error
        assert ids(rows) == [r["id"] for r in RECORDS]
        assert [json.loads(b) for b in api.bodies] == [
            {"query": "status:open", "auth": {"api_token": API_KEY}, "tags": ["a", API_KEY]}
        ]
        assert [json.loads(b) for b in other.bodies] == [
            {"query": "status:open", "auth": {}, "tags": ["a"]}
        ] * 2

    def test_another_host_that_wants_the_credentials_fails_saying_they_were_withheld(
        self, api: FakeApi, lake: ApiLake, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from api_server import serve

        monkeypatch.setenv("T_TOKEN", TOKEN)
        other = FakeApi(records=RECORDS, auth="bearer")
        with serve(build_app({"api": other})) as other_url:
            api.records, api.auth, api.link_base = RECORDS, "bearer", other_url
            outcome, rows = lake.run("next", auth=AUTH["bearer"][0])
        assert rows is None and outcome.error is not None
        assert "returned HTTP 401 (sent without the source's credentials" in outcome.error, outcome.error
        assert [h.headers.get("authorization") for h in other.data_hits()] == [None]


class TestIncremental:
    def test_rows_read_again_at_the_watermark_land_once(self, api: FakeApi, lake: ApiLake) -> None:
        """The API's ``updated_since`` is inclusive, so each run reads the rows at the watermark again: the
        versions the previous partition landed are dropped (DESIGN §5), a late row or a new version with
        the same cursor value lands, and a re-run of the day gives the same partition."""
        api.records = [
            {"id": 1, "name": "a", "updated_at": "2025-01-01T10:00:00Z"},
            {"id": 2, "name": "b", "updated_at": "2025-01-01T23:00:00Z"},
            {"id": 3, "name": "c", "updated_at": "2025-01-01T23:00:00Z"},
        ]

        def day(d: date) -> list[tuple[int, str]]:
            outcome, rows = lake.run("next", d, load_pattern="incremental", incremental=INCREMENTAL)
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

    @pytest.mark.parametrize("incremental", CURSORS, ids=["id", "timestamp"])
    def test_a_rerun_of_a_day_after_the_next_day_landed_does_not_take_the_next_days_records(
        self, api: FakeApi, lake: ApiLake, incremental: dict[str, str]
    ) -> None:
        """Re-running D once D+1 is committed starts again from D-1's watermark; the "changed since"
        listing then also returns D+1's records, which D+1 already landed: D stops where D+1 started
        (DESIGN §5: a re-run never takes D+1's rows), or Bronze holds them twice."""
        api.records = [
            {"id": 1, "updated_at": "2025-01-01T10:00:00Z"},
            {"id": 2, "updated_at": "2025-01-01T11:00:00Z"},
        ]

        day = partial(incremental_ids, lake, incremental)

        assert day(date(2025, 1, 1)) == [1, 2]
        api.records += [
            {"id": 3, "updated_at": "2025-01-02T10:00:00Z"},
            {"id": 4, "updated_at": "2025-01-02T11:00:00Z"},
        ]
        assert day(date(2025, 1, 2)) == [3, 4]
        api.records.append({"id": 5, "updated_at": "2025-01-03T10:00:00Z"})
        assert day(date(2025, 1, 3)) == [5]
        assert day(date(2025, 1, 2)) == [3, 4]  # not 5: day 3 landed it
        assert day(date(2025, 1, 3)) == [5]  # and day 3 re-run from day 2's new commit still holds it

    @pytest.mark.parametrize("incremental", CURSORS, ids=["id", "timestamp"])
    def test_a_backfill_before_the_first_partition_lands_no_record_twice(
        self, api: FakeApi, lake: ApiLake, incremental: dict[str, str]
    ) -> None:
        """Day 2 was loaded first: it read every record from the start. A backfill of day 1 read from the
        start as well and landed every record a second time; it now lands none (day 2 holds them)."""
        api.records = [
            {"id": 1, "updated_at": "2025-01-01T10:00:00Z"},
            {"id": 2, "updated_at": "2025-01-02T11:00:00Z"},
        ]

        day = partial(incremental_ids, lake, incremental)

        assert day(date(2025, 1, 2)) == [1, 2]
        hits = len(api.data_hits())
        assert day(date(2025, 1, 1)) == []
        assert len(api.data_hits()) == hits  # not even asked
        api.records.append({"id": 3, "updated_at": "2025-01-03T10:00:00Z"})
        assert day(date(2025, 1, 3)) == [3]
        # A request that names its day asks for the backfilled day's own records all the same.
        outcome, _ = lake.run(
            "next",
            date(2025, 1, 1),
            load_pattern="incremental",
            incremental=incremental,
            params={"day": "{run_date}"},
        )
        assert outcome.error is None, outcome.error
        assert api.data_hits()[-1].query.get("day") == "2025-01-01"

    def test_a_day_that_only_reads_again_what_landed_keeps_its_columns_for_silver(
        self, api: FakeApi, lake: ApiLake
    ) -> None:
        """A quiet day reads only the boundary records again and drops them: Bronze commits 0 rows with
        the columns it read, so Silver (which needs its primary key column) commits too."""
        api.records = [{"id": 1, "updated_at": "2025-01-01T10:00:00Z"}]
        for day, expected in ((date(2025, 1, 1), 1), (date(2025, 1, 2), 0)):
            outcome, rows = lake.run(
                "next", day, load_pattern="incremental", layers=("bronze", "silver"), incremental=INCREMENTAL
            )
            assert outcome.error is None, outcome.error
            assert rows is not None and len(rows) == expected
            assert set(outcome.layers) == {"bronze", "silver"}
            assert outcome.layers["silver"].rows == 1

    def test_timestamps_that_differ_in_precision_or_offset_compare_as_instants(
        self, api: FakeApi, lake: ApiLake
    ) -> None:
        """An API may drop a zero fraction or write +00:00 for Z: as text '...00Z' sorts after
        '...00.5Z', so the watermark would stay behind the latest record and it would land again."""
        api.records = [
            {"id": 1, "updated_at": "2025-01-01T23:00:00Z"},
            {"id": 2, "updated_at": "2025-01-01T23:00:00.500000Z"},
            {"id": 3, "updated_at": "2025-01-01T22:00:00+00:00"},
        ]
        outcome, rows = lake.run(
            "next", date(2025, 1, 1), load_pattern="incremental", incremental=INCREMENTAL
        )
        assert outcome.error is None and rows is not None and len(rows) == 3, outcome.error
        outcome, rows = lake.run(
            "next", date(2025, 1, 2), load_pattern="incremental", incremental=INCREMENTAL
        )
        assert outcome.error is None and rows == [], (outcome.error, rows)
        assert api.data_hits()[-1].query == {"updated_since": "2025-01-01T23:00:00.500000Z"}

    @pytest.mark.parametrize("use_async", [False, True])
    def test_a_page_that_fails_half_way_commits_nothing_and_keeps_the_watermark(
        self, api: FakeApi, lake: ApiLake, use_async: bool
    ) -> None:
        """Page 2 of day 2 fails after its retries: nothing of day 2 is committed (page 1's records
        neither), and its re-run asks again from day 1's watermark and lands every record of day 2."""
        api.echo_params = True  # next links keep updated_since, as a real API's do
        api.records = [{"id": i, "updated_at": f"2025-01-01T{i:02d}:00:00Z"} for i in range(1, 4)]
        run = partial(lake.run_with_metadata, "next", load_pattern="incremental", incremental=INCREMENTAL)
        outcome, rows, metadata = run(date(2025, 1, 1), use_async=use_async)
        assert outcome.error is None and ids(rows) == [1, 2, 3], outcome.error
        assert metadata is not None and metadata["watermark_out"] == "2025-01-01T03:00:00Z"
        api.records += [{"id": i, "updated_at": f"2025-01-02T{i - 10:02d}:00:00Z"} for i in range(11, 26)]
        api.fault = lambda n, r: (
            JSONResponse({}, status_code=503) if r.query_params.get("page") == "2" else None
        )
        outcome, rows, metadata = run(date(2025, 1, 2), use_async=use_async)
        assert outcome.error is not None and "HTTP 503" in outcome.error and rows is None, outcome.error
        api.fault = None
        outcome, rows, metadata = run(date(2025, 1, 2), use_async=use_async)
        assert outcome.error is None and ids(rows) == list(range(11, 26)), outcome.error
        assert metadata is not None and metadata["watermark_in"] == "2025-01-01T03:00:00Z"
        assert metadata["watermark_out"] == "2025-01-02T15:00:00Z"
        assert metadata["boundary_rows_dropped"] == 1  # id 3, read again at the watermark

    @pytest.mark.parametrize("cursor_field", ["updatedAt", "meta.updated_at"])
    def test_a_cursor_field_no_record_has_fails_instead_of_reading_everything_every_day(
        self, api: FakeApi, lake: ApiLake, cursor_field: str
    ) -> None:
        """A misspelt (or nested) ``cursor_field`` is in no record: the watermark never moved, so every day
        read (and landed) every record again, silently. The run fails naming the field and the keys the
        records have; the day keeps its last commit."""
        api.records = [
            {"id": 1, "updated_at": "2025-01-01T10:00:00Z", "meta": {"updated_at": "2025-01-01T10:00:00Z"}},
            {"id": 2, "updated_at": "2025-01-01T11:00:00Z", "meta": {"updated_at": "2025-01-01T11:00:00Z"}},
        ]
        day = partial(lake.run, "next", date(2025, 1, 1), load_pattern="incremental")
        outcome, rows = day(incremental=INCREMENTAL)
        assert outcome.error is None and ids(rows) == [1, 2], outcome.error
        outcome, rows = day(incremental={"cursor_field": cursor_field})
        assert outcome.error is not None, rows
        assert f"incremental.cursor_field '{cursor_field}' is in none of the 2 record(s)" in outcome.error
        assert "id, meta, updated_at" in outcome.error, outcome.error
        assert ids(rows) == [1, 2]  # the day's earlier commit, intact

    def test_records_without_a_cursor_value_land_when_others_have_one(
        self, api: FakeApi, lake: ApiLake
    ) -> None:
        """A record whose cursor is null or missing lands (the rule of the records past the watermark);
        only a field that no record has at all is refused."""
        api.records = [
            {"id": 1, "updated_at": "2025-01-01T10:00:00Z"},
            {"id": 2, "updated_at": None},
            {"id": 3},
        ]
        outcome, rows, metadata = lake.run_with_metadata(
            "none", date(2025, 1, 1), load_pattern="incremental", incremental=INCREMENTAL
        )
        assert outcome.error is None and ids(rows) == [1, 2, 3], outcome.error
        assert metadata is not None and metadata["watermark_out"] == "2025-01-01T10:00:00Z"


class TestPagination:
    def test_an_empty_page_that_says_more_follow_does_not_end_a_cursor_run(
        self, api: FakeApi, lake: ApiLake
    ) -> None:
        """Cursor APIs may return an empty page mid-listing (a filtered search, a time slice with no
        changes) with a next cursor and ``has_more: true``: the records after it must land."""

        def empty_second_page(number: int, request: Request) -> Response | None:
            if number == 2:
                return JSONResponse({"data": [], "next": "c010", "has_more": True})
            return None

        api.records, api.fault = RECORDS, empty_second_page
        outcome, rows = lake.run("cursor")
        assert outcome.error is None, outcome.error
        assert ids(rows) == [r["id"] for r in RECORDS]

    def test_an_empty_string_cursor_ends_the_listing(self, api: FakeApi, lake: ApiLake) -> None:
        """Slack's ``response_metadata.next_cursor`` is ``""`` on the last page ("an empty, null, or
        non-existent next_cursor indicates no further results"): the run failed there ("sending it back
        would restart"), so no such listing could be read."""

        def slack(number: int, request: Request) -> Response:
            start = int(request.query_params.get("cursor", "c0")[1:])
            end = min(start + 10, len(RECORDS))
            cursor = f"c{end}" if end < len(RECORDS) else ""
            return JSONResponse(
                {"ok": True, "members": RECORDS[start:end], "response_metadata": {"next_cursor": cursor}}
            )

        api.fault = slack
        pagination = {"type": "cursor", "cursor_path": "response_metadata.next_cursor"}
        outcome, rows = lake.run("cursor", data_path="members", pagination=pagination)
        assert outcome.error is None, outcome.error
        assert ids(rows) == list(range(1, 26))

    @pytest.mark.parametrize("style", ["cursor", "next"])
    def test_a_page_that_says_more_follow_without_a_link_to_them_fails(
        self, api: FakeApi, lake: ApiLake, style: str
    ) -> None:
        """``has_more: true`` with no cursor (or next link) on page 2: the listing ended there and the run
        committed the first 20 of 25 records as the whole day. It fails instead; the day keeps its last
        commit."""
        broken = False

        def pages_of_ten(number: int, request: Request) -> Response:
            """Pages of 10 linked by a cursor and a next link, with ``has_more``; page 2 without its link
            while ``broken``."""
            q = request.query_params
            start = int(q["cursor"][1:]) if "cursor" in q else (int(q.get("page", 1)) - 1) * 10
            more = start + 10 < len(RECORDS)
            link = more and not (broken and start == 10)
            return JSONResponse(
                {
                    "data": RECORDS[start : start + 10],
                    "next": f"c{start + 10}" if link else None,
                    "links": {"next": f"/next/items?page={start // 10 + 2}" if link else None},
                    "has_more": more,
                }
            )

        api.fault = pages_of_ten
        pagination = {**PAGINATION[style][0], "has_more_path": "has_more"}
        outcome, rows = lake.run(style, pagination=pagination)
        assert outcome.error is None and ids(rows) == list(range(1, 26)), outcome.error
        broken = True
        outcome, rows = lake.run(style, pagination=pagination)
        assert outcome.error is not None, ids(rows)
        link = "cursor_path 'next'" if style == "cursor" else "next_url_path 'links.next'"
        assert f"page 2 of {lake.base_url}/" in outcome.error and f"({link} null, empty" in outcome.error
        assert "has_more_path 'has_more' says more pages follow" in outcome.error, outcome.error
        assert ids(rows) == list(range(1, 26))

    def test_an_empty_numbered_page_that_says_more_follow_fails(self, api: FakeApi, lake: ApiLake) -> None:
        """Offset and page numbers cannot skip past an empty page that says more follow (nothing would stop
        a server that always says so): the run fails instead of ending with the records after it lost."""

        def empty_second_page(number: int, request: Request) -> Response | None:
            if number == 2:
                return JSONResponse({"data": [], "meta": {"has_more": True}})
            return None

        api.records, api.fault = RECORDS, empty_second_page
        outcome, rows = lake.run("page")
        assert rows is None and outcome.error is not None
        assert "page 2" in outcome.error and "has_more_path 'meta.has_more'" in outcome.error, outcome.error

    @pytest.mark.parametrize("use_async", [False, True])
    def test_an_offset_server_that_sends_more_than_the_limit_fails(
        self, api: FakeApi, lake: ApiLake, use_async: bool
    ) -> None:
        """A server that ignores ``limit`` (or has a larger minimum) sends records that the next offset
        sends again: the run fails instead of landing them twice."""
        api.records, api.min_page_size = RECORDS, 15
        outcome, rows = lake.run("offset", use_async=use_async)
        assert rows is None and outcome.error is not None
        assert "15 records, more than page_size=10" in outcome.error, outcome.error

    @pytest.mark.parametrize("use_async", [False, True])
    @pytest.mark.parametrize(
        ("style", "pagination"),
        [
            ("offset", {"type": "offset", "page_size": 10, "offset_param": "skip", "total_path": "total"}),
            ("offset", {"type": "offset", "page_size": 10, "offset_param": "skip", "max_pages": 50}),
            ("page", {"type": "page", "page_size": 10, "page_param": "p", "page_size_param": "page_size",
                      "has_more_path": "meta.has_more", "max_pages": 50}),
        ],
    )  # fmt: skip
    def test_a_server_that_ignores_the_numbered_page_parameter_fails(
        self, api: FakeApi, lake: ApiLake, style: str, pagination: dict[str, Any], use_async: bool
    ) -> None:
        """A misnamed ``offset_param``/``page_param`` is ignored by the server, which sends its first page
        for every request: with a total that is a multiple of the page size the run had landed the first
        page twice and never read the second (the count matched), without a total it never ended."""
        api.records = RECORDS[:20]
        outcome, rows = lake.run(style, pagination=pagination, use_async=use_async)
        assert rows is None and outcome.error is not None
        param = "offset_param 'skip'" if style == "offset" else "page_param 'p'"
        assert "page 2" in outcome.error and "same records as page 1" in outcome.error, outcome.error
        assert param in outcome.error, outcome.error
        assert len(api.data_hits()) <= 2 + 2 * use_async  # stopped at once (async: the pages in flight)

    @pytest.mark.parametrize("use_async", [False, True])
    @pytest.mark.parametrize("style", ["offset", "page"])
    @pytest.mark.parametrize("change", ["deleted", "inserted"])
    def test_a_total_that_changes_while_numbered_pages_are_read_fails(
        self, api: FakeApi, lake: ApiLake, style: str, change: str, use_async: bool
    ) -> None:
        """A record removed from (or added to) the front after page 1 shifts every later position: record
        11 is skipped (or record 10 read twice) while the count at the end still matches the last total.
        The run fails instead of committing that, and the day keeps its last commit."""
        api.records = list(RECORDS)
        outcome, rows = lake.run(style, use_async=use_async, prefetch_pages=1)
        assert outcome.error is None and ids(rows) == list(range(1, 26)), outcome.error

        second = len(api.data_hits()) + 2

        def shift_after_the_first_page(number: int, request: Request) -> None:
            if number == second:
                if change == "deleted":
                    del api.records[0]
                else:
                    api.records.insert(0, {"id": 0, "name": "n0"})

        api.fault = shift_after_the_first_page
        pagination = {**PAGINATION[style][0], "total_path": "total" if style == "offset" else "meta.total"}
        outcome, rows = lake.run(style, pagination=pagination, use_async=use_async, prefetch_pages=1)
        assert outcome.error is not None, sorted(r["id"] for r in rows or [])
        before, after = (25, 24) if change == "deleted" else (25, 26)
        assert f"changed from {before} to {after} on page 2" in outcome.error, outcome.error
        assert ids(rows) == list(range(1, 26))  # the day's earlier commit, intact

    @pytest.mark.parametrize("use_async", [False, True])
    def test_keys_with_dots_odata_style_are_found(self, api: FakeApi, lake: ApiLake, use_async: bool) -> None:
        """OData APIs (Microsoft Graph, Dynamics, SharePoint) name their next link ``@odata.nextLink`` and
        their count ``@odata.count``: the dot split the key in two, nothing was found there, and the run
        committed page 1 (10 of 25 records) as the whole listing."""

        def odata(number: int, request: Request) -> Response:
            page = int(request.query_params.get("page", 1))
            body: dict[str, Any] = {
                "@odata.context": "$metadata#items",
                "@odata.count": len(RECORDS),
                "value": {"rows": RECORDS[(page - 1) * 10 : page * 10]},
            }
            if page * 10 < len(RECORDS):
                body["@odata.nextLink"] = f"{lake.base_url}/next/items?page={page + 1}"
            return JSONResponse(body)

        api.fault = odata
        pagination = {"type": "next_url", "next_url_path": "@odata.nextLink", "total_path": "@odata.count"}
        outcome, rows, metadata = lake.run_with_metadata(
            "next", data_path="value.rows", pagination=pagination, use_async=use_async
        )
        assert outcome.error is None, outcome.error
        assert ids(rows) == list(range(1, 26))
        assert metadata is not None and metadata["source_row_count"] == 25

    @pytest.mark.parametrize("rel", ['rel="Next"', 'REL="next"', 'rel="next last"', "rel=next"])
    def test_every_rfc_8288_spelling_of_the_next_link_is_followed(
        self, api: FakeApi, lake: ApiLake, rel: str
    ) -> None:
        """Relation types are case-insensitive and ``rel`` may hold several (RFC 8288 §3.3)."""
        api.records, api.link_rel = RECORDS, rel
        outcome, rows = lake.run("link")
        assert outcome.error is None, outcome.error
        assert ids(rows) == [r["id"] for r in RECORDS]


class TestRetries:
    def test_a_token_endpoint_that_fails_transiently_is_retried(
        self, api: FakeApi, lake: ApiLake, oauth2: dict[str, Any]
    ) -> None:
        """The OAuth2 token request is a request like the others: a 503 or a 429 is retried."""

        def flaky(number: int) -> Response | None:
            if number == 1:
                return JSONResponse({"error": "temporarily_unavailable"}, status_code=503)
            if number == 2:
                return JSONResponse({"error": "slow down"}, status_code=429, headers={"Retry-After": "0"})
            return None

        api.records, api.token_fault = RECORDS, flaky
        outcome, rows = lake.run("next", auth=oauth2, max_retries=2)
        assert outcome.error is None, outcome.error
        assert ids(rows) == [r["id"] for r in RECORDS]
        assert api.token_requests == 3 and api.tokens_issued == 1


class TestOAuth2:
    def test_pages_fetched_ahead_share_one_token_request(
        self, api: FakeApi, lake: ApiLake, oauth2: dict[str, Any]
    ) -> None:
        """With ``use_async`` the first ``prefetch_pages`` requests start together: each found no token and
        asked for one (4 token requests for one run), which token endpoints that limit issuance refuse.
        They now wait for the one request in flight."""
        api.records = [{"id": i, "name": f"n{i}"} for i in range(1, 101)]
        outcome, rows = lake.run("offset", auth=oauth2, use_async=True, prefetch_pages=4)
        assert outcome.error is None, outcome.error
        assert ids(rows) == list(range(1, 101))
        assert (api.token_requests, api.tokens_issued) == (1, 1)


class TestTimeouts:
    @pytest.mark.parametrize("use_async", [False, True])
    def test_a_body_trickling_past_timeout_seconds_is_cut_off_and_retried(
        self, api: FakeApi, lake: ApiLake, use_async: bool
    ) -> None:
        """``timeout_seconds`` bounds a request, not each read: a server sending a byte every 0.1 s never
        let a read time out, so its 20 s body held the run (and the source's slot) for all of it. The
        request is cut off at the timeout, retried, and the run fails; the day keeps its last commit."""
        import asyncio
        import time

        from starlette.responses import StreamingResponse

        api.records = RECORDS
        outcome, rows = lake.run("next", use_async=use_async)
        assert outcome.error is None and ids(rows) == [r["id"] for r in RECORDS], outcome.error

        async def trickle() -> Any:
            for _ in range(200):
                yield b" "
                await asyncio.sleep(0.1)

        api.fault = lambda n, r: StreamingResponse(trickle(), media_type="application/json")
        started = time.monotonic()
        outcome, rows = lake.run("next", use_async=use_async, timeout_seconds=0.5)
        assert outcome.error is not None and "last: ReadTimeout" in outcome.error, outcome.error
        assert "failed after 2 attempt(s)" in outcome.error, outcome.error
        assert time.monotonic() - started < 10
        assert ids(rows) == [r["id"] for r in RECORDS]

    def test_a_token_endpoint_trickling_past_timeout_seconds_is_cut_off(
        self, api: FakeApi, lake: ApiLake, oauth2: dict[str, Any]
    ) -> None:
        """The OAuth2 token request is bounded like the others: its 20 s trickle held the run for all of it
        (only httpx's per-read timeouts applied)."""
        import asyncio
        import time

        from starlette.responses import StreamingResponse

        async def trickle() -> Any:
            for _ in range(200):
                yield b" "
                await asyncio.sleep(0.1)

        api.records = RECORDS
        api.token_fault = lambda n: StreamingResponse(trickle(), media_type="application/json")
        started = time.monotonic()
        outcome, rows = lake.run("next", auth=oauth2, timeout_seconds=0.5, max_retries=1)
        assert outcome.error is not None, rows
        assert "OAuth2 token request" in outcome.error and "ReadTimeout" in outcome.error, outcome.error
        assert time.monotonic() - started < 10


class TestCorruptBodies:
    @pytest.mark.parametrize("use_async", [False, True])
    def test_a_body_that_cannot_be_decoded_is_retried(
        self, api: FakeApi, lake: ApiLake, use_async: bool
    ) -> None:
        """A proxy that breaks a gzip stream once: the request is retried like a dropped connection."""
        api.records = RECORDS
        api.fault = lambda n, r: (
            Response(b"not a gzip stream", headers={"Content-Encoding": "gzip"}) if n == 2 else None
        )
        outcome, rows = lake.run("next", use_async=use_async)
        assert outcome.error is None, outcome.error
        assert ids(rows) == [r["id"] for r in RECORDS]
        assert len(api.data_hits()) == 4

    @pytest.mark.parametrize("use_async", [False, True])
    def test_a_connection_dropped_mid_body_is_retried_and_counted(
        self, api: FakeApi, lake: ApiLake, use_async: bool
    ) -> None:
        """Page 2's connection drops after part of its body: the page is asked again (not landed cut
        short, not failed as bad JSON), and ``_metadata.json`` counts the retry."""
        from starlette.responses import StreamingResponse

        async def cut_short() -> Any:
            yield b'{"data": [{"id": 11, "name": "n11"}, {"id": 12'
            raise RuntimeError("connection dropped")

        api.records = RECORDS
        api.fault = lambda n, r: (
            StreamingResponse(cut_short(), media_type="application/json") if n == 2 else None
        )
        outcome, rows, metadata = lake.run_with_metadata("next", use_async=use_async)
        assert outcome.error is None, outcome.error
        assert ids(rows) == list(range(1, 26))
        assert metadata is not None and (metadata["requests"], metadata["retries"]) == (4, 1)

    def test_a_body_that_never_decodes_fails_naming_the_url_and_keeps_the_last_commit(
        self, api: FakeApi, lake: ApiLake
    ) -> None:
        api.records = RECORDS
        outcome, rows = lake.run("next")
        assert outcome.error is None and ids(rows) == [r["id"] for r in RECORDS], outcome.error
        api.fault = lambda n, r: Response(b"\x1f\x8b broken", headers={"Content-Encoding": "gzip"})
        outcome, rows = lake.run("next")
        assert outcome.error is not None and outcome.error.startswith("ApiError: GET "), outcome.error
        assert f"{lake.base_url}/next/items failed after 2 attempt(s)" in outcome.error, outcome.error
        assert "DecodingError (a body it could not decode)" in outcome.error, outcome.error
        assert ids(rows) == [r["id"] for r in RECORDS]


class TestRedirects:
    @pytest.mark.parametrize("status", [301, 302, 307, 308])
    @pytest.mark.parametrize("number", [1, 2])
    def test_a_redirect_fails_naming_where_it_points_and_keeps_the_last_commit(
        self, api: FakeApi, lake: ApiLake, monkeypatch: pytest.MonkeyPatch, status: int, number: int
    ) -> None:
        """A 3xx is no answer: its body (here an empty list, as a login or maintenance redirect may send)
        had landed as the day's records, an empty partition over a good one. The run fails naming where
        the redirect points (its echoed key masked), sends nothing there, and the day keeps its commit."""
        monkeypatch.setenv("T_KEY", API_KEY)
        api.records, api.auth = RECORDS, "api_key_param"
        outcome, rows = lake.run("next", auth=AUTH["api_key_param"][0])
        assert outcome.error is None and ids(rows) == list(range(1, 26)), outcome.error
        request_number = len(api.data_hits()) + number

        def redirect(n: int, request: Request) -> Response | None:
            if n != request_number:
                return None
            location = f"/moved/items?api_key={request.query_params['api_key']}"
            return JSONResponse({"data": [], "links": {"next": None}}, status, headers={"Location": location})

        api.fault = redirect
        outcome, rows = lake.run("next", auth=AUTH["api_key_param"][0])
        assert outcome.error is not None, rows
        assert f"returned HTTP {status}, a redirect to {lake.base_url}/moved/items" in outcome.error
        assert API_KEY not in outcome.error and "api_key=***" in outcome.error, outcome.error
        assert ids(rows) == list(range(1, 26))  # the day's earlier commit, intact
        assert [h.path for h in api.data_hits()][-1] == "/next/items"  # the redirect was not followed
        assert lake.files_holding(API_KEY) == []


class TestRecords:
    def test_an_empty_key_lands_as_one_named_column_across_pages(self, api: FakeApi, lake: ApiLake) -> None:
        """The records rule every JSON source follows names the empty key ``empty_key`` whatever its
        position in a page, so pages whose keys come in another order land it in one column."""
        api.records = [{"id": i, "": f"v{i}"} for i in range(1, 11)] + [{"": "v11", "id": 11}]
        outcome, rows = lake.run("offset")
        assert outcome.error is None, outcome.error
        assert rows is not None and all("" not in r for r in rows), rows[0] if rows else None
        assert sorted((r["id"], r["empty_key"]) for r in rows) == [(i, f"v{i}") for i in range(1, 12)]


class TestEmptyAnswers:
    """What a response without records lands: ``[]`` is no records; ``{}`` where the records are is no
    record either (never a row of nulls); ``null`` (or no body) on the first page is an error unless
    ``api.allow_empty``, and a failed run keeps the day's last commit."""

    def test_an_empty_object_at_data_path_lands_no_row(self, api: FakeApi, lake: ApiLake) -> None:
        api.fault = lambda number, request: JSONResponse({"data": {}})
        outcome, rows, metadata = lake.run_with_metadata("none")
        assert outcome.error is None, outcome.error
        assert rows == [] and metadata is not None and metadata["record_count"] == 0

    def test_an_empty_object_on_a_later_page_ends_the_listing_without_a_phantom_row(
        self, api: FakeApi, lake: ApiLake
    ) -> None:
        def empty_object_third_page(number: int, request: Request) -> Response | None:
            return JSONResponse({"data": {}, "links": {"next": None}}) if number == 3 else None

        api.records, api.fault = RECORDS, empty_object_third_page
        outcome, rows = lake.run("next")
        assert outcome.error is None, outcome.error
        assert ids(rows) == [r["id"] for r in RECORDS[:20]]
        assert rows is not None and all(r["id"] is not None for r in rows)

    @pytest.mark.parametrize("style", ["none", "cursor"])
    @pytest.mark.parametrize("load_pattern", ["full", "incremental"])
    def test_null_records_on_the_first_page_fail_and_keep_the_last_commit(
        self, api: FakeApi, lake: ApiLake, style: str, load_pattern: str
    ) -> None:
        """An API that answers ``null`` where the records are is more likely broken than empty: the run
        fails naming the URL, ``data_path`` and ``api.allow_empty``, and the day keeps what it had."""
        extra: dict[str, Any] = {"incremental": INCREMENTAL} if load_pattern == "incremental" else {}
        api.records = [{"id": i, "updated_at": "2025-01-02T10:00:00Z"} for i in (1, 2)]
        outcome, rows = lake.run(style, load_pattern=load_pattern, **extra)
        assert outcome.error is None and ids(rows) == [1, 2], outcome.error
        api.fault = lambda number, request: JSONResponse({"data": None, "next": None, "has_more": False})
        outcome, rows = lake.run(style, load_pattern=load_pattern, **extra)
        assert outcome.error is not None
        assert f"/{style}/items" in outcome.error and "data_path 'data'" in outcome.error, outcome.error
        assert "null" in outcome.error and "api.allow_empty" in outcome.error, outcome.error
        assert ids(rows) == [1, 2]  # the earlier commit of the day, intact
        outcome, rows = lake.run(style, date(2025, 1, 3), load_pattern=load_pattern, **extra)
        assert outcome.error is not None and rows is None  # a new day commits nothing

    def test_the_null_records_error_masks_a_key_sent_in_the_query(
        self, api: FakeApi, lake: ApiLake, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        api.auth, api.fault = "api_key_param", lambda number, request: JSONResponse({"data": None})
        monkeypatch.setenv("T_KEY", API_KEY)
        outcome, rows = lake.run("none", auth=AUTH["api_key_param"][0])
        assert outcome.error is not None and "null at data_path" in outcome.error and rows is None
        assert API_KEY not in outcome.error, outcome.error
        assert lake.files_holding(API_KEY) == []

    def test_a_body_that_is_null_fails_without_data_path_too(self, api: FakeApi, lake: ApiLake) -> None:
        api.fault = lambda number, request: Response("null", media_type="application/json")
        outcome, rows = lake.run("link")
        assert outcome.error is not None and rows is None
        assert "/link/items" in outcome.error and "api.allow_empty" in outcome.error, outcome.error

    def test_allow_empty_makes_null_records_an_empty_partition(self, api: FakeApi, lake: ApiLake) -> None:
        api.fault = lambda number, request: JSONResponse({"data": None})
        outcome, rows, metadata = lake.run_with_metadata("none", allow_empty=True)
        assert outcome.error is None, outcome.error
        assert rows == [] and metadata is not None and metadata["record_count"] == 0

    def test_a_missing_data_path_fails_and_keeps_the_last_commit(self, api: FakeApi, lake: ApiLake) -> None:
        """An error page with status 200 (``{"error": ...}``) has no key at ``data_path``: the run fails
        naming the keys it has, even with ``allow_empty``."""
        api.records = [{"id": 1}]
        outcome, rows = lake.run("none")
        assert outcome.error is None and ids(rows) == [1], outcome.error
        api.fault = lambda number, request: JSONResponse({"error": "quota exceeded"})
        outcome, rows = lake.run("none", allow_empty=True)
        assert outcome.error is not None and "no key 'data'" in outcome.error, outcome.error
        assert "keys there: error" in outcome.error
        assert ids(rows) == [1]

    @pytest.mark.parametrize("allow_empty", [False, True])
    def test_a_list_left_out_when_empty_google_style_is_no_records_with_allow_empty(
        self, api: FakeApi, lake: ApiLake, allow_empty: bool
    ) -> None:
        """Google's APIs (proto3 JSON) leave an empty list out: a quiet day answers ``{"kind": ...}``
        without ``items``. That failed every quiet day, ``allow_empty`` or not, so such a source could not
        be loaded. With ``allow_empty`` it is now no records; without, the error says to set it. A body
        with an error envelope (``{"error": ...}``) still fails either way (the test below)."""
        api.fault = lambda n, r: JSONResponse({"kind": "admin#reports#activities", "etag": '"x1"'})
        outcome, rows = lake.run("none", data_path="items", allow_empty=allow_empty)
        if allow_empty:
            assert outcome.error is None and rows == [], outcome.error
        else:
            assert outcome.error is not None and rows is None
            assert (
                "no key 'items' at the top level" in outcome.error
                and "keys there: etag, kind" in outcome.error
            )
            assert "api.allow_empty: true" in outcome.error, outcome.error

    @pytest.mark.parametrize(
        ("style", "body", "where"),
        [
            ("none", {"data": "rate limited"}, "a string at data_path 'data'"),
            ("none", {"data": 42}, "a number at data_path 'data'"),
            ("link", "rate limited", "a string as its body"),
            ("link", True, "a boolean as its body"),
        ],
    )
    def test_a_plain_value_where_the_records_are_fails_and_keeps_the_last_commit(
        self, api: FakeApi, lake: ApiLake, style: str, body: Any, where: str
    ) -> None:
        """``{"data": "rate limited"}`` is an answer about the request, not a record: it fails naming the
        URL and what it found (it had landed as one row with a ``value`` column)."""
        api.records = [{"id": 1}]
        outcome, rows = lake.run(style)
        assert outcome.error is None and ids(rows) == [1], outcome.error
        api.fault = lambda number, request: JSONResponse(body)
        outcome, rows = lake.run(style, allow_empty=True)
        assert outcome.error is not None, rows
        assert f"/{style}/items" in outcome.error and where in outcome.error, outcome.error
        assert "rate limited" not in outcome.error  # a body's text may hold anything: not repeated
        assert ids(rows) == [1]

    def test_an_empty_list_is_an_empty_partition(self, api: FakeApi, lake: ApiLake) -> None:
        """``[]`` is the API saying "no records" (a quiet day): no error, no option needed."""
        outcome, rows = lake.run("none")
        assert outcome.error is None and rows == [], outcome.error


class TestRequests:
    @pytest.mark.parametrize("use_async", [False, True])
    def test_params_that_are_lists_objects_or_null_are_sent_as_apis_read_them(
        self, api: FakeApi, lake: ApiLake, use_async: bool
    ) -> None:
        """A list went out as Python's text of it (``status=['open', 'pending']``), an object too
        (``{'kind': 'a'}``) and null as ``None``. A list is the parameter repeated (what HTTP clients and
        APIs do), an object its JSON text, null leaves the parameter out; on every page."""
        seen: list[list[tuple[str, str]]] = []

        def record_query(number: int, request: Request) -> None:
            seen.append(
                [(k, v) for k, v in request.query_params.multi_items() if k not in ("offset", "limit")]
            )

        api.records, api.fault = RECORDS, record_query
        params = {
            "status": ["open", "pending"],
            "since": None,
            "filter": {"kind": "á", "n": 1},
            "f": 1.5,
            "b": True,
        }
        outcome, rows = lake.run("offset", params=params, use_async=use_async)
        assert outcome.error is None and ids(rows) == list(range(1, 26)), outcome.error
        expected = [
            ("status", "open"),
            ("status", "pending"),
            ("filter", '{"kind":"á","n":1}'),
            ("f", "1.5"),
            ("b", "true"),
        ]
        assert len(seen) >= 3 and [sorted(query) for query in seen] == [sorted(expected)] * len(seen)


class TestBodies:
    @pytest.mark.parametrize("charset", ["iso-8859-1", "windows-1252", "utf-16"])
    def test_a_body_in_the_charset_its_content_type_declares_is_read_in_it(
        self, api: FakeApi, lake: ApiLake, charset: str
    ) -> None:
        """RFC 8259 wants UTF-8, but older APIs send Latin-1 and say so (``charset=iso-8859-1``): that body
        failed as invalid JSON (``'utf-8' codec can't decode byte 0xe9``)."""
        text = '{"data": [{"id": 1, "name": "Zoë Müller"}, {"id": 2, "name": "café"}]}'
        api.fault = lambda n, r: Response(
            text.encode(charset), headers={"Content-Type": f"application/json; charset={charset}"}
        )
        outcome, rows = lake.run("none")
        assert outcome.error is None, outcome.error
        assert rows is not None
        assert sorted((r["id"], r["name"]) for r in rows) == [(1, "Zoë Müller"), (2, "café")]

    def test_a_charset_python_does_not_know_is_read_as_json_s_own_utf_8(
        self, api: FakeApi, lake: ApiLake
    ) -> None:
        api.fault = lambda n, r: Response(
            '{"data": [{"id": 1, "name": "café"}]}'.encode(),
            headers={"Content-Type": "application/json; charset=no-such-charset"},
        )
        outcome, rows = lake.run("none")
        assert outcome.error is None, outcome.error
        assert rows is not None and [(r["id"], r["name"]) for r in rows] == [(1, "café")]

    @pytest.mark.parametrize("style", ["next", "cursor"])  # the cursor style has a has_more_path
    @pytest.mark.parametrize("allow_empty", [False, True])
    def test_204_no_content_is_a_body_without_records(
        self, api: FakeApi, lake: ApiLake, allow_empty: bool, style: str
    ) -> None:
        """HTTP 204 (no body) is read as a null body (the table of "Empty answers"): on the first page an
        error unless ``allow_empty``, after it the end of the listing. It failed as invalid JSON on any
        page, also as the page after the last."""
        api.fault = lambda n, r: Response(status_code=204)
        outcome, rows = lake.run("none", allow_empty=allow_empty)
        if allow_empty:
            assert outcome.error is None and rows == [], outcome.error
        else:
            assert outcome.error is not None and rows is None
            assert "/none/items returned HTTP 204" in outcome.error, outcome.error
            assert "api.allow_empty" in outcome.error, outcome.error
        api.records, second = RECORDS, len(api.data_hits()) + 2
        api.fault = lambda n, r: Response(status_code=204) if n == second else None
        outcome, rows = lake.run(style, allow_empty=allow_empty)
        assert outcome.error is None, outcome.error
        assert ids(rows) == [r["id"] for r in RECORDS[:10]]

    @pytest.mark.parametrize("allow_empty", [False, True])
    def test_a_null_body_with_a_data_path_is_null_records(
        self, api: FakeApi, lake: ApiLake, allow_empty: bool
    ) -> None:
        """The table of "Empty answers": a body that is ``null`` as a whole is null records, with a
        ``data_path`` too; it failed "cannot take 'data'", whatever ``allow_empty`` said."""
        api.fault = lambda n, r: Response("null", media_type="application/json")
        outcome, rows = lake.run("none", allow_empty=allow_empty)
        if allow_empty:
            assert outcome.error is None and rows == [], outcome.error
        else:
            assert outcome.error is not None and rows is None
            assert "/none/items returned a null body" in outcome.error, outcome.error
            assert "api.allow_empty" in outcome.error, outcome.error
