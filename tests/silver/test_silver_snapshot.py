"""PeriodicSnapshot: Bronze D as is, latest per key when keys are set."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import polars as pl
import pytest

from medallion_assets.config.models import SilverConfig
from medallion_assets.errors import SilverInputError
from medallion_assets.silver.base import SILVER_LOAD_DATE, SilverContext
from medallion_assets.silver.snapshot import PeriodicSnapshot

DAY = date(2025, 6, 2)
CTX = SilverContext(load_date=DAY, window_end=datetime(2025, 6, 3), load_pattern="full")


def run(frame: pl.DataFrame, **silver: Any) -> tuple[pl.DataFrame, dict[str, int]]:
    result = PeriodicSnapshot(SilverConfig.model_validate(silver)).apply(None, frame, CTX)
    assert list(result.artifacts) == ["snapshot"]
    return result.artifacts["snapshot"], result.stats()


class TestPeriodicSnapshot:
    def test_without_keys_everything_as_is(self) -> None:
        frame = pl.DataFrame({"id": [1, 1, 2], "v": ["a", "a", "b"]})
        out, stats = run(frame)
        assert out.drop(SILVER_LOAD_DATE).equals(frame)
        assert out.get_column(SILVER_LOAD_DATE).to_list() == [DAY] * 3
        assert out.schema[SILVER_LOAD_DATE] == pl.Date
        assert stats["inserted"] == 3
        assert stats["duplicates_dropped"] == 0

    def test_latest_per_key_by_order_column(self) -> None:
        # The docstring's example.
        frame = pl.DataFrame(
            {
                "store_id": [1, 2, 1, 1],
                "city": ["Paris", "Lyon", "Nice", "Lille"],
                "updated_at": [9, 9, 10, 8],
            }
        )
        out, stats = run(frame, primary_keys=["store_id"], order_column="updated_at")
        assert out.select("store_id", "city").rows() == [(2, "Lyon"), (1, "Nice")]
        assert (stats["inserted"], stats["duplicates_dropped"]) == (2, 2)

    def test_tie_on_order_value_later_position_wins(self) -> None:
        frame = pl.DataFrame({"k": [1, 1, 1], "ts": [5, 5, 4], "v": ["first", "second", "older"]})
        out, _ = run(frame, primary_keys=["k"], order_column="ts")
        assert out.get_column("v").to_list() == ["second"]

    def test_without_order_column_last_position_wins(self) -> None:
        frame = pl.DataFrame({"k": [1, 2, 1], "v": ["a", "b", "c"]})
        out, stats = run(frame, primary_keys=["k"])
        assert out.select("k", "v").rows() == [(2, "b"), (1, "c")]
        assert stats["duplicates_dropped"] == 1

    def test_null_order_values_are_oldest(self) -> None:
        frame = pl.DataFrame({"k": [1, 1, 2, 2], "ts": [3, None, None, None], "v": ["a", "b", "c", "d"]})
        out, _ = run(frame, primary_keys=["k"], order_column="ts")
        assert out.select("k", "v").rows() == [(1, "a"), (2, "d")]

    def test_compound_keys(self) -> None:
        frame = pl.DataFrame({"a": [1, 1, 1], "b": ["x", "y", "x"], "v": [1, 2, 3]})
        out, _ = run(frame, primary_keys=["a", "b"])
        assert out.select("a", "b", "v").rows() == [(1, "y", 2), (1, "x", 3)]

    def test_empty_bronze(self) -> None:
        out, stats = run(pl.DataFrame(schema={"k": pl.Int64}), primary_keys=["k"])
        assert out.height == 0
        assert out.columns == ["k", SILVER_LOAD_DATE]
        assert stats["inserted"] == 0

    def test_missing_order_column(self) -> None:
        with pytest.raises(
            SilverInputError, match=r"order_column names column\(s\) 'ts'.*present columns: k"
        ):
            run(pl.DataFrame({"k": [1]}), primary_keys=["k"], order_column="ts")
