"""Fixtures of the config tests."""

from __future__ import annotations

import pytest

from ._support import MINIMAL


@pytest.fixture
def minimal_platform_text() -> str:
    return (MINIMAL / "platform.yaml").read_text(encoding="utf-8")
