"""cdc and event_log exact to the row through Dagster: hand-made Bronze days in, Silver read back out.

Each case lands JSON-lines files as Bronze and builds Silver two ways with the real assets, IO managers and
checks: day by day (each day from the committed day before) and rebuilt from every Bronze day at once (a
Silver-only run with no Silver state). Both are read back with ``medallion_assets.read``. The cases of a
configuration changed between two days (``keep_history``, ``silver.model``, ``primary_keys``) build day by
day and expect what a rebuild from Bronze with the new configuration gives. The expected rows are written
by hand from DESIGN §6 (the walk over every op of a key, ties are corrections), never derived from the
engine.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

import medallion_assets
from medallion_assets.lake import Lake
from medallion_assets.runner import materialize_partition
from medallion_assets.staleness import silver_staleness
from tests.instances import cli_instance_for_test
from tests.integration._lake import local_lake
from tests.integration.test_silver_exact import (
    by_day_and_rebuilt,
    file_source,
    write_days,
)

pytestmark = pytest.mark.slow

D1, D2, D3, D4 = (date(2025, 6, d) for d in range(1, 5))


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    (tmp_path / "instance").mkdir()
    with cli_instance_for_test(tmp_path / "instance") as inst:
        yield inst


def read(lake_root: Path, name: str, day: date, artifact: str) -> list[dict[str, Any]]:
    """The committed Silver ``artifact`` of ``day``, as a user reads it."""
    frame = medallion_assets.read(name, artifact=artifact, as_of=day, config_dir=lake_root / "configs")
    return frame.collect().to_dicts()


def current(lake_root: Path, name: str, day: date, *columns: str) -> list[tuple[Any, ...]]:
    return sorted(tuple(r[c] for c in columns) for r in read(lake_root, name, day, "current"))


def cdc_source(tmp_path: Path, name: str, days: dict[date, list[dict[str, Any]]], **silver: Any) -> dict:
    data = tmp_path / "data"
    write_days(data, name, days)
    config = {"primary_keys": ["id"], "order_column": "lsn", "cdc": {}, **silver}
    return file_source(name, data, "cdc", config)


# --- cdc: ops out of order within a day and across days, deletes, resurrection ------------------------

OUT_OF_ORDER = {
    D1: [
        {"id": 1, "v": "a", "lsn": 1, "op": "I"},
        {"id": 1, "v": "b", "lsn": 3, "op": "U"},
        {"id": 1, "v": "a2", "lsn": 2, "op": "U"},  # late within the day: b@3 stays current
        {"id": 2, "v": None, "lsn": 5, "op": "D"},  # a delete before its insert: closes nothing (yet)
        {"id": 3, "v": "c", "lsn": 1, "op": "I"},
        {"id": 5, "v": "e", "lsn": 1, "op": "I"},
    ],
    D2: [
        {"id": 2, "v": "x", "lsn": 4, "op": "I"},  # the late insert: the delete at 5 closes it
        {"id": 3, "v": None, "lsn": 2, "op": "D"},
        {"id": 1, "v": "late", "lsn": 2, "op": "U"},  # ties with a2@2 of D1: a correction, b@3 stays
        {"id": 5, "v": None, "lsn": 5, "op": "D"},
    ],
    D3: [
        {"id": 3, "v": "back", "lsn": 6, "op": "I"},  # resurrection after the delete at 2
        {"id": 1, "v": None, "lsn": 4, "op": "D"},
        {"id": 4, "v": "new", "lsn": 1, "op": "U"},  # an update of an unknown key creates it
        {"id": 5, "v": "late", "lsn": 3, "op": "U"},  # a late update of the key deleted the day before
    ],
}
# (id, v, lsn, _deleted) of current after each day, by hand. A tombstone keeps the values of the version
# its delete closed and the delete's lsn.
OUT_OF_ORDER_CURRENT = {
    D1: [(1, "b", 3, False), (3, "c", 1, False), (5, "e", 1, False)],
    D2: [(1, "b", 3, False), (2, "x", 5, True), (3, "c", 2, True), (5, "e", 5, True)],
    # key 5 stays deleted: its late update lies before the delete, which now closes it
    D3: [
        (1, "b", 4, True),
        (2, "x", 5, True),
        (3, "back", 6, False),
        (4, "new", 1, False),
        (5, "late", 5, True),
    ],
}


def test_cdc_ops_out_of_order_day_by_day_and_rebuilt(tmp_path: Path, instance: dg.DagsterInstance) -> None:
    source = cdc_source(tmp_path, "ops", OUT_OF_ORDER, delete_mode="tombstone")
    by_day_and_rebuilt(tmp_path, source, [D1, D2, D3], instance)
    for day, want in OUT_OF_ORDER_CURRENT.items():
        assert current(tmp_path / "by_day", "ops", day, "id", "v", "lsn", "_deleted") == want, day
    assert current(tmp_path / "rebuilt", "ops", D3, "id", "v", "lsn", "_deleted") == OUT_OF_ORDER_CURRENT[D3]


def test_cdc_ops_out_of_order_with_history(tmp_path: Path, instance: dg.DagsterInstance) -> None:
    """The same ops with ``keep_history`` and ``hard_delete``: the history of every key, by hand."""
    source = cdc_source(tmp_path, "ops", OUT_OF_ORDER, delete_mode="hard_delete", cdc={"keep_history": True})
    by_day_and_rebuilt(tmp_path, source, [D1, D2, D3], instance)
    want = [
        # id, v, effective_from, effective_to, is_current, _closed_by_delete
        (1, "a", 1, 2, False, False),
        (1, "late", 2, 3, False, False),  # a2@2 corrected by late@2 (D2)
        (1, "b", 3, 4, False, True),
        (2, "x", 4, 5, False, True),
        (3, "c", 1, 2, False, True),
        (3, "back", 6, None, True, False),
        (4, "new", 1, None, True, False),
        (5, "e", 1, 3, False, False),
        (5, "late", 3, 5, False, True),
    ]
    columns = ("id", "v", "effective_from", "effective_to", "is_current", "_closed_by_delete")
    for root in (tmp_path / "by_day", tmp_path / "rebuilt"):
        rows = sorted(
            (tuple(r[c] for c in columns) for r in read(root, "ops", D3, "history")),
            key=lambda r: (r[0], r[2]),
        )
        assert rows == want, root.name
        assert current(root, "ops", D3, "id", "v") == [(3, "back"), (4, "new")]


# --- cdc: ties (the same lsn twice: the last op wins, DESIGN §6) -------------------------------------

TIES = {
    D1: [
        {"id": 1, "v": "a", "lsn": 1, "op": "I"},
        {"id": 1, "v": None, "lsn": 1, "op": "D"},  # ties with the insert and comes after it: wins
        {"id": 2, "v": None, "lsn": 1, "op": "D"},
        {"id": 2, "v": "b", "lsn": 1, "op": "I"},  # the insert wins
        {"id": 3, "v": "c", "lsn": 2, "op": "U"},
        {"id": 3, "v": "d", "lsn": 2, "op": "U"},  # corrects c
    ],
    D2: [
        {"id": 2, "v": None, "lsn": 1, "op": "D"},  # a later day corrects b@1 into a delete: nothing left
        {"id": 3, "v": "e", "lsn": 2, "op": "U"},  # corrects d
        {"id": 1, "v": "f", "lsn": 1, "op": "U"},  # corrects the delete: the key is live again
    ],
}


@pytest.mark.parametrize("delete_mode", ["tombstone", "hard_delete"])
def test_cdc_ties_are_corrections(tmp_path: Path, instance: dg.DagsterInstance, delete_mode: str) -> None:
    source = cdc_source(tmp_path, "ties", TIES, delete_mode=delete_mode)
    by_day_and_rebuilt(tmp_path, source, [D1, D2], instance)
    assert current(tmp_path / "by_day", "ties", D1, "id", "v", "lsn") == [(2, "b", 1), (3, "d", 2)]
    for root in (tmp_path / "by_day", tmp_path / "rebuilt"):
        # key 2: its only op left is a delete with nothing before it, so it has no row at all
        assert current(root, "ties", D2, "id", "v", "lsn") == [(1, "f", 1), (3, "e", 2)], root.name


# --- cdc: bad ops go to _errors/ with a reason --------------------------------------------------------


def test_cdc_bad_ops_are_quarantined_with_a_reason(tmp_path: Path, instance: dg.DagsterInstance) -> None:
    """Op codes match exactly (``u`` is not ``U``; ``normalization.trim_strings`` strips spaces); a null
    op, a null key and a null lsn are quarantined too, each with its reason, and change nothing."""
    days = {
        D1: [{"id": 1, "v": "a", "lsn": 1, "op": "I"}, {"id": 2, "v": "b", "lsn": 1, "op": "I"}],
        D2: [
            {"id": 1, "v": "x", "lsn": 2, "op": "u"},
            {"id": 2, "v": "y", "lsn": 2, "op": None},
            {"id": None, "v": "n", "lsn": 2, "op": "I"},
            {"id": 2, "v": "z", "lsn": None, "op": "U"},
            {"id": 1, "v": "ok", "lsn": 3, "op": "U"},
        ],
    }
    source = cdc_source(tmp_path, "bad", days, error_handling={"max_bad_records": 4})
    by_day_and_rebuilt(tmp_path, source, [D1, D2], instance)
    root = tmp_path / "by_day"
    assert current(root, "bad", D2, "id", "v", "lsn") == [(1, "ok", 3), (2, "b", 1)]
    errors = sorted(
        ((r["id"], r["v"], r["_error_reason"]) for r in read(root, "bad", D2, "errors")), key=lambda r: r[1]
    )
    assert errors == [
        (None, "n", "null primary key: id"),
        (1, "x", "unknown operation code 'u' in column op; known codes: I, U, D"),
        (2, "y", "null operation code in column op; known codes: I, U, D"),
        (2, "z", "null order column: lsn"),
    ]
    assert current(tmp_path / "rebuilt", "bad", D2, "id", "v", "lsn") == [(1, "ok", 3), (2, "b", 1)]


def test_cdc_op_codes_in_a_numeric_column(tmp_path: Path, instance: dg.DagsterInstance) -> None:
    """A source whose op column holds numbers (``1``/``2``/``3``) matches codes given as text in YAML (it
    failed the day with polars' "'is_in' cannot check for Int64 values in List(String)")."""
    days = {
        D1: [{"id": 1, "v": "a", "lsn": 1, "op": 1}, {"id": 2, "v": "b", "lsn": 1, "op": 1}],
        D2: [
            {"id": 1, "v": "x", "lsn": 2, "op": 2},
            {"id": 2, "v": None, "lsn": 2, "op": 3},
            {"id": 3, "v": "q", "lsn": 2, "op": 9},
        ],
    }
    codes = {"insert_code": "1", "update_code": "2", "delete_code": "3"}
    source = cdc_source(
        tmp_path, "num", days, cdc=codes, delete_mode="hard_delete", error_handling={"max_bad_records": 1}
    )
    by_day_and_rebuilt(tmp_path, source, [D1, D2], instance)
    for root in (tmp_path / "by_day", tmp_path / "rebuilt"):
        assert current(root, "num", D2, "id", "v", "lsn") == [(1, "x", 2)], root.name
    [error] = read(tmp_path / "by_day", "num", D2, "errors")
    assert error["_error_reason"] == "unknown operation code '9' in column op; known codes: 1, 2, 3"


def test_cdc_a_day_of_deletes_only(tmp_path: Path, instance: dg.DagsterInstance) -> None:
    days = {
        D1: [{"id": 1, "v": "a", "lsn": 1, "op": "I"}, {"id": 2, "v": "b", "lsn": 1, "op": "I"}],
        D2: [
            {"id": 1, "v": None, "lsn": 2, "op": "D"},
            {"id": 9, "v": None, "lsn": 2, "op": "D"},  # never inserted: nothing to delete
        ],
    }
    source = cdc_source(tmp_path, "dels", days, delete_mode="hard_delete")
    by_day, rebuilt = by_day_and_rebuilt(tmp_path, source, [D1, D2], instance)
    for root in (tmp_path / "by_day", tmp_path / "rebuilt"):
        assert current(root, "dels", D2, "id", "v", "lsn") == [(2, "b", 1)], root.name
    for lake in (by_day, rebuilt):
        part = lake.committed(lake.spec("dels"), "silver", D2)
        assert part is not None
        meta = part.metadata
        assert (meta["deleted"], meta["deletes_applied"], meta["duplicates_dropped"]) == (1, 1, 1)


# --- cdc: a middle day re-run with other ops ----------------------------------------------------------


def test_cdc_a_rerun_middle_day_makes_the_later_days_stale(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    """Day 2's ops are corrected at the source and day 2 is run again: Silver 06-03 built on the old day 2
    is reported stale, and running it again gives the rows of the corrected ops."""
    days = {
        D1: [{"id": 1, "v": "a", "lsn": 1, "op": "I"}],
        D2: [{"id": 1, "v": None, "lsn": 2, "op": "D"}],
        D3: [{"id": 2, "v": "b", "lsn": 3, "op": "I"}],
    }
    source = cdc_source(tmp_path, "rerun", days, delete_mode="tombstone")
    lake, _ = by_day_and_rebuilt(tmp_path, source, [D1, D2, D3], instance)
    root = tmp_path / "by_day"
    assert current(root, "rerun", D3, "id", "v", "_deleted") == [(1, "a", True), (2, "b", False)]

    write_days(tmp_path / "data", "rerun", {D2: [{"id": 1, "v": "c", "lsn": 2, "op": "U"}]})
    outcome = materialize_partition(lake, lake.spec("rerun"), D2, ("bronze", "silver"), instance)
    assert outcome.error is None, outcome.error
    reasons = _staleness(lake, "rerun", D3)
    assert reasons[D2] is None
    assert (
        reasons[D3]
        == "Silver 2025-06-02, its input, was committed again after Silver 2025-06-03 was computed"
    )

    outcome = materialize_partition(lake, lake.spec("rerun"), D3, ("silver",), instance)
    assert outcome.error is None, outcome.error
    assert _staleness(lake, "rerun", D3)[D3] is None
    assert current(root, "rerun", D3, "id", "v", "_deleted") == [(1, "c", False), (2, "b", False)]


def _staleness(lake: Lake, name: str, end: date) -> dict[date, str | None]:
    return silver_staleness(lake.spec(name), lake.bronze, lake.silver, end)


# --- event_log ------------------------------------------------------------------------------------------


def test_event_log_redeliveries_late_events_and_null_timestamps(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    """Events are deduplicated by id: the first delivery wins, within the day and against the
    ``dedupe_lookback_days`` Silver days before it; a late event (an old timestamp) is an event of the day
    it arrives; a null timestamp is no error (events have no order to keep)."""
    days = {
        D1: [
            {"eid": 1, "v": "a", "ts": "2025-06-01T10:00:00"},
            {"eid": 2, "v": "b", "ts": None},
            {"eid": 1, "v": "a", "ts": "2025-06-01T10:00:00"},  # re-delivered the same day
        ],
        D2: [
            {"eid": 3, "v": "c", "ts": "2025-05-30T10:00:00"},  # late
            {"eid": 1, "v": "a", "ts": "2025-06-01T10:00:00"},  # re-delivered: written on 06-01
            {"eid": 4, "v": "d", "ts": "2025-06-02T10:00:00"},
            {"eid": 4, "v": "D", "ts": "2025-06-02T09:00:00"},  # same id: the first delivery wins
        ],
        D3: [{"eid": 2, "v": "b", "ts": None}],  # written on 06-01, inside the lookback of 2 days
        D4: [
            {"eid": 1, "v": "a", "ts": "2025-06-01T10:00:00"},  # 06-01 is past the lookback now
            {"eid": 3, "v": "c", "ts": "2025-05-30T10:00:00"},  # written on 06-02: dropped
        ],
    }
    data = tmp_path / "data"
    write_days(data, "ev", days)
    silver = {
        "model": "event_log",
        "primary_keys": ["eid"],
        "dedupe_lookback_days": 2,
        "schema": {"types": {"ts": "datetime"}},
    }
    source = file_source("ev", data, "incremental", silver)
    by_day, rebuilt = by_day_and_rebuilt(tmp_path, source, [D1, D2, D3, D4], instance)

    def events(root: Path, day: date) -> list[tuple[Any, ...]]:
        return [(r["eid"], r["v"]) for r in read(root, "ev", day, "events")]

    root = tmp_path / "by_day"
    assert events(root, D1) == [(1, "a"), (2, "b")]
    assert events(root, D2) == [(3, "c"), (4, "d")]
    assert events(root, D3) == []
    assert events(root, D4) == [(1, "a")]
    assert events(tmp_path / "rebuilt", D4) == [(1, "a")]
    for lake in (by_day, rebuilt):
        part = lake.committed(lake.spec("ev"), "silver", D4)
        assert part is not None
        assert (part.metadata["inserted"], part.metadata["duplicates_dropped"]) == (1, 1)


# --- cdc: keep_history switched between days ----------------------------------------------------------

SWITCH = {
    D1: [{"id": 1, "v": "a", "lsn": 1, "op": "I"}, {"id": 2, "v": "b", "lsn": 1, "op": "I"}],
    D2: [{"id": 1, "v": "c", "lsn": 2, "op": "U"}],
    D3: [{"id": 2, "v": "e", "lsn": 3, "op": "U"}],
}


@pytest.mark.parametrize("keep_from_day_3", [True, False])
def test_cdc_keep_history_switched_rebuilds_from_bronze(
    tmp_path: Path, instance: dg.DagsterInstance, keep_from_day_3: bool
) -> None:
    """``cdc.keep_history`` turned on (or off) after 06-02: Silver 06-03 is what a rebuild from Bronze gives,
    the whole history of every key (or the current rows of every key). It read Silver 06-02's state of the
    other layout as no state: the history held only 06-03's version of key 2, and ``current`` mixed key 1
    carried from 06-02 (with no ``effective_from``) with it."""
    data = tmp_path / "data"
    write_days(data, "sw", SWITCH)
    config = {"primary_keys": ["id"], "order_column": "lsn", "cdc": {"keep_history": not keep_from_day_3}}
    lake = local_lake(tmp_path, [file_source("sw", data, "cdc", config)], D1)
    for day in (D1, D2):
        outcome = materialize_partition(lake, lake.spec("sw"), day, ("bronze", "silver"), instance)
        assert outcome.error is None, outcome.error
    config["cdc"] = {"keep_history": keep_from_day_3}
    lake = local_lake(tmp_path, [file_source("sw", data, "cdc", config)], D1)
    outcome = materialize_partition(lake, lake.spec("sw"), D3, ("bronze", "silver"), instance)
    assert outcome.error is None, outcome.error

    assert current(tmp_path, "sw", D3, "id", "v", "lsn") == [(1, "c", 2), (2, "e", 3)]
    if keep_from_day_3:
        rows = read(tmp_path, "sw", D3, "history")
        got = sorted((r["id"], r["v"], r["effective_from"], r["effective_to"], r["is_current"]) for r in rows)
        assert got == [
            (1, "a", 1, 2, False),
            (1, "c", 2, None, True),
            (2, "b", 1, 3, False),
            (2, "e", 3, None, True),
        ]
    part = lake.committed(lake.spec("sw"), "silver", D3)
    assert part is not None and part.metadata["previous_state"] == "rebuilt_from_bronze"


def test_a_model_changed_between_days_rebuilds_from_bronze(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    """``silver.model`` changed from ``scd_type_1`` to ``scd_type_2`` after 06-02: the history of 06-03 is
    every key's, as a rebuild from Bronze gives (it held only the keys 06-03 touched)."""
    data = tmp_path / "data"
    days = {
        D1: [{"id": 1, "v": "a", "ts": 1}, {"id": 2, "v": "b", "ts": 1}],
        D2: [{"id": 1, "v": "c", "ts": 2}],
        D3: [{"id": 2, "v": "e", "ts": 3}],
    }
    write_days(data, "m", days)
    config = {"model": "scd_type_1", "primary_keys": ["id"], "order_column": "ts"}
    lake = local_lake(tmp_path, [file_source("m", data, "incremental", config)], D1)
    for day in (D1, D2):
        assert materialize_partition(lake, lake.spec("m"), day, ("bronze", "silver"), instance).error is None
    config["model"] = "scd_type_2"
    lake = local_lake(tmp_path, [file_source("m", data, "incremental", config)], D1)
    outcome = materialize_partition(lake, lake.spec("m"), D3, ("bronze", "silver"), instance)
    assert outcome.error is None, outcome.error
    rows = read(tmp_path, "m", D3, "history")
    assert sorted((r["id"], r["v"], r["effective_from"], r["effective_to"]) for r in rows) == [
        (1, "a", 1, 2),
        (1, "c", 2, None),
        (2, "b", 1, 3),
        (2, "e", 3, None),
    ]
    assert current(tmp_path, "m", D3, "id", "v") == [(1, "c"), (2, "e")]


# (model, load pattern, config, artifact, expected rows of 06-03 as (id, k, v)), by hand from a rebuild.
KEYS_CHANGED = {
    "cdc": (
        "cdc",
        {"order_column": "lsn", "cdc": {}},
        "current",
        [(1, "x", "a"), (1, "y", "c"), (2, "x", "e")],
    ),
    "scd_type_2": (
        "incremental",
        {"order_column": "lsn"},
        "current",
        [(1, "x", "a"), (1, "y", "c"), (2, "x", "e")],
    ),
    # (2, x) was written on 06-01, inside the 2-day lookback: a re-delivery
    "event_log": ("incremental", {"dedupe_lookback_days": 2}, "events", []),
}


@pytest.mark.parametrize("model", sorted(KEYS_CHANGED))
def test_primary_keys_changed_between_days_rebuild_from_bronze(
    tmp_path: Path, instance: dg.DagsterInstance, model: str
) -> None:
    """``primary_keys: [id]`` becomes ``[id, k]`` after 06-02: Silver 06-03 is what a rebuild from Bronze
    with the new keys gives. Day by day, cdc and scd_type_2 lost key (1, x) (Silver 06-02 held id 1 once),
    and event_log failed with polars' 'unable to find column "k"'."""
    pattern, extra, artifact, expected = KEYS_CHANGED[model]
    op = {"op": "U"} if model == "cdc" else {}
    days = {
        D1: [{"id": 1, "k": "x", "v": "a", "lsn": 1, **op}, {"id": 2, "k": "x", "v": "b", "lsn": 1, **op}],
        D2: [{"id": 1, "k": "y", "v": "c", "lsn": 2, **op}],
        D3: [{"id": 2, "k": "x", "v": "e", "lsn": 3, **op}],
    }
    data = tmp_path / "data"
    write_days(data, "keys", days)
    config = {"model": model, "primary_keys": ["id"], **extra}
    lake = local_lake(tmp_path, [file_source("keys", data, pattern, config)], D1)
    for day in (D1, D2):
        assert (
            materialize_partition(lake, lake.spec("keys"), day, ("bronze", "silver"), instance).error is None
        )
    config["primary_keys"] = ["id", "k"]
    lake = local_lake(tmp_path, [file_source("keys", data, pattern, config)], D1)
    outcome = materialize_partition(lake, lake.spec("keys"), D3, ("bronze", "silver"), instance)
    assert outcome.error is None, outcome.error
    assert sorted((r["id"], r["k"], r["v"]) for r in read(tmp_path, "keys", D3, artifact)) == expected
