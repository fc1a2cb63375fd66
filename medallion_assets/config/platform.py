"""The ``platform`` section: storage of each layer, connections, output and partition defaults (DESIGN §3)."""

from __future__ import annotations

import re
from datetime import date
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from medallion_assets.config.base import NAME_RE, Compression, StrictModel
from medallion_assets.config.cron import check_cron

__all__ = [
    "AzureConnectionConfig",
    "DefaultsConfig",
    "HttpDefaultsConfig",
    "LayerStorageConfig",
    "OutputDefaultsConfig",
    "PartitionsConfig",
    "PartitionsOverride",
    "PlatformConfig",
    "S3ConnectionConfig",
    "ScheduleConfig",
    "check_start_date",
    "check_timezone",
]


class OutputDefaultsConfig(StrictModel):
    """How part files are cut and compressed."""

    max_rows_per_file: int = Field(100_000, ge=1, description="Rows per Parquet part file at most.")
    max_file_size_mb: float = Field(
        256.0, gt=0, description="Cap on the in-memory (Arrow) size of one part file, in MiB."
    )
    parquet_compression: Compression = Field("zstd", description="Parquet codec of every part file.")
    parquet_compression_level: int | None = Field(
        1, description="Codec level (zstd 1 is ~1.7x faster than the default at a similar size)."
    )


