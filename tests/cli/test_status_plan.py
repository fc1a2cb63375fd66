"""``medallion status`` and ``medallion plan`` on a real lake written by ``medallion run``: what is due, what
is missing, and the smallest repair.

The CLI runs in this process (click's runner) on a persistent ``DAGSTER_HOME`` of the test, as a user's
shell would; each source is a one-row JSON-lines file per day, so a day's run is a fraction of a second.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from medallion_assets.cli import main
from medallion_assets.lake import Lake
from tests.integration._lake import local_lake

DAYS = [f"2025-01-0{i}" for i in range(1, 6)]


@dataclass
class Result:
    code: int
    out: str
    err: str


Cli = Callable[..., Result]


def source(name: str, model: str, **extra: Any) -> dict[str, Any]:
    silver: dict[str, Any] = {"model": model, "primary_keys": ["id"], "schema": {"types": {"ts": "datetime"}}}
    if model != "periodic_snapshot":
        silver["order_column"] = "ts"
    return {
        "name": name,
        "source": {
            "system": "t",
            "table": name,
            "type": "file",
            "file": {"path": "{data}/day_{run_date:%Y%m%d}.jsonl"},
            "run": {"load_pattern": "full"},
        },
        "silver": silver,
        **extra,
    }


SOURCES = [
    source("hist", "scd_type_2"),
    source("snap", "periodic_snapshot"),
    source("later", "scd_type_1", partitions={"start_date": "2999-01-01"}),
]


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """``cli("status", "hist")``: the command on a fresh lake and Dagster home of this test."""
    data = tmp_path / "data"
    data.mkdir()
    for day in DAYS:
        row = {"id": 1, "v": f"v{day}", "ts": f"{day}T10:00:00"}
        (data / f"day_{day.replace('-', '')}.jsonl").write_text(json.dumps(row) + "\n")
    local_lake(tmp_path, SOURCES, date.fromisoformat(DAYS[0]), data=data)
    config = tmp_path / "configs"
    (tmp_path / "dagster_home").mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("MEDALLION_CONFIG_DIR", str(config))

    def run(*args: str) -> Result:
        result = CliRunner().invoke(main, list(args), catch_exceptions=False, standalone_mode=False)
        return Result(result.exit_code, result.stdout, result.stderr)

    return run


def ok(cli: Cli, *args: str) -> str:
    result = cli(*args)
    assert result.code == 0, result.out + result.err
    return result.out


def rows(out: str) -> dict[str, list[str]]:
    """``medallion status`` table rows by date: [bronze, silver, note words...]."""
    return {
        cells[0]: cells[1:]
        for cells in (line.split() for line in out.splitlines())
        if cells[:1] > [""] and cells[0][:2] in ("20", "29")
    }


def repair_of(out: str) -> list[str]:
    (line,) = [line for line in out.splitlines() if line.startswith("repair: medallion ")]
    return line.removeprefix("repair: medallion ").split()


# --- a source whose start date is ahead ---------------------------------------------------------------------


def test_status_of_a_source_that_has_not_started_says_when_it_starts(cli: Cli) -> None:
    result = cli("status", "later")
    assert result.code == 0, result.err
    assert "missing" not in result.out, result.out
    assert "later starts on 2999-01-01: no day is due yet" in result.out
    listed = json.loads(ok(cli, "status", "later", "--json"))
    assert listed["days"] == [] and listed["problems"] == 0 and listed["repair"] is None
    assert listed["start_date"] == "2999-01-01"


def test_plan_of_a_source_that_has_not_started_says_when_it_starts(cli: Cli) -> None:
    result = cli("plan", "later", "--date", "2999-01-01")
    assert result.code == 1
    assert "later: nothing to run, 2999-01-01 is not over yet: the source starts on 2999-01-01" in result.err


# --- a Bronze gap between committed days --------------------------------------------------------------------


@pytest.fixture
def gap(cli: Cli) -> Cli:
    """``hist`` (scd_type_2) run on 01..02 and 04..05: Bronze 03 is missing, so Silver 04 failed (its state is
    rebuilt from every Bronze day before it) and Silver 05, built on it, was not run."""
    ok(cli, "run", "--date", DAYS[0], "--end-date", DAYS[1], "--select", "hist")
    assert cli("run", "--date", DAYS[3], "--end-date", DAYS[4], "--select", "hist").code == 1
    return cli


def test_plan_after_a_bronze_gap_starts_the_range_at_the_gap(gap: Cli) -> None:
    out = ok(gap, "plan", "hist", "--date", DAYS[3], "--end-date", DAYS[4])
    assert "the rebuild needs Bronze 2025-01-03, not committed" in out
    assert (
        "start the range at 2025-01-01" not in out
    )  # Silver 01-02 is committed: nothing before 03 is redone
    (hint,) = [line for line in out.splitlines() if line.startswith("  repair: medallion ")]
    command = hint.removeprefix("  repair: medallion ").split()
    assert command == ["run", "--date", DAYS[2], "--end-date", DAYS[4], "--select", "hist"]
    ok(gap, *command)
    assert gap("status", "hist").code == 0


def test_status_from_a_day_after_the_failed_one_repairs_from_the_gap(gap: Cli) -> None:
    """Listed from 05, whose Silver builds on the failed 04: a Silver-only run of 05 would fail again."""
    status = gap("status", "hist", "--start", DAYS[4])
    assert status.code == 1
    assert rows(status.out)[DAYS[4]][:2] == ["committed", "failed"]
    command = repair_of(status.out)
    assert command == ["run", "--date", DAYS[2], "--end-date", DAYS[4], "--select", "hist"]
    ok(gap, *command)
    clean = gap("status", "hist")
    assert clean.code == 0, clean.out
    assert {day: cells[:2] for day, cells in rows(clean.out).items()} == {
        day: ["committed", "committed"] for day in DAYS
    }


def test_a_stale_rebuilt_day_is_repaired_alone(cli: Cli) -> None:
    """Silver 04 rebuilt from Bronze 01..03 (no Silver before it), then Bronze 02 committed again: a run of
    Silver 04 rebuilds it; the Silver days before it, never built, are no part of the repair."""
    ok(cli, "run", "--date", DAYS[0], "--end-date", DAYS[3], "--select", "hist", "--layer", "bronze")
    ok(cli, "run", "--date", DAYS[3], "--select", "hist", "--layer", "silver")
    ok(cli, "run", "--date", DAYS[1], "--select", "hist", "--layer", "bronze")
    status = cli("status", "hist")
    assert status.code == 1
    assert rows(status.out)[DAYS[3]][:2] == ["committed", "stale"]
    command = repair_of(status.out)
    assert command == [
        "run",
        "--date",
        DAYS[3],
        "--end-date",
        DAYS[3],
        "--select",
        "hist",
        "--layer",
        "silver",
    ]
    ok(cli, *command)
    assert cli("status", "hist").code == 0


# --- a dg component's translation ---------------------------------------------------------------------------


def test_status_through_the_component_sees_the_failed_run_the_ui_launched(cli: Cli, tmp_path: Path) -> None:
    """A dg project's component prefixes the keys (``translation: {key_prefix: lake}``); a run launched from
    its UI fails on 01-07 (no file). ``medallion --component DEFS status`` reads the same keys."""
    import dagster as dg

    from medallion_assets.component import MedallionSources
    from medallion_assets.instance import get_instance

    ok(cli, "run", "--date", DAYS[0], "--select", "hist")
    attributes = {"config_dir": str(tmp_path / "configs"), "translation": {"key_prefix": "lake"}}
    (tmp_path / "project" / "lake").mkdir(parents=True)
    defs_yaml = tmp_path / "project" / "lake" / "defs.yaml"
    defs_yaml.write_text(
        yaml.safe_dump({"type": "medallion_assets.MedallionSources", "attributes": attributes})
    )
    component = MedallionSources.resolve_from_dict(attributes)
    job = dg.components.testing.utils.component_defs(component=component).resolve_job_def("hist_job")
    ui_run = job.execute_in_process(instance=get_instance(), partition_key="2025-01-07", raise_on_error=False)
    assert not ui_run.success

    # The config directory alone knows no prefix: status says where the other runs are and how to see them.
    plain = cli("status", "hist")
    assert plain.code == 0 and "2025-01-07" not in plain.out
    assert "lake/bronze/t/hist" in plain.err and "--component" in plain.err

    # validate checks what Dagster would refuse for the component too (its storage backends: a bad one fails)
    assert "config OK: 3 source(s)" in cli("--component", str(defs_yaml), "validate").out
    shutil.copytree(tmp_path / "configs", tmp_path / "bad_configs")
    platform = yaml.safe_load((tmp_path / "configs" / "platform.yaml").read_text())
    platform["platform"]["bronze"]["storage_backend"] = "nowhere"
    (tmp_path / "bad_configs" / "platform.yaml").write_text(yaml.safe_dump(platform))
    broken = {**attributes, "config_dir": str(tmp_path / "bad_configs")}
    bad_yaml = tmp_path / "project" / "bad" / "defs.yaml"
    bad_yaml.parent.mkdir()
    bad_yaml.write_text(yaml.safe_dump({"type": "medallion_assets.MedallionSources", "attributes": broken}))
    refused = cli("--component", str(bad_yaml), "validate")
    assert refused.code == 1 and "nowhere" in refused.err + refused.out, refused.out + refused.err

    # The CLI runs the component's keys too (its summary reads their materializations).
    ok(cli, "--component", str(defs_yaml), "run", "--date", DAYS[1], "--select", "hist")
    seen = cli("--component", str(defs_yaml), "status", "hist")
    assert seen.code == 1, seen.out + seen.err
    assert rows(seen.out)["2025-01-07"][:2] == ["failed", "failed"]
    assert rows(seen.out)[DAYS[0]][:2] == ["committed", "committed"]  # the lake is the same lake
    assert rows(seen.out)[DAYS[1]][:2] == ["committed", "committed"]
    assert "lake/bronze/t/hist" not in seen.err


# --- --start / --end at the edges ---------------------------------------------------------------------------


def test_status_of_a_range_with_no_partition_is_an_error_naming_why(cli: Cli) -> None:
    before = cli("status", "snap", "--start", "2024-12-01", "--end", "2024-12-03")
    assert before.code == 1
    assert "snap: nothing to list, 2024-12-01..2024-12-03 is before its start date 2025-01-01" in before.err
    assert cli("status", "snap", "--end", "2024-12-31").code == 1
    after = cli("status", "snap", "--start", "2999-01-01", "--end", "2999-01-02")
    assert after.code == 1 and "is after its last partition" in after.err


def test_status_leaves_out_the_days_not_over_yet(cli: Cli) -> None:
    """Days after the last partition are not due: not listed as missing."""
    ok(cli, "run", "--date", DAYS[0], "--select", "snap")
    status = cli("status", "snap", "--start", DAYS[0], "--end", "2999-01-01")
    assert status.code == 0, status.err
    listed = rows(status.out)
    assert DAYS[0] in listed and "2999-01-01" not in listed
    assert max(listed) < "2999"
    assert "the days after it are left out (not over yet in UTC)" in status.out
    one = rows(ok(cli, "status", "snap", "--start", DAYS[0], "--end", DAYS[0]))
    assert {day: cells[:2] for day, cells in one.items()} == {DAYS[0]: ["committed", "committed"]}


def test_a_day_never_loaded_between_loaded_days_is_a_gap_to_repair(cli: Cli) -> None:
    """periodic_snapshot run on 01..02 and 04: nothing failed, but 03 is a hole in both layers."""
    ok(cli, "run", "--date", DAYS[0], "--end-date", DAYS[1], "--select", "snap")
    ok(cli, "run", "--date", DAYS[3], "--select", "snap")
    status = cli("status", "snap")
    assert status.code == 1, status.out
    assert rows(status.out)[DAYS[2]][:2] == ["missing", "missing"]
    assert "gap" in " ".join(rows(status.out)[DAYS[2]][2:])
    command = repair_of(status.out)
    assert command == ["run", "--date", DAYS[2], "--end-date", DAYS[2], "--select", "snap"]
    ok(cli, *command)
    assert cli("status", "snap").code == 0


def test_a_run_of_every_source_leaves_out_the_one_that_has_not_started(cli: Cli) -> None:
    """A nightly ``medallion run --date D`` of every source: the source starting later has nothing due."""
    result = cli("run", "--date", DAYS[0])
    assert result.code == 0, result.out + result.err
    assert "later: starts on 2999-01-01, after 2025-01-01: left out" in result.out
    assert cli("run", "--date", DAYS[0], "--select", "later").code == 1  # asked for by name: an error


# --- a stale state the range would build on -----------------------------------------------------------------


def test_plan_and_run_on_a_stale_state_say_so_and_repair_from_the_first_stale_day(cli: Cli) -> None:
    """``hist`` (scd_type_2) run on 01..03, then Bronze 02 committed again: Silver 02 and 03 are stale. A
    range from 04 builds on Silver 03, so ``plan`` names it stale, lists it as a problem and prints the repair
    ``status`` prints (Silver 02..03, Bronze stays); ``run`` says so before it runs."""
    ok(cli, "run", "--date", DAYS[0], "--end-date", DAYS[2], "--select", "hist")
    ok(cli, "run", "--date", DAYS[1], "--select", "hist", "--layer", "bronze")
    repair = ["run", "--date", DAYS[1], "--end-date", DAYS[2], "--select", "hist", "--layer", "silver"]
    assert repair_of(cli("status", "hist").out) == repair

    out = ok(cli, "plan", "hist", "--date", DAYS[3], "--end-date", DAYS[4])
    state = (
        "state before 2025-01-04: read from Silver 2025-01-03 (committed, stale: Silver 2025-01-02, "
        "its input, is stale)"
    )
    assert state in out, out
    (problem,) = [line for line in out.splitlines() if line.startswith("problem: ")]
    assert "Silver 2025-01-03, the state 2025-01-04 builds on, is stale" in problem, problem
    assert "Bronze 2025-01-02 was committed again after Silver 2025-01-02 was computed" in problem, problem
    (hint,) = [line for line in out.splitlines() if line.startswith("  repair: medallion ")]
    assert hint.removeprefix("  repair: medallion ").split() == repair
    planned = json.loads(ok(cli, "plan", "hist", "--date", DAYS[3], "--end-date", DAYS[4], "--json"))
    assert planned["stale"] == ["2025-01-02", "2025-01-03"]
    assert len(planned["problems"]) == 1 and planned["repair"] == "medallion " + " ".join(repair)

    # run over the stale state: it says so (and runs: status lists what it wrote as stale, and repairs all)
    warned = cli("run", "--date", DAYS[3], "--end-date", DAYS[4], "--select", "hist")
    assert warned.code == 0, warned.out + warned.err
    assert "hist: Silver 2025-01-03, the state 2025-01-04 builds on, is stale" in warned.err
    assert "medallion " + " ".join(repair) in warned.err
    after = cli("status", "hist")
    assert {day: cells[:2] for day, cells in rows(after.out).items()} == {
        DAYS[0]: ["committed", "committed"],
        **{day: ["committed", "stale"] for day in DAYS[1:]},
    }
    ok(cli, *repair_of(after.out))
    assert cli("status", "hist").code == 0
    clean = ok(cli, "plan", "hist", "--date", DAYS[4])
    assert "state before 2025-01-05: read from Silver 2025-01-04 (committed)" in clean
    assert "problem" not in clean and "repair" not in clean


# --- a re-run of a committed day leaves the later days that built on it stale ---------------------------


def test_plan_and_run_of_a_committed_stateful_day_name_the_later_days_left_stale(cli: Cli) -> None:
    """``hist`` (scd_type_2) run on 01..05, then 02 again: Silver 03..05 were built on the old Silver 02, so
    the re-run leaves them stale. ``plan`` says so with the command that rebuilds them (the repair
    ``status`` prints afterwards); ``run`` warns with it and runs; that command makes ``status`` clean."""
    ok(cli, "run", "--date", DAYS[0], "--end-date", DAYS[4], "--select", "hist")
    follow_up = ["run", "--date", DAYS[2], "--end-date", DAYS[4], "--select", "hist", "--layer", "silver"]

    out = ok(cli, "plan", "hist", "--date", DAYS[1])
    (line,) = [line for line in out.splitlines() if line.startswith("afterwards: ")]
    assert "Silver 2025-01-03..2025-01-05 (3 day(s), committed) will be stale" in line, line
    (then,) = [line for line in out.splitlines() if line.startswith("  then: medallion ")]
    assert then.removeprefix("  then: medallion ").split() == follow_up
    assert "problem" not in out  # the run itself works and writes current days
    planned = json.loads(ok(cli, "plan", "hist", "--date", DAYS[1], "--json"))
    assert planned["stale_after"] == DAYS[2:]
    assert planned["follow_up"] == "medallion " + " ".join(follow_up)
    assert planned["problems"] == [] and planned["repair"] is None
    # Silver alone again from 02 leaves the same days stale; a range through the last day leaves none.
    alone = json.loads(ok(cli, "plan", "hist", "--date", DAYS[1], "--layer", "silver", "--json"))
    assert alone["stale_after"] == DAYS[2:]
    through = json.loads(ok(cli, "plan", "hist", "--date", DAYS[1], "--end-date", DAYS[4], "--json"))
    assert through["stale_after"] == [] and through["follow_up"] is None
    assert "afterwards" not in ok(cli, "plan", "hist", "--date", DAYS[4])

    warned = cli("run", "--date", DAYS[1], "--select", "hist")
    assert warned.code == 0, warned.out + warned.err
    assert "hist: Silver 2025-01-03..2025-01-05 (3 day(s), committed) will be stale" in warned.err
    assert "medallion " + " ".join(follow_up) in warned.err
    after = cli("status", "hist")
    assert {day: cells[:2] for day, cells in rows(after.out).items()} == {
        DAYS[0]: ["committed", "committed"],
        DAYS[1]: ["committed", "committed"],
        **{day: ["committed", "stale"] for day in DAYS[2:]},
    }
    assert repair_of(after.out) == follow_up
    ok(cli, *follow_up)
    assert cli("status", "hist").code == 0


def test_plan_of_bronze_alone_names_the_silver_days_left_stale(cli: Cli) -> None:
    """``snap`` (periodic_snapshot) reads Bronze D only: a re-run of both layers leaves nothing stale, Bronze
    alone leaves Silver of the same days stale."""
    ok(cli, "run", "--date", DAYS[0], "--end-date", DAYS[2], "--select", "snap")
    both = json.loads(ok(cli, "plan", "snap", "--date", DAYS[1], "--json"))
    assert both["stale_after"] == [] and both["follow_up"] is None
    alone = json.loads(
        ok(cli, "plan", "snap", "--date", DAYS[0], "--end-date", DAYS[1], "--layer", "bronze", "--json")
    )
    assert alone["stale_after"] == DAYS[:2]
    assert (
        alone["follow_up"]
        == f"medallion run --date {DAYS[0]} --end-date {DAYS[1]} --select snap --layer silver"
    )
    warned = cli("run", "--date", DAYS[0], "--end-date", DAYS[1], "--select", "snap", "--layer", "bronze")
    assert warned.code == 0, warned.err
    assert "snap: Silver 2025-01-01..2025-01-02 (2 day(s), committed) will be stale" in warned.err
    assert repair_of(cli("status", "snap").out) == alone["follow_up"].split()[1:]
    quiet = cli("run", "--date", DAYS[2], "--select", "snap")  # both layers: nothing else goes stale
    assert quiet.code == 0 and "stale" not in quiet.err, quiet.err


# --- a Bronze gap inside the stale days -----------------------------------------------------------------


def drop_bronze(root: Path, day: str) -> None:
    """Bronze ``day`` of ``hist`` no longer committed (an operator removed the partition's folder)."""
    (folder,) = (root / "lake" / "bronze").glob(f"system=t/table=hist/dt={day}")
    shutil.rmtree(folder)


def test_stale_days_across_a_removed_bronze_day_are_repaired_through_it(cli: Cli, tmp_path: Path) -> None:
    """``hist`` run on 01..05, Bronze 02 committed again (Silver 02..05 stale), then Bronze 04 removed:
    the repair runs both layers from 02 (Bronze fills 04) and ``status`` is clean after it."""
    ok(cli, "run", "--date", DAYS[0], "--end-date", DAYS[4], "--select", "hist")
    ok(cli, "run", "--date", DAYS[1], "--select", "hist", "--layer", "bronze")
    drop_bronze(tmp_path, DAYS[3])
    status = cli("status", "hist")
    assert status.code == 1
    assert rows(status.out)[DAYS[3]][:2] == ["missing", "stale"]
    assert "gap: no longer committed, though 2025-01-05 is" in status.out
    assert repair_of(status.out) == ["run", "--date", DAYS[1], "--end-date", DAYS[4], "--select", "hist"]
    ok(cli, *repair_of(status.out))
    clean = cli("status", "hist")
    assert clean.code == 0, clean.out
    assert {day: cells[:2] for day, cells in rows(clean.out).items()} == {
        day: ["committed", "committed"] for day in DAYS
    }


def test_a_stale_rebuilt_state_across_a_removed_bronze_day_is_repaired_from_it(
    cli: Cli, tmp_path: Path
) -> None:
    """Bronze 01..05, Silver 04 rebuilt from Bronze 01..03 and 05 built on it; then Bronze 03 removed: Silver
    04 and 05 are stale, and a rebuild of 04 needs Bronze 03 again. The repair of the state 05 builds on
    (``plan``'s) and ``status``'s both start at 03 with Bronze; each converges."""
    ok(cli, "run", "--date", DAYS[0], "--end-date", DAYS[4], "--select", "hist", "--layer", "bronze")
    ok(cli, "run", "--date", DAYS[3], "--end-date", DAYS[4], "--select", "hist", "--layer", "silver")
    drop_bronze(tmp_path, DAYS[2])
    status = cli("status", "hist")
    assert {day: cells[:2] for day, cells in rows(status.out).items()} == {
        DAYS[0]: ["committed", "missing"],
        DAYS[1]: ["committed", "missing"],
        DAYS[2]: ["missing", "missing"],
        DAYS[3]: ["committed", "stale"],
        DAYS[4]: ["committed", "stale"],
    }
    assert repair_of(status.out) == ["run", "--date", DAYS[2], "--end-date", DAYS[4], "--select", "hist"]

    out = ok(cli, "plan", "hist", "--date", DAYS[4])
    (hint,) = [line for line in out.splitlines() if line.startswith("  repair: medallion ")]
    command = hint.removeprefix("  repair: medallion ").split()
    # Silver 04 alone would rebuild from Bronze 01..03 and fail on 03: Bronze fills it first.
    assert command == ["run", "--date", DAYS[2], "--end-date", DAYS[3], "--select", "hist"]
    ok(cli, *command)
    clean_state = ok(cli, "plan", "hist", "--date", DAYS[4])
    assert "problem" not in clean_state, clean_state
    ok(cli, "run", "--date", DAYS[4], "--select", "hist")
    assert cli("status", "hist").code == 0


# --- --select ---------------------------------------------------------------------------------------------


def ran(result: Result) -> list[str]:
    """The sources whose days the closing table lists."""
    return sorted(
        {
            cells[0]
            for cells in (line.split() for line in result.out.splitlines())
            if cells[1:2] and cells[1][:2] == "20"
        }
    )


def test_select_takes_commas_and_wildcards_like_dagster(cli: Cli) -> None:
    """``--select hist,snap`` (dagster's form) and ``--select 'h*'`` (a shell-style pattern) pick sources
    by name; a pattern that matches none is an error naming the sources, as an unknown name is."""
    assert ran(cli("run", "--date", DAYS[0], "--select", "hist,snap")) == ["hist", "snap"]
    assert ran(cli("run", "--date", DAYS[0], "--select", "h*")) == ["hist"]
    assert ran(cli("run", "--date", DAYS[0], "--select", "s?ap", "hist")) == ["hist", "snap"]
    none = cli("run", "--date", DAYS[0], "--select", "x*")
    assert none.code == 1 and "no source matches 'x*' (sources: hist, later, snap)" in none.err
    # A pattern picks what it matches today: a source matched that starts later is left out, not an error.
    every = cli("run", "--date", DAYS[0], "--select", "*")
    assert every.code == 0, every.err
    assert "later: starts on 2999-01-01, after 2025-01-01: left out" in every.out
    assert ran(every) == ["hist", "snap"]


# --- a damaged manifest -------------------------------------------------------------------------------------


def damage_manifest(root: Path, layer: str, name: str, day: str) -> Path:
    """Cut the ``_checksums.json`` of ``name``, ``day``, ``layer`` short (a torn copy, a bad disk)."""
    (manifest,) = (
        p for p in (root / "lake" / layer).rglob(f"*={day}/_checksums.json") if f"={name}/" in str(p)
    )
    manifest.write_text(manifest.read_text()[:20])
    return manifest


def test_status_lists_a_day_whose_manifest_is_damaged_and_run_replaces_it(cli: Cli, tmp_path: Path) -> None:
    """Bronze 02's manifest of ``hist`` is unreadable: ``status`` still lists every day (02 ``damaged``,
    naming the file; Silver 02 and 03, built on it, stale), exits 1 and prints the repair; ``run`` of it
    is not stopped by its checks before running, and afterwards ``status`` is clean."""
    ok(cli, "run", "--date", DAYS[0], "--end-date", DAYS[2], "--select", "hist")
    manifest = damage_manifest(tmp_path, "bronze", "hist", DAYS[1])
    status = cli("status", "hist")
    assert status.code == 1, status.out + status.err
    listed = rows(status.out)
    assert {day: cells[:2] for day, cells in listed.items()} == {
        DAYS[0]: ["committed", "committed"],
        DAYS[1]: ["damaged", "stale"],
        DAYS[2]: ["committed", "stale"],
    }
    assert "_checksums.json" in " ".join(listed[DAYS[1]]) and "not a valid manifest" in status.out
    assert repair_of(status.out) == ["run", "--date", DAYS[1], "--end-date", DAYS[2], "--select", "hist"]
    assert json.loads(cli("status", "hist", "--json").out)["days"][1]["bronze"] == "damaged"
    assert manifest.exists()

    repaired = cli(*repair_of(status.out))
    assert repaired.code == 0, repaired.out + repaired.err
    assert cli("status", "hist").code == 0


def test_inspect_names_a_part_file_missing_or_cut_short(cli: Cli, tmp_path: Path) -> None:
    """``inspect`` reads no data, but checks each listed file is there at its size (``verify`` re-hashes)."""
    ok(cli, "run", "--date", DAYS[0], "--select", "snap", "--layer", "bronze")
    (part,) = (tmp_path / "lake" / "bronze").glob(f"*/table=snap/dt={DAYS[0]}/part-*.parquet")
    size = part.stat().st_size
    assert "differ" not in ok(cli, "inspect", "snap", "--date", DAYS[0], "--layer", "bronze")
    part.write_bytes(part.read_bytes()[:-7])
    out = ok(cli, "inspect", "snap", "--date", DAYS[0], "--layer", "bronze")
    assert f"{part.name}: size {size - 7} bytes, the manifest says {size}" in out, out
    assert "1 file(s) differ from the manifest" in out and "medallion verify" in out
    (entry,) = json.loads(ok(cli, "inspect", "snap", "--date", DAYS[0], "--layer", "bronze", "--json"))
    (problem,) = entry["problems"]
    assert problem.endswith(f"{part.name}: size {size - 7} bytes, the manifest says {size}")
    part.unlink()
    assert f"{part.name}: missing (listed in the manifest)" in ok(
        cli, "inspect", "snap", "--date", DAYS[0], "--layer", "bronze"
    )


def test_plan_reads_around_a_damaged_commit_and_names_it(cli: Cli, tmp_path: Path) -> None:
    """Silver 02's manifest of ``hist`` is unreadable. A range from 03 reads it as its state, so ``plan``
    names it as a problem with a repair from 02; a range from 02 replaces it, and says the later day it
    leaves stale. Neither stops on the damaged file."""
    ok(cli, "run", "--date", DAYS[0], "--end-date", DAYS[2], "--select", "hist")
    damage_manifest(tmp_path, "silver", "hist", DAYS[1])
    later = json.loads(ok(cli, "plan", "hist", "--date", DAYS[2], "--json"))
    (problem,) = later["problems"]
    assert (
        problem.startswith("Silver 2025-01-02: its commit cannot be read (") and "_checksums.json" in problem
    )
    assert later["repair"] == f"medallion run --date {DAYS[1]} --end-date {DAYS[2]} --select hist"
    assert later["state"] == "read from Silver 2025-01-02 (its commit cannot be read)"
    itself = json.loads(ok(cli, "plan", "hist", "--date", DAYS[1], "--json"))
    assert itself["problems"] == [] and itself["stale_after"] == [DAYS[2]]
    assert (
        itself["follow_up"]
        == f"medallion run --date {DAYS[2]} --end-date {DAYS[2]} --select hist --layer silver"
    )
    ok(cli, *later["repair"].split()[1:])
    assert cli("status", "hist").code == 0


def test_the_stale_sensor_reads_around_a_damaged_commit(cli: Cli, tmp_path: Path) -> None:
    """``medallion_silver_inputs`` judges every source's Silver days in one tick: one unreadable Bronze
    manifest of ``hist`` must not fail the tick (nor hide ``snap``'s days); what reads it is stale."""
    import dagster as dg

    from medallion_assets.factory import build_definitions
    from medallion_assets.instance import get_instance

    ok(cli, "run", "--date", DAYS[0], "--end-date", DAYS[2], "--select", "hist", "snap")
    damage_manifest(tmp_path, "bronze", "hist", DAYS[1])
    sensor = build_definitions(Lake.load(tmp_path / "configs").config).resolve_sensor_def(
        "medallion_silver_inputs"
    )
    tick = sensor(dg.build_sensor_context(instance=get_instance()))
    failing = {(e.asset_key.path[-1], e.partition): e.description for e in tick.asset_events if not e.passed}
    assert set(failing) == {("hist", DAYS[1]), ("hist", DAYS[2])}
    assert "Bronze 2025-01-02, its input, cannot be read" in failing[("hist", DAYS[1])]
    assert "Silver 2025-01-02, its input, is stale" in failing[("hist", DAYS[2])]
    # status says the same of both days
    listed = rows(cli("status", "hist").out)
    assert "Bronze 2025-01-02, its input, cannot be read (its commit is damaged)" in " ".join(listed[DAYS[1]])


def test_a_corrupted_shared_silver_file_is_refused_and_repaired_from_the_day_that_wrote_it(
    cli: Cli, tmp_path: Path
) -> None:
    """Silver 02 of ``hist`` lists, by reference, a ``history`` file Silver 01 wrote; its bytes change (same
    size). ``verify`` of either day names it, a read refuses it, ``inspect`` (sizes only) does not see it,
    and Silver 03 fails rather than read it. Running the day that wrote it (01) again, then the repair
    ``status`` prints, makes every day verify and ``status`` clean."""
    import medallion_assets
    from medallion_resources.errors import IntegrityError

    ok(cli, "run", "--date", DAYS[0], "--end-date", DAYS[1], "--select", "hist")
    (shared,) = (tmp_path / "lake" / "silver").rglob(f"load_date={DAYS[0]}/history-part-*.parquet")
    data = bytearray(shared.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shared.write_bytes(bytes(data))
    for day in DAYS[:2]:
        bad = cli("verify", "hist", "--date", day, "--layer", "silver")
        assert bad.code == 1 and shared.name in bad.err and "SHA-256" in bad.err, bad.err
    with pytest.raises(IntegrityError, match=shared.name):
        medallion_assets.read(
            "hist", artifact="history", as_of=DAYS[1], config_dir=tmp_path / "configs"
        ).collect()
    assert cli("run", "--date", DAYS[2], "--select", "hist").code == 1
    assert shared.name in " ".join(rows(cli("status", "hist").out)[DAYS[2]])  # the run's error names it

    ok(cli, "run", "--date", DAYS[0], "--select", "hist", "--layer", "silver")
    status = cli("status", "hist")
    assert status.code == 1
    ok(cli, *repair_of(status.out))
    assert cli("status", "hist").code == 0
    for day in DAYS[:3]:
        ok(cli, "verify", "hist", "--date", day)
