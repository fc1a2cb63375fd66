"""CSV and TSV: every column as text, exactly as written (or typed on request); a parse error names its line.

Arrow's streaming reader parses the file block by block (``FileExtractor.csv_block_size``, 1 MiB), with no
Python per row. It reads up to 32 blocks ahead of the batches taken, so the block size bounds memory too
(bigger blocks parse no faster here, measured). A row must fit in one block: when one does not, the file is
read again from its start with a block four times bigger (the rows already streamed are skipped, so none
lands twice), up to ``file.max_field_mb``; a longer row fails the file saying so.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections import deque
from collections.abc import Iterator
from typing import Any, BinaryIO, Literal

import fsspec
import pyarrow as pa
import pyarrow.csv as pacsv

from medallion_assets.config.models import FileConfig
from medallion_assets.config.source import TAB_SPELLINGS
from medallion_assets.extractors.file.common import (
    READ_ERRORS,
    BadContent,
    BadLines,
    EmptyFile,
    LineDecodeError,
    numbered_lines,
    python_encoding,
    require_columns,
)
from medallion_assets.extractors.file.streams import Prefixed, open_hashed
from medallion_assets.extractors.names import unique_names
from medallion_resources.lake.schema import arrow_type_from_name

__all__ = [
    "BlockTooSmall",
    "CsvParseError",
    "locate_bad_rows",
    "locate_csv_problem",
    "read_csv",
]

_PEEK_CHUNK = 64 << 10
_END_OF_FILE = "\x00medallion: end of file\x00"
_MAX_PEEK = 16 << 20
_GROWTH = 4


class CsvParseError(BadContent):
    """Arrow could not parse a CSV block; ``locate_csv_problem`` finds the line in a second pass.

    ``unclosed``: the file ends inside a quoted field (the line to name is where that row starts)."""

    def __init__(
        self, message: str, delimiter: str, quoting: bool, encoding: str, unclosed: bool = False
    ) -> None:
        super().__init__(message)
        self.delimiter, self.quoting, self.encoding = delimiter, quoting, encoding
        self.unclosed = unclosed


class BlockTooSmall(Exception):
    """A row did not fit in one block: read the file again with ``block_size``, skipping ``rows_done``."""

    def __init__(self, rows_done: int, block_size: int) -> None:
        super().__init__(f"a CSV row is longer than the block; next block size {block_size}")
        self.rows_done, self.block_size = rows_done, block_size


def max_block_size(cfg: FileConfig) -> int:
    """The biggest block a row may need: ``max_field_mb`` plus room for the row's other fields."""
    return int(cfg.max_field_mb * (1 << 20)) + (1 << 20)


