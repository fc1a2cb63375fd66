"""The file_arrival sensor: new or changed files request their partitions; cursor and run keys make a
restart or a cursor reset neither lose nor repeat a load; an unreachable folder is a skip reason."""

from __future__ import annotations

import json
import shutil
import socket
from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from medallion_assets.errors import ConfigError
from medallion_assets.factory import build_definitions
from medallion_assets.lake import Lake
from medallion_assets.sensors import file_partitions
from medallion_resources.lake.read import verify_partition

SENSOR = "retail_orders_file_arrival_sensor"


@pytest.fixture
def landing(tmp_path: Path, sample_dir: Path) -> Path:
    """A landing folder holding the first three days of the orders feed."""
    folder = tmp_path / "landing"
    folder.mkdir()
    for day in (1, 2, 3):
        drop(sample_dir, folder, day)
    return folder


def drop(sample_dir: Path, landing: Path, day: int) -> Path:
    name = f"orders_202501{day:02d}.jsonl"
    return Path(shutil.copy(sample_dir / "retail" / "orders" / name, landing / name))


def with_sensor(path: str):
    def edit(entry: dict) -> None:
        if entry["name"] == "retail_orders":
            entry["source"]["file"]["path"] = path
            entry["sensor"] = {"type": "file_arrival", "minimum_interval_seconds": 45}

    return edit


@pytest.fixture
def defs(sample_config, landing: Path) -> dg.Definitions:
    return build_definitions(sample_config(with_sensor(f"{landing}/orders_{{run_date:%Y%m%d}}.jsonl")))


def tick(defs: dg.Definitions, instance: dg.DagsterInstance, cursor: str | None):
    sensor = defs.resolve_sensor_def(SENSOR)
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, repository_def=defs.get_repository_def()
    )
    return sensor.evaluate_tick(context)


def keys(result) -> list[str]:
    return [r.partition_key for r in result.run_requests]


def test_sensor_settings_come_from_config(defs: dg.Definitions) -> None:
    sensor = defs.resolve_sensor_def(SENSOR)
    assert sensor.minimum_interval_seconds == 45
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED
    assert sensor.job_name == "retail_orders_job"


def test_new_files_request_their_partitions_once(defs, instance, sample_dir: Path, landing: Path) -> None:
    first = tick(defs, instance, None)
    assert keys(first) == ["2025-01-01", "2025-01-02", "2025-01-03"]
    assert all(r.tags["medallion/source"] == "retail_orders" for r in first.run_requests)
    assert set(json.loads(first.cursor)["partitions"]) == {"2025-01-01", "2025-01-02", "2025-01-03"}

    again = tick(defs, instance, first.cursor)
    assert not again.run_requests
    assert "no new or changed files" in again.skip_message and "3 file(s) seen" in again.skip_message

    drop(sample_dir, landing, 4)
    with (landing / "orders_20250102.jsonl").open("a") as handle:
        handle.write('{"order_id": 999999, "customer_id": 1, "status": "late"}\n')
    later = tick(defs, instance, again.cursor)
    assert keys(later) == ["2025-01-02", "2025-01-04"]
    old_key = {r.partition_key: r.run_key for r in first.run_requests}["2025-01-02"]
    new_key = {r.partition_key: r.run_key for r in later.run_requests}["2025-01-02"]
    assert new_key != old_key and new_key.startswith("retail_orders:2025-01-02:")


def test_a_requested_run_loads_bronze_and_silver(defs, instance, sample_config) -> None:
    [request, *_] = tick(defs, instance, None).run_requests
    job = defs.resolve_job_def("retail_orders_job")
    assert job.execute_in_process(
        instance=instance, partition_key=request.partition_key, tags=request.tags
    ).success
    lake = Lake(sample_config())
    spec = lake.spec("retail_orders")
    for layer in ("bronze", "silver"):
        part = lake.committed(spec, layer, request.partition_key)
        assert part is not None and verify_partition(part) == []


def test_cursor_reset_skips_partitions_the_lake_already_holds(defs, instance) -> None:
    first = tick(defs, instance, None)
    job = defs.resolve_job_def("retail_orders_job")
    assert job.execute_in_process(instance=instance, partition_key="2025-01-01").success

    reset = tick(defs, instance, None)
    assert keys(reset) == ["2025-01-02", "2025-01-03"]
    # Same files, same run keys: Dagster launches each run key once, so nothing is repeated either.
    before = {r.partition_key: r.run_key for r in first.run_requests}
    assert all(before[r.partition_key] == r.run_key for r in reset.run_requests)


def test_a_cursor_edited_in_the_ui_counts_as_none(defs, instance) -> None:
    for cursor in ('{"partitions": "x"}', '{"partitions": [1]}', '{"partitions": {"2025-01-01": 5}}'):
        result = tick(defs, instance, cursor)
        assert keys(result) == ["2025-01-01", "2025-01-02", "2025-01-03"], cursor


