"""``medallion --component DEFS_YAML``: a dg component's config and asset keys, read outside dg.

Without a ``translation`` (and no dg template in its attributes) the component is read without Dagster, so
``validate`` and ``list`` answer as fast as with ``--config-dir``; dg's ``post_processing`` cannot change an
asset key, so the keys the CLI reads and runs are the ones dg's own loading gives.
"""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from medallion_assets.cli import main
from tests.cli.test_status_plan import SOURCES
from tests.integration._lake import local_lake
from tests.integration.test_cli import in_fresh_interpreter

TYPE = "medallion_assets.MedallionSources"

# The verb in a fresh interpreter, in-process (the console script leaves by os._exit once Dagster is in).
IMPORTS_AFTER = """
import json, sys
from medallion_assets.cli import main
main(sys.argv[1:], standalone_mode=False)
print(json.dumps({"dagster": sorted(m for m in sys.modules if m.split(".")[0] == "dagster")}))
"""


def component_project(root: Path, package: str, attributes: dict[str, Any], **extra: Any) -> Path:
    """A dg project at ``root`` whose ``<package>/defs/lake/defs.yaml`` declares the component."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(
        f"[project]\nname = '{package}'\n\n[tool.dg]\ndirectory_type = 'project'\n\n"
        f"[tool.dg.project]\nroot_module = '{package}'\n"
    )
    defs = root / package / "defs" / "lake"
    defs.mkdir(parents=True)
    for folder in (root / package, root / package / "defs"):
        (folder / "__init__.py").write_text("")
    (defs / "defs.yaml").write_text(yaml.safe_dump({"type": TYPE, "attributes": attributes, **extra}))
    return defs / "defs.yaml"


@pytest.fixture
def configs(tmp_path: Path) -> Path:
    local_lake(tmp_path, SOURCES, date(2025, 1, 1), data=tmp_path / "data")
    return tmp_path / "configs"


def listing(*args: str) -> list[dict[str, Any]]:
    result = CliRunner().invoke(
        main, [*args, "list", "--json"], catch_exceptions=False, standalone_mode=False
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize("verb", [["validate"], ["list"], ["list", "--json"]])
def test_a_component_without_translation_is_read_without_dagster(
    verb: list[str], configs: Path, tmp_path: Path
) -> None:
    defs = component_project(tmp_path / "project", "plain_proj", {"config_dir": str(configs)})
    report, _ = in_fresh_interpreter(IMPORTS_AFTER, ["--component", str(defs), *verb], {})
    assert report["dagster"] == [], f"{verb} imported {report['dagster'][:5]}"
    # and it reads what --config-dir reads: the same sources under the same keys
    assert listing("--component", str(defs)) == listing("--config-dir", str(configs))


def test_post_processing_leaves_the_keys_the_cli_reads_as_dg_loads_them(
    configs: Path, tmp_path: Path
) -> None:
    """dg applies ``post_processing`` to the component's Definitions (groups, tags here); the CLI does not
    read it, and the asset keys ``--component`` lists (and runs, and reads runs of) are dg's own."""
    import dagster as dg

    post = {"assets": [{"target": "*", "attributes": {"group_name": "post", "tags": {"team": "lake"}}}]}
    attributes = {"config_dir": str(configs), "translation": {"key_prefix": "lake"}}
    root = tmp_path / "project"
    defs_yaml = component_project(root, "post_proj", attributes, post_processing=post)
    sys.path.insert(0, str(root))
    try:
        defs = dg.load_from_defs_folder(path_within_project=root)
    finally:
        sys.path.remove(str(root))
    graph = defs.resolve_asset_graph()
    dg_keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert {graph.get(dg.AssetKey.from_user_string(k)).group_name for k in dg_keys} == {"post"}  # applied
    listed = listing("--component", str(defs_yaml))
    cli_keys = {s[layer] for s in listed for layer in ("bronze_asset", "silver_asset")}
    assert cli_keys == dg_keys
    assert "lake/bronze/t/hist" in cli_keys


def test_a_template_in_the_attributes_is_resolved_by_dg(
    configs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAKE_CONFIGS", str(configs))
    defs = component_project(tmp_path / "project", "tpl_proj", {"config_dir": "{{ env.LAKE_CONFIGS }}"})
    assert listing("--component", str(defs)) == listing("--config-dir", str(configs))


def test_a_defs_yaml_of_another_component_is_refused_naming_the_file(tmp_path: Path) -> None:
    defs = component_project(tmp_path / "project", "other_proj", {})
    defs.write_text(yaml.safe_dump({"type": "dagster_dlt.DltLoadCollectionComponent", "attributes": {}}))
    result = CliRunner().invoke(main, ["--component", str(defs), "list"], standalone_mode=False)
    assert result.exit_code == 1
    assert str(defs) in result.stderr and "medallion_assets.MedallionSources" in result.stderr
