"""An empty snapshot does not silently replace a good one: a full load with deletes on fails the day when it
would delete more than ``source.run.max_delete_fraction`` of Silver D-1's live keys, and the previous commit
stays in place. Run through ``medallion run`` (Dagster runs on a real instance) on a SQLite table that is
emptied between two days."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow
MEDALLION = str(Path(sys.executable).parent / "medallion")


def write_configs(root: Path, model: str, delete_mode: str, max_delete_fraction: float | None) -> Path:
    config_dir = root / "configs"
    config_dir.mkdir(exist_ok=True)
    platform = {
        "config_version": 1,
        "platform": {
            "bronze": {"storage_backend": "local", "local_path": str(root / "lake" / "bronze")},
            "silver": {"storage_backend": "local", "local_path": str(root / "lake" / "silver")},
            "defaults": {"partitions": {"start_date": "2025-01-01"}},
        },
    }
    run: dict[str, object] = {"load_pattern": "full"}
    if max_delete_fraction is not None:
        run["max_delete_fraction"] = max_delete_fraction
    silver: dict[str, object] = {"model": model, "primary_keys": ["id"], "delete_mode": delete_mode}
    if model == "scd_type_2":
        silver["order_column"] = "updated_at"
    source = {
        "name": "crm_customers",
        "source": {
            "system": "crm",
            "table": "customers",
            "type": "db",
            "db": {"url": f"sqlite:///{root / 'crm.db'}", "table": "customers"},
            "run": run,
        },
        "silver": silver,
    }
    (config_dir / "platform.yaml").write_text(yaml.safe_dump(platform))
    (config_dir / "sources.yaml").write_text(yaml.safe_dump({"config_version": 1, "sources": [source]}))
    return config_dir


def medallion(*args: str, root: Path, config_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DAGSTER_HOME": str(root / "dagster_home"), "MEDALLION_CONFIG_DIR": str(config_dir)}
    return subprocess.run([MEDALLION, *args], env=env, capture_output=True, text=True, timeout=300)


def silver_manifest(root: Path, day: str) -> dict[str, object]:
    folder = root / "lake" / "silver" / "domain=crm" / "entity=customers" / "v1" / f"load_date={day}"
    return json.loads((folder / "_checksums.json").read_text())


@pytest.mark.parametrize(
    ("model", "delete_mode"), [("scd_type_1", "hard_delete"), ("scd_type_2", "tombstone")]
)
def test_an_emptied_table_fails_the_day_and_keeps_the_previous_commit(
    tmp_path: Path, model: str, delete_mode: str
) -> None:
    with sqlite3.connect(tmp_path / "crm.db") as db:
        db.execute("CREATE TABLE customers (id INTEGER, name TEXT, updated_at TEXT)")
        db.executemany(
            "INSERT INTO customers VALUES (?, ?, ?)",
            [(i, f"c{i}", "2025-01-01T00:00:00") for i in range(1, 5)],
        )
    config_dir = write_configs(tmp_path, model, delete_mode, None)
    first = medallion(
        "run", "--date", "2025-01-01", "--end-date", "2025-01-02", root=tmp_path, config_dir=config_dir
    )
    assert first.returncode == 0, first.stderr
    good = silver_manifest(tmp_path, "2025-01-02")

    with sqlite3.connect(tmp_path / "crm.db") as db:
        db.execute("DELETE FROM customers")  # the source table emptied by mistake
    again = medallion("run", "--date", "2025-01-02", root=tmp_path, config_dir=config_dir)
    assert again.returncode == 1
    assert (
        "DeleteThresholdError: crm_customers: this full load would delete 4 of the 4 live keys of Silver "
        "2025-01-01 (100.0%), more than source.run.max_delete_fraction 0.5 allows" in again.stderr
    ), again.stderr
    assert "raise source.run.max_delete_fraction (1.0 turns the guard off)" in again.stderr
    assert "bronze 0 rows" in again.stderr  # Bronze landed the empty snapshot; Silver refused it
    assert silver_manifest(tmp_path, "2025-01-02") == good  # the previous commit stays in place
    verify = medallion(
        "verify", "crm_customers", "--date", "2025-01-02", root=tmp_path, config_dir=config_dir
    )
    assert verify.returncode == 0, verify.stderr

    allowed = write_configs(tmp_path, model, delete_mode, 1.0)  # the operator says: the deletes are real
    third = medallion("run", "--date", "2025-01-02", root=tmp_path, config_dir=allowed)
    assert third.returncode == 0, third.stderr
    folder = tmp_path / "lake" / "silver" / "domain=crm" / "entity=customers" / "v1" / "load_date=2025-01-02"
    deleted = json.loads((folder / "_metadata.json").read_text())["deleted"]
    assert deleted == 4


def test_a_few_deletes_pass_under_the_default(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "crm.db") as db:
        db.execute("CREATE TABLE customers (id INTEGER, name TEXT, updated_at TEXT)")
        db.executemany("INSERT INTO customers VALUES (?, ?, ?)", [(i, f"c{i}", "x") for i in range(1, 5)])
    config_dir = write_configs(tmp_path, "scd_type_1", "hard_delete", None)
    assert medallion("run", "--date", "2025-01-01", root=tmp_path, config_dir=config_dir).returncode == 0
    with sqlite3.connect(tmp_path / "crm.db") as db:
        db.execute("DELETE FROM customers WHERE id IN (1, 2)")  # half of them: at the limit, not past it
    result = medallion("run", "--date", "2025-01-02", root=tmp_path, config_dir=config_dir)
    assert result.returncode == 0, result.stderr
