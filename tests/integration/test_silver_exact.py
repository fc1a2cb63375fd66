"""Silver exact to the row through Dagster: the cases of issue 10, from YAML and files to the lake.

Each case materializes Bronze and Silver day by day with the real assets, IO managers and checks, then
reads the committed Silver partition back from the lake. The expected rows are written by hand from
DESIGN §6 (not derived from the engine).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import pytest

from medallion_assets.lake import Lake
from medallion_assets.runner import materialize_partition
from medallion_resources.lake.read import read_artifact
from tests.instances import cli_instance_for_test
from tests.integration._lake import local_lake

pytestmark = pytest.mark.slow


def make_lake(root: Path, source: dict[str, Any], start: date, timezone: str = "UTC") -> Lake:
    return local_lake(root, [source], start, timezone=timezone)


def file_source(name: str, data: Path, pattern: str, silver: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "source": {
            "system": "t",
            "table": name,
            "type": "file",
            "file": {"path": f"{data}/{name}_{{run_date:%Y%m%d}}.jsonl"},
            "run": {"load_pattern": pattern},
        },
        "silver": silver,
    }


def write_days(data: Path, name: str, days: dict[date, list[dict[str, Any]]]) -> None:
    data.mkdir(exist_ok=True)
    for day, rows in days.items():
        (data / f"{name}_{day:%Y%m%d}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def run_days(lake: Lake, name: str, days: list[date], instance: dg.DagsterInstance) -> None:
    for day in days:
        outcome = materialize_partition(lake, lake.spec(name), day, ("bronze", "silver"), instance)
        assert outcome.error is None, (day, outcome.error)


def by_day_and_rebuilt(
    root: Path, source: dict[str, Any], days: list[date], instance: dg.DagsterInstance, timezone: str = "UTC"
) -> tuple[Lake, Lake]:
    """Two lakes of ``source``: Silver computed day by day, and Silver of the last day rebuilt from every
    Bronze day at once (a Silver-only run with no Silver state before it)."""
    name = source["name"]
    by_day = local_lake(root / "by_day", [source], days[0], timezone=timezone)
    run_days(by_day, name, days, instance)
    rebuilt = local_lake(root / "rebuilt", [source], days[0], timezone=timezone)
    for day in days:
        outcome = materialize_partition(rebuilt, rebuilt.spec(name), day, ("bronze",), instance)
        assert outcome.error is None, outcome.error
    outcome = materialize_partition(rebuilt, rebuilt.spec(name), days[-1], ("silver",), instance)
    assert outcome.error is None, outcome.error
    return by_day, rebuilt


def silver(lake: Lake, name: str, day: date, artifact: str) -> list[dict[str, Any]]:
    part = lake.committed(lake.spec(name), "silver", day)
    assert part is not None
    return read_artifact(part, artifact).to_dicts()


@pytest.fixture
def instance(tmp_path: Path):
    (tmp_path / "instance").mkdir()
    with cli_instance_for_test(tmp_path / "instance") as inst:
        yield inst


def t(text: str) -> datetime:
    return datetime.fromisoformat(f"2025-{text}")


def test_a_late_row_inside_a_run_of_equal_versions_splits_it(tmp_path: Path, instance) -> None:
    """Issue 10, case 1: the absorbed 03-05 observation reopens ``eps`` after the late 03-03 12:22 row."""
    data = tmp_path / "data"
    day = {d: date(2025, 3, d) for d in range(1, 7)}
    write_days(
        data,
        "acct",
        {
            day[1]: [{"k": 1, "name": "delta", "amount": 490.01, "updated_at": "2025-03-01T18:14:00"}],
            day[2]: [{"k": 1, "name": "eps", "amount": 932.05, "updated_at": "2025-03-02T10:48:00"}],
            day[3]: [{"k": 1, "name": "eps", "amount": 932.05, "updated_at": "2025-03-03T04:51:00"}],
            day[4]: [{"k": 2, "name": "other", "amount": 1.0, "updated_at": "2025-03-04T09:00:00"}],
            day[5]: [{"k": 1, "name": "eps", "amount": 932.05, "updated_at": "2025-03-05T05:01:00"}],
            day[6]: [{"k": 1, "name": "", "amount": 473.22, "updated_at": "2025-03-03T12:22:00"}],  # late
        },
    )
    silver_cfg = {
        "model": "scd_type_2",
        "primary_keys": ["k"],
        "order_column": "updated_at",
        "scd2": {"track_columns": ["name", "amount"]},
        "normalization": {"empty_strings_as_null": True},
        "schema": {"types": {"updated_at": "datetime", "amount": "float64"}},
    }
    lake = make_lake(tmp_path, file_source("acct", data, "incremental", silver_cfg), day[1])
    run_days(lake, "acct", list(day.values()), instance)

    history = [
        (r["name"], r["amount"], r["effective_from"], r["effective_to"], r["is_current"])
        for r in silver(lake, "acct", day[6], "history")
        if r["k"] == 1
    ]
    assert history == [
        ("delta", 490.01, t("03-01T18:14"), t("03-02T10:48"), False),
        ("eps", 932.05, t("03-02T10:48"), t("03-03T12:22"), False),
        (None, 473.22, t("03-03T12:22"), t("03-05T05:01"), False),
        ("eps", 932.05, t("03-05T05:01"), None, True),
    ]
    current = [(r["name"], r["amount"]) for r in silver(lake, "acct", day[6], "current") if r["k"] == 1]
    assert current == [("eps", 932.05)]


def test_a_tie_is_a_correction_not_a_version(tmp_path: Path, instance) -> None:
    """Issue 10, case 2: the same order value on one day and across days; the last one wins."""
    data = tmp_path / "data"
    d1, d2 = date(2025, 4, 1), date(2025, 4, 2)
    write_days(
        data,
        "tie",
        {
            d1: [
                {"k": 1, "v": "a", "ts": "2025-04-01T08:00:00"},
                {"k": 1, "v": "b", "ts": "2025-04-01T09:00:00"},
                {"k": 1, "v": "c", "ts": "2025-04-01T09:00:00"},  # same day, same ts: corrects b
            ],
            d2: [{"k": 1, "v": "d", "ts": "2025-04-01T08:00:00"}],  # a later day corrects a
        },
    )
    silver_cfg = {
        "model": "scd_type_2",
        "primary_keys": ["k"],
        "order_column": "ts",
        "schema": {"types": {"ts": "datetime"}},
    }
    lake = make_lake(tmp_path, file_source("tie", data, "incremental", silver_cfg), d1)
    run_days(lake, "tie", [d1, d2], instance)
    rows = [(r["v"], r["effective_from"], r["effective_to"]) for r in silver(lake, "tie", d1, "history")]
    assert rows == [("a", t("04-01T08:00"), t("04-01T09:00")), ("c", t("04-01T09:00"), None)]
    rows = [(r["v"], r["effective_from"], r["effective_to"]) for r in silver(lake, "tie", d2, "history")]
    assert rows == [("d", t("04-01T08:00"), t("04-01T09:00")), ("c", t("04-01T09:00"), None)]


@pytest.mark.parametrize("delete_mode", ["hard_delete", "tombstone"])
@pytest.mark.parametrize("back", ["2025-04-30T10:00:00", "2025-05-03T12:00:00"])
def test_full_snapshot_resurrection_commits(tmp_path: Path, instance, delete_mode: str, back: str) -> None:
    """Issue 10, case 3: a key deleted from a full snapshot comes back; the scd2_windows check passes.

    It comes back unchanged (placed at its delete) or changed later (a gap after a hard delete).
    """
    data = tmp_path / "data"
    days = [date(2025, 5, 1) + timedelta(days=i) for i in range(3)]
    row = {"k": 1, "v": "a", "ts": "2025-04-30T10:00:00"}
    other = {"k": 2, "v": "b", "ts": "2025-04-30T10:00:00"}
    again = {"k": 1, "v": "a" if back < "2025-05" else "new", "ts": back}
    write_days(data, "snap", {days[0]: [row, other], days[1]: [other], days[2]: [again, other]})
    silver_cfg = {
        "model": "scd_type_2",
        "primary_keys": ["k"],
        "order_column": "ts",
        "delete_mode": delete_mode,
        "schema": {"types": {"ts": "datetime"}},
    }
    lake = make_lake(tmp_path, file_source("snap", data, "full", silver_cfg), days[0])
    run_days(lake, "snap", days, instance)
    history = [r for r in silver(lake, "snap", days[2], "history") if r["k"] == 1]
    deleted_at = datetime(2025, 5, 3)  # the end of the 05-02 window, when k=1 was missing
    back_at = max(datetime.fromisoformat(back), deleted_at)  # never before the delete
    if delete_mode == "hard_delete":
        assert [(r["effective_from"], r["effective_to"], r["_closed_by_delete"]) for r in history] == [
            (t("04-30T10:00"), deleted_at, True),
            (back_at, None, False),  # back: a new version
        ]
    else:
        assert [(r["effective_from"], r["effective_to"], r["_deleted"]) for r in history] == [
            (t("04-30T10:00"), deleted_at, False),
            (deleted_at, back_at, True),  # zero length when it came back unchanged: DESIGN §6 allows it
            (back_at, None, False),
        ]


def test_cdc_hard_delete_with_history_resurrection_commits(tmp_path: Path, instance) -> None:
    """Issue 10, case 3 for cdc: I, D, then I again of the same key with keep_history."""
    data = tmp_path / "data"
    days = [date(2025, 6, 1), date(2025, 6, 2)]
    write_days(
        data,
        "ops",
        {
            days[0]: [{"id": 1, "v": "a", "lsn": 1, "op": "I"}, {"id": 1, "v": None, "lsn": 2, "op": "D"}],
            days[1]: [{"id": 1, "v": "b", "lsn": 4, "op": "I"}],
        },
    )
    silver_cfg = {
        "primary_keys": ["id"],
        "order_column": "lsn",
        "delete_mode": "hard_delete",
        "cdc": {"keep_history": True},
    }
    lake = make_lake(tmp_path, file_source("ops", data, "cdc", silver_cfg), days[0])
    run_days(lake, "ops", days, instance)
    history = silver(lake, "ops", days[1], "history")
    assert [(r["v"], r["effective_from"], r["effective_to"], r["_closed_by_delete"]) for r in history] == [
        ("a", 1, 2, True),
        ("b", 4, None, False),  # the gap 2..4 after the delete is legal
    ]


def build_both_ways(
    tmp_path: Path,
    name: str,
    pattern: str,
    silver_cfg: dict[str, Any],
    days,
    instance,
    timezone: str = "UTC",
    source_run: dict[str, Any] | None = None,
):
    """The same Bronze days in two lakes: Silver day by day (each day from the day before), and Silver of
    the last day alone (rebuilt from Bronze). Returns both lakes."""
    data = tmp_path / "data"
    write_days(data, name, days)
    dates = sorted(days)
    source = file_source(name, data, pattern, silver_cfg)
    source["source"]["run"].update(source_run or {})
    by_day = make_lake(tmp_path / "by_day", source, dates[0], timezone)
    run_days(by_day, name, dates, instance)
    rebuilt = make_lake(tmp_path / "rebuilt", source, dates[0], timezone)
    for day in dates:
        outcome = materialize_partition(rebuilt, rebuilt.spec(name), day, ("bronze",), instance)
        assert outcome.error is None, (day, outcome.error)
    outcome = materialize_partition(rebuilt, rebuilt.spec(name), dates[-1], ("silver",), instance)
    assert outcome.error is None, outcome.error
    return by_day, rebuilt


KEY_DRIFT_DAYS = {
    date(2025, 7, 1): [{"id": 1, "v": "a", "ts": 1}, {"id": 2, "v": "a", "ts": 1}],
    date(2025, 7, 2): [{"id": "1", "v": "b", "ts": 2}, {"id": "x", "v": "b", "ts": 2}],  # ids now text
    date(2025, 7, 3): [{"id": 2, "v": "c", "ts": 3}, {"id": "x", "v": "c", "ts": 3}],  # numbers again
}
# One key whatever type a day's file gives it (DESIGN §5: a column whose type changes widens, to text if
# nothing else fits; the number 1 widened to text is "1"): the expected Silver of 07-03, by hand.
KEY_DRIFT_CASES = {
    "scd_type_1": (
        "incremental",
        {"order_column": "ts"},
        "current",
        ["id", "v", "ts"],
        [("1", "b", 2), ("2", "c", 3), ("x", "c", 3)],
    ),
    "scd_type_2": (
        "incremental",
        {"order_column": "ts"},
        "history",
        ["id", "v", "effective_from", "effective_to"],
        [
            ("1", "a", 1, 2),
            ("1", "b", 2, None),
            ("2", "a", 1, 3),
            ("2", "c", 3, None),
            ("x", "b", 2, 3),
            ("x", "c", 3, None),
        ],
    ),
    "cdc": (
        "cdc",
        {"order_column": "ts", "cdc": {}},
        "current",
        ["id", "v", "ts"],
        [("1", "b", 2), ("2", "c", 3), ("x", "c", 3)],
    ),
    # 2 was written on 07-01 and x on 07-02, both inside the 2-day lookback: re-deliveries.
    "event_log": ("incremental", {"dedupe_lookback_days": 2}, "events", ["id", "v"], []),
}


@pytest.mark.parametrize("model", sorted(KEY_DRIFT_CASES))
def test_a_key_column_whose_type_changes_across_days_keeps_its_keys(
    tmp_path: Path, instance, model: str
) -> None:
    """Ids that come as numbers one day and as text the next (``1``, then ``"1"`` and ``"x"``) are the same
    keys: every day commits, day by day and rebuilt from Bronze alike (it failed on 07-02 with polars'
    "datatypes of join keys don't match" / "'is_in' cannot check for Int64 values in List(String)")."""
    pattern, extra, artifact, columns, expected = KEY_DRIFT_CASES[model]
    days = KEY_DRIFT_DAYS
    if pattern == "cdc":
        days = {d: [{**r, "op": "U"} for r in rows] for d, rows in days.items()}
    silver_cfg = {"model": model, "primary_keys": ["id"], **extra}
    lakes = build_both_ways(tmp_path, "drift", pattern, silver_cfg, days, instance)
    for lake in lakes:
        rows = sorted(tuple(r[c] for c in columns) for r in silver(lake, "drift", date(2025, 7, 3), artifact))
        assert rows == expected
    if model == "event_log":  # 07-02: "1" is 1 of 07-01 again, "x" is new
        rows = [(r["id"], r["v"]) for r in silver(lakes[0], "drift", date(2025, 7, 2), "events")]
        assert rows == [("x", "b")]


def test_a_value_widened_to_text_reads_the_same_day_by_day_and_rebuilt(tmp_path: Path, instance) -> None:
    """``amount`` is a number on 08-01, a float on 08-02 and text on 08-03. Text versions equal to the
    numbers before them are the same versions (absorbed), and the numbers read as text as the lake widens
    them (``2`` -> ``"2"``, ``1.0`` -> ``"1"``), whether Silver 08-03 comes from 08-02 or from Bronze: it
    came from Bronze as ``"2.0"`` (polars' own cast of the float 2.0 of a rebuild's 08-02), and day by day
    key 2's unchanged ``"2"`` was a new version."""
    days = {
        date(2025, 8, 1): [{"id": 1, "amount": 1, "ts": 1}, {"id": 2, "amount": 2, "ts": 1}],
        date(2025, 8, 2): [{"id": 1, "amount": 1.0, "ts": 2}, {"id": 3, "amount": 2.5, "ts": 2}],
        date(2025, 8, 3): [{"id": 1, "amount": "1", "ts": 3}, {"id": 2, "amount": "2", "ts": 3}],
    }
    silver_cfg = {"model": "scd_type_2", "primary_keys": ["id"], "order_column": "ts"}
    for lake in build_both_ways(tmp_path, "wide", "incremental", silver_cfg, days, instance):
        history = silver(lake, "wide", date(2025, 8, 3), "history")
        rows = sorted((r["id"], r["amount"], r["effective_from"], r["effective_to"]) for r in history)
        assert rows == [(1, "1", 1, None), (2, "2", 1, None), (3, "2.5", 2, None)]


