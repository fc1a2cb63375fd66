"""Hand-made before -> after examples of DESIGN §6, one table per case, for scd_type_2, cdc and scd_type_1.

The expected tables are written by hand from the DESIGN text (the walk over every observation), not
derived from the engine. Each day's rows go through the model and the state is round-tripped through
Parquet between days, as the IO manager does. Order values are small integers so the windows are easy to
read: ``A@10`` is a row with ``v = A`` and ``ts = 10``.
"""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta
from typing import Any

import polars as pl
import pytest

from medallion_assets.config.models import CdcConfig, SilverConfig
from medallion_assets.silver.base import SilverContext
from medallion_assets.silver.registry import create_silver_model

START = date(2025, 6, 1)
OPEN = None


def run(model_name: str, config: SilverConfig, days: list[list[tuple[Any, ...]]], pattern: str) -> list[Any]:
    """Silver after each day; rows are ``(k, v, ts)`` or, for cdc, ``(k, v, ts, op)``."""
    model = create_silver_model(model_name, config)
    columns = ["k", "v", "ts", "op"] if model_name == "cdc" else ["k", "v", "ts"]
    schema = dict(zip(columns, [pl.Int64, pl.String, pl.Int64, pl.String], strict=False))
    state, results = None, []
    for number, rows in enumerate(days):
        day = START + timedelta(days=number)
        ctx = SilverContext(day, datetime.combine(day + timedelta(days=1), datetime.min.time()), pattern)  # type: ignore[arg-type]
        result = model.apply(state, pl.DataFrame(rows, schema=schema, orient="row"), ctx)
        state = {name: _roundtrip(frame) for name, frame in result.artifacts.items()}
        results.append(result)
    return results


def _roundtrip(frame: pl.DataFrame) -> pl.DataFrame:
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    buffer.seek(0)
    return pl.read_parquet(buffer)


def history(result: Any, *flags: str) -> list[tuple[Any, ...]]:
    columns = ["v", "effective_from", "effective_to", *flags]
    return [tuple(r[c] for c in columns) for r in result.artifacts["history"].to_dicts()]


def current(result: Any, *columns: str) -> list[tuple[Any, ...]]:
    return [tuple(r[c] for c in ("v", *columns)) for r in result.artifacts["current"].to_dicts()]


SCD2 = SilverConfig(primary_keys=["k"], order_column="ts")


# --- scd_type_2 ---------------------------------------------------------------------------------------


def test_scd2_late_row_inside_a_run_of_equal_versions() -> None:
    # Bronze by day: A@10 | B@20 | B@30 | B@50 | C@35 (late). B@30 and B@50 are absorbed into B@20;
    # the late C@35 splits the run and the absorbed B@50 reopens B.
    days = [[(1, "A", 10)], [(1, "B", 20)], [(1, "B", 30)], [(1, "B", 50)], [(1, "C", 35)]]
    results = run("scd_type_2", SCD2, days, "incremental")
    assert history(results[3]) == [("A", 10, 20), ("B", 20, OPEN)]
    assert history(results[4]) == [("A", 10, 20), ("B", 20, 35), ("C", 35, 50), ("B", 50, OPEN)]
    assert current(results[4], "ts") == [("B", 50)]
    assert results[4].stats()["updated"] == 1  # the current version is now the B observed at 50


def test_scd2_late_row_equal_to_the_next_version_then_another_late_row() -> None:
    # A@10, B@30 | late B@20: B starts at 20 and B@30 is absorbed | late C@25 splits B again.
    days = [[(1, "A", 10), (1, "B", 30)], [(1, "B", 20)], [(1, "C", 25)]]
    results = run("scd_type_2", SCD2, days, "incremental")
    assert history(results[1]) == [("A", 10, 20), ("B", 20, OPEN)]
    assert history(results[2]) == [("A", 10, 20), ("B", 20, 25), ("C", 25, 30), ("B", 30, OPEN)]


