"""Part files: streaming Arrow data into size-capped Parquet files, and the schema-widening rule.

An artifact (Bronze ``data``, Silver ``current``/``history``/..., quarantined ``errors``) is written as a
sequence of part files. ``PartWriter`` buffers incoming batches and cuts a part whenever the buffer reaches
``max_rows`` rows or ``max_bytes`` bytes of in-memory Arrow data (a batch bigger than either is sliced), so
memory stays bounded by one part. Each part is written to a local temp file with polars (about 2.5x faster
than ``pyarrow.parquet`` here; pyarrow is the fallback for types polars cannot take), hashed, and moved into
place with ``StorageBackend.put_file``. It is not *committed* until a manifest lists it
(``medallion_resources.manifest``).

Schema widening (``widen_schema``) is the one rule used both by the writer, to unify the batches that go
into one part, and by the readers, to unify parts before concatenating them, so that what was written is
what is read back. Columns are the union in order of first appearance (a missing column is null); a column
with two types gets the first matching rule of:

==============================================  ===========================================================
types                                           common type
==============================================  ===========================================================
``null`` + T                                    T
dictionary<V> + T                               V + T (dictionaries are decoded)
string + string (any of string/large/view)      ``large_string``
binary + binary or string                       ``large_binary``
bool + int/float/decimal                        the number
intN + intM                                     the wider; signed + unsigned: signed, twice the unsigned
                                                width (int64 + uint64: ``float64``)
floatN + floatM                                 the wider
int + float                                     ``float64``
decimal + decimal, decimal + int                decimal with the most integer digits and the largest scale
                                                (precision over 38: ``float64``)
decimal + float                                 ``float64``
date + date                                     ``date32``
date + timestamp                                the timestamp
timestamp + timestamp                           the finer unit; time zone: the same one, the aware one when
                                                one is naive (naive values are read as UTC), else ``UTC``
time + time, duration + duration                the finer unit
list<A> + list<B>                               list<A + B> (``large_list`` if either is large)
struct + struct                                 struct of the widened fields
anything else                                   ``large_string`` (values cast, or JSON text by the one rule
                                                of ``json_text``: ``{"a":1,"b":"é"}``)
==============================================  ===========================================================
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, TypeAlias

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from medallion_resources.errors import StorageError
from medallion_resources.json_text import json_text_array
from medallion_resources.storage.base import StorageBackend, join_relpath

__all__ = [
    "CHUNK_SIZE",
    "ManifestFile",
    "PartSettings",
    "PartWriter",
    "Writable",
    "common_type",
    "conform_table",
    "hash_stream",
    "read_parquet_bytes",
    "schema_from_json",
    "schema_to_json",
    "to_arrow_table",
    "unify_tables",
    "widen_schema",
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
_LEVELED_CODECS = {"zstd", "gzip", "brotli"}

Writable: TypeAlias = pa.RecordBatch | pa.Table | pl.DataFrame


@dataclass(frozen=True)
class ManifestFile:
    """One committed file as the manifest lists it; ``path`` is relative to the partition folder."""

    path: str
    artifact: str
    size_bytes: int
    sha256: str
    row_count: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "artifact": self.artifact,
            "size_bytes": self.size_bytes,
            "sha256": self.sha256,
            "row_count": self.row_count,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ManifestFile:
        return cls(
            path=str(data["path"]),
            artifact=str(data["artifact"]),
            size_bytes=int(data["size_bytes"]),
            sha256=str(data["sha256"]),
            row_count=int(data["row_count"]),
        )


# --- schema widening --------------------------------------------------------------------------------------

_STRING = pa.large_string()
_UNIT_RANK = {"s": 0, "ms": 1, "us": 2, "ns": 3}
_SIGNED_INTS = {8: pa.int8(), 16: pa.int16(), 32: pa.int32(), 64: pa.int64()}
_INT_DIGITS = {8: 3, 16: 5, 32: 10, 64: 20}  # decimal digits an integer of this width needs


def _is_string(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)


def _is_binary(t: pa.DataType) -> bool:
    return (
        pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
        or pa.types.is_binary_view(t)
        or pa.types.is_fixed_size_binary(t)
    )


def _is_list(t: pa.DataType) -> bool:
    return pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)


def _finer(a: str, b: str) -> str:
    return a if _UNIT_RANK[a] >= _UNIT_RANK[b] else b


def _common_int(a: pa.DataType, b: pa.DataType) -> pa.DataType:
    signed_a, signed_b = pa.types.is_signed_integer(a), pa.types.is_signed_integer(b)
    if signed_a == signed_b:
        return a if a.bit_width >= b.bit_width else b
    signed, unsigned = (a, b) if signed_a else (b, a)
    bits = max(signed.bit_width, 2 * unsigned.bit_width)
    return _SIGNED_INTS.get(bits, pa.float64())


def _as_decimal(t: pa.DataType) -> tuple[int, int]:
    """(integer digits, scale) of a decimal or integer type."""
    if pa.types.is_integer(t):
        return _INT_DIGITS[t.bit_width], 0
    if pa.types.is_boolean(t):
        return 1, 0
    return t.precision - t.scale, t.scale


def _common_decimal(a: pa.DataType, b: pa.DataType) -> pa.DataType:
    (ia, sa), (ib, sb) = _as_decimal(a), _as_decimal(b)
    scale = max(sa, sb)
    precision = max(ia, ib) + scale
    return pa.float64() if precision > 38 else pa.decimal128(precision, scale)


def _common_timestamp(a: pa.DataType, b: pa.DataType) -> pa.DataType:
    unit = _finer(a.unit, b.unit)
    if a.tz == b.tz:
        tz = a.tz
    elif a.tz is None or b.tz is None:
        tz = a.tz or b.tz
    else:
        tz = "UTC"
    return pa.timestamp(unit, tz)


def _numeric_kind(t: pa.DataType) -> str | None:
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_integer(t):
        return "int"
    if pa.types.is_floating(t):
        return "float"
    if pa.types.is_decimal(t):
        return "decimal"
    return None


def _common_numeric(a: pa.DataType, b: pa.DataType) -> pa.DataType | None:
    kinds = {_numeric_kind(a), _numeric_kind(b)}
    if None in kinds:
        return None
    if "bool" in kinds:
        return b if pa.types.is_boolean(a) else a
    if kinds == {"int"}:
        return _common_int(a, b)
    if kinds == {"float"}:
        return a if a.bit_width >= b.bit_width else b
    if "float" in kinds:
        return pa.float64()
    if kinds == {"int", "float"}:
        return pa.float64()
    return _common_decimal(a, b)  # decimal + decimal or decimal + int


def common_type(a: pa.DataType, b: pa.DataType) -> pa.DataType:
    """The type both ``a`` and ``b`` convert to without loss where possible (see the module's table)."""
    if a.equals(b):
        return a
    if pa.types.is_dictionary(a):
        return common_type(a.value_type, b)
    if pa.types.is_dictionary(b):
        return common_type(a, b.value_type)
    if pa.types.is_null(a):
        return b
    if pa.types.is_null(b):
        return a
    if _is_string(a) and _is_string(b):
        return _STRING
    if (_is_binary(a) or _is_string(a)) and (_is_binary(b) or _is_string(b)):
        return pa.large_binary()
    numeric = _common_numeric(a, b)
    if numeric is not None:
        return numeric
    if pa.types.is_date(a) and pa.types.is_date(b):
        return pa.date32()
    if pa.types.is_timestamp(a) and pa.types.is_date(b):
        return a
    if pa.types.is_date(a) and pa.types.is_timestamp(b):
        return b
    if pa.types.is_timestamp(a) and pa.types.is_timestamp(b):
        return _common_timestamp(a, b)
    if pa.types.is_time(a) and pa.types.is_time(b):
        unit = _finer(a.unit, b.unit)
        return pa.time64(unit) if unit in ("us", "ns") else pa.time32(unit)
    if pa.types.is_duration(a) and pa.types.is_duration(b):
        return pa.duration(_finer(a.unit, b.unit))
    if _is_list(a) and _is_list(b):
        item = common_type(a.value_type, b.value_type)
        large = pa.types.is_large_list(a) or pa.types.is_large_list(b)
        return pa.large_list(item) if large else pa.list_(item)
    if pa.types.is_struct(a) and pa.types.is_struct(b):
        return pa.struct(list(widen_schema(pa.schema(list(a)), pa.schema(list(b)))))
    return _STRING


def widen_schema(a: pa.Schema, b: pa.Schema) -> pa.Schema:
    """Union of the columns of ``a`` and ``b`` (order of first appearance), each with its common type."""
    if a.equals(b):
        return a
    b_fields = {f.name: f for f in reversed(list(b))}
    fields: list[pa.Field] = []
    seen: set[str] = set()
    for field in a:
        if field.name in seen:
            continue
        seen.add(field.name)
        other = b_fields.get(field.name)
        if other is None:
            fields.append(field.with_nullable(True))
        else:
            fields.append(
                pa.field(field.name, common_type(field.type, other.type), field.nullable or other.nullable)
            )
    for field in b:
        if field.name not in seen:
            seen.add(field.name)
            fields.append(field.with_nullable(True))
    return pa.schema(fields, metadata=a.metadata)


def _conform_array(arr: pa.Array, target: pa.DataType) -> pa.Array:
    if arr.type.equals(target):
        return arr
    if pa.types.is_dictionary(arr.type) and not pa.types.is_dictionary(target):
        return _conform_array(arr.dictionary_decode(), target)
    if pa.types.is_boolean(arr.type) and pa.types.is_decimal(target):
        arr = arr.cast(pa.int8())
    try:
        return arr.cast(target)
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError):
        if _is_string(target):
            return json_text_array(arr, target)  # the one nested-JSON-to-text rule
        if pa.types.is_struct(target) and pa.types.is_struct(arr.type):
            children = dict(zip(arr.type.names, arr.flatten(), strict=True))
            columns = [
                _conform_array(children[f.name], f.type) if f.name in children else pa.nulls(len(arr), f.type)
                for f in target
            ]
            return pa.StructArray.from_arrays(columns, fields=list(target), mask=arr.is_null())
        if _is_list(target) and _is_list(arr.type) and not pa.types.is_fixed_size_list(arr.type):
            values = _conform_array(arr.values, target.value_type)
            cls = pa.LargeListArray if pa.types.is_large_list(target) else pa.ListArray
            offsets = arr.offsets.cast(pa.int64() if cls is pa.LargeListArray else pa.int32())
            return cls.from_arrays(offsets, values, type=target, mask=arr.is_null())
        raise


