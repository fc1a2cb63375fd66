"""A fake API on a real socket, started once per test module, reset for every test."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "sampledata"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from api_server import serve  # noqa: E402
from fake_api import FakeApi, build_app  # noqa: E402


@pytest.fixture(scope="module")
def fake_server() -> Iterator[tuple[str, dict[str, FakeApi]]]:
    holder = {"api": FakeApi()}
    with serve(build_app(holder)) as url:
        yield url, holder


@pytest.fixture
def api(fake_server: tuple[str, dict[str, FakeApi]]) -> FakeApi:
    holder = fake_server[1]
    holder["api"] = FakeApi()
    return holder["api"]


@pytest.fixture
def base_url(fake_server: tuple[str, dict[str, FakeApi]]) -> str:
    return fake_server[0]


@pytest.fixture(autouse=True)
def _fresh_buckets() -> None:
    from medallion_resources.http.ratelimit import reset_buckets

    reset_buckets()
