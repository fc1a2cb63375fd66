"""Part files: rolling by rows and bytes, schema widening, and reading back what was written."""

from __future__ import annotations

import datetime as dt
import io
import threading
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings

import medallion_resources.lake.parts as parts_module
from medallion_assets.extractors.records import records_to_batch
from medallion_resources.errors import StorageError
from medallion_resources.lake.commit import PartitionWriter
from medallion_resources.lake.parts import PartSettings, PartWriter, read_parquet_bytes
from medallion_resources.lake.read import read_artifact, read_committed
from medallion_resources.lake.schema import (
    common_type,
    conform_table,
    schema_from_json,
    schema_to_json,
    unify_tables,
    widen_schema,
)
from medallion_resources.storage import FsspecBackend, StorageBackend

PREFIX = "t/dt=2026-01-01"


def _writer(backend: StorageBackend, *, max_rows: int = 1000, max_bytes: int = 1 << 30) -> PartWriter:
    return PartWriter(
        backend,
        PREFIX,
        "part-{n:05d}-A.parquet",
        max_rows=max_rows,
        max_bytes=max_bytes,
        compression="zstd",
        compression_level=1,
    )


def _read_back(backend: StorageBackend, writer: PartWriter) -> pl.DataFrame:
    tables = [read_parquet_bytes(backend.read_bytes(f"{PREFIX}/{f.path}")) for f in writer.files]
    return pl.DataFrame(pl.from_arrow(unify_tables(tables)))


def _rows(start: int, count: int) -> pa.RecordBatch:
    return pa.record_batch({"id": pa.array(range(start, start + count), pa.int64())})


# --- widening rules ---------------------------------------------------------------------------------------

TS = pa.timestamp
WIDEN_CASES = [
    (pa.null(), pa.int32(), pa.int32()),
    (pa.int8(), pa.int64(), pa.int64()),
    (pa.uint8(), pa.int8(), pa.int16()),
    (pa.int32(), pa.uint32(), pa.int64()),
    (pa.int64(), pa.uint64(), pa.float64()),
    (pa.uint16(), pa.uint32(), pa.uint32()),
    (pa.int64(), pa.float32(), pa.float64()),
    (pa.float32(), pa.float64(), pa.float64()),
    (pa.bool_(), pa.int32(), pa.int32()),
    (pa.int64(), pa.string(), pa.large_string()),
    (pa.string(), pa.large_string(), pa.large_string()),
    (pa.binary(), pa.string(), pa.large_binary()),
    (pa.decimal128(10, 2), pa.decimal128(6, 4), pa.decimal128(12, 4)),
    (pa.decimal128(10, 2), pa.int64(), pa.decimal128(22, 2)),
    (pa.decimal128(10, 2), pa.float64(), pa.float64()),
    (pa.date32(), TS("us"), TS("us")),
    (pa.date32(), pa.date64(), pa.date32()),
    (TS("ms"), TS("us"), TS("us")),
    (TS("us", "UTC"), TS("us"), TS("us", "UTC")),
    (TS("us", "UTC"), TS("ms", "Europe/Paris"), TS("us", "UTC")),
    (pa.time32("ms"), pa.time64("us"), pa.time64("us")),
    (pa.duration("s"), pa.duration("ms"), pa.duration("ms")),
    (pa.list_(pa.int64()), pa.list_(pa.float64()), pa.list_(pa.float64())),
    (pa.list_(pa.int64()), pa.large_list(pa.int32()), pa.large_list(pa.int64())),
    (
        pa.struct([("a", pa.int64())]),
        pa.struct([("b", pa.string()), ("a", pa.float64())]),
        pa.struct([("a", pa.float64()), ("b", pa.string())]),
    ),
    (pa.dictionary(pa.int32(), pa.string()), pa.string(), pa.string()),
    (pa.list_(pa.int64()), pa.int64(), pa.large_string()),
    (pa.date32(), pa.int64(), pa.large_string()),
]


@pytest.mark.parametrize(("a", "b", "expected"), WIDEN_CASES, ids=lambda t: str(t))
def test_common_type(a: pa.DataType, b: pa.DataType, expected: pa.DataType) -> None:
    assert common_type(a, b) == expected
    flipped = common_type(b, a)
    if pa.types.is_struct(expected):  # fields come in order of first appearance
        assert sorted(flipped, key=lambda f: f.name) == sorted(expected, key=lambda f: f.name)
    else:
        assert flipped == expected


