"""Silver's inputs widened alike (:mod:`medallion_assets.silver.widen`): naive date-times meeting ones with a
time zone are wall time in ``partitions.timezone``, daylight-saving changes included. Expected instants by
hand (Paris is UTC+1 in winter, UTC+2 in summer; the clocks skip 02:00-03:00 on 2025-03-30 and repeat
02:00-03:00 on 2025-10-26)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from medallion_assets.silver.widen import widen_alike_in

NEW_YORK = ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    ("zone", "naive", "other", "expected"),
    [
        ("Europe/Paris", datetime(2025, 3, 1, 10, 15), "UTC", datetime(2025, 3, 1, 9, 15, tzinfo=UTC)),
        ("Europe/Paris", datetime(2025, 7, 1, 10, 15), "UTC", datetime(2025, 7, 1, 8, 15, tzinfo=UTC)),
        # The hour the clocks skip: the offset before the change (+01:00).
        ("Europe/Paris", datetime(2025, 3, 30, 2, 30), "UTC", datetime(2025, 3, 30, 1, 30, tzinfo=UTC)),
        # The hour they repeat: the first of the two (+02:00).
        ("Europe/Paris", datetime(2025, 10, 26, 2, 30), "UTC", datetime(2025, 10, 26, 0, 30, tzinfo=UTC)),
        ("Europe/Paris", date(2025, 3, 1), "UTC", datetime(2025, 2, 28, 23, tzinfo=UTC)),
        # Converted to the zoned side's zone: 09:15 UTC is 04:15 in New York.
        (
            "Europe/Paris",
            datetime(2025, 3, 1, 10, 15),
            "America/New_York",
            datetime(2025, 3, 1, 4, 15, tzinfo=NEW_YORK),
        ),
        # UTC partitions: as the lake's rule reads them.
        ("UTC", datetime(2025, 3, 1, 10, 15), "UTC", datetime(2025, 3, 1, 10, 15, tzinfo=UTC)),
    ],
)
def test_a_naive_date_time_meeting_a_zoned_one_is_wall_time_in_the_zone(
    zone: str, naive: datetime | date, other: str, expected: datetime
) -> None:
    state = pl.DataFrame({"id": [1], "ts": [naive]})
    incoming = pl.DataFrame({"id": [2], "ts": [datetime(2025, 3, 2, 9, 30, tzinfo=UTC)]}).with_columns(
        pl.col("ts").dt.convert_time_zone(other)
    )
    widened_state, widened_incoming = widen_alike_in([state, incoming], zone)
    assert widened_state.schema["ts"] == widened_incoming.schema["ts"] == pl.Datetime("us", other)
    assert widened_state.get_column("ts").to_list() == [expected]
    assert widened_incoming.get_column("ts").to_list() == [datetime(2025, 3, 2, 9, 30, tzinfo=UTC)]


def test_naive_date_times_meeting_two_zones_are_utc() -> None:
    """Two zones widen to UTC (the lake's rule); the naive values are Paris wall time all the same."""
    frames = [
        pl.DataFrame({"ts": [datetime(2025, 3, 1, 10, 15)]}),
        pl.DataFrame({"ts": [datetime(2025, 3, 1, 9, 30, tzinfo=UTC)]}),
        pl.DataFrame({"ts": [datetime(2025, 3, 1, 4, 30, tzinfo=NEW_YORK)]}),
    ]
    widened = widen_alike_in(frames, "Europe/Paris")
    assert [f.get_column("ts").to_list() for f in widened] == [
        [datetime(2025, 3, 1, 9, 15, tzinfo=UTC)],
        [datetime(2025, 3, 1, 9, 30, tzinfo=UTC)],
        [datetime(2025, 3, 1, 9, 30, tzinfo=UTC)],
    ]
