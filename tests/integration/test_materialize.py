"""Materialize the sample sources through Dagster on a real temporary instance and check the lake.

Expected values are computed independently from the generated sample files with plain Python.
"""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from medallion_assets.lake import Lake
from medallion_assets.runner import materialize_partition
from medallion_resources.lake.read import read_artifact, verify_partition
from tests.instances import cli_instance_for_test

pytestmark = pytest.mark.slow
DAYS = [date(2025, 1, 1), date(2025, 1, 2), date(2025, 1, 3)]


@pytest.fixture
def instance(tmp_path: Path):
    (tmp_path / "instance").mkdir()
    with cli_instance_for_test(tmp_path / "instance") as inst:
        yield inst


@pytest.fixture
def lake(lake_env: dict[str, str]) -> Lake:
    return Lake.load()


def run(lake: Lake, name: str, day: date, instance, layers=("bronze", "silver")):
    return materialize_partition(lake, lake.spec(name), day, layers, instance)


def customer_rows(sample_dir: Path, day: date) -> list[dict[str, str]]:
    path = sample_dir / "retail" / "customers" / f"customers_{day:%Y%m%d}.csv"
    with path.open() as fh:
        return list(csv.DictReader(fh))


def order_events(sample_dir: Path, day: date) -> list[dict]:
    path = sample_dir / "retail" / "orders" / f"orders_{day:%Y%m%d}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def test_three_days_of_every_sample_source_commit_and_verify(lake: Lake, instance, sample_dir: Path) -> None:
    for day in DAYS:
        for name in lake.specs:
            outcome = run(lake, name, day, instance)
            assert outcome.error is None, outcome.error
            assert set(outcome.layers) == {"bronze", "silver"}
            for layer in ("bronze", "silver"):
                part = lake.committed(lake.spec(name), layer, day)
                assert part is not None
                assert verify_partition(part) == []

    # Bronze holds the source rows as landed, plus the Bronze columns.
    spec = lake.spec("retail_customers")
    bronze = read_artifact(lake.committed(spec, "bronze", DAYS[2]), "data")
    assert bronze.height == len(customer_rows(sample_dir, DAYS[2]))
    assert {"_load_date", "_extracted_at", "_source_system", "_source_table", "_source_file"} <= set(
        bronze.columns
    )
    assert bronze["_load_date"].unique().to_list() == [DAYS[2]]

    # Silver customers: every key ever seen, the ones missing from today's snapshot tombstoned.
    silver_part = lake.committed(spec, "silver", DAYS[2])
    current = read_artifact(silver_part, "current")
    seen: set[int] = set()
    for day in DAYS:
        seen |= {int(r["customer_id"]) for r in customer_rows(sample_dir, day) if r["customer_id"]}
    today = {int(r["customer_id"]) for r in customer_rows(sample_dir, DAYS[2]) if r["customer_id"]}
    assert sorted(current["customer_id"].to_list()) == sorted(seen)
    deleted = set(current.filter(pl.col("_deleted"))["customer_id"].to_list())
    assert deleted == seen - today
    assert current["customer_name"].str.starts_with(" ").sum() == 0  # trimmed, renamed from cust_name
    assert current.columns[:4] == ["customer_id", "customer_name", "city", "credit_limit"]
    assert current.schema["credit_limit"] == pl.Decimal(12, 2)
    # the keyless row of the day is quarantined with its reason
    errors = read_artifact(silver_part, "errors")
    assert errors.height == 1
    assert "null primary key" in errors["_error_reason"][0]
    assert silver_part.metadata["quarantined"] == 1
    assert silver_part.metadata["rows_in"] == bronze.height

    # Silver orders: latest version of each order over all days; late stale events never win.
    orders = read_artifact(lake.committed(lake.spec("retail_orders"), "silver", DAYS[2]), "current")
    latest: dict[int, dict] = {}
    for day in DAYS:
        for event in order_events(sample_dir, day):
            known = latest.get(event["order_id"])
            if known is None or event["updated_at"] >= known["updated_at"]:
                latest[event["order_id"]] = event
    assert orders.height == len(latest)
    got = dict(zip(orders["order_id"].to_list(), orders["status"].to_list(), strict=True))
    assert got == {k: v["status"] for k, v in latest.items()}
    assert orders.schema["amount"] == pl.Decimal(18, 2)

    # Silver stock: a snapshot of the day, the duplicate count collapsed to its later row.
    stock_part = lake.committed(lake.spec("inventory_stock"), "silver", DAYS[0])
    stock = read_artifact(stock_part, "snapshot")
    assert stock.height == 150
    assert stock_part.metadata["duplicates_dropped"] == 1


def test_materialization_metadata_is_recorded_in_dagster(lake: Lake, instance) -> None:
    assert run(lake, "retail_orders", DAYS[0], instance).error is None
    spec = lake.spec("retail_orders")
    for layer, key in (("bronze", spec.bronze_key), ("silver", spec.silver_key)):
        event = instance.get_latest_materialization_event(key)
        mat = event.asset_materialization
        part = lake.committed(spec, layer, DAYS[0])
        assert mat.partition == "2025-01-01"
        assert mat.metadata["dagster/partition_row_count"].value == part.manifest.record_count
        assert mat.metadata["dagster/uri"].value.endswith("2025-01-01")
        assert {c.name for c in mat.metadata["dagster/column_schema"].schema.columns} >= {
            "order_id",
            "status",
        }
        assert mat.metadata["sha256"].value == {f.path: f.sha256 for f in part.manifest.files}
        assert mat.metadata["manifest_sha256"].value == part.manifest.sha256
    # Bronze's DataVersion is its manifest hash (stateful Silver keeps Dagster's logical version, since it
    # reads its own previous partition in the same step).
    bronze_event = instance.get_latest_materialization_event(spec.bronze_key).asset_materialization
    assert (
        bronze_event.tags["dagster/data_version"] == lake.committed(spec, "bronze", DAYS[0]).manifest.sha256
    )
    silver_meta = instance.get_latest_materialization_event(spec.silver_key).asset_materialization.metadata
    lineage = silver_meta["dagster/column_lineage"].value
    assert lineage.deps_by_column["order_id"][0].asset_key == spec.bronze_key


