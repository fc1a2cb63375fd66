"""JSON lines and JSON documents: parsed records become batches by the rule of ``extractors.records``."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any, BinaryIO

import pyarrow as pa

from medallion_assets.config.models import FileConfig
from medallion_assets.extractors.file.common import (
    BadContent,
    numbered_lines,
    python_encoding,
    require_columns,
)
from medallion_assets.extractors.records import records_to_batch

__all__ = ["read_json", "read_jsonl"]


def read_jsonl(stream: BinaryIO, cfg: FileConfig, batch_rows: int) -> Iterator[pa.RecordBatch]:
    """JSON lines, ``batch_rows`` lines per batch, by the one JSON records rule."""
    records: list[Any] = []
    seen: set[str] = set()
    for lineno, line in numbered_lines(stream, cfg.encoding):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise BadContent(f"line {lineno}: invalid JSON at character {exc.pos + 1}: {exc.msg}") from exc
        if len(records) >= batch_rows:
            yield _project_records(records, cfg.columns, seen)
            records = []
    if records:
        yield _project_records(records, cfg.columns, seen)
    _check_projection_seen(cfg.columns, seen)


def read_json(stream: BinaryIO, cfg: FileConfig, batch_rows: int) -> Iterator[pa.RecordBatch]:
    """A whole JSON document; ``json_path`` picks the record list, ``batch_rows`` records per batch."""
    raw = stream.read()
    try:
        document = json.loads(raw.decode(python_encoding(cfg.encoding)))
    except json.JSONDecodeError as exc:
        raise BadContent(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from exc
    except UnicodeDecodeError as exc:
        raise BadContent(f"cannot decode as {cfg.encoding} at byte {exc.start}: {exc.reason}") from exc
    del raw
    records = _follow_json_path(document, cfg.json_path)
    seen: set[str] = set()
    for start in range(0, len(records), batch_rows):
        yield _project_records(records[start : start + batch_rows], cfg.columns, seen)
    _check_projection_seen(cfg.columns, seen)


def _project_records(records: list[Any], columns: list[str] | None, seen: set[str]) -> pa.RecordBatch:
    batch = records_to_batch(records)
    seen.update(batch.schema.names)
    if not columns:
        return batch
    arrays = [
        batch.column(name) if name in batch.schema.names else pa.nulls(batch.num_rows) for name in columns
    ]
    return pa.RecordBatch.from_arrays(arrays, names=list(columns))


def _check_projection_seen(columns: list[str] | None, seen: set[str]) -> None:
    if columns and seen:
        require_columns(columns, sorted(seen))


def _follow_json_path(document: Any, json_path: str | None) -> list[Any]:
    """The records ``json_path`` points at: a list, or an object (one record)."""
    node = document
    walked: list[str] = []
    for segment in json_path.split(".") if json_path else []:
        where = f"'{'.'.join(walked)}'" if walked else "the top level"
        if isinstance(node, dict):
            if segment not in node:
                keys = ", ".join(map(str, node)) or "(none)"
                raise BadContent(
                    f"json_path '{json_path}': no key '{segment}' at {where}; keys there: {keys}"
                )
            node = node[segment]
        elif isinstance(node, list):
            if not re.fullmatch(r"-?\d+", segment) or not -len(node) <= int(segment) < len(node):
                raise BadContent(
                    f"json_path '{json_path}': '{segment}' at {where} must index a list of "
                    f"{len(node)} items (0..{len(node) - 1})"
                )
            node = node[int(segment)]
        else:
            raise BadContent(
                f"json_path '{json_path}': {where} is a {type(node).__name__}, not an object or list, "
                f"so '{segment}' cannot be followed"
            )
        walked.append(segment)
    if isinstance(node, list):
        return node
    if isinstance(node, dict):
        return [node]
    target = f"json_path '{json_path}'" if json_path else "the document"
    raise BadContent(f"{target} is a {type(node).__name__}; expected a list of records or an object")