def conform_table(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with exactly ``schema``'s columns, in order: casts widened columns, adds missing as nulls."""
    if table.schema.equals(schema):
        return table
    columns = []
    for field in schema:
        if field.name not in table.column_names:
            columns.append(pa.nulls(table.num_rows, field.type))
            continue
        column = table.column(field.name)
        try:
            chunks = [_conform_array(chunk, field.type) for chunk in column.chunks]
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise StorageError(
                f"column '{field.name}': cannot convert {column.type} to the widened type {field.type}: {exc}"
            ) from exc
        columns.append(pa.chunked_array(chunks, type=field.type))
    return pa.Table.from_arrays(columns, schema=schema)


def unify_tables(tables: list[pa.Table]) -> pa.Table:
    """Concatenate tables with possibly different schemas, widened by ``widen_schema``."""
    schema = tables[0].schema
    for table in tables[1:]:
        schema = widen_schema(schema, table.schema)
    return pa.concat_tables([conform_table(t, schema) for t in tables])


# --- schema as JSON (for _metadata.json) ------------------------------------------------------------------

_TIMESTAMP_RE = re.compile(r"^timestamp\[(s|ms|us|ns)(?:, tz=(.+))?\]$")
_DECIMAL_RE = re.compile(r"^decimal(128|256)?\((\d+),\s*(-?\d+)\)$")


def schema_to_json(schema: pa.Schema) -> list[dict[str, str]]:
    """``[{"name", "type"}]`` with Arrow's type names (``int64``, ``timestamp[us, tz=UTC]``, ...)."""
    return [{"name": f.name, "type": str(f.type)} for f in schema]


def _type_from_name(name: str) -> pa.DataType | None:
    name = name.strip()
    if match := _TIMESTAMP_RE.match(name):
        return pa.timestamp(match.group(1), match.group(2))
    if match := _DECIMAL_RE.match(name):
        bits, precision, scale = match.groups()
        make = pa.decimal256 if bits == "256" else pa.decimal128
        return make(int(precision), int(scale))
    try:
        return pa.type_for_alias(name)
    except ValueError:
        return None


def schema_from_json(columns: Iterable[dict[str, Any]]) -> pa.Schema | None:
    """Inverse of ``schema_to_json``; None when a type name is not understood (nested types, say)."""
    fields = []
    for column in columns:
        data_type = _type_from_name(str(column.get("type", "")))
        if data_type is None or "name" not in column:
            return None
        fields.append(pa.field(str(column["name"]), data_type))
    return pa.schema(fields)


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


def _polars_can_take(data_type: pa.DataType) -> bool:
    """False for Arrow types polars cannot import (some make it panic rather than raise)."""
    if pa.types.is_dictionary(data_type):
        return _is_string(data_type.value_type)
    unsupported = (
        pa.types.is_decimal256,
        pa.types.is_float16,
        pa.types.is_union,
        pa.types.is_interval,
        pa.types.is_run_end_encoded,
        pa.types.is_list_view,
        pa.types.is_large_list_view,
    )
    if isinstance(data_type, pa.ExtensionType) or any(test(data_type) for test in unsupported):
        return False
    return all(_polars_can_take(data_type.field(i).type) for i in range(data_type.num_fields))


def _write_parquet(table: pa.Table, path: str, compression: str, level: int | None) -> None:
    level = level if compression in _LEVELED_CODECS else None
    if table.num_columns and all(_polars_can_take(f.type) for f in table.schema):
        try:
            frame = pl.from_arrow(table, rechunk=False)
            if not isinstance(frame, pl.DataFrame):
                raise TypeError("polars did not return a DataFrame")
            frame.write_parquet(path, compression=compression, compression_level=level)  # type: ignore[arg-type]
            return
        except (pl.exceptions.PolarsError, pa.ArrowException, TypeError, ValueError, NotImplementedError):
            pass  # a type polars cannot take (decimal256, unions, ...): pyarrow writes anything Arrow holds
    codec = "none" if compression == "uncompressed" else compression
    pq.write_table(table, path, compression=codec, compression_level=level)


def read_parquet_bytes(data: bytes) -> pa.Table:
    """A part file's bytes as an Arrow table."""
    return pq.read_table(pa.BufferReader(data))


class PartWriter:
    """Writes one artifact's batches into part files, cutting a part by rows and by bytes.

    ``name_template`` is a ``str.format`` template with one field, ``n`` (the 1-based part number), already
    holding everything else: ``"current-part-{n:05d}-20261127T051203123456Z-1a2b3c.parquet"``. It may
    contain a sub-folder (``"_errors/errors-part-{n:05d}-<attempt>.parquet"``); files land at
    ``prefix/<name>`` and are reported with ``path=<name>``, relative to ``prefix``.

    Within one part, batches of different schemas are unified with ``widen_schema``; each part keeps its
    own schema, and ``schema`` is the widened schema of everything written (known even with zero rows).
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
        self.schema: pa.Schema | None = None
        self.files: list[ManifestFile] = []
        self.row_count = 0
        self.closed = False
        self._buffer: list[pa.Table] = []
        self._buffer_rows = 0
        self._buffer_bytes = 0.0
        # Bounded parallel upload: at most ``upload_concurrency`` parts in flight (1: upload inline).
        self.upload_concurrency = max(1, int(getattr(backend, "upload_concurrency", 1)))
        self._uploads: list[Future[None]] = []
        self._pool: ThreadPoolExecutor | None = None

    def write(self, data: Writable) -> None:
        """Buffer ``data``; cut a part each time the buffer reaches ``max_rows`` rows or ``max_bytes``."""
        if self.closed:
            raise StorageError(f"artifact '{self.artifact}' under {self.prefix}: write after close()")
        table = to_arrow_table(data)
        self.schema = table.schema if self.schema is None else widen_schema(self.schema, table.schema)
        rows = table.num_rows
        if rows == 0:
            return
        bytes_per_row = max(table.nbytes / rows, 1e-9)
        offset = 0
        while offset < rows:
            room_rows = self.max_rows - self._buffer_rows
            room_bytes = max(1, int((self.max_bytes - self._buffer_bytes) // bytes_per_row))
            take = min(rows - offset, room_rows, room_bytes)
            self._buffer.append(table.slice(offset, take))
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
            self._wait_uploads(raise_errors=True)
        return list(self.files)

    def discard(self) -> None:
        """Drop buffered rows without writing them (the attempt is being aborted).

        Uploads in flight are waited for (their errors ignored), so that the abort that follows sees, and
        removes, every file this writer put.
        """
        self._buffer.clear()
        self._buffer_rows = 0
        self._buffer_bytes = 0.0
        self.closed = True
        self._wait_uploads(raise_errors=False)

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
        if all(t.schema.equals(buffered[0].schema) for t in buffered[1:]):
            table = pa.concat_tables(buffered)
        else:
            table = unify_tables(buffered)
        name = self.name_template.format(n=len(self.files) + 1)
        self.files.append(self._put_part(table, name))
        self.row_count += table.num_rows

    def _put_part(self, table: pa.Table, name: str) -> ManifestFile:
        if self.tmp_dir:
            os.makedirs(self.tmp_dir, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.tmp_dir, prefix=".medallion-part-", suffix=".parquet")
        os.close(fd)
        try:
            try:
                _write_parquet(table, tmp, self.compression, self.compression_level)
                with open(tmp, "rb") as handle:
                    size, sha256 = hash_stream(handle)
            except (pa.ArrowException, OSError) as exc:
                raise StorageError(
                    f"artifact '{self.artifact}': writing part {name} ({table.num_rows} rows) to a temp file "
                    f"failed: {type(exc).__name__}: {exc}"
                ) from exc
        except BaseException:
            with contextlib.suppress(OSError):
                Path(tmp).unlink(missing_ok=True)
            raise
        relpath = join_relpath(self.prefix, name)
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
        return ManifestFile(
            path=name, artifact=self.artifact, size_bytes=size, sha256=sha256, row_count=table.num_rows
        )