ABSENT_DAYS = {
    date(2025, 9, 1): [{"id": 1, "amount": "1.50", "ts": 1}, {"id": 2, "amount": "2.00", "ts": 1}],
    date(2025, 9, 2): [{"id": 1, "ts": 2}],  # the producer leaves out null fields: no record has amount
    date(2025, 9, 3): [{"id": 2, "amount": "3.00", "ts": 3}],
}


@pytest.mark.parametrize("model", ["scd_type_1", "scd_type_2"])
def test_a_typed_column_a_day_leaves_out_is_null_that_day(tmp_path: Path, instance, model: str) -> None:
    """``amount`` (typed, and tracked) is missing from the whole of Bronze 09-02: that day's rows have no
    amount, as any column a record leaves out, instead of the day (and with it every later day, rebuilt
    or not) failing on "silver.schema.types names column(s) 'amount' that Bronze does not have"."""
    silver_cfg: dict[str, Any] = {
        "model": model,
        "primary_keys": ["id"],
        "order_column": "ts",
        "schema": {"types": {"amount": "decimal(10,2)"}},
    }
    if model == "scd_type_2":
        silver_cfg["scd2"] = {"track_columns": ["amount"]}
    by_day, rebuilt = build_both_ways(tmp_path, "absent", "incremental", silver_cfg, ABSENT_DAYS, instance)
    if model == "scd_type_1":
        current = [
            (r["id"], r["amount"], r["ts"]) for r in silver(by_day, "absent", date(2025, 9, 2), "current")
        ]
        assert current == [(1, None, 2), (2, Decimal("2.00"), 1)]
        expected = [(1, None, 2), (2, Decimal("3.00"), 3)]
        for lake in (by_day, rebuilt):
            rows = silver(lake, "absent", date(2025, 9, 3), "current")
            assert [(r["id"], r["amount"], r["ts"]) for r in rows] == expected
    else:
        expected_history = [
            (1, Decimal("1.50"), 1, 2),
            (1, None, 2, None),
            (2, Decimal("2.00"), 1, 3),
            (2, Decimal("3.00"), 3, None),
        ]
        for lake in (by_day, rebuilt):
            rows = silver(lake, "absent", date(2025, 9, 3), "history")
            assert [
                (r["id"], r["amount"], r["effective_from"], r["effective_to"]) for r in rows
            ] == expected_history


