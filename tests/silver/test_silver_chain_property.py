"""scd_type_2, cdc and event_log against plain references (the DESIGN §6 walk in tests/silver/_walk.py).

Each day's Bronze goes through the real prepare step (null keys are quarantined there), then the model; the
state is written to Parquet and read back between days, as the IO manager does. The history, the current
rows, the quarantined rows and every counter must equal the reference's.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from medallion_assets.config.models import CdcConfig, Scd2Config, SilverConfig
from medallion_assets.silver.base import SILVER_LOAD_DATE, SilverContext
from medallion_assets.silver.prepare import prepare
from medallion_assets.silver.registry import create_silver_model

from ._walk import Walk

START = date(2025, 6, 1)
DATA_COLUMNS = ["k1", "k2", "ts", "v", "w"]


@dataclass
class Scenario:
    model: str
    compound: bool
    temporal: bool
    pattern: str
    delete_mode: str
    tracked: list[str] | None
    keep_history: bool
    days: list[list[dict[str, Any]]]
    numeric_ops: bool = False  # cdc: the op column holds numbers, the codes are "1", "2", "3" in YAML

    @property
    def keys(self) -> list[str]:
        return ["k1", "k2"] if self.compound else ["k1"]


def _ts(temporal: bool) -> st.SearchStrategy[Any]:
    if temporal:  # around the window ends of the first days, so deletes and versions interleave
        return st.integers(0, 6).map(
            lambda d: datetime.combine(START, datetime.min.time()) + timedelta(days=d - 1)
        )
    return st.integers(0, 4)


@st.composite
def scenarios(draw: st.DrawFn, model: str) -> Scenario:
    compound = draw(st.booleans())
    temporal = draw(st.booleans())
    row = {
        "k1": st.one_of(st.integers(0, 3), st.just(None)) if draw(st.booleans()) else st.integers(0, 3),
        "k2": st.sampled_from(["a", "b"]) if compound else st.just("a"),
        "ts": st.one_of(_ts(temporal), st.just(None)),
        "v": st.sampled_from(["x", "y", None]),
        "w": st.integers(0, 1),
    }
    numeric_ops = model == "cdc" and draw(st.booleans())
    if numeric_ops:
        row["op"] = st.sampled_from([1, 2, 3, 3, 9, None])
    elif model == "cdc":  # codes match exactly: "u" is no update code, null no code at all
        row["op"] = st.sampled_from(["I", "U", "D", "D", "X", "u", None])
    days = draw(st.lists(st.lists(st.fixed_dictionaries(row), max_size=6), min_size=1, max_size=5))
    return Scenario(
        model=model,
        compound=compound,
        temporal=temporal,
        pattern="cdc" if model == "cdc" else draw(st.sampled_from(["full", "incremental"])),
        delete_mode=draw(st.sampled_from(["ignore", "hard_delete", "tombstone"])),
        tracked=draw(st.sampled_from([None, ["v"]])),
        keep_history=draw(st.booleans()),
        days=days,
        numeric_ops=numeric_ops,
    )


CODES = ("I", "U", "D")
NUMERIC_CODES = ("1", "2", "3")


def _config(s: Scenario) -> SilverConfig:
    return SilverConfig(
        primary_keys=s.keys,
        order_column="ts",
        delete_mode=s.delete_mode,  # type: ignore[arg-type]
        scd2=Scd2Config(track_columns=s.tracked) if s.tracked else None,
        cdc=cdc_config(s) if s.model == "cdc" else None,
    )


def cdc_config(s: Scenario) -> CdcConfig:
    insert, update, delete = NUMERIC_CODES if s.numeric_ops else CODES
    return CdcConfig(keep_history=s.keep_history, insert_code=insert, update_code=update, delete_code=delete)


def _bronze(s: Scenario, number: int, rows: list[dict[str, Any]]) -> pl.DataFrame:
    schema: dict[str, Any] = {
        "k1": pl.Int64,
        "k2": pl.String,
        "ts": pl.Datetime("us") if s.temporal else pl.Int64,
        "v": pl.String,
        "w": pl.Int64,
    }
    if s.model == "cdc":
        schema["op"] = pl.Int64 if s.numeric_ops else pl.String
    load_date = START + timedelta(days=number - 1)
    return pl.DataFrame(rows, schema=schema, orient="row").with_columns(pl.lit(load_date).alias("_load_date"))


def _roundtrip(frame: pl.DataFrame) -> pl.DataFrame:
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    buffer.seek(0)
    return pl.read_parquet(buffer)


def _run(
    s: Scenario, *, start_at: int = 0, state: dict[str, pl.DataFrame] | None = None, roundtrip: bool = True
) -> tuple[list[dict[str, pl.DataFrame]], list[dict[str, int]], int]:
    """Silver day by day from ``state`` (the partition before day ``start_at``), through Parquet."""
    model = create_silver_model(s.model, _config(s))
    states, all_stats, quarantined = [], [], 0
    for number, rows in enumerate(s.days[start_at:], start=start_at + 1):
        load_date = START + timedelta(days=number - 1)
        ctx = SilverContext(
            load_date=load_date,
            window_end=datetime.combine(load_date + timedelta(days=1), datetime.min.time()),
            load_pattern=s.pattern,  # type: ignore[arg-type]
        )
        prepared = prepare(_bronze(s, number, rows), _config(s))
        result = model.apply(state, prepared.clean, ctx)
        quarantined += prepared.errors.height + (result.errors.height if result.errors is not None else 0)
        all_stats.append(result.stats())
        state = {name: _roundtrip(f) if roundtrip else f for name, f in result.artifacts.items()}
        if all(frame.height == 0 for frame in state.values()):
            state = None  # as the asset does: an empty state is no state
        states.append(state or {name: frame for name, frame in result.artifacts.items()})
    return states, all_stats, quarantined


def _walk(s: Scenario) -> tuple[Walk, list[dict[str, int]]]:
    no_history = s.model == "cdc" and not s.keep_history
    walk = Walk(
        keys=s.keys,
        order="ts",
        tracked=["ts", "v", "w"] if no_history else s.tracked,
        delete_mode=s.delete_mode,
        pattern=s.pattern,
        temporal=s.temporal,
        op_column="op" if s.model == "cdc" else None,
        codes=NUMERIC_CODES if s.numeric_ops else CODES,
    )
    stats = []
    for number, rows in enumerate(s.days, start=1):
        load_date = START + timedelta(days=number - 1)
        walk.errors.extend(r for r in rows if r["k1"] is None)
        clean = [_as_text_op(r) | {"_load_date": load_date} for r in rows if r["k1"] is not None]
        stats.append(walk.add_day(load_date, clean))
    return walk, stats


def _as_text_op(row: dict[str, Any]) -> dict[str, Any]:
    """The reference compares op codes as the DESIGN's text codes: a number ``1`` is the code ``"1"``."""
    op = row.get("op")
    return row | {"op": str(op)} if isinstance(op, int) else row


