"""``latest_per_key``: its shortcut for a day without duplicate keys gives what the sorts give."""

from __future__ import annotations

import random

import polars as pl
import pytest

from medallion_assets.errors import SilverInputError
from medallion_assets.silver import keys as keys_module
from medallion_assets.silver.keys import latest_per_key, with_position


@pytest.mark.parametrize("seed", range(20))
def test_shortcut_equals_the_sorts(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    n = rng.randrange(0, 30)
    unique = seed % 2 == 0
    ids = rng.sample(range(100), n) if unique else [rng.randrange(8) for _ in range(n)]
    frame = with_position(
        pl.DataFrame(
            {"id": ids, "ts": [rng.choice([None, 1, 2, 3]) for _ in ids]},
            schema={"id": pl.Int64, "ts": pl.Int64},
        )
    )
    if seed % 4 == 2:
        frame = frame.reverse()  # unique keys, but not in position order: no shortcut
    for order in ("ts", None):
        got = latest_per_key(frame, ["id"], order)
        monkeypatch.setattr(keys_module, "_unique_in_order", lambda *_: False)
        want = latest_per_key(frame, ["id"], order)
        monkeypatch.undo()
        assert got.equals(want), (got, want)


def test_shortcut_taken_only_for_unique_keys_in_order() -> None:
    frame = with_position(pl.DataFrame({"id": [3, 1, 2]}))
    assert keys_module._unique_in_order(frame, ["id"], ["__medallion_position"])
    assert not keys_module._unique_in_order(frame.reverse(), ["id"], ["__medallion_position"])
    duplicated = with_position(pl.DataFrame({"id": [3, 1, 3]}))
    assert not keys_module._unique_in_order(duplicated, ["id"], ["__medallion_position"])


# Order values kept as text: ISO date-times order as their instants only when they share one UTC offset.
SAME_OFFSET = [
    [
        "2025-03-01T09:00:00Z",
        "2025-03-01T10:00:00+00:00",
        "2025-03-01T10:00:00+0000",
        "2025-03-01T11:00:00-00:00",
    ],
    ["2025-03-01T09:00:00+02", "2025-03-01T10:00:00+0200", "2025-03-01T10:00:00.5+02:00"],
    ["2025-03-01", "2025-03-01T10:00", "2025-03-01 10:00:00.25"],  # no offset at all: wall time throughout
    ["a", "2025-03-01T09:00:00Z", "2025-03-01T10:00:00+02:00"],  # not all date-times: text, as names are
]
DIFFERING_OFFSETS = [
    (["2025-03-01T09:00:00Z"], ["2025-03-01T10:00:00+02:00"]),
    (["2025-03-01T09:00:00Z"], ["2025-03-01T10:00:00"]),
    (["2025-03-01T10:00:00-05:00"], ["2025-03-01T10:00:00+05:00"]),
    ([], ["2025-03-01", "2025-03-01T00:00:00Z"]),
]


@pytest.mark.parametrize("values", SAME_OFFSET)
def test_date_times_as_text_with_one_offset_order_as_text(values: list[str]) -> None:
    keys_module.check_text_order([pl.DataFrame({"ts": values}), None], "ts")


@pytest.mark.parametrize(("state", "day"), DIFFERING_OFFSETS)
def test_date_times_as_text_with_differing_offsets_fail_naming_the_type(
    state: list[str], day: list[str]
) -> None:
    frames = [pl.DataFrame({"ts": day}), pl.DataFrame({"ts": state}, schema={"ts": pl.String})]
    with pytest.raises(
        SilverInputError, match=r"differing UTC offsets .*silver.schema.types: \{ts: datetime\}"
    ):
        keys_module.check_text_order(frames, "ts")
