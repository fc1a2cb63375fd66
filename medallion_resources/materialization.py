"""What a person reads on a materialization: previews, the files as a table, and figures the UI plots.

The IO managers call these after a partition committed. Every helper here is best effort: collecting
metadata never fails a materialization (``safely`` turns an error into a missing key and a log line), and
every text cell of a preview goes through the one redactor (``medallion_resources.redact``) with the
source's known secret values, because data rows can hold URLs with credentials or tokens.

* ``HeadTap`` keeps the first rows of a stream as it is written (no second read of the files), widened to
  the schema the artifact is stored with once every batch is written (a later page or file may add columns
  or widen a type: the preview shows its rows as the files hold them);
* ``preview_table`` renders them as a ``MetadataValue.table`` (at most ``PREVIEW_ROWS`` rows, long text
  cut, nested values as JSON text, other types as their text);
* ``files_table`` is the manifest's file list as a table;
* ``watermark_lag_seconds``: how far the newest row landed lies behind the end of its partition's window.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import dagster as dg
import polars as pl
import pyarrow as pa

from medallion_resources.json_text import python_values
from medallion_resources.lake.manifest import ManifestFile
from medallion_resources.lake.parts import Writable, stored_schema, to_arrow_table
from medallion_resources.lake.schema import conform_table, unify_tables
from medallion_resources.redact import Redactor

__all__ = [
    "PREVIEW_ROWS",
    "HeadTap",
    "files_table",
    "preview_table",
    "safely",
    "watermark_lag_seconds",
]

PREVIEW_ROWS = 10
_MAX_CELL = 200  # characters of one text cell in a preview
_T = TypeVar("_T")


class HeadTap:
    """Passes a stream of batches through unchanged, keeping a copy of its first ``limit`` rows."""

    def __init__(self, stream: Iterable[Writable], limit: int = PREVIEW_ROWS) -> None:
        self._stream = stream
        self._limit = limit
        self._parts: list[pa.Table] = []
        self._rows = 0

    def __iter__(self) -> Iterator[Writable]:
        for batch in self._stream:
            if self._rows < self._limit:
                try:
                    wanted = self._limit - self._rows
                    head = batch.head(wanted) if isinstance(batch, pl.DataFrame) else batch  # not all of it
                    table = to_arrow_table(head).slice(0, wanted)
                    self._parts.append(table)
                    self._rows += table.num_rows
                except Exception:  # noqa: BLE001, S110 - a preview must never stop the data
                    self._rows = self._limit
            yield batch

    def head(self, schema: pa.Schema | None = None) -> pa.Table | None:
        """The first rows seen (None when the stream had none), as ``schema`` types them when given (the
        artifact's schema once written: its batches may widen after the first rows, ``int64`` then
        ``string``), else widened among themselves; by the storage layer's one rule either way."""
        if not self._parts:
            return None
        head = unify_tables(self._parts)
        if schema is None or stored_schema(head.schema).equals(schema):
            return head  # as stored already (its one-value dictionaries are stored as their values)
        return conform_table(head, schema)


def preview_table(table: pa.Table, redactor: Redactor) -> dg.TableMetadataValue:
    """``table``'s rows as a Dagster table, every text cell redacted and cut to a readable length."""
    columns = [dg.TableColumn(name=f.name, type=str(f.type)) for f in stored_schema(table.schema)]
    head = table.slice(0, PREVIEW_ROWS)
    cells = [[_cell(v, redactor) for v in _values(head.column(i))] for i in range(head.num_columns)]
    records = [
        dg.TableRecord(dict(zip(head.column_names, row, strict=True))) for row in zip(*cells, strict=True)
    ]
    return dg.MetadataValue.table(records=records, schema=dg.TableSchema(columns=columns))


def _values(column: pa.ChunkedArray) -> list[Any]:
    """A column's values as Python objects; a nanosecond timestamp, time or duration as its text, every
    digit (Python's datetime stops at the microsecond: the whole preview failed on one such value)."""
    data_type = column.type
    if getattr(data_type, "unit", None) != "ns":
        return python_values(column)  # (nested ones: as json_text writes them)
    if pa.types.is_duration(data_type):
        return [None if v is None else f"{v}ns" for v in column.cast(pa.int64()).to_pylist()]
    return [None if v is None else v.replace(" ", "T", 1) for v in column.cast(pa.string()).to_pylist()]


def files_table(files: Sequence[ManifestFile]) -> dg.TableMetadataValue:
    """The files a commit wrote, one row each (the commit's content at a glance)."""
    columns = [
        dg.TableColumn("path", "string"),
        dg.TableColumn("artifact", "string"),
        dg.TableColumn("rows", "int"),
        dg.TableColumn("bytes", "int"),
        dg.TableColumn("sha256", "string"),
        dg.TableColumn("kind", "string"),  # data, or the deletes of a merge-on-read Silver partition
    ]
    records = [
        dg.TableRecord(
            {
                "path": f.path,
                "artifact": f.artifact,
                "rows": f.row_count,
                "bytes": f.size_bytes,
                "sha256": f.sha256,
                "kind": f.kind,
            }
        )
        for f in files
    ]
    return dg.MetadataValue.table(records=records, schema=dg.TableSchema(columns=columns))


def watermark_lag_seconds(metadata: Mapping[str, Any]) -> float | None:
    """Seconds from ``watermark_out`` (a timestamp) to the end of the partition's window, or to the
    extraction when that came first (today's still-open partition); None when there is no timestamp."""
    watermark = _timestamp(metadata.get("watermark_out"))
    window_end = _timestamp(metadata.get("window_end"))
    if watermark is None or window_end is None:
        return None
    extracted = _timestamp(metadata.get("started_at"))
    until = min(window_end, extracted) if extracted is not None else window_end
    return round(max(0.0, (until - watermark).total_seconds()), 3)


def safely(what: str, build: Callable[[], _T], log: Callable[[str], Any] | None = None) -> _T | None:
    """``build()``, or None (and a log line) when it fails: metadata never fails a materialization."""
    try:
        return build()
    except Exception as exc:  # noqa: BLE001 - see the docstring
        if log is not None:
            log(f"could not collect the {what} metadata: {type(exc).__name__}: {exc}")
        return None


def _cell(value: Any, redactor: Redactor) -> str | int | float | bool | None:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, dict | list):
        text = json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)
    elif isinstance(value, bytes):
        text = f"<{len(value)} bytes>"
    elif isinstance(value, datetime):
        text = value.isoformat()
    else:
        text = str(value)
    text = redactor.text(text)
    return text if len(text) <= _MAX_CELL else text[: _MAX_CELL - 1] + "…"


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
