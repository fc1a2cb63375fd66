"""How Bronze is curated: the ``sources[].silver`` section (DESIGN §3, §6).

Which keys a model requires or reads is the model class's contract (checked on ``SourceEntry``, where the
load pattern is known too).
"""

from __future__ import annotations

from pydantic import Field, field_validator

from medallion_assets.config.base import KEY_PART_RE, TYPE_RE, DeleteMode, StrictModel
from medallion_assets.config.contracts import registry_enum, silver_model_contract, silver_model_names

__all__ = [
    "CdcConfig",
    "ErrorHandlingConfig",
    "NormalizationConfig",
    "Scd2Config",
    "SilverConfig",
    "SilverSchemaConfig",
]


class SilverSchemaConfig(StrictModel):
    rename_map: dict[str, str] = Field(default_factory=dict, description="Bronze name -> Silver name.")
    column_order: list[str] = Field(default_factory=list, description="These columns first, the rest after.")
    types: dict[str, str] = Field(
        default_factory=dict, description="Column -> type (string, int64, float64, boolean, date, ...)."
    )

    @field_validator("types")
    @classmethod
    def _known_types(cls, value: dict[str, str]) -> dict[str, str]:
        bad = {col: t for col, t in value.items() if not TYPE_RE.match(t.strip().lower())}
        if bad:
            col, t = next(iter(bad.items()))
            raise ValueError(
                f"unknown type '{t}' for column '{col}'; use string, int8..int64, uint8..uint64, float32, "
                "float64, boolean, date, datetime, time or decimal(p,s)"
            )
        return value


class NormalizationConfig(StrictModel):
    trim_strings: bool = False
    empty_strings_as_null: bool = False


class ErrorHandlingConfig(StrictModel):
    """Quarantine thresholds: the asset fails when bad rows exceed max_bad_records AND max_bad_percent.

    Each limit is an allowance: with both at 0 (the default) any bad row fails the asset; raise one of them
    to tolerate that many (or that share of) bad rows. With ``enabled: false`` no row may be quarantined.
    """

    enabled: bool = True
    max_bad_records: int = Field(0, ge=0)
    max_bad_percent: float = Field(0.0, ge=0, le=100)


class CdcConfig(StrictModel):
    operation_column: str = "op"
    insert_code: str = "I"
    update_code: str = "U"
    delete_code: str = "D"
    keep_history: bool = False


class Scd2Config(StrictModel):
    track_columns: list[str] | None = None


class SilverConfig(StrictModel):
    """How Bronze is curated (``sources[].silver``)."""

    domain: str | None = None
    entity: str | None = None
    version: int = Field(1, ge=1)
    model: str | None = Field(
        None,
        description="Default: from the load pattern. A built-in model (see the model table) or a plugin.",
        json_schema_extra=registry_enum(silver_model_names),
    )
    primary_keys: list[str] = Field(default_factory=list)
    order_column: str | None = None
    delete_mode: DeleteMode = "ignore"
    silver_schema: SilverSchemaConfig = Field(default_factory=SilverSchemaConfig, alias="schema")
    normalization: NormalizationConfig = Field(default_factory=NormalizationConfig)
    error_handling: ErrorHandlingConfig = Field(default_factory=ErrorHandlingConfig)
    cdc: CdcConfig | None = None
    scd2: Scd2Config | None = None
    dedupe_lookback_days: int = Field(
        0, ge=0, description="event_log: how many earlier Silver days to dedupe against."
    )

    @field_validator("domain", "entity")
    @classmethod
    def _key_part(cls, value: str | None) -> str | None:
        if value is not None and not KEY_PART_RE.match(value):
            raise ValueError(f"'{value}' must be letters, digits and underscores, not starting with a digit")
        return value

    @field_validator("model")
    @classmethod
    def _registered_model(cls, value: str | None) -> str | None:
        if value is not None:
            silver_model_contract(value)
        return value