@pytest.mark.parametrize(("first", "second"), [(9, "10"), ("9", "10")], ids=["number-then-text", "text"])
@pytest.mark.parametrize("model", ["scd_type_1", "scd_type_2"])
def test_an_order_column_of_numbers_as_text_fails_and_typed_orders_them(
    tmp_path: Path, instance, model: str, first: Any, second: str
) -> None:
    """``lsn`` 9 on 10-01 and ``"10"`` on 10-02 (a producer that quotes it one day, or a CSV: all text):
    as text ``"10"`` sorts before ``"9"``, and Silver 10-02 committed with the 10-02 version dropped as
    older, without a word. The day now fails naming the fix; typed, the versions are ordered as numbers."""
    days = {
        date(2025, 10, 1): [{"id": 1, "v": "a", "lsn": first}],
        date(2025, 10, 2): [{"id": 1, "v": "b", "lsn": second}],
    }
    data = tmp_path / "data"
    write_days(data, "seq", days)
    silver_cfg: dict[str, Any] = {"model": model, "primary_keys": ["id"], "order_column": "lsn"}
    untyped = make_lake(tmp_path / "untyped", file_source("seq", data, "incremental", silver_cfg), min(days))
    run_days(untyped, "seq", [date(2025, 10, 1)], instance)
    outcome = materialize_partition(
        untyped, untyped.spec("seq"), date(2025, 10, 2), ("bronze", "silver"), instance
    )
    assert outcome.error is not None
    assert "silver.order_column 'lsn' holds numbers as text" in outcome.error, outcome.error
    assert "silver.schema.types: {lsn: int64}" in outcome.error, outcome.error
    assert untyped.committed(untyped.spec("seq"), "silver", date(2025, 10, 2)) is None

    typed_cfg = {**silver_cfg, "schema": {"types": {"lsn": "int64"}}}
    typed = make_lake(tmp_path / "typed", file_source("seq", data, "incremental", typed_cfg), min(days))
    run_days(typed, "seq", sorted(days), instance)
    artifact = "current" if model == "scd_type_1" else "history"
    rows = silver(typed, "seq", date(2025, 10, 2), artifact)
    if model == "scd_type_1":
        assert [(r["id"], r["v"], r["lsn"]) for r in rows] == [(1, "b", 10)]
    else:
        assert [(r["v"], r["effective_from"], r["effective_to"]) for r in rows] == [
            ("a", 9, 10),
            ("b", 10, None),
        ]


@pytest.mark.parametrize("model", ["scd_type_2", "cdc"])
def test_an_order_column_that_turns_to_text_orders_its_history_as_text(
    tmp_path: Path, instance, model: str
) -> None:
    """``lsn`` 9 on 10-01, ``"x"`` on 10-02: the column widens to text (DESIGN §5), and so must the history's
    bounds that hold its values, else 10-02 failed with polars' "cannot compare string with numeric type"
    (day by day and rebuilt). As text, ``"x"`` follows ``"9"``."""
    rows = {
        date(2025, 10, 1): [{"id": 1, "v": "a", "lsn": 9}],
        date(2025, 10, 2): [{"id": 1, "v": "b", "lsn": "x"}],
    }
    silver_cfg: dict[str, Any] = {"model": model, "primary_keys": ["id"], "order_column": "lsn"}
    if model == "cdc":
        rows = {d: [{**r, "op": "U"} for r in day] for d, day in rows.items()}
        silver_cfg["cdc"] = {"keep_history": True}
    pattern = "cdc" if model == "cdc" else "incremental"
    for lake in build_both_ways(tmp_path, "turn", pattern, silver_cfg, rows, instance):
        history = silver(lake, "turn", date(2025, 10, 2), "history")
        assert [(r["v"], r["effective_from"], r["effective_to"]) for r in history] == [
            ("a", "9", "x"),
            ("b", "x", None),
        ]


