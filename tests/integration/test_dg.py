"""The repo as a ``dg`` project, and the ``MedallionSources`` component in a project of its own.

Every ``dg`` command runs as a user runs it: a subprocess of the installed ``dg``, in the project folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import dagster as dg
import pytest
import yaml

import gold
from medallion_assets.component import MedallionSources
from medallion_assets.factory import load_definitions
from medallion_resources.lake.read import read_committed
from medallion_resources.storage.local import LocalBackend

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]
TYPE = "medallion_assets.MedallionSources"


def run_dg(
    *args: str, cwd: Path, env: dict[str, str], check: bool = True
) -> subprocess.CompletedProcess[str]:
    full_env = {
        **os.environ,
        **env,
        "VIRTUAL_ENV": str(BIN.parent),  # dg warns when the active environment is not the project's
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "NO_COLOR": "1",
        "COLUMNS": "200",
    }
    result = subprocess.run(
        [str(BIN / "dg"), *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=300
    )
    if check:
        assert result.returncode == 0, f"dg {' '.join(args)}\n{result.stdout}\n{result.stderr}"
    return result


def asset_keys(listing: str) -> set[str]:
    return {a["asset_key"] for a in json.loads(listing)["assets"]}


# --- the repo is a dg project ------------------------------------------------------------------------------


def test_list_and_check_from_the_repo_root(lake_env: dict[str, str]) -> None:
    """Before ``[tool.dg]``: "This command must be run inside a Dagster project directory"."""
    # The project's code location is definitions.py (as workspace.yaml's): the generated assets and Gold.
    expected = {key.to_user_string() for key in load_definitions().resolve_all_asset_keys()}
    expected |= {asset.key.to_user_string() for asset in gold.assets}
    listing = run_dg("list", "defs", "--json", cwd=REPO, env=lake_env).stdout
    assert asset_keys(listing) == expected
    assert {"bronze/retail/orders", "silver/sales/orders"} <= expected
    checked = run_dg("check", "defs", cwd=REPO, env=lake_env).stdout  # `dg check yaml` first, then loads
    assert "All component YAML validated successfully" in checked
    assert "All definitions loaded successfully" in checked


# `dg launch` runs in test_scaffold_edit_check_and_launch_a_component (--partition) and
# test_range_entry_points.py (--partition-range); `dg dev` serves test_ui.py.


# --- the component ----------------------------------------------------------------------------------------


def test_component_yields_the_definitions_medallion_builds(lake_env: dict[str, str]) -> None:
    """Pointed at configs/, the component's Definitions are the code location's, name for name."""
    ours = load_definitions(REPO / "configs")
    component = MedallionSources(config_dir=str(REPO / "configs"))
    theirs = dg.components.testing.utils.component_defs(component=component)
    assert _shape(theirs) == _shape(ours)


def _shape(defs: dg.Definitions) -> dict[str, object]:
    graph = defs.resolve_asset_graph()
    return {
        "assets": {
            key.to_user_string(): (
                node.group_name,
                sorted(node.kinds),
                sorted(node.owners),
                dict(node.tags),
                node.code_version,
                str(node.partitions_def),
                sorted(k.to_user_string() for k in node.parent_keys),
                sorted(c.name for c in node.check_keys),
                str(node.backfill_policy),
            )
            for key, node in ((k, graph.get(k)) for k in graph.materializable_asset_keys)
        },
        "jobs": sorted(job.name for job in defs.jobs or []),
        "schedules": sorted(s.name for s in defs.schedules or []),
        "sensors": sorted(s.name for s in defs.sensors or []),
        "resources": sorted(defs.resources or {}),
    }


PROJECT_TOML = """\
[project]
name = "my-lake"
version = "0.1.0"

[tool.dg]
directory_type = "project"

[tool.dg.project]
root_module = "my_lake"

