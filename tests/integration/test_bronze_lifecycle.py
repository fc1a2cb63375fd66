"""Bronze through Dagster with a custom extractor: crashes mid-stream, re-runs and watermarks."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml

from medallion_assets.lake import Lake
from medallion_assets.runner import materialize_partition
from medallion_resources.lake.read import read_artifact, verify_partition
from tests.instances import cli_instance_for_test

pytestmark = pytest.mark.slow
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "test_extractors"
DAY1, DAY2, DAY3 = date(2025, 1, 1), date(2025, 1, 2), date(2025, 1, 3)


def write_config(config_dir: Path, lake_dir: Path, **options: object) -> None:
    config_dir.mkdir(parents=True, exist_ok=True)
    platform = {
        "config_version": 1,
        "platform": {
            "bronze": {
                "local_path": str(lake_dir / "bronze"),
                "output_defaults": {"max_rows_per_file": 1000},
            },
            "silver": {"local_path": str(lake_dir / "silver")},
            "defaults": {"partitions": {"start_date": "2025-01-01"}},
        },
    }
    source = {
        "name": "counter",
        "source": {
            "system": "test",
            "table": "counter",
            "type": "custom",
            "custom_extractor": {
                "module": "counting_extractor",
                "class_name": "CountingExtractor",
                "options": options,
            },
            "run": {"load_pattern": "incremental"},
        },
        "silver": {"model": "scd_type_1", "primary_keys": ["seq"]},
    }
    (config_dir / "platform.yaml").write_text(yaml.safe_dump(platform))
    (config_dir / "sources.yaml").write_text(yaml.safe_dump({"config_version": 1, "sources": [source]}))


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.syspath_prepend(str(FIXTURES))
    (tmp_path / "instance").mkdir()
    with cli_instance_for_test(tmp_path / "instance") as instance:
        yield tmp_path / "configs", tmp_path / "lake", instance


def bronze_run(config_dir: Path, day: date, instance) -> tuple[Lake, object]:
    lake = Lake.load(config_dir)
    return lake, materialize_partition(lake, lake.spec("counter"), day, ("bronze",), instance)


def test_a_crash_mid_stream_leaves_the_previous_commit_and_no_stray_files(setup) -> None:
    config_dir, lake_dir, instance = setup
    write_config(config_dir, lake_dir)
    lake, ok = bronze_run(config_dir, DAY1, instance)
    assert ok.error is None
    spec = lake.spec("counter")
    before = lake.committed(spec, "bronze", DAY1)
    assert before.manifest.record_count == 5000 and len(before.manifest.files) == 5

    write_config(config_dir, lake_dir, fail_after=3)  # three parts are written, then the source fails
    lake, failed = bronze_run(config_dir, DAY1, instance)
    assert failed.failed_layer == "bronze" and "injected crash after 3 batches" in failed.error
    after = lake.committed(spec, "bronze", DAY1)
    assert after.manifest == before.manifest
    assert verify_partition(after) == []
    assert read_artifact(after, "data")["seq"].to_list() == list(range(1, 5001))
    folder = lake_dir / "bronze" / "system=test" / "table=counter" / "dt=2025-01-01"
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted([f.path for f in before.manifest.files] + ["_checksums.json", "_metadata.json"])


def test_watermark_comes_from_the_latest_committed_earlier_partition(setup) -> None:
    config_dir, lake_dir, instance = setup
    write_config(config_dir, lake_dir, batches=2, rows_per_batch=10)
    for day in (DAY1, DAY2):
        lake, outcome = bronze_run(config_dir, day, instance)
        assert outcome.error is None
    spec = lake.spec("counter")
    day1 = lake.committed(spec, "bronze", DAY1).metadata
    day2 = lake.committed(spec, "bronze", DAY2).metadata
    assert (day1["watermark_in"], day1["watermark_out"]) == (None, "20")
    assert (day2["watermark_in"], day2["watermark_out"]) == ("20", "40")

    # Re-running day 2 starts again from day 1's watermark, never from its own earlier attempt.
    lake, again = bronze_run(config_dir, DAY2, instance)
    assert again.error is None
    rerun = lake.committed(spec, "bronze", DAY2)
    assert (rerun.metadata["watermark_in"], rerun.metadata["watermark_out"]) == ("20", "40")
    assert read_artifact(rerun, "data")["seq"].to_list() == list(range(21, 41))

    # A failed day 3 does not advance the watermark: the next attempt still starts at 40.
    write_config(config_dir, lake_dir, batches=2, rows_per_batch=10, fail_after=1)
    lake, failed = bronze_run(config_dir, DAY3, instance)
    assert failed.error is not None and lake.committed(spec, "bronze", DAY3) is None
    write_config(config_dir, lake_dir, batches=2, rows_per_batch=10)
    lake, ok = bronze_run(config_dir, DAY3, instance)
    assert ok.error is None
    assert lake.committed(spec, "bronze", DAY3).metadata["watermark_in"] == "40"
