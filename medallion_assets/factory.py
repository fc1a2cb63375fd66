"""Config to Dagster Definitions.

The pipeline reads like its steps: load and validate the YAML → resolve one spec per source → build
assets → attach the IO managers built from ``platform:`` through the storage backend registry.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from medallion_assets.assets import build_assets
from medallion_assets.assets.bronze_checks import build_freshness_sensor
from medallion_assets.assets.silver_inputs import build_inputs_checks, build_inputs_sensor
from medallion_assets.cloud_resources import cloud_resources
from medallion_assets.config.loader import load_config
from medallion_assets.config.models import MedallionConfig
from medallion_assets.schedules import build_jobs, build_schedules
from medallion_assets.sensors import build_sensors
from medallion_assets.specs import BRONZE_IO_MANAGER, SILVER_IO_MANAGER, AssetTranslation, build_specs
from medallion_resources.arrow_memory import use_jemalloc_pool
from medallion_resources.io_managers import BronzeIOManager, SilverIOManager
from medallion_resources.storage.registry import create_backend

__all__ = ["build_definitions", "load_definitions"]


def build_definitions(config: MedallionConfig, translation: AssetTranslation | None = None) -> dg.Definitions:
    """The Definitions of a config; ``translation`` (a dg component's) renames and tags the assets.

    Every process that runs medallion's assets builds them, so this is where the process's Arrow memory
    pool is chosen (``medallion_resources.arrow_memory``)."""
    use_jemalloc_pool()
    specs = build_specs(config, translation)
    platform = config.platform
    bronze_io = BronzeIOManager(create_backend(platform.bronze, platform))
    silver_io = SilverIOManager(create_backend(platform.silver, platform))
    freshness = build_freshness_sensor(specs, bronze_io)
    return dg.Definitions(
        assets=build_assets(specs, platform),
        asset_checks=build_inputs_checks(specs),
        jobs=build_jobs(specs),
        schedules=build_schedules(specs),
        sensors=[
            *build_sensors(specs, bronze_io),
            build_inputs_sensor(specs, bronze_io, silver_io),
            *([freshness] if freshness is not None else []),
        ],
        # Runs of an asset selection (the UI's Materialize, backfills, `dg launch`) execute their steps in
        # one process, as the per-source jobs do: Bronze then Silver run one after the other anyway, and a
        # process per step costs seconds of start-up each.
        executor=dg.in_process_executor,
        resources={
            BRONZE_IO_MANAGER: bronze_io,
            SILVER_IO_MANAGER: silver_io,
            **cloud_resources(platform),  # s3 / adls2 resources for users' own assets (dagster-aws/-azure)
        },
    )


def load_definitions(config_dir: str | Path | None = None) -> dg.Definitions:
    return build_definitions(load_config(config_dir))
