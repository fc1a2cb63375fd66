"""Shared fixtures: a temporary copy of the sample lake (configs + generated data) and service gating."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "sampledata"))

from generate import generate  # noqa: E402
from service_gate import require_service  # noqa: E402, F401  (test modules import it from service_gate)


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample source files for 10 days, generated once per test worker."""
    out = tmp_path_factory.mktemp("sample")
    generate(out, __import__("datetime").date(2025, 1, 1), 10)
    return out


@pytest.fixture
def lake_env(tmp_path: Path, sample_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Point the embedded default config at a fresh lake and Dagster home in tmp_path."""
    env = {
        "MEDALLION_CONFIG_DIR": str(REPO / "configs"),
        "MEDALLION_LAKE_DIR": str(tmp_path / "lake"),
        "MEDALLION_SAMPLE_DIR": str(sample_dir),
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
