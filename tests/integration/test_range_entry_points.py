"""A partition range from Dagster's own command lines: ``dagster asset materialize --partition-range`` and
``dg launch --partition-range`` (the UI's range backfill is ``test_range_backfill_e2e.py``).

Dagster accepts a range there only for assets with a single-run backfill policy (before: "Partition ranges
are only supported for assets with a BackfillPolicy.single_run() policy"). The range is one run that commits
every day on its own: its own manifest, and its own materialization whose metadata is that day's.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from medallion_assets.lake import Lake

from .test_dg import run_dg

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]


def _committed_days(lake_env: dict[str, str], source: str, days: list[str]) -> None:
    """Every day has its own commit in both layers, and its own materialization carrying that commit."""
    lake = Lake.load()
    spec = lake.spec(source)
    with dg.DagsterInstance.from_config(lake_env["DAGSTER_HOME"]) as instance:
        for layer, key in (("bronze", spec.bronze_key), ("silver", spec.silver_key)):
            runs = set()
            for day in days:
                part = lake.committed(spec, layer, day)
                assert part is not None, (layer, day)
                assert part.manifest.run_date == day
                (record,) = instance.fetch_materializations(
                    dg.AssetRecordsFilter(asset_key=key, asset_partitions=[day]), limit=5
                ).records
                metadata = record.asset_materialization.metadata
                assert metadata["manifest_sha256"].value == part.manifest.sha256
                runs.add(record.run_id)
            assert len(runs) == 1, f"{layer}: one run for the range, got {len(runs)}"


def test_dagster_asset_materialize_with_a_partition_range(lake_env: dict[str, str]) -> None:
    days = ["2025-01-01", "2025-01-02", "2025-01-03"]
    result = subprocess.run(
        [
            str(BIN / "dagster"),
            "asset",
            "materialize",
            "-m",
            "medallion_assets.definitions",
            "--select",
            "bronze/retail/customers,silver/sales/customers",
            "--partition-range",
            f"{days[0]}...{days[-1]}",
        ],
        cwd=REPO,
        env={**os.environ, **lake_env},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    _committed_days(lake_env, "retail_customers", days)


def test_dg_launch_with_a_partition_range(lake_env: dict[str, str]) -> None:
    days = ["2025-01-01", "2025-01-02"]
    run_dg(
        "launch",
        "--assets",
        "bronze/retail/orders,silver/sales/orders",
        "--partition-range",
        f"{days[0]}...{days[-1]}",
        cwd=REPO,
        env=lake_env,
    )
    _committed_days(lake_env, "retail_orders", days)
