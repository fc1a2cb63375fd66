"""Plugins of an installed package are selectable from YAML: an extractor type and Silver models, found
through their entry-point groups, validated by the contract on their class, run by the real CLI.

The plugin (``tests/fixtures/plugin_dist``) is packed into a wheel and installed with pip into a temporary
target, which the CLI subprocesses get on ``PYTHONPATH``: nothing of it is importable in this process.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import polars as pl
import pytest

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "fixtures" / "plugin_dist"
MEDALLION = str(Path(sys.executable).parent / "medallion")
DIST = "acme_lake_plugins-1.0"


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture plugin built as a wheel and pip-installed into its own target folder."""
    build = tmp_path_factory.mktemp("plugin-build")
    wheel = build / f"{DIST}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path in sorted((FIXTURE / "acme_lake_plugins").glob("*.py")):
            archive.write(path, f"acme_lake_plugins/{path.name}")
        info = f"{DIST}.dist-info"
        archive.writestr(f"{info}/METADATA", "Metadata-Version: 2.1\nName: acme-lake-plugins\nVersion: 1.0\n")
        archive.writestr(
            f"{info}/WHEEL",
            "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        archive.write(FIXTURE / "entry_points.txt", f"{info}/entry_points.txt")
        archive.writestr(f"{info}/RECORD", "")
    site = tmp_path_factory.mktemp("plugin-site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "--target",
            str(site),
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    assert (site / info / "entry_points.txt").exists()
    return site


@pytest.fixture
def env(plugin_site: Path, tmp_path: Path) -> dict[str, str]:
    (tmp_path / "dagster_home").mkdir()
    path = [str(plugin_site), str(REPO), os.environ.get("PYTHONPATH", "")]
    return {
        "PYTHONPATH": os.pathsep.join(p for p in path if p),
        "MEDALLION_LAKE_DIR": str(tmp_path / "lake"),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
    }


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    target = tmp_path / "configs"
    shutil.copytree(FIXTURE / "configs", target)
    return target


def medallion(config_dir: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MEDALLION, "--config-dir", str(config_dir), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def silver_frame(lake: Path, day: str, artifact: str) -> pl.DataFrame:
    """The artifact of one committed Silver partition, read from the files its manifest lists.

    Silver manifests are version 2: paths are relative to the dataset root (the plugin model has no keyed
    state, so its partitions list data files only).
    """
    root = lake / "silver" / "domain=acme" / "entity=totals" / "v1"
    manifest = json.loads((root / f"load_date={day}" / "_checksums.json").read_text())
    assert manifest["manifest_version"] == 2
    files = [root / f["path"] for f in manifest["files"] if f["artifact"] == artifact]
    assert files, f"no {artifact} files in {root}"
    return pl.concat([pl.read_parquet(f) for f in files])


def test_plugin_extractor_and_model_validate_and_run(config_dir: Path, env: dict[str, str]) -> None:
    validate = medallion(config_dir, "validate", env=env)
    assert validate.returncode == 0, validate.stderr
    assert "config OK: 1 source(s)" in validate.stdout

    run = medallion(config_dir, "run", "--date", "2025-01-01", "--end-date", "2025-01-02", env=env)
    assert run.returncode == 0, run.stderr + run.stdout
    lake = Path(env["MEDALLION_LAKE_DIR"])
    # Day 1: each of 3 keys twice with amount 10; day 2 adds twice 20, read on top of Silver day 1.
    day1 = silver_frame(lake, "2025-01-01", "totals").sort("id")
    assert day1.select("id", "total", "rows").rows() == [(0, 20, 2), (1, 20, 2), (2, 20, 2)]
    day2 = silver_frame(lake, "2025-01-02", "totals").sort("id")
    assert day2.select("id", "total", "rows").rows() == [(0, 60, 4), (1, 60, 4), (2, 60, 4)]
    metadata = json.loads(
        (lake / "silver/domain=acme/entity=totals/v1/load_date=2025-01-02/_metadata.json").read_text()
    )
    assert metadata["model"] == "key_totals" and metadata["previous_state"] == "2025-01-01"
    bronze = json.loads((lake / "bronze/system=acme/table=counters/dt=2025-01-02/_metadata.json").read_text())
    assert bronze["source_type"] == "counter" and bronze["record_count"] == 6


def test_schema_lists_the_installed_plugins(config_dir: Path, env: dict[str, str]) -> None:
    result = medallion(config_dir, "schema", env=env)
    assert result.returncode == 0, result.stderr
    defs = json.loads(result.stdout)["$defs"]
    assert "counter" in defs["SourceConfig"]["properties"]["type"]["enum"]
    [model] = [b for b in defs["SilverConfig"]["properties"]["model"]["anyOf"] if b.get("type") == "string"]
    assert {"key_totals", "full_only", "scd_type_2"} <= set(model["enum"])


def edit(config_dir: Path, old: str, new: str) -> Path:
    path = config_dir / "sources" / "counters.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    return path


@pytest.mark.parametrize(
    ("old", "new", "where", "message"),
    [
        (
            "model: key_totals",
            "model: full_only",
            "sources[0]",
            "silver.model 'full_only' does not fit source.run.load_pattern 'incremental' (it accepts full); "
            "with 'incremental' use one of: event_log, key_totals, periodic_snapshot, scd_type_1, scd_type_2",
        ),
        (
            "primary_keys: [id]",
            "primary_keys: []",
            "sources[0]",
            "silver.model 'key_totals' needs silver.primary_keys",
        ),
        (
            "load_pattern: incremental",
            "load_pattern: current_history",
            "sources[0].source",
            "type 'counter' cannot serve run.load_pattern 'current_history'; it serves: full, incremental",
        ),
        (
            "options: {keys: 3, amount: 10}",
            "options: {keys: 0, amout: 10}",
            "sources[0].source",
            "options of type 'counter': keys: Input should be greater than or equal to 1; "
            "amout: Extra inputs are not permitted",
        ),
        (
            "model: key_totals",
            "model: key_total",
            "sources[0].silver.model",
            "'key_total' is not allowed (source 'acme_counters') (hint: did you mean 'key_totals'? allowed: "
            "broken_model, cdc, event_log, full_only, key_totals, periodic_snapshot, scd_type_1, scd_type_2)",
        ),
        (
            "type: counter",
            "type: countr",
            "sources[0].source.type",
            "'countr' is not allowed (source 'acme_counters') (hint: did you mean 'counter'? allowed: api, "
            "counter, custom, db, file)",
        ),
        (
            "model: key_totals",
            "model: broken_model",
            "sources[0].silver.model",
            "silver.model 'broken_model': entry point 'broken_model = acme_lake_plugins.not_there:Model' in "
            "group 'medallion.silver_models' cannot be loaded: ModuleNotFoundError: No module named "
            "'acme_lake_plugins.not_there' (hint: reinstall the plugin package, or uninstall it)",
        ),
    ],
    ids=[
        "pattern",
        "required_key",
        "extractor_pattern",
        "options_model",
        "model_typo",
        "type_typo",
        "broken",
    ],
)
def test_the_class_contract_is_what_validation_checks(
    config_dir: Path, env: dict[str, str], old: str, new: str, where: str, message: str
) -> None:
    edit(config_dir, old, new)
    result = medallion(config_dir, "validate", env=env)
    assert result.returncode == 1
    [line] = [
        line for line in result.stderr.splitlines() if f"configs/sources/counters.yaml: {where}: " in line
    ]
    assert message in line
    assert "Traceback" not in result.stderr


def test_without_the_package_the_names_are_unknown(config_dir: Path, env: dict[str, str]) -> None:
    result = medallion(config_dir, "validate", env={**env, "PYTHONPATH": str(REPO)})
    assert result.returncode == 1
    assert "sources[0].source.type: 'counter' is not allowed" in result.stderr
    assert "Traceback" not in result.stderr
