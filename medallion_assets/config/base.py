"""What every config model shares: the strict base model, the literal types and the name patterns."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

__all__ = [
    "CHANGE_PATTERNS",
    "KEY_PART_RE",
    "MAX_NAME_LENGTH",
    "NAME_RE",
    "OWNER_EMAIL_RE",
    "TYPE_RE",
    "Compression",
    "DeleteMode",
    "ExtractorSection",
    "FileFormat",
    "LoadPattern",
    "ModelOption",
    "RequiredSilverKey",
    "StrictModel",
    "check_column_names",
    "check_name_length",
]

LoadPattern = Literal["full", "incremental", "cdc", "current_history"]
# The load patterns whose partitions land changes, not the whole source: each run starts where the previous
# partition's watermark ended, and something (db.incremental, api.incremental, ...) must select its rows.
CHANGE_PATTERNS: frozenset[str] = frozenset({"incremental", "cdc", "current_history"})
# The keys under ``source:`` that hold an extractor's settings; plugin types read ``options``.
ExtractorSection = Literal["api", "db", "file", "custom_extractor", "options"]
# ``silver`` keys a model may require to be set (``SilverModel.requires``).
RequiredSilverKey = Literal["primary_keys", "order_column", "cdc"]
# ``silver`` keys that mean something to some models only (``SilverModel.options``).
ModelOption = Literal["delete_mode", "cdc", "scd2", "dedupe_lookback_days"]
DeleteMode = Literal["ignore", "hard_delete", "tombstone"]
Compression = Literal["zstd", "snappy", "gzip", "lz4", "brotli", "uncompressed"]
FileFormat = Literal["csv", "tsv", "json", "jsonl", "parquet"]

# Source names, systems, tables, domains and entities become folder names (``system=<system>``): a file
# system's names end at 255 bytes, so a name past this fails the first write, not the config.
MAX_NAME_LENGTH = 100
# ``\Z``, not ``$``: ``$`` also matches before a trailing newline ("orders\n" from a ``name: >`` block), a
# name Dagster refuses when the Definitions load.
NAME_RE = re.compile(r"^[a-z][a-z0-9_]*\Z")
# Dagster's own rule for an owner's e-mail address (``dagster._core.utils.is_valid_email``, a fullmatch): an
# address it refuses takes the code location down. ASCII only, a top-level domain of 2 to 7 letters.
OWNER_EMAIL_RE = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Z|a-z]{2,7}\b")
# Dagster asset key parts and our folder names: letters, digits, underscore.
KEY_PART_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
TYPE_RE = re.compile(
    r"^(string|utf8|int8|int16|int32|int64|uint8|uint16|uint32|uint64|float32|float64|boolean|bool|date|"
    r"datetime|timestamp|time|decimal\(\s*\d+\s*,\s*\d+\s*\))$"
)


class StrictModel(BaseModel):
    """Base of every config model: unknown keys are errors, instances are immutable."""

    # allow_inf_nan=False: YAML's .inf and .nan are floats, and no key takes them (an infinite
    # max_file_size_mb or freshness window failed the run or the Definitions with an OverflowError).
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False)


def check_column_names(key: str, names: Sequence[str]) -> None:
    """A list of column names (``file.columns``, ``silver.primary_keys``, ...) names each column once."""
    if "" in names:
        raise ValueError(f"{key} has an empty column name: give every column its own name")
    repeated = next((name for name in names if list(names).count(name) > 1), None)
    if repeated is not None:
        raise ValueError(f"{key} has the name '{repeated}' more than once: give every column its own name")


def check_name_length(value: str) -> str:
    """A name that becomes a folder (and a Dagster name) fits a file system's names."""
    if len(value) > MAX_NAME_LENGTH:
        raise ValueError(
            f"'{value[:20]}...' is {len(value)} characters long; names become folder names, so use at most "
            f"{MAX_NAME_LENGTH}"
        )
    return value
