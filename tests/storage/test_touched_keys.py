"""``read_touched`` matches a file's keys against the touched keys within the file's key range only: the
rows matched are exactly those a membership test against every touched key gives (nulls never match)."""

from __future__ import annotations

import random
from datetime import date, timedelta

import polars as pl
import pytest

from medallion_resources.lake.touched import _key_in, _sorted_keys


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