def test_source_columns_named_like_the_models_own_are_kept_not_overwritten(tmp_path: Path, instance) -> None:
    """A source whose rows carry columns of the names a model writes (``is_current``, ``effective_from``,
    ``effective_to``, ``_deleted``, ``_silver_load_date``, ``_error_reason``): Silver's own columns used to
    replace the source's values without a word on day 1 and fail day 2 (``filter predicate must be of type
    Boolean``). As Bronze does for its lineage columns, the source's values are kept as ``<name>_source``."""
    data = tmp_path / "data"
    d1, d2 = date(2025, 5, 1), date(2025, 5, 2)
    own = {"is_current": "Y", "effective_from": "2020-01-01", "effective_to": "9999-12-31", "_deleted": "no"}
    write_days(
        data,
        "dim",
        {
            d1: [{"k": 1, "v": "a", "ts": "2025-05-01T08:00:00", **own, "_silver_load_date": "keep-me"}],
            d2: [
                {
                    "k": 1,
                    "v": "b",
                    "ts": "2025-05-02T08:00:00",
                    **own,
                    "is_current": "N",
                    "_error_reason": "x",
                }
            ],
        },
    )
    silver_cfg = {
        "model": "scd_type_2",
        "primary_keys": ["k"],
        "order_column": "ts",
        "schema": {"types": {"ts": "datetime"}},
    }
    lake = make_lake(tmp_path, file_source("dim", data, "incremental", silver_cfg), d1)
    run_days(lake, "dim", [d1, d2], instance)
    rows = silver(lake, "dim", d2, "history")
    ours = [
        (r["v"], r["is_current"], r["effective_from"], r["effective_to"], r["_silver_load_date"])
        for r in rows
    ]
    assert ours == [
        ("a", False, t("05-01T08:00"), t("05-02T08:00"), d2),  # closed on 05-02: written again then
        ("b", True, t("05-02T08:00"), None, d2),
    ]
    assert [
        (
            r["is_current_source"],
            r["effective_from_source"],
            r["effective_to_source"],
            r["_deleted_source"],
            r["_silver_load_date_source"],
            r["_error_reason_source"],
        )
        for r in rows
    ] == [
        ("Y", "2020-01-01", "9999-12-31", "no", "keep-me", None),
        ("N", "2020-01-01", "9999-12-31", "no", None, "x"),
    ]


BRONZE_ADDED = {"_load_date", "_extracted_at", "_source_system", "_source_table", "_source_file"}
LATER_COLUMN_DAYS = {
    date(2025, 11, 1): [{"id": 1, "v": "a", "ts": 1}],
    date(2025, 11, 2): [{"id": 2, "v": "b", "ts": 2}],
    date(2025, 11, 3): [{"id": 1, "extra": "x", "v": "c", "ts": 3}],  # a column appears
    date(2025, 11, 4): [{"id": 3, "v": "d", "ts": 4}],  # and is gone again
}
HISTORY_COLUMNS = [
    "id",
    "v",
    "ts",
    "effective_from",
    "effective_to",
    "is_current",
    "_silver_load_date",
    "extra",
]
# The columns of Silver 11-04 (Bronze's own columns aside), by hand: a column keeps the place it first had,
# and one that appears on a later day comes after every column Silver had before it.
LATER_COLUMN_CASES = {
    "scd_type_1": ("incremental", {}, {"current": ["id", "v", "ts", "_silver_load_date", "extra"]}),
    "scd_type_2": ("incremental", {}, {"history": HISTORY_COLUMNS, "current": HISTORY_COLUMNS}),
    "cdc-history": (
        "cdc",
        {"model": "cdc", "cdc": {"keep_history": True}},
        {"history": HISTORY_COLUMNS, "current": HISTORY_COLUMNS},
    ),
    "cdc": ("cdc", {"cdc": {}}, {"current": ["id", "v", "ts", "_silver_load_date", "extra"]}),
}


@pytest.mark.parametrize("case", sorted(LATER_COLUMN_CASES))
def test_a_column_added_later_has_one_place_day_by_day_and_rebuilt(
    tmp_path: Path, instance, case: str
) -> None:
    """``extra`` appears on 11-03: day by day it came after ``_silver_load_date`` (the day's files added it
    to D-1's), rebuilt from Bronze before it (the model's own order): the same table read with two column
    orders depending on how it was built."""
    pattern, extra, expected = LATER_COLUMN_CASES[case]
    days = LATER_COLUMN_DAYS
    if pattern == "cdc":
        days = {d: [{**r, "op": "U"} for r in rows] for d, rows in days.items()}
    silver_cfg = {"model": case.split("-")[0], "primary_keys": ["id"], "order_column": "ts", **extra}
    for lake in build_both_ways(tmp_path, "later", pattern, silver_cfg, days, instance):
        for artifact, columns in expected.items():
            rows = silver(lake, "later", date(2025, 11, 4), artifact)
            assert [c for c in rows[0] if c not in BRONZE_ADDED] == columns, artifact


HARD_DELETE_CASES = {
    # model, load pattern, extra config, whether the model keeps a history
    "scd_type_2": ("full", {}, True),
    "cdc-history": ("cdc", {"cdc": {"keep_history": True}}, True),
    "cdc": ("cdc", {"cdc": {}}, False),
}


@pytest.mark.parametrize("case", sorted(HARD_DELETE_CASES))
def test_current_after_a_hard_delete_has_no_closed_by_delete_column(
    tmp_path: Path, instance, case: str
) -> None:
    """``_closed_by_delete`` marks a history version closed by a hard delete; ``current`` holds open
    versions only, so it carried the column always false (DESIGN §4 lists no such column for it)."""
    pattern, extra, keeps_history = HARD_DELETE_CASES[case]
    rows = [{"id": k, "v": "a", "ts": "2025-12-01T08:00:00"} for k in (1, 2, 3)]
    if pattern == "full":
        days = {date(2025, 12, 1): rows, date(2025, 12, 2): [rows[0], rows[2]]}  # 2 missing: deleted
    else:
        ops = [{**r, "op": "I"} for r in rows]
        days = {
            date(2025, 12, 1): ops,
            date(2025, 12, 2): [{"id": 2, "ts": "2025-12-02T09:00:00", "op": "D"}],
        }
    silver_cfg = {
        "model": case.split("-")[0],
        "primary_keys": ["id"],
        "order_column": "ts",
        "delete_mode": "hard_delete",
        "schema": {"types": {"ts": "datetime"}},
        **extra,
    }
    for lake in build_both_ways(tmp_path, "gone", pattern, silver_cfg, days, instance):
        current = silver(lake, "gone", date(2025, 12, 2), "current")
        assert [r["id"] for r in current] == [1, 3]
        assert "_closed_by_delete" not in current[0]
        if keeps_history:
            history = silver(lake, "gone", date(2025, 12, 2), "history")
            assert [(r["id"], r["_closed_by_delete"]) for r in history] == [(1, False), (2, True), (3, False)]


