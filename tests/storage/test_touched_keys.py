"""``read_touched`` matches a file's keys against the touched keys within the file's key range only: the
rows matched are exactly those a membership test against every touched key gives (nulls never match)."""

from __future__ import annotations

import io
import random
from datetime import date, timedelta

import polars as pl
import pytest

from medallion_resources.lake.read import ROW_POS
from medallion_resources.lake.touched import _integer_range, _key_in, _scan_touched, _sorted_keys


def values(kind: str, rng: random.Random, n: int) -> list[object]:
    out: list[object] = []
    for _ in range(n):
        if rng.random() < 0.1:
            out.append(None)
        elif kind == "int":
            out.append(rng.randrange(-50, 50))
        elif kind == "str":
            out.append(rng.choice(["", "a", "ab", "b", "ba", "z", "é", "A"]) + str(rng.randrange(3)))
        else:
            out.append(date(2025, 1, 1) + timedelta(days=rng.randrange(40)))
    return out


@pytest.mark.parametrize("kind", ["int", "str", "date"])
@pytest.mark.parametrize("seed", range(15))
def test_ranged_match_equals_a_match_against_every_key(kind: str, seed: int) -> None:
    rng = random.Random(seed)
    dtype = {"int": pl.Int64, "str": pl.String, "date": pl.Date}[kind]
    touched = pl.Series("id", values(kind, rng, rng.randrange(0, 30)), dtype=dtype)
    ordered = _sorted_keys(touched)
    assert ordered is not None
    for clustered in (True, False):
        ids = values(kind, rng, rng.randrange(0, 40))
        if clustered:  # a base file: one key range, sorted
            ids = sorted((v for v in ids if v is not None), key=lambda v: v)  # type: ignore[arg-type, return-value]
        frame = pl.DataFrame({"id": pl.Series("id", ids, dtype=dtype)})
        got = frame.filter(_key_in(frame.get_column("id"), touched, ordered))
        want = frame.filter(pl.col("id").is_in(touched.implode()))
        assert got.equals(want), (touched, frame)


def test_other_types_are_matched_against_every_key() -> None:
    assert _sorted_keys(pl.Series([1.5, 2.0])) is None
    assert _sorted_keys(pl.Series([True, False])) is None


def parquet_bytes(frame: pl.DataFrame, *, statistics: bool = True, row_group_size: int = 7) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer, statistics=statistics, row_group_size=row_group_size)
    return buffer.getvalue()


@pytest.mark.parametrize("dtype", [pl.Int64, pl.Int32])
@pytest.mark.parametrize("seed", range(12))
def test_scanned_match_gives_the_rows_and_positions_a_plain_loop_gives(dtype: pl.DataType, seed: int) -> None:
    """The scan path (key range from the row groups' statistics, the test pushed into the scan) against a
    plain loop over the file's rows: same rows, same positions, same columns, nulls never matching."""
    rng = random.Random(seed)
    ids = values("int", rng, rng.randrange(1, 60))
    if rng.random() < 0.5:  # a base file: one key range, sorted
        ids = sorted(v for v in ids if v is not None)  # type: ignore[type-var]
    frame = pl.DataFrame({"id": pl.Series(ids, dtype=dtype), "name": [f"n{i}" for i in range(len(ids))]})
    touched = pl.Series("id", values("int", rng, rng.randrange(1, 30)), dtype=pl.Int64)
    ordered = _sorted_keys(touched)
    assert ordered is not None
    wanted = set(touched.drop_nulls().to_list())
    for columns in (None, ["id"], ["name", "id"]):
        got = _scan_touched(parquet_bytes(frame), "id", ordered, columns)
        if got is None:  # not this path (e.g. the file's key type differs): the caller decodes the file
            assert dtype != pl.Int64
            continue
        rows = [(pos, row) for pos, row in enumerate(frame.iter_rows(named=True)) if row["id"] in wanted]
        assert got.get_column(ROW_POS).to_list() == [pos for pos, _ in rows]
        assert got.columns == [ROW_POS, *(columns or frame.columns)]
        for name in columns or frame.columns:
            assert got.get_column(name).to_list() == [row[name] for _, row in rows]


def test_a_file_without_statistics_is_left_to_the_decoding_path() -> None:
    frame = pl.DataFrame({"id": [3, 1, 2], "name": ["c", "a", "b"]})
    touched = _sorted_keys(pl.Series("id", [1, 2]))
    assert touched is not None
    assert _integer_range(parquet_bytes(frame, statistics=False), "id") is None
    assert _scan_touched(parquet_bytes(frame, statistics=False), "id", touched, None) is None
    assert _integer_range(parquet_bytes(frame), "id") == (1, 3)
    assert _integer_range(parquet_bytes(frame), "name") is None
    assert _integer_range(parquet_bytes(frame.clear()), "id") is None
    assert _integer_range(b"not a parquet file", "id") is None
