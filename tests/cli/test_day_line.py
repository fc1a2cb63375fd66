"""The day line of ``medallion run``: a day's own failure is never hidden behind a layer that did not run."""

from __future__ import annotations

from datetime import date

from medallion_assets.cli_display import day_line
from medallion_assets.runner import DayOutcome, builds_on_failed_day


def test_a_failed_bronze_shows_before_a_silver_that_did_not_run() -> None:
    """In a later 31-day range Silver is marked "not run" before the run, so it comes first in ``failed``;
    Bronze failing there too is the day's own error and leads the line."""
    outcome = DayOutcome(date(2025, 2, 3))
    outcome.failed["silver"] = builds_on_failed_day("2025-01-03")
    outcome.failed["bronze"] = "ExtractError: matched no files"
    line = day_line("[34/40]", "orders", outcome, ("bronze", "silver"))
    assert "bronze FAILED" in line and "matched no files" in line and line.endswith("; silver not run"), line


def test_a_silver_that_did_not_run_says_why() -> None:
    outcome = DayOutcome(date(2025, 2, 4))
    outcome.failed["silver"] = builds_on_failed_day("2025-01-03")
    line = day_line("[35/40]", "orders", outcome, ("bronze", "silver"))
    assert line.endswith("silver not run: it builds on a failed day (2025-01-03)") and "FAILED" not in line
