"""The Dagster UI (`dagster dev` on workspace.yaml) lists every source's assets, partitions and metadata.

Runs the real webserver and daemon on 127.0.0.1 and talks GraphQL to it, as the UI does.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

ASSETS_QUERY = """
{ assetNodes { assetKey { path } groupName isPartitioned
    partitionKeysByDimension { partitionKeys }
    assetMaterializations(limit: 1) { partition metadataEntries { label } } } }
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


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
    port = free_port()
    log = (tmp_path / "dagster-dev.log").open("w")
    server = subprocess.Popen(
        [str(BIN / "dagster"), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        data = None
        while time.monotonic() < deadline:
            try:
                result = graphql(port, ASSETS_QUERY)
                if result.get("data", {}).get("assetNodes"):
                    data = result["data"]["assetNodes"]
                    break
            except OSError:
                pass
            time.sleep(1)
        assert data is not None, (tmp_path / "dagster-dev.log").read_text()[-3000:]
        nodes = {"/".join(n["assetKey"]["path"]): n for n in data}
        assert set(nodes) == {
            "bronze/retail/customers",
            "silver/sales/customers",
            "bronze/retail/orders",
            "silver/sales/orders",
            "bronze/inventory/stock",
            "silver/inventory/stock",
            "bronze/shop/payments",
            "silver/sales/payments",
        }
        for key, node in nodes.items():
            assert node["isPartitioned"], key
            keys = node["partitionKeysByDimension"][0]["partitionKeys"]
            assert keys[0] == "2025-01-01" and "2025-01-10" in keys
        assert nodes["silver/sales/orders"]["groupName"] == "retail_orders"
        materialized = nodes["bronze/retail/orders"]["assetMaterializations"][0]
        assert materialized["partition"] == "2025-01-02"
        labels = {e["label"] for e in materialized["metadataEntries"]}
        assert {"dagster/partition_row_count", "dagster/column_schema", "sha256", "watermark_out"} <= labels
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