class LayerStorageConfig(StrictModel):
    """Where one layer (Bronze or Silver) is stored; ``storage_backend`` picks a registered backend."""

    storage_backend: str = Field("local", description="local | s3 | azure | any registered backend name.")
    local_path: str | None = Field(None, description="Root folder for the local backend (a path, not a URL).")
    s3_bucket: str | None = Field(None, description="Bucket name of the s3 backend (not a URL).")
    s3_prefix: str = Field("", description="Key prefix (folder) inside the bucket.")
    azure_container: str | None = Field(None, description="Container name for the azure backend (not a URL).")
    azure_prefix: str = Field("", description="Blob prefix (folder) inside the container.")
    options: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            "Backend settings (no secrets). s3: upload_concurrency, multipart_chunksize_mb, retry; "
            "azure: upload_concurrency, retry; plugins read their own. See docs/storage.md."
        ),
    )
    output_defaults: OutputDefaultsConfig = Field(
        default_factory=OutputDefaultsConfig,
        description="How this layer's part files are cut and compressed (a source's run section overrides).",
    )

    @field_validator("local_path")
    @classmethod
    def _a_folder(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("storage_backend") == "local":
            check_local_path(value)
        return value

    @field_validator("s3_bucket")
    @classmethod
    def _a_bucket(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None:
            check_s3_bucket(value, named=info.data.get("storage_backend") == "s3")
        return value

    @field_validator("azure_container")
    @classmethod
    def _a_container(cls, value: str | None) -> str | None:
        if value is not None:
            check_not_a_url("azure_container", value)
        return value

    @field_validator("s3_prefix", "azure_prefix")
    @classmethod
    def _a_prefix(cls, value: str, info: ValidationInfo) -> str:
        check_not_a_url(str(info.field_name), value)
        return value

    @model_validator(mode="after")
    def _backend_settings_present(self) -> LayerStorageConfig:
        required = {"local": "local_path", "s3": "s3_bucket", "azure": "azure_container"}
        key = required.get(self.storage_backend)
        if key and not getattr(self, key):
            raise ValueError(f"storage_backend '{self.storage_backend}' needs '{key}'")
        return self


# --- what storage keys hold: a bucket, container or folder, never a URL -----------------------------------

_URL_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://(.*)", re.DOTALL)
_S3_SCHEMES = ("s3", "s3a", "s3n")
_AZURE_SCHEMES = ("abfs", "abfss", "az", "adl", "wasb", "wasbs")
# What any S3 bucket name is made of: AWS creates new ones of 3-63 lowercase letters, digits, '.' and '-',
# but older buckets (and S3-compatible stores) have capitals and '_', up to 255 characters, and still serve.
_S3_BUCKET_RE = re.compile(r"[A-Za-z0-9._-]{3,255}")
_S3_BUCKET_RULES = "a bucket name is 3 to 255 letters, digits, '.', '-' and '_' (AWS's new buckets: 3 to 63)"


def _store_and_folder(value: str) -> tuple[str, str, str] | None:
    """``(kind, bucket or container, folder inside it)`` of an ``s3://``/``abfs://``-style URL, else None."""
    found = _URL_RE.fullmatch(value)
    if found is None:
        return None
    scheme, rest = found.group(1).lower(), found.group(2)
    store, _, folder = rest.partition("/")
    if scheme in _S3_SCHEMES:
        return "s3", store, folder.strip("/")
    if scheme in _AZURE_SCHEMES:  # abfss://<container>@<account>.dfs.core.windows.net/<path>
        return "azure", store.partition("@")[0], folder.strip("/")
    return scheme, store, folder.strip("/")


def _spelled(kind: str, store: str, folder: str) -> str:
    """The keys that say what a URL of ``kind`` says, e.g. ``s3_bucket: lake, s3_prefix: bronze``."""
    if kind == "s3":
        return f"s3_bucket: {store}" + (f", s3_prefix: {folder}" if folder else "")
    return f"azure_container: {store}" + (f", azure_prefix: {folder}" if folder else "")


def check_not_a_url(key: str, value: str) -> None:
    """Refuse a URL in ``s3_bucket``/``s3_prefix``/``azure_container``/``azure_prefix``: they hold names."""
    parts = _store_and_folder(value)
    if parts is None:
        return
    kind, store, folder = parts
    expected = "s3" if key.startswith("s3_") else "azure"
    what = {"s3": "the bucket name", "azure": "the container name"}[expected]
    if kind == expected:
        fix = f"write {what} only: {_spelled(kind, store, folder)}"
    else:
        prefix = "s3_prefix" if expected == "s3" else "azure_prefix"
        fix = f"write {what} only, and the folder inside it in {prefix}"
    if kind == "azure" and "@" in value:
        fix += " (the account comes from platform.azure_connection)"
    raise ValueError(f"{key} '{value}' is a URL; {fix}")


def check_s3_bucket(value: str, *, named: bool) -> None:
    """Refuse a URL or a path in ``s3_bucket``, and (``named``: the s3 backend) a name S3 does not allow."""
    check_not_a_url("s3_bucket", value)
    if "/" in value:
        store, _, folder = value.partition("/")
        raise ValueError(
            f"s3_bucket '{value}' holds a '/'; a bucket name has none: write {_spelled('s3', store, folder)}"
        )
    if named and not _S3_BUCKET_RE.fullmatch(value):
        raise ValueError(f"s3_bucket '{value}' is not an S3 bucket name; {_S3_BUCKET_RULES}")


def check_local_path(value: str) -> None:
    """Refuse a URL as the local backend's folder (it would be a folder named like it, e.g. ``./s3:/b``)."""
    parts = _store_and_folder(value)
    if parts is None:
        return
    kind, store, folder = parts
    if kind in ("s3", "azure"):
        fix = f"use storage_backend: {kind} with {_spelled(kind, store, folder)}"
    elif kind == "file":
        fix = f"write the folder itself: local_path: {value[len('file://') :]}"
    else:
        fix = "use the storage_backend of that store, or give a folder"
    raise ValueError(f"local_path '{value}' is a URL, but the local backend writes to a folder; {fix}")


class S3ConnectionConfig(StrictModel):
    """Names of the environment variables that hold S3 settings; never the secrets themselves."""

    endpoint_url_env: str | None = Field(
        None, description="Env var with the endpoint URL of an S3-compatible store (MinIO, moto); unset: AWS."
    )
    access_key_env: str | None = Field(None, description="Env var with the access key id.")
    secret_key_env: str | None = Field(None, description="Env var with the secret access key.")
    session_token_env: str | None = Field(None, description="Env var with a session token (temporary keys).")
    region: str | None = Field(None, description="AWS region, e.g. us-east-1.")
    profile: str | None = Field(None, description="A profile of ~/.aws/config to take credentials from.")
    addressing_style: Literal["auto", "path", "virtual"] = Field(
        "auto", description="Bucket addressing: 'path' for most S3-compatible stores, 'virtual' for AWS."
    )
    verify_ssl: bool = Field(True, description="Verify the endpoint's TLS certificate.")


class AzureConnectionConfig(StrictModel):
    """Names of the environment variables that hold Azure settings; never the secrets themselves."""

    connection_string_env: str | None = Field(None, description="Env var with a storage connection string.")
    account_name_env: str | None = Field(None, description="Env var with the storage account name.")
    account_key_env: str | None = Field(None, description="Env var with the storage account key.")
    sas_token_env: str | None = Field(None, description="Env var with a SAS token.")
    account_url: str | None = Field(
        None,
        description="Account URL https://<host>, e.g. https://<account>.blob.core.windows.net (not a "
        "secret); a blob host of that form names the account, so account_name_env may be left out.",
    )
    tenant_id_env: str | None = Field(None, description="Env var with the Entra ID tenant id.")
    client_id_env: str | None = Field(None, description="Env var with the service principal's client id.")
    client_secret_env: str | None = Field(None, description="Env var with the service principal's secret.")
    use_default_credential: bool = Field(
        False, description="Use azure-identity's DefaultAzureCredential (managed identity, az CLI)."
    )

    @field_validator("account_url")
    @classmethod
    def _an_https_blob_host(cls, value: str | None) -> str | None:
        from medallion_resources.storage.azure import account_url_problem

        problem = account_url_problem(value) if value else None  # '' (e.g. ${URL:}) is no URL: unset
        if problem:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _an_account_to_connect_to(self) -> AzureConnectionConfig:
        """adlfs connects to an account by its name: account_name_env's variable, or the account_url's."""
        from medallion_resources.storage.azure import account_of_url

        url = self.account_url
        if url and not (self.account_name_env or self.connection_string_env) and not account_of_url(url):
            raise ValueError(
                f"account_url '{url}' does not name the account (a host https://<account>.blob.core."
                "<cloud suffix> does), and account_name_env is not set; set account_name_env too, to the "
                "variable holding the account name"
            )
        return self


def check_timezone(value: str | None) -> str | None:
    """Reject a timezone name the IANA database does not know (shared by every ``timezone`` key)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if value is None:
        return value
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        from difflib import get_close_matches
        from zoneinfo import available_timezones

        names = sorted(available_timezones())
        close = [n for n in names if n.lower() == value.lower()] or get_close_matches(value, names, n=1)
        hint = f"did you mean '{close[0]}'?" if close else "use an IANA name such as 'UTC' or 'Europe/Berlin'"
        raise ValueError(f"unknown timezone '{value}' ({hint})") from exc
    return value


# The first and last start_date Dagster's daily partitions hold: before year 1000 it writes a partition key
# it cannot parse back ('100-01-01'), and the day after 9999-12-31 is out of range.
FIRST_START_DATE, LAST_START_DATE = date(1000, 1, 1), date(9999, 12, 30)
# end_offset days past today: a century. Past about 2.9 million, the last partition is after 9999-12-31 and
# the Definitions failed to load ("OverflowError: date value out of range").
MAX_END_OFFSET = 36_500


def start_date_not_a_number(value: Any) -> Any:
    """Before parsing: pydantic reads a number as seconds since 1970 (``1735689600`` would be 2025-01-01, and
    ``20250101`` fails as "not an exact date"); a ``start_date`` is written as a date."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(
            f"start_date {value} is a number, not a date: write the date as YYYY-MM-DD, e.g. 2025-01-01"
        )
    return value


def check_start_date(value: date | None) -> date | None:
    """Reject a ``start_date`` the code location could not load with (shared by every ``start_date``)."""
    if value is not None and not FIRST_START_DATE <= value <= LAST_START_DATE:
        where = f"before {FIRST_START_DATE}" if value < FIRST_START_DATE else f"after {LAST_START_DATE}"
        raise ValueError(
            f"start_date {value.isoformat()} is {where}, outside what Dagster's daily partitions hold "
            "(check the year: YYYY-MM-DD)"
        )
    return value


class PartitionsConfig(StrictModel):
    """The daily partitions of a source: first date, timezone and how many days ahead the last one is."""

    start_date: date = Field(
        date(2025, 1, 1), description="First partition (run date), 1000-01-01 to 9999-12-30."
    )
    timezone: str = Field("UTC", description="IANA timezone the day boundaries are in.")
    end_offset: int = Field(
        0,
        ge=0,
        le=MAX_END_OFFSET,
        description="1 adds today's (still open) partition, for sensors; at most 36500.",
    )

    _start_date = field_validator("start_date")(check_start_date)
    _start_date_written = field_validator("start_date", mode="before")(start_date_not_a_number)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str | None:
        return check_timezone(value)


class PartitionsOverride(StrictModel):
    """Per-source override of ``platform.defaults.partitions``; unset keys inherit."""

    start_date: date | None = Field(
        None, description="First partition (run date) of this source, 1000-01-01 to 9999-12-30."
    )
    timezone: str | None = Field(None, description="IANA timezone of this source's day boundaries.")
    end_offset: int | None = Field(
        None, ge=0, le=MAX_END_OFFSET, description="1 adds today's (still open) partition; at most 36500."
    )

    _start_date = field_validator("start_date")(check_start_date)
    _start_date_written = field_validator("start_date", mode="before")(start_date_not_a_number)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str | None) -> str | None:
        return check_timezone(value)


