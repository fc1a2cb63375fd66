"""Service gating for tests that need an external service (importable from any test module)."""

from __future__ import annotations

import os

import pytest

__all__ = ["require_service"]


def require_service(available: bool, reason: str) -> None:
    """Skip a test whose service is missing, or fail it when CI demands every service.

    ``reason`` must say how to provide the service. CI sets MEDALLION_REQUIRE_SERVICES=1, so a skip there
    would hide a broken set-up and becomes a failure instead.
    """
    if available:
        return
    if os.environ.get("MEDALLION_REQUIRE_SERVICES") == "1":
        pytest.fail(f"required service unavailable: {reason}")
    pytest.skip(reason)
