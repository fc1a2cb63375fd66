"""Shared fixtures: a temporary copy of the sample lake (configs + generated data) and service gating."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "sampledata"))

from api_server import build_sample_app, serve  # noqa: E402
from generate import generate  # noqa: E402
from service_gate import require_service  # noqa: E402, F401  (test modules import it from service_gate)

SAMPLE_API_TOKEN = "test-sample-token"


@pytest.fixture(scope="session", autouse=True)
def commit_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The commit cache of every test (and the commands they start) in a temp folder, never ~/.cache."""
    folder = tmp_path_factory.mktemp("medallion-cache")
    os.environ["MEDALLION_CACHE_DIR"] = str(folder)
    return folder


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample source files for 10 days, generated once per test worker."""
    out = tmp_path_factory.mktemp("sample")
    generate(out, __import__("datetime").date(2025, 1, 1), 10)
    return out


@pytest.fixture(scope="session")
def sample_api(sample_dir: Path) -> Iterator[str]:
    """The sample tickets API (``sampledata/api_server.py``) over the sample data, on a free port."""
    with serve(build_sample_app(sample_dir, SAMPLE_API_TOKEN)) as url:
        yield url


@pytest.fixture
def lake_env(
    tmp_path: Path, sample_dir: Path, sample_api: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """Point the embedded default config at a fresh lake and Dagster home in tmp_path (and the sample
    API source at the running sample API)."""
    env = {
        "MEDALLION_CONFIG_DIR": str(REPO / "configs"),
        "MEDALLION_LAKE_DIR": str(tmp_path / "lake"),
        "MEDALLION_SAMPLE_DIR": str(sample_dir),
        "MEDALLION_SAMPLE_API_URL": sample_api,
        "MEDALLION_SAMPLE_API_TOKEN": SAMPLE_API_TOKEN,
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
    }
    (tmp_path / "dagster_home").mkdir()
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    yield env


@pytest.fixture
def config_copy(tmp_path: Path) -> Path:
    """A writable copy of configs/ for tests that edit YAML."""
    target = tmp_path / "configs"
    shutil.copytree(REPO / "configs", target)
    return target


# Session fixtures of the object-store servers (moto S3, Azurite): s3_endpoint, s3_auth_endpoint,
# azurite_endpoint.
from object_stores import azurite_endpoint, s3_auth_endpoint, s3_endpoint  # noqa: E402, F401


@pytest.fixture
def arrow_conversions(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The heights of the polars frames converted to Arrow (``DataFrame.to_arrow``) during the test."""
    import polars as pl

    converted: list[int] = []
    real = pl.DataFrame.to_arrow

    def recorded(frame: pl.DataFrame, *args: object, **kwargs: object) -> object:
        converted.append(frame.height)
        return real(frame, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pl.DataFrame, "to_arrow", recorded)
    return converted


# The longest tests (end to end through `dagster dev` and its daemon, 30-80 s each) are handed out first:
# run last, one of them kept a worker busy for a minute after the others had finished (the suite's tail).
_LONGEST_FIRST = (
    "test_range_backfill_e2e.py",
    "test_orchestration_e2e.py",
    "test_killed_runs.py",
    "test_stale_check_on_object_stores.py",
    "test_silver_events.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.path.name not in _LONGEST_FIRST)  # stable: otherwise in file order