def read_csv(
    stream: BinaryIO,
    cfg: FileConfig,
    fmt: str,
    block_size: int,
    bad_lines: BadLines,
    skip_rows: int = 0,
) -> Iterator[pa.RecordBatch]:
    """The rows of a CSV/TSV stream after the first ``skip_rows``, ``block_size`` bytes of CSV per batch.

    A file without rows yields one empty batch with its columns (a header-only file is an empty snapshot,
    not a table without columns). Raises ``EmptyFile`` for a file without content, ``BlockTooSmall`` when
    a row needs a bigger block (below ``max_block_size``).
    """
    delimiter = _delimiter(cfg, fmt)
    quoting = fmt != "tsv"
    head, first_row, header_lines, alone = _peek_first_row(stream, cfg.encoding, delimiter, quoting)
    if first_row is None:
        raise EmptyFile(len(head))  # 0 bytes, or only blank lines
    codec = python_encoding(cfg.encoding)
    first_block = len(head) if codec == "utf-8-sig" else len(head.decode(codec, "replace").encode())  # UTF-8
    if first_block >= block_size:  # the first row may be longer than a block: the first block holds all the
        if first_block > max_block_size(cfg):  # peek read, and more (the header's line end may end the peek)
            raise CsvParseError(
                f"the first row is longer than file.max_field_mb ({cfg.max_field_mb:g} MiB) allows: raise "
                "file.max_field_mb if such a header is real, else look for an unclosed quote",
                delimiter,
                quoting,
                cfg.encoding,
            )
        block_size = first_block + _PEEK_CHUNK  # (Arrow needs the header in its first block, not the rows)
    read_options = pacsv.ReadOptions(block_size=block_size, encoding="utf8")  # (transcoded below)
    wanted = cfg.column_names
    include: list[str] = []
    if cfg.has_header:
        names = unique_names(first_row)  # an empty name: column_<position>
        if names != first_row:  # Arrow would keep the header's names: name the columns, skip the header
            read_options.column_names = names
            read_options.skip_rows = header_lines
        if wanted:
            require_columns(wanted, names)
            include = list(wanted)
    else:
        if wanted and len(wanted) != len(first_row):
            raise BadContent(
                f"file.columns names {len(wanted)} columns but the first row has {len(first_row)} fields"
            )
        names = list(wanted) if wanted else [f"column_{i}" for i in range(1, len(first_row) + 1)]
        read_options.column_names = names
    if cfg.has_header and alone:  # Arrow cannot read a header without a newline after it
        yield _empty(_header_schema(cfg, include or names))
        return
    # A quoted field still open at the end of the file would take every line after its opening quote into
    # one value, silently (Arrow, like Python's csv, closes it at the end). So a row of one field more than
    # the header's is read after the file: parsed as a row of its own (an invalid one, dropped), it shows
    # the file ended outside quotes; swallowed into the last value, it shows the quote was never closed.
    end_row = _END_OF_FILE + delimiter * len(names)
    closed = [not quoting]

    def handler(row: pacsv.InvalidRow) -> str:
        if _END_OF_FILE in row.text:
            closed[0] = row.text.rstrip("\r\n") == end_row
            return "skip"
        if not bad_lines.quarantine:
            return "error"
        bad_lines.add(None, row.text, f"{row.actual_columns} fields, the header has {row.expected_columns}")
        return "skip"

    parse_options = pacsv.ParseOptions(
        delimiter=delimiter,
        quote_char='"' if quoting else False,
        newlines_in_values=quoting,
        invalid_row_handler=handler,
    )
    tail = _encode_like_head(f"\n{end_row}\n", cfg.encoding, head) if quoting else b""
    # Only an empty field is null in a typed column: Arrow's other null spellings ("NA", "null", "NaN", ...)
    # are values, kept as text when inferred and failing the file in a number column, never nulls unseen.
    convert_options = pacsv.ConvertOptions(
        column_types=_column_types(cfg, names), include_columns=include, null_values=[""]
    )
    rows = 0
    try:
        # Arrow gets UTF-8 in blocks that are the reads of ``blocks`` (its own transcoding cuts them anywhere)
        blocks: io.RawIOBase = Prefixed(head, stream, tail)
        if codec != "utf-8-sig":  # (Arrow reads UTF-8 and skips its byte-order mark itself)
            blocks = Utf8Blocks(blocks, codec)
        reader = pacsv.open_csv(
            NoBlockEndsInCR(blocks) if quoting else blocks,
            read_options=read_options,
            parse_options=parse_options,
            convert_options=convert_options,
        )
        if cfg.infer_types and any(pa.types.is_binary(t) for t in reader.schema.types):  # bytes, not text
            raise pa.ArrowInvalid("CSV conversion error to string: invalid UTF8 data")
        for batch in reader:
            start, rows = rows, rows + batch.num_rows
            if rows <= skip_rows or not batch.num_rows:
                continue
            if start < skip_rows:
                batch = batch.slice(skip_rows - start)
            yield batch if cfg.infer_types or isinstance(cfg.columns, dict) else _all_strings(batch)
        if not closed[0]:
            raise CsvParseError(
                "a quoted field is not closed before the end of the file, so its row would hold every "
                "line after its opening quote: look for an unclosed quote, or a file cut short",
                delimiter,
                quoting,
                cfg.encoding,
                unclosed=True,
            )
        if rows == 0:
            yield _empty(reader.schema)
    except pa.ArrowInvalid as exc:
        if "straddl" in str(exc):
            if block_size < max_block_size(cfg):
                raise BlockTooSmall(rows, min(block_size * _GROWTH, max_block_size(cfg))) from None
            raise CsvParseError(
                f"a row is longer than file.max_field_mb ({cfg.max_field_mb:g} MiB) allows (after the first "
                f"{rows} data rows): raise file.max_field_mb if such a field is real, else look for an "
                "unclosed quote",
                delimiter,
                quoting,
                cfg.encoding,
            ) from exc
        after = f" (the first {rows} data rows read fine)" if rows else ""
        hint = ""
        if "invalid UTF8" in str(exc):
            hint = f"; bytes that are not valid {cfg.encoding}: is file.encoding right?"
        elif "In CSV column" in str(exc):  # a value that does not fit its type (or its scale)
            hint = (
                "; a value does not fit the column's type: fix file.columns' types, or land the column "
                "as text and type it in Silver (silver.schema.types)"
            )
        message = str(exc).replace(f"\n{end_row}", "").replace(end_row, "")  # none of the added row
        raise CsvParseError(f"{message}{after}{hint}", delimiter, quoting, cfg.encoding) from exc


