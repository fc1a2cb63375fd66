"""The ``medallion_silver_inputs`` sensor on an object store reads only the manifests that changed.

Its verdict on Silver D needs every day's Bronze and Silver manifest and ``_metadata.json`` (a chain back to
the first day): two reads per day and layer. The sensor ticks every five minutes in the code server, so
without a cache a lake of a year cost ~1,500 requests per source per tick. Here the lake is on moto's S3
server or Azurite, the sensor is the one the Definitions build, and a wrapper counts the storage calls.
A fresh process (a run's check) starts from the commit cache on disk (``lake.committed_cache``).
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

from medallion_assets.config.models import LayerStorageConfig, PlatformConfig
from medallion_assets.factory import load_definitions
from medallion_assets.lake import Lake
from medallion_assets.runner import materialize_partition
from medallion_resources.lake import committed_cache
from medallion_resources.lake.committed_cache import CACHE_DIR_ENV, cache_dir
from medallion_resources.storage import StorageBackend, register_backend
from medallion_resources.storage import registry as registry_module
from medallion_resources.storage.azure import AzureBackend, AzureSettings
from medallion_resources.storage.s3 import S3Backend, S3Settings
from medallion_resources.storage.wrappers import WrappingBackend
from tests.instances import cli_instance_for_test

pytestmark = [pytest.mark.slow, pytest.mark.services]
DAYS = [date(2025, 1, 1) + timedelta(days=i) for i in range(5)]
READS = ("read_bytes", "read_versioned", "open_read")
CALLS: Counter[str] = Counter()


class _Counting(WrappingBackend):
    def _call(self, operation: str, relpath: str, fn: Callable[[], Any]) -> Any:
        CALLS[operation] += 1
        return fn()


def write_day(data: Path, day: date, value: str) -> None:
    rows = [{"id": i, "v": f"{value}{i}", "ts": f"{day}T10:00:00"} for i in range(3)]
    (data / f"hist_{day:%Y%m%d}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture(params=["s3", "azure"])
def config_dir(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "cache"))  # this test's own commit cache
    if request.param == "s3":
        s3 = request.getfixturevalue("s3_endpoint")
        bucket = s3.create_bucket()

        def inner(prefix: str) -> StorageBackend:
            return S3Backend(bucket, prefix, S3Settings(endpoint_url=s3.url, key=s3.key, secret=s3.secret))
    else:
        azure = request.getfixturevalue("azurite_endpoint")
        container = azure.create_container()

        def inner(prefix: str) -> StorageBackend:
            return AzureBackend(container, prefix, AzureSettings(connection_string=azure.connection_string))

    def counting(layer: LayerStorageConfig, platform: PlatformConfig) -> StorageBackend:
        return _Counting(inner(str(layer.options["prefix"])))

    data = tmp_path / "data"
    data.mkdir()
    for day in DAYS:
        write_day(data, day, "a")
    config = tmp_path / "configs"
    config.mkdir()
    layer = {"storage_backend": "counting"}
    platform = {
        "config_version": 1,
        "platform": {
            "bronze": {**layer, "options": {"prefix": "bronze"}},
            "silver": {**layer, "options": {"prefix": "silver"}},
            "defaults": {"partitions": {"start_date": DAYS[0].isoformat(), "timezone": "UTC"}},
        },
    }
    source = {
        "name": "hist",
        "source": {
            "system": "t",
            "table": "hist",
            "type": "file",
            "file": {"path": f"{data}/hist_{{run_date:%Y%m%d}}.jsonl"},
            "run": {"load_pattern": "full"},
        },
        "silver": {"model": "scd_type_2", "primary_keys": ["id"], "order_column": "ts"},
    }
    (config / "platform.yaml").write_text(yaml.safe_dump(platform))
    (config / "sources.yaml").write_text(yaml.safe_dump({"config_version": 1, "sources": [source]}))
    saved = dict(registry_module.BACKENDS.members)
    register_backend("counting", counting)
    try:
        yield config
    finally:
        registry_module.BACKENDS.members.clear()
        registry_module.BACKENDS.members.update(saved)


def materialize(
    lake: Lake,
    instance: dg.DagsterInstance,
    days: list[date],
    layers: tuple[str, ...] = ("bronze", "silver"),
    source: str = "hist",
) -> None:
    for day in days:
        outcome = materialize_partition(lake, lake.spec(source), day, layers, instance)
        assert outcome.error is None, outcome.error


def reads() -> int:
    return sum(CALLS[op] for op in READS)


def test_the_sensor_reads_only_the_manifests_committed_since_its_last_tick(
    config_dir: Path, tmp_path: Path
) -> None:
    lake = Lake.load(config_dir)
    (tmp_path / "instance").mkdir()
    with cli_instance_for_test(tmp_path / "instance") as instance:
        materialize(lake, instance, DAYS)
        # Each run's inputs_current check read the lake and left what it read in the commit cache on disk.
        CALLS.clear()
        warm = load_definitions(config_dir).resolve_sensor_def("medallion_silver_inputs")
        assert warm(dg.build_sensor_context(instance=instance)).asset_events == []
        assert reads() == 0, CALLS

        shutil.rmtree(cache_dir())  # type: ignore[arg-type]
        sensor = load_definitions(config_dir).resolve_sensor_def("medallion_silver_inputs")
        CALLS.clear()
        first = sensor(dg.build_sensor_context(instance=instance))
        assert first.asset_events == []  # every day passes, none failed before
        # Each day's manifest and metadata in both layers, and the newest day's once more: with nothing
        # cached, it tells whether listing the dataset costs less than reading it (it does here).
        assert reads() == 2 * 2 * len(DAYS) + 2 * 2

        CALLS.clear()
        second = sensor(dg.build_sensor_context(instance=instance, cursor=first.cursor))
        assert second.asset_events == []
        assert reads() == 0, CALLS  # nothing changed: listings only
        assert CALLS["list_versions"] == 2

        # The source corrects day 3 and only Bronze is loaded again: Silver 3..5 are stale, and the next
        # tick reads that one Bronze partition to say so.
        write_day(tmp_path / "data", DAYS[2], "b")
        materialize(lake, instance, [DAYS[2]], ("bronze",))
        CALLS.clear()
        third = sensor(dg.build_sensor_context(instance=instance, cursor=second.cursor))
        assert {e.partition: e.passed for e in third.asset_events} == {d.isoformat(): False for d in DAYS[2:]}
        assert reads() == 2, CALLS

        # Silver 3..5 repaired (their runs' checks update the file, not this process's memory): the tick
        # reads their three new commits and reports them passing again.
        materialize(lake, instance, DAYS[2:], ("silver",))
        CALLS.clear()
        fourth = sensor(dg.build_sensor_context(instance=instance, cursor=third.cursor))
        assert {e.partition: e.passed for e in fourth.asset_events} == {d.isoformat(): True for d in DAYS[2:]}
        assert reads() == 2 * 3, CALLS

        # A fresh process (new Definitions, new IO managers; a run's inputs_current check) starts from the
        # commit cache on disk: listings only.
        CALLS.clear()
        fresh = load_definitions(config_dir).resolve_sensor_def("medallion_silver_inputs")
        fifth = fresh(dg.build_sensor_context(instance=instance, cursor=fourth.cursor))
        assert fifth.asset_events == []
        assert reads() == 0, CALLS


def test_a_damaged_commit_cache_is_read_around(config_dir: Path, tmp_path: Path) -> None:
    """The files on disk are only a cache: garbage, or a record under a version the lake no longer has,
    makes the verdict read the lake, never trust the file."""
    lake = Lake.load(config_dir)
    (tmp_path / "instance").mkdir()
    with cli_instance_for_test(tmp_path / "instance") as instance:
        materialize(lake, instance, DAYS[:3])
        sensor = load_definitions(config_dir).resolve_sensor_def("medallion_silver_inputs")
        first = sensor(dg.build_sensor_context(instance=instance))
        files = sorted((cache_dir() / "commits").glob("*.json"))  # type: ignore[operator]
        assert len(files) == 2  # one per dataset (Bronze, Silver)

        files[0].write_text("{not json")
        CALLS.clear()
        again = load_definitions(config_dir).resolve_sensor_def("medallion_silver_inputs")
        assert again(dg.build_sensor_context(instance=instance, cursor=first.cursor)).asset_events == []
        assert reads() == 2 * 3 + 2  # that dataset read again (and its newest day to estimate), the other
        # from its file

        # Bronze day 2 corrected behind the cache's back: its version changes, so its record is not used.
        write_day(tmp_path / "data", DAYS[1], "b")
        materialize(lake, instance, [DAYS[1]], ("bronze",))
        later = load_definitions(config_dir).resolve_sensor_def("medallion_silver_inputs")
        tick = later(dg.build_sensor_context(instance=instance, cursor=first.cursor))
        assert {e.partition: e.passed for e in tick.asset_events} == {
            DAYS[1].isoformat(): False,
            DAYS[2].isoformat(): False,
        }


def test_partitions_of_many_files_are_read_without_a_listing(
    config_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where a listing would return more objects than reading every manifest costs (a Bronze day of 100M
    rows is 1,000 parts), the verdict reads the manifests, as without a cache, and is as exact."""
    monkeypatch.setattr(committed_cache, "LISTING_PAYS_BELOW", 4)  # here: one part file a day is "many"
    lake = Lake.load(config_dir)
    (tmp_path / "instance").mkdir()
    with cli_instance_for_test(tmp_path / "instance") as instance:
        materialize(lake, instance, DAYS[:3])
        sensor = load_definitions(config_dir).resolve_sensor_def("medallion_silver_inputs")
        CALLS.clear()
        first = sensor(dg.build_sensor_context(instance=instance))
        assert first.asset_events == []
        assert CALLS["list_versions"] == 0
        assert reads() == 2 * 2 * 3 + 2 * 2  # every partition, and the newest of each layer to estimate

        write_day(tmp_path / "data", DAYS[1], "b")
        materialize(lake, instance, [DAYS[1]], ("bronze",))
        CALLS.clear()
        tick = sensor(dg.build_sensor_context(instance=instance, cursor=first.cursor))
        assert {e.partition: e.passed for e in tick.asset_events} == {
            DAYS[1].isoformat(): False,
            DAYS[2].isoformat(): False,
        }
        assert CALLS["list_versions"] == 0


