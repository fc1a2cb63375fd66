"""The one template mechanism: fill forward (file.path, API requests) and match in reverse (file_arrival)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from medallion_assets import templates

DAY = date(2025, 1, 7)
BERLIN = "Europe/Berlin"


@pytest.mark.parametrize(
    ("template", "filled"),
    [
        ("in/{run_date}.csv", "in/2025-01-07.csv"),
        ("in/{run_date:%Y%m%d}_*.csv", "in/20250107_*.csv"),
        ("in/{run_date:%Y/%m/%d}/part.csv", "in/2025/01/07/part.csv"),
        ("in/{run_date:}.csv", "in/2025-01-07.csv"),  # an empty format is the plain form
        ("in/{run_date:dt=%Y-%m-%d}/x", "in/dt=2025-01-07/x"),
        ("{window_start}", "2025-01-07T00:00:00+01:00"),
        ("{window_end}", "2025-01-08T00:00:00+01:00"),
        ("{window_end:%Y%m%d}", "20250108"),
        ("since={watermark}", "since=2025-01-06T23:00:00Z"),
        ("{id}/{x,y}/{{run_date}}", "{id}/{x,y}/{2025-01-07}"),  # other braces are literal
        ("100%/{run_date:%Y}", "100%/2025"),
    ],
)
def test_fill(template: str, filled: str) -> None:
    assert templates.fill(template, DAY, timezone=BERLIN, watermark="2025-01-06T23:00:00Z") == filled


def test_fill_uses_a_runs_own_window_and_an_absent_watermark_is_empty() -> None:
    start, end = datetime(2025, 1, 7, tzinfo=UTC), datetime(2025, 1, 8, tzinfo=UTC)
    assert templates.fill("{window_start}|{watermark}", DAY, window_start=start, window_end=end) == (
        "2025-01-07T00:00:00+00:00|"
    )


def test_watermark_takes_no_format() -> None:
    with pytest.raises(ValueError, match=r"\{watermark:%Y\}: \{watermark\} takes no format"):
        templates.fill("{watermark:%Y}", DAY)


def test_unknown_fields_and_glob() -> None:
    assert templates.unknown_fields("a/{date}/{run_date}/{watermark}") == ["{date}", "{watermark}"]
    assert templates.to_glob("a/{run_date:%Y/%m/%d}/p_{window_end}_*.csv") == "a/*/*/*/p_*_*.csv"


@pytest.mark.parametrize(
    ("template", "path", "day"),
    [
        ("/in/orders_{run_date:%Y%m%d}.jsonl", "/in/orders_20250107.jsonl", DAY),
        ("/in/{run_date:%Y/%m/%d}/part_*.csv", "/in/2025/01/07/part_b.csv", DAY),
        ("/in/{run_date:%Y/%m/%d}/part_*.csv", "/in/2025/01/07/sub/part_b.csv", None),  # * stays in a folder
        ("/in/**/{run_date}.csv", "/in/a/b/2025-01-07.csv", DAY),
        ("/in/{run_date}.csv", "/in/2025-01-07.csv", DAY),
        ("/in/{window_end:%Y%m%d}.csv", "/in/20250108.csv", DAY),  # the end is the next day
        ("/in/{window_start}.csv", "/in/2025-01-07T00:00:00+01:00.csv", DAY),
        ("/in/{window_start}.csv", "/in/2025-01-07T00:00:00+00:00.csv", None),  # not Berlin's midnight
        ("/in/{run_date:%Y%m}/d{run_date:%d}.csv", "/in/202501/d07.csv", DAY),  # fields read together
        ("/in/{run_date:%Y%m}.csv", "/in/202501.csv", date(2025, 1, 1)),  # a month: its first day
        ("/in/{run_date:%y%j}.csv", "/in/25007.csv", DAY),
        ("/in/{run_date:%d-%b-%Y}.csv", "/in/07-Jan-2025.csv", DAY),
        ("/in/orders_{run_date:%Y%m%d}.jsonl", "/in/orders_2025017.jsonl", None),  # not what fill writes
        ("/in/orders_{run_date:%Y%m%d}.jsonl", "/in/orders_20251307.jsonl", None),  # no 13th month
        ("/in/orders_{run_date:%Y%m%d}.jsonl", "/in/orders_20250107.jsonl.tmp", None),
        ("/in/[ab]_{run_date}.csv", "/in/b_2025-01-07.csv", DAY),
        ("/in/[!ab]_{run_date}.csv", "/in/b_2025-01-07.csv", None),
        ("/in/static.csv", "/in/static.csv", None),  # no date field: no date
    ],
)
def test_match(template: str, path: str, day: date | None) -> None:
    assert templates.match(template, path, timezone=BERLIN) == day


FORMATS = ["%Y%m%d", "%Y/%m/%d", "dt=%Y-%m-%d", "%d.%m.%Y", "%y%j", "%Y-%b-%d", "%Y%m/%d"]


@given(
    day=st.dates(min_value=date(1970, 1, 1), max_value=date(2200, 12, 31)),
    field=st.sampled_from(templates.DATE_FIELDS),
    spec=st.sampled_from([None, *FORMATS]),
    prefix=st.sampled_from(["/landing/", "s3bucket/raw/x_", "/a/**/"]),
    suffix=st.sampled_from([".csv", "_part.jsonl.gz", "/data.parquet"]),
    timezone=st.sampled_from(["UTC", BERLIN, "America/New_York", "Asia/Kolkata"]),
)
def test_fill_then_match_gives_the_date_back(
    day: date, field: str, spec: str | None, prefix: str, suffix: str, timezone: str
) -> None:
    assume("%y" not in (spec or "") or 1969 <= day.year <= 2068)  # a 2-digit year reads as 1969..2068
    template = prefix + ("{" + field + "}" if spec is None else "{" + field + ":" + spec + "}") + suffix
    path = templates.fill(template, day, timezone=timezone).replace("**", "deep/er")
    assert templates.match(template, path, timezone=timezone) == day
