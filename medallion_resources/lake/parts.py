"""Part files: streaming Arrow data into size-capped Parquet files.

An artifact (Bronze ``data``, Silver ``current``/``history``/..., quarantined ``errors``) is written as a
sequence of part files. ``PartWriter`` buffers incoming batches and cuts a part whenever the buffer reaches
``max_rows`` rows or ``max_bytes`` bytes of in-memory Arrow data (a batch bigger than either is sliced), so
memory stays bounded by one part (plus the parts being encoded, below). Each part is written to a local temp
file, hashed, and moved into place with ``StorageBackend.put_file``. It is not *committed* until a manifest
lists it (``medallion_resources.lake.commit``).

A part is encoded by the library its data came from, so nothing is converted on the way: polars frames
(Silver) by polars, which encodes on all cores; Arrow batches (Bronze's extractors) by pyarrow, which takes
Arrow strings as they are, writes dictionary arrays (the constant Bronze columns) as Parquet dictionaries
without hashing a value, and needs a third less CPU, but encodes on one thread, so two such parts are
encoded at once while the producer goes on. Either way the file's Arrow schema is the stored schema
(:func:`stored_schema`: no dictionary or view types), so every reader sees the types ``_metadata.json``
records.

Schema widening is :mod:`medallion_resources.lake.schema` (the one rule used by the writer and the readers).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import tempfile
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TypeAlias

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from medallion_resources.errors import StorageError
from medallion_resources.lake.leftovers import temp_prefix
from medallion_resources.lake.manifest import DATA, DELETES, ManifestFile
from medallion_resources.lake.schema import unify_tables, widen_schema
from medallion_resources.storage.base import StorageBackend, join_relpath

__all__ = [
    "CHUNK_SIZE",
    "PartSettings",
    "PartWriter",
    "Writable",
    "hash_stream",
    "read_parquet_bytes",
    "stored_schema",
    "to_arrow_table",
]


@dataclass(frozen=True)
class PartSettings:
    """How part files are cut and compressed: the storage layer's record of ``output_defaults``.

    Built by ``medallion_assets.specs`` from the YAML config, so this layer never sees the config models.
    """

    max_rows_per_file: int = 100_000
    max_file_size_mb: float = 256.0
    parquet_compression: str = "zstd"
    parquet_compression_level: int | None = 1


CHUNK_SIZE = 1 << 20  # hash and copy in 1 MiB chunks
ENCODE_AHEAD = 2  # Arrow parts encoded at once (pyarrow's writer is single-threaded and releases the GIL)
_LEVELED_CODECS = {"zstd", "gzip", "brotli"}

Writable: TypeAlias = pa.RecordBatch | pa.Table | pl.DataFrame


# --- writing ----------------------------------------------------------------------------------------------


def to_arrow_table(data: Writable) -> pa.Table:
    """Normalize what an asset streams (Arrow batch or table, polars frame) to one Arrow table."""
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if isinstance(data, pl.DataFrame):
        return data.to_arrow()
    raise TypeError(
        f"part files take pyarrow.RecordBatch, pyarrow.Table or polars.DataFrame, got {type(data).__name__}"
    )


def hash_stream(stream: BinaryIO) -> tuple[int, str]:
    """(size, SHA-256 hex) of a binary stream, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    size = 0
    while chunk := stream.read(CHUNK_SIZE):
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


_PLAIN_TYPES = {pa.string_view(): pa.string(), pa.binary_view(): pa.binary()}


def stored_schema(schema: pa.Schema) -> pa.Schema:
    """``schema`` as a part stores and records it: view types as their plain types, dictionaries as their
    value types.

    Both are in-memory layouts: string views are polars' own; a dictionary is how a column of few values
    (``constant_columns``) travels, and Parquet's dictionary encoding how it is stored. Readers get the
    plain type, and ``_metadata.json`` records it.
    """
    if all(_stored_type(f.type) == f.type for f in schema):
        return schema
    return pa.schema([f.with_type(_stored_type(f.type)) for f in schema], metadata=schema.metadata)