def test_a_restart_with_the_cursor_loses_nothing_that_arrived_meanwhile(
    defs, instance, sample_config, sample_dir: Path, landing: Path
) -> None:
    cursor = tick(defs, instance, None).cursor
    for day in (5, 6):
        drop(sample_dir, landing, day)
    restarted = build_definitions(sample_config())  # a new code location process: only the cursor survives
    assert keys(tick(restarted, instance, cursor)) == ["2025-01-05", "2025-01-06"]


def test_file_partitions_reads_the_run_date_from_globs_and_templates(tmp_path: Path) -> None:
    root = tmp_path / "drop"
    for rel in (
        "2025/01/07/part_a.csv",
        "2025/01/07/part_b.csv",
        "2025/01/08/part_a.csv",
        "2025/01/08/_SUCCESS",
        "2025/01/09/notes.txt",
    ):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("x\n")
    found = file_partitions(f"{root}/{{run_date:%Y/%m/%d}}/part_*.csv", last_partition="2025-01-31")
    assert {k: sorted(Path(p).name for p in v) for k, v in found.items()} == {
        "2025-01-07": ["part_a.csv", "part_b.csv"],
        "2025-01-08": ["part_a.csv"],
    }
    flat = file_partitions(f"{root}/2025/01/07/*.csv", last_partition="2025-01-31")
    assert list(flat) == ["2025-01-31"]  # no date in the path: the latest partition


def test_files_of_days_outside_the_partitions_are_not_requested(defs, instance, landing: Path) -> None:
    (landing / "orders_20241231.jsonl").write_text("{}\n")  # before start_date
    future = date.today().replace(year=date.today().year + 1).strftime("%Y%m%d")
    (landing / f"orders_{future}.jsonl").write_text("{}\n")  # no partition yet
    assert keys(tick(defs, instance, None)) == ["2025-01-01", "2025-01-02", "2025-01-03"]


def test_an_unreachable_folder_is_a_skip_reason_without_credentials(sample_config, instance) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once the block ends: nothing listens there
    defs = build_definitions(
        sample_config(
            with_sensor(f"ftp://loader:s3cr3t@127.0.0.1:{port}/in/orders_{{run_date:%Y%m%d}}.jsonl")
        )
    )
    result = tick(defs, instance, '{"partitions": {"2025-01-01": "abc"}}')
    assert not result.run_requests
    assert result.skip_message.startswith("cannot list file.path 'ftp://***@127.0.0.1")
    assert "s3cr3t" not in result.skip_message
    assert result.cursor == '{"partitions": {"2025-01-01": "abc"}}'  # an outage never loses the cursor


def test_a_sas_token_in_the_path_is_not_in_the_skip_reason(sample_config, instance) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    path = f"http://127.0.0.1:{port}/in/orders_{{run_date:%Y%m%d}}.jsonl?sv=2022-11-02&sig=SasS1gnature"
    defs = build_definitions(sample_config(with_sensor(path)))
    result = tick(defs, instance, None)
    assert not result.run_requests
    assert "sv=2022-11-02" in result.skip_message
    assert "SasS1gnature" not in result.skip_message
    sensor = defs.resolve_sensor_def(SENSOR)
    assert "SasS1gnature" not in (sensor.description or "")


def test_file_arrival_on_a_non_file_source_is_a_config_error(sample_config) -> None:
    def edit(entry: dict) -> None:
        entry["sensor"] = {"type": "db_watermark"}

    with pytest.raises(ConfigError, match=r"sensor\.type: sensor type 'db_watermark' polls a database"):
        sample_config(edit)


def test_a_split_date_layout_requests_each_files_own_day(
    sample_config, instance, sample_dir: Path, tmp_path: Path
) -> None:
    """``{run_date:%Y%m}/..{run_date:%d}``: no single field names the day; together they do."""
    landing = tmp_path / "split"
    (landing / "202501").mkdir(parents=True)
    for day in (1, 2, 3):
        shutil.copy(
            sample_dir / "retail" / "orders" / f"orders_202501{day:02d}.jsonl",
            landing / "202501" / f"orders_{day:02d}.jsonl",
        )
    defs = build_definitions(
        sample_config(with_sensor(f"{landing}/{{run_date:%Y%m}}/orders_{{run_date:%d}}.jsonl"))
    )
    result = tick(defs, instance, None)
    assert keys(result) == ["2025-01-01", "2025-01-02", "2025-01-03"]
    request = result.run_requests[0]
    job = defs.resolve_job_def("retail_orders_job")
    assert job.execute_in_process(
        instance=instance, partition_key=request.partition_key, tags=request.tags
    ).success
    lake = Lake(sample_config())
    part = lake.committed(lake.spec("retail_orders"), "bronze", "2025-01-01")
    assert part is not None  # the run for the sensor's day read exactly the file the sensor saw for it
    assert [Path(f["path"]).name for f in part.metadata["source_files"]] == ["orders_01.jsonl"]
    assert keys(tick(defs, instance, result.cursor)) == []