@pytest.mark.parametrize(("column", "bad"), [("amount", "oops"), ("ts", None)])
@pytest.mark.parametrize("delete_mode", ["hard_delete", "tombstone"])
@pytest.mark.parametrize("model", ["scd_type_1", "scd_type_2"])
def test_a_key_whose_snapshot_row_is_quarantined_is_not_deleted(
    tmp_path: Path, instance, model: str, delete_mode: str, column: str, bad: str | None
) -> None:
    """Key 4's only row of the 02-02 snapshot has an amount that is no decimal (or, for scd_type_2, no
    order value): the row goes to ``_errors/``, but the key is in the snapshot, so it is no delete (DESIGN
    §6: a delete is a key absent from Bronze D). It was deleted, and scd_type_2 kept a fake delete and a
    new version in its history. (scd_type_1 takes a null order value as the oldest: no error, no change.)"""
    rows = [{"id": k, "amount": "1.00", "ts": "2025-02-01T08:00:00"} for k in (1, 2, 3, 4)]
    days = {
        date(2025, 2, 1): rows,
        date(2025, 2, 2): [*rows[:3], {**rows[3], column: bad}],
        date(2025, 2, 3): rows,
    }
    silver_cfg = {
        "model": model,
        "primary_keys": ["id"],
        "order_column": "ts",
        "delete_mode": delete_mode,
        "schema": {"types": {"ts": "datetime", "amount": "decimal(10,2)"}},
        "error_handling": {"max_bad_records": 1},
    }
    by_day, rebuilt = build_both_ways(tmp_path, "held", "full", silver_cfg, days, instance)
    errors = silver(by_day, "held", date(2025, 2, 2), "errors")
    assert [(r["id"], r[column]) for r in errors] == (
        [] if bad is None and model == "scd_type_1" else [(4, bad)]
    )
    for lake, day in ((by_day, date(2025, 2, 2)), (by_day, date(2025, 2, 3)), (rebuilt, date(2025, 2, 3))):
        current = silver(lake, "held", day, "current")
        assert [(r["id"], r["amount"], r.get("_deleted", False)) for r in current] == [
            (k, Decimal("1.00"), False) for k in (1, 2, 3, 4)
        ], day
        if model == "scd_type_2":
            history = silver(lake, "held", day, "history")
            assert [(r["id"], r["effective_from"], r["effective_to"]) for r in history] == [
                (k, t("02-01T08:00"), None) for k in (1, 2, 3, 4)
            ], day


@pytest.mark.parametrize("delete_mode", ["hard_delete", "tombstone"])
def test_a_full_load_delete_with_a_timezone_aware_order_column(
    tmp_path: Path, instance, delete_mode: str
) -> None:
    """``ts`` is a timestamp with time zone (UTC, as a Parquet file or PostgreSQL's timestamptz lands) and
    the partitions are days in Europe/Paris: key 2, missing from the 06-02 snapshot, is deleted at the end
    of that day, 06-03 00:00 in Paris = 06-02 22:00 UTC. The day failed with polars' "time zone of dtype
    ('UTC') differs from time zone of value", and so did every later day that deleted a key."""
    data = tmp_path / "data"
    data.mkdir()
    at = datetime(2025, 6, 1, 8, tzinfo=UTC)
    pl.DataFrame({"id": [1, 2, 3], "v": ["a", "b", "c"], "ts": [at] * 3}).write_parquet(
        data / "p_20250601.parquet"
    )
    pl.DataFrame({"id": [1, 3], "v": ["a", "c"], "ts": [at] * 2}).write_parquet(data / "p_20250602.parquet")
    source = file_source(
        "p",
        data,
        "full",
        {"model": "scd_type_2", "primary_keys": ["id"], "order_column": "ts", "delete_mode": delete_mode},
    )
    source["source"]["file"]["path"] = f"{data}/p_{{run_date:%Y%m%d}}.parquet"
    source["source"]["run"]["max_delete_fraction"] = 1.0
    lake = local_lake(tmp_path, [source], date(2025, 6, 1), timezone="Europe/Paris")
    run_days(lake, "p", [date(2025, 6, 1), date(2025, 6, 2)], instance)
    history = [r for r in silver(lake, "p", date(2025, 6, 2), "history") if r["id"] == 2]
    deleted_at = datetime(2025, 6, 2, 22, tzinfo=UTC)
    if delete_mode == "hard_delete":
        assert [(r["effective_from"], r["effective_to"], r["_closed_by_delete"]) for r in history] == [
            (at, deleted_at, True)
        ]
    else:
        assert [(r["effective_from"], r["effective_to"], r["_deleted"]) for r in history] == [
            (at, deleted_at, False),
            (deleted_at, None, True),
        ]


@pytest.mark.parametrize("model", ["scd_type_1", "scd_type_2"])
def test_columns_after_a_first_day_without_rows_have_one_place(tmp_path: Path, instance, model: str) -> None:
    """Bronze 11-01 is an empty file: Silver 11-01 has the columns the config names (``id``, ``ts``), and
    ``v`` comes on 11-02, after them. A rebuild folded the empty day into no state at all and forgot
    them, so it placed ``v`` before ``ts``."""
    days: dict[date, list[dict[str, Any]]] = {
        date(2025, 11, 1): [],
        date(2025, 11, 2): [{"id": 1, "v": "a", "ts": 2}],
    }
    silver_cfg = {"model": model, "primary_keys": ["id"], "order_column": "ts"}
    data = tmp_path / "data"
    write_days(data, "late", days)
    lakes = []
    for name in ("by_day", "rebuilt"):
        source = file_source("late", data, "incremental", silver_cfg)
        source["source"]["file"]["allow_empty"] = True
        lakes.append(make_lake(tmp_path / name, source, date(2025, 11, 1)))
    run_days(lakes[0], "late", sorted(days), instance)
    for day in sorted(days):
        outcome = materialize_partition(lakes[1], lakes[1].spec("late"), day, ("bronze",), instance)
        assert outcome.error is None, outcome.error
    outcome = materialize_partition(lakes[1], lakes[1].spec("late"), date(2025, 11, 2), ("silver",), instance)
    assert outcome.error is None, outcome.error
    expected = ["id", "ts", "_silver_load_date", "v"]
    if model == "scd_type_2":
        expected = ["id", "ts", "effective_from", "effective_to", "is_current", "_silver_load_date", "v"]
    for name, lake in zip(("by_day", "rebuilt"), lakes, strict=True):
        rows = silver(lake, "late", date(2025, 11, 2), "current")
        assert [c for c in rows[0] if c not in BRONZE_ADDED] == expected, name


# A producer in Europe/Paris (UTC+1 in March) that writes some times as local wall time, without an offset,
# and others with an offset or Z. The partitions are days in Europe/Paris, so Silver holds every time as
# Paris wall time: 09:30Z is 10:30, 22:30Z is 23:30, 23:30-01:00 is 01:30 the next day.
PARIS_DAYS = {
    date(2025, 3, 1): [
        {"id": 1, "v": "a", "ts": "2025-03-01T10:00:00"},
        {"id": 2, "v": "a", "ts": "2025-03-01T22:30:00Z"},
    ],
    date(2025, 3, 2): [
        {"id": 1, "v": "b", "ts": "2025-03-02T09:30:00Z"},
        {"id": 2, "v": "b", "ts": "2025-03-02T00:15:00"},
    ],
    date(2025, 3, 3): [
        {"id": 1, "v": "c", "ts": "2025-03-02T10:15:00"},  # late: 10:15 in Paris, before b's 10:30
        {"id": 2, "v": "c", "ts": "2025-03-02T23:30:00-01:00"},
    ],
}


