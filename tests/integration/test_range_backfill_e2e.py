"""A UI backfill over a range with a missing day, on a real deployment (`dagster dev`: webserver + daemon).

The sample files cover 2025-01-01..10. An asset backfill of ``bronze/retail/orders`` for 01-07..11, launched
through GraphQL as the UI does, runs as one range run (``BackfillPolicy.single_run``) that fails on 01-11.
The days it committed must show as materialized, in the instance and in the backfill's own status, and only
01-11 as failed; the run's step failure names the root cause first.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import dagster as dg
import pytest

from medallion_assets.assets import build_assets
from medallion_assets.lake import Lake

from .dagster_dev import REPO, dagster_dev, wait_for

pytestmark = pytest.mark.slow
RANGE = [f"2025-01-{d:02d}" for d in range(7, 12)]
BRONZE = ["bronze", "retail", "orders"]

BACKFILL = """
query($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    ... on PartitionBackfill {
      status
      assetBackfillData {
        assetBackfillStatuses {
          ... on AssetPartitionsStatusCounts {
            assetKey { path } numPartitionsTargeted numPartitionsMaterialized numPartitionsFailed
          }
        }
      }
    }
  }
}
"""
STEP_FAILURES = """
query($runId: ID!) {
  logsForRun(runId: $runId) {
    ... on EventConnection {
      events { __typename ... on ExecutionStepFailureEvent { error { className message } } }
    }
  }
}
"""
RUNS = """
query($id: String!) {
  runsOrError(filter: {tags: [{key: "dagster/backfill", value: $id}]}) {
    ... on Runs { results { runId status tags { key value } } }
  }
}
"""
FINISHED = {"COMPLETED", "FAILED", "CANCELED", "COMPLETED_SUCCESS", "COMPLETED_FAILED"}


def test_a_ui_backfill_keeps_the_days_it_committed(tmp_path: Path, lake_env: dict[str, str]) -> None:
    home = Path(lake_env["DAGSTER_HOME"])
    shutil.copy(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")
    with dagster_dev({**os.environ, **lake_env}, tmp_path / "dagster-dev.log") as dev:
        try:
            params = {"assetSelection": [{"path": BRONZE}], "partitionNames": RANGE, "fromFailure": False}
            backfill_id = dev.launch_backfill(params)

            def done() -> dict | None:
                found = dev.query(BACKFILL, {"id": backfill_id})["partitionBackfillOrError"]
                return found if found["status"] in FINISHED else None

            backfill = wait_for(done, 300, "the backfill to finish", interval=3)
            (counts,) = backfill["assetBackfillData"]["assetBackfillStatuses"]
            assert counts["assetKey"]["path"] == BRONZE
            assert (counts["numPartitionsMaterialized"], counts["numPartitionsFailed"]) == (4, 1), backfill

            (run,) = dev.query(RUNS, {"id": backfill_id})["runsOrError"]["results"]  # one range run
            assert run["status"] == "FAILURE"
            events = dev.query(STEP_FAILURES, {"runId": run["runId"]})["logsForRun"]["events"]
            (failure,) = [e for e in events if e["__typename"] == "ExecutionStepFailureEvent"]
            assert not failure["error"]["className"].startswith("Dagster"), failure
            first_line = failure["error"]["message"].split(": ", 1)[1].splitlines()[0]
            assert "matched no files" in first_line and RANGE[4] in first_line, failure
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- dagster dev log ---\n{dev.tail()}") from None

    with dg.DagsterInstance.from_config(str(home)) as instance:
        lake = Lake.load()
        spec = lake.spec("retail_orders")
        partitions_def = build_assets([spec], lake.config.platform)[0].partitions_def
        statuses = instance.get_status_by_partition(spec.bronze_key, RANGE, partitions_def)
        assert statuses == {
            **{day: dg.AssetPartitionStatus.MATERIALIZED for day in RANGE[:4]},
            RANGE[4]: dg.AssetPartitionStatus.FAILED,
        }
        for day in RANGE[:4]:
            part = lake.committed(spec, "bronze", day)
            assert part is not None
            record = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=spec.bronze_key, asset_partitions=[day]), limit=1
            ).records[0]
            assert record.asset_materialization.metadata["manifest_sha256"].value == part.manifest.sha256