def test_one_tick_judges_each_source_on_its_own(config_dir: Path, tmp_path: Path) -> None:
    """Sources are evaluated side by side on an object store (``SOURCES_AT_ONCE``), each on its own."""
    sources = yaml.safe_load((config_dir / "sources.yaml").read_text())
    second = json.loads(json.dumps(sources["sources"][0]))
    second["name"], second["source"]["table"] = "hist2", "hist2"
    sources["sources"].append(second)
    (config_dir / "sources.yaml").write_text(yaml.safe_dump(sources))
    lake = Lake.load(config_dir)
    (tmp_path / "instance").mkdir()
    with cli_instance_for_test(tmp_path / "instance") as instance:
        for name in ("hist", "hist2"):
            materialize(lake, instance, DAYS[:3], source=name)
        sensor = load_definitions(config_dir).resolve_sensor_def("medallion_silver_inputs")
        first = sensor(dg.build_sensor_context(instance=instance))
        assert first.asset_events == []

        write_day(tmp_path / "data", DAYS[1], "b")  # both read it; only hist2's Bronze is loaded again
        materialize(lake, instance, [DAYS[1]], ("bronze",), source="hist2")
        tick = sensor(dg.build_sensor_context(instance=instance, cursor=first.cursor))
        failing = {(e.asset_key.to_user_string(), e.partition) for e in tick.asset_events if not e.passed}
        assert failing == {("silver/t/hist2", DAYS[1].isoformat()), ("silver/t/hist2", DAYS[2].isoformat())}
        assert all(not e.passed for e in tick.asset_events)
