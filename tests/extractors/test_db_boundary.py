"""The boundary dedupe of watermark mode, on its own: each row version lands once, whatever the batching."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from medallion_resources.boundary import ArrowRows, BoundaryDedupe, compare_mask, row_hashes

T0 = dt.datetime(2025, 1, 1, 12, 0, 0)


def batch(rows: list[tuple[int, str, dt.datetime]]) -> pa.RecordBatch:
    ids, notes, stamps = zip(*rows, strict=True) if rows else ((), (), ())
    return pa.RecordBatch.from_arrays(
        [pa.array(ids, pa.int64()), pa.array(notes, pa.string()), pa.array(stamps, pa.timestamp("us"))],
        names=["id", "note", "updated_at"],
    )


def greatest(best: Any, column: pa.Array) -> Any:
    value = pc.max(column).as_py()
    return value if best is None or (value is not None and value > best) else best


def dedupe(
    watermark_in: Any, known: tuple[str, ...], lookback: dt.timedelta
) -> BoundaryDedupe[pa.RecordBatch]:
    return BoundaryDedupe(
        ArrowRows("updated_at", key=lambda value: value, maximum=greatest),
        watermark_in=watermark_in,
        known=known,
        lower=lambda value: value - lookback,
    )


def test_hashes_do_not_depend_on_column_order_or_on_how_sqlite_typed_a_batch() -> None:
    one = pa.RecordBatch.from_arrays([pa.array([1]), pa.array(["a"])], names=["id", "note"])
    swapped = pa.RecordBatch.from_arrays([pa.array(["a"]), pa.array([1])], names=["note", "id"])
    as_float = pa.RecordBatch.from_arrays([pa.array([1.0]), pa.array(["a"])], names=["id", "note"])
    assert row_hashes(one) == row_hashes(swapped) == row_hashes(as_float)
    changed = pa.RecordBatch.from_arrays([pa.array([1]), pa.array(["b"])], names=["id", "note"])
    assert row_hashes(changed) != row_hashes(one)


def test_compare_mask_falls_back_for_values_of_another_type() -> None:
    # exact-text decimals: compared as numbers through the key, not as strings ("9.5" > "10" as text)
    column = pa.array(["9.5", "10", None], pa.string())
    from decimal import Decimal

    mask = compare_mask(column, "<=", Decimal("9.75"), key=Decimal)
    assert mask.to_pylist() == [True, False, False]  # a null cursor is never in range


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_every_version_lands_exactly_once_over_runs(data: st.DataObject) -> None:
    """Random late commits at or above ``watermark - lookback``, random batch cuts and row orders."""
    lookback = dt.timedelta(seconds=data.draw(st.sampled_from([0, 1, 3])))
    rng = random.Random(data.draw(st.integers(0, 2**32)))
    table: dict[int, tuple[str, dt.datetime]] = {}
    visible: Counter[tuple[int, str]] = Counter()  # every version some run could read
    landed: Counter[tuple[int, str]] = Counter()
    watermark: dt.datetime | None = None
    known: tuple[str, ...] = ()
    version = 0
    for _run in range(data.draw(st.integers(2, 6))):
        floor = T0 if watermark is None else watermark - lookback
        for _change in range(data.draw(st.integers(0, 6))):
            row_id = data.draw(st.integers(1, 5))
            version += 1
            offset = dt.timedelta(seconds=data.draw(st.integers(0, 4)))  # ties and late rows inside lookback
            table[row_id] = (f"v{version}", floor + offset)
        rows = [(i, note, stamp) for i, (note, stamp) in table.items()]
        visible.update((i, note) for i, note, _ in rows)
        read = [r for r in rows if watermark is None or r[2] >= watermark - lookback]
        rng.shuffle(read)
        run = dedupe(watermark, known, lookback)
        cuts = sorted(rng.sample(range(len(read) + 1), min(2, len(read) + 1)))
        for start, end in zip([0, *cuts], [*cuts, len(read)], strict=True):
            if end > start:
                out = run.filter(batch(read[start:end]))
                landed.update(zip(out.column("id").to_pylist(), out.column("note").to_pylist(), strict=True))
        if run.read:
            watermark, known = run.watermark, tuple(run.boundary_hashes())
            # bounded: only the rows read within the lookback of the new watermark are hashed
            assert len(known) == sum(1 for r in read if watermark - lookback <= r[2] <= watermark)
    assert landed == Counter(set(visible))  # each version once (rows are never older than the lookback)
