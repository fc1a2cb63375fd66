"""Where a dataset's data comes from: the ``sources[].source`` section and its extractor settings (DESIGN §3).

One model per extractor section (``api``, ``db``, ``file``, ``custom_extractor``) and ``run``. Which section a
``type`` needs and which load patterns it serves is the extractor class's contract
(:mod:`medallion_assets.config.contracts`).
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable
from typing import Any, Literal, get_args

import pyarrow as pa
from pydantic import BaseModel, Field, PrivateAttr, ValidationError, field_validator, model_validator

from medallion_assets import templates
from medallion_assets.config.base import (
    CHANGE_PATTERNS,
    KEY_PART_RE,
    Compression,
    ExtractorSection,
    FileFormat,
    LoadPattern,
    StrictModel,
    check_column_names,
    check_name_length,
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
    """How requests authenticate; every secret is read from the environment variable a ``*_env`` key names."""

    type: Literal["none", "bearer", "basic", "api_key", "oauth2_client_credentials"] = Field(
        "none", description="Authentication scheme; each needs its own keys below."
    )
    token_env: str | None = Field(None, description="bearer: env var with the token.")
    username_env: str | None = Field(None, description="basic: env var with the user name.")
    password_env: str | None = Field(None, description="basic: env var with the password.")
    key_env: str | None = Field(None, description="api_key: env var with the key.")
    key_header: str | None = Field(None, description="api_key: send the key in this header ...")
    key_param: str | None = Field(None, description="api_key: ... or in this query parameter.")
    token_url: str | None = Field(None, description="oauth2_client_credentials: the token endpoint URL.")
    client_id_env: str | None = Field(None, description="oauth2: env var with the client id.")
    client_secret_env: str | None = Field(
        None, description="oauth2_client_credentials: env var with the client secret."
    )
    scope: str | None = Field(None, description="oauth2_client_credentials: the scope requested, if any.")

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
    """How the next page is requested, and when the last one has been read (docs/extractors_api.md)."""

    type: Literal["none", "offset", "page", "cursor", "link_header", "next_url"] = Field(
        "none", description="Pagination scheme: one request, or one of the paginators."
    )
    page_size: int = Field(100, ge=1, description="Records asked for per page (offset, page).")
    offset_param: str = Field("offset", description="offset: query parameter of the offset.")
    limit_param: str = Field("limit", description="offset: query parameter of the page size.")
    page_param: str = Field("page", description="page: query parameter of the page number.")
    page_size_param: str | None = Field(
        "page_size", description="page: query parameter of the page size; null: not sent."
    )
    start_page: int = Field(1, description="page: number of the first page (0 or 1).")
    cursor_param: str = Field("cursor", description="cursor: query parameter the next cursor is sent in.")
    cursor_path: str | None = Field(None, description="cursor: dot path of the next cursor in a response.")
    initial_cursor: str | None = Field(None, description="cursor: cursor of the first request, if any.")
    next_url_path: str | None = Field(None, description="next_url: dot path of the next page's URL.")
    total_path: str | None = Field(
        None,
        description="Dot path of the total record count in a response: stops paging, and Bronze's "
        "row_count_matches_source check compares the rows landed with it.",
    )
    has_more_path: str | None = Field(None, description="Dot path of a boolean 'more pages follow' flag.")
    max_pages: int | None = Field(None, ge=1, description="Stop after this many pages (a safety cap).")

    @model_validator(mode="after")
    def _needed_paths(self) -> ApiPaginationConfig:
        if self.type == "cursor" and not self.cursor_path:
            raise ValueError("pagination type 'cursor' needs cursor_path")
        if self.type == "next_url" and not self.next_url_path:
            raise ValueError("pagination type 'next_url' needs next_url_path")
        return self


class ApiIncrementalConfig(StrictModel):
    """Incremental API loads: the largest cursor value landed is the next run's ``{watermark}``."""

    cursor_field: str = Field(description="Record field whose largest value becomes watermark_out.")
    param: str | None = Field(None, description="Query parameter the watermark is sent in, if any.")
    initial_value: str | None = Field(None, description="Watermark of the first partition.")


def _template_fields(value: str, key: str, allowed: tuple[str, ...]) -> str:
    """Refuse a ``{name}`` in ``value`` that is no template field (a typo, else used as written)."""
    unknown = templates.unknown_fields(value, allowed)
    if unknown:
        names = ", ".join(f"{{{name}}}" for name in allowed)
        raise ValueError(
            f"unknown template field '{unknown[0]}' in {key}; allowed: {names}, a date field with an "
            "optional strftime format ({run_date:%Y%m%d})"
        )
    if bad := templates.unknown_directives(value):
        directive, field = bad[0]
        raise ValueError(
            f"'{directive}' in '{field}' is not a strftime directive, so {key} would hold it as written "
            "and name no file; use %Y, %m, %d, %H, %j, ... (Python's strftime), and write %% for a literal %"
        )
    return value