def test_datetime_order_values_with_and_without_offset_are_wall_time_in_the_partition_timezone(
    tmp_path: Path, instance
) -> None:
    """``ts: datetime`` turned ``09:30Z`` into 09:30 (UTC) but kept ``10:15`` as written (Paris): b, at
    10:30 in Paris, was taken for older than the late c at 10:15, and c became the current version."""
    by_day, rebuilt = build_both_ways(
        tmp_path,
        "paris",
        "incremental",
        {
            "model": "scd_type_2",
            "primary_keys": ["id"],
            "order_column": "ts",
            "schema": {"types": {"ts": "datetime"}},
        },
        PARIS_DAYS,
        instance,
        timezone="Europe/Paris",
    )
    expected = [
        (1, "a", datetime(2025, 3, 1, 10), datetime(2025, 3, 2, 10, 15)),
        (1, "c", datetime(2025, 3, 2, 10, 15), datetime(2025, 3, 2, 10, 30)),
        (1, "b", datetime(2025, 3, 2, 10, 30), None),
        (2, "a", datetime(2025, 3, 1, 23, 30), datetime(2025, 3, 2, 0, 15)),
        (2, "b", datetime(2025, 3, 2, 0, 15), datetime(2025, 3, 3, 1, 30)),
        (2, "c", datetime(2025, 3, 3, 1, 30), None),
    ]
    for lake in (by_day, rebuilt):
        history = silver(lake, "paris", date(2025, 3, 3), "history")
        got = sorted(
            ((r["id"], r["v"], r["effective_from"], r["effective_to"]) for r in history),
            key=lambda row: (row[0], row[2]),
        )
        assert got == expected
        current = silver(lake, "paris", date(2025, 3, 3), "current")
        assert sorted((r["id"], r["v"], r["ts"]) for r in current) == [
            (1, "b", datetime(2025, 3, 2, 10, 30)),
            (2, "c", datetime(2025, 3, 3, 1, 30)),
        ]


@pytest.mark.parametrize("delete_mode", ["hard_delete", "tombstone"])
def test_a_full_load_delete_after_an_offset_observation_in_the_partition_timezone(
    tmp_path: Path, instance, delete_mode: str
) -> None:
    """Key 2 was observed at ``23:30Z`` on 03-01 (00:30 on 03-02 in Paris) and is missing from the 03-02
    snapshot: its version starts at 03-02 00:30 and the delete is at the end of 03-02 in Paris, 03-03
    00:00. The observation used to be kept as 03-01 23:30, before the day it belongs to in Paris."""
    days = {
        date(2025, 3, 1): [
            {"id": 1, "v": "a", "ts": "2025-03-01T10:00:00"},
            {"id": 2, "v": "a", "ts": "2025-03-01T23:30:00Z"},
        ],
        date(2025, 3, 2): [{"id": 1, "v": "a", "ts": "2025-03-01T10:00:00"}],
    }
    by_day, rebuilt = build_both_ways(
        tmp_path,
        "snap",
        "full",
        {
            "model": "scd_type_2",
            "primary_keys": ["id"],
            "order_column": "ts",
            "delete_mode": delete_mode,
            "schema": {"types": {"ts": "datetime"}},
        },
        days,
        instance,
        timezone="Europe/Paris",
        source_run={"max_delete_fraction": 1.0},
    )
    seen, deleted_at = datetime(2025, 3, 2, 0, 30), datetime(2025, 3, 3)
    for lake in (by_day, rebuilt):
        history = [r for r in silver(lake, "snap", date(2025, 3, 2), "history") if r["id"] == 2]
        if delete_mode == "hard_delete":
            assert [(r["effective_from"], r["effective_to"], r["_closed_by_delete"]) for r in history] == [
                (seen, deleted_at, True)
            ]
        else:
            assert [(r["effective_from"], r["effective_to"], r["_deleted"]) for r in history] == [
                (seen, deleted_at, False),
                (deleted_at, None, True),
            ]


def test_an_order_column_of_date_times_as_text_with_differing_offsets_fails(tmp_path: Path, instance) -> None:
    """Kept as text, ``2025-03-01T10:00:00+02:00`` (08:00 UTC) sorts after ``2025-03-01T09:00:00Z`` though it
    is earlier, and a version without an offset has no instant to compare at all: the day fails naming
    the fix instead of ordering versions wrongly. One offset throughout orders correctly as text."""
    days = {
        date(2025, 3, 1): [{"id": 1, "v": "a", "ts": "2025-03-01T09:00:00Z"}],
        date(2025, 3, 2): [{"id": 1, "v": "b", "ts": "2025-03-01T10:00:00+02:00"}],
    }
    data = tmp_path / "data"
    write_days(data, "txt", days)
    cfg: dict[str, Any] = {"model": "scd_type_2", "primary_keys": ["id"], "order_column": "ts"}
    lake = make_lake(tmp_path / "lake", file_source("txt", data, "incremental", cfg), date(2025, 3, 1))
    run_days(lake, "txt", [date(2025, 3, 1)], instance)
    outcome = materialize_partition(lake, lake.spec("txt"), date(2025, 3, 2), ("bronze", "silver"), instance)
    assert outcome.error is not None
    assert "silver.order_column 'ts' holds date-times as text with differing UTC offsets" in outcome.error
    assert "silver.schema.types: {ts: datetime}" in outcome.error, outcome.error
    assert lake.committed(lake.spec("txt"), "silver", date(2025, 3, 2)) is None

    same = {
        date(2025, 3, 1): [{"id": 1, "v": "a", "ts": "2025-03-01T09:00:00+02:00"}],
        date(2025, 3, 2): [{"id": 1, "v": "b", "ts": "2025-03-01T10:00:00+02:00"}],
    }
    write_days(data, "one", same)
    one = make_lake(tmp_path / "one", file_source("one", data, "incremental", cfg), date(2025, 3, 1))
    run_days(one, "one", sorted(same), instance)
    history = silver(one, "one", date(2025, 3, 2), "history")
    assert [(r["v"], r["effective_from"], r["effective_to"]) for r in history] == [
        ("a", "2025-03-01T09:00:00+02:00", "2025-03-01T10:00:00+02:00"),
        ("b", "2025-03-01T10:00:00+02:00", None),
    ]