def _history_of(frame: pl.DataFrame, s: Scenario) -> dict[tuple[Any, ...], list[tuple[Any, ...]]]:
    flag = "_deleted" if s.delete_mode == "tombstone" else "_closed_by_delete"
    out: dict[tuple[Any, ...], list[tuple[Any, ...]]] = {}
    for row in frame.to_dicts():
        k = tuple(row[c] for c in s.keys)
        values = tuple(row[c] for c in [*DATA_COLUMNS, "_load_date"])
        out.setdefault(k, []).append(
            (
                values,
                row["effective_from"],
                row["effective_to"],
                row["is_current"],
                row[SILVER_LOAD_DATE],
                bool(row.get(flag) or False),
            )
        )
    return out


def _expected_history(walk: Walk, s: Scenario) -> dict[tuple[Any, ...], list[tuple[Any, ...]]]:
    out = {}
    for k in walk.observations:
        rows = walk.history(k)
        if rows:
            out[k] = [
                (
                    tuple(r.values.get(c) for c in [*DATA_COLUMNS, "_load_date"]),
                    r.start,
                    r.end,
                    r.current,
                    walk.written_on(k, r),
                    r.deleted
                    if s.delete_mode == "tombstone"
                    else (s.delete_mode == "hard_delete" and r.closed_by_delete),
                )
                for r in rows
            ]
    return out


