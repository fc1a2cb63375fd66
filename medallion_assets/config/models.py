"""Pydantic models of the medallion config (DESIGN §3).

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
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, Literal, get_args

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from medallion_assets.config.base import (
    KEY_PART_RE,
    NAME_RE,
    OWNER_EMAIL_RE,
    TYPE_RE,
    Compression,
    DeleteMode,
    ExtractorSection,
    FileFormat,
    LoadPattern,
    ModelOption,
    RequiredSilverKey,
    StrictModel,
)
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
)
from medallion_assets.errors import PluginError, UnknownNameError

if TYPE_CHECKING:
    from medallion_assets.extractors.base import Extractor
    from medallion_assets.silver.base import SilverModel

__all__ = [
    "ApiAuthConfig",
    "ApiConfig",
    "ApiIncrementalConfig",
    "ApiPaginationConfig",
    "AzureConnectionConfig",
    "CdcConfig",
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


def extractor_contract(type_name: str) -> type[Extractor]:
    """The registered extractor class of ``source.type``, whose class attributes are its contract."""
    from medallion_assets.extractors.registry import extractor_class

    return _registered(extractor_class, type_name)


def silver_model_contract(name: str) -> type[SilverModel]:
    """The registered Silver model class of ``silver.model``, whose class attributes are its contract."""
    from medallion_assets.silver.registry import silver_model_class

    return _registered(silver_model_class, name)


def _registered(lookup: Callable[[str], Any], name: str) -> Any:
    """``lookup(name)``, its errors turned into validation errors the loader reports at the key."""
    try:
        return lookup(name)
    except UnknownNameError as exc:
        # Reported like a Literal: the loader adds "did you mean" and the allowed names, from the registry.
        expected = " or ".join(", ".join(f"'{n}'" for n in exc.allowed).rsplit(", ", 1))
        raise PydanticCustomError(
            "literal_error", "Input should be {expected}", {"expected": expected}
        ) from None
    except (PluginError, NotImplementedError) as exc:
        raise ValueError(str(exc)) from exc


def _registry_enum(names: Callable[[], list[str]]) -> Callable[[dict[str, Any]], None]:
    """JSON Schema hook: the string's allowed values are the registry's names when the schema is made."""

    def extra(schema: dict[str, Any]) -> None:
        for branch in schema.get("anyOf", [schema]):
            if branch.get("type") == "string":
                branch["enum"] = names()

    return extra


def _extractor_types() -> list[str]:
    from medallion_assets.extractors.registry import extractor_types

    return extractor_types()


def _silver_model_names() -> list[str]:
    from medallion_assets.silver.registry import silver_model_names

    return silver_model_names()


# --- extractors -------------------------------------------------------------------------------------------


class ApiAuthConfig(StrictModel):
    type: Literal["none", "bearer", "basic", "api_key", "oauth2_client_credentials"] = "none"
    token_env: str | None = None
    username_env: str | None = None
    password_env: str | None = None
    key_env: str | None = None
    key_header: str | None = None
    key_param: str | None = None
    token_url: str | None = None
    client_id_env: str | None = None
    client_secret_env: str | None = None
    scope: str | None = None

    @model_validator(mode="after")
    def _needed_keys(self) -> ApiAuthConfig:
        needs = {
            "bearer": ["token_env"],
            "basic": ["username_env", "password_env"],
            "api_key": ["key_env"],
            "oauth2_client_credentials": ["token_url", "client_id_env", "client_secret_env"],
        }.get(self.type, [])
        missing = [key for key in needs if not getattr(self, key)]
        if missing:
            raise ValueError(f"auth type '{self.type}' needs {', '.join(missing)}")
        if self.type == "api_key" and not (self.key_header or self.key_param):
            raise ValueError("auth type 'api_key' needs key_header or key_param")
        return self


class ApiPaginationConfig(StrictModel):
    type: Literal["none", "offset", "page", "cursor", "link_header", "next_url"] = "none"
    page_size: int = Field(100, ge=1)
    offset_param: str = "offset"
    limit_param: str = "limit"
    page_param: str = "page"
    page_size_param: str | None = "page_size"
    start_page: int = 1
    cursor_param: str = "cursor"
    cursor_path: str | None = None
    initial_cursor: str | None = None
    next_url_path: str | None = None
    total_path: str | None = None
    has_more_path: str | None = None
    max_pages: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _needed_paths(self) -> ApiPaginationConfig:
        if self.type == "cursor" and not self.cursor_path:
            raise ValueError("pagination type 'cursor' needs cursor_path")
        if self.type == "next_url" and not self.next_url_path:
            raise ValueError("pagination type 'next_url' needs next_url_path")
        return self


class ApiIncrementalConfig(StrictModel):
    cursor_field: str
    param: str | None = None
    initial_value: str | None = None


class ApiConfig(StrictModel):
    base_url: str
    endpoint: str = "/"
    method: Literal["GET", "POST"] = "GET"
    params: dict[str, Any] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)
    body: dict[str, Any] | list[Any] | None = None
    data_path: str | None = None
    auth: ApiAuthConfig = Field(default_factory=ApiAuthConfig)
    pagination: ApiPaginationConfig = Field(default_factory=ApiPaginationConfig)
    rate_limit_rps: float | None = Field(
        None, ge=0, description="0: no limit. Default: platform.defaults.http."
    )
    burst: int | None = Field(None, ge=1)
    max_retries: int | None = Field(None, ge=0)
    timeout_seconds: float | None = Field(None, gt=0)
    retry_backoff_seconds: float | None = Field(None, ge=0)
    use_async: bool = False
    prefetch_pages: int = Field(2, ge=1)
    incremental: ApiIncrementalConfig | None = None


class DbIncrementalConfig(StrictModel):
    cursor_column: str
    mode: Literal["window", "watermark"] = "watermark"
    lookback: str | None = Field(
        None,
        description="Duration such as '2h' or '1d': window mode re-reads this far before the window, "
        "watermark mode this far below the watermark (re-read rows that already landed are dropped).",
    )
    initial_value: str | None = Field(
        None, description="Watermark mode: the first partition reads cursor > this value."
    )
    commit_horizon: bool = Field(
        True,
        description="Watermark mode on PostgreSQL: never read past the start of the oldest open transaction "
        "(see docs/db_extractor.md); false reads up to the partition end and relies on lookback alone.",
    )

    @field_validator("lookback")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"\d+\s*[smhd]", value):
            raise ValueError(f"lookback '{value}' must be a number and a unit s, m, h or d, e.g. '2h'")
        return value


class DbConfig(StrictModel):
    url_env: str | None = Field(None, description="Environment variable holding the SQLAlchemy URL.")
    url: str | None = Field(
        None,
        description="A SQLAlchemy URL without credentials, e.g. sqlite:///data/shop.db (a relative SQLite "
        "path is resolved like file paths); anything with a password goes in url_env.",
    )
    query: str | None = None
    table: str | None = None
    db_schema: str | None = Field(None, alias="schema")
    fetch_batch_size: int = Field(50_000, ge=1)
    engine: Literal["auto", "sqlalchemy", "adbc", "connectorx"] = "auto"
    incremental: DbIncrementalConfig | None = None

    @model_validator(mode="after")
    def _query_or_table(self) -> DbConfig:
        if bool(self.query) == bool(self.table):
            raise ValueError("set exactly one of 'query' or 'table'")
        if bool(self.url) == bool(self.url_env):
            raise ValueError("set exactly one of 'url_env' (an environment variable with the URL) or 'url'")
        if self.url and re.search(r"://[^/@]*:[^/@]*@", self.url):
            raise ValueError(
                "'url' holds a password: put the URL in an environment variable and name it in 'url_env'"
            )
        return self


class FileConfig(StrictModel):
    path: str = Field(
        description="Local path or fsspec URL; globs, and the template fields {run_date}, {window_start}, "
        "{window_end}, each with an optional strftime format ({run_date:%Y%m%d}); other {...} is an error."
    )
    format: FileFormat | None = Field(None, description="Default: from the file extension.")
    delimiter: str | None = None
    encoding: str = "utf-8"
    has_header: bool = True
    json_path: str | None = Field(None, description="Dot path to the record list inside a JSON document.")
    columns: list[str] | None = Field(None, description="Column names (no header) or a projection.")
    required: bool = Field(True, description="No matching file: error when true, empty partition when false.")


class CustomExtractorConfig(StrictModel):
    module: str | None = None
    class_name: str | None = None
    entry_point: str | None = Field(None, description="Name in the 'medallion.extractors' entry point group.")
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _module_or_entry_point(self) -> CustomExtractorConfig:
        if self.entry_point and (self.module or self.class_name):
            raise ValueError("set either entry_point or module + class_name, not both")
        if not self.entry_point and not (self.module and self.class_name):
            raise ValueError("set module and class_name, or entry_point")
        return self


class RunConfig(StrictModel):
    load_pattern: LoadPattern = "full"
    max_rows_per_file: int | None = Field(None, ge=1)
    max_file_size_mb: float | None = Field(None, gt=0)
    parquet_compression: Compression | None = None


class SourceConfig(StrictModel):
    """Where the data comes from (``sources[].source``)."""

    system: str
    table: str
    type: str = Field(
        description="api | db | file | custom | a registered extractor type (plugin).",
        json_schema_extra=_registry_enum(_extractor_types),
    )
    api: ApiConfig | None = None
    db: DbConfig | None = None
    file: FileConfig | None = None
    custom_extractor: CustomExtractorConfig | None = None
    options: dict[str, Any] | None = Field(
        None, description="Settings of a plugin extractor type, checked by its class's options_model."
    )
    run: RunConfig = Field(default_factory=RunConfig)

    @field_validator("system", "table")
    @classmethod
    def _key_part(cls, value: str) -> str:
        if not KEY_PART_RE.match(value):
            raise ValueError(f"'{value}' must be letters, digits and underscores, not starting with a digit")
        return value

    @field_validator("type")
    @classmethod
    def _registered_type(cls, value: str) -> str:
        extractor_contract(value)
        return value

    @model_validator(mode="after")
    def _fits_the_extractor(self) -> SourceConfig:
        extractor = extractor_contract(self.type)
        wanted = extractor.section
        if wanted != "options" and getattr(self, wanted) is None:
            raise ValueError(f"type '{self.type}' needs a '{wanted}:' section")
        extra = [s for s in get_args(ExtractorSection) if s != wanted and getattr(self, s) is not None]
        if extra:
            raise ValueError(f"type '{self.type}' does not use the section(s) {', '.join(extra)}")
        if extractor.options_model is not None:
            try:
                extractor.options_model.model_validate(self.options or {})
            except ValidationError as exc:
                raise ValueError(f"options of type '{self.type}': {_summary(exc)}") from None
        pattern = self.run.load_pattern
        if pattern not in extractor.load_patterns:
            raise ValueError(
                f"type '{self.type}' cannot serve run.load_pattern '{pattern}'; it serves: "
                f"{', '.join(sorted(extractor.load_patterns))}"
            )
        return self

    @property
    def extractor_section(self) -> BaseModel | dict[str, Any] | None:
        return getattr(self, extractor_contract(self.type).section)


def _summary(exc: ValidationError) -> str:
    """A nested model's errors in one line: ``key.path: message`` each."""
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}"
        for err in exc.errors(include_url=False)
    )