class Utf8Blocks(io.RawIOBase):
    """``stream``, text in the Python codec ``codec``, as UTF-8, each read filled up to the size asked (but
    at the end). Arrow's own transcoding cuts its blocks wherever its reads end; these reads are the blocks,
    so ``NoBlockEndsInCR`` decides where one ends."""

    def __init__(self, stream: io.RawIOBase, codec: str) -> None:
        self._stream = stream
        self._decoder = codecs.getincrementaldecoder(codec)()
        self._text = b""
        self._ended = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while len(self._text) < len(buffer) and not self._ended:
            raw = self._stream.read(len(buffer)) or b""
            self._ended = not raw
            self._text += self._decoder.decode(raw, final=self._ended).encode("utf-8")
        count = min(len(buffer), len(self._text))
        buffer[:count] = self._text[:count]
        self._text = self._text[count:]
        return count


class NoBlockEndsInCR(io.RawIOBase):
    """``stream`` (UTF-8) read so that no read ends in a carriage return but at the end: the CRs a read would
    end with wait for the next one.

    Each read is one block of Arrow's streaming reader, and pyarrow 26 drops the LF of a quoted CRLF whose CR
    ends a block (``"a\\r\\nb"`` lands as ``"a\\rb"``, silently). Moving where a block ends changes nothing
    else: a row may span blocks."""

    def __init__(self, stream: io.RawIOBase) -> None:
        self._stream = stream
        self._held = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        with memoryview(buffer) as view:  # the stream reads straight into Arrow's buffer: no copy
            count = min(len(self._held), len(view))
            view[:count] = self._held[:count]
            self._held = self._held[count:]
            while count < len(view) and not self._held:  # a full block (the peek's bytes are a short read)
                got = self._stream.readinto(view[count:]) or 0
                if not got:  # the end: nothing is held back
                    return count
                count += got
            end = count
            while end and view[end - 1] == 13:  # "\r"
                end -= 1
            end = end or count  # a read of CRs only goes as it is: no read would be the end
            self._held = bytes(view[end:count]) + self._held
            return end


def _encode_like_head(text: str, encoding: str, head: bytes) -> bytes:
    """``text`` in the file's encoding, in the byte order of its start (UTF-16/32 without a byte-order mark
    read as little-endian, as Python's codecs, and so Arrow, read them)."""
    codec = python_encoding(encoding)
    if codec == "utf-8-sig":
        return text.encode("utf-8")
    if codec in ("utf-16", "utf-32"):
        big = codecs.BOM_UTF16_BE if codec == "utf-16" else codecs.BOM_UTF32_BE
        return text.encode(f"{codec}-be" if head.startswith(big) else f"{codec}-le")
    return text.encode(codec)


def _empty(schema: pa.Schema) -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist([], schema=schema)


