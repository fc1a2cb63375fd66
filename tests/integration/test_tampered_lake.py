"""``medallion verify`` on a tampered lake: row counts are checked against the Parquet footers, not taken
from the manifest, and the metadata against the manifest's ``metadata_sha256``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow
MEDALLION = str(Path(sys.executable).parent / "medallion")
DAY = "2025-01-01"


def medallion(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MEDALLION, *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=300
    )


def _edit_json(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=2) + "\n")


def _more_rows(manifest: dict[str, Any]) -> None:
    manifest["files"][0]["row_count"] += 5
    manifest["record_count"] += 5


def _more_records(manifest: dict[str, Any]) -> None:
    manifest["record_count"] += 1


def _other_metadata_hash(manifest: dict[str, Any]) -> None:
    manifest["metadata_sha256"] = "0" * 64


def _other_watermark(metadata: dict[str, Any]) -> None:
    metadata["watermark_out"] = "2999-01-01T00:00:00"


def test_verify_catches_every_tampered_count_and_hash(lake_env: dict[str, str]) -> None:
    run = medallion("run", "--date", DAY, "--select", "retail_orders", "--layer", "bronze", env=lake_env)
    assert run.returncode == 0, run.stderr
    folder = Path(lake_env["MEDALLION_LAKE_DIR"]) / "bronze" / "system=retail" / "table=orders" / f"dt={DAY}"
    checksums, metadata = folder / "_checksums.json", folder / "_metadata.json"
    [file] = json.loads(checksums.read_text())["files"]
    part, rows = file["path"], file["row_count"]
    originals = {checksums: checksums.read_bytes(), metadata: metadata.read_bytes()}
    verify = ("verify", "retail_orders", "--date", DAY, "--layer", "bronze")
    assert medallion(*verify, env=lake_env).returncode == 0

    cases = [
        (checksums, _more_rows, f"{part}: {rows} rows in its Parquet footer, the manifest says {rows + 5}"),
        (checksums, _more_records, f"_checksums.json: record_count {rows + 1}, but the Parquet footers"),
        (checksums, _other_metadata_hash, "no metadata matches the manifest's metadata_sha256 0000"),
        (metadata, _other_watermark, "no metadata matches the manifest's metadata_sha256"),
    ]
    for path, change, message in cases:
        _edit_json(path, change)
        result = medallion(*verify, env=lake_env)
        assert result.returncode == 1, (change.__name__, result.stdout)
        assert message in result.stderr, (change.__name__, result.stderr)
        assert "Traceback" not in result.stderr
        for original, data in originals.items():
            original.write_bytes(data)
    assert medallion(*verify, env=lake_env).returncode == 0
