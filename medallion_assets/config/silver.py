"""How Bronze is curated: the ``sources[].silver`` section (DESIGN §3, §6).

Which keys a model requires or reads is the model class's contract (checked on ``SourceEntry``, where the
load pattern is known too).
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from medallion_assets.config.base import (
    KEY_PART_RE,
    TYPE_RE,
    DeleteMode,
    StrictModel,
    check_column_names,
    check_name_length,
)
from medallion_assets.config.contracts import registry_enum, silver_model_contract, silver_model_names

__all__ = [
    "CdcConfig",
    "ErrorHandlingConfig",
    "NormalizationConfig",
    "Scd2Config",
    "SilverConfig",
    "SilverSchemaConfig",
]

_DECIMAL_TYPE_RE = re.compile(r"^decimal\(\s*(\d+)\s*,\s*(\d+)\s*\)$")


class SilverSchemaConfig(StrictModel):
    """Column names, order and types of Silver; a value that does not parse as its type is quarantined."""

    rename_map: dict[str, str] = Field(default_factory=dict, description="Bronze name -> Silver name.")
    column_order: list[str] = Field(default_factory=list, description="These columns first, the rest after.")
    types: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Column -> type (string, int64, float64, boolean, date, datetime, decimal(p,s), ...); a datetime "
            "is wall time in partitions.timezone (a value with an offset or Z is converted to it)."
        ),
    )

    @field_validator("column_order")
    @classmethod
    def _each_once(cls, value: list[str]) -> list[str]:
        check_column_names("silver.schema.column_order", value)
        return value

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
        for col, t in value.items():  # (polars' own error came at run time, naming neither)
            if match := _DECIMAL_TYPE_RE.match(t.strip().lower()):
                precision, scale = int(match.group(1)), int(match.group(2))
                if not 1 <= precision <= 38 or scale > precision:
                    raise ValueError(
                        f"type '{t}' for column '{col}': a decimal(p,s) needs 1 <= p <= 38 digits and a "
                        "scale s <= p; for wider numbers use float64 or keep the column as text (string)"
                    )
        return value


class NormalizationConfig(StrictModel):
    """String clean-up applied before typing."""

    trim_strings: bool = Field(False, description="Strip leading and trailing white space of every string.")
    empty_strings_as_null: bool = Field(False, description="An empty string becomes null.")


class ErrorHandlingConfig(StrictModel):
    """Quarantine thresholds: the asset fails when bad rows exceed max_bad_records AND max_bad_percent.

    Each limit is an allowance: with both at 0 (the default) any bad row fails the asset; raise one of them
    to tolerate that many (or that share of) bad rows. With ``enabled: false`` no row may be quarantined.
    """

    enabled: bool = Field(True, description="Quarantine bad rows to _errors/; false: any bad row fails.")
    max_bad_records: int = Field(0, ge=0, description="Bad rows tolerated per partition.")
    max_bad_percent: float = Field(0.0, ge=0, le=100, description="Share of bad rows tolerated, in percent.")


class CdcConfig(StrictModel):
    """The change operations of a ``cdc`` source: which column holds them and their codes."""

    operation_column: str = Field("op", description="Column holding the operation code.")
    insert_code: str = Field("I", description="Code of an insert.")
    update_code: str = Field("U", description="Code of an update.")
    delete_code: str = Field("D", description="Code of a delete.")
    keep_history: bool = Field(False, description="Also keep the SCD2 history of every key.")

    @model_validator(mode="after")
    def _distinct_codes(self) -> CdcConfig:
        codes = [self.insert_code, self.update_code, self.delete_code]
        repeated = next((code for code in codes if codes.count(code) > 1), None)
        if repeated is not None:
            raise ValueError(
                f"insert_code, update_code and delete_code must differ ('{repeated}' is used twice): give "
                "each operation its own code, as the source writes it"
            )
        return self


class Scd2Config(StrictModel):
    """What makes a new SCD2 version."""

    track_columns: list[str] | None = Field(
        None, description="Value columns whose change opens a new version; default: all value columns."
    )


class SilverConfig(StrictModel):
    """How Bronze is curated (``sources[].silver``)."""

    domain: str | None = Field(
        None, description="Silver asset key silver/<domain>/<entity> and folder; default: source.system."
    )
    entity: str | None = Field(None, description="Default: source.table.")
    version: int = Field(1, ge=1, description="Folder v<version>: raise it to rebuild Silver side by side.")
    model: str | None = Field(
        None,
        description="Default: from the load pattern. A built-in model (see the model table) or a plugin.",
        json_schema_extra=registry_enum(silver_model_names),
    )
    primary_keys: list[str] = Field(
        default_factory=list, description="Columns identifying a row; a null key is quarantined."
    )
    order_column: str | None = Field(
        None, description="Column ordering the versions of a key (an updated_at timestamp, a sequence)."
    )
    delete_mode: DeleteMode = Field(
        "ignore",
        description="What a detected delete does: ignore, hard_delete (remove the key), tombstone (keep it "
        "with _deleted = true).",
    )
    silver_schema: SilverSchemaConfig = Field(
        default_factory=SilverSchemaConfig, alias="schema", description="Renames, column order and types."
    )
    normalization: NormalizationConfig = Field(
        default_factory=NormalizationConfig, description="String clean-up before typing."
    )
    error_handling: ErrorHandlingConfig = Field(
        default_factory=ErrorHandlingConfig, description="Quarantine thresholds."
    )
    cdc: CdcConfig | None = Field(None, description="cdc model: the operation column and codes.")
    scd2: Scd2Config | None = Field(None, description="scd_type_2 (and cdc with history): tracked columns.")
    # At most a century: past about 740,000 days the day the lookback starts is before year 1, and the
    # second Silver day failed with "OverflowError: date value out of range".
    dedupe_lookback_days: int = Field(
        0, ge=0, le=36_500, description="event_log: how many earlier Silver days to dedupe against (<=36500)."
    )

    @field_validator("domain", "entity")
    @classmethod
    def _key_part(cls, value: str | None) -> str | None:
        if value is not None and not KEY_PART_RE.match(value):
            raise ValueError(f"{value!r} must be letters, digits and underscores, not starting with a digit")
        return None if value is None else check_name_length(value)

    @field_validator("model")
    @classmethod
    def _registered_model(cls, value: str | None) -> str | None:
        if value is not None:
            silver_model_contract(value)
        return value

    @field_validator("primary_keys")
    @classmethod
    def _keys_once(cls, value: list[str]) -> list[str]:
        check_column_names("silver.primary_keys", value)
        return value

    @property
    def named_columns(self) -> dict[str, list[str]]:
        """The columns each ``silver`` key names, by their Silver names (after ``schema.rename_map``)."""
        named = {
            "silver.primary_keys": self.primary_keys,
            "silver.order_column": [self.order_column] if self.order_column else [],
            "silver.schema.types": list(self.silver_schema.types),
            "silver.schema.column_order": self.silver_schema.column_order,
            "silver.scd2.track_columns": (self.scd2.track_columns or []) if self.scd2 else [],
            "silver.cdc.operation_column": [self.cdc.operation_column] if self.cdc else [],
        }
        return {key: names for key, names in named.items() if names}

    @model_validator(mode="after")
    def _names_after_rename(self) -> SilverConfig:
        """Every key names Silver columns, i.e. after ``rename_map``: a name it renames away is gone."""
        rename = self.silver_schema.rename_map
        gone = set(rename) - set(rename.values())
        for key, names in self.named_columns.items():
            for name in names:
                if name in gone:
                    raise ValueError(
                        f"{key} names '{name}', which silver.schema.rename_map renames to '{rename[name]}': "
                        f"silver keys name columns after the rename, so name the column '{rename[name]}'"
                    )
        if self.cdc is not None:
            column = self.cdc.operation_column
            if column in self.primary_keys or column == self.order_column:
                other = "silver.primary_keys" if column in self.primary_keys else "silver.order_column"
                raise ValueError(
                    f"silver.cdc.operation_column '{column}' is also in {other}: the operation column only "
                    "says what happened to a row (insert, update, delete); key and order the rows by other "
                    "columns"
                )
        return self