def _stored_type(data_type: pa.DataType) -> pa.DataType:
    if pa.types.is_dictionary(data_type):
        data_type = data_type.value_type
    return _PLAIN_TYPES.get(data_type, data_type)


def _write_parquet(
    data: pa.Table | pl.DataFrame, path: str, compression: str, level: int | None, kind: str = DATA
) -> None:
    """Write one part by the library it is in: a polars frame by polars, an Arrow table by pyarrow
    (:func:`_write_arrow`; also a frame whose types polars' writer refuses)."""
    level = level if compression in _LEVELED_CODECS else None
    if kind == DELETES:
        _write_deletes(to_arrow_table(data), path, compression, level)
        return
    if isinstance(data, pl.DataFrame):
        try:
            data.write_parquet(path, compression=compression, compression_level=level)  # type: ignore[arg-type]
            return
        except (pl.exceptions.PolarsError, pa.ArrowException, TypeError, ValueError, NotImplementedError):
            data = data.to_arrow()  # pyarrow writes anything Arrow holds
    _write_arrow(data, path, compression, level)


def _write_arrow(table: pa.Table, path: str, compression: str, level: int | None) -> None:
    """pyarrow's writer. Dictionary columns are written as Parquet dictionaries as they are (a constant
    column costs nothing per row); no other column is dictionary-encoded (hashing every value of a column of
    many values costs more than zstd then saves). The file's Arrow schema is the stored schema, which
    pyarrow would otherwise write with the dictionary types."""
    codec = "none" if compression == "uncompressed" else compression
    views = [f.name for f in table.schema if f.type in _PLAIN_TYPES]
    if views:  # Parquet has no view types: written as their plain types
        plain = [f.with_type(_PLAIN_TYPES.get(f.type, f.type)) for f in table.schema]
        table = table.cast(pa.schema(plain, table.schema.metadata))
    dictionaries = [f.name for f in table.schema if pa.types.is_dictionary(f.type)]
    arrow_schema = base64.b64encode(stored_schema(table.schema).serialize().to_pybytes())
    with pq.ParquetWriter(
        path,
        table.schema,
        compression=codec,
        compression_level=level,
        use_dictionary=dictionaries or False,
        store_schema=False,
    ) as writer:
        writer.write_table(table)
        writer.add_key_value_metadata({"ARROW:schema": arrow_schema.decode("ascii")})


def _write_deletes(table: pa.Table, path: str, compression: str, level: int | None) -> None:
    """A deletes file, (``path``, ``pos``) sorted by both, encoded for how it is read: every Silver day
    decodes every deletes file its artifacts list. ``path`` is dictionary-encoded (a handful of data files),
    ``pos`` delta-encoded (ascending runs): 4x smaller than polars' default encoding and decoded in a
    third of the time (720k deleted rows: 11 -> 3.5 ms). Any Parquet reader reads both encodings."""
    codec = "none" if compression == "uncompressed" else compression
    pq.write_table(
        table,
        path,
        compression=codec,
        compression_level=level,
        use_dictionary=["path"],
        column_encoding={"pos": "DELTA_BINARY_PACKED"},
    )


def read_parquet_bytes(
    data: bytes, columns: Sequence[str] | None = None, *, read_dictionary: Sequence[str] = ()
) -> pa.Table:
    """A part file's bytes as an Arrow table (``columns`` only, when given; ``read_dictionary`` columns as
    Arrow dictionaries).

    ``ParquetFile``, not ``pq.read_table``: that one goes through ``pyarrow.dataset`` (imported on its first
    call, ~40 ms) and took ~50 ms for a 100k-row deletes file that ``ParquetFile`` reads in ~5 ms. Decoded
    on the calling thread: the buffer over ``data`` is a Python object, and Arrow's pool releasing it from
    its own threads as the interpreter exits aborts the process ("terminate called without an active
    exception"; 4 exits in 60 right after such reads did, none on this thread).
    """
    parquet = pq.ParquetFile(pa.BufferReader(data), read_dictionary=list(read_dictionary) or None)
    return parquet.read(list(columns) if columns is not None else None, use_threads=False)