@pytest.mark.parametrize("model", ["scd_type_2", "cdc"])
def test_an_order_column_that_gains_a_time_zone_keeps_its_history(
    tmp_path: Path, instance, model: str
) -> None:
    """``ts`` lands naive on 03-01 (a Parquet file without a time zone) and with one on 03-02 (UTC, as a
    PostgreSQL ``timestamptz`` lands): the day widens the order column and the history's bounds to UTC, but
    ``_absorbed_order`` of the absorbed artifact stayed naive, and every later day failed with polars'
    "failed to determine supertype of datetime[μs, UTC] and datetime[μs]". Days in UTC: naive values are
    UTC (the lake's widening rule)."""
    data = tmp_path / "data"
    data.mkdir()
    first = pl.DataFrame(
        {"id": [1, 2], "v": ["a", "a"], "op": ["I", "I"], "ts": [datetime(2025, 3, 1, 10)] * 2}
    )
    first.write_parquet(data / "p_20250301.parquet")
    second = pl.DataFrame(
        {"id": [1], "v": ["b"], "op": ["U"], "ts": [datetime(2025, 3, 2, 9, 30, tzinfo=UTC)]}
    )
    second.write_parquet(data / "p_20250302.parquet")
    pattern = "cdc" if model == "cdc" else "incremental"
    silver_cfg: dict[str, Any] = {"model": model, "primary_keys": ["id"], "order_column": "ts"}
    if model == "cdc":
        silver_cfg["cdc"] = {"keep_history": True}
    source = file_source("p", data, pattern, silver_cfg)
    source["source"]["file"]["path"] = f"{data}/p_{{run_date:%Y%m%d}}.parquet"
    days = [date(2025, 3, 1), date(2025, 3, 2)]
    by_day, rebuilt = by_day_and_rebuilt(tmp_path, source, days, instance)
    at, later = datetime(2025, 3, 1, 10, tzinfo=UTC), datetime(2025, 3, 2, 9, 30, tzinfo=UTC)
    for lake in (by_day, rebuilt):
        history = silver(lake, "p", days[-1], "history")
        assert sorted((r["id"], r["v"], r["effective_from"], r["effective_to"]) for r in history) == [
            (1, "a", at, later),
            (1, "b", later, None),
            (2, "a", at, None),
        ]


# A producer in Europe/Paris (UTC+1 in March) whose Parquet files hold ``ts`` and ``seen`` without a time
# zone on 03-01 and 03-03 (Paris wall time) and in UTC on 03-02 (as a producer that adds a zone, or a column
# altered to ``timestamptz``, lands). Neither column is typed. Naive 10:15 is 09:15Z: b's 09:30Z (10:30 in
# Paris) on 03-02 comes after it, and the late c of 03-03, naive 03-02 10:15 (09:15Z), comes before b of
# 03-02, 09:30Z. Key 3, left alone after 03-01, keeps its naive 12:00 as 11:00Z.
def _paris(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 3, day, hour, minute)


GAINS_ZONE_DAYS: dict[date, list[tuple[int, str, str, datetime]]] = {
    date(2025, 3, 1): [
        (1, "a", "I", _paris(1, 10, 15)),
        (2, "a", "I", _paris(1, 8)),
        (3, "a", "I", _paris(1, 12)),
    ],
    date(2025, 3, 2): [
        (1, "b", "U", datetime(2025, 3, 1, 9, 30, tzinfo=UTC)),
        (2, "b", "U", datetime(2025, 3, 2, 9, 30, tzinfo=UTC)),
    ],
    date(2025, 3, 3): [(1, "c", "U", _paris(3, 8)), (2, "c", "U", _paris(2, 10, 15))],
}


def _utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 3, day, hour, minute, tzinfo=UTC)


# By hand: (id, v, effective_from, effective_to, is_current), ``seen`` equal to ``ts`` = ``effective_from``.
GAINS_ZONE_HISTORY = [
    (1, "a", _utc(1, 9, 15), _utc(1, 9, 30), False),
    (1, "b", _utc(1, 9, 30), _utc(3, 7), False),
    (1, "c", _utc(3, 7), None, True),
    (2, "a", _utc(1, 7), _utc(2, 9, 15), False),
    (2, "c", _utc(2, 9, 15), _utc(2, 9, 30), False),
    (2, "b", _utc(2, 9, 30), None, True),
    (3, "a", _utc(1, 11), None, True),
]


@pytest.mark.parametrize("model", ["scd_type_2", "cdc", "scd_type_1"])
def test_naive_date_times_meeting_zoned_ones_are_wall_time_in_the_partition_timezone(
    tmp_path: Path, instance, model: str
) -> None:
    """Untyped ``ts`` (the order column) and ``seen`` are naive one day and in UTC the next, with days in
    Europe/Paris. The lake's widening rule read the naive values as UTC, an hour late: 10:15 (09:15Z) was
    taken for after 09:30Z, so b became the older version of key 1 and the late c the current one of key 2.
    Silver reads them as Paris wall time, day by day and rebuilt from Bronze alike."""
    data = tmp_path / "data"
    data.mkdir()
    for day, rows in GAINS_ZONE_DAYS.items():
        ids, values, ops, times = (list(column) for column in zip(*rows, strict=True))
        frame = pl.DataFrame({"id": ids, "v": values, "op": ops, "ts": times, "seen": times})
        frame.write_parquet(data / f"z_{day:%Y%m%d}.parquet")
    silver_cfg: dict[str, Any] = {"model": model, "primary_keys": ["id"], "order_column": "ts"}
    if model == "cdc":
        silver_cfg["cdc"] = {"keep_history": True}
    source = file_source("z", data, "cdc" if model == "cdc" else "incremental", silver_cfg)
    source["source"]["file"]["path"] = f"{data}/z_{{run_date:%Y%m%d}}.parquet"
    days = sorted(GAINS_ZONE_DAYS)
    by_day, rebuilt = by_day_and_rebuilt(tmp_path, source, days, instance, timezone="Europe/Paris")
    current = [(k, v, start) for k, v, start, _, is_current in GAINS_ZONE_HISTORY if is_current]
    for name, lake in (("by_day", by_day), ("rebuilt", rebuilt)):
        rows = silver(lake, "z", days[-1], "current")
        assert sorted((r["id"], r["v"], r["ts"]) for r in rows) == current, name
        assert all(r["seen"] == r["ts"] for r in rows), name
        if model == "scd_type_1":
            continue
        history = silver(lake, "z", days[-1], "history")
        got = [(r["id"], r["v"], r["effective_from"], r["effective_to"], r["is_current"]) for r in history]
        assert sorted(got, key=lambda row: (row[0], row[2])) == GAINS_ZONE_HISTORY, name
        assert all(r["seen"] == r["ts"] == r["effective_from"] for r in history), name


@pytest.mark.parametrize("model", ["scd_type_1", "scd_type_2"])
def test_a_key_date_time_that_gains_a_time_zone_keeps_its_keys(tmp_path: Path, instance, model: str) -> None:
    """The key ``(sensor, at)`` is naive on 03-01 (Paris wall time) and in UTC on 03-02, days in
    Europe/Paris: 03-02's ``09:15Z`` is 03-01's ``10:15``, the same key, updated. D-1's rows of the touched
    keys were matched with naive values read as UTC (10:15Z), found none, and the key came out twice."""
    data = tmp_path / "data"
    data.mkdir()
    naive = pl.DataFrame(
        {"sensor": [1, 1], "at": [_paris(1, 10, 15), _paris(1, 11)], "v": ["a", "a"], "n": [1, 1]}
    )
    naive.write_parquet(data / "k_20250301.parquet")
    zoned = pl.DataFrame({"sensor": [1], "at": [_utc(1, 9, 15)], "v": ["b"], "n": [2]})
    zoned.write_parquet(data / "k_20250302.parquet")
    silver_cfg = {"model": model, "primary_keys": ["sensor", "at"], "order_column": "n"}
    source = file_source("k", data, "incremental", silver_cfg)
    source["source"]["file"]["path"] = f"{data}/k_{{run_date:%Y%m%d}}.parquet"
    days = [date(2025, 3, 1), date(2025, 3, 2)]
    by_day, rebuilt = by_day_and_rebuilt(tmp_path, source, days, instance, timezone="Europe/Paris")
    for name, lake in (("by_day", by_day), ("rebuilt", rebuilt)):
        rows = silver(lake, "k", days[-1], "current")
        assert sorted((r["sensor"], r["at"], r["v"]) for r in rows) == [
            (1, _utc(1, 9, 15), "b"),
            (1, _utc(1, 10), "a"),
        ], name
        if model == "scd_type_2":
            history = silver(lake, "k", days[-1], "history")
            got = sorted((r["at"], r["v"], r["effective_from"], r["effective_to"]) for r in history)
            assert got == [
                (_utc(1, 9, 15), "a", 1, 2),
                (_utc(1, 9, 15), "b", 2, None),
                (_utc(1, 10), "a", 1, None),
            ]