def test_rerun_replaces_the_partition(lake: Lake, instance) -> None:
    spec = lake.spec("retail_orders")
    assert run(lake, "retail_orders", DAYS[0], instance).error is None
    first = lake.committed(spec, "bronze", DAYS[0])
    assert run(lake, "retail_orders", DAYS[0], instance).error is None
    second = lake.committed(spec, "bronze", DAYS[0])
    assert second.manifest.attempt != first.manifest.attempt
    assert second.manifest.record_count == first.manifest.record_count
    folder = lake.io("bronze").partition_prefix(spec.bronze_path, "2025-01-01")
    names = lake.bronze.backend.list_files(folder)
    parquet = [n for n in names if n.endswith(".parquet")]
    assert parquet and all(second.manifest.attempt in n for n in parquet)


def test_a_failed_run_leaves_the_last_commit_intact(
    lake: Lake, instance, sample_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    spec = lake.spec("retail_customers")
    assert run(lake, "retail_customers", DAYS[0], instance).error is None
    before = {layer: lake.committed(spec, layer, DAYS[0]) for layer in ("bronze", "silver")}

    # Source data that cannot be read: the Bronze run fails, nothing changes.
    broken = tmp_path / "broken"
    (broken / "retail" / "customers").mkdir(parents=True)
    (broken / "retail" / "customers" / "customers_20250101.csv").write_text('a,b\n"unterminated,1\n')
    monkeypatch.setenv("MEDALLION_SAMPLE_DIR", str(broken))
    outcome = run(Lake.load(), "retail_customers", DAYS[0], instance)
    assert outcome.error and "customers_20250101.csv" in outcome.error
    for layer, part in before.items():
        after = lake.committed(spec, layer, DAYS[0])
        assert after.manifest == part.manifest
        assert verify_partition(after) == []


def test_quarantine_over_threshold_fails_silver_and_keeps_the_previous_commit(
    lake: Lake, instance, sample_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    spec = lake.spec("retail_customers")
    assert run(lake, "retail_customers", DAYS[0], instance).error is None
    before = lake.committed(spec, "silver", DAYS[0])
    # Ten keyless rows exceed max_bad_records: 5 (and 5 percent of ~200).
    bad = tmp_path / "bad"
    target = bad / "retail" / "customers" / "customers_20250101.csv"
    target.parent.mkdir(parents=True)
    text = (sample_dir / "retail" / "customers" / "customers_20250101.csv").read_text()
    target.write_text(
        text + "".join(f",Ghost {i},Oslo,1.00,2024-01-01,2024-01-01T00:00:00\n" for i in range(30))
    )
    monkeypatch.setenv("MEDALLION_SAMPLE_DIR", str(bad))
    outcome = run(Lake.load(), "retail_customers", DAYS[0], instance)
    assert outcome.failed_layer == "silver"
    assert "31" in outcome.error and "max_bad_records" in outcome.error
    after = lake.committed(spec, "silver", DAYS[0])
    assert after.manifest == before.manifest
    assert verify_partition(after) == []


def test_silver_rebuilds_from_bronze_when_the_day_before_is_missing(lake: Lake, instance) -> None:
    for day in DAYS:
        assert run(lake, "retail_orders", day, instance, layers=("bronze",)).error is None
    assert run(lake, "retail_orders", DAYS[2], instance, layers=("silver",)).error is None
    spec = lake.spec("retail_orders")
    rebuilt = lake.committed(spec, "silver", DAYS[2])
    assert rebuilt.metadata["previous_state"] == "rebuilt_from_bronze"
    rebuilt_rows = read_artifact(rebuilt, "current").drop("_silver_load_date").sort("order_id")

    for day in DAYS:  # the same days, incrementally
        assert run(lake, "retail_orders", day, instance, layers=("silver",)).error is None
    incremental = lake.committed(spec, "silver", DAYS[2])
    assert incremental.metadata["previous_state"] == "2025-01-02"
    assert (
        read_artifact(incremental, "current").drop("_silver_load_date").sort("order_id").equals(rebuilt_rows)
    )


def test_rebuild_fails_clearly_when_an_incremental_bronze_day_is_missing(lake: Lake, instance) -> None:
    assert run(lake, "retail_orders", DAYS[0], instance, layers=("bronze",)).error is None
    assert run(lake, "retail_orders", DAYS[2], instance, layers=("bronze",)).error is None
    outcome = run(lake, "retail_orders", DAYS[2], instance, layers=("silver",))
    assert outcome.failed_layer == "silver"
    assert "2025-01-02" in outcome.error and "missing" in outcome.error
    assert lake.committed(lake.spec("retail_orders"), "silver", DAYS[2]) is None


def test_silver_without_committed_bronze_says_what_to_do(lake: Lake, instance) -> None:
    outcome = run(lake, "inventory_stock", DAYS[1], instance, layers=("silver",))
    assert outcome.failed_layer == "silver"
    assert "no committed partition" in outcome.error and "materialize the Bronze asset" in outcome.error
