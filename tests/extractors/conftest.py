"""Fixtures of the extractor tests: typed configs and run contexts built without YAML files."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import fsspec
import pytest

from medallion_assets.config.models import PlatformConfig, SourceEntry
from medallion_assets.extractors import ExtractContext, Extractor, create_extractor


@pytest.fixture
def platform() -> PlatformConfig:
    return PlatformConfig.model_validate(
        {"bronze": {"local_path": "/tmp/x"}, "silver": {"local_path": "/tmp/y"}}
    )


@pytest.fixture
def make_context() -> Callable[[date], ExtractContext]:
    """``make_context(run_date)``: the context of that day's UTC partition."""

    def make(run_date: date = date(2025, 1, 2)) -> ExtractContext:
        start = datetime(run_date.year, run_date.month, run_date.day, tzinfo=UTC)
        return ExtractContext(run_date=run_date, window_start=start, window_end=start + timedelta(days=1))

    return make


@pytest.fixture
def make_entry() -> Callable[..., SourceEntry]:
    """``make_entry(type, section)``: a source of that type whose extractor section is ``section``."""

    def make(source_type: str, section: dict[str, Any]) -> SourceEntry:
        key = "custom_extractor" if source_type == "custom" else source_type
        return SourceEntry.model_validate(
            {"source": {"system": "shop", "table": "orders", "type": source_type, key: section}}
        )

    return make


@pytest.fixture
def make_file(make_entry: Callable[..., SourceEntry], platform: PlatformConfig) -> Callable[..., Extractor]:
    """``make_file(path=..., format=...)``: the extractor for those ``file:`` settings."""

    def make(**file: Any) -> Extractor:
        return create_extractor(make_entry("file", file), platform)

    return make


@pytest.fixture
def memory_root(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh ``memory://`` folder for one test, removed afterwards."""
    folder = "/medallion-tests/" + re.sub(r"\W", "_", request.node.name)
    yield f"memory://{folder.lstrip('/')}"
    fs = fsspec.filesystem("memory")
    if fs.exists(folder):
        fs.rm(folder, recursive=True)
