"""Files on local disk or any fsspec filesystem become a stream of record batches.

Selected by ``source.type: file``::

    source:
      system: retail
      table: stores
      type: file
      file:
        path: s3://landing/retail/stores_{run_date:%Y%m%d}_*.csv.gz   # local path or any fsspec URL
        format: csv            # csv | tsv | json | jsonl | parquet; default from the extension
        delimiter: ";"         # csv/tsv only (tsv: tab)
        encoding: utf-8
        has_header: true
        json_path: data.items  # json only: dot path to the record list (numbers index lists)
        columns: [store_id, name]   # header-less csv/tsv: the names; otherwise: keep only these
        required: true         # no file: error (true) or an empty partition (false)

How a run finds its files: ``{run_date}`` (ISO date), ``{run_date:%Y%m%d}`` (any strftime format) and the
same for ``{window_start}``/``{window_end}`` (ISO datetime when plain) are filled in for the partition;
then globs (``*``, ``?``, ``[..]``, ``**``) are listed with ``fs.glob``, a plain path must exist, and a plain
directory means the files directly in it. Files are read in path order. Files whose name starts with ``_``
or ``.`` (``_SUCCESS``, ``_checksums.json``, ``.crc``) are never picked up by a glob or a directory listing,
nor are files inside such folders below the glob's fixed part; a file named exactly in ``path`` is read.

How each format lands (Bronze is raw; Silver's ``schema.types`` does the typing):

- **csv/tsv**: every column is read as **text**, exactly as written (``"007"`` stays ``"007"``; an empty
  field is an empty string, not null - Silver's ``normalization.empty_strings_as_null`` decides). Inferring
  types per file would make the same column ``int64`` in one file and ``string`` in the next, or fail on a
  late block that breaks the type guessed from the first. Without a header, ``columns`` names the columns,
  else they are ``column_1`` .. ``column_N``. TSV has no quoting (a ``"`` is data).
- **jsonl** (``.jsonl``/``.ndjson``): read line by line, ``batch_rows`` lines per batch, through
  ``records_to_batch`` (nested values as JSON text, mixed types as text; see ``extractors.records``).
- **json**: the document is loaded whole (use jsonl for big files), ``json_path`` picks the record list;
  an object there becomes one row.
- **parquet**: typed as stored, streamed with ``iter_batches`` (memory: about one row group).
- ``.gz``/``.bz2``/``.xz`` compressed csv/tsv/json/jsonl are decompressed on the fly.

Every batch gains ``_source_file`` (the file's full path or URL), and ``stats["source_files"]`` lists
``{path, size_bytes, sha256}`` of every file read, hashed while it streams (parquet, which is read from
its footer, by a second chunked read).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import lzma
import posixpath
import re
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from typing import Any, BinaryIO, get_args
from zoneinfo import ZoneInfo

import fsspec
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from fsspec.compression import compr
from fsspec.implementations.local import LocalFileSystem
from fsspec.utils import infer_compression

from medallion_assets.config.models import FileConfig, FileFormat, PlatformConfig
from medallion_assets.errors import ExtractError
from medallion_assets.extractors.base import CheckResult, ExtractContext, Extractor
from medallion_assets.extractors.records import records_to_batch
from medallion_assets.extractors.registry import register_extractor
from medallion_resources.redact import redact

__all__ = ["SOURCE_FILE_COLUMN", "FileExtractor", "resolve_path_template", "storage_options_for"]

SOURCE_FILE_COLUMN = "_source_file"
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
TEMPLATE_FIELDS = ("run_date", "window_start", "window_end")

_TEMPLATE_RE = re.compile(r"\{(\w+)(?::([^{}]*))?\}")
_GLOB_CHARS = frozenset("*?[")
_HASH_CHUNK = 1 << 20
_PEEK_CHUNK = 64 << 10
_MAX_PEEK = 16 << 20
_READ_ERRORS = (
    pa.ArrowException,
    OSError,
    ValueError,
    EOFError,
    UnicodeError,
    zlib.error,
    lzma.LZMAError,
    csv.Error,
)


class _BadContent(Exception):
    """A file's content does not fit its format or the config; the caller adds source and file."""


