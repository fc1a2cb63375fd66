"""Asset factory: one Bronze and one Silver asset per source, on one daily partitions definition."""

from __future__ import annotations

import dagster as dg

from medallion_assets.assets.bronze import build_bronze_asset
from medallion_assets.assets.silver import build_silver_asset
from medallion_assets.config.models import PlatformConfig
from medallion_assets.specs import SourceSpec

__all__ = ["build_assets", "partitions_def_for"]


def partitions_def_for(spec: SourceSpec) -> dg.DailyPartitionsDefinition:
    """The one partitions definition a source's Bronze and Silver assets share (DESIGN §7)."""
    return dg.DailyPartitionsDefinition(
        start_date=spec.partitions.start_date.isoformat(),
        timezone=spec.partitions.timezone,
        end_offset=spec.partitions.end_offset,
    )


def build_assets(specs: list[SourceSpec], platform: PlatformConfig) -> list[dg.AssetsDefinition]:
    assets: list[dg.AssetsDefinition] = []
    for spec in specs:
        partitions = partitions_def_for(spec)
        assets.append(build_bronze_asset(spec, platform, partitions))
        assets.append(build_silver_asset(spec, partitions))
    return assets