[tool.dg.cli.telemetry]
enabled = false
"""

DEFINITIONS_PY = """\
from pathlib import Path

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
"""


@pytest.fixture
def dg_project(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A fresh dg project (what ``create-dagster project`` makes) with medallion installed."""
    root = tmp_path / "my-lake"
    (root / "my_lake" / "defs").mkdir(parents=True)
    (root / "pyproject.toml").write_text(PROJECT_TOML)
    (root / "my_lake" / "__init__.py").write_text("")
    (root / "my_lake" / "defs" / "__init__.py").write_text("")
    (root / "my_lake" / "definitions.py").write_text(DEFINITIONS_PY)
    data = root / "data"
    data.mkdir()
    for day, rows in (("20250101", [(1, "a", 10)]), ("20250102", [(1, "a", 12), (2, "b", 7)])):
        lines = ["order_id,customer,amount", *(f"{i},{c},{a}" for i, c, a in rows)]
        (data / f"orders_{day}.csv").write_text("\n".join(lines) + "\n")
    env = {
        "PYTHONPATH": str(root),  # the project's package, as `uv pip install -e .` would make it importable
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        "MEDALLION_CONFIG_DIR": "",
        "MEDALLION_PROJECT_DIR": "",
    }
    (tmp_path / "dagster_home").mkdir()
    return root, env


def test_scaffold_edit_check_and_launch_a_component(dg_project: tuple[Path, dict[str, str]]) -> None:
    root, env = dg_project
    components = run_dg("list", "components", "--json", cwd=root, env=env).stdout
    assert TYPE in {c["key"] for c in json.loads(components)["items"]}  # via medallion's entry point
    run_dg("scaffold", "defs", TYPE, "lake", cwd=root, env=env)
    folder = root / "my_lake" / "defs" / "lake"
    defs_yaml = yaml.safe_load((folder / "defs.yaml").read_text())
    assert defs_yaml == {"type": TYPE, "attributes": {"config_dir": "configs"}}
    assert (folder / "configs" / "platform.yaml").is_file()
    assert (folder / "configs" / "sources" / "example.yaml").is_file()

    # Edit: a source inline, next to the config directory's, and a translation like dagster-dlt's.
    source = {
        "name": "shop_orders",
        "source": {
            "system": "shop",
            "table": "orders",
            "type": "file",
            "file": {"path": "./data/orders_{run_date:%Y%m%d}.csv"},
            "run": {"load_pattern": "full"},
        },
        "silver": {"model": "periodic_snapshot", "primary_keys": ["order_id"]},
    }
    edited = {
        "type": TYPE,
        "attributes": {
            "config_dir": "configs",
            "sources": [source],
            "translation": {
                "key_prefix": "lake",
                "group_name": "{{ source.system }}_{{ layer }}",
                "owners": ["team:data"],
                "tags": {"domain_team": "{{ source.system }}"},
            },
        },
        "post_processing": {"assets": [{"target": "*", "attributes": {"tags": {"reviewed": "yes"}}}]},
    }
    (folder / "defs.yaml").write_text(yaml.safe_dump(edited, sort_keys=False))
    assert "validated successfully" in run_dg("check", "yaml", cwd=root, env=env).stdout
    listing = json.loads(run_dg("list", "defs", "--json", cwd=root, env=env).stdout)
    assets = {a["asset_key"]: a for a in listing["assets"]}
    assert set(assets) == {
        "lake/bronze/example/orders",
        "lake/silver/example/orders",
        "lake/bronze/shop/orders",
        "lake/silver/shop/orders",
    }
    shop = assets["lake/silver/shop/orders"]
    assert shop["group_name"] == "shop_silver"
    assert shop["dependency_keys"] == ["lake/bronze/shop/orders"]
    tags = {t["key"]: t["value"] for t in shop["tags"]}
    assert tags["domain_team"] == "shop" and tags["reviewed"] == "yes" and tags["medallion/layer"] == "silver"
    assert "silver" in shop["kinds"]

    # The translated assets run: Bronze and Silver of one day, through dg launch.
    run_dg(
        "launch",
        "--assets",
        "lake/bronze/shop/orders,lake/silver/shop/orders",
        "--partition",
        "2025-01-02",
        cwd=root,
        env=env,
    )
    silver = read_committed(
        LocalBackend(str(root / "lake" / "silver")), "domain=shop/entity=orders/v1/load_date=2025-01-02"
    )
    assert silver is not None and silver.manifest.record_count == 2


