"""CSV and TSV: every column as text, exactly as written; a parse error names its line."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import BinaryIO

import fsspec
import pyarrow as pa
import pyarrow.csv as pacsv

from medallion_assets.config.models import FileConfig
from medallion_assets.extractors.file.common import (
    READ_ERRORS,
    BadContent,
    LineDecodeError,
    numbered_lines,
    python_encoding,
    require_columns,
)
from medallion_assets.extractors.file.streams import Prefixed, open_hashed

__all__ = ["CsvParseError", "locate_csv_problem", "read_csv"]

_PEEK_CHUNK = 64 << 10
_MAX_PEEK = 16 << 20


class CsvParseError(BadContent):
    """Arrow could not parse a CSV block; ``locate_csv_problem`` finds the line in a second pass."""

    def __init__(self, message: str, delimiter: str, quoting: bool, encoding: str) -> None:
        super().__init__(message)
        self.delimiter, self.quoting, self.encoding = delimiter, quoting, encoding


def read_csv(stream: BinaryIO, cfg: FileConfig, fmt: str, block_size: int) -> Iterator[pa.RecordBatch]:
    """Every column of a CSV/TSV stream as text, ``block_size`` bytes of CSV per batch."""
    delimiter = _delimiter(cfg, fmt)
    quoting = fmt != "tsv"
    head, first_row = _peek_first_row(stream, cfg.encoding, delimiter, quoting)
    if first_row is None:
        return  # an empty file: no rows
    read_options = pacsv.ReadOptions(block_size=block_size, encoding=cfg.encoding)
    include: list[str] = []
    if cfg.has_header:
        names = first_row
        if cfg.columns:
            require_columns(cfg.columns, names)
            include = list(cfg.columns)
    else:
        if cfg.columns and len(cfg.columns) != len(first_row):
            raise BadContent(
                f"file.columns names {len(cfg.columns)} columns but the first row has {len(first_row)} fields"
            )
        names = list(cfg.columns) if cfg.columns else [f"column_{i}" for i in range(1, len(first_row) + 1)]
        read_options.column_names = names
    parse_options = pacsv.ParseOptions(
        delimiter=delimiter, quote_char='"' if quoting else False, newlines_in_values=quoting
    )
    convert_options = pacsv.ConvertOptions(
        column_types={name: pa.string() for name in names}, include_columns=include
    )
    rows = 0
    try:
        reader = pacsv.open_csv(
            Prefixed(head, stream),
            read_options=read_options,
            parse_options=parse_options,
            convert_options=convert_options,
        )
        for batch in reader:
            rows += batch.num_rows
            if batch.num_rows:
                yield _all_strings(batch)
    except pa.ArrowInvalid as exc:
        after = f" (the first {rows} data rows read fine)" if rows else ""
        raise CsvParseError(f"{exc}{after}", delimiter, quoting, cfg.encoding) from exc


def _delimiter(cfg: FileConfig, fmt: str) -> str:
    delimiter = cfg.delimiter if cfg.delimiter is not None else ("\t" if fmt == "tsv" else ",")
    if delimiter in ("\\t", "tab"):
        delimiter = "\t"
    if len(delimiter) != 1:
        raise BadContent(f"file.delimiter {delimiter!r} must be exactly one character")
    return delimiter


def _peek_first_row(
    stream: BinaryIO, encoding: str, delimiter: str, quoting: bool
) -> tuple[bytes, list[str] | None]:
    """Read the start of a CSV (kept for the real reader) and parse its first non-empty row.

    The names must be known before Arrow opens the file so that every column can be declared ``string``.
    """
    head = b""
    while len(head) < _MAX_PEEK:
        chunk = stream.read(_PEEK_CHUNK)
        if not chunk:
            break
        head += chunk
        if b"\n" in chunk:
            break
    text = head.decode(python_encoding(encoding), errors="replace")
    rows = csv.reader(
        io.StringIO(text), delimiter=delimiter, quoting=csv.QUOTE_MINIMAL if quoting else csv.QUOTE_NONE
    )
    for row in rows:
        if row:
            return head, row
    return head, None


def locate_csv_problem(
    fs: fsspec.AbstractFileSystem, path: str, compression: str | None, problem: CsvParseError
) -> str:
    """On a parse error only: re-read the file with Python's csv module to name the first bad line."""
    reader = None
    try:
        with open_hashed(fs, path, compression) as (stream, _):
            lines = (line for _, line in numbered_lines(stream, problem.encoding))
            if problem.quoting:
                reader = csv.reader(
                    lines, delimiter=problem.delimiter, quoting=csv.QUOTE_MINIMAL, strict=True
                )
            else:
                reader = csv.reader(lines, delimiter=problem.delimiter, quoting=csv.QUOTE_NONE, strict=True)
            expected = None
            for row in reader:
                if not row:
                    continue
                if expected is None:
                    expected = len(row)
                elif len(row) != expected:
                    return f"; line {reader.line_num} has {len(row)} fields, the first row {expected}"
    except LineDecodeError as exc:
        return f"; {exc}"
    except (csv.Error, *READ_ERRORS) as exc:
        return f"; near line {reader.line_num if reader else '?'}: {exc}"
    return ""


def _all_strings(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Safety net: a column whose header we parsed differently from Arrow becomes text too."""
    if all(pa.types.is_string(f.type) for f in batch.schema):
        return batch
    return batch.cast(pa.schema([f.with_type(pa.string()) for f in batch.schema]))
