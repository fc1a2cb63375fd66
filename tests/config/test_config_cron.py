"""Cron expressions are checked field by field when the config loads: with file, key and allowed range.

A cron Dagster refuses passed ``medallion validate`` when only the field count was checked; the code location
then failed to load and every source vanished from the UI. The property below ties the check to Dagster's:
whatever ``check_cron`` accepts, Dagster's own validator and ``ScheduleDefinition`` accept too.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from dagster._utils.schedules import has_out_of_range_cron_interval, is_valid_cron_string
from hypothesis import given, settings
from hypothesis import strategies as st

from medallion_assets.config.cron import CronError, check_cron
from medallion_assets.config.loader import load_config
from medallion_assets.errors import ConfigError

from ._support import MINIMAL, write_config
from .test_config_properties import SETTINGS

MEDALLION = str(Path(sys.executable).parent / "medallion")

BAD = [
    ("99 2 * * *", "minute '99' is out of range; allowed: 0-59"),
    ("0 24 * * *", "hour '24' is out of range; allowed: 0-23"),
    ("0 2 0 * *", "day-of-month '0' is out of range; allowed: 1-31"),
    ("0 2 * 13 *", "month '13' is out of range; allowed: 1-12 or JAN-DEC"),
    ("0 2 * * 8", "day-of-week '8' is out of range; allowed: 0-7 or SUN-SAT"),
    ("0 2 * * FUN", "day-of-week 'FUN' is out of range"),
    ("1-100 * * * *", "minute '100' is out of range"),
    ("*/0 * * * *", "step 0 is out of range; allowed: 1-59"),
    ("*/60 * * * *", "step 60 is out of range; allowed: 1-59"),
    ("5-1 * * * *", "minute '5-1' runs backwards"),  # Dagster takes this, and the two "never ticks"
    ("1,,2 * * * *", "minute '' is not valid"),
    ("0 2 * *", "has 4 field(s); it needs 5"),
    ("0 2 * * * *", "has 6 field(s); it needs 5"),
    ("@every 5m", "has 2 field(s)"),
    ("0 2 30 2 *", "never ticks: no selected month has day 30"),
    ("0 0 31 4,6 *", "never ticks: no selected month has day 31"),
    ("0 0 * * 1#6", "the week number after '#' must be 1-5"),
    ("0 1-5/7 * * *", "step 7 is larger than the range's end 5"),
    ("0 0 * * 1#2,3", "D#N items cannot be mixed"),
    ("0 0 * * 0-0", "'0-0' is a range of one value; write 0"),
]

GOOD = [
    "0 2 * * *",
    "30 1 * * 1-5",
    "*/15 * * * *",
    "0/15 8-18 * * MON-FRI",
    "0 2 1,15 * *",
    "0 2 * JAN,jul *",
    "0 2 * * 0",
    "0 2 * * 7",
    "0 0 L * *",
    "0 0 * * 1#2",
    "0 0 31 4 1",  # April 31st never comes, but Mondays in April do
    "0 0 29 2 *",
    "@daily",
    "  0 2 * * *  ",
]


@pytest.mark.parametrize(("cron", "message"), BAD, ids=[c for c, _ in BAD])
def test_a_bad_cron_fails_at_load_naming_file_key_and_range(cron: str, message: str, tmp_path: Path) -> None:
    platform = (MINIMAL / "platform.yaml").read_text(encoding="utf-8")
    source = {"source": {"system": "s", "table": "t", "type": "file", "file": {"path": "x.csv"}}}
    files = {
        "platform.yaml": platform,
        "sources/s.yaml": {"sources": [{**source, "schedule": {"cron": cron}}]},
    }
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(tmp_path, files), environ={})
    [issue] = caught.value.issues
    assert issue.file.endswith("sources/s.yaml") and issue.path == "sources[0].schedule.cron"
    assert message in issue.message


@pytest.mark.parametrize("cron", GOOD)
def test_a_good_cron_loads_and_dagster_accepts_it(cron: str) -> None:
    assert check_cron(cron) == cron
    assert is_valid_cron_string(cron.strip())


# Per field: values at and just past its bounds, names, and the odd ones out; most fields come out valid.
_NEAR = [
    ["0", "1", "30", "59", "60"],
    ["0", "1", "12", "23", "24"],
    ["0", "1", "15", "29", "30", "31", "32", "L"],
    ["0", "1", "2", "4", "12", "13", "JAN", "feb", "Dec"],
    ["0", "1", "5", "7", "8", "MON", "sun", "1#2", "0#5", "1#6"],
]


def _field(values: list[str]) -> st.SearchStrategy[str]:
    value = st.sampled_from(values)
    item = st.one_of(
        value,
        st.just("*"),
        st.tuples(value, value).map("-".join),
        st.tuples(
            st.sampled_from(["*", *values]), st.sampled_from(["0", "1", "2", "7", "15", "59", "60"])
        ).map("/".join),
    )
    return st.one_of(st.just("*"), st.lists(item, min_size=1, max_size=3).map(",".join))


crons = st.one_of(
    st.tuples(*(_field(values) for values in _NEAR)).map(" ".join),
    st.lists(_field(_NEAR[0]), min_size=4, max_size=6).map(" ".join),
)


@settings(SETTINGS, max_examples=400)
@given(cron=crons)
def test_what_the_check_accepts_dagster_accepts(cron: str) -> None:
    try:
        check_cron(cron)
    except CronError:
        return
    assert is_valid_cron_string(cron), cron
    assert not has_out_of_range_cron_interval(cron), cron  # Dagster would tick more often than written
    schedule = dg.ScheduleDefinition(name="s", cron_schedule=cron, target=dg.AssetSelection.all())
    assert schedule.cron_schedule == cron


@pytest.mark.slow
def test_medallion_validate_refuses_a_bad_cron(tmp_path: Path) -> None:
    platform = (MINIMAL / "platform.yaml").read_text(encoding="utf-8")
    source = {"source": {"system": "s", "table": "t", "type": "file", "file": {"path": "x.csv"}}}
    files = {
        "platform.yaml": platform,
        "sources/s.yaml": {"sources": [{**source, "schedule": {"cron": "99 2 * * *"}}]},
    }
    config_dir = write_config(tmp_path, files)
    result = subprocess.run(
        [MEDALLION, "--config-dir", str(config_dir), "validate"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ},
    )
    assert result.returncode == 1
    assert "configs/sources/s.yaml: sources[0].schedule.cron: cron '99 2 * * *': minute '99'" in result.stderr
    assert "allowed: 0-59" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("timezone", "message"),
    [
        ("Europe/Amsterdm", "unknown timezone 'Europe/Amsterdm' (did you mean 'Europe/Amsterdam'?)"),
        ("Mars/Olympus", "unknown timezone 'Mars/Olympus' (use an IANA name such as 'UTC'"),
    ],
)
def test_a_bad_schedule_timezone_fails_at_load_with_a_hint(
    timezone: str, message: str, tmp_path: Path
) -> None:
    platform = (MINIMAL / "platform.yaml").read_text(encoding="utf-8")
    source = {"source": {"system": "s", "table": "t", "type": "file", "file": {"path": "x.csv"}}}
    schedule = {"cron": "0 2 * * *", "timezone": timezone}
    files = {"platform.yaml": platform, "sources/s.yaml": {"sources": [{**source, "schedule": schedule}]}}
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(tmp_path, files), environ={})
    [issue] = caught.value.issues
    assert issue.path == "sources[0].schedule.timezone" and message in issue.message


def test_every_timezone_the_config_accepts_dagster_accepts() -> None:
    """``timezone`` keys are checked with ``zoneinfo``; Dagster's schedules and partitions take every one."""
    from zoneinfo import available_timezones

    for name in sorted(available_timezones()):
        dg.ScheduleDefinition(
            name="s", cron_schedule="0 2 * * *", execution_timezone=name, target=dg.AssetSelection.all()
        )
        dg.DailyPartitionsDefinition(start_date="2025-01-01", timezone=name)
