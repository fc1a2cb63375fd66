"""Where a file source's files are: the path template, fsspec options, globbing, each file's format."""

from __future__ import annotations

import posixpath
from datetime import date, datetime
from typing import Any, get_args

import fsspec
from fsspec.utils import infer_compression

from medallion_assets import templates
from medallion_assets.config.base import FileFormat
from medallion_assets.config.models import PlatformConfig
from medallion_assets.errors import ExtractError
from medallion_resources.redact import redact

__all__ = [
    "EXTENSION_FORMATS",
    "FORMATS",
    "STREAM_COMPRESSIONS",
    "fixed_root",
    "format_from_extension",
    "list_files",
    "resolve_path_template",
    "storage_options_for",
    "stream_compression",
    "unread_compression",
]

FORMATS: tuple[str, ...] = get_args(FileFormat)

EXTENSION_FORMATS: dict[str, FileFormat] = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
STREAM_COMPRESSIONS = ("gzip", "bz2", "xz", "lzma")
UNREAD_COMPRESSIONS = {
    ".zst": "zstd",
    ".zstd": "zstd",
    ".zip": "zip",
    ".lz4": "lz4",
    ".snappy": "snappy",
    ".br": "brotli",
    ".z": "compress",
    ".7z": "7z",
}
"""Extensions of compressed files a text format's reader does not undo (``stream_compression`` does not)."""
_GLOB_CHARS = frozenset("*?[")


def resolve_path_template(path: str, run_date: date, window_start: datetime, window_end: datetime) -> str:
    """``path`` with its template fields filled for the partition (``medallion_assets.templates``).

    ``FileConfig`` refused a ``{name}`` that is not a date field when the config loaded.
    """
    return templates.fill(path, run_date, window_start=window_start, window_end=window_end)


def storage_options_for(url: str, platform: PlatformConfig) -> dict[str, Any]:
    """fsspec storage options (credentials, endpoint) for reading ``url``.

    ``s3://`` (and ``s3a://``) URLs use ``platform.s3_connection`` and ``abfs://``/``abfss://``/``az://``
    URLs ``platform.azure_connection``, resolved exactly as the S3 and Azure storage backends resolve them;
    without that section (or for other URLs) fsspec's own defaults apply (environment, instance roles).
    """
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme in {"s3", "s3a"} and platform.s3_connection is not None:
        from medallion_resources.storage.s3 import S3Settings

        return S3Settings.from_config(platform.s3_connection).fsspec_options()
    if scheme in {"abfs", "abfss", "az"} and platform.azure_connection is not None:
        from medallion_resources.storage.azure import AzureSettings

        return AzureSettings.from_config(platform.azure_connection).fsspec_options()
    return {}


def list_files(
    url: str, platform: PlatformConfig, source: str
) -> tuple[fsspec.AbstractFileSystem, list[str], int, dict[str, int]]:
    """The filesystem, the sorted paths to read, how many ``_``/``.`` files were skipped, and the sizes the
    listing gave (so that reading needs no request to learn them)."""
    sizes: dict[str, int] = {}
    try:
        fs, path = fsspec.core.url_to_fs(url, **storage_options_for(url, platform))
        if has_glob(path):
            root = fixed_root(path)
            found = fs.glob(path, detail=True)
            candidates = [p for p, info in found.items() if info.get("type") == "file"]
            sizes = {p: info["size"] for p, info in found.items() if isinstance(info.get("size"), int)}
            kept = [p for p in candidates if not hidden_below(p, root)]
        elif fs.isdir(path):
            listed = [i for i in fs.ls(path, detail=True) if i.get("type") == "file"]
            candidates = [i["name"] for i in listed]
            sizes = {i["name"]: i["size"] for i in listed if isinstance(i.get("size"), int)}
            kept = [p for p in candidates if not is_hidden(posixpath.basename(p))]
        else:
            candidates = kept = [path] if fs.exists(path) else []
    except (OSError, ImportError, ValueError) as exc:
        raise ExtractError(
            f"source '{source}': cannot list file.path '{redact(url)}': {redact(str(exc))}"
        ) from exc
    return fs, sorted(kept), len(candidates) - len(kept), sizes


def format_from_extension(path: str, url: str, source: str) -> FileFormat:
    name = posixpath.basename(path).lower()
    if infer_compression(name) in STREAM_COMPRESSIONS:
        name = name.rsplit(".", 1)[0]
    ext = posixpath.splitext(name)[1]
    try:
        return EXTENSION_FORMATS[ext]
    except KeyError:
        raise ExtractError(
            f"source '{source}': cannot tell the format of '{url}' from its extension '{ext or '(none)'}'; "
            f"set file.format to one of: {', '.join(FORMATS)} (known extensions: "
            f"{', '.join(EXTENSION_FORMATS)}, optionally + .gz/.bz2/.xz)"
        ) from None


def stream_compression(path: str) -> str | None:
    """The compression to undo while streaming ``path`` (from its extension), or None."""
    compression = infer_compression(path)
    return compression if compression in STREAM_COMPRESSIONS else None


def unread_compression(path: str) -> str | None:
    """The compression that the extension of ``path`` names if no reader undoes it, else None."""
    return UNREAD_COMPRESSIONS.get(posixpath.splitext(posixpath.basename(path).lower())[1])


def has_glob(path: str) -> bool:
    return any(char in _GLOB_CHARS for char in path)


def fixed_root(pattern: str) -> str:
    """The folder part of ``pattern`` before its first glob character or template field."""
    cut = min(
        (i for i, char in enumerate(pattern) if char in _GLOB_CHARS or char == "{"),
        default=len(pattern),
    )
    return pattern[:cut].rsplit("/", 1)[0] if "/" in pattern[:cut] else ""


def is_hidden(name: str) -> bool:
    return name.startswith(("_", "."))


def hidden_below(path: str, root: str) -> bool:
    """Whether a glob match is, or sits in a folder, named ``_...``/``.…`` below the glob's fixed root."""
    relative = path[len(root) :] if root and path.startswith(root) else posixpath.basename(path)
    return any(is_hidden(part) for part in relative.split("/") if part)