class ScheduleConfig(StrictModel):
    """A daily schedule: a tick on day X materializes partition X-1."""

    cron: str = Field(
        "0 2 * * *",
        description="Cron expression of the tick: minute (0-59) hour (0-23) day-of-month (1-31) month "
        "(1-12, JAN-DEC) day-of-week (0-7, SUN-SAT); items '*', N, A-B, */S, A-B/S, comma-separated.",
    )
    timezone: str | None = Field(None, description="Timezone of the cron (default: the partitions').")
    default_status: Literal["running", "stopped"] = Field(
        "stopped", description="Whether the schedule runs as soon as the code location loads."
    )
    group: str | None = Field(
        None,
        description="Sources with the same group share one schedule, `<group>_group_schedule`; "
        "not the name of a source's own schedule (`<source>_schedule`).",
    )

    @field_validator("group")
    @classmethod
    def _group_name(cls, value: str | None) -> str | None:
        if value is not None and not NAME_RE.match(value):
            raise ValueError(f"schedule group {value!r} must match [a-z][a-z0-9_]*")
        return value

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        return check_cron(value)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str | None) -> str | None:
        return check_timezone(value)


class HttpDefaultsConfig(StrictModel):
    """Defaults every API source inherits."""

    rate_limit_rps: float = Field(
        10.0,
        ge=0,
        description="Requests per second to one host (token bucket shared by its sources); 0: no limit.",
    )
    burst: int = Field(10, ge=1, description="Requests that may go at once before the rate limit applies.")
    max_retries: int = Field(5, ge=0, description="Retries of a transient failure (429, 5xx, timeouts).")
    timeout_seconds: float = Field(30.0, gt=0, description="Timeout of one HTTP request, in seconds.")
    retry_backoff_seconds: float = Field(
        0.5, ge=0, description="First retry waits about this long; each next one doubles it (capped at 30 s)."
    )


class DefaultsConfig(StrictModel):
    """Defaults every source inherits unless it sets its own."""

    partitions: PartitionsConfig = Field(
        default_factory=PartitionsConfig, description="Daily partitions of every source."
    )
    schedule: ScheduleConfig | None = Field(
        None, description="A daily schedule for every source without its own; unset: no schedules."
    )
    http: HttpDefaultsConfig = Field(
        default_factory=HttpDefaultsConfig, description="Rate limit, retries and timeouts of API sources."
    )


class PlatformConfig(StrictModel):
    """Owned by the platform team: storage, connections and defaults."""

    bronze: LayerStorageConfig = Field(description="Where Bronze (raw landed data) is stored.")
    silver: LayerStorageConfig = Field(description="Where Silver (curated data) is stored.")
    s3_connection: S3ConnectionConfig | None = Field(
        None, description="How the s3 backend connects: names of env vars, never secrets."
    )
    azure_connection: AzureConnectionConfig | None = Field(
        None, description="How the azure backend connects: names of env vars, never secrets."
    )
    defaults: DefaultsConfig = Field(
        default_factory=DefaultsConfig, description="Partitions, schedule and HTTP defaults of every source."
    )
