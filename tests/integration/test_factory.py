"""The asset factory: keys, groups, partitions, dependencies and code versions from the sample configs."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import yaml

from medallion_assets.config.loader import load_config
from medallion_assets.factory import build_definitions
from medallion_assets.specs import build_specs

EXPECTED = {
    "retail_customers": (["bronze", "retail", "customers"], ["silver", "sales", "customers"], True),
    "retail_orders": (["bronze", "retail", "orders"], ["silver", "sales", "orders"], True),
    "inventory_stock": (["bronze", "inventory", "stock"], ["silver", "inventory", "stock"], False),
    "support_tickets": (["bronze", "support", "tickets"], ["silver", "support", "tickets"], True),
    "shop_payments": (["bronze", "shop", "payments"], ["silver", "sales", "payments"], True),
}
SOURCE_KIND = {"support_tickets": "api", "shop_payments": "db"}  # the others are file sources


@pytest.fixture
def graph(lake_env: dict[str, str]) -> tuple[dg.Definitions, dict[dg.AssetKey, dg.AssetSpec]]:
    defs = build_definitions(load_config())
    specs = {spec.key: spec for spec in defs.resolve_all_asset_specs()}
    return defs, specs


def test_every_source_has_a_bronze_and_a_silver_asset(graph) -> None:
    _, specs = graph
    expected = {dg.AssetKey(k) for bronze, silver, *_ in EXPECTED.values() for k in (bronze, silver)}
    assert set(specs) == expected


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_group_partitions_and_dependencies(graph, name: str) -> None:
    _, specs = graph
    stateful = EXPECTED[name][2]
    bronze_key, silver_key = (dg.AssetKey(k) for k in EXPECTED[name][:2])
    bronze, silver = specs[bronze_key], specs[silver_key]
    assert bronze.group_name == silver.group_name == name
    for spec in (bronze, silver):
        partitions = spec.partitions_def
        assert isinstance(partitions, dg.DailyPartitionsDefinition)
        assert partitions.get_first_partition_key() == "2025-01-01"
        assert partitions.timezone == "UTC"
    assert bronze.partitions_def == silver.partitions_def
    deps = {dep.asset_key: dep for dep in silver.deps}
    assert bronze_key in deps
    assert (silver_key in deps) is stateful
    if stateful:
        mapping = deps[silver_key].partition_mapping
        assert isinstance(mapping, dg.TimeWindowPartitionMapping)
        assert (mapping.start_offset, mapping.end_offset) == (-1, -1)
    assert bronze.code_version and silver.code_version
    assert "parquet" in bronze.kinds and SOURCE_KIND.get(name, "file") in bronze.kinds


def test_silver_dependency_maps_to_the_same_day_and_the_day_before(graph) -> None:
    defs, _ = graph
    asset_graph = defs.resolve_asset_graph()
    silver = dg.AssetKey(["silver", "sales", "orders"])
    bronze = dg.AssetKey(["bronze", "retail", "orders"])
    parents = asset_graph.get_parent_partition_keys_for_child("2025-01-05", bronze, silver)
    assert parents.partitions_subset.get_partition_keys() == ["2025-01-05"]
    previous = asset_graph.get_parent_partition_keys_for_child("2025-01-05", silver, silver)
    assert previous.partitions_subset.get_partition_keys() == ["2025-01-04"]
    first = asset_graph.get_parent_partition_keys_for_child("2025-01-01", silver, silver)
    assert first.partitions_subset.get_partition_keys() == []


def test_code_version_follows_the_layer_config(config_copy: Path, lake_env: dict[str, str]) -> None:
    before = {s.name: s for s in build_specs(load_config(config_copy))}
    path = config_copy / "sources" / "retail.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["sources"][1]["silver"]["schema"]["types"]["amount"] = "decimal(20,2)"
    path.write_text(yaml.safe_dump(doc))
    after = {s.name: s for s in build_specs(load_config(config_copy))}
    assert after["retail_orders"].silver_code_version != before["retail_orders"].silver_code_version
    assert after["retail_orders"].bronze_code_version == before["retail_orders"].bronze_code_version
    assert after["retail_customers"].silver_code_version == before["retail_customers"].silver_code_version


def test_partition_overrides_inherit_platform_defaults(config_copy: Path, lake_env: dict[str, str]) -> None:
    path = config_copy / "sources" / "inventory.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["sources"][0]["partitions"] = {"start_date": "2025-01-05", "end_offset": 1}
    path.write_text(yaml.safe_dump(doc))
    defs = build_definitions(load_config(config_copy))
    spec = {s.key: s for s in defs.resolve_all_asset_specs()}[dg.AssetKey(["bronze", "inventory", "stock"])]
    assert spec.partitions_def.get_first_partition_key() == "2025-01-05"
    assert spec.partitions_def.end_offset == 1
    assert spec.partitions_def.timezone == "UTC"
