"""Legacy spellings of the config, rewritten to the current ones before validation.

Users migrating from medallion-foundry keep their YAML working: deprecated keys are renamed with a
``MedallionDeprecationWarning`` carrying a code (CFG001-CFG004), and legacy *values* (load patterns and
Silver model names) are mapped to the current names. Every table lives here, as data, so the loader, the
reference doc and the tests read the same source of truth.

The functions work on the raw ``dict`` parsed from one YAML file, never on models, and return a new dict:
the caller's data is not mutated.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from medallion_assets.errors import ConfigIssue

__all__ = [
    "DEPRECATIONS",
    "LOAD_PATTERN_ALIASES",
    "SILVER_MODEL_ALIASES",
    "CompatResult",
    "Deprecation",
    "upgrade_file",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Deprecation:
    """One deprecated spelling: its code, what it was, what replaces it."""

    code: str
    old: str
    new: str
    note: str


DEPRECATIONS: dict[str, Deprecation] = {
    d.code: d
    for d in (
        Deprecation("CFG001", "platform.<layer>.output_dir", "platform.<layer>.local_path", "key renamed"),
        Deprecation("CFG002", "sources[].source.api.url", "sources[].source.api.base_url", "key renamed"),
        Deprecation(
            "CFG003",
            "sources[].source.api without endpoint",
            "sources[].source.api.endpoint: /",
            "missing endpoint defaults to '/'; set it explicitly",
        ),
        Deprecation("CFG004", "a file without config_version", "config_version: 1", "add it to every file"),
        Deprecation(
            "CFG005",
            "platform.<layer>.s3_bucket: s3://bucket/folder",
            "platform.<layer>.s3_bucket: bucket with s3_prefix: folder",
            "a bucket URL is split into the bucket and its folder",
        ),
    )
}

_S3_URL_RE = re.compile(r"s3[an]?://([^/@:]+)(/.*)?", re.IGNORECASE | re.DOTALL)

# Legacy value -> current value. No warning: these names stay accepted (logged at INFO level).
LOAD_PATTERN_ALIASES: dict[str, str] = {
    "snapshot": "full",
    "full_snapshot": "full",
    "incremental_append": "incremental",
    "incremental_merge": "incremental",
}
SILVER_MODEL_ALIASES: dict[str, str] = {
    "full_merge_dedupe": "scd_type_1",
    "incremental_merge": "scd_type_1",
    "scd1": "scd_type_1",
    "scd2": "scd_type_2",
}


@dataclass
class CompatResult:
    """A file's data in current spelling, plus the deprecations met and any conflicts found."""

    data: dict[str, Any]
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (code, message)
    issues: list[ConfigIssue] = field(default_factory=list)


def upgrade_file(data: Mapping[str, Any], file: str) -> CompatResult:
    """Rewrite one parsed config file (a mapping) to current spelling.

    Args:
        data: the top-level mapping of one YAML file, after ``${VAR}`` substitution.
        file: the file name shown in warnings and issues.
    """
    result = CompatResult(data=dict(data))
    if "config_version" not in data:
        _warn(result, "CFG004", f"{file}: no 'config_version'; add 'config_version: 1' at the top")
    platform = data.get("platform")
    if isinstance(platform, Mapping):
        result.data["platform"] = _upgrade_platform(platform, file, result)
    sources = data.get("sources")
    if isinstance(sources, list):
        result.data["sources"] = [
            _upgrade_source(entry, file, f"sources[{i}]", result) if isinstance(entry, Mapping) else entry
            for i, entry in enumerate(sources)
        ]
    return result


def _upgrade_platform(platform: Mapping[str, Any], file: str, result: CompatResult) -> dict[str, Any]:
    out = dict(platform)
    for layer in ("bronze", "silver"):
        section = platform.get(layer)
        if isinstance(section, Mapping):
            path = f"platform.{layer}"
            renamed = _rename(section, "output_dir", "local_path", "CFG001", file, path, result)
            out[layer] = _split_bucket_url(renamed, file, path, result)
    return out


def _split_bucket_url(section: dict[str, Any], file: str, path: str, result: CompatResult) -> dict[str, Any]:
    """``s3_bucket: s3://lake/bronze`` as ``s3_bucket: lake`` and ``s3_prefix: bronze`` (before any
    ``s3_prefix`` given): such configs ran before the key was checked, since s3fs takes the URL too."""
    value = section.get("s3_bucket")
    found = _S3_URL_RE.fullmatch(value) if isinstance(value, str) else None
    if found is None:
        return section
    bucket, folder = found.group(1), (found.group(2) or "").strip("/")
    prefix = section.get("s3_prefix", "")
    if isinstance(prefix, str) and prefix.strip("/"):
        folder = f"{folder}/{prefix.strip('/')}" if folder else prefix
    out = {**section, "s3_bucket": bucket}
    if folder:
        out["s3_prefix"] = folder
    spelled = f"s3_bucket: {bucket}" + (f" with s3_prefix: {folder}" if folder else "")
    _warn(result, "CFG005", f"{file}: {path}.s3_bucket '{value}' is a URL; write {spelled}")
    return out


def _upgrade_source(entry: Mapping[str, Any], file: str, path: str, result: CompatResult) -> dict[str, Any]:
    out = dict(entry)
    source = entry.get("source")
    if isinstance(source, Mapping):
        source = dict(source)
        api = source.get("api")
        if isinstance(api, Mapping):
            api_path = f"{path}.source.api"
            api = _rename(api, "url", "base_url", "CFG002", file, api_path, result)
            if "endpoint" not in api:
                api["endpoint"] = "/"
                _warn(result, "CFG003", f"{file}: {api_path} has no 'endpoint'; using '/', set it explicitly")
            source["api"] = api
        run = source.get("run")
        if isinstance(run, Mapping):
            source["run"] = _alias_value(
                run, "load_pattern", LOAD_PATTERN_ALIASES, file, f"{path}.source.run"
            )
        out["source"] = source
    silver = entry.get("silver")
    if isinstance(silver, Mapping):
        out["silver"] = _alias_value(silver, "model", SILVER_MODEL_ALIASES, file, f"{path}.silver")
    return out


def _rename(
    section: Mapping[str, Any], old: str, new: str, code: str, file: str, path: str, result: CompatResult
) -> dict[str, Any]:
    out = dict(section)
    if old not in section:
        return out
    if new in section:
        result.issues.append(
            ConfigIssue(
                file, f"{path}.{old}", f"both '{old}' (deprecated) and '{new}' are set", f"keep '{new}'"
            )
        )
        del out[old]
        return out
    # Keep the key order of the file: the new key takes the old one's place.
    out = {(new if key == old else key): value for key, value in section.items()}
    _warn(result, code, f"{file}: {path}.{old} is deprecated; rename it to '{new}'")
    return out


def _alias_value(
    section: Mapping[str, Any], key: str, aliases: Mapping[str, str], file: str, path: str
) -> dict[str, Any]:
    out = dict(section)
    value = section.get(key)
    if isinstance(value, str) and value in aliases:
        out[key] = aliases[value]
        logger.info("%s: %s.%s '%s' is a legacy name of '%s'", file, path, key, value, aliases[value])
    return out


def _warn(result: CompatResult, code: str, message: str) -> None:
    result.warnings.append((code, message))
