"""File extraction streams: peak memory does not grow with the file (RSS measured in a fresh subprocess).

The same data at 600k and 2.4M rows (about 32 and 130 MB as csv, more as jsonl): a reader that held the file,
or its parsed rows, would grow by at least the difference; a streaming one stays at its chunk size.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest

pytestmark = pytest.mark.slow
PROBE = Path(__file__).resolve().parents[2] / "benchmarks" / "file_rss_probe.py"


def make(folder: Path, rows: int, fmt: str) -> Path:
    frame = pl.select(id=pl.int_range(0, rows)).with_columns(
        name=pl.format("customer {}", pl.col("id")),
        amount=pl.col("id") / 4,
        at=pl.format("2025-01-01T00:00:{}", pl.col("id") % 60),
        tag=pl.format("a{}", pl.col("id") % 7),
    )
    path = folder / f"rows_{rows}.{fmt}"
    if fmt == "csv":
        frame.write_csv(path)
    else:
        frame.write_ndjson(path)
    return path


def probe(path: Path, **options: Any) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, str(PROBE), str(path), json.dumps(options)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_peak_rss_does_not_grow_with_the_file(tmp_path: Path, fmt: str) -> None:
    small, big = make(tmp_path, 600_000, fmt), make(tmp_path, 2_400_000, fmt)
    assert big.stat().st_size > 120 << 20
    low, high = probe(small), probe(big)
    assert (low["rows"], high["rows"]) == (600_000, 2_400_000)
    assert high["batches"] > 1
    assert high["rss_growth_mb"] < 200, high
    assert high["rss_growth_mb"] - low["rss_growth_mb"] < 48, (low, high)