@pytest.mark.parametrize("first", ["naive", "zoned"])
def test_a_full_load_delete_when_the_order_column_gains_or_loses_a_time_zone(
    tmp_path: Path, instance, first: str
) -> None:
    """Full snapshots, days in Europe/Paris, ``ts`` untyped: naive (Paris wall time) one day, in UTC the
    other. Key 1 is updated on 03-02 at 10:00 in Paris (09:00Z), key 2 is missing from the 03-02 snapshot
    and deleted at the end of the day in Paris (03-03 00:00 = 03-02 23:00Z). A naive 10:00 read as UTC
    closed key 1's first version at 10:00Z, an hour late."""
    data = tmp_path / "data"
    data.mkdir()
    day1, day2 = (_paris(1, 10), _utc(2, 9)) if first == "naive" else (_utc(1, 9), _paris(2, 10))
    pl.DataFrame({"id": [1, 2], "v": ["a", "a"], "ts": [day1, day1]}).write_parquet(
        data / "f_20250301.parquet"
    )
    pl.DataFrame({"id": [1], "v": ["b"], "ts": [day2]}).write_parquet(data / "f_20250302.parquet")
    silver_cfg = {
        "model": "scd_type_2",
        "primary_keys": ["id"],
        "order_column": "ts",
        "delete_mode": "hard_delete",
    }
    source = file_source("f", data, "full", silver_cfg)
    source["source"]["file"]["path"] = f"{data}/f_{{run_date:%Y%m%d}}.parquet"
    source["source"]["run"]["max_delete_fraction"] = 1.0
    days = [date(2025, 3, 1), date(2025, 3, 2)]
    by_day, rebuilt = by_day_and_rebuilt(tmp_path, source, days, instance, timezone="Europe/Paris")
    for name, lake in (("by_day", by_day), ("rebuilt", rebuilt)):
        history = silver(lake, "f", days[-1], "history")
        got = sorted(
            (r["id"], r["v"], r["effective_from"], r["effective_to"], r["_closed_by_delete"]) for r in history
        )
        assert got == [
            (1, "a", _utc(1, 9), _utc(2, 9), False),
            (1, "b", _utc(2, 9), None, False),
            (2, "a", _utc(1, 9), _utc(2, 23), True),
        ], name


@pytest.mark.parametrize("model", ["scd_type_2", "scd_type_1"])
def test_one_bronze_day_of_naive_and_zoned_files_is_read_as_wall_time_in_the_partition_timezone(
    tmp_path: Path, instance, model: str
) -> None:
    """One day's glob holds two Parquet files (days in Europe/Paris): ``a`` with ``ts`` naive (Paris wall
    time), ``b`` with ``ts`` in UTC, as when a producer starts writing zoned times in the middle of a day.
    Key 1's naive 10:15 is 09:15Z, before b's 09:30Z. Bronze wrote both files into one part, widening the
    naive times as UTC (10:15Z), so Silver took a's version for the later one: both forms must reach Silver
    as they were landed, for it to read the naive ones as Paris wall time (03-02, naive alone, updates key
    2: day by day and rebuilt from Bronze alike)."""
    data = tmp_path / "data"
    data.mkdir()
    pl.DataFrame({"id": [1, 2], "v": ["a", "a"], "ts": [_paris(1, 10, 15), _paris(1, 12)]}).write_parquet(
        data / "m_20250301_a.parquet"
    )
    pl.DataFrame({"id": [1], "v": ["b"], "ts": [_utc(1, 9, 30)]}).write_parquet(data / "m_20250301_b.parquet")
    pl.DataFrame({"id": [2], "v": ["b"], "ts": [_paris(2, 8)]}).write_parquet(data / "m_20250302_a.parquet")
    silver_cfg = {"model": model, "primary_keys": ["id"], "order_column": "ts"}
    source = file_source("m", data, "incremental", silver_cfg)
    source["source"]["file"]["path"] = f"{data}/m_{{run_date:%Y%m%d}}_*.parquet"
    days = [date(2025, 3, 1), date(2025, 3, 2)]
    by_day, rebuilt = by_day_and_rebuilt(tmp_path, source, days, instance, timezone="Europe/Paris")
    for name, lake in (("by_day", by_day), ("rebuilt", rebuilt)):
        rows = silver(lake, "m", days[-1], "current")
        assert sorted((r["id"], r["v"], r["ts"]) for r in rows) == [
            (1, "b", _utc(1, 9, 30)),
            (2, "b", _utc(2, 7)),
        ], name
        if model == "scd_type_2":
            history = silver(lake, "m", days[-1], "history")
            assert sorted((r["id"], r["v"], r["effective_from"], r["effective_to"]) for r in history) == [
                (1, "a", _utc(1, 9, 15), _utc(1, 9, 30)),
                (1, "b", _utc(1, 9, 30), None),
                (2, "a", _utc(1, 11), _utc(2, 7)),
                (2, "b", _utc(2, 7), None),
            ], name


def test_a_zoned_date_time_typed_date_or_time_is_the_day_or_time_in_the_partition_timezone(
    tmp_path: Path, instance
) -> None:
    """``placed_at`` lands with a time zone (UTC); ``silver.schema.types`` types it ``date`` (and ``clock``
    ``time``), days in Europe/Paris. 2025-03-01 23:30Z is 00:30 on 03-02 in Paris: the date is 03-02 and
    the time 00:30, as a ``datetime`` of it is the Paris wall time. Polars' cast gave 03-01 and 23:30."""
    data = tmp_path / "data"
    data.mkdir()
    placed = [_utc(1, 23, 30), _utc(1, 22, 59), None]
    pl.DataFrame({"id": [1, 2, 3], "placed_at": placed, "at": placed, "clock": placed}).write_parquet(
        data / "d_20250301.parquet"
    )
    silver_cfg = {
        "model": "scd_type_1",
        "primary_keys": ["id"],
        "schema": {"types": {"placed_at": "date", "at": "datetime", "clock": "time"}},
    }
    source = file_source("d", data, "full", silver_cfg)
    source["source"]["file"]["path"] = f"{data}/d_{{run_date:%Y%m%d}}.parquet"
    day = date(2025, 3, 1)
    lake = make_lake(tmp_path, source, day, timezone="Europe/Paris")
    run_days(lake, "d", [day], instance)
    rows = sorted((r["id"], r["placed_at"], r["at"], r["clock"]) for r in silver(lake, "d", day, "current"))
    assert rows == [
        (1, date(2025, 3, 2), datetime(2025, 3, 2, 0, 30), time(0, 30)),
        (2, date(2025, 3, 1), datetime(2025, 3, 1, 23, 59), time(23, 59)),
        (3, None, None, None),
    ]