# --- silver -----------------------------------------------------------------------------------------------


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
        json_schema_extra=_registry_enum(_silver_model_names),
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


# --- orchestration ----------------------------------------------------------------------------------------


class SensorConfig(StrictModel):
    type: Literal["db_watermark", "file_arrival"]
    minimum_interval_seconds: int = Field(300, ge=1)
    default_status: Literal["running", "stopped"] = "stopped"


class FreshnessConfig(StrictModel):
    """A Dagster freshness policy on both assets: fail (warn) when no materialization within the window."""

    fail_window_hours: float = Field(gt=0)
    warn_window_hours: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _warn_before_fail(self) -> FreshnessConfig:
        if self.warn_window_hours is not None and self.warn_window_hours >= self.fail_window_hours:
            raise ValueError(
                f"freshness.warn_window_hours ({self.warn_window_hours}) must be smaller than "
                f"fail_window_hours ({self.fail_window_hours})"
            )
        return self


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

    name: str | None = Field(None, description="Default <system>_<table>; [a-z][a-z0-9_]*.")
    description: str | None = None
    owners: list[str] = Field(
        default_factory=list, description="Asset owners: e-mail addresses or team names as 'team:<name>'."
    )
    source: SourceConfig
    silver: SilverConfig = Field(default_factory=SilverConfig)
    partitions: PartitionsOverride | None = None
    schedule: ScheduleConfig | None = None
    sensor: SensorConfig | None = None
    freshness: FreshnessConfig | None = None

    @field_validator("owners")
    @classmethod
    def _owner_format(cls, value: list[str]) -> list[str]:
        bad = [o for o in value if not (OWNER_EMAIL_RE.match(o) or o.startswith("team:") and len(o) > 5)]
        if bad:
            raise ValueError(
                f"owner '{bad[0]}' must be an e-mail address or a team name prefixed with 'team:' "
                f"(e.g. 'team:{bad[0]}')"
            )
        return value

    @field_validator("name")
    @classmethod
    def _name_pattern(cls, value: str | None) -> str | None:
        if value is not None and not NAME_RE.match(value):
            raise ValueError(f"name '{value}' must match [a-z][a-z0-9_]*")
        return value

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
                f"{', '.join(_models_where(lambda m: pattern in m.load_patterns))}"
            )
        for key in get_args(RequiredSilverKey):
            if key in model.requires and not getattr(silver, key):
                what = f"a silver.{key} section" if key == "cdc" else f"silver.{key}"
                raise ValueError(f"silver.model '{name}' needs {what}")
        for key in get_args(ModelOption):
            value = getattr(silver, key)
            if key not in model.options and value != SilverConfig.model_fields[key].default:
                shown = f" '{value}'" if isinstance(value, str) else ""
                users = _models_where(partial(_reads, key))
                raise ValueError(
                    f"silver.{key}{shown} has no meaning for model '{name}'; it only applies to "
                    f"{_models_phrase(users)} (remove it, or choose one of those models)"
                )
        if silver.delete_mode != "ignore" and pattern not in ("full", "cdc"):
            raise ValueError(
                f"silver.delete_mode '{silver.delete_mode}' needs load_pattern 'full' or 'cdc': "
                f"an '{pattern}' load cannot tell a deleted key from an unchanged one"
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

    @property
    def source_name(self) -> str:
        return self.name or f"{self.source.system}_{self.source.table}".lower()

    @property
    def silver_model(self) -> str:
        return self.silver.model or DEFAULT_MODEL[self.source.run.load_pattern]


def _models_where(test: Callable[[type[SilverModel]], bool]) -> list[str]:
    """The registry's models whose contract passes ``test`` (for hints; plugins that fail to load are left
    out here: they are reported where a config selects them)."""
    fits = []
    for name in _silver_model_names():
        try:
            if test(silver_model_contract(name)):
                fits.append(name)
        except ValueError:
            continue
    return fits


def _reads(key: ModelOption, model: type[SilverModel]) -> bool:
    return key in model.options


def _models_phrase(names: list[str]) -> str:
    if len(names) == 1:
        return f"model '{names[0]}'"
    return "models " + ", ".join(f"'{n}'" for n in names) if names else "no registered model"


class MedallionConfig(StrictModel):
    """The merged config of a whole config directory."""

    config_version: Literal[1] = 1
    platform: PlatformConfig
    sources: list[SourceEntry] = Field(default_factory=list)