def _check(s: Scenario) -> None:
    states, stats, quarantined = _run(s)
    walk, want_stats = _walk(s)
    assert quarantined == len(walk.errors)
    for got, want in zip(stats, want_stats, strict=True):
        assert {k: got.get(k, 0) for k in want} == want
    # Day by day: every Silver partition equals the walk over the Bronze partitions up to it.
    for number in range(1, len(s.days) + 1):
        partial = Scenario(**{**s.__dict__, "days": s.days[:number]})
        expected = _expected_history(_walk(partial)[0], s)
        state = states[number - 1]
        chain = state.get("history", _whole_chains(state, s.keys))
        if chain is not None:
            assert _history_of(chain, s) == expected
        _check_current(state["current"], expected, s)
    # A rebuild from Bronze (the fold in memory, as the asset does when Silver D-1 is missing) agrees.
    rebuilt = _run(s, roundtrip=False)[0][-1]
    for name, frame in states[-1].items():
        assert _roundtrip(rebuilt[name]).equals(frame), name
    # Re-running a middle day from its committed D-1 gives the same partition, and the days after it too.
    middle = len(s.days) // 2
    if middle:
        rerun = _run(s, start_at=middle, state=states[middle - 1])[0]
        for got, want in zip(rerun, states[middle:], strict=True):
            for name in want:
                assert got[name].equals(want[name]), name


def _whole_chains(state: dict[str, pl.DataFrame], keys: list[str]) -> pl.DataFrame | None:
    """cdc without history keeps each key's chain as state, split: the rows before its last version
    (``chain_rest``) and the ones from it on (``chain_last``)."""
    parts = [state[a] for a in ("chain_rest", "chain_last") if a in state]
    if not parts:
        return None
    return pl.concat(parts, how="diagonal_relaxed").sort(keys, maintain_order=True, nulls_last=False)


def _check_current(
    current: pl.DataFrame, expected: dict[tuple[Any, ...], list[tuple[Any, ...]]], s: Scenario
) -> None:
    assert current.select(s.keys).is_unique().all()
    want_current = {k: rows[-1] for k, rows in expected.items() if rows[-1][2] is None}
    if "effective_from" in current.columns:
        got_current = {k: rows[-1] for k, rows in _history_of(current, s).items()}
        assert got_current == want_current
    else:  # cdc without history: current holds the values of each key's open version (and _deleted)
        flag = s.delete_mode == "tombstone"
        got = {
            tuple(r[c] for c in s.keys): (
                *(r[c] for c in DATA_COLUMNS),
                bool(r["_deleted"]) if flag else None,
            )
            for r in current.to_dicts()
        }
        assert got == {
            k: (*row[0][: len(DATA_COLUMNS)], row[5] if flag else None) for k, row in want_current.items()
        }


@settings(max_examples=200, deadline=None)
@given(scenarios("scd_type_2"))
def test_scd2_matches_the_walk(scenario: Scenario) -> None:
    _check(scenario)


@settings(max_examples=200, deadline=None)
@given(scenarios("cdc"))
def test_cdc_matches_the_walk(scenario: Scenario) -> None:
    _check(scenario)


