"""End to end on a real deployment: `dagster dev` (webserver + daemon) with the project's dagster.yaml.

Through GraphQL, as the UI does, in two tests that run side by side (each on its own deployment): a job
partition backfill over three sample sources completes, one run at a time per source, and every partition is
committed, verifies in the lake and shows its metadata in the UI; a file_arrival sensor turned on loads a
dropped file into Bronze and Silver, and the asset pages (metadata with the previews, plots, checks) render
in a headless Chromium. The screenshots are kept as test artifacts: under ``$MEDALLION_TEST_ARTIFACTS``
when set, else the test's tmp_path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import zlib
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml
from service_gate import require_service

from medallion_assets.config.loader import load_config
from medallion_assets.lake import Lake
from medallion_resources.lake.read import verify_partition

from .dagster_dev import BIN, REPO, REPO_SELECTOR, DagsterDev, dagster_dev, wait_for

pytestmark = pytest.mark.slow
SOURCES = ("inventory_stock", "retail_customers", "retail_orders")
DAYS = [(date(2025, 1, 1) + timedelta(days=i)).isoformat() for i in range(2)]
SENSOR = "retail_orders_file_arrival_sensor"

RUNS = """
query($tags: [ExecutionTag!]) {
  runsOrError(filter: {tags: $tags}) {
    ... on Runs { results { runId status startTime endTime tags { key value } } }
  }
}
"""
MATERIALIZATIONS = """
query($path: [String!]!) {
  assetOrError(assetKey: {path: $path}) {
    ... on Asset { assetMaterializations(limit: 100) { partition metadataEntries { label } } }
  }
}
"""
START_SENSOR = """
mutation($selector: SensorSelector!) {
  startSensor(sensorSelector: $selector) { __typename ... on Sensor { name } ... on Error { message } }
}
"""


def deployment(tmp_path: Path, sample_dir: Path, lake_env: dict[str, str], days: list[str]):
    """The sample configs with a watched landing folder holding ``days``; the env of `dagster dev`."""
    landing = tmp_path / "landing"
    landing.mkdir()
    for day in days:
        drop_orders(sample_dir, landing, day)
    config_dir = sensor_config(tmp_path, landing)
    home = Path(lake_env["DAGSTER_HOME"])
    shutil.copy(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")  # what `make ui` does
    env = {**os.environ, **lake_env, "MEDALLION_CONFIG_DIR": str(config_dir)}
    return landing, env, Lake(load_config(config_dir))


def test_job_backfills_run_one_at_a_time_per_source(
    tmp_path: Path, sample_dir: Path, lake_env: dict[str, str]
) -> None:
    _, env, lake = deployment(tmp_path, sample_dir, lake_env, DAYS)
    with dagster_dev(env, tmp_path / "dagster-dev.log") as dev:
        try:
            backfill_every_source(dev, lake)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- dagster dev log ---\n{dev.tail()}") from None


def test_sensor_loads_a_file_and_the_asset_pages_render(
    tmp_path: Path, sample_dir: Path, lake_env: dict[str, str]
) -> None:
    landing, env, lake = deployment(tmp_path, sample_dir, lake_env, DAYS)
    # The landed days first, through the CLI on the same instance (the sensor then sees them committed).
    subprocess.run(
        [
            str(BIN / "medallion"),
            "run",
            "--date",
            DAYS[0],
            "--end-date",
            DAYS[-1],
            "--select",
            "retail_orders",
        ],
        env=env,
        check=True,
        capture_output=True,
        timeout=600,
    )
    with dagster_dev(env, tmp_path / "dagster-dev.log") as dev:
        try:
            sensor_loads_a_dropped_file(dev, lake, sample_dir, landing)
            screenshot_asset_pages(dev, tmp_path)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- dagster dev log ---\n{dev.tail()}") from None


def drop_orders(sample_dir: Path, landing: Path, day: str) -> None:
    name = f"orders_{day.replace('-', '')}.jsonl"
    shutil.copy(sample_dir / "retail" / "orders" / name, landing / name)


def sensor_config(tmp_path: Path, landing: Path) -> Path:
    """The sample configs, with retail_orders read from a landing folder watched by a sensor."""
    target = tmp_path / "configs"
    shutil.copytree(REPO / "configs", target)
    path = target / "sources" / "retail.yaml"
    data = yaml.safe_load(path.read_text())
    for entry in data["sources"]:
        if entry["name"] == "retail_orders":
            entry["source"]["file"]["path"] = f"{landing}/orders_{{run_date:%Y%m%d}}.jsonl"
            entry["sensor"] = {"type": "file_arrival", "minimum_interval_seconds": 5}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return target


def runs(dev: DagsterDev, **tags: str) -> list[dict]:
    filters = [{"key": k.replace("__", "/"), "value": v} for k, v in tags.items()]
    return dev.query(RUNS, {"tags": filters})["runsOrError"]["results"]


def tag(run: dict, key: str) -> str | None:
    return next((t["value"] for t in run["tags"] if t["key"] == key), None)


def backfill_every_source(dev: DagsterDev, lake: Lake) -> None:
    backfills = {}
    for source in SOURCES:
        backfills[source] = dev.launch_job_backfill(source, DAYS)

    def finished() -> list[dict] | None:
        found = [run for source in SOURCES for run in runs(dev, dagster__backfill=backfills[source])]
        done = [r for r in found if r["status"] in ("SUCCESS", "FAILURE", "CANCELED")]
        return found if len(done) == len(SOURCES) * len(DAYS) else None

    all_runs = wait_for(finished, 600, "every backfill run to finish", interval=3)
    failed = [
        (tag(r, "medallion/source"), tag(r, "dagster/partition"))
        for r in all_runs
        if r["status"] != "SUCCESS"
    ]
    assert not failed, f"failed runs: {failed}"

    for source in SOURCES:
        mine = sorted(
            (r for r in all_runs if tag(r, "medallion/source") == source), key=lambda r: r["startTime"]
        )
        assert sorted(tag(r, "dagster/partition") for r in mine) == DAYS
        for before, after in zip(mine, mine[1:], strict=False):  # dagster.yaml: one run at a time per source
            assert before["endTime"] <= after["startTime"], f"{source}: runs overlapped"

        spec = lake.spec(source)
        for layer, key in (("bronze", spec.bronze_key), ("silver", spec.silver_key)):
            for day in DAYS:
                part = lake.committed(spec, layer, day)
                assert part is not None, f"{source} {layer} {day} not committed"
                assert verify_partition(part) == [], f"{source} {layer} {day}"
            events = dev.query(MATERIALIZATIONS, {"path": key.path})["assetOrError"]["assetMaterializations"]
            by_day = {e["partition"]: {m["label"] for m in e["metadataEntries"]} for e in events}
            assert set(DAYS) <= set(by_day), f"{key.to_user_string()}: {sorted(by_day)}"
            for day in DAYS:
                assert {"dagster/partition_row_count", "dagster/uri", "sha256", "bytes"} <= by_day[day]


def sensor_loads_a_dropped_file(dev: DagsterDev, lake: Lake, sample_dir: Path, landing: Path) -> None:
    selector = {**REPO_SELECTOR, "sensorName": SENSOR}
    started = dev.query(START_SENSOR, {"selector": selector})["startSensor"]
    assert started["__typename"] == "Sensor", started
    new_day = (date.fromisoformat(DAYS[-1]) + timedelta(days=1)).isoformat()
    drop_orders(sample_dir, landing, new_day)

    def loaded() -> list[dict] | None:
        found = runs(dev, dagster__sensor_name=SENSOR)
        return found if found and all(r["status"] in ("SUCCESS", "FAILURE") for r in found) else None

    sensor_runs = wait_for(loaded, 180, "the sensor's run to finish", interval=2)
    # The loaded days are in the lake already: the sensor requests only the new file's day.
    assert [(tag(r, "dagster/partition"), r["status"]) for r in sensor_runs] == [(new_day, "SUCCESS")]
    spec = lake.spec("retail_orders")
    for layer in ("bronze", "silver"):
        part = lake.committed(spec, layer, new_day)
        assert part is not None and verify_partition(part) == []
    bronze = lake.committed(spec, "bronze", new_day)
    assert [Path(f["path"]).name for f in bronze.metadata["source_files"]] == [
        f"orders_{new_day.replace('-', '')}.jsonl"
    ]


# The asset pages a person reads: the partition's metadata (previews, files table), the plots of the
# numeric metadata over the partitions, and the checks.
PAGES = {
    "silver-orders-metadata": "/assets/silver/sales/orders?view=partitions&partition={day}",
    "silver-orders-plots": "/assets/silver/sales/orders?view=plots",
    "bronze-orders-checks": "/assets/bronze/retail/orders?view=checks",
}


def screenshot_asset_pages(dev: DagsterDev, tmp_path: Path) -> None:
    chromium = find_or_install_chromium()
    dev.query("mutation { setNuxSeen }")
    folder = Path(os.environ.get("MEDALLION_TEST_ARTIFACTS") or tmp_path) / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    for name, path in PAGES.items():
        png = folder / f"{name}.png"
        subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                f"--user-data-dir={tmp_path / 'chromium'}",
                "--virtual-time-budget=20000",
                "--window-size=1400,2400",  # tall enough for the previews below the metadata
                f"--screenshot={png}",
                dev.url + path.format(day=DAYS[-1]),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        assert distinct_pixel_bytes(png.read_bytes()) > 30, f"{name}: the page rendered blank"


def find_or_install_chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    if shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run(
            ["apt-get", "install", "-y", "--no-install-recommends", "chromium"],
            capture_output=True,
            timeout=300,
        )
    path = shutil.which("chromium")
    require_service(path is not None, "Chromium: apt-get install -y --no-install-recommends chromium")
    assert path is not None
    return path


def distinct_pixel_bytes(png: bytes) -> int:
    """How many distinct byte values the decoded image data holds (a blank page: one or two)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, b""
    while pos < len(png):
        length = int.from_bytes(png[pos : pos + 4], "big")
        kind = png[pos + 4 : pos + 8]
        if kind == b"IDAT":
            idat += png[pos + 8 : pos + 8 + length]
        pos += 12 + length
    return len(set(zlib.decompress(idat)))
