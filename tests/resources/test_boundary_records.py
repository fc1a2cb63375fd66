"""The boundary dedupe on API records (``JsonRecords``), as ``ApiExtractor`` drives it: each record version
lands once over runs, whatever the paging, the spelling of the instants and a listing that leaves out
records it returned before (the Arrow rows of SQL sources: tests/extractors/test_db_boundary.py)."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from medallion_resources.boundary import (
    BoundaryDedupe,
    JsonRecords,
    compare_cursor,
    cursor_value,
    record_hash,
)

T0 = dt.datetime(2025, 1, 1, 12, 0, 0, tzinfo=dt.UTC)
SPELLINGS = ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%f+00:00", "%Y-%m-%d %H:%M:%S+00:00")


def run(watermark_in: str | None, known: tuple[str, ...], pages: list[list[Any]]) -> tuple[list[Any], Any]:
    """One API partition: the records landed and the dedupe (for its watermark and boundary)."""
    dedupe = BoundaryDedupe(
        JsonRecords("updated_at"),
        watermark_in=None if watermark_in is None else cursor_value(watermark_in),
        known=known,
        keep_unread=True,
    )
    landed = [record for page in pages for record in dedupe.filter(page)]
    return landed, dedupe


def watermark_text(watermark_in: str | None, dedupe: BoundaryDedupe[list[Any]]) -> str | None:
    """``ApiExtractor``'s ``watermark_out``: the committed text while no cursor passed it."""
    if dedupe.watermark_held:
        return watermark_in
    return None if dedupe.watermark is None else str(dedupe.watermark)


def test_records_hash_as_sent_whatever_their_key_order() -> None:
    assert record_hash({"id": 1, "tags": ["a"]}) == record_hash({"tags": ["a"], "id": 1})
    assert record_hash({"id": 1}) != record_hash({"id": "1"}) != record_hash({"id": 1, "x": None})


def test_cursors_compare_as_numbers_instants_or_text() -> None:
    assert compare_cursor(9, 10) < 0 and compare_cursor(cursor_value("10"), 10) == 0
    assert compare_cursor("2025-01-01T00:00:00Z", "2025-01-01T00:00:00.000+00:00") == 0
    assert compare_cursor("2025-01-01T00:00:00.5Z", "2025-01-01T00:00:00Z") > 0


def test_a_boundary_record_the_listing_leaves_out_is_still_dropped_when_it_comes_back() -> None:
    """A search index or replica behind may leave out a record at the watermark one day and return it the
    next: while the watermark stays, its hash stays in the boundary (``keep_unread``)."""
    a = {"id": 1, "updated_at": "2025-01-01T23:00:00Z"}
    b = {"id": 2, "updated_at": "2025-01-01T23:00:00Z"}
    landed, first = run(None, (), [[a, b]])
    assert landed == [a, b]
    known = tuple(first.boundary_hashes())
    landed, second = run("2025-01-01T23:00:00Z", known, [[a]])  # b left out
    assert landed == [] and second.dropped == 1 and second.watermark_held
    assert sorted(second.boundary_hashes()) == sorted(known)
    landed, third = run("2025-01-01T23:00:00Z", tuple(second.boundary_hashes()), [[a], [b]])
    assert landed == [] and third.dropped == 2


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_every_record_version_lands_exactly_once_over_runs(data: st.DataObject) -> None:
    """An API with an inclusive ``updated_since``: random changes at or after the watermark, random page
    cuts and orders, instants spelled three ways, and boundary records that landed left out at random."""
    rng = random.Random(data.draw(st.integers(0, 2**32)))
    table: dict[int, tuple[str, int]] = {}  # id -> (note, seconds after T0)
    visible: Counter[tuple[int, str]] = Counter()
    landed: Counter[tuple[int, str]] = Counter()
    watermark: str | None = None
    known: tuple[str, ...] = ()
    spelling: dict[tuple[int, str], str] = {}  # a version keeps the spelling it was written with
    version = 0
    for _run in range(data.draw(st.integers(2, 6))):
        floor = 0 if watermark is None else int((dt.datetime.fromisoformat(watermark) - T0).total_seconds())
        for _change in range(data.draw(st.integers(0, 6))):
            row_id = data.draw(st.integers(1, 5))
            version += 1
            table[row_id] = (f"v{version}", floor + data.draw(st.integers(0, 3)))  # ties at the watermark
        records = []
        for row_id, (note, seconds) in table.items():
            text = spelling.setdefault(
                (row_id, note), (T0 + dt.timedelta(seconds=seconds)).strftime(rng.choice(SPELLINGS))
            )
            records.append({"id": row_id, "note": note, "updated_at": text})
        visible.update((r["id"], r["note"]) for r in records)
        since = None if watermark is None else dt.datetime.fromisoformat(watermark)
        read = [r for r in records if since is None or dt.datetime.fromisoformat(r["updated_at"]) >= since]
        read = [r for r in read if (r["id"], r["note"]) not in landed or rng.random() > 0.3]  # left out
        rng.shuffle(read)
        cut = rng.randint(0, len(read))
        out, dedupe = run(watermark, known, [read[:cut], read[cut:]])
        landed.update((r["id"], r["note"]) for r in out)
        watermark, known = watermark_text(watermark, dedupe), tuple(dedupe.boundary_hashes())
    assert landed == Counter(set(visible))
