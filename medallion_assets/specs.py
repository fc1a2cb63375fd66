"""One frozen record per source: every Dagster naming decision is made here and nowhere else.

Like dagster-sling's and dagster-dlt's translators, a ``SourceSpec`` produces the ``dg.AssetSpec`` of each
of its assets (key, group, description, code version, kinds, owners, tags, metadata with the dataset path
the IO managers read), the run tags, job/schedule/sensor names and the storage paths; the asset factory,
the CLI and the docs all read them from here.

A dg component (:mod:`medallion_assets.component`) may hand a ``translation`` (dagster-dlt's shape: the
default ``AssetSpec`` and a ``SourceTranslationData`` in, an ``AssetSpec`` out); it is applied here, to the
specs this record produces, so the keys every other module reads (checks, jobs, sensors, Silver's input)
are the translated ones.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from medallion_assets.config.models import (
    LoadPattern,
    MedallionConfig,
    OutputDefaultsConfig,
    PartitionsConfig,
    PlatformConfig,
    ScheduleConfig,
    SourceEntry,
)
from medallion_assets.config.orchestration import resolved_partitions, resolved_schedule, schedule_name
from medallion_assets.errors import ConfigError, ConfigIssue
from medallion_assets.silver.registry import is_stateful
from medallion_resources.lake.parts import PartSettings

if TYPE_CHECKING:  # Dagster is imported where a Dagster object is built: `medallion list` does not load it
    import dagster as dg

__all__ = [
    "BRONZE_IO_MANAGER",
    "SILVER_IO_MANAGER",
    "SOURCE_TAG",
    "AssetTranslation",
    "SourceSpec",
    "SourceTranslationData",
    "asset_args",
    "build_specs",
]

# Every run of one source carries this tag (CLI, schedules, sensors): run queues limit on it.
SOURCE_TAG = "medallion/source"
# The resource keys of the two IO managers, in every Definitions and run medallion builds.
BRONZE_IO_MANAGER, SILVER_IO_MANAGER = "bronze_io_manager", "silver_io_manager"


Layer = Literal["bronze", "silver"]


@dataclass(frozen=True)
class SourceTranslationData:
    """What a translation sees of one asset: ``{{ source.name }}``, ``{{ layer }}`` and so on in YAML."""

    name: str
    system: str
    table: str
    domain: str
    entity: str
    model: str
    load_pattern: str
    source_type: str
    layer: Layer


# dagster-dlt's translation shape: (the default spec, what it describes) -> the spec to use.
AssetTranslation = Callable[["dg.AssetSpec", SourceTranslationData], "dg.AssetSpec"]
# What a translation may not change: medallion's wiring depends on them.
_FIXED_ATTRIBUTES = ("partitions_def", "deps", "code_version", "skippable")


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
    translation: AssetTranslation | None = None

    # --- keys and groups (the translated ones, when a dg component gives a translation) ---
    def key_path(self, layer: str) -> tuple[str, ...]:
        """The asset key's parts of ``layer`` ("bronze" or "silver"); without a translation (the CLI's
        configs) without importing Dagster."""
        if self.translation is not None:
            return tuple(self._translated_specs["bronze" if layer == "bronze" else "silver"].key.path)
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
        if freshness is None or freshness.fail_window_hours is None:
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
        return schedule_name(self.name, self.schedule.group if self.schedule else None)

    @property
    def sensor_name(self) -> str:
        sensor = self.entry.sensor
        return f"{self.name}_{sensor.type if sensor else 'no'}_sensor"

    # --- the asset specs (what the UI shows of each asset) ---
    def bronze_asset_spec(self) -> dg.AssetSpec:
        return self._translated_specs["bronze"]

    def silver_asset_spec(self) -> dg.AssetSpec:
        return self._translated_specs["silver"]

    @cached_property
    def _translated_specs(self) -> dict[Layer, dg.AssetSpec]:
        return {
            "bronze": self._translate(self._bronze_default_spec(), "bronze"),
            "silver": self._translate(self._silver_default_spec(), "silver"),
        }

    def _translate(self, spec: dg.AssetSpec, layer: Layer) -> dg.AssetSpec:
        if self.translation is None:
            return spec
        data = SourceTranslationData(
            name=self.name,
            system=self.system,
            table=self.table,
            domain=self.domain,
            entity=self.entity,
            model=self.model,
            load_pattern=self.load_pattern,
            source_type=self.entry.source.type,
            layer=layer,
        )
        from medallion_resources.io_managers import DATASET_PATH_KEY

        translated = self.translation(spec, data)
        changed = [a for a in _FIXED_ATTRIBUTES if getattr(translated, a) != getattr(spec, a)]
        if translated.metadata.get(DATASET_PATH_KEY) != spec.metadata[DATASET_PATH_KEY]:
            changed.append(f"metadata.{DATASET_PATH_KEY}")
        if changed:
            raise ConfigError(
                [
                    ConfigIssue(
                        "translation",
                        ", ".join(changed),
                        f"the translation of {layer} asset {spec.key.to_user_string()} changes what "
                        "medallion wires itself",
                        "translate key, key_prefix, group_name, description, kinds, owners, tags and "
                        "metadata only",
                    )
                ]
            )
        return translated

    def _bronze_default_spec(self) -> dg.AssetSpec:
        import dagster as dg

        from medallion_resources.io_managers import DATASET_PATH_KEY, TABLE_NAME_KEY

        source_type = self.entry.source.type
        return dg.AssetSpec(
            key=dg.AssetKey(["bronze", self.system, self.table]),
            group_name=self.group,
            description=self.bronze_description,
            code_version=self.bronze_code_version,
            # "bronze"/"silver" are Dagster's medallion kinds: the graph's node names are the keys' last
            # parts (`orders` for both layers by default), the kind badge and icon tell the layers apart.
            kinds={"bronze", "parquet", source_type},
            owners=list(self.entry.owners),
            tags={"medallion/layer": "bronze", "medallion/load_pattern": self.load_pattern},
            metadata={
                DATASET_PATH_KEY: self.bronze_path,
                TABLE_NAME_KEY: f"bronze.{self.system}.{self.table}",
                "source_type": source_type,
            },
            freshness_policy=self.freshness_policy,
        )

    def _silver_default_spec(self) -> dg.AssetSpec:
        import dagster as dg

        from medallion_resources.io_managers import DATASET_PATH_KEY, TABLE_NAME_KEY

        return dg.AssetSpec(
            key=dg.AssetKey(["silver", self.domain, self.entity]),
            group_name=self.group,
            description=self.silver_description,
            code_version=self.silver_code_version,
            kinds={"silver", "parquet", "polars"},
            owners=list(self.entry.owners),
            tags={"medallion/layer": "silver", "medallion/model": self.model},
            metadata={
                DATASET_PATH_KEY: self.silver_path,
                TABLE_NAME_KEY: self.silver_table_name,
                "model": self.model,
            },
            freshness_policy=self.freshness_policy,
        )

    @property
    def silver_table_name(self) -> str:
        suffix = f"_v{self.version}" if self.version > 1 else ""
        return f"silver.{self.domain}.{self.entity}{suffix}"

    @property
    def secret_values(self) -> tuple[str, ...]:
        """Values of the environment variables the source's ``*_env`` keys name: masked in previews."""
        names: list[str] = []

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                for key, value in node.items():
                    if key.endswith("_env") and isinstance(value, str):
                        names.append(value)
                    else:
                        walk(value)
            elif isinstance(node, list):
                for item in node:
                    walk(item)

        walk(self.entry.source.model_dump())
        return tuple(v for v in (os.environ.get(n) for n in names) if v)

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
            f"Bronze: raw `{src.type}` data of {src.system}.{src.table} ({src.run.load_pattern} load), "
            "one folder per run date."
        )
        # The layer leads: the graph's description facet shows the first line only.
        return f"{text}\n\n{self.entry.description}" if self.entry.description else text

    @property
    def silver_description(self) -> str:
        silver = self.entry.silver
        keys = ", ".join(silver.primary_keys) or "none"
        text = (
            f"Silver: `{self.model}` of {self.system}.{self.table} (keys: {keys}), one folder per load date."
        )
        return f"{text}\n\n{self.entry.description}" if self.entry.description else text

    @property
    def bronze_code_version(self) -> str:
        return _hash(self.entry.source.model_dump(mode="json"))

    @property
    def silver_code_version(self) -> str:
        return _hash({"silver": self.entry.silver.model_dump(mode="json"), "load_pattern": self.load_pattern})

    @property
    def start_date(self) -> date:
        return self.partitions.start_date


def build_specs(config: MedallionConfig, translation: AssetTranslation | None = None) -> list[SourceSpec]:
    """Resolve defaults (names, domain/entity, partitions, output settings) for every source."""
    specs = [_build_spec(entry, config.platform, translation) for entry in config.sources]
    if translation is not None:  # without one, the loader has checked the keys are unique
        _check_unique_keys(specs)
    return specs


def _check_unique_keys(specs: list[SourceSpec]) -> None:
    """Two sources may not end up on one asset key (a translation could map them there)."""
    seen: dict[dg.AssetKey, str] = {}
    issues = []
    for spec in specs:
        for key in (spec.bronze_key, spec.silver_key):
            if key in seen:
                issues.append(
                    ConfigIssue(
                        "translation",
                        "key",
                        f"sources '{seen[key]}' and '{spec.name}' both map to asset key "
                        f"{key.to_user_string()}",
                        "make the translated key depend on the source, e.g. '{{ source.name }}'",
                    )
                )
            seen[key] = spec.name
    if issues:
        raise ConfigError(issues)


def _build_spec(
    entry: SourceEntry, platform: PlatformConfig, translation: AssetTranslation | None = None
) -> SourceSpec:
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
        translation=translation,
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
