"""Memory stays bounded by a few batches whatever the row count (RSS measured in a fresh subprocess).

5M rows through ADBC (the default for PostgreSQL) and 500k through SQLAlchemy, which reads about 5x slower;
``benchmarks/db.py`` runs 5M rows through every engine.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.extractors.conftest import DB_URLS

pytestmark = [pytest.mark.services, pytest.mark.slow]
PROBE = Path(__file__).resolve().parents[2] / "benchmarks" / "db_rss_probe.py"
LIMIT_MB = 300


def probe(engine: str, rows: int) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, str(PROBE), DB_URLS["postgresql"], engine, str(rows)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_peak_rss_does_not_grow_with_the_row_count(postgres: Any) -> None:
    small, big = probe("auto", 100_000), probe("auto", 5_000_000)
    assert (small["rows"], big["rows"]) == (100_000, 5_000_000)
    assert big["engine"] == "adbc" and big["batches"] >= 100  # 50,000-row batches
    assert big["rss_growth_mb"] < LIMIT_MB, big
    assert big["rss_growth_mb"] - small["rss_growth_mb"] < 64, (small, big)


def test_sqlalchemy_streams_with_a_server_side_cursor(postgres: Any) -> None:
    result = probe("sqlalchemy", 500_000)
    assert result["rows"] == 500_000 and result["batches"] == 10
    assert result["rss_growth_mb"] < LIMIT_MB / 2, result
