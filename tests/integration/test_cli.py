"""The `medallion` CLI, run as users run it: a subprocess with the installed console script."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

pytestmark = pytest.mark.slow
MEDALLION = str(Path(sys.executable).parent / "medallion")
REPO = Path(__file__).resolve().parents[2]


def medallion(*args: str, env: dict[str, str], check: bool = False) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [MEDALLION, *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=300
    )
    if check:
        assert result.returncode == 0, result.stderr + result.stdout
    return result


def test_validate_list_and_schema(lake_env: dict[str, str]) -> None:
    out = medallion("validate", env=lake_env, check=True).stdout
    assert "config OK: 5 source(s)" in out
    listing = medallion("list", env=lake_env, check=True).stdout
    for name in ("retail_customers", "retail_orders", "inventory_stock", "shop_payments"):
        assert name in listing
    assert "silver/sales/orders" in listing
    schema = json.loads(medallion("schema", env=lake_env, check=True).stdout)
    # The schema is one editors can use: every shipped config validates against it, a typo does not.
    validator = jsonschema.Draft202012Validator(schema)
    files = sorted((REPO / "configs").rglob("*.yaml"))
    assert len(files) >= 2
    for path in files:
        assert not list(validator.iter_errors(yaml.safe_load(path.read_text()))), path
    assert list(validator.iter_errors({"config_version": 1, "platfrom": {}}))


def test_validate_reports_every_error_and_exits_1(config_copy: Path, lake_env: dict[str, str]) -> None:
    path = config_copy / "sources" / "retail.yaml"
    text = path.read_text().replace("primary_keys: [order_id]", "primary_key: [order_id]")
    text = text.replace("load_pattern: incremental", "load_pattern: incremantal")
    path.write_text(text)
    result = medallion("--config-dir", str(config_copy), "validate", env=lake_env)
    assert result.returncode == 1
    assert "retail.yaml" in result.stderr
    assert "primary_keys" in result.stderr  # did you mean
    assert "incremantal" in result.stderr
    assert "Traceback" not in result.stderr


def test_run_inspect_verify_and_a_flipped_byte(lake_env: dict[str, str], tmp_path: Path) -> None:
    result = medallion(
        "run",
        "--date",
        "2025-01-01",
        "--end-date",
        "2025-01-02",
        "--select",
        "retail_orders",
        env=lake_env,
        check=True,
    )
    assert "[1/2] retail_orders 2025-01-01" in result.stdout
    assert "retail_orders  2025-01-02  silver" in result.stdout
    inspect = medallion("inspect", "retail_orders", "--date", "2025-01-02", env=lake_env, check=True).stdout
    assert "part-00001-" in inspect and '"watermark_out"' in inspect
    verify = medallion("verify", "retail_orders", "--date", "2025-01-02", env=lake_env, check=True).stdout
    assert verify.count("verified") == 2

    lake = Path(lake_env["MEDALLION_LAKE_DIR"])
    part = next((lake / "bronze" / "system=retail" / "table=orders" / "dt=2025-01-02").glob("part-*.parquet"))
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 0xFF
    part.write_bytes(bytes(data))
    bad = medallion("verify", "retail_orders", "--date", "2025-01-02", env=lake_env)
    assert bad.returncode == 1
    assert part.name in bad.stderr and "SHA-256" in bad.stderr and "the manifest says" in bad.stderr
    # Silver cannot be built from a corrupted Bronze file: the run fails and names the file.
    rerun = medallion(
        "run", "--date", "2025-01-02", "--select", "retail_orders", "--layer", "silver", env=lake_env
    )
    assert rerun.returncode == 1
    assert part.name in rerun.stderr


def test_run_of_an_unknown_source_and_a_date_before_the_start(lake_env: dict[str, str]) -> None:
    unknown = medallion("run", "--date", "2025-01-01", "--select", "retail_orders", "nope", env=lake_env)
    assert unknown.returncode == 1 and "no source named 'nope'" in unknown.stderr
    early = medallion("run", "--date", "2024-12-31", "--select", "retail_orders", env=lake_env)
    assert early.returncode == 1
    assert "retail_orders: nothing to run, 2024-12-31 is before its start date 2025-01-01" in early.stderr


# What a verb imports, in a fresh interpreter: `python -c` runs the CLI's entry point with these arguments.
IMPORTS_AFTER = """
import json, sys
from medallion_assets.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "dagster": sorted(m for m in sys.modules if m.split(".")[0] == "dagster")}))
"""


def in_fresh_interpreter(script: str, args: list[str], env: dict[str, str]) -> tuple[Any, str]:
    """(what ``script`` printed last, as JSON; stderr) of ``python -c script *args`` in a new process."""
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = done.stdout.strip().splitlines()
    assert lines, done.stderr[-2000:]
    return json.loads(lines[-1]), done.stderr


@pytest.mark.parametrize(
    "verb", [["--help"], ["--version"], ["validate"], ["list"], ["list", "--json"], ["schema"]]
)
def test_light_verbs_do_not_import_dagster(verb: list[str], lake_env: dict[str, str]) -> None:
    report, stderr = in_fresh_interpreter(IMPORTS_AFTER, verb, lake_env)
    assert report["code"] in (0, None), stderr
    assert report["dagster"] == [], f"{verb} imported {report['dagster'][:5]}"


# A run in a fresh interpreter, in-process (so the process does not leave with os._exit before reporting).
RUN_IMPORTS = """
import json, sys
from medallion_assets.cli import main
main(sys.argv[1:], standalone_mode=False)
heavy = ["medallion_resources.sql", "pyarrow.compute", "medallion_assets.extractors.file.json_reader"]
print(json.dumps({"loaded": [m for m in [*heavy, "httpx"] if m in sys.modules]}))
"""


def test_a_run_of_a_csv_source_loads_no_sql_json_or_http_stack(
    lake_env: dict[str, str], config_copy: Path
) -> None:
    """In a project of file sources, what a db source, a JSON file or an API needs is not loaded (nor its
    objects scanned by every garbage collection of the run) for a CSV file."""
    for other in ("shop.yaml", "support.yaml"):  # the db and API sources: their extractors' contracts load
        (config_copy / "sources" / other).unlink()
    args = ["--config-dir", str(config_copy), "run", "--date", "2025-01-01", "--select", "retail_customers"]
    report, _ = in_fresh_interpreter(RUN_IMPORTS, args, lake_env)  # it prints only after a successful run
    assert report["loaded"] == []


def test_version() -> None:
    done = subprocess.run([MEDALLION, "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert re.fullmatch(r"medallion \S+ \(dagster 1\.13\.\d+, python 3\.\d+\.\d+\)\n", done.stdout), (
        done.stdout
    )


def test_json_of_list_inspect_verify_and_status(lake_env: dict[str, str]) -> None:
    listing = json.loads(medallion("list", "--json", env=lake_env, check=True).stdout)
    orders = next(s for s in listing if s["name"] == "retail_orders")
    assert orders["silver_asset"] == "silver/sales/orders" and orders["job"] == "retail_orders_job"
    assert orders["start_date"] == "2025-01-01" and orders["stateful"] is True

    medallion("run", "--date", "2025-01-01", "--select", "retail_orders", env=lake_env, check=True)
    [bronze, silver] = json.loads(
        medallion(
            "inspect", "retail_orders", "--date", "2025-01-01", "--json", env=lake_env, check=True
        ).stdout
    )
    assert bronze["layer"] == "bronze" and bronze["committed"] and bronze["rows"] > 0
    assert bronze["rows"] == sum(f["rows"] for f in bronze["files"] if f["artifact"] == "data")
    assert silver["main_artifact"] == "current" and silver["metadata"]["run_date"] == "2025-01-01"
    missing = json.loads(
        medallion(
            "inspect", "retail_orders", "--date", "2025-01-02", "--json", env=lake_env, check=True
        ).stdout
    )
    assert [m["committed"] for m in missing] == [False, False]

    ok = json.loads(
        medallion(
            "verify", "retail_orders", "--date", "2025-01-01", "--json", env=lake_env, check=True
        ).stdout
    )
    assert ok["ok"] is True and [x["problems"] for x in ok["layers"]] == [[], []]
    lake = Path(lake_env["MEDALLION_LAKE_DIR"])
    part_file = next(
        (lake / "bronze" / "system=retail" / "table=orders" / "dt=2025-01-01").glob("part-*.parquet")
    )
    data = bytearray(part_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    part_file.write_bytes(bytes(data))
    bad = medallion("verify", "retail_orders", "--date", "2025-01-01", "--json", env=lake_env)
    assert bad.returncode == 1
    report = json.loads(bad.stdout)
    assert report["ok"] is False and part_file.name in report["layers"][0]["problems"][0]

    status = medallion("status", "retail_orders", "--json", env=lake_env)
    assert status.returncode == 0, status.stderr
    days = json.loads(status.stdout)
    assert days["source"] == "retail_orders" and days["problems"] == 0
    assert days["days"] == [{"date": "2025-01-01", "bronze": "committed", "silver": "committed", "notes": []}]


def test_check_reaches_storage_and_sources(lake_env: dict[str, str]) -> None:
    result = medallion("check", env=lake_env, check=True)
    assert "storage bronze" in result.stdout and "source retail_orders" in result.stdout


def test_dagster_definitions_validate(lake_env: dict[str, str]) -> None:
    repo = Path(__file__).resolve().parents[2]
    dagster = str(Path(sys.executable).parent / "dagster")
    result = subprocess.run(
        [dagster, "definitions", "validate", "-w", "workspace.yaml"],
        cwd=repo,
        env={**os.environ, **lake_env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]


def _bad_configs() -> list[tuple[str, list[tuple[str, str, list[str]]]]]:
    from config.test_config_loader import BAD_CONFIGS

    return BAD_CONFIGS


@pytest.mark.parametrize(("folder", "expected"), _bad_configs(), ids=[case[0] for case in _bad_configs()])
def test_validate_prints_each_bad_config_message(folder: str, expected, lake_env: dict[str, str]) -> None:
    """`medallion validate` on every bad config of the config tests: its messages, exit 1, no traceback."""
    from config.test_config_loader import BAD, ENV

    result = medallion("--config-dir", str(BAD / folder), "validate", env={**lake_env, **ENV})
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert ENV["MEDALLION_TEST_SECRET"] not in result.stderr + result.stdout
    for file, path, fragments in expected:
        assert f"{folder}/{file}".rstrip("/") in result.stderr
        assert path in result.stderr
        for fragment in fragments:
            assert fragment in result.stderr, f"{fragment!r} not in {result.stderr!r}"


def test_verify_covers_the_files_a_silver_day_shares(lake_env: dict[str, str]) -> None:
    """Silver 2025-01-02 lists 2025-01-01's files by reference: verify re-hashes them as its own."""
    medallion(
        "run", "--date", "2025-01-01", "--end-date", "2025-01-02", "--select", "retail_orders",
        env=lake_env, check=True,
    )  # fmt: skip
    root = Path(lake_env["MEDALLION_LAKE_DIR"]) / "silver" / "domain=sales" / "entity=orders" / "v1"
    manifest = json.loads((root / "load_date=2025-01-02" / "_checksums.json").read_text())
    assert manifest["manifest_version"] == 2
    shared = [f["path"] for f in manifest["files"] if f["path"].startswith("load_date=2025-01-01/")]
    assert shared, manifest["files"]
    verify = medallion("verify", "retail_orders", "--date", "2025-01-02", "--layer", "silver", env=lake_env)
    assert verify.returncode == 0, verify.stderr
    target = root / shared[0]
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    bad = medallion("verify", "retail_orders", "--date", "2025-01-02", "--layer", "silver", env=lake_env)
    assert bad.returncode == 1
    assert target.name in bad.stderr and "SHA-256" in bad.stderr


