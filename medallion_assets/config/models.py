"""Pydantic models of the medallion config (DESIGN §3): a source entry, the whole config, and every model.

The sections have their own modules (``platform``, ``source``, ``silver``); this module adds what ties a
source together (``SourceEntry``: the model/load-pattern rules, orchestration settings) and the merged
``MedallionConfig``, and is the one import for all of them (``__all__``).

These are the user-facing edge: ``extra="forbid"`` everywhere, so an unknown key is an error that the
loader turns into a "did you mean" hint. Legacy spellings (aliases, deprecated keys) are rewritten by the
loader *before* validation (see ``medallion_assets.config.compat``), so the models only know the current
names. Cross-field rules (a model that needs keys, a model/load-pattern pair that makes no sense) live in
``model_validator``s here so that every way of building a config gets them.

``source.type`` and ``silver.model`` are not fixed lists: they name members of the extractor and Silver model
registries, and what a member needs (its settings section, the load patterns it serves, the ``silver`` keys
it requires or reads) is declared on its class. Validation asks the registry, so a registered plugin is
selectable here with the same checks and messages as a built-in.
"""

from __future__ import annotations

import re
from functools import partial
from typing import TYPE_CHECKING, Literal, get_args

from pydantic import Field, ValidationInfo, field_validator, model_validator

from medallion_assets.config.base import (
    NAME_RE,
    OWNER_EMAIL_RE,
    ExtractorSection,
    LoadPattern,
    ModelOption,
    RequiredSilverKey,
    StrictModel,
    check_name_length,
)
from medallion_assets.config.contracts import models_phrase, models_where, reads_option, silver_model_contract
from medallion_assets.config.platform import (
    AzureConnectionConfig,
    DefaultsConfig,
    HttpDefaultsConfig,
    LayerStorageConfig,
    OutputDefaultsConfig,
    PartitionsConfig,
    PartitionsOverride,
    PlatformConfig,
    S3ConnectionConfig,
    ScheduleConfig,
    check_timezone,
)
from medallion_assets.config.silver import (
    CdcConfig,
    ErrorHandlingConfig,
    NormalizationConfig,
    Scd2Config,
    SilverConfig,
    SilverSchemaConfig,
)
from medallion_assets.config.source import (
    ApiAuthConfig,
    ApiConfig,
    ApiIncrementalConfig,
    ApiPaginationConfig,
    CustomExtractorConfig,
    DbConfig,
    DbIncrementalConfig,
    FileConfig,
    RunConfig,
    SourceConfig,
)

if TYPE_CHECKING:
    from medallion_assets.silver.base import SilverModel

__all__ = [
    "ApiAuthConfig",
    "ApiConfig",
    "ApiIncrementalConfig",
    "ApiPaginationConfig",
    "AzureConnectionConfig",
    "CdcConfig",
    "ChecksConfig",
    "CustomExtractorConfig",
    "DbConfig",
    "DbIncrementalConfig",
    "DefaultsConfig",
    "ErrorHandlingConfig",
    "ExtractorSection",
    "FileConfig",
    "FreshnessConfig",
    "HttpDefaultsConfig",
    "LayerStorageConfig",
    "LoadPattern",
    "MedallionConfig",
    "ModelOption",
    "NormalizationConfig",
    "OutputDefaultsConfig",
    "PartitionsConfig",
    "PlatformConfig",
    "RequiredSilverKey",
    "RunConfig",
    "S3ConnectionConfig",
    "ScheduleConfig",
    "Scd2Config",
    "SensorConfig",
    "SilverConfig",
    "SilverSchemaConfig",
    "SourceConfig",
    "SourceEntry",
]


# --- the registries validation asks (imported when first used: they import these models) ----------------


# --- extractors -------------------------------------------------------------------------------------------


# --- silver -----------------------------------------------------------------------------------------------


# --- orchestration ----------------------------------------------------------------------------------------


