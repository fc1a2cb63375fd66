"""How long a UI backfill of one source takes end to end, daemon waits included (docs/performance.md).

Starts the real ``dagster dev`` (webserver + daemon) on the embedded default (``deploy/dagster.yaml``, SQLite
instance storage, local lake) over sample data of ``--days`` days, launches a backfill of a source's Bronze
and Silver assets over every day through GraphQL (what the UI's *Materialize* over a selected range, or the
backfill dialog, sends), and measures from the launch until the backfill is finished: wall time, runs, and
the partitions materialized and failed. Prints one JSON line per measurement::

    .venv/bin/python benchmarks/ui_backfill.py --days 31 365 --source retail_orders
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "sampledata"))
sys.path.insert(0, str(REPO / "tests"))

from generate import generate  # noqa: E402
from integration.dagster_dev import dagster_dev, wait_for  # noqa: E402

LAUNCH = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename ... on LaunchBackfillSuccess { backfillId } ... on Error { message }
  }
}
"""
STATUS = """
query($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    ... on PartitionBackfill {
      status
      assetBackfillData { assetBackfillStatuses { ... on AssetPartitionsStatusCounts {
        assetKey { path } numPartitionsTargeted numPartitionsMaterialized numPartitionsFailed } } }
    }
  }
}
"""
RUNS = """
query($id: String!) {
  runsOrError(filter: {tags: [{key: "dagster/backfill", value: $id}]}) {
    ... on Runs { results { runId status startTime endTime assetSelection { path } tags { key value } } }
  }
}
"""
FINISHED = {"COMPLETED", "FAILED", "CANCELED", "COMPLETED_SUCCESS", "COMPLETED_FAILED"}
START = date(2025, 1, 1)


def measure(days: int, source: str, work: Path, timeout: float) -> dict[str, object]:
    sample = work / "sample"
    if not sample.exists():
        generate(sample, START, days)
    run_dir = work / f"run-{days}-{time.time_ns()}"
    home = run_dir / "dagster_home"
    home.mkdir(parents=True)
    shutil.copy(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")
    env = {
        **os.environ,
        "MEDALLION_CONFIG_DIR": str(REPO / "configs"),
        "MEDALLION_LAKE_DIR": str(run_dir / "lake"),
        "MEDALLION_SAMPLE_DIR": str(sample),
        "DAGSTER_HOME": str(home),
    }
    from medallion_assets.lake import Lake

    os.environ.update({k: env[k] for k in ("MEDALLION_LAKE_DIR", "MEDALLION_SAMPLE_DIR")})
    spec = Lake.load(REPO / "configs").spec(source)
    keys = [{"path": spec.bronze_key.path}, {"path": spec.silver_key.path}]
    partitions = [(START + timedelta(days=i)).isoformat() for i in range(days)]
    with dagster_dev(env, run_dir / "dagster-dev.log") as dev:
        params = {"assetSelection": keys, "partitionNames": partitions, "fromFailure": False}
        started = time.monotonic()
        launched = dev.query(LAUNCH, {"params": params})["launchPartitionBackfill"]
        assert launched["__typename"] == "LaunchBackfillSuccess", launched
        backfill_id = launched["backfillId"]

        def done() -> dict | None:
            found = dev.query(STATUS, {"id": backfill_id})["partitionBackfillOrError"]
            return found if found["status"] in FINISHED else None

        backfill = wait_for(done, timeout, f"the {days}-day backfill", interval=1)
        elapsed = time.monotonic() - started
        runs = dev.query(RUNS, {"id": backfill_id})["runsOrError"]["results"]
    run_seconds = sum((r["endTime"] or 0) - (r["startTime"] or 0) for r in runs)
    counts = {
        "/".join(c["assetKey"]["path"]): (c["numPartitionsMaterialized"], c["numPartitionsFailed"])
        for c in backfill["assetBackfillData"]["assetBackfillStatuses"]
    }
    return {
        "days": days,
        "source": source,
        "status": backfill["status"],
        "seconds_end_to_end": round(elapsed, 1),
        "runs": len(runs),
        "run_shapes": [_shape(r) for r in sorted(runs, key=lambda r: r["startTime"] or 0)],
        "seconds_in_runs": round(run_seconds, 1),
        "materialized_failed": counts,
        "load": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
    }


def _shape(run: dict) -> str:
    """``<assets> <first>..<last> <seconds>s``: what one run of the backfill did."""
    tags = {t["key"]: t["value"] for t in run["tags"]}
    span = (
        f"{tags.get('dagster/asset_partition_range_start')}..{tags.get('dagster/asset_partition_range_end')}"
    )
    if "dagster/partition" in tags:
        span = tags["dagster/partition"]
    assets = ",".join("/".join(a["path"]) for a in run["assetSelection"] or [])
    return f"{assets} {span} {round((run['endTime'] or 0) - (run['startTime'] or 0), 1)}s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, nargs="+", default=[31, 365])
    parser.add_argument("--source", default="retail_orders")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ui-backfill-") as tmp:
        work = Path(tmp)
        generate(work / "sample", START, max(args.days))
        for _ in range(args.repeat):
            for days in args.days:
                print(json.dumps(measure(days, args.source, work, args.timeout)), flush=True)


if __name__ == "__main__":
    main()
