"""A loaded lake: config, specs and the two IO managers, for tools outside a Dagster run (CLI, tests)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from medallion_assets.config.loader import load_config, load_config_with_origins
from medallion_assets.config.models import MedallionConfig
from medallion_assets.errors import ConfigError, ConfigIssue, MedallionError
from medallion_assets.silver.registry import create_silver_model
from medallion_assets.specs import AssetTranslation, SourceSpec, build_specs
from medallion_resources.lake.layout import LAYERS
from medallion_resources.lake.read import CommittedPartition
from medallion_resources.storage.registry import create_backend

if TYPE_CHECKING:  # the IO managers are Dagster objects: loaded when a verb reads the lake, not for `list`
    from medallion_resources.io_managers import BronzeIOManager, LakeIOManager, SilverIOManager

__all__ = ["Lake", "LAYERS"]


@dataclass
class Lake:
    config: MedallionConfig
    translation: AssetTranslation | None = None  # a dg component's: its asset keys, the UI's

    @classmethod
    def load(cls, config_dir: str | Path | None = None) -> Lake:
        return cls(load_config(config_dir))

    @classmethod
    def from_component(cls, path: str | Path) -> Lake:
        """The lake a dg ``MedallionSources`` component declares (its ``defs.yaml``), with its translation."""
        from medallion_assets.component_file import load_component

        loaded, translation = load_component(path)
        lake = cls(loaded.config, translation)
        _ = lake.specs  # a translation mapping two sources onto one key is a config error, here
        return lake

    @classmethod
    def validated(cls, config_dir: str | Path | None = None, component: str | Path | None = None) -> Lake:
        """``load`` (``from_component`` when ``component`` is given), then everything building the code
        location can still refuse, found without Dagster: the specs and each layer's storage backend
        (registered, its ``options`` known, its connection settings set). A failure is a ``ConfigError``
        naming the platform file and key, so ``medallion validate`` fails where Dagster would have failed to
        load every source.
        """
        if component is not None:
            from medallion_assets.component_file import load_component

            loaded, translation = load_component(component)
        else:
            loaded, translation = load_config_with_origins(config_dir), None
        lake = cls(loaded.config, translation)
        _ = lake.specs
        issues = []
        for layer in LAYERS:
            try:
                create_backend(getattr(loaded.config.platform, layer), loaded.config.platform)
            except MedallionError as exc:
                issues.append(ConfigIssue(loaded.platform_file, f"platform.{layer}", str(exc)))
        if issues:
            raise ConfigError(issues)
        return lake

    @cached_property
    def specs(self) -> dict[str, SourceSpec]:
        return {spec.name: spec for spec in build_specs(self.config, self.translation)}

    @cached_property
    def bronze(self) -> BronzeIOManager:
        from medallion_resources.io_managers import BronzeIOManager

        return BronzeIOManager(create_backend(self.config.platform.bronze, self.config.platform))

    @cached_property
    def silver(self) -> SilverIOManager:
        from medallion_resources.io_managers import SilverIOManager

        return SilverIOManager(create_backend(self.config.platform.silver, self.config.platform))

    def spec(self, name: str) -> SourceSpec:
        try:
            return self.specs[name]
        except KeyError:
            known = ", ".join(sorted(self.specs)) or "none"
            raise KeyError(f"no source named '{name}' (sources: {known})") from None

    def io(self, layer: str) -> LakeIOManager:
        return self.bronze if layer == "bronze" else self.silver

    def dataset_path(self, spec: SourceSpec, layer: str) -> str:
        return spec.bronze_path if layer == "bronze" else spec.silver_path

    def committed(self, spec: SourceSpec, layer: str, run_date: date | str) -> CommittedPartition | None:
        return self.io(layer).committed(self.dataset_path(spec, layer), str(run_date))

    def main_artifact(self, spec: SourceSpec, layer: str) -> str:
        """The artifact ``dagster/partition_row_count`` counts: Bronze's data, a Silver model's first one."""
        if layer == "bronze":
            return "data"
        return create_silver_model(spec.model, spec.entry.silver).artifacts[0]

    def partition_uri(self, spec: SourceSpec, layer: str, run_date: date | str) -> str:
        io = self.io(layer)
        return io.backend.uri(io.partition_prefix(self.dataset_path(spec, layer), str(run_date)))