def _is_kind(kind: str, data_type: pa.DataType) -> bool:
    names = {"int": "is_integer", "float": "is_floating", "null": "is_null", "bool": "is_boolean"}
    if kind in ("string", "list") and getattr(pa.types, f"is_large_{kind}")(data_type):
        return True
    return bool(getattr(pa.types, names.get(kind, f"is_{kind}"))(data_type))


def _sample(data_type: pa.DataType) -> pa.Array:
    samples = {
        "null": [None],
        "int": [1, None],
        "float": [1.5, None],
        "bool": [True, None],
        "string": ["x", None],
        "binary": [b"x", None],
        "decimal": [Decimal("1.25"), None],
        "date": [dt.date(2026, 1, 2), None],
        "timestamp": [dt.datetime(2026, 1, 2, 3, 4, 5), None],
        "time": [dt.time(1, 2, 3), None],
        "duration": [dt.timedelta(seconds=3), None],
        "list": [[1, 2], None],
        "struct": [{"a": 1}, None],
    }
    if pa.types.is_dictionary(data_type):
        return pa.array(["x", None]).dictionary_encode()
    kind = next(k for k in samples if _is_kind(k, data_type))
    return pa.array(samples[kind], type=data_type)


@pytest.mark.parametrize(("a", "b", "expected"), WIDEN_CASES, ids=lambda t: str(t))
def test_every_widened_pair_can_be_conformed(a: pa.DataType, b: pa.DataType, expected: pa.DataType) -> None:
    tables = [pa.table({"c": _sample(a)}), pa.table({"c": _sample(b)})]
    unified = unify_tables(tables)
    assert unified.schema.field("c").type == expected
    assert unified.num_rows == sum(t.num_rows for t in tables)
    assert unified.column("c").null_count == sum(t.column("c").null_count for t in tables)


@pytest.mark.parametrize(
    ("ints", "int_type"), [([2**53 + 1, -(2**53) - 1, 7], pa.int64()), ([2**64 - 1, 2**53 + 1], pa.uint64())]
)
def test_ints_beyond_2_53_widen_to_float_rounded_as_the_records_rule_rounds_them(
    ints: list[int], int_type: pa.DataType
) -> None:
    """int + float is float64 in one batch (``records_to_batch``: ``float(v)``) and across parts alike."""
    tables = [pa.table({"x": pa.array([0.5], pa.float64())}), pa.table({"x": pa.array(ints, int_type)})]
    unified = unify_tables(tables)
    assert unified.schema.field("x").type == pa.float64()
    assert unified.column("x").to_pylist() == [0.5, *(float(v) for v in ints)]
    if int_type == pa.int64():
        one_batch = records_to_batch([{"x": v} for v in [0.5, *ints]])
        assert one_batch.column(0).to_pylist() == unified.column("x").to_pylist()


def test_widen_schema_unions_columns_in_order_of_first_appearance() -> None:
    a = pa.schema([("id", pa.int64()), ("name", pa.string())])
    b = pa.schema([("extra", pa.bool_()), ("id", pa.float64())])
    assert widen_schema(a, b) == pa.schema(
        [("id", pa.float64()), ("name", pa.string()), ("extra", pa.bool_())]
    )


def test_conform_table_fills_missing_columns_with_nulls() -> None:
    table = pa.table({"b": ["x"]})
    target = pa.schema([("a", pa.int64()), ("b", pa.large_string())])
    out = conform_table(table, target)
    assert out.schema == target
    assert out.to_pylist() == [{"a": None, "b": "x"}]


def test_struct_to_string_falls_back_to_json() -> None:
    out = unify_tables([pa.table({"c": [{"a": 1}]}), pa.table({"c": ["plain"]})])
    assert out.column("c").to_pylist() == ['{"a":1}', "plain"]  # the one rule: compact, as JSON sources


