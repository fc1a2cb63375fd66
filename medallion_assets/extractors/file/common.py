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
    missing = [c for c in wanted if c not in present]
    if missing:
        raise BadContent(
            f"file.columns {', '.join(repr(c) for c in missing)} not in the file; "
            f"columns present: {', '.join(present) or '(none)'}"
        )