class _CsvParseError(_BadContent):
    """Arrow could not parse a CSV block; ``_locate_csv_problem`` finds the line in a second pass."""

    def __init__(self, message: str, delimiter: str, quoting: bool, encoding: str) -> None:
        super().__init__(message)
        self.delimiter, self.quoting, self.encoding = delimiter, quoting, encoding


# --- path resolution --------------------------------------------------------------------------------------


def resolve_path_template(path: str, run_date: date, window_start: datetime, window_end: datetime) -> str:
    """Fill ``{run_date}``, ``{run_date:%Y%m%d}``, ``{window_start:...}``, ``{window_end:...}`` in ``path``.

    Plain ``{run_date}`` is the ISO date; plain ``{window_start}``/``{window_end}`` the ISO datetime.

    Raises:
        ExtractError: a ``{name}`` that is not one of the template fields.
    """
    values: dict[str, date | datetime] = {
        "run_date": run_date,
        "window_start": window_start,
        "window_end": window_end,
    }

    def fill(match: re.Match[str]) -> str:
        name, spec = match.group(1), match.group(2)
        if name not in values:
            raise ExtractError(
                f"file.path '{path}': unknown template field '{{{name}}}'; "
                f"allowed: {', '.join('{' + f + '}' for f in TEMPLATE_FIELDS)}"
            )
        value = values[name]
        return value.isoformat() if spec is None else value.strftime(spec)

    return _TEMPLATE_RE.sub(fill, path)


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


def _has_glob(path: str) -> bool:
    return any(char in _GLOB_CHARS for char in path)


def _fixed_root(pattern: str) -> str:
    """The folder part of ``pattern`` before its first glob character or template field."""
    cut = min(
        (i for i, char in enumerate(pattern) if char in _GLOB_CHARS or char == "{"),
        default=len(pattern),
    )
    return pattern[:cut].rsplit("/", 1)[0] if "/" in pattern[:cut] else ""


def _is_hidden(name: str) -> bool:
    return name.startswith(("_", "."))


# --- the extractor ----------------------------------------------------------------------------------------