def test_scd2_tie_on_one_day_is_a_correction() -> None:
    # A@10, B@20, C@20 on one day: C corrects B; no zero-length version.
    results = run("scd_type_2", SCD2, [[(1, "A", 10), (1, "B", 20), (1, "C", 20)]], "incremental")
    assert history(results[0]) == [("A", 10, 20), ("C", 20, OPEN)]
    assert results[0].stats()["versions_added"] == 2 and results[0].stats()["duplicates_dropped"] == 1


def test_scd2_tie_across_days_is_a_correction() -> None:
    # A@10, B@20 | X@10: X corrects A, B stays.
    results = run("scd_type_2", SCD2, [[(1, "A", 10), (1, "B", 20)], [(1, "X", 10)]], "incremental")
    assert history(results[1]) == [("X", 10, 20), ("B", 20, OPEN)]


def test_scd2_exact_redelivery_rewrites_nothing() -> None:
    results = run("scd_type_2", SCD2, [[(1, "A", 10)], [(1, "A", 10)]], "incremental")
    row = results[1].artifacts["history"].row(0, named=True)
    assert (row["v"], row["effective_from"], row["_silver_load_date"]) == ("A", 10, START)
    stats = results[1].stats()
    assert (stats["unchanged"], stats["duplicates_dropped"], stats["versions_added"]) == (1, 1, 0)


def test_scd2_full_snapshot_delete_and_return_unchanged() -> None:
    # Full snapshots: A@10 | (absent) | A@10 again. Deleted at the 06-02 window end (ts is an int here,
    # so at its last order value), back as a new version placed at the delete.
    config = SilverConfig(primary_keys=["k"], order_column="ts", delete_mode="tombstone")
    results = run(
        "scd_type_2",
        config,
        [[(1, "A", 10), (2, "Z", 1)], [(2, "Z", 1)], [(1, "A", 10), (2, "Z", 1)]],
        "full",
    )
    rows = [r for r in history(results[2], "_deleted") if r[0] == "A"]
    assert rows == [("A", 10, 10, False), ("A", 10, 10, True), ("A", 10, OPEN, False)]


# --- cdc ----------------------------------------------------------------------------------------------


def cdc(delete_mode: str, keep_history: bool = True) -> SilverConfig:
    return SilverConfig(
        primary_keys=["k"],
        order_column="ts",
        delete_mode=delete_mode,  # type: ignore[arg-type]
        cdc=CdcConfig(keep_history=keep_history),
    )


def test_cdc_late_delete_inside_an_absorbed_run() -> None:
    # I A@1, U A@3, U A@5 (both absorbed) | late D@4: A is deleted from 4 and the absorbed U A@5 reopens it.
    days = [[(1, "A", 1, "I"), (1, "A", 3, "U"), (1, "A", 5, "U")], [(1, None, 4, "D")]]
    results = run("cdc", cdc("tombstone"), days, "cdc")
    assert history(results[0], "_deleted") == [("A", 1, OPEN, False)]
    assert history(results[1], "_deleted") == [("A", 1, 4, False), ("A", 4, 5, True), ("A", 5, OPEN, False)]
    assert current(results[1], "_deleted") == [("A", False)]
    hard = run("cdc", cdc("hard_delete"), days, "cdc")
    assert history(hard[1], "_closed_by_delete") == [("A", 1, 4, True), ("A", 5, OPEN, False)]


@pytest.mark.parametrize(
    ("ops", "want"),
    [
        (
            [(1, "B", 5, "U"), (1, None, 5, "D")],
            [("A", 1, 5, False), ("A", 5, OPEN, True)],
        ),  # the delete last
        (
            [(1, None, 5, "D"), (1, "B", 5, "U")],
            [("A", 1, 5, False), ("B", 5, OPEN, False)],
        ),  # the version last
    ],
)
def test_cdc_tie_between_a_delete_and_a_version(
    ops: list[tuple[Any, ...]], want: list[tuple[Any, ...]]
) -> None:
    results = run("cdc", cdc("tombstone"), [[(1, "A", 1, "I")], ops], "cdc")
    assert history(results[1], "_deleted") == want


