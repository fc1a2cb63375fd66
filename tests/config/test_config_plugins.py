"""Plugins in one process: classes registered in code, and entry points read by Definitions loading.

The CLI end to end (an installed wheel, `medallion validate` and `run`): tests/integration/test_plugins.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import pyarrow as pa
import pytest
from pydantic import ValidationError

from medallion_assets.config.loader import load_config
from medallion_assets.config.models import SourceEntry
from medallion_assets.errors import ConfigError
from medallion_assets.extractors import ExtractContext, Extractor, register_extractor
from medallion_assets.extractors import registry as extractor_registry
from medallion_assets.factory import load_definitions
from medallion_assets.silver import registry as silver_registry
from medallion_assets.silver.base import SilverContext, SilverModel, SilverResult
from medallion_assets.specs import build_specs

from ._support import MINIMAL, write_config

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "plugin_dist"


class Latest(SilverModel):
    """A code-registered model: the incoming rows as they are, reading nothing of Silver D-1."""

    name = "latest_rows"
    artifacts = ("snapshot",)
    stateful = False
    load_patterns = frozenset({"full"})

    def apply(
        self, state: Mapping[str, pl.DataFrame] | None, incoming: pl.DataFrame, ctx: SilverContext
    ) -> SilverResult:
        return SilverResult(artifacts={"snapshot": incoming}, inserted=incoming.height)


class Constant(Extractor):
    type_name = "constant"

    def extract(self, ctx: ExtractContext) -> Iterator[pa.RecordBatch]:
        yield pa.RecordBatch.from_pydict({"id": [1]})


@pytest.fixture
def registries() -> Iterator[None]:
    """Whatever a test registers is gone after it."""
    models, extractors = dict(silver_registry.SILVER_MODELS), dict(extractor_registry.registered_extractors())
    yield
    silver_registry.SILVER_MODELS.clear()
    silver_registry.SILVER_MODELS.update(models)
    extractor_registry.EXTRACTORS.clear()
    extractor_registry.EXTRACTORS.update(extractors)


def entry(**source: Any) -> dict[str, Any]:
    return {
        "source": {
            "system": "s",
            "table": "t",
            "type": "constant",
            "run": {"load_pattern": "full"},
            **source,
        },
        "silver": {"model": "latest_rows"},
    }


def test_classes_registered_in_code_are_selectable(registries: None) -> None:
    with pytest.raises(
        ValidationError, match=r"source\.type\n.*Input should be 'api', 'custom', 'db' or 'file'"
    ):
        SourceEntry.model_validate(entry())
    register_extractor(Constant)
    with pytest.raises(ValidationError, match=r"silver\.model\n.*Input should be 'cdc', 'event_log', "):
        SourceEntry.model_validate(entry())
    silver_registry.register_silver_model(Latest)

    validated = SourceEntry.model_validate(entry())
    assert validated.silver_model == "latest_rows"
    assert validated.source.extractor_section is None  # plugin types read source.options, none given here
    with pytest.raises(
        ValidationError, match="'latest_rows' does not fit source.run.load_pattern 'incremental'"
    ):
        SourceEntry.model_validate(entry(run={"load_pattern": "incremental"}))
    with pytest.raises(ValidationError, match=r"type 'constant' does not use the section\(s\) file"):
        SourceEntry.model_validate(entry(file={"path": "x.csv"}))


def test_a_code_registered_model_decides_statefulness(registries: None, tmp_path: Path) -> None:
    register_extractor(Constant)
    silver_registry.register_silver_model(Latest)
    config_dir = write_config(
        tmp_path,
        {
            "platform.yaml": (MINIMAL / "platform.yaml").read_text(encoding="utf-8"),
            "s.yaml": {"config_version": 1, "sources": [entry()]},
        },
    )
    [spec] = build_specs(load_config(config_dir, environ={}))
    assert spec.model == "latest_rows" and spec.stateful is False


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, registries: None) -> Iterator[Path]:
    """The fixture plugin importable and its entry points installed (a dist-info on sys.path)."""
    site = tmp_path / "site"
    info = site / "acme_lake_plugins-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-lake-plugins\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        (FIXTURE / "entry_points.txt").read_text()
        + "wrong_name = acme_lake_plugins.silver:FullOnly\n"
        + "not_a_model = acme_lake_plugins.extractors:CounterOptions\n"
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.syspath_prepend(str(FIXTURE))
    yield site
    for name in [m for m in sys.modules if m.startswith("acme_lake_plugins")]:
        del sys.modules[name]


def test_definitions_loading_imports_the_selected_plugins(
    installed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEDALLION_LAKE_DIR", str(tmp_path / "lake"))
    assert "key_totals" not in silver_registry.SILVER_MODELS
    defs = load_definitions(FIXTURE / "configs")
    specs = {spec.key: spec for spec in defs.resolve_all_asset_specs()}
    bronze, silver = dg.AssetKey(["bronze", "acme", "counters"]), dg.AssetKey(["silver", "acme", "totals"])
    assert "counter" in specs[bronze].kinds
    assert {dep.asset_key for dep in specs[silver].deps} == {bronze, silver}  # KeyTotals.stateful
    assert silver_registry.SILVER_MODELS["key_totals"].__module__ == "acme_lake_plugins.silver"


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (
            "wrong_name",
            r"is FullOnly, whose name is 'full_only'; the entry point name and the class's 'name'",
        ),
        (
            "not_a_model",
            r"\(acme_lake_plugins\.extractors:CounterOptions\) .* is <class .*CounterOptions'>, not a",
        ),
    ],
)
def test_an_entry_point_that_breaks_the_contract_is_a_config_error(
    installed: Path, tmp_path: Path, model: str, message: str
) -> None:
    source = {"type": "counter", "options": {"keys": 1}, "run": {"load_pattern": "full"}}
    files = {
        "platform.yaml": (MINIMAL / "platform.yaml").read_text(encoding="utf-8"),
        "s.yaml": {"config_version": 1, "sources": [{**entry(**source), "silver": {"model": model}}]},
    }
    with pytest.raises(
        ConfigError, match=r"s\.yaml: sources\[0\]\.silver\.model: silver\.model '" + model + ".*" + message
    ):
        load_definitions(write_config(tmp_path, files))


# In a fresh interpreter: which extractor modules asking for one type imports, then listing every type.
EXTRACTOR_IMPORTS = """
import json, sys
from medallion_assets.extractors.registry import extractor_class, extractor_types
MODULES = ("medallion_assets.extractors.api", "medallion_assets.extractors.db", "httpx")
chosen = extractor_class("file").__name__
loaded = [m for m in MODULES if m in sys.modules]
names = extractor_types()
after = [m for m in MODULES if m in sys.modules]
print(json.dumps({"chosen": chosen, "loaded": loaded, "names": names, "after": after}))
"""


def test_a_built_in_extractor_type_is_imported_when_first_asked_for() -> None:
    done = subprocess.run(
        [sys.executable, "-c", EXTRACTOR_IMPORTS], capture_output=True, text=True, timeout=120, check=True
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["chosen"] == "FileExtractor"
    assert report["loaded"] == []  # a file source does not load the API extractor's HTTP client
    assert {"api", "custom", "db", "file"} <= set(report["names"])  # listing the types imports them all
    # Listing imports every extractor class (their contracts), not the API extractor's HTTP client: httpx
    # loads with the first request
    assert report["after"] == ["medallion_assets.extractors.api", "medallion_assets.extractors.db"]
