"""A user's own Dagster asset downstream of Bronze and Silver reads LazyFrames of the committed files.

Materialized through Dagster on a real instance: the sample sources for three days, then test assets
("Gold") that take Silver and Bronze assets as inputs, partitioned the same way, over a range, or not
partitioned at all. What they receive is compared with the committed partitions read by ``read_artifact``.
Silver's own inputs (Bronze D, its D-1 state) keep their internal forms: the Silver runs here depend on
them.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import pytest
import yaml
from polars.testing import assert_frame_equal

from medallion_assets.assets import build_assets
from medallion_assets.lake import Lake
from medallion_assets.runner import materialize_partition, user_message
from medallion_assets.specs import BRONZE_IO_MANAGER, SILVER_IO_MANAGER
from medallion_resources.io_managers import BronzeIOManager, SilverIOManager
from medallion_resources.lake.read import read_artifact
from medallion_resources.storage import LocalBackend
from tests.instances import cli_instance_for_test
from tests.integration._lake import local_lake

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
DAYS = ["2025-01-01", "2025-01-02", "2025-01-03"]
DAILY = dg.DailyPartitionsDefinition(start_date="2025-01-01", timezone="UTC")
SOURCES = ("retail_orders", "retail_customers", "customers_history", "inventory_stock")


def _config(target: Path) -> Path:
    """The sample config, plus retail customers again as an SCD2 source (for the ``history`` artifact)."""
    (target / "sources").mkdir(parents=True)
    shutil.copy(REPO / "configs" / "platform.yaml", target / "platform.yaml")
    for name in ("retail.yaml", "inventory.yaml"):
        shutil.copy(REPO / "configs" / "sources" / name, target / "sources" / name)
    retail = yaml.safe_load((REPO / "configs" / "sources" / "retail.yaml").read_text())
    customers = next(s for s in retail["sources"] if s["name"] == "retail_customers")
    customers["name"] = "customers_history"
    customers["source"]["table"] = "customers_history"
    customers["silver"].update(entity="customers_history", model="scd_type_2")
    (target / "sources" / "history.yaml").write_text(
        yaml.safe_dump({"config_version": 1, "sources": [customers]})
    )
    return target


@pytest.fixture(scope="module")
def lake(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lake]:
    """The sources above, Bronze and Silver, for three days: each Silver day built on its D-1 state."""
    root = tmp_path_factory.mktemp("downstream")
    saved = {k: os.environ.get(k) for k in ("MEDALLION_SAMPLE_DIR", "MEDALLION_LAKE_DIR")}
    os.environ.update(MEDALLION_SAMPLE_DIR=str(sample_dir), MEDALLION_LAKE_DIR=str(root / "lake"))
    try:
        loaded = Lake.load(_config(root / "configs"))
    finally:
        for key, value in saved.items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)
    (root / "instance").mkdir()
    with cli_instance_for_test(root / "instance") as instance:
        for day in DAYS:
            for name in SOURCES:
                spec = loaded.spec(name)
                run_date = date.fromisoformat(day)
                outcome = materialize_partition(loaded, spec, run_date, ("bronze", "silver"), instance)
                assert outcome.error is None, (name, day, outcome.error)
    # Silver's self-dependency still hands the model its committed D-1 state
    orders = loaded.spec("retail_orders")
    assert loaded.committed(orders, "silver", DAYS[2]).metadata["previous_state"] == DAYS[1]
    yield loaded


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    (tmp_path / "instance").mkdir()
    with cli_instance_for_test(tmp_path / "instance") as inst:
        yield inst


def _materialize(lake: Lake, instance: dg.DagsterInstance, asset: dg.AssetsDefinition, **kwargs: Any):
    specs = [lake.spec(name) for name in SOURCES]
    return dg.materialize(
        [*build_assets(specs, lake.config.platform), asset],
        selection=[asset.key],
        instance=instance,
        resources={BRONZE_IO_MANAGER: lake.bronze, SILVER_IO_MANAGER: lake.silver},
        **kwargs,
    )


def _committed(lake: Lake, source: str, layer: str, day: str, artifact: str) -> pl.DataFrame:
    part = lake.committed(lake.spec(source), layer, day)
    assert part is not None
    return read_artifact(part, artifact)


def test_a_daily_asset_reads_the_same_day_of_each_artifact(lake: Lake, instance: dg.DagsterInstance) -> None:
    seen: dict[str, Any] = {}

    @dg.asset(
        key=["gold", "probe"],
        partitions_def=DAILY,
        ins={
            "orders": dg.AssetIn(key=["silver", "sales", "orders"]),
            "raw_orders": dg.AssetIn(key=["bronze", "retail", "orders"]),
            "history": dg.AssetIn(
                key=["silver", "sales", "customers_history"], metadata={"artifact": "history"}
            ),
            "quarantined": dg.AssetIn(key=["silver", "sales", "customers"], metadata={"artifact": "errors"}),
            "stock": dg.AssetIn(key=["silver", "inventory", "stock"], metadata={"artifact": "snapshot"}),
        },
    )
    def probe(orders: pl.LazyFrame, raw_orders, history, quarantined, stock) -> None:
        seen.update(
            orders=orders, raw_orders=raw_orders, history=history, quarantined=quarantined, stock=stock
        )

    assert _materialize(lake, instance, probe, partition_key=DAYS[1]).success
    assert all(isinstance(frame, pl.LazyFrame) for frame in seen.values())
    expected = {
        "orders": ("retail_orders", "silver", "current"),
        "raw_orders": ("retail_orders", "bronze", "data"),
        "history": ("customers_history", "silver", "history"),
        "quarantined": ("retail_customers", "silver", "errors"),
        "stock": ("inventory_stock", "silver", "snapshot"),
    }
    for name, (source, layer, artifact) in expected.items():
        want = _committed(lake, source, layer, DAYS[1], artifact)
        assert want.height > 0, name
        assert_frame_equal(seen[name].collect(), want)
    # the history artifact really is another artifact than current (closed versions included)
    assert (
        seen["history"].collect().height
        > _committed(lake, "customers_history", "silver", DAYS[1], "current").height
    )


def test_an_unpartitioned_asset_reads_the_latest_committed_partition(
    lake: Lake, instance: dg.DagsterInstance
) -> None:
    seen: dict[str, Any] = {}

    @dg.asset(key=["gold", "latest"], ins={"orders": dg.AssetIn(key=["silver", "sales", "orders"])})
    def latest(orders: pl.DataFrame) -> None:  # a DataFrame annotation gets the frame collected
        seen["orders"] = orders

    assert _materialize(lake, instance, latest).success
    assert isinstance(seen["orders"], pl.DataFrame)
    assert_frame_equal(seen["orders"], _committed(lake, "retail_orders", "silver", DAYS[-1], "current"))


def test_a_range_run_reads_the_union_of_its_days(lake: Lake, instance: dg.DagsterInstance) -> None:
    seen: dict[str, Any] = {}

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)  # backfill_policy is "beta" in dagster 1.13

        @dg.asset(
            key=["gold", "ranged"],
            partitions_def=DAILY,
            backfill_policy=dg.BackfillPolicy.single_run(),
            ins={
                "raw_orders": dg.AssetIn(key=["bronze", "retail", "orders"]),
                "per_day": dg.AssetIn(key=["silver", "sales", "orders"]),
            },
        )
        def ranged(raw_orders: pl.LazyFrame, per_day: dict[str, pl.LazyFrame]) -> None:
            seen.update(raw_orders=raw_orders, per_day=per_day)

    tags = {"dagster/asset_partition_range_start": DAYS[0], "dagster/asset_partition_range_end": DAYS[2]}
    assert _materialize(lake, instance, ranged, tags=tags).success
    days = [_committed(lake, "retail_orders", "bronze", day, "data") for day in DAYS]
    assert_frame_equal(seen["raw_orders"].collect(), pl.concat(days))
    assert sorted(seen["per_day"]) == DAYS  # dict[str, LazyFrame]: one frame per partition
    for day in DAYS:
        want = _committed(lake, "retail_orders", "silver", day, "current")
        assert_frame_equal(seen["per_day"][day].collect(), want)


def test_a_day_that_is_not_committed_fails_naming_the_asset_and_what_is_committed(
    lake: Lake, instance: dg.DagsterInstance
) -> None:
    @dg.asset(
        key=["gold", "too_early"],
        partitions_def=DAILY,
        ins={"orders": dg.AssetIn(key=["silver", "sales", "orders"])},
    )
    def too_early(orders: pl.LazyFrame) -> None:
        raise AssertionError("must not run")

    result = _materialize(lake, instance, too_early, partition_key="2025-01-05", raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = user_message(failure.step_failure_data.error)
    assert "Silver asset silver/sales/orders has no committed partition for 2025-01-05" in message
    assert "committed: 2025-01-01..2025-01-03" in message


def test_an_unknown_artifact_fails_listing_the_artifacts(lake: Lake, instance: dg.DagsterInstance) -> None:
    @dg.asset(
        key=["gold", "typo"],
        partitions_def=DAILY,
        ins={"orders": dg.AssetIn(key=["silver", "sales", "orders"], metadata={"artifact": "histroy"})},
    )
    def typo(orders: pl.LazyFrame) -> None:
        raise AssertionError("must not run")

    result = _materialize(lake, instance, typo, partition_key=DAYS[0], raise_on_error=False)
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert (
        "unknown artifact 'histroy'; the artifacts of Silver asset silver/sales/orders 2025-01-01 are: "
        "current, errors" in user_message(failure.step_failure_data.error)
    )


def test_input_metadata_verify_false_skips_the_hash(
    lake: Lake, instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    """A copy of the lake whose manifest records a SHA-256 the file does not have: the default input fails
    naming the file; ``metadata={"verify": False}`` reads the rows (sizes still checked)."""
    root = Path(lake.silver.backend.local_path("") or "").parent
    shutil.copytree(root, tmp_path / "lake")
    silver = SilverIOManager(LocalBackend(tmp_path / "lake" / "silver"))
    part = silver.committed(lake.spec("retail_orders").silver_path, DAYS[1])
    assert part is not None
    checksums = Path(silver.backend.local_path(f"{part.prefix}/_checksums.json") or "")
    manifest = json.loads(checksums.read_text())
    manifest["files"][0]["sha256"] = "0" * 64
    checksums.write_text(json.dumps(manifest))
    resources = {
        BRONZE_IO_MANAGER: BronzeIOManager(LocalBackend(tmp_path / "lake" / "bronze")),
        SILVER_IO_MANAGER: silver,
    }
    seen: dict[str, pl.DataFrame] = {}

    def reader(name: str, metadata: dict[str, Any]) -> dg.AssetsDefinition:
        @dg.asset(
            key=["gold", name],
            partitions_def=DAILY,
            ins={"orders": dg.AssetIn(key=["silver", "sales", "orders"], metadata=metadata)},
        )
        def _reader(orders: pl.DataFrame) -> None:
            seen[name] = orders

        return _reader

    specs = [lake.spec(name) for name in SOURCES]
    for name, metadata in (("checked", {}), ("unchecked", {"verify": False})):
        result = dg.materialize(
            [*build_assets(specs, lake.config.platform), reader(name, metadata)],
            selection=[dg.AssetKey(["gold", name])],
            instance=instance,
            resources=resources,
            partition_key=DAYS[1],
            raise_on_error=False,
        )
        if name == "checked":
            failure = next(e for e in result.all_events if e.is_step_failure)
            message = user_message(failure.step_failure_data.error)
            assert (
                f"{manifest['files'][0]['path']} has SHA-256" in message
                and "the manifest says 0000" in message
            )
            assert "checked" not in seen
        else:
            assert result.success
    assert_frame_equal(seen["unchecked"], _committed(lake, "retail_orders", "silver", DAYS[1], "current"))


def test_a_previous_day_mapping_reads_d_minus_1_and_nothing_before_the_first_day(
    lake: Lake, instance: dg.DagsterInstance
) -> None:
    seen: dict[str, pl.DataFrame] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        previous_day = dg.TimeWindowPartitionMapping(
            start_offset=-1, end_offset=-1, allow_nonexistent_upstream_partitions=True
        )

    @dg.asset(
        key=["gold", "day_before"],
        partitions_def=DAILY,
        ins={"orders": dg.AssetIn(key=["silver", "sales", "orders"], partition_mapping=previous_day)},
    )
    def day_before(context, orders: pl.DataFrame) -> None:  # unannotated: Dagster reads raw annotations
        seen[context.partition_key] = orders

    for day in DAYS[:2]:
        assert _materialize(lake, instance, day_before, partition_key=day).success
    assert seen[DAYS[0]].shape == (0, 0)  # the day before the first partition does not exist
    assert_frame_equal(seen[DAYS[1]], _committed(lake, "retail_orders", "silver", DAYS[0], "current"))


def test_a_range_over_days_of_drifted_types_reads_them_by_the_lake_rule(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    """Bronze days whose columns changed type between them (``ts`` naive, then with a time zone, as a
    MySQL ``TIMESTAMP`` cursor lands since it became an instant; ``amount`` a float, then text) read
    over a range as the lake reads one day's drifted parts: naive date-times as UTC, a float as the text
    ``2``. The days' LazyFrames were joined by polars' own rule, which failed the asset on the time zone
    ("failed to determine supertype of datetime[μs] and datetime[μs, UTC]") and spells a float ``2.0``."""
    data = tmp_path / "data"
    data.mkdir()
    pl.DataFrame({"id": [1], "ts": [datetime(2025, 1, 1, 10)], "amount": [2.0]}).write_parquet(
        data / "drift_20250101.parquet"
    )
    pl.DataFrame(
        {"id": [2], "ts": [datetime(2025, 1, 2, 9, tzinfo=UTC)], "amount": ["x"], "note": ["late"]}
    ).write_parquet(data / "drift_20250102.parquet")
    source = {
        "name": "drift",
        "source": {
            "system": "t",
            "table": "drift",
            "type": "file",
            "file": {"path": "{data}/drift_{run_date:%Y%m%d}.parquet"},
        },
        "silver": {"model": "periodic_snapshot"},
    }
    drift = local_lake(tmp_path, [source], date(2025, 1, 1), data=data)
    spec = drift.spec("drift")
    for day in (date(2025, 1, 1), date(2025, 1, 2)):
        assert materialize_partition(drift, spec, day, ("bronze",), instance).error is None
    seen: dict[str, pl.DataFrame] = {}

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)

        @dg.asset(
            key=["gold", "drifted"],
            partitions_def=DAILY,
            backfill_policy=dg.BackfillPolicy.single_run(),
            ins={"raw": dg.AssetIn(key=["bronze", "t", "drift"])},
        )
        def drifted(raw: pl.LazyFrame) -> None:
            seen["raw"] = raw.collect()

    tags = {"dagster/asset_partition_range_start": DAYS[0], "dagster/asset_partition_range_end": DAYS[1]}
    result = dg.materialize(
        [*build_assets([spec], drift.config.platform), drifted],
        selection=[drifted.key],
        instance=instance,
        resources={BRONZE_IO_MANAGER: drift.bronze, SILVER_IO_MANAGER: drift.silver},
        tags=tags,
        raise_on_error=False,
    )
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    got = seen["raw"].select("id", "ts", "amount", "note").to_dicts()
    assert got == [
        {"id": 1, "ts": datetime(2025, 1, 1, 10, tzinfo=UTC), "amount": "2", "note": None},
        {"id": 2, "ts": datetime(2025, 1, 2, 9, tzinfo=UTC), "amount": "x", "note": "late"},
    ]
