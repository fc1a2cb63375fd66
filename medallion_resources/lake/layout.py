"""The names of a partition's files (DESIGN §4), and the attempt id every write carries in them.

A partition folder (``dt=<date>`` in Bronze, ``load_date=<date>`` in Silver) holds part files,
``_metadata.json``, ``_checksums.json`` and ``_errors/``. Every write of a partition carries a
time-sortable *attempt* id in each file name it writes, so files of different attempts never collide and
cleanup can tell a replaced or failed attempt's files from those of a writer still running
(:mod:`medallion_resources.lake.commit`). Also the bytes of ``_metadata.json`` (JSON, sorted keys,
indent 2) and the SHA-256 the manifest records of them.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import PurePath
from typing import Any

__all__ = [
    "ATTEMPT_RE",
    "CHECKSUMS_NAME",
    "DEFAULT_ARTIFACT",
    "ERRORS_ARTIFACT",
    "ERRORS_DIR",
    "LAYERS",
    "METADATA_NAME",
    "partition_folder",
    "run_dates",
    "attempt_of",
    "dump_metadata",
    "new_attempt_id",
    "sha256_hex",
    "staged_metadata_name",
]

# The lake's two layers, in the order a source is built.
LAYERS = ("bronze", "silver")
CHECKSUMS_NAME = "_checksums.json"
METADATA_NAME = "_metadata.json"
ERRORS_ARTIFACT = "errors"  # quarantined rows, under ERRORS_DIR
ERRORS_DIR = "_errors"
DEFAULT_ARTIFACT = "data"  # Bronze's one artifact


def partition_folder(layer: str, run_date: str) -> str:
    """``dt=`` for Bronze, ``load_date=`` for Silver (DESIGN §4)."""
    return f"dt={run_date}" if layer == "bronze" else f"load_date={run_date}"


_RUN_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")


def run_dates(layer: str, folder_names: Iterable[str]) -> list[str]:
    """The run dates of the partition folders among ``folder_names`` (a dataset's sub-folders), sorted.

    Only ``dt=<YYYY-MM-DD>`` (``load_date=`` in Silver) names a partition: a copy beside them such as
    ``dt=2025-01-02.bak`` is none (it sorted after the day it copies, so it was taken for the latest).
    """
    key = partition_folder(layer, "")
    days = []
    for name in folder_names:
        day = name[len(key) :]
        if name.startswith(key) and _RUN_DATE_RE.fullmatch(day):
            try:
                date.fromisoformat(day)
            except ValueError:
                continue
            days.append(day)
    return sorted(days)


ATTEMPT_RE = re.compile(r"\d{8}T\d{12}Z-[0-9a-f]{6}")


_attempt_lock = threading.Lock()
_last_attempt_time: datetime | None = None


def new_attempt_id() -> str:
    """A unique id that sorts by creation time: ``<UTC time to the microsecond>Z-<6 hex>``.

    Ids made in one process are strictly increasing even if the clock stands still or steps back.
    """
    global _last_attempt_time
    with _attempt_lock:
        now = datetime.now(UTC)
        if _last_attempt_time is not None and now <= _last_attempt_time:
            now = _last_attempt_time + timedelta(microseconds=1)
        _last_attempt_time = now
    return f"{now.strftime('%Y%m%dT%H%M%S%f')}Z-{secrets.token_hex(3)}"


def attempt_of(name: str) -> str | None:
    """The attempt id inside a file name (``part-00001-<attempt>.parquet``), or None."""
    match = ATTEMPT_RE.search(PurePath(name).name)
    return match.group(0) if match else None


def staged_metadata_name(attempt: str) -> str:
    return f"_metadata.{attempt}.json"


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal | PurePath):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return sorted(value, key=str) if not isinstance(value, tuple) else list(value)
    raise TypeError(f"metadata value of type {type(value).__name__} is not JSON serializable: {value!r}")


def dump_metadata(metadata: dict[str, Any]) -> bytes:
    """The bytes of ``_metadata.json``: JSON, sorted keys, indent 2 (dates as ISO strings)."""
    return (json.dumps(metadata, sort_keys=True, indent=2, default=_json_default) + "\n").encode()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
