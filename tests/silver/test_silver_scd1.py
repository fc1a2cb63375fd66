"""ScdType1: latest version per key over Silver D-1 and Bronze D, with deletes for full loads."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import polars as pl
import pytest

from medallion_assets.config.models import LoadPattern, SilverConfig
from medallion_assets.errors import SilverInputError
from medallion_assets.silver.base import SILVER_LOAD_DATE, SilverContext, SilverResult
from medallion_assets.silver.scd1 import ScdType1

START = date(2025, 6, 1)


def day(n: int) -> date:
    return START + timedelta(days=n - 1)


class Lake:
    """Runs ScdType1 day after day, each day's output being the next day's state."""

    def __init__(self, pattern: LoadPattern = "incremental", **silver: Any) -> None:
        silver.setdefault("primary_keys", ["id"])
        self.model = ScdType1(SilverConfig.model_validate(silver))
        self.pattern = pattern
        self.state: dict[str, pl.DataFrame] | None = None
        self.day = 0

    def load(self, rows: list[dict[str, Any]] | pl.DataFrame) -> SilverResult:
        self.day += 1
        frame = rows if isinstance(rows, pl.DataFrame) else pl.DataFrame(rows)
        frame = frame.with_columns(pl.lit(day(self.day)).alias("_load_date"))
        end = datetime.combine(day(self.day) + timedelta(days=1), datetime.min.time())
        ctx = SilverContext(load_date=day(self.day), window_end=end, load_pattern=self.pattern)
        result = self.model.apply(self.state, frame, ctx)
        self.state = result.artifacts
        return result

    @property
    def current(self) -> pl.DataFrame:
        assert self.state is not None
        return self.state["current"]

    def rows(self, *columns: str) -> list[tuple[Any, ...]]:
        return self.current.select(columns or ["id", "v"]).rows()


def counts(result: SilverResult) -> tuple[int, int, int, int, int]:
    s = result.stats()
    return s["inserted"], s["updated"], s["unchanged"], s["deleted"], s["duplicates_dropped"]


class TestScdType1:
    def test_first_day_inserts_latest_per_key(self) -> None:
        lake = Lake(order_column="ts")
        result = lake.load(
            [{"id": 2, "v": "b", "ts": 1}, {"id": 1, "v": "a", "ts": 1}, {"id": 2, "v": "B", "ts": 2}]
        )
        assert lake.rows("id", "v", SILVER_LOAD_DATE) == [(1, "a", day(1)), (2, "B", day(1))]  # sorted by key
        assert counts(result) == (2, 0, 0, 0, 1)
        assert lake.current.columns == ["id", "v", "ts", "_load_date", SILVER_LOAD_DATE]

    def test_insert_update_unchanged_over_days(self) -> None:
        lake = Lake(order_column="ts")
        lake.load([{"id": 1, "v": "a", "ts": 1}, {"id": 2, "v": "b", "ts": 1}])
        result = lake.load([{"id": 1, "v": "a2", "ts": 2}, {"id": 3, "v": "c", "ts": 1}])
        assert lake.rows("id", "v", SILVER_LOAD_DATE) == [
            (1, "a2", day(2)),
            (2, "b", day(1)),
            (3, "c", day(2)),
        ]
        assert counts(result) == (1, 1, 0, 0, 0)

    def test_late_row_with_older_order_value_is_ignored(self) -> None:
        lake = Lake(order_column="ts")
        lake.load([{"id": 1, "v": "new", "ts": 10}])
        result = lake.load([{"id": 1, "v": "old", "ts": 5}])
        assert lake.rows("id", "v", SILVER_LOAD_DATE) == [(1, "new", day(1))]
        assert counts(result) == (0, 0, 0, 0, 1)

    def test_equal_order_value_later_load_wins(self) -> None:
        lake = Lake(order_column="ts")
        lake.load([{"id": 1, "v": "day1", "ts": 10}])
        result = lake.load([{"id": 1, "v": "day2", "ts": 10}])
        assert lake.rows("id", "v", SILVER_LOAD_DATE) == [(1, "day2", day(2))]
        assert counts(result) == (0, 1, 0, 0, 0)

    def test_equal_order_value_within_a_day_later_position_wins(self) -> None:
        lake = Lake(order_column="ts")
        lake.load(
            [
                {"id": 1, "v": "first", "ts": 3},
                {"id": 1, "v": "second", "ts": 3},
                {"id": 1, "v": "x", "ts": 2},
            ]
        )
        assert lake.rows() == [(1, "second")]

    def test_no_op_update_keeps_the_state_row(self) -> None:
        lake = Lake(order_column="ts")
        lake.load([{"id": 1, "v": "a", "ts": 1}])
        result = lake.load([{"id": 1, "v": "a", "ts": 1}])
        # Not rewritten: the day-1 row stays, with its Silver and Bronze load dates.
        assert lake.rows("id", "v", SILVER_LOAD_DATE, "_load_date") == [(1, "a", day(1), day(1))]
        assert counts(result) == (0, 0, 1, 0, 0)

    def test_without_order_column_incoming_always_wins(self) -> None:
        lake = Lake()
        lake.load([{"id": 1, "v": "a"}])
        result = lake.load([{"id": 1, "v": "b"}, {"id": 1, "v": "c"}])
        assert lake.rows() == [(1, "c")]
        assert counts(result) == (0, 1, 0, 0, 1)

    def test_null_order_values_are_oldest(self) -> None:
        lake = Lake(order_column="ts")
        lake.load(
            [{"id": 1, "v": "a", "ts": 1}, {"id": 2, "v": "b", "ts": None}, {"id": 3, "v": "c", "ts": None}]
        )
        result = lake.load(
            [{"id": 1, "v": "A", "ts": None}, {"id": 2, "v": "B", "ts": None}, {"id": 3, "v": "C", "ts": 0}]
        )
        # 1: a null never beats a value; 2: null vs null ties, the later load wins; 3: any value beats null.
        assert lake.rows() == [(1, "a"), (2, "B"), (3, "C")]
        assert counts(result) == (0, 2, 0, 0, 1)

    def test_compound_keys(self) -> None:
        lake = Lake(primary_keys=["id", "region"], order_column="ts")
        lake.load(
            [{"id": 1, "region": "eu", "v": "a", "ts": 1}, {"id": 1, "region": "us", "v": "b", "ts": 1}]
        )
        result = lake.load(
            [{"id": 1, "region": "us", "v": "B", "ts": 2}, {"id": 2, "region": "eu", "v": "c", "ts": 1}]
        )
        assert lake.rows("id", "region", "v") == [(1, "eu", "a"), (1, "us", "B"), (2, "eu", "c")]
        assert counts(result) == (1, 1, 0, 0, 0)

    def test_new_column_appearing_on_day_three(self) -> None:
        lake = Lake(order_column="ts")
        lake.load([{"id": 1, "v": "a", "ts": 1}, {"id": 2, "v": "b", "ts": 1}])
        lake.load([{"id": 3, "v": "c", "ts": 1}])
        result = lake.load(
            [{"id": 1, "v": "a", "ts": 1, "color": "red"}, {"id": 2, "v": "b", "ts": 1, "color": None}]
        )
        assert lake.rows("id", "color", SILVER_LOAD_DATE) == [
            (1, "red", day(3)),
            (2, None, day(1)),
            (3, None, day(2)),
        ]
        assert counts(result) == (0, 1, 1, 0, 0)
        assert lake.current.columns == ["id", "v", "ts", "_load_date", "color", SILVER_LOAD_DATE]
        # The next day without the column: it is null on the new version, so the row changes.
        lake.load([{"id": 1, "v": "a", "ts": 1}])
        assert lake.rows("id", "color") == [(1, None), (2, None), (3, None)]

    def test_widened_type_across_days(self) -> None:
        lake = Lake()
        lake.load([{"id": 1, "v": 1}])
        lake.load(pl.DataFrame({"id": [2], "v": [1.5]}))
        assert lake.current.schema["v"] == pl.Float64
        assert lake.rows() == [(1, 1.0), (2, 1.5)]

    def test_empty_first_day(self) -> None:
        lake = Lake(order_column="ts")
        result = lake.load(pl.DataFrame(schema={"id": pl.Int64, "ts": pl.Int64}))
        assert lake.current.height == 0
        assert counts(result) == (0, 0, 0, 0, 0)

    def test_missing_key_column(self) -> None:
        with pytest.raises(
            SilverInputError, match=r"primary_keys names column\(s\) 'id'.*present columns: k"
        ):
            Lake().load([{"k": 1}])

    def test_needs_primary_keys(self) -> None:
        model = ScdType1(SilverConfig())
        ctx = SilverContext(load_date=START, window_end=datetime(2025, 6, 2), load_pattern="incremental")
        with pytest.raises(SilverInputError, match="scd_type_1' needs silver.primary_keys"):
            model.apply(None, pl.DataFrame({"id": [1]}), ctx)


class TestDeletes:
    DAY1 = [{"id": 1, "v": "a", "ts": 1}, {"id": 2, "v": "b", "ts": 1}, {"id": 3, "v": "c", "ts": 1}]
    DAY2 = [{"id": 1, "v": "a", "ts": 1}, {"id": 3, "v": "C", "ts": 2}]

    def test_hard_delete(self) -> None:
        lake = Lake("full", order_column="ts", delete_mode="hard_delete")
        lake.load(self.DAY1)
        result = lake.load(self.DAY2)
        assert lake.rows() == [(1, "a"), (3, "C")]
        assert "_deleted" not in lake.current.columns
        assert counts(result) == (0, 1, 1, 1, 0)

    def test_tombstone(self) -> None:
        lake = Lake("full", order_column="ts", delete_mode="tombstone")
        lake.load(self.DAY1)
        assert lake.rows("id", "_deleted") == [(1, False), (2, False), (3, False)]
        result = lake.load(self.DAY2)
        assert lake.rows("id", "v", "_deleted", SILVER_LOAD_DATE) == [
            (1, "a", False, day(1)),
            (2, "b", True, day(2)),
            (3, "C", False, day(2)),
        ]
        assert counts(result) == (0, 1, 1, 1, 0)
        # Still absent the next day: stays a tombstone from day 2, not deleted again.
        result = lake.load(self.DAY2)
        assert lake.rows("id", "_deleted", SILVER_LOAD_DATE)[1] == (2, True, day(2))
        assert counts(result) == (0, 0, 2, 0, 0)

    def test_ignore_keeps_the_last_state(self) -> None:
        lake = Lake("full", order_column="ts", delete_mode="ignore")
        lake.load(self.DAY1)
        result = lake.load(self.DAY2)
        assert lake.rows() == [(1, "a"), (2, "b"), (3, "C")]
        assert counts(result)[3] == 0

    @pytest.mark.parametrize("mode", ["hard_delete", "tombstone"])
    def test_no_delete_detection_for_incremental_loads(self, mode: str) -> None:
        lake = Lake("incremental", order_column="ts", delete_mode=mode)
        lake.load(self.DAY1)
        result = lake.load(self.DAY2)
        assert lake.rows() == [(1, "a"), (2, "b"), (3, "C")]
        assert counts(result)[3] == 0

    @pytest.mark.parametrize("mode", ["hard_delete", "tombstone"])
    def test_empty_full_load_deletes_every_key(self, mode: str) -> None:
        lake = Lake("full", order_column="ts", delete_mode=mode)
        lake.load(self.DAY1)
        result = lake.load(pl.DataFrame(schema={"id": pl.Int64, "v": pl.String, "ts": pl.Int64}))
        assert result.deleted == 3

    def test_tombstoned_key_comes_back_live(self) -> None:
        lake = Lake("full", order_column="ts", delete_mode="tombstone")
        lake.load(self.DAY1)
        lake.load(self.DAY2)
        # Key 2 comes back with the very row it had (even an older order value would do).
        result = lake.load([*self.DAY2, {"id": 2, "v": "b", "ts": 0}])
        assert lake.rows("id", "v", "ts", "_deleted", SILVER_LOAD_DATE)[1] == (2, "b", 0, False, day(3))
        assert counts(result) == (1, 0, 2, 0, 0)

    def test_hard_deleted_key_comes_back_as_an_insert(self) -> None:
        lake = Lake("full", order_column="ts", delete_mode="hard_delete")
        lake.load(self.DAY1)
        lake.load(self.DAY2)
        result = lake.load([*self.DAY2, {"id": 2, "v": "b", "ts": 0}])
        assert lake.rows() == [(1, "a"), (2, "b"), (3, "C")]
        assert counts(result) == (1, 0, 2, 0, 0)

    def test_late_older_row_in_full_load_keeps_the_key_alive(self) -> None:
        lake = Lake("full", order_column="ts", delete_mode="hard_delete")
        lake.load([{"id": 1, "v": "new", "ts": 5}])
        result = lake.load([{"id": 1, "v": "old", "ts": 4}])
        assert lake.rows() == [(1, "new")]
        assert counts(result) == (0, 0, 0, 0, 1)

    def test_state_from_before_tombstones_gets_a_deleted_column(self) -> None:
        lake = Lake("full", order_column="ts", delete_mode="ignore")
        lake.load(self.DAY1)
        lake.model = ScdType1(SilverConfig(primary_keys=["id"], order_column="ts", delete_mode="tombstone"))
        lake.load(self.DAY2)
        assert lake.rows("id", "_deleted") == [(1, False), (2, True), (3, False)]
        assert lake.current.schema["_deleted"] == pl.Boolean
