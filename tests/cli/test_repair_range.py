"""The repair ``medallion status`` prints: one run that can repair every stale or failed day it lists."""

from __future__ import annotations

from datetime import date

from medallion_assets.status import DayStatus, repair_range


def days(*cells: tuple[str, str]) -> list[DayStatus]:
    return [DayStatus(date(2025, 1, i), bronze, silver) for i, (bronze, silver) in enumerate(cells, start=1)]


OK = ("committed", "committed")


def test_nothing_to_repair() -> None:
    assert repair_range(days(OK, OK), stateful=True) is None


def test_stale_days_with_their_bronze_are_silver_only() -> None:
    rows = days(OK, ("committed", "stale"), ("committed", "stale"))
    assert repair_range(rows, stateful=True) == (date(2025, 1, 2), date(2025, 1, 3), True)


def test_a_stateful_failure_on_a_gap_starts_at_the_gap_with_bronze() -> None:
    """Silver 01-04 failed on the missing Bronze 01-03: a Silver-only run of 01-04 fails again."""
    rows = days(OK, OK, ("missing", "missing"), ("committed", "failed"))
    assert repair_range(rows, stateful=True) == (date(2025, 1, 3), date(2025, 1, 4), False)


def test_a_stateful_day_rebuilt_from_complete_bronze_is_repaired_alone() -> None:
    """Silver 01-03 is missing and every Bronze day before 01-04 committed: 01-04 rebuilds its state."""
    rows = days(OK, ("committed", "missing"), ("committed", "missing"), ("committed", "stale"))
    assert repair_range(rows, stateful=True) == (date(2025, 1, 4), date(2025, 1, 4), True)
    # A model without state reads Bronze D only: the days before are no part of the repair.
    assert repair_range(rows, stateful=False) == (date(2025, 1, 4), date(2025, 1, 4), True)


def test_a_stateful_repair_takes_the_missing_silver_days_back_to_a_bronze_gap() -> None:
    """The rebuild of 01-04 would need Bronze 01-02: the repair fills it and builds on Silver 01-01."""
    rows = days(OK, ("missing", "missing"), ("committed", "missing"), ("committed", "stale"))
    assert repair_range(rows, stateful=True) == (date(2025, 1, 2), date(2025, 1, 4), False)


def test_a_missing_bronze_day_between_two_problems_needs_bronze() -> None:
    rows = days(("committed", "failed"), ("missing", "missing"), ("committed", "failed"))
    assert repair_range(rows, stateful=False) == (date(2025, 1, 1), date(2025, 1, 3), False)


def test_a_listing_from_a_later_day_repairs_its_problems_from_the_days_they_need() -> None:
    rows = days(("committed", "stale"), ("missing", "missing"), ("committed", "failed"))
    # Listed from 01-03: its Silver needs 01-02's gap filled, and Silver 01-02 would build on the stale
    # 01-01 (and be stale, and 01-03 with it): the repair starts at 01-01.
    assert repair_range(rows, stateful=True, since=date(2025, 1, 3)) == (
        date(2025, 1, 1),
        date(2025, 1, 3),
        False,
    )


def test_a_listing_after_a_failed_day_repairs_from_it() -> None:
    """Silver 01-03 builds on the failed 01-02: a run of 01-03 alone would fail again."""
    rows = days(OK, ("committed", "failed"), ("committed", "failed"))
    assert repair_range(rows, stateful=True, since=date(2025, 1, 3)) == (
        date(2025, 1, 2),
        date(2025, 1, 3),
        True,
    )