def test_a_copied_partition_folder_is_no_run_date(lake_env: dict[str, str]) -> None:
    """A backup copy beside the partitions (``dt=2025-01-02.bak``) is no run date: status and plan list the
    real days (they failed with a ValueError traceback), and the latest committed partition that read() and
    an incremental load's watermark start from is the real one, not the copy sorting after it."""
    from medallion_assets.lake import Lake
    from medallion_resources.lake.dataset import Dataset

    medallion(
        "run", "--date", "2025-01-01", "--end-date", "2025-01-02", "--select", "retail_orders",
        env=lake_env, check=True,
    )  # fmt: skip
    lake_dir = Path(lake_env["MEDALLION_LAKE_DIR"])
    bronze = lake_dir / "bronze" / "system=retail" / "table=orders"
    silver = lake_dir / "silver" / "domain=sales" / "entity=orders" / "v1"
    shutil.copytree(bronze / "dt=2025-01-02", bronze / "dt=2025-01-02.bak")
    shutil.copytree(silver / "load_date=2025-01-02", silver / "load_date=2025-01-02.bak")

    status = medallion("status", "retail_orders", env=lake_env)
    assert status.returncode == 0, status.stderr
    days = [line.split()[0] for line in status.stdout.splitlines() if line.startswith("2025")]
    assert days == ["2025-01-01", "2025-01-02"], status.stdout
    plan = medallion("plan", "retail_orders", "--date", "2025-01-03", env=lake_env)
    assert plan.returncode == 0, plan.stderr

    lake = Lake.load()
    spec = lake.spec("retail_orders")
    assert lake.bronze.partition_dates(spec.bronze_path) == ["2025-01-01", "2025-01-02"]
    latest = lake.bronze.latest_committed_before(spec.bronze_path, "2025-01-03")
    assert latest is not None and latest.prefix.endswith("/dt=2025-01-02")
    dataset = Dataset(lake.silver.backend, spec.silver_path, "silver", spec.name)
    assert dataset.require_latest().prefix.endswith("/load_date=2025-01-02")
