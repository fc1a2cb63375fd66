"""ScdType1 against a brute-force reference on random multi-day loads.

The reference keeps a plain dict of key -> row and walks the rows one at a time; it restates DESIGN §6 as
directly as possible: versions ordered by (order value with nulls oldest, load day, position), the last wins;
an equal winner is not rewritten; for full loads a live key absent from the day's Bronze is deleted per
``delete_mode``, and a deleted key that comes back is live again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from medallion_assets.config.models import SilverConfig
from medallion_assets.silver.base import SILVER_LOAD_DATE, SilverContext
from medallion_assets.silver.scd1 import ScdType1

START = date(2025, 6, 1)
BASE_SCHEMA = {"k1": pl.Int64, "k2": pl.String, "ts": pl.Int64, "v": pl.String}


@dataclass
class Scenario:
    compound: bool
    ordered: bool
    pattern: str
    delete_mode: str
    extra_from: int  # the day a new column "extra" appears (past the last day: never)
    days: list[list[dict[str, Any]]]

    @property
    def keys(self) -> list[str]:
        return ["k1", "k2"] if self.compound else ["k1"]


def rows(compound: bool, with_extra: bool) -> st.SearchStrategy[list[dict[str, Any]]]:
    row = st.fixed_dictionaries(
        {
            "k1": st.integers(0, 3),
            "k2": st.sampled_from(["a", "b"]) if compound else st.just("a"),
            "ts": st.one_of(st.none(), st.integers(0, 3)),
            "v": st.sampled_from(["x", "y", None]),
            **({"extra": st.one_of(st.none(), st.integers(0, 1))} if with_extra else {}),
        }
    )
    return st.lists(row, max_size=7)


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    compound = draw(st.booleans())
    n_days = draw(st.integers(1, 5))
    extra_from = draw(st.integers(1, n_days + 1))
    days = [draw(rows(compound, with_extra=d >= extra_from)) for d in range(1, n_days + 1)]
    return Scenario(
        compound=compound,
        ordered=draw(st.booleans()),
        pattern=draw(st.sampled_from(["full", "incremental"])),
        delete_mode=draw(st.sampled_from(["ignore", "hard_delete", "tombstone"])),
        extra_from=extra_from,
        days=days,
    )


def bronze(scenario: Scenario, day_number: int, day_rows: list[dict[str, Any]]) -> pl.DataFrame:
    schema = dict(BASE_SCHEMA)
    if day_number >= scenario.extra_from:
        schema["extra"] = pl.Int64
    frame = pl.DataFrame(day_rows, schema=schema)
    load_date = START + timedelta(days=day_number - 1)
    return frame.with_columns(pl.lit(load_date).alias("_load_date"))


# --- the reference --------------------------------------------------------------------------------------


@dataclass
class Version:
    row: dict[str, Any]
    loaded: date  # _load_date of the Bronze row
    written: date  # _silver_load_date
    deleted: bool = False


def reference(scenario: Scenario) -> tuple[dict[tuple[Any, ...], Version], list[dict[str, int]]]:
    current: dict[tuple[Any, ...], Version] = {}
    all_stats = []

    def key(row: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(row[k] for k in scenario.keys)

    def rank(row: dict[str, Any]) -> tuple[Any, ...]:
        if not scenario.ordered:
            return ()
        return (0,) if row["ts"] is None else (1, row["ts"])

    def values(row: dict[str, Any]) -> tuple[Any, ...]:
        return (row["ts"], row["v"], row.get("extra"))

    for number, day_rows in enumerate(scenario.days, start=1):
        today = START + timedelta(days=number - 1)
        stats = dict.fromkeys(["inserted", "updated", "unchanged", "deleted", "duplicates_dropped"], 0)
        best: dict[tuple[Any, ...], dict[str, Any]] = {}
        for row in day_rows:  # a later row wins ties, so >=
            k = key(row)
            if k in best:
                stats["duplicates_dropped"] += 1
            if k not in best or rank(row) >= rank(best[k]):
                best[k] = row
        for k, row in best.items():
            old = current.get(k)
            if old is None or old.deleted:
                stats["inserted"] += 1
            elif rank(row) < rank(old.row):
                stats["duplicates_dropped"] += 1
                continue
            elif values(row) == values(old.row):
                stats["unchanged"] += 1
                continue
            else:
                stats["updated"] += 1
            current[k] = Version(row=row, loaded=today, written=today)
        if scenario.pattern == "full" and scenario.delete_mode != "ignore":
            for k in list(current):
                if k in best or current[k].deleted:
                    continue
                stats["deleted"] += 1
                if scenario.delete_mode == "hard_delete":
                    del current[k]
                else:
                    current[k].deleted = True
                    current[k].written = today
        all_stats.append(stats)
    return current, all_stats


# --- the property ---------------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(scenarios())
def test_scd1_fold_matches_the_reference(scenario: Scenario) -> None:
    config = SilverConfig(
        primary_keys=scenario.keys,
        order_column="ts" if scenario.ordered else None,
        delete_mode=scenario.delete_mode,  # type: ignore[arg-type]
    )
    model = ScdType1(config)
    expected, expected_stats = reference(scenario)
    state = None
    for number, day_rows in enumerate(scenario.days, start=1):
        load_date = START + timedelta(days=number - 1)
        ctx = SilverContext(
            load_date=load_date,
            window_end=datetime.combine(load_date + timedelta(days=1), datetime.min.time()),
            load_pattern=scenario.pattern,  # type: ignore[arg-type]
        )
        incoming = bronze(scenario, number, day_rows)
        result = model.apply(state, incoming, ctx)
        state = result.artifacts
        stats = {k: v for k, v in result.stats().items()}
        assert stats == expected_stats[number - 1], f"day {number}"
        assert incoming.height == (
            stats["inserted"] + stats["updated"] + stats["unchanged"] + stats["duplicates_dropped"]
        )

    assert state is not None
    current = state["current"]
    assert current.select(scenario.keys).is_unique().all()
    assert current.select(scenario.keys).rows() == sorted(current.select(scenario.keys).rows())
    tombstones = scenario.delete_mode == "tombstone"
    assert ("_deleted" in current.columns) is tombstones
    got = {}
    for row in current.to_dicts():
        k = tuple(row[c] for c in scenario.keys)
        got[k] = (
            (row["ts"], row["v"], row.get("extra")),
            row["_load_date"],
            row[SILVER_LOAD_DATE],
            row.get("_deleted", False),
        )
    want = {
        k: ((v.row["ts"], v.row["v"], v.row.get("extra")), v.loaded, v.written, v.deleted)
        for k, v in expected.items()
    }
    assert got == want