class SensorConfig(StrictModel):
    """A sensor that loads new data as it appears (docs/operations.md)."""

    type: Literal["db_watermark", "file_arrival"] = Field(
        description="db_watermark: polls MAX(cursor_column); file_arrival: lists file.path for new files."
    )
    minimum_interval_seconds: int = Field(300, ge=1, description="Seconds between two evaluations.")
    default_status: Literal["running", "stopped"] = Field(
        "stopped", description="Whether the sensor runs as soon as the code location loads."
    )


MIN_WINDOW_HOURS, MAX_WINDOW_HOURS = 1 / 60, 24 * 365 * 100


class FreshnessConfig(StrictModel):
    """When the data counts as late: a deadline per partition, and/or Dagster's asset-level windows.

    ``deadline`` is partition-aware (Bronze's ``freshness`` check): partition D must be committed by
    ``deadline`` on day D + ``deadline_days`` in ``timezone``; a backfill of an old day does not make a
    missed day look fresh. ``fail_window_hours``/``warn_window_hours`` set Dagster's own FreshnessPolicy on
    both assets (time since the latest materialization, whatever its partition).
    """

    deadline: str | None = Field(
        None, description="HH:MM (24 h): partition D must be committed by then, on day D + deadline_days."
    )
    deadline_days: int = Field(
        1, ge=0, le=31, description="Days after the partition's day the deadline falls."
    )
    timezone: str | None = Field(None, description="IANA timezone of the deadline; default: the partitions'.")
    fail_window_hours: float | None = Field(
        None,
        gt=0,
        description="Fail when the latest materialization is older than this many hours (one minute to 100 "
        "years).",
    )
    warn_window_hours: float | None = Field(None, gt=0, description="Warn past this many hours (< fail).")

    @field_validator("deadline")
    @classmethod
    def _clock_time(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
            raise ValueError(f"deadline '{value}' must be a 24-hour time HH:MM, e.g. '06:00'")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str | None) -> str | None:
        return check_timezone(value)

    @field_validator("fail_window_hours", "warn_window_hours")
    @classmethod
    def _a_window_dagster_holds(cls, value: float | None, info: ValidationInfo) -> float | None:
        """Dagster refuses a window under a minute when the Definitions load; past a century the daemon's
        ``now - window`` leaves the calendar (a very large one failed the load with an OverflowError)."""
        if value is not None and not MIN_WINDOW_HOURS <= value <= MAX_WINDOW_HOURS:
            raise ValueError(
                f"freshness.{info.field_name} {value:g} is outside what Dagster's freshness windows hold: "
                f"use at least {MIN_WINDOW_HOURS:.4f} (one minute) and at most {MAX_WINDOW_HOURS} (100 years)"
            )
        return value

    @model_validator(mode="after")
    def _warn_before_fail(self) -> FreshnessConfig:
        if self.deadline is None and self.fail_window_hours is None:
            raise ValueError("freshness needs a deadline (e.g. '06:00') or fail_window_hours, or both")
        if self.warn_window_hours is not None and self.fail_window_hours is None:
            raise ValueError("freshness.warn_window_hours needs fail_window_hours")
        if (
            self.warn_window_hours is not None
            and self.fail_window_hours is not None
            and self.warn_window_hours >= self.fail_window_hours
        ):
            raise ValueError(
                f"freshness.warn_window_hours ({self.warn_window_hours}) must be smaller than "
                f"fail_window_hours ({self.fail_window_hours})"
            )
        return self


class ChecksConfig(StrictModel):
    """How Bronze's partition checks judge this source (docs/operations.md, "Asset checks")."""

    allow_empty: bool | None = Field(
        None,
        description="Whether a Bronze partition with no rows passes not_empty. Default: no for load_pattern "
        "full (an empty snapshot), yes for incremental and cdc (a day without changes); file.required: "
        "false also allows it.",
    )


# --- source entry -----------------------------------------------------------------------------------------

