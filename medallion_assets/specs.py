"""One frozen record per source: every Dagster naming decision is made here and nowhere else.

Like dagster-sling's and dagster-dlt's translators, a ``SourceSpec`` produces the ``dg.AssetSpec`` of each
of its assets (key, group, description, code version, kinds, owners, tags, metadata with the dataset path
the IO managers read), the run tags, job/schedule/sensor names and the storage paths; the asset factory,
the CLI and the docs all read them from here.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from medallion_assets.config.models import (
    LoadPattern,
    MedallionConfig,
    OutputDefaultsConfig,
    PartitionsConfig,
    PlatformConfig,
    ScheduleConfig,
    SourceEntry,
)
from medallion_assets.config.orchestration import resolved_partitions, resolved_schedule
from medallion_assets.silver.registry import is_stateful
from medallion_resources.lake.parts import PartSettings

if TYPE_CHECKING:  # Dagster is imported where a Dagster object is built: `medallion list` does not load it
    import dagster as dg

__all__ = [
    "BRONZE_IO_MANAGER",
    "SILVER_IO_MANAGER",
    "SOURCE_TAG",
    "SourceSpec",
    "asset_args",
    "build_specs",
]

# Every run of one source carries this tag (CLI, schedules, sensors): run queues limit on it.
SOURCE_TAG = "medallion/source"
# The resource keys of the two IO managers, in every Definitions and run medallion builds.
BRONZE_IO_MANAGER, SILVER_IO_MANAGER = "bronze_io_manager", "silver_io_manager"


@dataclass(frozen=True)
class SourceSpec:
    """The resolved, immutable view of one source entry."""

    entry: SourceEntry
    name: str
    system: str
    table: str
    domain: str
    entity: str
    version: int
    model: str  # a name in the Silver model registry
    partitions: PartitionsConfig
    bronze_output: PartSettings
    silver_output: PartSettings
    schedule: ScheduleConfig | None = None

    # --- keys and groups ---
    def key_path(self, layer: str) -> tuple[str, ...]:
        """The asset key's parts of ``layer`` ("bronze" or "silver"), without importing Dagster."""
        if layer == "bronze":
            return ("bronze", self.system, self.table)
        return ("silver", self.domain, self.entity)

    @property
    def bronze_key(self) -> dg.AssetKey:
        import dagster as dg

        return dg.AssetKey(list(self.key_path("bronze")))

    @property
    def silver_key(self) -> dg.AssetKey:
        import dagster as dg

        return dg.AssetKey(list(self.key_path("silver")))

    @property
    def group(self) -> str:
        return self.name

    @property
    def stateful(self) -> bool:
        """Whether Silver reads its own previous partition, as the model class declares it."""
        return is_stateful(self.model)

    @property
    def load_pattern(self) -> LoadPattern:
        return self.entry.source.run.load_pattern

    # --- orchestration (DESIGN §7, §8) ---
    @property
    def pool(self) -> str:
        """Dagster concurrency pool of both assets: one run at a time per source (dagster.yaml)."""
        return f"medallion/{self.name}"

    @property
    def freshness_policy(self) -> dg.FreshnessPolicy | None:
        freshness = self.entry.freshness
        if freshness is None:
            return None
        import dagster as dg

        warn = freshness.warn_window_hours
        return dg.FreshnessPolicy.time_window(
            fail_window=timedelta(hours=freshness.fail_window_hours),
            warn_window=None if warn is None else timedelta(hours=warn),
        )

    @property
    def run_tags(self) -> dict[str, str]:
        return {SOURCE_TAG: self.name}

    @property
    def job_name(self) -> str:
        return f"{self.name}_job"

    @property
    def schedule_name(self) -> str:
        group = self.schedule.group if self.schedule else None
        return f"{group}_group_schedule" if group else f"{self.name}_schedule"

    @property
    def sensor_name(self) -> str:
        sensor = self.entry.sensor
        return f"{self.name}_{sensor.type if sensor else 'no'}_sensor"

    # --- the asset specs (what the UI shows of each asset) ---
    def bronze_asset_spec(self) -> dg.AssetSpec:
        import dagster as dg

        from medallion_resources.io_managers import DATASET_PATH_KEY

        source_type = self.entry.source.type
        return dg.AssetSpec(
            key=self.bronze_key,
            group_name=self.group,
            description=self.bronze_description,
            code_version=self.bronze_code_version,
            kinds={"parquet", source_type},
            owners=list(self.entry.owners),
            tags={"medallion/layer": "bronze", "medallion/load_pattern": self.load_pattern},
            metadata={DATASET_PATH_KEY: self.bronze_path, "source_type": source_type},
            freshness_policy=self.freshness_policy,
        )

    def silver_asset_spec(self) -> dg.AssetSpec:
        import dagster as dg

        from medallion_resources.io_managers import DATASET_PATH_KEY

        return dg.AssetSpec(
            key=self.silver_key,
            group_name=self.group,
            description=self.silver_description,
            code_version=self.silver_code_version,
            kinds={"parquet", "polars"},
            owners=list(self.entry.owners),
            tags={"medallion/layer": "silver", "medallion/model": self.model},
            metadata={DATASET_PATH_KEY: self.silver_path, "model": self.model},
            freshness_policy=self.freshness_policy,
        )

    # --- storage layout (DESIGN §4) ---
    @property
    def bronze_path(self) -> str:
        return f"system={self.system}/table={self.table}"

    @property
    def silver_path(self) -> str:
        return f"domain={self.domain}/entity={self.entity}/v{self.version}"

    # --- descriptions and versions ---
    @property
    def bronze_description(self) -> str:
        src = self.entry.source
        text = (
            f"Raw `{src.type}` data of {src.system}.{src.table} ({src.run.load_pattern} load), "
            "one folder per run date."
        )
        return f"{self.entry.description}\n\n{text}" if self.entry.description else text

    @property
    def silver_description(self) -> str:
        silver = self.entry.silver
        keys = ", ".join(silver.primary_keys) or "none"
        text = (
            f"Silver `{self.model}` of {self.system}.{self.table} (keys: {keys}), one folder per load date."
        )
        return f"{self.entry.description}\n\n{text}" if self.entry.description else text

    @property
    def bronze_code_version(self) -> str:
        return _hash(self.entry.source.model_dump(mode="json"))

    @property
    def silver_code_version(self) -> str:
        return _hash({"silver": self.entry.silver.model_dump(mode="json"), "load_pattern": self.load_pattern})

    @property
    def start_date(self) -> date:
        return self.partitions.start_date