@st.composite
def arrivals(draw: st.DrawFn, model: str) -> Scenario:
    """One fixed set of versions, delivered over the days in a random order (late rows, ties, deletes)."""
    s = draw(scenarios(model))
    rows = [r for day in s.days for r in day]
    days = len(s.days) + draw(st.integers(0, 2))
    shuffled = draw(st.permutations(rows))
    cuts = sorted(draw(st.lists(st.integers(0, len(rows)), min_size=days - 1, max_size=days - 1)))
    bounds = [0, *cuts, len(rows)]
    s.days = [list(shuffled[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)]
    s.pattern = "cdc" if model == "cdc" else "incremental"
    return s


@settings(max_examples=150, deadline=None)
@given(arrivals("scd_type_2"))
def test_scd2_any_arrival_order_matches_the_walk(scenario: Scenario) -> None:
    _check(scenario)


@settings(max_examples=150, deadline=None)
@given(arrivals("cdc"))
def test_cdc_any_arrival_order_matches_the_walk(scenario: Scenario) -> None:
    _check(scenario)


@st.composite
def dense_ops(draw: st.DrawFn) -> Scenario:
    """cdc without history over two keys and four order values, every op valid: late ops, ties with a key's
    last version or its tombstone, and in-order days meet often (the state is ``chain_last`` plus
    ``chain_rest``, and a day reads the latter only for the keys whose ops are late or tie)."""
    row = {
        "k1": st.integers(0, 1),
        "k2": st.just("a"),
        "ts": st.integers(0, 3),
        "v": st.sampled_from(["x", "y"]),
        "w": st.just(0),
        "op": st.sampled_from(["I", "U", "D"]),
    }
    days = draw(st.lists(st.lists(st.fixed_dictionaries(row), max_size=3), min_size=2, max_size=5))
    return Scenario(
        model="cdc",
        compound=False,
        temporal=False,
        pattern="cdc",
        delete_mode=draw(st.sampled_from(["hard_delete", "tombstone"])),
        tracked=None,
        keep_history=False,
        days=days,
    )


@settings(max_examples=100, deadline=None)
@given(dense_ops())
def test_cdc_split_state_matches_the_walk(scenario: Scenario) -> None:
    _check(scenario)


@settings(max_examples=100, deadline=None)
@given(
    compound=st.booleans(),
    lookback=st.integers(0, 3),
    days=st.lists(
        st.lists(
            st.fixed_dictionaries(
                {
                    "k1": st.one_of(st.integers(0, 4), st.just(None)),
                    "k2": st.sampled_from(["a", "b"]),
                    "v": st.sampled_from(["x", "y"]),
                }
            ),
            max_size=6,
        ),
        min_size=1,
        max_size=6,
    ),
)
def test_event_log_matches_the_reference(
    compound: bool, lookback: int, days: list[list[dict[str, Any]]]
) -> None:
    keys = ["k1", "k2"] if compound else ["k1"]
    config = SilverConfig(primary_keys=keys, dedupe_lookback_days=lookback)
    model = create_silver_model("event_log", config)
    seen: dict[tuple[Any, ...], date] = {}
    state = None
    for number, rows in enumerate(days, start=1):
        load_date = START + timedelta(days=number - 1)
        expected = []
        for row in rows:  # the reference: first delivery wins, within the day and the lookback days
            if row["k1"] is None:
                continue
            k = tuple(row[c] for c in keys)
            if k in seen and (seen[k] == load_date or (load_date - seen[k]).days <= lookback):
                continue
            seen[k] = load_date
            expected.append(row)
        frame = pl.DataFrame(rows, schema={"k1": pl.Int64, "k2": pl.String, "v": pl.String}, orient="row")
        prepared = prepare(frame, config)
        ctx = SilverContext(load_date=load_date, window_end=datetime.min, load_pattern="incremental")
        result = model.apply(state, prepared.clean, ctx)
        state = {name: _roundtrip(f) for name, f in result.artifacts.items()}
        assert state["events"].drop(SILVER_LOAD_DATE).to_dicts() == expected
        assert result.inserted + result.duplicates_dropped + prepared.errors.height == len(rows)