def _header_schema(cfg: FileConfig, names: list[str]) -> pa.Schema:
    """The columns of a file without rows, typed as Arrow types those of a header-only file."""
    types = _column_types(cfg, names)
    return pa.schema([(name, types.get(name, pa.null())) for name in names])


def _column_types(cfg: FileConfig, names: list[str]) -> dict[str, pa.DataType]:
    """Declared types: every column text by default, the types of a ``columns`` mapping, none to infer."""
    if isinstance(cfg.columns, dict):
        return {name: arrow_type_from_name(kind) or pa.string() for name, kind in cfg.columns.items()}
    if cfg.infer_types:
        return {}
    return {name: pa.string() for name in names}


def _delimiter(cfg: FileConfig, fmt: str) -> str:
    """The one-character separator (``FileConfig`` checks ``file.delimiter`` when the config loads)."""
    delimiter = cfg.delimiter if cfg.delimiter is not None else ("\t" if fmt == "tsv" else ",")
    return "\t" if delimiter in TAB_SPELLINGS else delimiter


def _peek_first_row(
    stream: BinaryIO, encoding: str, delimiter: str, quoting: bool
) -> tuple[bytes, list[str] | None, int, bool]:
    """Read the start of a CSV (kept for the real reader) and parse its first non-empty row.

    The names must be known before Arrow opens the file so that every column can be declared ``string``.
    Blank lines before the first row are read past, however many fill the first chunks (a file whose first
    ``_MAX_PEEK`` bytes are all blank lines fails, saying so). Returns the bytes read, the row (None: the
    file has nothing but blank lines), the lines up to its end (blank lines before it included) and whether
    it is the file's only row.
    """
    decoder = codecs.getincrementaldecoder(python_encoding(encoding))(errors="replace")
    pieces: list[bytes] = []
    size = 0
    ended = started = False
    while size < _MAX_PEEK:
        chunk = stream.read(_PEEK_CHUNK)
        if not chunk:
            ended = True
            break
        pieces.append(chunk)
        size += len(chunk)
        text = decoder.decode(chunk)
        if not started:  # only line ends so far: no row has begun
            text = text.lstrip("\r\n")
            started = bool(text)
        # A line ends after the first row began: the row is whole (a short read: read on, to see the end).
        if started and ("\n" in text or "\r" in text) and len(chunk) == _PEEK_CHUNK:
            break
    head = b"".join(pieces)
    if not started and not ended:
        raise BadContent(
            f"the first {_MAX_PEEK >> 20} MiB of the file are blank lines: no header or row found there"
        )
    text = head.decode(python_encoding(encoding), errors="replace")
    rows = csv.reader(
        io.StringIO(text, newline=""),
        delimiter=delimiter,
        quoting=csv.QUOTE_MINIMAL if quoting else csv.QUOTE_NONE,
    )
    for row in rows:
        if row:
            line_num = rows.line_num
            _check_decodes(head, encoding, line_num, ended)
            return head, row, line_num, ended and not any(rows)
    return head, None, 0, ended


def _check_decodes(head: bytes, encoding: str, lines: int, ended: bool) -> None:
    """The first ``lines`` lines of ``head`` (the first row, and blank lines before it) are valid in
    ``encoding``, or a ``LineDecodeError`` naming the line: the names are taken from the peek (decoded
    leniently to find the row), and Arrow never sees a header as data, so a bad byte there would land as
    U+FFFD in a column's name, or reach the Bronze writer as a name that is no text. Bytes after the first
    row are Arrow's to refuse (``read_csv``). ``ended``: ``head`` is the whole file (a character cut at its
    end is an error, not the start of the next read)."""
    codec = python_encoding(encoding)
    if codec == "utf-8-sig":  # its errors count from after the byte-order mark: so do the lines' bytes
        codec, head = "utf-8", head.removeprefix(codecs.BOM_UTF8)
    try:
        codecs.getincrementaldecoder(codec)().decode(head, final=ended)
        return
    except UnicodeDecodeError as exc:
        start, reason = exc.start, exc.reason
    if "\n".encode(codec) == b"\n":  # line ends are the bytes \r, \n
        ends = list(re.finditer(rb"\r\n|\r|\n", head[:start]))
        line = len(ends) + 1
        where = f" at byte {start - (ends[-1].end() if ends else 0) + 1} of the line"
    else:  # UTF-16/32: count the line ends of the text before the bad bytes
        line = len(re.findall(r"\r\n|\r|\n", head[:start].decode(codec, errors="replace"))) + 1
        where = ""
    if line <= lines:
        raise LineDecodeError(
            f"line {line}: not valid {encoding}{where}: {reason} (in the file's first row, its header when "
            "file.has_header); is file.encoding right?"
        )


