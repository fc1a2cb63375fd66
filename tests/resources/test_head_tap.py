"""The preview tap passes every batch through unchanged and keeps a copy of the first rows only."""

from __future__ import annotations

import polars as pl
import pyarrow as pa

from medallion_resources.materialization import HeadTap


def test_batches_pass_through_and_the_head_is_the_first_rows() -> None:
    batches = [pa.table({"id": list(range(s, s + 4))}) for s in range(0, 20, 4)]
    tap = HeadTap(iter(batches), limit=6)
    assert list(tap) == batches
    head = tap.head()
    assert head is not None and head.column("id").to_pylist() == list(range(6))


def test_a_polars_frame_is_cut_before_it_is_converted(arrow_conversions: list[int]) -> None:
    """A Silver frame of a million rows is not converted to Arrow for a preview of ten."""
    frames = [pl.DataFrame({"id": range(0, 1000)}), pl.DataFrame({"id": range(1000, 2000)})]
    tap = HeadTap(iter(frames), limit=10)
    passed = list(tap)
    assert len(passed) == 2 and all(a is b for a, b in zip(passed, frames, strict=True))
    head = tap.head()
    assert head is not None and head.column("id").to_pylist() == list(range(10))
    assert arrow_conversions == [10]
    assert HeadTap(iter([]), limit=3).head() is None