# The model a load pattern picks when ``silver.model`` is not set. Which patterns a model accepts, and which
# silver keys it needs, is on the model class (``SilverModel.load_patterns`` / ``requires`` / ``options``).
DEFAULT_MODEL: dict[LoadPattern, str] = {
    "full": "periodic_snapshot",
    "incremental": "scd_type_1",
    "cdc": "cdc",
    "current_history": "scd_type_2",
}


class SourceEntry(StrictModel):
    """One dataset: ``sources[]`` in the YAML."""

    name: str | None = Field(
        None, description="Default <system>_<table>; [a-z][a-z0-9_]*, at most 100 characters."
    )
    description: str | None = Field(None, description="Shown on both assets in the Dagster UI.")
    owners: list[str] = Field(
        default_factory=list,
        description="Asset owners: e-mail addresses (ASCII, a top-level domain of 2 to 7 letters: what "
        "Dagster accepts) or team names as 'team:<name>'.",
    )
    source: SourceConfig = Field(description="Where the data comes from (Bronze).")
    silver: SilverConfig = Field(default_factory=SilverConfig, description="How Bronze is curated (Silver).")
    partitions: PartitionsOverride | None = Field(
        None, description="Overrides of platform.defaults.partitions."
    )
    schedule: ScheduleConfig | None = Field(
        None, description="Daily schedule; default: platform.defaults.schedule."
    )
    sensor: SensorConfig | None = Field(None, description="Load new data as it appears.")
    freshness: FreshnessConfig | None = Field(None, description="When the data counts as late.")
    checks: ChecksConfig | None = Field(None, description="How Bronze's partition checks judge the source.")

    @field_validator("owners")
    @classmethod
    def _owner_format(cls, value: list[str]) -> list[str]:
        bad = [o for o in value if not (OWNER_EMAIL_RE.fullmatch(o) or o.startswith("team:") and len(o) > 5)]
        if bad and "@" in bad[0]:
            raise ValueError(
                f"owner {bad[0]!r} is not an e-mail address Dagster accepts (ASCII letters, digits and "
                "'._%+-', a top-level domain of 2 to 7 letters); give another address, or a team name "
                "prefixed with 'team:' (e.g. 'team:data')"
            )
        if bad:
            raise ValueError(
                f"owner {bad[0]!r} must be an e-mail address or a team name prefixed with 'team:' "
                f"(e.g. 'team:{bad[0]}')"
            )
        return value

    @field_validator("name")
    @classmethod
    def _name_pattern(cls, value: str | None) -> str | None:
        if value is not None and not NAME_RE.match(value):
            raise ValueError(f"name {value!r} must match [a-z][a-z0-9_]*")
        return None if value is None else check_name_length(value)

    @model_validator(mode="after")
    def _model_fits_pattern(self) -> SourceEntry:
        pattern = self.source.run.load_pattern
        name = self.silver_model
        model = silver_model_contract(name)
        silver = self.silver
        if pattern not in model.load_patterns:
            raise ValueError(
                f"silver.model '{name}' does not fit source.run.load_pattern '{pattern}' (it accepts "
                f"{', '.join(sorted(model.load_patterns))}); with '{pattern}' use one of: "
                f"{', '.join(models_where(lambda m: pattern in m.load_patterns))}"
            )
        for key in get_args(RequiredSilverKey):
            if key in model.requires and not getattr(silver, key):
                what = f"a silver.{key} section" if key == "cdc" else f"silver.{key}"
                raise ValueError(f"silver.model '{name}' needs {what}")
        for key in get_args(ModelOption):
            value = getattr(silver, key)
            if key not in model.options and value != SilverConfig.model_fields[key].default:
                shown = f" '{value}'" if isinstance(value, str) else ""
                users = models_where(partial(reads_option, key))
                raise ValueError(
                    f"silver.{key}{shown} has no meaning for model '{name}'; it only applies to "
                    f"{models_phrase(users)} (remove it, or choose one of those models)"
                )
        self._no_column_the_model_writes(model)
        if "order_column" in model.requires and silver.order_column in silver.primary_keys:
            raise ValueError(
                f"silver.order_column '{silver.order_column}' is also in silver.primary_keys: silver.model "
                f"'{name}' orders the versions of each key by it, so it cannot be part of the key; choose "
                "the column that says which version is newer (an updated_at, a sequence number)"
            )
        if silver.delete_mode != "ignore" and pattern not in ("full", "cdc"):
            raise ValueError(
                f"silver.delete_mode '{silver.delete_mode}' needs load_pattern 'full' or 'cdc': "
                f"an '{pattern}' load cannot tell a deleted key from an unchanged one"
            )
        if self.source.run.max_delete_fraction != RunConfig.model_fields["max_delete_fraction"].default and (
            pattern != "full" or silver.delete_mode == "ignore"
        ):
            raise ValueError(
                "source.run.max_delete_fraction only applies to load_pattern 'full' with silver.delete_mode "
                "'hard_delete' or 'tombstone' (the loads that delete keys absent from a snapshot); remove it"
            )
        if silver.scd2 is not None:
            if silver.cdc is not None and not silver.cdc.keep_history:
                raise ValueError(
                    "silver.scd2 needs cdc.keep_history: true with silver.cdc: without history there are "
                    "no versions whose columns to track"
                )
            reserved = {*silver.primary_keys, silver.order_column}
            clash = [c for c in silver.scd2.track_columns or [] if c in reserved or c.startswith("_")]
            if clash:
                raise ValueError(
                    f"silver.scd2.track_columns lists {', '.join(clash)}: keys, the order column and '_' "
                    "columns are never tracked; list only value columns"
                )
        return self

    def _no_column_the_model_writes(self, model: type[SilverModel]) -> None:
        """A column the config names may not be one the model writes itself (``SilverModel.writes``):
        Bronze's column of that name is kept as ``<name>_source``, so the config would name Silver's."""
        silver = self.silver
        named = {
            "silver.primary_keys": list(silver.primary_keys),
            "silver.order_column": [silver.order_column] if silver.order_column else [],
            "silver.schema.types": list(silver.silver_schema.types),
            "silver.schema.rename_map": list(silver.silver_schema.rename_map.values()),
            "silver.scd2.track_columns": list(silver.scd2.track_columns or []) if silver.scd2 else [],
        }
        for key, columns in named.items():
            own = [c for c in columns if c in model.writes]
            if own:
                raise ValueError(
                    f"{key} names '{own[0]}', a column silver.model '{self.silver_model}' writes itself; "
                    "give the source's column another Silver name with silver.schema.rename_map (e.g. "
                    f"{{{own[0]}: source_{own[0].lstrip('_')}}}) and name that one here"
                )

    @model_validator(mode="after")
    def _columns_the_file_has(self) -> SourceEntry:
        """With ``file.columns``, Bronze lands those columns only (and the ``_`` lineage columns)."""
        file = self.source.file if self.source.type == "file" else None
        if file is None or file.column_names is None:
            return self
        declared = file.column_names
        rename = self.silver.silver_schema.rename_map
        silver_names = {rename.get(c, c) for c in declared}
        missing = [("silver.schema.rename_map renames", c) for c in rename if c not in declared]
        missing += [
            (f"{key} names", name)
            for key, names in self.silver.named_columns.items()
            for name in names
            if name not in silver_names
        ]
        missing = [(what, name) for what, name in missing if not name.startswith("_")]
        if missing:
            what, name = missing[0]
            raise ValueError(
                f"{what} '{name}', which is not among file.columns ({', '.join(declared)}), the only columns "
                "Bronze lands: add it to file.columns, or name one of those"
            )
        return self

    @property
    def source_name(self) -> str:
        return self.name or f"{self.source.system}_{self.source.table}".lower()

    @property
    def silver_model(self) -> str:
        return self.silver.model or DEFAULT_MODEL[self.source.run.load_pattern]


class MedallionConfig(StrictModel):
    """The merged config of a whole config directory."""

    config_version: Literal[1] = 1
    platform: PlatformConfig
    sources: list[SourceEntry] = Field(default_factory=list)