def locate_csv_problem(
    fs: fsspec.AbstractFileSystem, path: str, compression: str | None, problem: CsvParseError
) -> str:
    """On a parse error only: re-read the file with Python's csv module to name the first bad line."""
    reader = None
    try:
        if problem.unclosed:  # the last row is the one whose quote is open: name the line it starts on
            rows = _rows_with_lines(
                fs, path, compression, problem.delimiter, problem.quoting, problem.encoding
            )
            last = deque(rows, maxlen=1)
            return f"; the row starts at line {last[0][0]}" if last else ""
        with open_hashed(fs, path, compression) as (stream, _):
            lines = _csv_lines(stream, problem.encoding)
            csv.field_size_limit((1 << 31) - 1)
            quoting: Literal[0, 3] = csv.QUOTE_MINIMAL if problem.quoting else csv.QUOTE_NONE
            reader = csv.reader(lines, delimiter=problem.delimiter, quoting=quoting, strict=True)
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


def locate_bad_rows(
    fs: fsspec.AbstractFileSystem, path: str, compression: str | None, cfg: FileConfig, fmt: str
) -> list[int | None]:
    """Quarantine only: the line numbers of the rows whose field count is not the header's, in order.

    Arrow's streaming reader does not know line numbers (a quoted value may span lines), so a file that had
    bad rows is read a second time with Python's csv module, which counts them.
    """
    found: list[int | None] = []
    expected = None
    for start, row in _rows_with_lines(
        fs, path, compression, _delimiter(cfg, fmt), fmt != "tsv", cfg.encoding
    ):
        if expected is None:
            expected = len(row)
        elif len(row) != expected:
            found.append(start)
    return found


def _rows_with_lines(
    fs: fsspec.AbstractFileSystem,
    path: str,
    compression: str | None,
    delimiter: str,
    quoting: bool,
    encoding: str,
) -> Iterator[tuple[int, list[str]]]:
    """Each non-empty row of the file, read by Python's csv module, with the line it starts on."""
    mode: Literal[0, 3] = csv.QUOTE_MINIMAL if quoting else csv.QUOTE_NONE
    with open_hashed(fs, path, compression) as (stream, _):
        lines = _csv_lines(stream, encoding)
        csv.field_size_limit((1 << 31) - 1)
        reader = csv.reader(lines, delimiter=delimiter, quoting=mode)
        start = 1
        for row in reader:
            if row:
                yield start, row
            start = reader.line_num + 1


_LONE_CR = re.compile(r"(?<=\r)(?!\n)")


def _csv_lines(stream: BinaryIO, encoding: str) -> Iterator[str]:
    """The file's lines as Python's csv module wants them (a file opened with ``newline=""``): ended by LF,
    CRLF or a lone CR, the ends kept. ``numbered_lines`` ends a line at LF only, and csv refuses a CR inside
    an unquoted field, so a file of CR line ends (which Arrow reads) could not be read a second time to
    number its bad rows."""
    for _, line in numbered_lines(stream, encoding):
        if "\r" in line:
            yield from (piece for piece in _LONE_CR.split(line) if piece)
        else:
            yield line


def _all_strings(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Safety net: a column whose header we parsed differently from Arrow becomes text too."""
    if all(pa.types.is_string(f.type) for f in batch.schema):
        return batch
    return batch.cast(pa.schema([f.with_type(pa.string()) for f in batch.schema]))