def test_a_struct_widened_to_text_is_spelled_as_a_json_source_spells_it(backend: StorageBackend) -> None:
    """One nested-JSON-to-text rule: a struct (parquet, custom source) meeting text in a later batch lands
    exactly as a JSON file or API gives the same value (compact, sorted keys, UTF-8)."""
    value = {"b": "é", "a": 1, "n": {"z": [1.5, 2.0], "y": None}}
    writer = _writer(backend)
    writer.write(pa.record_batch({"c": pa.array([value])}))
    writer.write(records_to_batch([{"c": "plain"}]))
    writer.close()
    from_json_source = records_to_batch([{"c": value}]).column("c")[0].as_py()
    assert from_json_source == '{"a":1,"b":"é","n":{"y":null,"z":[1.5,2.0]}}'
    assert _read_back(backend, writer)["c"].to_list() == [from_json_source, "plain"]


def test_schema_json_round_trip() -> None:
    schema = pa.schema(
        [
            ("id", pa.int64()),
            ("name", pa.large_string()),
            ("at", TS("us", "UTC")),
            ("day", pa.date32()),
            ("amount", pa.decimal128(12, 2)),
            ("flag", pa.bool_()),
        ]
    )
    assert schema_from_json(schema_to_json(schema)) == schema
    assert schema_from_json([{"name": "x", "type": "list<item: int64>"}]) is None


# --- rolling ----------------------------------------------------------------------------------------------


class TestRolling:
    def test_many_small_batches_roll_by_rows(self, backend: StorageBackend) -> None:
        writer = _writer(backend, max_rows=10)
        for start in range(0, 35, 3):
            writer.write(_rows(start, 3))
        files = writer.close()
        assert [f.row_count for f in files] == [10, 10, 10, 6]
        assert [f.path for f in files] == [f"part-{n:05d}-A.parquet" for n in range(1, 5)]
        assert _read_back(backend, writer)["id"].to_list() == list(range(36))

    def test_a_batch_bigger_than_max_rows_is_sliced(self, backend: StorageBackend) -> None:
        writer = _writer(backend, max_rows=100)
        writer.write(_rows(0, 5))
        writer.write(_rows(5, 350))
        files = writer.close()
        assert [f.row_count for f in files] == [100, 100, 100, 55]
        assert _read_back(backend, writer)["id"].to_list() == list(range(355))

    def test_rolls_by_bytes(self, backend: StorageBackend) -> None:
        writer = _writer(backend, max_rows=1_000_000, max_bytes=8_000)  # 1,000 int64 rows
        for start in range(0, 5_000, 700):
            writer.write(_rows(start, 700))
        files = writer.close()
        assert all(f.row_count <= 1000 for f in files)
        assert sum(f.row_count for f in files) == 5_600
        assert len(files) == 6
        assert _read_back(backend, writer)["id"].to_list() == list(range(5_600))

    def test_manifest_files_carry_size_sha_and_rows(self, memory_backend: FsspecBackend) -> None:
        import hashlib

        writer = _writer(memory_backend)
        writer.write(_rows(0, 10))
        (file,) = writer.close()
        data = memory_backend.read_bytes(f"{PREFIX}/{file.path}")
        assert (file.size_bytes, file.sha256, file.row_count, file.artifact) == (
            len(data),
            hashlib.sha256(data).hexdigest(),
            10,
            "data",
        )

    def test_empty_artifact_writes_no_file_but_keeps_the_schema(self, backend: StorageBackend) -> None:
        writer = _writer(backend)
        writer.write(pa.table({"id": pa.array([], pa.int64()), "name": pa.array([], pa.string())}))
        assert writer.close() == []
        assert writer.schema == pa.schema([("id", pa.int64()), ("name", pa.string())])
        assert backend.list_files(PREFIX) == []

    def test_close_is_idempotent_and_write_after_close_fails(self, memory_backend: FsspecBackend) -> None:
        writer = _writer(memory_backend)
        writer.write(_rows(0, 3))
        assert writer.close() == writer.close()
        with pytest.raises(Exception, match=r"write after close"):
            writer.write(_rows(3, 1))

    def test_polars_frames_and_tables_are_accepted(self, memory_backend: FsspecBackend) -> None:
        writer = _writer(memory_backend)
        writer.write(pl.DataFrame({"id": [1, 2]}))
        writer.write(pa.table({"id": [3]}))
        writer.close()
        assert _read_back(memory_backend, writer)["id"].to_list() == [1, 2, 3]

    def test_other_inputs_are_refused(self, memory_backend: FsspecBackend) -> None:
        with pytest.raises(TypeError, match=r"got list"):
            _writer(memory_backend).write([1, 2])  # type: ignore[arg-type]

    def test_a_type_polars_cannot_write_falls_back_to_pyarrow(self, memory_backend: FsspecBackend) -> None:
        writer = _writer(memory_backend)
        values = pa.array([Decimal("1.5"), None], pa.decimal256(60, 1))
        writer.write(pa.table({"big": values}))
        (file,) = writer.close()
        table = read_parquet_bytes(memory_backend.read_bytes(f"{PREFIX}/{file.path}"))
        assert table.column("big").to_pylist() == [Decimal("1.5"), None]


class TestEncoders:
    """A part is encoded by the library its rows came from; Arrow parts ENCODE_AHEAD at a time, in order."""

    @staticmethod
    def _created_by(backend: StorageBackend, writer: PartWriter) -> set[str]:
        return {
            pq.ParquetFile(io.BytesIO(backend.read_bytes(f"{PREFIX}/{f.path}"))).metadata.created_by
            for f in writer.files
        }

    def test_polars_frames_go_to_polars_and_arrow_batches_to_pyarrow(self, backend: StorageBackend) -> None:
        frames, batches = _writer(backend, max_rows=2), _writer(backend, max_rows=2)
        batches.name_template = "arrow-{n:05d}.parquet"
        frames.write(pl.DataFrame({"id": [1, 2, 3]}))
        batches.write(pa.table({"id": [1, 2, 3]}))
        frames.close(), batches.close()
        assert all("Polars" in c for c in self._created_by(backend, frames))
        assert all(c.startswith("parquet-cpp-arrow") for c in self._created_by(backend, batches))

    def test_types_parquet_cannot_spell_come_back_from_the_files_arrow_schema(
        self, memory_backend: FsspecBackend
    ) -> None:
        table = pa.table(
            {
                "at": pa.array([dt.datetime(2025, 1, 1, 12)], pa.timestamp("us", tz="Europe/Lisbon")),
                "long_text": pa.array(["x"], pa.large_string()),
                "took": pa.array([dt.timedelta(seconds=3)], pa.duration("ms")),
                "kind": pa.array(["a"]).dictionary_encode(),
            }
        )
        writer = _writer(memory_backend)
        writer.write(table)
        (file,) = writer.close()
        back = read_parquet_bytes(memory_backend.read_bytes(f"{PREFIX}/{file.path}"))
        assert (
            back.schema
            == writer.schema
            == pa.schema(
                [
                    ("at", pa.timestamp("us", tz="Europe/Lisbon")),
                    ("long_text", pa.large_string()),
                    ("took", pa.duration("ms")),
                    ("kind", pa.string()),
                ]
            )
        )
        assert back.to_pylist() == table.cast(back.schema).to_pylist()

    def test_at_most_encode_ahead_parts_at_once_and_files_in_order(
        self, backend: StorageBackend, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        real = parts_module._write_parquet
        lock = threading.Lock()
        running, most = 0, 0

        def counted(*args: Any, **kwargs: Any) -> None:
            nonlocal running, most
            with lock:
                running += 1
                most = max(most, running)
            time.sleep(0.02)  # long enough for the producer to cut the next parts meanwhile
            real(*args, **kwargs)
            with lock:
                running -= 1

        monkeypatch.setattr(parts_module, "_write_parquet", counted)
        writer = _writer(backend, max_rows=5)
        for start in range(0, 60, 3):
            writer.write(_rows(start, 3))
            assert len(writer._encoding) <= parts_module.ENCODE_AHEAD  # the producer waits beyond that
        files = writer.close()
        assert most == parts_module.ENCODE_AHEAD
        assert [f.path for f in files] == [f"part-{n:05d}-A.parquet" for n in range(1, 13)]
        assert _read_back(backend, writer)["id"].to_list() == list(range(60))

    def test_polars_frames_are_cut_and_written_without_a_conversion(
        self, memory_backend: FsspecBackend, arrow_conversions: list[int]
    ) -> None:
        """Frames are sliced and joined as polars frames; only an empty frame is ever converted (for its
        Arrow schema), so a Silver write copies nothing on the way to polars' writer."""
        writer = _writer(memory_backend, max_rows=4)
        for start in range(0, 10, 3):
            writer.write(pl.DataFrame({"id": range(start, start + 3), "name": [f"n{start}"] * 3}))
        files = writer.close()
        assert [f.row_count for f in files] == [4, 4, 4]
        assert set(arrow_conversions) == {0}
        arrow_conversions.clear()
        back = _read_back(memory_backend, writer)
        assert back["id"].to_list() == list(range(12))
        assert back["name"].to_list() == [f"n{s}" for s in range(0, 10, 3) for _ in range(3)]
        assert writer.schema == pa.schema([("id", pa.int64()), ("name", pa.large_string())])

    def test_polars_frames_of_different_schemas_in_one_part_are_widened(
        self, memory_backend: FsspecBackend
    ) -> None:
        writer = _writer(memory_backend, max_rows=10)
        writer.write(pl.DataFrame({"v": [1, 2]}))
        writer.write(pl.DataFrame({"v": [2.5], "w": ["x"]}))
        (file,) = writer.close()
        back = read_parquet_bytes(memory_backend.read_bytes(f"{PREFIX}/{file.path}"))
        assert back.column("v").to_pylist() == [1.0, 2.0, 2.5]
        assert back.column("w").to_pylist() == [None, None, "x"]

    def test_parts_are_listed_in_their_order_when_arrow_and_polars_parts_alternate(
        self, backend: StorageBackend, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A part of polars frames of different schemas is joined as an Arrow table and encoded on the pool;
        the next part, polars frames of one schema, was encoded inline and placed at once: listed before
        the part cut first, so the rows read back out of order (a Silver history compacted on a day whose
        files differ in columns read a key's versions out of chain order)."""
        real = parts_module._write_parquet

        def slow(*args: Any, **kwargs: Any) -> None:
            time.sleep(0.05)  # the pool's part is still encoding when the next part is cut
            real(*args, **kwargs)

        monkeypatch.setattr(parts_module, "_write_parquet", slow)
        writer = _writer(backend, max_rows=3)
        writer.write(pl.DataFrame({"id": [0, 1]}))
        writer.write(pl.DataFrame({"id": [2], "w": ["x"]}))  # part 1: two schemas, an Arrow table
        writer.write(pl.DataFrame({"id": [3, 4, 5]}))  # part 2: one schema, a polars frame
        files = writer.close()
        assert [f.path for f in files] == ["part-00001-A.parquet", "part-00002-A.parquet"]
        assert _read_back(backend, writer)["id"].to_list() == [0, 1, 2, 3, 4, 5]

    def test_a_failed_encode_is_raised_and_no_temp_file_stays(
        self, local_backend: StorageBackend, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        real = parts_module._write_parquet

        def third_fails(table: pa.Table, path: str, *args: Any, **kwargs: Any) -> None:
            real(table, path, *args, **kwargs)
            if table.column("id")[0].as_py() == 10:
                raise OSError("disk full")

        monkeypatch.setattr(parts_module, "_write_parquet", third_fails)
        staging = tmp_path / "staging"
        writer = PartWriter(
            local_backend,
            PREFIX,
            "part-{n:05d}-A.parquet",
            max_rows=5,
            max_bytes=1 << 30,
            compression="zstd",
            compression_level=1,
            tmp_dir=str(staging),
        )
        with pytest.raises(StorageError, match=r"part part-00003-A.parquet \(5 rows\).*disk full"):
            for start in range(0, 40, 5):
                writer.write(_rows(start, 5))
            writer.close()
        writer.discard()  # the commit's abort: waits for the parts still encoding
        assert list(staging.iterdir()) == []
        assert len(writer.files) < 8


class TestWideningAcrossBatches:
    def test_int_then_float_in_one_part(self, memory_backend: FsspecBackend) -> None:
        writer = _writer(memory_backend)
        writer.write(pa.table({"v": [1, 2]}))
        writer.write(pa.table({"v": [2.5]}))
        (file,) = writer.close()
        assert writer.schema == pa.schema([("v", pa.float64())])
        assert _read_back(memory_backend, writer)["v"].to_list() == [1.0, 2.0, 2.5]
        assert file.row_count == 3

    def test_int_then_string_in_one_part(self, memory_backend: FsspecBackend) -> None:
        writer = _writer(memory_backend)
        writer.write(pa.table({"v": [1, 2]}))
        writer.write(pa.table({"v": ["three"]}))
        writer.close()
        assert writer.schema.field("v").type == pa.large_string()
        assert _read_back(memory_backend, writer)["v"].to_list() == ["1", "2", "three"]

    def test_column_appearing_later(self, memory_backend: FsspecBackend) -> None:
        writer = _writer(memory_backend)
        writer.write(pa.table({"id": [1]}))
        writer.write(pa.table({"id": [2], "late": ["x"]}))
        writer.close()
        assert writer.schema.names == ["id", "late"]
        assert _read_back(memory_backend, writer).to_dicts() == [
            {"id": 1, "late": None},
            {"id": 2, "late": "x"},
        ]

    def test_parts_keep_their_own_schema_and_read_back_widened(self, memory_backend: FsspecBackend) -> None:
        writer = _writer(memory_backend, max_rows=2)
        writer.write(pa.table({"v": [1, 2]}))
        writer.write(pa.table({"v": [1.5, 2.5], "tz": pa.array([0, 1], TS("ms", "UTC"))}))
        files = writer.close()
        first = read_parquet_bytes(memory_backend.read_bytes(f"{PREFIX}/{files[0].path}"))
        assert first.schema.names == ["v"]
        frame = _read_back(memory_backend, writer)
        assert frame.schema == pl.Schema({"v": pl.Float64, "tz": pl.Datetime("ms", "UTC")})
        assert frame["v"].to_list() == [1.0, 2.0, 1.5, 2.5]


# --- property ---------------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    sizes=st.lists(st.integers(min_value=0, max_value=60), min_size=0, max_size=12),
    max_rows=st.integers(min_value=1, max_value=40),
    floats=st.booleans(),
)
def test_read_back_equals_input(
    memory_backend: FsspecBackend, sizes: list[int], max_rows: int, floats: bool
) -> None:
    """Any batch sequence, any max_rows: parts hold at most max_rows, and reading gives back the input."""
    prefix = f"prop/dt={uuid.uuid4().hex}"
    writer = PartitionWriter(
        memory_backend,
        prefix,
        layer="bronze",
        dataset="prop",
        run_date="2026-01-01",
        run_id="r",
        output=PartSettings(max_rows_per_file=max_rows, parquet_compression="snappy"),
    )
    expected: list[float] = []
    batches = []
    for index, size in enumerate(sizes):
        start = len(expected)
        values: list[float] = list(range(start, start + size))
        if floats and index % 2:
            values = [v + 0.5 for v in values]
        batches.append(pa.table({"v": values}))
        expected.extend(values)
    files = writer.write_artifact("data", batches)
    manifest = writer.commit({})
    assert all(0 < f.row_count <= max_rows for f in files)
    assert sum(f.row_count for f in files) == manifest.record_count == len(expected)
    part = read_committed(memory_backend, prefix)
    assert part is not None
    frame = read_artifact(part, "data")
    assert (frame["v"].to_list() if expected else []) == expected


def test_a_part_never_mixes_naive_and_zoned_date_times_of_one_column(backend: StorageBackend) -> None:
    """Naive then zoned then naive batches of ``ts`` (a date column counts as naive): three parts, each in
    its own form, as Silver needs them (it reads naive values as wall time in the source's zone). Zoned
    batches of two zones, and a batch without ``ts``, share a part as before."""
    naive = pa.timestamp("us")
    utc, paris = pa.timestamp("us", tz="UTC"), pa.timestamp("us", tz="Europe/Paris")

    def batch(value: int, ts_type: pa.DataType | None) -> pa.RecordBatch:
        columns = {"id": pa.array([value], pa.int64())}
        if ts_type is not None:
            micros = 1_700_000_000_000_000 + value
            columns["ts"] = pa.array(
                [micros // 86_400_000_000 if ts_type == pa.date32() else micros], ts_type
            )
        return pa.record_batch(columns)

    writer = _writer(backend)
    for value, ts_type in [(1, naive), (2, None), (3, utc), (4, paris), (5, pa.date32()), (6, naive)]:
        writer.write(batch(value, ts_type))
    files = writer.close()
    parts = [read_parquet_bytes(backend.read_bytes(f"{PREFIX}/{f.path}")) for f in files]
    assert [p.column("id").to_pylist() for p in parts] == [[1, 2], [3, 4], [5, 6]]
    assert [p.schema.field("ts").type for p in parts] == [naive, utc, naive]