class PartWriter:
    """Writes one artifact's batches into part files, cutting a part by rows and by bytes.

    ``name_template`` is a ``str.format`` template with one field, ``n`` (the 1-based part number), already
    holding everything else: ``"current-part-{n:05d}-20261127T051203123456Z-1a2b3c.parquet"``. It may
    contain a sub-folder (``"_errors/errors-part-{n:05d}-<attempt>.parquet"``); files land at
    ``prefix/<name>`` and are reported with ``path=<name>``, relative to ``prefix``.

    Within one part, batches of different schemas are unified with ``widen_schema``; each part keeps its
    own schema, and ``schema`` is the widened schema of everything written (known even with zero rows).

    Parts of Arrow batches are encoded on a pool, :data:`ENCODE_AHEAD` at once, and placed in their order
    as they finish; memory holds the buffer plus those parts. ``files`` lists the parts placed so far.
    """

    def __init__(
        self,
        backend: StorageBackend,
        prefix: str,
        name_template: str,
        *,
        max_rows: int,
        max_bytes: int,
        compression: str,
        compression_level: int | None,
        tmp_dir: str | None = None,
        artifact: str = "data",
        kind: str = DATA,
    ) -> None:
        if max_rows < 1 or max_bytes < 1:
            raise ValueError(f"max_rows and max_bytes must be >= 1, got {max_rows} and {max_bytes}")
        if "{n" not in name_template:
            raise ValueError(f"name_template '{name_template}' must contain the part number field '{{n...}}'")
        self.backend = backend
        self.prefix = prefix.strip("/")
        self.name_template = name_template
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self.compression = compression
        self.compression_level = compression_level
        self.tmp_dir = tmp_dir if tmp_dir is not None else backend.staging_dir()
        self.artifact = artifact
        self.kind = kind
        self.schema: pa.Schema | None = None
        self.files: list[ManifestFile] = []
        self.row_count = 0
        self.closed = False
        self._buffer: list[pa.Table | pl.DataFrame] = []
        self._buffer_schema: pa.Schema | None = None
        self._buffer_rows = 0
        self._buffer_bytes = 0.0
        # Bounded parallel upload: at most ``upload_concurrency`` parts in flight (1: upload inline).
        self.upload_concurrency = max(1, int(getattr(backend, "upload_concurrency", 1)))
        self._uploads: list[Future[None]] = []
        self._pool: ThreadPoolExecutor | None = None
        self._parts_cut = 0
        self._encoding: list[Future[tuple[str, ManifestFile]]] = []
        self._encoder: ThreadPoolExecutor | None = None

    def write(self, data: Writable) -> None:
        """Buffer ``data``; cut a part each time the buffer reaches ``max_rows`` rows or ``max_bytes``."""
        if self.closed:
            raise StorageError(f"artifact '{self.artifact}' under {self.prefix}: write after close()")
        piece: pa.Table | pl.DataFrame
        if isinstance(data, pl.DataFrame):  # kept as polars: sliced, joined and written without conversion
            piece, schema = data, data.head(0).to_arrow().schema
            rows, nbytes = data.height, data.estimated_size()
        else:
            piece = to_arrow_table(data)
            schema, rows, nbytes = piece.schema, piece.num_rows, piece.nbytes
        stored = stored_schema(schema)
        self.schema = stored if self.schema is None else widen_schema(self.schema, stored)
        if rows == 0:
            return
        if self._buffer_schema is not None and _zone_differs(self._buffer_schema, stored):
            self._flush()  # each form in a part of its own: only Silver knows the zone naive times are in
        bytes_per_row = max(nbytes / rows, 1e-9)
        offset = 0
        while offset < rows:
            room_rows = self.max_rows - self._buffer_rows
            room_bytes = max(1, int((self.max_bytes - self._buffer_bytes) // bytes_per_row))
            take = min(rows - offset, room_rows, room_bytes)
            self._buffer.append(piece.slice(offset, take))
            if self._buffer_schema is None or self._buffer_schema.equals(stored):
                self._buffer_schema = stored
            else:
                self._buffer_schema = widen_schema(self._buffer_schema, stored)
            self._buffer_rows += take
            self._buffer_bytes += take * bytes_per_row
            offset += take
            if self._buffer_rows >= self.max_rows or self._buffer_bytes >= self.max_bytes:
                self._flush()

    def close(self) -> list[ManifestFile]:
        """Write what is buffered and wait for every upload; return every file written.

        Calling it again returns the same list. An upload that failed raises here.
        """
        if not self.closed:
            self.closed = True
            self._flush()
            while self._encoding:
                self._place(*self._encoding.pop(0).result())
            self._stop_encoder()
            self._wait_uploads(raise_errors=True)
        return list(self.files)

    def discard(self) -> None:
        """Drop buffered rows without writing them (the attempt is being aborted).

        Parts being encoded are waited for and their temp files removed; uploads in flight are waited for
        (their errors ignored), so that the abort that follows sees, and removes, every file this writer put.
        """
        self._buffer.clear()
        self._buffer_schema = None
        self._buffer_rows = 0
        self._buffer_bytes = 0.0
        self.closed = True
        encoding, self._encoding = self._encoding, []
        for future in encoding:
            try:
                tmp, _ = future.result()
            except BaseException:  # noqa: BLE001, S112 - a failed encode removed its own temp file
                continue
            with contextlib.suppress(OSError):
                Path(tmp).unlink(missing_ok=True)
        self._stop_encoder()
        self._wait_uploads(raise_errors=False)

    def _stop_encoder(self) -> None:
        if self._encoder is not None:
            self._encoder.shutdown(wait=True)
            self._encoder = None

    def _wait_uploads(self, raise_errors: bool) -> None:
        uploads, self._uploads = self._uploads, []
        error: BaseException | None = None
        for future in uploads:
            try:
                future.result()
            except BaseException as exc:  # noqa: BLE001 - the first error is re-raised below
                error = error or exc
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if error is not None and raise_errors:
            raise error

    def _upload(self, tmp: str, relpath: str) -> None:
        try:
            self.backend.put_file(tmp, relpath)
        finally:
            with contextlib.suppress(OSError):
                Path(tmp).unlink(missing_ok=True)

    def _flush(self) -> None:
        if not self._buffer:
            return
        buffered = self._buffer
        self._buffer, self._buffer_rows, self._buffer_bytes = [], 0, 0.0
        self._buffer_schema = None
        part = _joined(buffered)
        self._parts_cut += 1
        name = self.name_template.format(n=self._parts_cut)
        self.row_count += _height(part)
        if isinstance(part, pl.DataFrame):  # polars' writer encodes on every core itself
            # Placed after the parts still encoding on the pool (an earlier part joined as an Arrow table),
            # so ``files`` lists the parts in the order they were cut: readers take a key's rows in it.
            while self._encoding:
                self._place(*self._encoding.pop(0).result())
            self._place(*self._encode(part, name))
            return
        while len(self._encoding) >= ENCODE_AHEAD:
            self._place(*self._encoding.pop(0).result())
        if self._encoder is None:
            self._encoder = ThreadPoolExecutor(ENCODE_AHEAD, thread_name_prefix="medallion-encode")
        self._encoding.append(self._encoder.submit(self._encode, part, name))

    def _encode(self, part: pa.Table | pl.DataFrame, name: str) -> tuple[str, ManifestFile]:
        """Write ``part`` to a local temp file and hash it: (the temp file, the file it will be)."""
        if self.tmp_dir:
            os.makedirs(self.tmp_dir, exist_ok=True)
        # Named by dataset and process, so the next commit can tell a killed writer's file (lake.leftovers).
        fd, tmp = tempfile.mkstemp(
            dir=self.tmp_dir, prefix=temp_prefix(self.backend, self.prefix), suffix=".parquet"
        )
        os.close(fd)
        try:
            try:
                _write_parquet(part, tmp, self.compression, self.compression_level, self.kind)
                with open(tmp, "rb") as handle:
                    size, sha256 = hash_stream(handle)
            except (pa.ArrowException, OSError) as exc:
                raise StorageError(
                    f"artifact '{self.artifact}': writing part {name} ({_height(part)} rows) to a temp file "
                    f"failed: {type(exc).__name__}: {exc}"
                ) from exc
        except BaseException:
            with contextlib.suppress(OSError):
                Path(tmp).unlink(missing_ok=True)
            raise
        file = ManifestFile(
            path=name,
            artifact=self.artifact,
            size_bytes=size,
            sha256=sha256,
            row_count=_height(part),
            kind=self.kind,
        )
        return tmp, file

    def _place(self, tmp: str, part: ManifestFile) -> None:
        """Move an encoded part into place (uploads: at most ``upload_concurrency`` at once)."""
        relpath = join_relpath(self.prefix, part.path)
        if self.upload_concurrency == 1:
            self._upload(tmp, relpath)
        else:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    self.upload_concurrency, thread_name_prefix="medallion-upload"
                )
            # Bounded: wait for the oldest upload before a part beyond the limit is queued, so at most
            # ``upload_concurrency`` finished temp files wait on local disk.
            while len([f for f in self._uploads if not f.done()]) >= self.upload_concurrency:
                wait([f for f in self._uploads if not f.done()], return_when=FIRST_COMPLETED)
            failed = [f for f in self._uploads if f.done() and f.exception() is not None]
            if failed:
                Path(tmp).unlink(missing_ok=True)
                raise failed[0].exception()  # type: ignore[misc]
            self._uploads.append(self._pool.submit(self._upload, tmp, relpath))
        self.files.append(part)


def _zone_differs(buffered: pa.Schema, incoming: pa.Schema) -> bool:
    """Whether a column holds date-times with a time zone on one side and naive ones (or dates) on the
    other. One part would widen the naive values as UTC (the lake's rule, as Bronze knows no zone), which
    Silver reads as wall time in the source's ``partitions.timezone`` instead
    (``medallion_assets.silver.widen``): the two forms go to parts of their own, as files of two days do."""
    for field in incoming:
        index = buffered.get_field_index(field.name)
        if index < 0:
            continue
        zones = {_zone(buffered.field(index).type), _zone(field.type)}
        if "naive" in zones and len(zones) == 2 and None not in zones:
            return True
    return False


def _zone(data_type: pa.DataType) -> str | None:
    """``"naive"`` for naive date-times and dates, the zone of a zoned date-time, None for anything else."""
    if pa.types.is_timestamp(data_type):
        return data_type.tz or "naive"
    return "naive" if pa.types.is_date(data_type) else None


def _joined(pieces: list[pa.Table | pl.DataFrame]) -> pa.Table | pl.DataFrame:
    """The buffered pieces of one part as one: polars frames of one schema as a polars frame, anything else
    as an Arrow table (schemas widened by the one rule)."""
    first = pieces[0]
    if isinstance(first, pl.DataFrame) and all(
        isinstance(p, pl.DataFrame) and p.schema == first.schema for p in pieces[1:]
    ):
        return first if len(pieces) == 1 else pl.concat(pieces, rechunk=False)
    tables = [to_arrow_table(p) for p in pieces]
    if all(t.schema.equals(tables[0].schema) for t in tables[1:]):
        return pa.concat_tables(tables)
    return unify_tables(tables)


def _height(part: pa.Table | pl.DataFrame) -> int:
    return part.height if isinstance(part, pl.DataFrame) else part.num_rows
