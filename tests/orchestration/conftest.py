"""Fixtures of the schedule and sensor tests: the sample configs, edited per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

from medallion_assets.config.loader import load_config
from medallion_assets.config.models import MedallionConfig
from tests.instances import cli_instance_for_test


def edit_sources(config_dir: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    """Apply ``edit`` to every source entry of the config copy."""
    for path in sorted((config_dir / "sources").glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        for entry in data.get("sources", []):
            edit(entry)
        path.write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.fixture
def sample_config(lake_env: dict[str, str], config_copy: Path, monkeypatch: pytest.MonkeyPatch):
    """Load the (possibly edited) sample config copy: ``sample_config(edit=None) -> MedallionConfig``."""
    monkeypatch.setenv("MEDALLION_CONFIG_DIR", str(config_copy))

    def load(edit: Callable[[dict[str, Any]], None] | None = None) -> MedallionConfig:
        if edit is not None:
            edit_sources(config_copy, edit)
        return load_config(config_copy)

    return load


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dg.DagsterInstance]:
    """One test instance per module (its set-up takes seconds); tests find their runs by id."""
    home = tmp_path_factory.mktemp("instance")
    with cli_instance_for_test(home) as inst:
        yield inst
