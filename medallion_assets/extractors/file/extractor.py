"""The ``file`` extractor: finds the partition's files (``paths``) and streams each through its format's
reader (``csv_reader``, ``json_reader``, ``parquet_reader``), hashing what it reads (``streams``)."""

from __future__ import annotations

import contextlib
import time as clock
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import fsspec
import pyarrow as pa
from fsspec.implementations.local import LocalFileSystem

from medallion_assets.config.models import FileConfig
from medallion_assets.errors import ExtractError
from medallion_assets.extractors.base import CheckResult, ExtractContext, Extractor
from medallion_assets.extractors.file.common import READ_ERRORS, BadContent, BadLines, EmptyFile
from medallion_assets.extractors.file.csv_reader import (
    BlockTooSmall,
    CsvParseError,
    locate_bad_rows,
    locate_csv_problem,
    max_block_size,
    read_csv,
)
from medallion_assets.extractors.file.parquet_reader import read_parquet
from medallion_assets.extractors.file.paths import (
    fixed_root,
    format_from_extension,
    list_files,
    resolve_path_template,
    storage_options_for,
    stream_compression,
    unread_compression,
)
from medallion_assets.extractors.file.streams import (
    Prefetched,
    hash_file,
    hash_handle,
    open_hashed,
    prefetched,
)
from medallion_assets.extractors.registry import register_extractor
from medallion_resources.lake.constant_columns import ConstantColumns
from medallion_resources.redact import redact
from medallion_resources.threads import parallel

__all__ = ["SOURCE_FILE_COLUMN", "FileExtractor"]

SOURCE_FILE_COLUMN = "_source_file"
FILES_LOGGED = 5
"""Files of a partition logged one by one; after them, a file's line only when the last line is
``FILE_LOG_SECONDS`` old, and one line for all of them at the end (a day of 2,000 small files wrote 2,000
events, a third of its Bronze step)."""
FILE_LOG_SECONDS = 10.0


SMALL_BATCH_ROWS = 5_000
"""A batch under this many rows (a small file's) waits to be handed on with the next files' small batches."""


class _SmallBatches:
    """Small batches of consecutive files joined into one, up to ``rows`` rows: each batch costs the Bronze
    step its columns, part-writer and progress bookkeeping, ~0.5 ms, as much as reading a small file. The
    files' one-value ``_source_file`` dictionaries become one dictionary of their paths. Batches keep their
    order; a batch of other columns or types is not joined with the ones before it."""

    def __init__(self, rows: int) -> None:
        self._rows = rows
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0

    def add(self, batch: pa.RecordBatch) -> Iterator[pa.RecordBatch]:
        if self._pending and (
            batch.num_rows >= SMALL_BATCH_ROWS
            or self._pending_rows + batch.num_rows > self._rows
            or not batch.schema.equals(self._pending[0].schema)
        ):
            yield from self.flush()
        if batch.num_rows >= SMALL_BATCH_ROWS:
            yield batch
            return
        self._pending.append(batch)
        self._pending_rows += batch.num_rows

    def flush(self) -> Iterator[pa.RecordBatch]:
        pending, self._pending, self._pending_rows = self._pending, [], 0
        if len(pending) == 1:
            yield pending[0]
        elif pending:
            yield from pa.Table.from_batches(pending).combine_chunks().to_batches()


@dataclass
class _FileLog:
    """The run log's lines of one partition's files (``FILES_LOGGED``)."""

    source: str
    fmt: str = ""
    files: int = 0
    rows: int = 0
    logged: int = 0
    last: float = field(default_factory=clock.monotonic)

    def file(self, ctx: ExtractContext, fmt: str, rows: int, url: str) -> None:
        self.files, self.rows = self.files + 1, self.rows + rows
        self.fmt = fmt if self.fmt in ("", fmt) else "mixed"
        now = clock.monotonic()
        if self.files <= FILES_LOGGED or now - self.last >= FILE_LOG_SECONDS:
            ctx.log.info("source '%s': %s rows from %s file %s", self.source, rows, fmt, url)
            self.logged, self.last = self.logged + 1, now

    def close(self, ctx: ExtractContext) -> None:
        if self.logged < self.files:
            ctx.log.info(
                "source '%s': %s rows from %s %s files (%s of them logged one by one; _metadata.json's "
                "source_files lists each with its size and SHA-256)",
                self.source,
                self.rows,
                self.files,
                self.fmt,
                self.logged,
            )