@register_extractor
class FileExtractor(Extractor):
    """Reads the files ``file.path`` matches for the run date; see the module docstring for the YAML."""

    type_name = "file"
    section = "file"
    csv_block_size: int = 1 << 20
    """Bytes of CSV per batch (Arrow's default)."""
    batch_rows: int = 50_000
    """Records per batch for jsonl, json and parquet."""

    @property
    def config(self) -> FileConfig:
        section = self.entry.source.file
        assert section is not None  # SourceConfig guarantees it for type 'file'
        return section

    @property
    def _name(self) -> str:
        return self.entry.source_name

    # -- contract --

    def extract(self, ctx: ExtractContext) -> Iterator[pa.RecordBatch]:
        """Yield every matching file's rows, file by file in path order."""
        self.stats["source_files"] = []
        pattern = self.config.path
        try:
            resolved = resolve_path_template(pattern, ctx.run_date, ctx.window_start, ctx.window_end)
        except ExtractError as exc:
            raise ExtractError(f"source '{self._name}': {exc}") from None
        fs, paths, skipped = self._match(resolved)
        if not paths:
            if self.config.required:
                raise ExtractError(self._no_match_message(pattern, resolved, ctx.run_date, skipped))
            ctx.log.info(
                "source '%s': file.path '%s' matched no files for %s; required is false, so the "
                "partition is empty",
                self._name,
                redact(resolved),
                ctx.run_date,
            )
            return
        for path in paths:
            yield from self._read_file(fs, path, ctx)

    def check(self) -> CheckResult:
        """List today's matches without reading them; fail when the fixed folder or bucket is unreachable."""
        pattern = self.config.path
        tz = ZoneInfo(self._timezone())
        today = datetime.now(tz).date()
        start = datetime.combine(today, time(), tzinfo=tz)
        try:
            resolved = resolve_path_template(pattern, today, start, start + timedelta(days=1))
            root = _fixed_root(pattern)
            if root and not root.endswith(":/"):
                root_fs, root_path = fsspec.core.url_to_fs(root, **storage_options_for(root, self.platform))
                if not root_fs.exists(root_path):
                    return CheckResult(
                        False, f"folder '{redact(root)}' of file.path '{redact(pattern)}' does not exist"
                    )
            _, paths, _ = self._match(resolved)
        except (OSError, ImportError, ValueError) as exc:
            return CheckResult(False, f"cannot reach file.path '{redact(pattern)}': {redact(str(exc))}")
        except ExtractError as exc:
            return CheckResult(False, str(exc))
        return CheckResult(
            True,
            f"{len(paths)} {'file matches' if len(paths) == 1 else 'files match'} '{redact(pattern)}' "
            f"(today's template: '{redact(resolved)}')",
        )

    # -- finding files --

    def _match(self, url: str) -> tuple[fsspec.AbstractFileSystem, list[str], int]:
        """The filesystem, the sorted paths to read, and how many ``_``/``.`` files were skipped."""
        try:
            fs, path = fsspec.core.url_to_fs(url, **storage_options_for(url, self.platform))
            if _has_glob(path):
                root = _fixed_root(path)
                found = fs.glob(path, detail=True)
                candidates = [p for p, info in found.items() if info.get("type") == "file"]
                kept = [p for p in candidates if not _hidden_below(p, root)]
            elif fs.isdir(path):
                candidates = [i["name"] for i in fs.ls(path, detail=True) if i.get("type") == "file"]
                kept = [p for p in candidates if not _is_hidden(posixpath.basename(p))]
            else:
                candidates = kept = [path] if fs.exists(path) else []
        except (OSError, ImportError, ValueError) as exc:
            raise ExtractError(
                f"source '{self._name}': cannot list file.path '{redact(url)}': {redact(str(exc))}"
            ) from exc
        return fs, sorted(kept), len(candidates) - len(kept)

    def _no_match_message(self, pattern: str, resolved: str, run_date: date, skipped: int) -> str:
        text = (
            f"source '{self._name}': file.path '{redact(pattern)}' (resolved for run date "
            f"{run_date.isoformat()} to '{redact(resolved)}') matched no files"
        )
        if skipped:
            text += f" ({skipped} file(s) starting with '_' or '.' were skipped as metadata)"
        return (
            f"{text} (hint: check that the files for that date have arrived and that the path and template "
            "are right; set file.required: false to land an empty partition instead)"
        )

    def _timezone(self) -> str:
        override = self.entry.partitions.timezone if self.entry.partitions else None
        return override or self.platform.defaults.partitions.timezone

    # -- reading one file --

    def _read_file(
        self, fs: fsspec.AbstractFileSystem, path: str, ctx: ExtractContext
    ) -> Iterator[pa.RecordBatch]:
        cfg = self.config
        url = redact(path if isinstance(fs, LocalFileSystem) else fs.unstrip_protocol(path))
        fmt = cfg.format or _format_from_extension(path, url, self._name)
        compression = infer_compression(path)
        if compression not in STREAM_COMPRESSIONS:
            compression = None
        ctx.log.info("source '%s': reading %s file %s", self._name, fmt, url)
        rows = 0
        try:
            if fmt == "parquet":
                if compression:
                    raise _BadContent(
                        f"{compression}-compressed parquet is not supported (parquet compresses internally)"
                    )
                with fs.open(path, "rb") as handle:
                    for batch in _read_parquet(handle, cfg, self.batch_rows):
                        rows += batch.num_rows
                        yield _with_source_file(batch, url)
                size, sha256 = _hash_file(fs, path)
            else:
                with _open_hashed(fs, path, compression) as (stream, hasher):
                    for batch in _STREAM_READERS[fmt](self, stream, cfg, fmt):
                        rows += batch.num_rows
                        yield _with_source_file(batch, url)
                    hasher.drain()
                size, sha256 = hasher.size, hasher.hexdigest()
        except ExtractError:
            raise
        except (_BadContent, *_READ_ERRORS) as exc:
            detail = str(exc)
            if isinstance(exc, _CsvParseError):
                detail += _locate_csv_problem(fs, path, compression, exc)
            raise ExtractError(
                f"source '{self._name}': cannot read {fmt} file '{url}': {redact(detail)}"
            ) from exc
        self.stats["source_files"].append({"path": url, "size_bytes": size, "sha256": sha256})
        ctx.log.info("source '%s': %s rows from %s", self._name, rows, url)

    def _read_csv(self, stream: BinaryIO, cfg: FileConfig, fmt: str) -> Iterator[pa.RecordBatch]:
        delimiter = _delimiter(cfg, fmt)
        quoting = fmt != "tsv"
        head, first_row = _peek_first_row(stream, cfg.encoding, delimiter, quoting)
        if first_row is None:
            return  # an empty file: no rows
        read_options = pacsv.ReadOptions(block_size=self.csv_block_size, encoding=cfg.encoding)
        include: list[str] = []
        if cfg.has_header:
            names = first_row
            if cfg.columns:
                _require_columns(cfg.columns, names)
                include = list(cfg.columns)
        else:
            if cfg.columns and len(cfg.columns) != len(first_row):
                raise _BadContent(
                    f"file.columns names {len(cfg.columns)} columns but the first row has "
                    f"{len(first_row)} fields"
                )
            names = (
                list(cfg.columns) if cfg.columns else [f"column_{i}" for i in range(1, len(first_row) + 1)]
            )
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
                _Prefixed(head, stream),
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
            raise _CsvParseError(f"{exc}{after}", delimiter, quoting, cfg.encoding) from exc

    def _read_jsonl(self, stream: BinaryIO, cfg: FileConfig, fmt: str) -> Iterator[pa.RecordBatch]:
        records: list[Any] = []
        seen: set[str] = set()
        for lineno, line in _numbered_lines(stream, cfg.encoding):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise _BadContent(
                    f"line {lineno}: invalid JSON at character {exc.pos + 1}: {exc.msg}"
                ) from exc
            if len(records) >= self.batch_rows:
                yield _project_records(records, cfg.columns, seen)
                records = []
        if records:
            yield _project_records(records, cfg.columns, seen)
        _check_projection_seen(cfg.columns, seen)

    def _read_json(self, stream: BinaryIO, cfg: FileConfig, fmt: str) -> Iterator[pa.RecordBatch]:
        raw = stream.read()
        try:
            document = json.loads(raw.decode(_python_encoding(cfg.encoding)))
        except json.JSONDecodeError as exc:
            raise _BadContent(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from exc
        except UnicodeDecodeError as exc:
            raise _BadContent(f"cannot decode as {cfg.encoding} at byte {exc.start}: {exc.reason}") from exc
        del raw
        records = _follow_json_path(document, cfg.json_path)
        seen: set[str] = set()
        for start in range(0, len(records), self.batch_rows):
            yield _project_records(records[start : start + self.batch_rows], cfg.columns, seen)
        _check_projection_seen(cfg.columns, seen)


_StreamReader = Callable[[FileExtractor, BinaryIO, FileConfig, str], Iterator[pa.RecordBatch]]
_STREAM_READERS: dict[str, _StreamReader] = {
    "csv": FileExtractor._read_csv,
    "tsv": FileExtractor._read_csv,
    "jsonl": FileExtractor._read_jsonl,
    "json": FileExtractor._read_json,
}


# --- format helpers ---------------------------------------------------------------------------------------


def _format_from_extension(path: str, url: str, source: str) -> FileFormat:
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


def _delimiter(cfg: FileConfig, fmt: str) -> str:
    delimiter = cfg.delimiter if cfg.delimiter is not None else ("\t" if fmt == "tsv" else ",")
    if delimiter in ("\\t", "tab"):
        delimiter = "\t"
    if len(delimiter) != 1:
        raise _BadContent(f"file.delimiter {delimiter!r} must be exactly one character")
    return delimiter


def _python_encoding(encoding: str) -> str:
    """Python codec for ``encoding``; UTF-8 also accepts a leading byte-order mark."""
    try:
        name = codecs.lookup(encoding).name
    except LookupError as exc:
        raise _BadContent(f"unknown file.encoding '{encoding}'") from exc
    return "utf-8-sig" if name == "utf-8" else name


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
    text = head.decode(_python_encoding(encoding), errors="replace")
    rows = csv.reader(
        io.StringIO(text), delimiter=delimiter, quoting=csv.QUOTE_MINIMAL if quoting else csv.QUOTE_NONE
    )
    for row in rows:
        if row:
            return head, row
    return head, None


class _LineDecodeError(_BadContent):
    pass


def _numbered_lines(stream: BinaryIO, encoding: str) -> Iterator[tuple[int, str]]:
    """(line number, text) of every line; a decoding error names its line.

    Encodings where a newline is the byte ``\\n`` (UTF-8, Latin-1, cp1252, ...) are split as bytes and decoded
    line by line, so the line number of a bad byte is exact; others (UTF-16) decode as one text stream.
    """
    codec = _python_encoding(encoding)
    if "\n".encode("utf-8" if codec == "utf-8-sig" else codec) == b"\n":
        for lineno, raw in enumerate(stream, start=1):
            try:
                yield lineno, raw.decode(codec)
            except UnicodeDecodeError as exc:
                raise _LineDecodeError(
                    f"line {lineno}: not valid {encoding} at byte {exc.start + 1} of the line: {exc.reason}"
                ) from exc
        return
    text = io.TextIOWrapper(stream, encoding=codec, newline=None)
    lineno = 0
    try:
        for lineno, line in enumerate(text, start=1):
            yield lineno, line
    except UnicodeDecodeError as exc:
        raise _LineDecodeError(f"after line {lineno}: not valid {encoding}: {exc.reason}") from exc
    finally:
        text.detach()  # leave the binary stream to its owner


def _locate_csv_problem(
    fs: fsspec.AbstractFileSystem, path: str, compression: str | None, problem: _CsvParseError
) -> str:
    """On a parse error only: re-read the file with Python's csv module to name the first bad line."""
    reader = None
    try:
        with _open_hashed(fs, path, compression) as (stream, _):
            lines = (line for _, line in _numbered_lines(stream, problem.encoding))
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
    except _LineDecodeError as exc:
        return f"; {exc}"
    except (csv.Error, *_READ_ERRORS) as exc:
        return f"; near line {reader.line_num if reader else '?'}: {exc}"
    return ""


def _require_columns(wanted: list[str], present: list[str]) -> None:
    missing = [c for c in wanted if c not in present]
    if missing:
        raise _BadContent(
            f"file.columns {', '.join(repr(c) for c in missing)} not in the file; "
            f"columns present: {', '.join(present) or '(none)'}"
        )


def _all_strings(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Safety net: a column whose header we parsed differently from Arrow becomes text too."""
    if all(pa.types.is_string(f.type) for f in batch.schema):
        return batch
    return batch.cast(pa.schema([f.with_type(pa.string()) for f in batch.schema]))


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
        _require_columns(columns, sorted(seen))


def _follow_json_path(document: Any, json_path: str | None) -> list[Any]:
    """The records ``json_path`` points at: a list, or an object (one record)."""
    node = document
    walked: list[str] = []
    for segment in json_path.split(".") if json_path else []:
        where = f"'{'.'.join(walked)}'" if walked else "the top level"
        if isinstance(node, dict):
            if segment not in node:
                keys = ", ".join(map(str, node)) or "(none)"
                raise _BadContent(
                    f"json_path '{json_path}': no key '{segment}' at {where}; keys there: {keys}"
                )
            node = node[segment]
        elif isinstance(node, list):
            if not re.fullmatch(r"-?\d+", segment) or not -len(node) <= int(segment) < len(node):
                raise _BadContent(
                    f"json_path '{json_path}': '{segment}' at {where} must index a list of "
                    f"{len(node)} items (0..{len(node) - 1})"
                )
            node = node[int(segment)]
        else:
            raise _BadContent(
                f"json_path '{json_path}': {where} is a {type(node).__name__}, not an object or list, "
                f"so '{segment}' cannot be followed"
            )
        walked.append(segment)
    if isinstance(node, list):
        return node
    if isinstance(node, dict):
        return [node]
    target = f"json_path '{json_path}'" if json_path else "the document"
    raise _BadContent(f"{target} is a {type(node).__name__}; expected a list of records or an object")


def _read_parquet(handle: BinaryIO, cfg: FileConfig, batch_rows: int) -> Iterator[pa.RecordBatch]:
    parquet = pq.ParquetFile(handle)
    columns = None
    if cfg.columns:
        _require_columns(cfg.columns, parquet.schema_arrow.names)
        columns = list(cfg.columns)
    for batch in parquet.iter_batches(batch_size=batch_rows, columns=columns):
        if batch.num_rows:
            yield batch


def _with_source_file(batch: pa.RecordBatch, url: str) -> pa.RecordBatch:
    column = pa.repeat(pa.scalar(url, pa.string()), batch.num_rows)
    index = batch.schema.get_field_index(SOURCE_FILE_COLUMN)
    if index >= 0:
        return batch.set_column(index, SOURCE_FILE_COLUMN, column)
    return batch.append_column(SOURCE_FILE_COLUMN, column)


# --- streams ----------------------------------------------------------------------------------------------


class _HashingReader(io.RawIOBase):
    """Passes a file's stored bytes through, hashing them: SHA-256 and size without a second read."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._sha = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._raw.read(len(buffer))
        count = len(data)
        buffer[:count] = data
        self._sha.update(data)
        self.size += count
        return count

    def drain(self) -> None:
        """Hash whatever the format reader left unread (trailing bytes, a gzip trailer)."""
        while chunk := self._raw.read(_HASH_CHUNK):
            self._sha.update(chunk)
            self.size += len(chunk)

    def hexdigest(self) -> str:
        return self._sha.hexdigest()


class _Prefixed(io.RawIOBase):
    """A stream that first replays ``head`` (bytes already read to peek) and then continues ``rest``."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = memoryview(head)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            count = min(len(buffer), len(self._head))
            buffer[:count] = self._head[:count]
            self._head = self._head[count:]
            return count
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


@contextmanager
def _open_hashed(
    fs: fsspec.AbstractFileSystem, path: str, compression: str | None
) -> Iterator[tuple[BinaryIO, _HashingReader]]:
    """Open ``path`` for one sequential pass: (decompressed stream, hasher of the stored bytes)."""
    with fs.open(path, "rb") as raw:
        hasher = _HashingReader(raw)
        stream: BinaryIO = io.BufferedReader(hasher, buffer_size=_HASH_CHUNK)  # type: ignore[arg-type]
        if compression:
            stream = compr[compression](stream, mode="rb")
        try:
            yield stream, hasher
        finally:
            if compression:
                stream.close()


def _hash_file(fs: fsspec.AbstractFileSystem, path: str) -> tuple[int, str]:
    sha = hashlib.sha256()
    size = 0
    with fs.open(path, "rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            sha.update(chunk)
            size += len(chunk)
    return size, sha.hexdigest()


def _hidden_below(path: str, root: str) -> bool:
    """Whether a glob match is, or sits in a folder, named ``_...``/``.…`` below the glob's fixed root."""
    relative = path[len(root) :] if root and path.startswith(root) else posixpath.basename(path)
    return any(_is_hidden(part) for part in relative.split("/") if part)