def build_specs(config: MedallionConfig) -> list[SourceSpec]:
    """Resolve defaults (names, domain/entity, partitions, output settings) for every source."""
    return [_build_spec(entry, config.platform) for entry in config.sources]


def _build_spec(entry: SourceEntry, platform: PlatformConfig) -> SourceSpec:
    src, silver = entry.source, entry.silver
    partitions = resolved_partitions(entry, platform)
    run = src.run
    bronze_output = platform.bronze.output_defaults.model_copy(
        update={
            k: v
            for k, v in {
                "max_rows_per_file": run.max_rows_per_file,
                "max_file_size_mb": run.max_file_size_mb,
                "parquet_compression": run.parquet_compression,
            }.items()
            if v is not None
        }
    )
    return SourceSpec(
        entry=entry,
        name=entry.source_name,
        system=src.system,
        table=src.table,
        domain=silver.domain or src.system,
        entity=silver.entity or src.table,
        version=silver.version,
        model=entry.silver_model,
        partitions=partitions,
        bronze_output=part_settings(bronze_output),
        silver_output=part_settings(platform.silver.output_defaults),
        schedule=resolved_schedule(entry, platform),
    )


def part_settings(output: OutputDefaultsConfig) -> PartSettings:
    """The storage layer's record of an ``output_defaults`` section."""
    return PartSettings(**output.model_dump())


def asset_args(spec: dg.AssetSpec) -> dict[str, Any]:
    """An ``AssetSpec`` as the keyword arguments of ``@dg.asset`` (kinds apart from the other tags)."""
    tags = {k: v for k, v in spec.tags.items() if not k.startswith("dagster/kind/")}
    return {
        "key": spec.key,
        "group_name": spec.group_name,
        "description": spec.description,
        "code_version": spec.code_version,
        "kinds": set(spec.kinds),
        "owners": list(spec.owners),
        "tags": tags,
        "metadata": dict(spec.metadata),
        "freshness_policy": spec.freshness_policy,
    }


def _hash(payload: object) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]