@register_extractor
class FileExtractor(Extractor):
    """Reads the files ``file.path`` matches for the run date; see the module docstring for the YAML."""

    type_name = "file"
    section = "file"
    csv_block_size: int = 1 << 20
    """Bytes of CSV per batch to start with (grown for a longer row, up to ``file.max_field_mb``)."""
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
        self.bad_lines = BadLines(self.quarantines)
        self._hashed: list[tuple[int, str]] = []
        self._footer_rows: list[int] = []  # each parquet file's footer row count, as it is read
        self._json_text: list[str] = []  # JSON lines columns the files read so far taught are text
        pattern = self.config.path
        try:
            resolved = resolve_path_template(pattern, ctx.run_date, ctx.window_start, ctx.window_end)
        except ExtractError as exc:
            raise ExtractError(f"source '{self._name}': {exc}") from None
        fs, paths, skipped, sizes = list_files(resolved, self.platform, self._name)
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
        # Files are read in a thread while the batches already read are written (both release the GIL).
        yield from parallel([lambda: self._read_all(fs, paths, sizes, ctx)])

    def _read_all(
        self, fs: fsspec.AbstractFileSystem, paths: list[str], sizes: dict[str, int], ctx: ExtractContext
    ) -> Iterator[pa.RecordBatch]:
        rows = 0
        log = _FileLog(self._name)
        small = _SmallBatches(self.batch_rows)
        # An object store's small files are fetched ahead, several at once; a local file is opened in turn.
        files: Generator[tuple[str, bytes | None], None, None] = (
            ((p, None) for p in paths) if isinstance(fs, LocalFileSystem) else prefetched(fs, paths, sizes)
        )
        with contextlib.closing(files):  # an error stops the fetches ahead
            for path, data in files:
                source = fs if data is None else Prefetched(fs, {path: data})
                for batch in self._read_file(source, path, ctx, log):
                    rows += batch.num_rows
                    yield from small.add(batch)
        yield from small.flush()
        log.close(ctx)
        if self.quarantines:
            self._check_quarantine(rows)

    def check(self) -> CheckResult:
        """List today's matches without reading them; fail when the fixed folder or bucket is unreachable."""
        pattern = self.config.path
        tz = ZoneInfo(self._timezone())
        today = datetime.now(tz).date()
        start = datetime.combine(today, time(), tzinfo=tz)
        try:
            resolved = resolve_path_template(pattern, today, start, start + timedelta(days=1))
            root = fixed_root(pattern)
            if root and not root.endswith(":/"):
                root_fs, root_path = fsspec.core.url_to_fs(root, **storage_options_for(root, self.platform))
                if not root_fs.exists(root_path):
                    return CheckResult(
                        False, f"folder '{redact(root)}' of file.path '{redact(pattern)}' does not exist"
                    )
            _, paths, _, _ = list_files(resolved, self.platform, self._name)
        except (OSError, ImportError, ValueError) as exc:
            return CheckResult(False, f"cannot reach file.path '{redact(pattern)}': {redact(str(exc))}")
        except ExtractError as exc:
            return CheckResult(False, str(exc))
        return CheckResult(
            True,
            f"{len(paths)} {'file matches' if len(paths) == 1 else 'files match'} '{redact(pattern)}' "
            f"(today's template: '{redact(resolved)}')",
        )

    # -- no files --

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
        self, fs: fsspec.AbstractFileSystem, path: str, ctx: ExtractContext, log: _FileLog
    ) -> Iterator[pa.RecordBatch]:
        cfg = self.config
        url = redact(path if isinstance(fs, LocalFileSystem) else fs.unstrip_protocol(path))
        fmt = cfg.format or format_from_extension(path, url, self._name)
        compression = stream_compression(path)
        self.bad_lines.start_file(url)
        rows = 0
        try:
            counted: int | None = None  # text formats carry no count of their own: the rows parsed do
            unread = unread_compression(path) if fmt != "parquet" else None  # (Parquet checks its own bytes)
            if unread:  # read as text, its compressed bytes would land as rows (every byte is Latin-1 text)
                raise BadContent(
                    f"{unread}-compressed files are not read (.gz, .bz2, .xz are, while they stream): "
                    "decompress it first"
                )
            if isinstance(cfg.columns, dict) and fmt not in ("csv", "tsv"):  # (FileConfig checks file.format)
                raise BadContent(
                    f"columns with types apply to csv/tsv files, not format '{fmt}' (from the file's "
                    "extension): list the names only, and type the columns in Silver (silver.schema.types)"
                )
            try:
                if fmt == "parquet":
                    stream_rows = self._read_parquet(fs, path, compression)
                else:
                    stream_rows = self._read_text(fs, path, compression, fmt, ctx)
                source_file = ConstantColumns({SOURCE_FILE_COLUMN: pa.scalar(url, pa.string())})
                for batch in stream_rows:
                    rows += batch.num_rows
                    yield source_file.apply(batch)
                if source_file.renamed:
                    ctx.log.warning(
                        "source '%s': %s has its own column '%s', kept as '%s' (every file source adds '%s')",
                        self._name,
                        url,
                        SOURCE_FILE_COLUMN,
                        source_file.renamed[SOURCE_FILE_COLUMN],
                        SOURCE_FILE_COLUMN,
                    )
                size, sha256 = self._hashed.pop()
                if fmt == "parquet":
                    counted = self._footer_rows.pop()  # the file's own count: its footer
            except EmptyFile as empty:
                if not cfg.allow_empty:
                    raise
                size, sha256 = hash_file(fs, path)
                ctx.log.info(
                    "source '%s': %s %s; file.allow_empty is true, so it adds no rows",
                    self._name,
                    url,
                    empty.what,
                )
            if fmt in ("csv", "tsv") and self.bad_lines.pending_in_file():
                self.bad_lines.number_lines(locate_bad_rows(fs, path, compression, cfg, fmt))
        except ExtractError:
            raise
        except (BadContent, *READ_ERRORS) as exc:
            detail = str(exc)
            if isinstance(exc, CsvParseError):
                detail += locate_csv_problem(fs, path, compression, exc)
            raise ExtractError(
                f"source '{self._name}': cannot read {fmt} file '{url}': {redact(detail)}"
            ) from exc
        self.stats["source_files"].append({"path": url, "size_bytes": size, "sha256": sha256})
        # Bronze's row_count_matches_source check compares the rows landed with this.
        self.stats["source_row_count"] = self.stats.get("source_row_count", 0) + (
            rows if counted is None else counted
        )
        # One log line (one event) per file, for the first files (``_FileLog``).
        log.file(ctx, fmt, rows, url)

    def _read_parquet(
        self, fs: fsspec.AbstractFileSystem, path: str, compression: str | None
    ) -> Iterator[pa.RecordBatch]:
        if compression:
            raise BadContent(
                f"{compression}-compressed parquet is not supported (parquet compresses internally)"
            )
        if fs.size(path) == 0:
            raise EmptyFile()
        with fs.open(path, "rb") as handle:
            yield from read_parquet(handle, self.config, self.batch_rows, self._footer_rows)
            self._hashed.append(hash_handle(handle))  # the file read, even if renamed over since

    def _read_text(
        self, fs: fsspec.AbstractFileSystem, path: str, compression: str | None, fmt: str, ctx: ExtractContext
    ) -> Iterator[pa.RecordBatch]:
        """csv/tsv/json/jsonl in one pass, hashing the stored bytes; a CSV row too long for the block makes
        another pass with a bigger block, skipping the rows the earlier pass already gave."""
        cfg = self.config
        block_size, done = min(self.csv_block_size, max_block_size(cfg)), 0
        while True:
            try:
                with open_hashed(fs, path, compression) as (stream, hasher):
                    if fmt in ("csv", "tsv"):
                        batches = read_csv(stream, cfg, fmt, block_size, self.bad_lines, skip_rows=done)
                    else:
                        # Imported here: its pyarrow.compute is ~20 ms of every csv or parquet run.
                        from medallion_assets.extractors.file.json_reader import read_json, read_jsonl

                        if fmt == "jsonl":
                            batches = read_jsonl(
                                stream, cfg, self.batch_rows, self.bad_lines, self._json_text
                            )
                        else:
                            batches = read_json(stream, cfg, self.batch_rows)
                    for batch in batches:
                        done += batch.num_rows
                        yield batch
                    hasher.drain()
                self._hashed.append((hasher.size, hasher.hexdigest()))
                return
            except BlockTooSmall as grow:
                ctx.log.info(
                    "source '%s': a CSV row is longer than %d bytes; reading the file again, blocks of %d",
                    self._name,
                    block_size,
                    grow.block_size,
                )
                block_size, done = grow.block_size, grow.rows_done
                self.bad_lines.restart_file()

    # -- quarantine --

    @property
    def quarantines(self) -> bool:
        return self.config.on_bad_lines == "quarantine"

    def rejected(self) -> Iterator[pa.RecordBatch]:
        yield from self.bad_lines.batches()

    def _check_quarantine(self, rows: int) -> None:
        """Quarantined lines within ``silver.error_handling``'s allowances, else the partition fails."""
        bad = self.bad_lines.count
        self.stats["quarantined"] = bad
        if not bad:
            return
        limits = self.entry.silver.error_handling
        percent = 100.0 * bad / (rows + bad)
        if not limits.enabled or (bad > limits.max_bad_records and percent > limits.max_bad_percent):
            raise ExtractError(
                f"source '{self._name}': {bad} malformed line(s) ({percent:.2f}% of {rows + bad}) exceed "
                f"silver.error_handling (max_bad_records {limits.max_bad_records}, max_bad_percent "
                f"{limits.max_bad_percent:g}, enabled {str(limits.enabled).lower()}); raise them to land "
                f"the partition with those lines in _errors/. The first: {self.bad_lines.first()}"
            )
