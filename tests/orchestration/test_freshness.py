"""Optional freshness policies from config: on both assets of a source, warn window below the fail window."""

from __future__ import annotations

from datetime import timedelta

import pytest

from medallion_assets.errors import ConfigError
from medallion_assets.factory import build_definitions


def test_freshness_from_config_lands_on_both_assets_of_the_source(sample_config) -> None:
    def edit(entry: dict) -> None:
        if entry["name"] == "retail_orders":
            entry["freshness"] = {"fail_window_hours": 30, "warn_window_hours": 26}

    defs = build_definitions(sample_config(edit))
    specs = {"/".join(s.key.path): s for s in defs.resolve_all_asset_specs()}
    for key in ("bronze/retail/orders", "silver/sales/orders"):
        policy = specs[key].freshness_policy
        assert policy is not None, key
        assert policy.fail_window.to_timedelta() == timedelta(hours=30)
        assert policy.warn_window.to_timedelta() == timedelta(hours=26)
    assert specs["silver/sales/customers"].freshness_policy is None


def test_a_warn_window_not_below_the_fail_window_is_a_config_error(sample_config) -> None:
    def edit(entry: dict) -> None:
        entry["freshness"] = {"fail_window_hours": 24, "warn_window_hours": 24}

    with pytest.raises(
        ConfigError, match=r"warn_window_hours \(24.0\) must be smaller than fail_window_hours"
    ):
        sample_config(edit)