def test_a_day_without_a_file_is_loaded_empty_when_files_are_not_required(
    sample_config, instance, sample_dir: Path, landing: Path
) -> None:
    """``file.required: false``: a day with no file is an empty partition. Silver D builds on Bronze D-1, so
    the day no file came for is requested with the next day that has one (DESIGN §6, no silent gaps)."""
    edit = with_sensor(f"{landing}/orders_{{run_date:%Y%m%d}}.jsonl")

    def optional(entry: dict) -> None:
        edit(entry)
        if entry["name"] == "retail_orders":
            entry["source"]["file"]["required"] = False

    defs = build_definitions(sample_config(optional))
    job = defs.resolve_job_def("retail_orders_job")
    first = tick(defs, instance, None)
    for request in first.run_requests:
        assert job.execute_in_process(instance=instance, partition_key=request.partition_key).success

    drop(sample_dir, landing, 5)  # nothing ever comes for 2025-01-04
    later = tick(defs, instance, first.cursor)
    assert keys(later) == ["2025-01-04", "2025-01-05"]
    for request in later.run_requests:
        run = job.execute_in_process(
            instance=instance, partition_key=request.partition_key, tags=request.tags
        )
        assert run.success, request.partition_key
    lake = Lake(sample_config())
    spec = lake.spec("retail_orders")
    quiet = lake.committed(spec, "bronze", "2025-01-04")
    assert quiet is not None and quiet.manifest.record_count == 0
    assert lake.committed(spec, "silver", "2025-01-05") is not None
    assert keys(tick(defs, instance, later.cursor)) == []


def test_a_day_without_a_file_is_not_requested_when_files_are_required(
    defs, instance, sample_dir: Path, landing: Path
) -> None:
    """A required file that never came is the source's gap: Silver names it; no run is made to fail on it."""
    first = tick(defs, instance, None)
    drop(sample_dir, landing, 5)
    assert keys(tick(defs, instance, first.cursor)) == ["2025-01-05"]


def test_a_file_the_extractor_would_not_read_requests_nothing(defs, instance, landing: Path) -> None:
    """``orders_2025014`` fits the loose shape of ``%Y%m%d`` but is no day's filled path: no run for it."""
    (landing / "orders_2025014.jsonl").write_text('{"order_id": 1}\n')
    assert keys(tick(defs, instance, None)) == ["2025-01-01", "2025-01-02", "2025-01-03"]


def test_a_day_that_failed_before_a_later_commit_is_requested_with_the_next_file(
    defs, instance, sample_config, sample_dir: Path, landing: Path
) -> None:
    """2025-01-02's run failed while 01 and 03 committed: its files did not change, so it was never requested
    again (and every later Silver day of the stateful model failed on it). With the next new file, the
    hole and the days after it are requested again (at most once a day: the run key names the day)."""
    job = defs.resolve_job_def("retail_orders_job")
    first = tick(defs, instance, None)
    for day in ("2025-01-01", "2025-01-03"):  # 02 failed (here: not run); 03's Silver failed on it
        job.execute_in_process(instance=instance, partition_key=day, raise_on_error=False)
    drop(sample_dir, landing, 4)
    later = tick(defs, instance, first.cursor)
    assert keys(later) == ["2025-01-02", "2025-01-03", "2025-01-04"]
    run_keys = [r.run_key for r in later.run_requests]
    assert run_keys[0].startswith("retail_orders:2025-01-02:hole:") and run_keys[1].startswith(
        "retail_orders:2025-01-03:hole:"
    )
    for request in later.run_requests:
        run = job.execute_in_process(
            instance=instance, partition_key=request.partition_key, tags=request.tags
        )
        assert run.success, request.partition_key
    lake = Lake(sample_config())
    assert all(lake.committed(lake.spec("retail_orders"), "silver", f"2025-01-0{d}") for d in (1, 2, 3, 4))
    assert keys(tick(defs, instance, later.cursor)) == []


def test_a_hole_whose_required_file_is_gone_is_left_to_status(
    defs, instance, sample_dir: Path, landing: Path
) -> None:
    job = defs.resolve_job_def("retail_orders_job")
    first = tick(defs, instance, None)
    for day in ("2025-01-01", "2025-01-03"):
        job.execute_in_process(instance=instance, partition_key=day, raise_on_error=False)
    (landing / "orders_20250102.jsonl").unlink()
    drop(sample_dir, landing, 4)
    assert keys(tick(defs, instance, first.cursor)) == ["2025-01-04"]
