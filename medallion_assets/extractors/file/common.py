"""What the file extractor's format readers share: the content error, decoding text, column checks."""

from __future__ import annotations

import codecs
import csv
import io
import lzma
import zlib
from collections.abc import Iterator
from typing import BinaryIO

import pyarrow as pa

__all__ = [
    "READ_ERRORS",
    "BadContent",
    "BadLines",
    "EmptyFile",
    "LineDecodeError",
    "numbered_lines",
    "python_encoding",
    "require_columns",
]

READ_ERRORS = (
    pa.ArrowException,
    OSError,
    ValueError,
    EOFError,
    UnicodeError,
    zlib.error,
    lzma.LZMAError,
    csv.Error,
)


class BadContent(Exception):
    """A file's content does not fit its format or the config; the caller adds source and file."""


class LineDecodeError(BadContent):
    pass


class EmptyFile(BadContent):
    """The file has no content (once decompressed): 0 bytes, or ``size`` bytes of blank lines only (no header,
    no record). An error unless ``file.allow_empty``: either is what a job that failed half-way leaves."""

    def __init__(self, size: int | None = 0) -> None:
        """``size``: the bytes of blank lines (0: an empty file; None: blank lines, their size not known)."""
        if size == 0:
            self.what = "is empty (0 bytes)"
        else:
            self.what = "has only blank lines" + (f" ({size} bytes)" if size is not None else "")
        super().__init__(
            f"the file {self.what}: a file with no header cannot stand for an empty snapshot; "
            "set file.allow_empty: true if an empty file means no rows"
        )


QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("_source_file", pa.string()),
        pa.field("_line_number", pa.int64()),
        pa.field("_raw_line", pa.string()),
        pa.field("_error_reason", pa.string()),
    ]
)
_MAX_RAW_CHARS = 64 << 10  # a quarantined line's text is kept up to this many characters


class BadLines:
    """Where a reader sends a malformed line: an error (``on_bad_lines: error``) or the quarantine.

    Quarantined lines are kept (their text cut at 64 Ki characters) until the partition's data is written;
    then they become the ``errors`` artifact under ``_errors/``, one row per line with ``_line_number``,
    ``_raw_line`` and ``_error_reason``.
    """

    def __init__(self, quarantine: bool) -> None:
        self.quarantine = quarantine
        self.count = 0
        self._rows: list[tuple[str, int | None, str, str]] = []
        self._file = ""
        self._file_start = 0

    def start_file(self, url: str) -> None:
        """Lines reported from now on belong to ``url``; a re-read of it (a bigger CSV block) starts over."""
        self._file = url
        self._file_start = len(self._rows)

    def restart_file(self) -> None:
        del self._rows[self._file_start :]
        self.count = len(self._rows)

    def add(self, line_number: int | None, raw: str, reason: str) -> None:
        """Quarantine one line, or raise ``BadContent`` naming it when quarantine is off."""
        where = f"line {line_number}" if line_number is not None else "a line"
        if not self.quarantine:
            raise BadContent(
                f"{where}: {reason} (file.on_bad_lines: quarantine lands such lines in _errors/)"
            )
        if len(raw) > _MAX_RAW_CHARS:
            raw = raw[:_MAX_RAW_CHARS] + f"... ({len(raw) - _MAX_RAW_CHARS} more characters)"
        self._rows.append((self._file, line_number, raw, reason))
        self.count += 1

    def number_lines(self, numbers: list[int | None]) -> None:
        """Set the line numbers of this file's quarantined lines, in order (found by a second pass)."""
        rows = self._rows[self._file_start :]
        for i, (number, row) in enumerate(zip(numbers, rows, strict=False)):
            self._rows[self._file_start + i] = (row[0], number, row[2], row[3])

    def first(self) -> str:
        file, number, _, reason = self._rows[0]
        return f"{file} line {number if number is not None else '?'}: {reason}"

    def pending_in_file(self) -> int:
        return len(self._rows) - self._file_start

    def batches(self) -> list[pa.RecordBatch]:
        if not self._rows:
            return []
        columns = list(zip(*self._rows, strict=True))
        return [
            pa.RecordBatch.from_arrays(
                [pa.array(c, f.type) for c, f in zip(columns, QUARANTINE_SCHEMA, strict=True)],
                schema=QUARANTINE_SCHEMA,
            )
        ]


def python_encoding(encoding: str) -> str:
    """Python codec for ``encoding``; UTF-8 also accepts a leading byte-order mark."""
    try:
        name = codecs.lookup(encoding).name
    except LookupError as exc:
        raise BadContent(f"unknown file.encoding '{encoding}'") from exc
    return "utf-8-sig" if name == "utf-8" else name


def numbered_lines(stream: BinaryIO, encoding: str) -> Iterator[tuple[int, str]]:
    """(line number, text) of every line; a decoding error names its line.

    Encodings where a newline is the byte ``\\n`` (UTF-8, Latin-1, cp1252, ...) are split as bytes and decoded
    line by line, so the line number of a bad byte is exact; others (UTF-16) decode as one text stream.
    """
    codec = python_encoding(encoding)
    if "\n".encode("utf-8" if codec == "utf-8-sig" else codec) == b"\n":
        for lineno, raw in enumerate(stream, start=1):
            try:
                yield lineno, raw.decode(codec)
            except UnicodeDecodeError as exc:
                raise LineDecodeError(
                    f"line {lineno}: not valid {encoding} at byte {exc.start + 1} of the line: {exc.reason}"
                ) from exc
        return
    text = io.TextIOWrapper(stream, encoding=codec, newline=None)
    lineno = 0
    try:
        for lineno, line in enumerate(text, start=1):
            yield lineno, line
    except UnicodeDecodeError as exc:
        raise LineDecodeError(f"after line {lineno}: not valid {encoding}: {exc.reason}") from exc
    finally:
        text.detach()  # leave the binary stream to its owner


def require_columns(wanted: list[str], present: list[str]) -> None:
    """Every name of ``file.columns`` is in the file, or a ``BadContent`` listing the columns present."""
    missing = [c for c in wanted if c not in present]
    if missing:
        raise BadContent(
            f"file.columns {', '.join(repr(c) for c in missing)} not in the file; "
            f"columns present: {', '.join(present) or '(none)'}"
        )
