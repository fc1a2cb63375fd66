"""The Dagster UI (`dg dev` at the repo root) lists every source's assets, partitions and metadata.

Runs the real webserver and daemon on 127.0.0.1 and talks GraphQL to it, as the UI does.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from .dagster_dev import BIN, dagster_dev

pytestmark = pytest.mark.slow

ASSETS_QUERY = """
{ assetNodes { assetKey { path } groupName isPartitioned dependencyKeys { path }
    partitionKeysByDimension { partitionKeys }
    assetMaterializations(limit: 1) { partition metadataEntries { label } } } }
"""


def test_ui_lists_every_source_with_partitions_and_metadata(lake_env: dict[str, str], tmp_path: Path) -> None:
    env = {**os.environ, **lake_env}
    subprocess.run(
        [
            str(BIN / "medallion"),
            "run",
            "--date",
            "2025-01-01",
            "--end-date",
            "2025-01-02",
            "--select",
            "retail_orders",
        ],
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    # Through `dg dev` (the repo is a dg project); other end-to-end tests use `dagster dev -w workspace.yaml`.
    with dagster_dev(env, tmp_path / "dagster-dev.log", dg=True) as dev:
        data = dev.query(ASSETS_QUERY)["assetNodes"]
        nodes = {"/".join(n["assetKey"]["path"]): n for n in data}
        assert set(nodes) == {
            "bronze/retail/customers",
            "silver/sales/customers",
            "bronze/retail/orders",
            "silver/sales/orders",
            "bronze/inventory/stock",
            "silver/inventory/stock",
            "bronze/support/tickets",
            "silver/support/tickets",
            "bronze/shop/payments",
            "silver/sales/payments",
            "gold/sales/daily_customer_revenue",  # the demo's own Gold asset (gold/, definitions.py)
        }
        for key, node in nodes.items():
            assert node["isPartitioned"], key
            keys = node["partitionKeysByDimension"][0]["partitionKeys"]
            assert keys[0] == "2025-01-01" and "2025-01-10" in keys
        assert nodes["silver/sales/orders"]["groupName"] == "retail_orders"
        gold = nodes["gold/sales/daily_customer_revenue"]
        assert {"/".join(k["path"]) for k in gold["dependencyKeys"]} == {
            "silver/sales/orders",
            "silver/sales/customers",
        }
        materialized = nodes["bronze/retail/orders"]["assetMaterializations"][0]
        assert materialized["partition"] == "2025-01-02"
        labels = {e["label"] for e in materialized["metadataEntries"]}
        assert {"dagster/partition_row_count", "dagster/column_schema", "sha256", "manifest_sha256"} <= labels
