"""Legacy spellings: each deprecation warns with its code, and every legacy name resolves."""

from __future__ import annotations

import warnings

import pytest

from medallion_assets.config.compat import (
    DEPRECATIONS,
    LOAD_PATTERN_ALIASES,
    SILVER_MODEL_ALIASES,
    upgrade_file,
)
from medallion_assets.config.loader import load_config, load_config_with_origins
from medallion_assets.errors import MedallionDeprecationWarning

from ._support import FIXTURES

LEGACY = FIXTURES / "legacy"


def _load_legacy():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = load_config_with_origins(LEGACY, environ={})
    return loaded, caught


@pytest.mark.parametrize("code", sorted(DEPRECATIONS))
def test_each_deprecation_warns_with_its_code(code: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pytest.warns re-emits the other codes' warnings on exit
        with pytest.warns(MedallionDeprecationWarning, match=rf"\[{code}\]") as record:
            load_config(LEGACY, environ={})
    matching = [
        w for w in record if isinstance(w.message, MedallionDeprecationWarning) and w.message.code == code
    ]
    assert matching
    assert all("legacy" in str(w.message) for w in matching)  # the file is named
    assert all(w.filename == __file__ for w in matching)  # attributed to the caller, not to the loader


def test_warnings_are_also_returned_with_the_config() -> None:
    loaded, caught = _load_legacy()
    codes = sorted({text[1:7] for text in loaded.warnings})
    assert codes == ["CFG001", "CFG002", "CFG003", "CFG004", "CFG005"]
    assert len(loaded.warnings) == len(
        [w for w in caught if issubclass(w.category, MedallionDeprecationWarning)]
    )
    assert any("legacy/platform.yaml" in text and "CFG004" in text for text in loaded.warnings)
    assert not any("legacy/sources/legacy.yaml" in text and "CFG004" in text for text in loaded.warnings)


def test_deprecated_keys_and_legacy_names_resolve() -> None:
    loaded, _ = _load_legacy()
    config = loaded.config
    assert config.platform.bronze.local_path == str(LEGACY.resolve().parent / "lake" / "bronze")
    by_name = {s.source_name: s for s in config.sources}
    api = by_name["crm_contacts"].source.api
    assert api is not None and api.base_url == "https://crm.example.com/api" and api.endpoint == "/"
    expected = {
        "crm_contacts": ("incremental", "scd_type_1"),
        "retail_stores": ("full", "scd_type_1"),
        "retail_orders": ("full", "scd_type_2"),
        "retail_customers": ("incremental", "scd_type_1"),
    }
    assert {n: (s.source.run.load_pattern, s.silver_model) for n, s in by_name.items()} == expected


@pytest.mark.parametrize(("legacy", "current"), sorted(LOAD_PATTERN_ALIASES.items()))
def test_load_pattern_alias(legacy: str, current: str) -> None:
    raw = {"config_version": 1, "sources": [{"source": {"run": {"load_pattern": legacy}}}]}
    assert upgrade_file(raw, "f.yaml").data["sources"][0]["source"]["run"]["load_pattern"] == current


@pytest.mark.parametrize(("legacy", "current"), sorted(SILVER_MODEL_ALIASES.items()))
def test_silver_model_alias(legacy: str, current: str) -> None:
    raw = {"config_version": 1, "sources": [{"silver": {"model": legacy}}]}
    assert upgrade_file(raw, "f.yaml").data["sources"][0]["silver"]["model"] == current


def test_upgrade_does_not_mutate_its_input_and_keeps_key_order() -> None:
    raw = {"platform": {"bronze": {"storage_backend": "local", "output_dir": "x", "s3_prefix": ""}}}
    result = upgrade_file(raw, "p.yaml")
    assert "output_dir" in raw["platform"]["bronze"]
    assert list(result.data["platform"]["bronze"]) == ["storage_backend", "local_path", "s3_prefix"]
    assert [code for code, _ in result.warnings] == ["CFG004", "CFG001"]
