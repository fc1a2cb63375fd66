"""Where a dataset's data comes from: the ``sources[].source`` section and its extractor settings (DESIGN §3).

One model per extractor section (``api``, ``db``, ``file``, ``custom_extractor``) and ``run``. Which section a
``type`` needs and which load patterns it serves is the extractor class's contract
(:mod:`medallion_assets.config.contracts`).
"""

from __future__ import annotations

import re
from typing import Any, Literal, get_args

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from medallion_assets.config.base import (
    KEY_PART_RE,
    Compression,
    ExtractorSection,
    FileFormat,
    LoadPattern,
    StrictModel,
)
from medallion_assets.config.contracts import (
    errors_in_one_line,
    extractor_contract,
    extractor_types,
    registry_enum,
)
from medallion_resources.lake.schema import arrow_type_from_name

__all__ = [
    "ApiAuthConfig",
    "ApiConfig",
    "ApiIncrementalConfig",
    "ApiPaginationConfig",
    "CustomExtractorConfig",
    "DbConfig",
    "DbIncrementalConfig",
    "FileConfig",
    "RunConfig",
    "SourceConfig",
]


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


def _sql_identifier(value: str) -> str:
    """Only plain identifiers are put into SQL text: the query builder's rule, checked at load."""
    from medallion_resources.sql.query import identifier_problem  # imports SQLAlchemy: only for db sources

    problem = identifier_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


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

    @field_validator("cursor_column")
    @classmethod
    def _identifier(cls, value: str) -> str:
        return _sql_identifier(value)

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
    chunk_rows: int | None = Field(
        None,
        ge=1,
        description="Read in keyset chunks of this many rows, each in its own short transaction, so no "
        "snapshot is held for the whole extraction (not one snapshot of the table: docs/db_extractor.md).",
    )
    parallelism: int = Field(
        1,
        ge=1,
        le=16,
        description="Read this many ranges of the key's first column (numeric, date or timestamp) at once, "
        "each on its own connection.",
    )
    key_columns: list[str] | None = Field(
        None,
        description="The key chunk_rows orders by (unique, not null) and parallelism splits on (its first "
        "column). Default: the table's primary key, else a unique constraint over NOT NULL columns.",
    )

    @field_validator("table", "db_schema")
    @classmethod
    def _identifier(cls, value: str | None) -> str | None:
        return None if value is None else _sql_identifier(value)

    @model_validator(mode="after")
    def _query_or_table(self) -> DbConfig:
        if bool(self.query) == bool(self.table):
            raise ValueError("set exactly one of 'query' or 'table'")
        if bool(self.url) == bool(self.url_env):
            raise ValueError("set exactly one of 'url_env' (an environment variable with the URL) or 'url'")
        if self.query and (self.chunk_rows or self.parallelism > 1) and not self.key_columns:
            raise ValueError(
                "chunk_rows and parallelism on a 'query' need key_columns (the key cannot be read from a "
                "query; name columns that are unique and never NULL)"
            )
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
    columns: list[str] | dict[str, str] | None = Field(
        None,
        description="Column names (no header) or a projection; a mapping name: type (csv/tsv) also types "
        "them, with Arrow type names: int64, float64, bool, string, date32, timestamp[us], decimal(18,2).",
    )
    required: bool = Field(True, description="No matching file: error when true, empty partition when false.")
    allow_empty: bool = Field(
        False,
        description="A file with no content at all (0 bytes): an error when false, no rows when true. A "
        "header-only csv is never an error: it is an empty snapshot with its columns.",
    )
    infer_types: bool = Field(
        False,
        description="csv/tsv: let Arrow infer column types from the first block instead of landing every "
        "column as text (docs/file_extractor.md).",
    )
    max_field_mb: float = Field(
        64.0, gt=0, description="csv/tsv: the longest row (and field) the reader accepts, in MiB."
    )
    on_bad_lines: Literal["error", "quarantine"] = Field(
        "error",
        description="A malformed csv row or jsonl line: fail the file (error), or land it under the Bronze "
        "partition's _errors/ with its line number and reason (quarantine), within silver.error_handling.",
    )

    @field_validator("columns")
    @classmethod
    def _column_types(cls, value: list[str] | dict[str, str] | None) -> list[str] | dict[str, str] | None:
        if isinstance(value, dict):
            unknown = {name: kind for name, kind in value.items() if arrow_type_from_name(kind) is None}
            if unknown:
                shown = ", ".join(f"{name}: {kind!r}" for name, kind in unknown.items())
                raise ValueError(
                    f"unknown column type(s) {shown}; use Arrow type names such as int64, float64, bool, "
                    "string, date32, timestamp[us], timestamp[us, tz=UTC], decimal(18,2)"
                )
        return value

    @model_validator(mode="after")
    def _typed_columns_need_csv(self) -> FileConfig:
        if isinstance(self.columns, dict) and self.format not in (None, "csv", "tsv"):
            raise ValueError(f"columns with types apply to csv/tsv files, not format '{self.format}'")
        if isinstance(self.columns, dict) and self.infer_types:
            raise ValueError("set either columns with types or infer_types: true, not both")
        return self

    @property
    def column_names(self) -> list[str] | None:
        """The names of ``columns`` (a list, or a mapping's keys)."""
        return None if self.columns is None else list(self.columns)


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
    max_delete_fraction: float = Field(
        0.5,
        ge=0,
        le=1,
        description="load_pattern full with silver.delete_mode hard_delete or tombstone: fail the day (and "
        "keep the previous commit) when it would delete more than this fraction of the live keys of Silver "
        "D-1, e.g. after an empty or truncated snapshot; 1.0 turns the guard off.",
    )


class SourceConfig(StrictModel):
    """Where the data comes from (``sources[].source``)."""

    system: str
    table: str
    type: str = Field(
        description="api | db | file | custom | a registered extractor type (plugin).",
        json_schema_extra=registry_enum(extractor_types),
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
                raise ValueError(f"options of type '{self.type}': {errors_in_one_line(exc)}") from None
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