ENV_SECRET_LENGTH = 8
"""Shorter values substituted into ``api:`` are no secret (a page size, a region): masking them as free text
would shred every message."""


class ApiConfig(StrictModel):
    """A REST API source (``type: api``): one batch per page (docs/extractors_api.md)."""

    base_url: str = Field(
        description="Scheme and host (and a base path), e.g. https://api.example.com/v1; no user-info "
        "(credentials go in auth)."
    )
    endpoint: str = Field(
        "/", description="Path after base_url; may hold {run_date}, {window_start}, {window_end}, {watermark}"
    )
    method: Literal["GET", "POST"] = Field("GET", description="HTTP method of every request.")

    params: dict[str, Any] = Field(
        default_factory=dict, description="Query parameters; values may hold the template fields."
    )
    headers: dict[str, str] = Field(
        default_factory=dict, description="Extra request headers (no secrets: use auth)."
    )
    body: dict[str, Any] | list[Any] | None = Field(
        None, description="JSON body of a POST; values may hold the template fields."
    )
    data_path: str | None = Field(
        None, description="Dot path of the record list in a response; unset: the response is the list."
    )
    allow_empty: bool = Field(
        False,
        description="A first page with no record list at all (null at data_path, a null body, an HTTP 204, "
        "or data_path left out of a body without an error envelope, as Google's APIs do): an error "
        "when false, no rows when true. An empty list (or an empty object) is never an error: it is a run "
        "without records.",
    )
    auth: ApiAuthConfig = Field(default_factory=ApiAuthConfig, description="How requests authenticate.")
    pagination: ApiPaginationConfig = Field(
        default_factory=ApiPaginationConfig, description="How pages are requested."
    )
    rate_limit_rps: float | None = Field(
        None, ge=0, description="0: no limit. Default: platform.defaults.http."
    )
    burst: int | None = Field(None, ge=1, description="Default: platform.defaults.http.")
    max_retries: int | None = Field(None, ge=0, description="Default: platform.defaults.http.")
    timeout_seconds: float | None = Field(None, gt=0, description="Default: platform.defaults.http.")
    retry_backoff_seconds: float | None = Field(None, ge=0, description="Default: platform.defaults.http.")
    use_async: bool = Field(False, description="Fetch pages with the async client, prefetching ahead.")
    prefetch_pages: int = Field(2, ge=1, description="use_async: pages requested ahead of the one read.")
    incremental: ApiIncrementalConfig | None = Field(
        None, description="Incremental loads: the cursor field and how the watermark is sent."
    )
    # The values ``${VAR}`` substitution put into this section (``config.loader``): how a credential that no
    # ``auth`` type carries reaches the request (a token in the path): masked like the auth's secrets.
    _env_values: tuple[str, ...] = PrivateAttr(default=())

    @property
    def env_values(self) -> tuple[str, ...]:
        """The values substituted from the environment into this section that count as secrets: at least
        ``ENV_SECRET_LENGTH`` characters and no URL (``base_url: ${API_URL}`` is an address: a credential
        in it is masked by the URL rules of ``medallion_resources.redact``)."""
        return self._env_values

    def remember_env_values(self, substituted: Iterable[str]) -> None:
        """Keep those of ``substituted`` (every value the config file's ``${VAR}`` references took) that
        appear in this section (``env_values``)."""
        texts = [*_strings(self.model_dump())]
        self._env_values = tuple(
            sorted(
                value
                for value in set(substituted)
                if len(value) >= ENV_SECRET_LENGTH
                and "://" not in value
                and any(value in text for text in texts)
            )
        )

    @field_validator("base_url")
    @classmethod
    def _no_credentials(cls, value: str) -> str:
        """A URL's user-info is a credential (httpx sends it as Basic auth): it belongs in the environment,
        as ``db.url``'s password does. The value is not repeated (it is the secret)."""
        if re.search(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*@", value):
            raise ValueError(
                "'base_url' holds credentials (user-info before '@'): remove them and set auth: "
                "{type: basic, username_env: ..., password_env: ...} (or type bearer with token_env, "
                "api_key with key_env)"
            )
        return value

    @field_validator("endpoint")
    @classmethod
    def _endpoint_fields(cls, value: str) -> str:
        """A URL path has no use for braces: any other ``{...}`` is a typo (``params``, ``body`` keep it)."""
        return _template_fields(value, "api.endpoint", templates.FIELDS)

    @property
    def dated_request(self) -> bool:
        """Whether the request names its day (``{run_date}``, ``{window_start}``, ``{window_end}`` in
        ``endpoint``, ``params`` or ``body``): each partition then asks for its own day."""
        request = [self.endpoint, *_strings(self.params), *_strings(self.body)]
        return any(templates.has_date_field(text) for text in request)


def _sql_identifier(value: str) -> str:
    """Only plain identifiers are put into SQL text: the query builder's rule, checked at load."""
    from medallion_resources.sql.query import identifier_problem  # imports SQLAlchemy: only for db sources

    problem = identifier_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


_SECONDS = {"s": 1, "m": 60, "h": 3_600, "d": 86_400}
_MAX_LOOKBACK_DAYS = 36_500


class DbIncrementalConfig(StrictModel):
    """Incremental SQL loads: which rows a partition reads (docs/db_extractor.md)."""

    cursor_column: str = Field(description="Column that orders changes (an updated_at timestamp, an id).")
    mode: Literal["window", "watermark"] = Field(
        "watermark",
        description="window: rows whose cursor lies in the partition's day; watermark: rows past the last "
        "committed watermark_out.",
    )
    lookback: str | None = Field(
        None,
        description="Duration such as '2h' or '1d': window mode re-reads this far before the window, "
        "watermark mode this far below the watermark (re-read rows that already landed are dropped); at most "
        "36500 days.",
    )
    initial_value: str | None = Field(
        None, description="Watermark mode: the first partition reads cursor > this value."
    )
    commit_horizon: bool = Field(
        True,
        description="Watermark mode on PostgreSQL and MariaDB/MySQL: never read past the start of the oldest "
        "open transaction (see docs/db_extractor.md); false reads up to the partition end and relies on "
        "lookback alone.",
    )

    @field_validator("cursor_column")
    @classmethod
    def _identifier(cls, value: str) -> str:
        return _sql_identifier(value)

    @field_validator("lookback")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        match = re.fullmatch(r"(\d+)\s*([smhd])", value) if value is not None else None
        if value is not None and match is None:
            raise ValueError(f"lookback '{value}' must be a number and a unit s, m, h or d, e.g. '2h'")
        # A century at most: a read window starting before year 1 failed the run with "OverflowError: date
        # value out of range".
        if match is not None and int(match[1]) * _SECONDS[match[2]] > _MAX_LOOKBACK_DAYS * 86_400:
            raise ValueError(f"lookback '{value}' is longer than {_MAX_LOOKBACK_DAYS} days (a century)")
        return value


class DbConfig(StrictModel):
    """A SQL database source (``type: db``): a table or a query, streamed in batches."""

    url_env: str | None = Field(None, description="Environment variable holding the SQLAlchemy URL.")
    url: str | None = Field(
        None,
        description="A SQLAlchemy URL without credentials, e.g. sqlite:///data/shop.db (a relative SQLite "
        "path is resolved like file paths); anything with a password goes in url_env.",
    )
    query: str | None = Field(
        None,
        description="A SELECT to run instead of reading a whole table; sent as written (no template fields).",
    )
    table: str | None = Field(None, description="Table to read (validated identifier).")
    db_schema: str | None = Field(None, alias="schema", description="Schema of the table.")
    fetch_batch_size: int = Field(50_000, ge=1, description="Rows fetched per batch (per Arrow batch).")
    engine: Literal["auto", "sqlalchemy", "adbc", "connectorx"] = Field(
        "auto", description="auto: ADBC for PostgreSQL where installed, else SQLAlchemy."
    )
    incremental: DbIncrementalConfig | None = Field(
        None,
        description="Incremental loads (window or watermark), needed by load_pattern incremental; unset: "
        "every run reads everything.",
    )
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

    @field_validator("query")
    @classmethod
    def _no_template_fields(cls, value: str | None) -> str | None:
        field = next(templates.fields(value), None) if value else None
        if field is not None:
            raise ValueError(
                f"db.query holds the template field '{field.text}', but a query is sent to the database as "
                "written (no template fields); select each partition's rows with db.incremental (mode: "
                "window reads the rows whose cursor_column lies in the partition's day)"
            )
        return value

    @field_validator("key_columns")
    @classmethod
    def _key_identifiers(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            check_column_names("db.key_columns", value)
            for name in value:
                _sql_identifier(name)
        return value

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


TAB_SPELLINGS = ("\\t", "tab")  # file.delimiter: ways to write a tab in YAML without a literal tab


class FileConfig(StrictModel):
    """A file source (``type: file``): CSV, TSV, JSON, JSON lines or Parquet, local or in an object store."""

    path: str = Field(
        description="Local path or fsspec URL; globs, and the template fields {run_date}, {window_start}, "
        "{window_end}, each with an optional strftime format ({run_date:%Y%m%d}); other {...} is an error."
    )
    format: FileFormat | None = Field(None, description="Default: from the file extension.")
    delimiter: str | None = Field(
        None,
        description="CSV field separator, one character ('\\t' or 'tab': a tab); default ',' (tab for tsv).",
    )
    encoding: str = Field(
        "utf-8", description="Text encoding of csv, tsv and json files (a Python codec name)."
    )
    has_header: bool = Field(True, description="csv/tsv: the first line holds the column names.")
    json_path: str | None = Field(None, description="Dot path to the record list inside a JSON document.")
    columns: list[str] | dict[str, str] | None = Field(
        None,
        description="Column names (no header) or a projection, each name once; a mapping name: type "
        "(csv/tsv) also types them, with Arrow type names: int64, float64, bool, string, date32, "
        "timestamp[us], decimal(18,2).",
    )
    required: bool = Field(True, description="No matching file: error when true, empty partition when false.")
    allow_empty: bool = Field(
        False,
        description="A file with no content (0 bytes, or csv/tsv/json of only blank lines): an error when "
        "false, no rows when true. A header-only csv is never an error: it is an empty snapshot with its "
        "columns.",
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

    @field_validator("path")
    @classmethod
    def _known_fields(cls, value: str) -> str:
        return _template_fields(value, "file.path", templates.DATE_FIELDS)

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(
                f"unknown encoding '{value}'; use a Python codec name such as utf-8, utf-16, latin-1 or "
                "cp1252"
            ) from None
        return value

    @field_validator("delimiter")
    @classmethod
    def _one_character(cls, value: str | None) -> str | None:
        if value is not None and value not in TAB_SPELLINGS and len(value) != 1:
            raise ValueError(
                f"delimiter {value!r} must be exactly one character (write '\\t' or 'tab' for a tab)"
            )
        return value

    @field_validator("columns")
    @classmethod
    def _column_types(cls, value: list[str] | dict[str, str] | None) -> list[str] | dict[str, str] | None:
        if value is not None:
            check_column_names("file.columns", list(value))
        if isinstance(value, dict):
            unknown = {name: kind for name, kind in value.items() if arrow_type_from_name(kind) is None}
            if unknown:
                shown = ", ".join(f"{name}: {kind!r}" for name, kind in unknown.items())
                raise ValueError(
                    f"unknown column type(s) {shown}; use Arrow type names such as int64, float64, bool, "
                    "string, date32, timestamp[us], timestamp[us, tz=UTC], decimal(18,2)"
                )
            for name, kind in value.items():  # (Arrow takes it; the Parquet write of Bronze failed)
                data_type = arrow_type_from_name(kind)
                if (
                    data_type is not None
                    and pa.types.is_decimal(data_type)
                    and data_type.scale > data_type.precision
                ):
                    scale = data_type.scale
                    raise ValueError(
                        f"type '{kind}' for column '{name}': a decimal needs a scale of at most its "
                        f"precision (the digits in all), e.g. decimal({scale + 2},{scale})"
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
    """A user's own ``Extractor`` subclass (``type: custom``), found by module path or entry point."""

    module: str | None = Field(None, description="Importable module of the extractor class.")
    class_name: str | None = Field(None, description="Name of the Extractor subclass in module.")
    entry_point: str | None = Field(None, description="Name in the 'medallion.extractors' entry point group.")
    options: dict[str, Any] = Field(default_factory=dict, description="Handed to the class as is.")

    @model_validator(mode="after")
    def _module_or_entry_point(self) -> CustomExtractorConfig:
        if self.entry_point and (self.module or self.class_name):
            raise ValueError("set either entry_point or module + class_name, not both")
        if not self.entry_point and not (self.module and self.class_name):
            raise ValueError("set module and class_name, or entry_point")
        return self


class RunConfig(StrictModel):
    """How a Bronze partition is loaded and written."""

    load_pattern: LoadPattern = Field(
        "full",
        description="full: a whole snapshot per run; incremental: changed rows; cdc: change operations; "
        "current_history: changed rows kept as SCD2 history.",
    )
    max_rows_per_file: int | None = Field(
        None, ge=1, description="Rows per Bronze part file; default: platform.bronze.output_defaults."
    )
    max_file_size_mb: float | None = Field(
        None, gt=0, description="In-memory MiB per Bronze part; default: platform.bronze.output_defaults."
    )
    parquet_compression: Compression | None = Field(
        None, description="Parquet codec of Bronze part files; default: platform.bronze.output_defaults."
    )
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

    system: str = Field(description="Source system: the asset key bronze/<system>/<table> and folder name.")
    table: str = Field(description="Table or dataset within the system.")
    type: str = Field(
        description="api | db | file | custom | a registered extractor type (plugin).",
        json_schema_extra=registry_enum(extractor_types),
    )
    api: ApiConfig | None = Field(None, description="Settings of type api.")
    db: DbConfig | None = Field(None, description="Settings of type db.")
    file: FileConfig | None = Field(None, description="Settings of type file.")
    custom_extractor: CustomExtractorConfig | None = Field(None, description="Settings of type custom.")
    options: dict[str, Any] | None = Field(
        None, description="Settings of a plugin extractor type, checked by its class's options_model."
    )
    run: RunConfig = Field(default_factory=RunConfig, description="Load pattern and Bronze part files.")

    @field_validator("system", "table")
    @classmethod
    def _key_part(cls, value: str) -> str:
        if not KEY_PART_RE.match(value):
            raise ValueError(f"{value!r} must be letters, digits and underscores, not starting with a digit")
        return check_name_length(value)

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
        if pattern in CHANGE_PATTERNS:
            self._selects_each_run(pattern)
        if pattern == "full":
            self._reads_the_whole_table()
        return self

    def _selects_each_run(self, pattern: str) -> None:
        """A db or api source loading changes (``incremental``, ``cdc``, ``current_history``) must say which
        rows a run reads, or each run reads everything and Silver takes all of it as that day's changes
        (a ``cdc`` change log applied again every day, its Bronze growing by the whole log each day).

        A db source says it with ``db.incremental`` (a query takes no template fields); an api source with
        ``api.incremental`` or a date field in the request. A file source is not held to it: a fixed path
        may be a file its producer replaces with each day's changes, which the config cannot tell.
        """
        if self.type == "db" and self.db is not None and self.db.incremental is None:
            read = "query" if self.db.query else f"table '{self.db.table}'"
            raise ValueError(
                f"run.load_pattern '{pattern}' needs db.incremental: without it every run reads the whole "
                f"{read}, and Silver takes all of it as that day's changes; add db.incremental with a cursor "
                "column ({cursor_column: updated_at, mode: window}), or use load_pattern: full"
            )
        if self.type == "api" and self.api is not None and self.api.incremental is None:
            if not self.api.dated_request:
                raise ValueError(
                    f"run.load_pattern '{pattern}' needs api.incremental or a date field in the request: "
                    "without either every run requests the same data, and Silver takes all of it as that "
                    "day's changes; add api.incremental with a cursor_field, put {run_date} (or "
                    "{window_start}, {window_end}) in api.endpoint, params or body, or use load_pattern: full"
                )

    def _reads_the_whole_table(self) -> None:
        """A full db or api source must read the whole table each run: past a watermark it reads only the
        changes, and Silver takes a full load as the whole table (the keys missing from it as deleted).

        ``db.incremental`` in ``window`` mode stays: a table holding a snapshot per day, selected by its
        snapshot date, is a full load of that day. ``api.incremental`` has no such mode: its cursor is a
        watermark, and its boundary dedupe drops records a previous run landed.
        """
        why = "and Silver takes a full load as the whole table: the keys missing from it count as deleted"
        if self.type == "db" and self.db is not None and self.db.incremental is not None:
            if self.db.incremental.mode == "watermark":
                raise ValueError(
                    "run.load_pattern 'full' with db.incremental.mode 'watermark': each run reads only the "
                    f"rows changed since the previous one, {why}; use load_pattern: incremental, or mode: "
                    "window for a table that keeps a snapshot per day selected by a date column"
                )
        if self.type == "api" and self.api is not None and self.api.incremental is not None:
            raise ValueError(
                "run.load_pattern 'full' with api.incremental: each run reads a change feed (it sends the "
                "previous run's watermark, and drops the records at it that the previous run landed), "
                f"{why}; use load_pattern: incremental, or remove api.incremental (a snapshot per day may "
                "put {run_date} in the request)"
            )

    @property
    def extractor_section(self) -> BaseModel | dict[str, Any] | None:
        return getattr(self, extractor_contract(self.type).section)


def _strings(value: Any) -> list[str]:
    """Every string in an ``api.params`` or ``api.body`` value, nested mappings and lists included."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in _strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return []
