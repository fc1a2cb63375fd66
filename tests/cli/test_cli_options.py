"""The CLI's argument handling and range cutting, table-driven (the verbs themselves are tested end to end in
tests/integration/test_cli*.py)."""

from __future__ import annotations

import gc
import subprocess
import sys
from datetime import date

import pytest

from medallion_assets.cli_options import expand_greedy
from medallion_assets.plan import day_ranges

SELECT = ("--select",)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--select", "a", "b", "c"], ["--select", "a", "--select", "b", "--select", "c"]),
        (["--select", "a", "--select", "b"], ["--select", "a", "--select", "b"]),
        (
            ["--date", "2025-01-01", "--select", "a", "b", "--layer", "silver"],
            ["--date", "2025-01-01", "--select", "a", "--select", "b", "--layer", "silver"],
        ),
        (["--select=a", "--date", "d"], ["--select=a", "--date", "d"]),
        (["--select", "--date", "d"], ["--select", "--date", "d"]),  # no value: click reports it
        (["--select"], ["--select"]),
        (["--date", "d"], ["--date", "d"]),
    ],
)
def test_select_takes_every_value_up_to_the_next_option(args: list[str], expected: list[str]) -> None:
    assert expand_greedy(args, SELECT) == expected


@pytest.mark.parametrize(
    ("first", "last", "expected"),
    [
        (date(2025, 1, 1), date(2025, 1, 1), [(date(2025, 1, 1), date(2025, 1, 1))]),
        (date(2025, 1, 1), date(2025, 1, 31), [(date(2025, 1, 1), date(2025, 1, 31))]),
        (
            date(2025, 1, 1),
            date(2025, 2, 1),
            [(date(2025, 1, 1), date(2025, 1, 31)), (date(2025, 2, 1), date(2025, 2, 1))],
        ),
        (date(2025, 1, 2), date(2025, 1, 1), []),
    ],
)
def test_a_range_is_cut_into_runs_of_at_most_31_days(first: date, last: date, expected: list) -> None:
    assert day_ranges(first, last) == expected


def test_365_days_take_12_runs() -> None:
    ranges = day_ranges(date(2025, 1, 1), date(2025, 12, 31))
    assert len(ranges) == 12
    assert sum((b - a).days + 1 for a, b in ranges) == 365
    assert all(ranges[i][1].toordinal() + 1 == ranges[i + 1][0].toordinal() for i in range(11))


VERB = """
import gc, click
from medallion_assets.cli_options import MedallionGroup, startup_done

@click.group(cls=MedallionGroup)
def cli() -> None: ...

@cli.command()
def verb() -> None:
    print(gc.isenabled(), gc.get_freeze_count() > 0)
    startup_done()
    print(gc.isenabled(), gc.get_freeze_count() > 0)
"""


def test_the_console_script_collects_no_garbage_until_its_imports_are_done() -> None:
    script = VERB + "\ncli(['verb'])\n"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False", "True", "True"]


def test_an_in_process_caller_keeps_its_collector(capsys: pytest.CaptureFixture[str]) -> None:
    namespace: dict[str, object] = {}
    exec(VERB, namespace)  # noqa: S102 - the same group, called in-process
    frozen = gc.get_freeze_count()
    namespace["cli"].main(["verb"], standalone_mode=False)  # type: ignore[attr-defined]
    assert capsys.readouterr().out.split() == ["True", "False", "True", "False"]
    assert gc.isenabled() and gc.get_freeze_count() == frozen
