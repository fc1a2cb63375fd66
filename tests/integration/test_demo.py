"""`make demo` itself, on a temporary lake: it must print its summary and leave verifiable partitions."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from medallion_assets.lake import Lake
from medallion_resources.lake.read import verify_partition

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def test_make_demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "MEDALLION_LAKE_DIR": str(tmp_path / "lake"),
        "MEDALLION_SAMPLE_DIR": str(tmp_path / "sample"),
        "DAGSTER_HOME": str(tmp_path / "home"),
    }
    result = subprocess.run(
        ["make", "demo"], cwd=REPO, env={**os.environ, **env}, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    lines = result.stdout.splitlines()
    header = next(
        i for i, line in enumerate(lines) if line.split()[:5] == ["source", "date", "layer", "rows", "files"]
    )
    rows = [line.split() for line in lines[header + 2 :] if line.strip() and len(line.split()) == 6]
    assert len(rows) == 5 * 3 * 2  # sources (3 file, 1 API, 1 SQL) x dates x layers
    assert all(row[5] == "ok" and int(row[3]) > 0 and int(row[4]) > 0 for row in rows)
    gold = [line.split() for line in lines if line.startswith("gold/sales/daily_customer_revenue")]
    assert [row[1] for row in gold] == ["2025-01-01", "2025-01-02", "2025-01-03"]
    assert all(row[4] == "ok" and int(row[2]) > 0 and float(row[3]) > 0 for row in gold)

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    lake = Lake.load(REPO / "configs")
    for spec in lake.specs.values():
        for day in ("2025-01-01", "2025-01-02", "2025-01-03"):
            for layer in ("bronze", "silver"):
                part = lake.committed(spec, layer, day)
                assert part is not None and verify_partition(part) == []