def test_cdc_resurrection_after_a_tombstone() -> None:
    results = run("cdc", cdc("tombstone"), [[(1, "A", 1, "I"), (1, None, 2, "D")], [(1, "A", 3, "I")]], "cdc")
    assert history(results[1], "_deleted") == [("A", 1, 2, False), ("A", 2, 3, True), ("A", 3, OPEN, False)]
    assert current(results[1], "_deleted") == [("A", False)]


def test_cdc_deleted_and_revived_on_the_same_day() -> None:
    results = run("cdc", cdc("tombstone"), [[(1, "A", 1, "I")], [(1, None, 2, "D"), (1, "B", 3, "I")]], "cdc")
    assert history(results[1], "_deleted") == [("A", 1, 2, False), ("A", 2, 3, True), ("B", 3, OPEN, False)]


@pytest.mark.parametrize("keep_history", [True, False])
def test_cdc_late_insert_before_a_delete_that_closed_nothing(keep_history: bool) -> None:
    # D@5 arrives first (nothing to delete yet) | the late I A@3: the key is deleted at 5, not live.
    results = run("cdc", cdc("tombstone", keep_history), [[(1, None, 5, "D")], [(1, "A", 3, "I")]], "cdc")
    assert results[0].artifacts["current"].height == 0
    assert current(results[1], "_deleted") == [("A", True)]
    if keep_history:
        assert history(results[1], "_deleted") == [("A", 3, 5, False), ("A", 5, OPEN, True)]
    hard = run("cdc", cdc("hard_delete", keep_history), [[(1, None, 5, "D")], [(1, "A", 3, "I")]], "cdc")
    assert hard[1].artifacts["current"].height == 0


# --- scd_type_1 ---------------------------------------------------------------------------------------


def test_scd1_ties_and_late_rows() -> None:
    # A@10, B@20, C@20 | D@20 (a later day wins a tie) | E@15 (late: older, never wins).
    config = SilverConfig(primary_keys=["k"], order_column="ts")
    days = [[(1, "A", 10), (1, "B", 20), (1, "C", 20)], [(1, "D", 20)], [(1, "E", 15)]]
    results = run("scd_type_1", config, days, "incremental")
    assert [current(r, "ts") for r in results] == [[("C", 20)], [("D", 20)], [("D", 20)]]


@pytest.mark.parametrize("keep_history", [True, False])
def test_cdc_a_delete_tying_with_the_last_version_brings_the_one_before_back(keep_history: bool) -> None:
    # I A@1, U B@2 | D@2 (same order as B: a correction, B never happened): deleted at 2, closing A.
    days = [[(1, "A", 1, "I"), (1, "B", 2, "U")], [(1, None, 2, "D")]]
    results = run("cdc", cdc("tombstone", keep_history), days, "cdc")
    assert current(results[1], "ts", "_deleted") == [("A", 2, True)]  # the tombstone carries A's values
    hard = run("cdc", cdc("hard_delete", keep_history), days, "cdc")
    assert hard[1].artifacts["current"].height == 0


@pytest.mark.parametrize("keep_history", [True, False])
def test_cdc_a_delete_delivered_again_after_a_tying_version_leaves_the_tombstone_as_it_was(
    keep_history: bool,
) -> None:
    # I A@1, D@2 | U B@2, D@2: the last op at 2 wins, and it is the delete at 2 again (B never happened).
    # The tombstone is the row it was (A's values, closed at 2), so it keeps the date it was written on.
    days = [[(1, "A", 1, "I"), (1, None, 2, "D")], [(1, "B", 2, "U"), (1, None, 2, "D")]]
    results = run("cdc", cdc("tombstone", keep_history), days, "cdc")
    assert current(results[1], "ts", "_deleted", "_silver_load_date") == [("A", 2, True, START)]
    stats = results[1].stats()
    assert (stats["deletes_applied"], stats["duplicates_dropped"], stats["versions_added"]) == (1, 1, 0)
    if keep_history:
        assert history(results[1], "_deleted", "_silver_load_date") == [
            ("A", 1, 2, False, START),
            ("A", 2, OPEN, True, START),
        ]