def test_a_bad_source_is_reported_with_file_and_key(
    dg_project: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """A typo: ``dg check yaml`` (its schema is medallion's config schema) names file:line and key.
    What only Python knows (a model's needs) comes from loading, as ``medallion validate`` says it."""
    root, env = dg_project
    platform = {
        "bronze": {"storage_backend": "local", "local_path": "./lake/bronze"},
        "silver": {"storage_backend": "local", "local_path": "./lake/silver"},
    }

    def source(silver: dict[str, object]) -> dict[str, object]:
        file = {"path": "./data/x.csv"}
        return {
            "source": {"system": "shop", "table": "orders", "type": "file", "file": file},
            "silver": silver,
        }

    def write(silver: dict[str, object]) -> None:
        folder = root / "my_lake" / "defs" / "lake"
        folder.mkdir(exist_ok=True)
        doc = {"type": TYPE, "attributes": {"platform": platform, "sources": [source(silver)]}}
        (folder / "defs.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))

    write({"model": "scd_type_1", "primary_key": ["order_id"]})
    check_yaml = run_dg("check", "yaml", cwd=root, env=env, check=False)
    assert check_yaml.returncode == 1
    assert "my_lake/defs/lake/defs.yaml:" in check_yaml.stdout
    assert "attributes.sources.0.silver" in check_yaml.stdout
    assert "'primary_key' was unexpected" in check_yaml.stdout

    missing_order = {"model": "scd_type_2", "primary_keys": ["order_id"]}
    write(missing_order)
    check_defs = run_dg("check", "defs", cwd=root, env=env, check=False)
    expected = "silver.model 'scd_type_2' needs silver.order_column"
    text = check_defs.stdout + check_defs.stderr
    assert "All component YAML validated successfully" in text
    assert f"my_lake/defs/lake/defs.yaml: attributes.sources[0]: {expected}" in text
    assert "All definitions loaded successfully" not in text
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "all.yaml").write_text(
        yaml.safe_dump({"config_version": 1, "platform": platform, "sources": [source(missing_order)]})
    )
    validate = subprocess.run(
        [str(BIN / "medallion"), "--config-dir", str(tmp_path / "configs"), "validate"],
        capture_output=True,
        text=True,
    )
    assert validate.returncode == 1
    assert f"configs/all.yaml: sources[0]: {expected}" in validate.stderr


def test_translation_may_not_rewire(dg_project: tuple[Path, dict[str, str]]) -> None:
    """Two sources translated onto one key is a config error naming both, not a Dagster crash."""
    component = MedallionSources(
        platform={"bronze": {"local_path": "/tmp/b"}, "silver": {"local_path": "/tmp/s"}},
        sources=[
            {"source": {"system": s, "table": "t", "type": "file", "file": {"path": "/tmp/x.csv"}}}
            for s in ("a", "b")
        ],
        translation=lambda spec, data: spec.replace_attributes(key=dg.AssetKey([data.layer, "t"])),
    )
    with pytest.raises(Exception, match="sources 'a_t' and 'b_t' both map to asset key bronze/t"):
        dg.components.testing.utils.component_defs(component=component)


def test_quickstart_dg_path_is_the_tested_one() -> None:
    """docs/QUICKSTART.md's dg path uses the commands this module runs."""
    text = (REPO / "docs" / "QUICKSTART.md").read_text()
    for command in (f"dg scaffold defs {TYPE} lake", "dg check yaml", "dg list defs", "dg launch"):
        assert command in text, command
    assert textwrap.dedent(DEFINITIONS_PY).strip().splitlines()[-1].strip() in text
