"""Hostile SQL identifiers (table, schema, cursor column) are refused when the config loads, by the query
builder's own rule (``medallion_resources.sql.query.identifier_problem``), not first at ``medallion run``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from medallion_assets.config.loader import load_config
from medallion_assets.errors import ConfigError

from ._support import MINIMAL, write_config

MEDALLION = str(Path(sys.executable).parent / "medallion")

HOSTILE = [
    ({"table": "orders; DROP TABLE orders"}, "source.db.table"),
    ({"table": 'orders" --'}, "source.db.table"),
    ({"table": "orders", "schema": 'public"."pg_user'}, "source.db.schema"),
    (
        {"table": "orders", "incremental": {"cursor_column": "id OR 1=1"}},
        "source.db.incremental.cursor_column",
    ),
    ({"table": "x" * 64}, "source.db.table"),
    # validated first when the source ran (extractors/db.py), though the config alone shows it
    ({"table": "orders", "chunk_rows": 10, "key_columns": ["id", "id OR 1=1"]}, "source.db.key_columns"),
]


def config_dir(root: Path, db: dict[str, Any]) -> Path:
    source = {"system": "erp", "table": "orders", "type": "db", "db": {"url_env": "ERP_URL", **db}}
    if "incremental" in db:
        source["run"] = {"load_pattern": "incremental"}
    files = {
        "platform.yaml": (MINIMAL / "platform.yaml").read_text(encoding="utf-8"),
        "sources/erp.yaml": {
            "config_version": 1,
            "sources": [{"source": source, "silver": {"primary_keys": ["id"]}}],
        },
    }
    return write_config(root, files)


@pytest.mark.parametrize(("db", "key"), HOSTILE)
def test_a_hostile_identifier_fails_at_load_naming_file_and_key(
    db: dict[str, Any], key: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(config_dir(tmp_path, db), environ={})
    [issue] = caught.value.issues
    assert issue.file.endswith("sources/erp.yaml") and issue.path == f"sources[0].{key}"
    assert "is not a valid identifier; allowed: a letter or '_' followed by up to 62" in issue.message


def test_plain_identifiers_load(tmp_path: Path) -> None:
    db = {"table": "Orders_2", "schema": "sales$", "incremental": {"cursor_column": "_updated_at"}}
    load_config(config_dir(tmp_path, db), environ={})


@pytest.mark.slow
def test_medallion_validate_refuses_a_hostile_table(tmp_path: Path) -> None:
    path = config_dir(tmp_path, {"table": "orders; DROP TABLE orders"})
    result = subprocess.run(
        [MEDALLION, "--config-dir", str(path), "validate"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "ERP_URL": "postgresql://127.0.0.1/test"},
    )
    assert result.returncode == 1, result.stdout
    assert "sources/erp.yaml: sources[0].source.db.table: 'orders; DROP TABLE orders' is not a valid" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr
