"""Deletes files: written with the encodings every Silver day decodes fastest, read back as positions per
data file exactly as a plain per-row grouping of the file gives them, whatever wrote the file."""

from __future__ import annotations

import io
import random
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from medallion_resources.lake.manifest import DELETES
from medallion_resources.lake.parts import PartWriter
from medallion_resources.lake.read import _dictionary_deletes
from medallion_resources.storage import StorageBackend

PREFIX = "t/load_date=2026-01-01"


def deletes_frame(rng: random.Random) -> pl.DataFrame:
    rows = [
        (f"load_date=2026-01-0{rng.randrange(1, 4)}/current-part-{rng.randrange(5):05d}.parquet", pos)
        for pos in rng.sample(range(10_000), rng.randrange(1, 400))
    ]
    return pl.DataFrame(rows, schema={"path": pl.String, "pos": pl.Int64}, orient="row").sort("path", "pos")


def plain_grouping(frame: pl.DataFrame) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for path, pos in frame.iter_rows():
        out.setdefault(path, []).append(pos)
    return out


def written(backend: StorageBackend, frame: pl.DataFrame, max_rows: int) -> list[bytes]:
    writer = PartWriter(
        backend,
        PREFIX,
        "current-deletes-{n:05d}-A.parquet",
        max_rows=max_rows,
        max_bytes=1 << 30,
        compression="zstd",
        compression_level=1,
        kind=DELETES,
    )
    writer.write(frame)
    return [backend.read_bytes(f"{PREFIX}/{f.path}") for f in writer.close()]


@pytest.mark.parametrize("seed", range(8))
def test_a_written_deletes_file_reads_back_as_the_plain_grouping(backend: StorageBackend, seed: int) -> None:
    rng = random.Random(seed)
    frame = deletes_frame(rng)
    files = written(backend, frame, max_rows=rng.choice([7, 50, 10_000]))
    got: dict[str, list[int]] = {}
    for data in files:
        by_path = _dictionary_deletes(data)
        assert by_path is not None
        for path, positions in by_path.items():
            assert positions.dtype == pl.Int64
            got.setdefault(path, []).extend(positions.to_list())
    assert got == plain_grouping(frame)


def test_deletes_files_are_dictionary_and_delta_encoded_and_every_reader_reads_them(
    local_backend: StorageBackend, tmp_path: Path
) -> None:
    frame = deletes_frame(random.Random(1))
    (data,) = written(local_backend, frame, max_rows=10_000)
    columns = pq.ParquetFile(io.BytesIO(data)).metadata.row_group(0)
    encodings = {columns.column(i).path_in_schema: columns.column(i).encodings for i in range(2)}
    assert "RLE_DICTIONARY" in encodings["path"]
    assert "DELTA_BINARY_PACKED" in encodings["pos"]
    assert pl.read_parquet(io.BytesIO(data)).equals(frame)
    path = tmp_path / "d.parquet"
    path.write_bytes(data)
    rows = duckdb.sql(f"SELECT path, pos FROM read_parquet('{path}') ORDER BY path, pos").fetchall()
    assert rows == list(frame.iter_rows())


def test_a_file_from_another_writer_is_read_the_same_or_left_to_the_plain_reader() -> None:
    frame = deletes_frame(random.Random(2))
    for write in (
        lambda buf: frame.write_parquet(buf, row_group_size=13),  # polars' own encodings, several groups
        lambda buf: pq.write_table(frame.to_arrow(), buf, use_dictionary=False),  # plain strings
    ):
        buffer = io.BytesIO()
        write(buffer)
        by_path = _dictionary_deletes(buffer.getvalue())
        assert by_path is not None
        assert {p: s.to_list() for p, s in by_path.items()} == plain_grouping(frame)
    with_null = pa.table({"path": pa.array(["a", None]), "pos": pa.array([1, 2], pa.int64())})
    buffer = io.BytesIO()
    pq.write_table(with_null, buffer)
    assert _dictionary_deletes(buffer.getvalue()) is None
    buffer = io.BytesIO()
    pq.write_table(pa.table({"pos": pa.array([1], pa.int64())}), buffer)
    assert _dictionary_deletes(buffer.getvalue()) is None
