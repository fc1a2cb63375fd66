"""``medallion run`` and ``medallion plan`` as users run them: the command in a subprocess, then the Dagster
instance it wrote (runs, event log) and the lake's files.

A range is one Dagster run of ``<source>_job`` per source (up to 31 days), each day its own materialization
with its own metadata; ``plan`` says what a range would do and changes nothing.
"""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
import threading
from pathlib import Path

import dagster as dg
import pytest

from medallion_assets.lake import Lake

pytestmark = pytest.mark.slow
MEDALLION = str(Path(sys.executable).parent / "medallion")
DAYS = [f"2025-01-{d:02d}" for d in range(1, 6)]
ANSI = re.compile(r"\x1b\[")


def medallion(*args: str, env: dict[str, str], extra: dict[str, str] | None = None):
    return subprocess.run(
        [MEDALLION, *args],
        env={**os.environ, **env, **(extra or {})},
        capture_output=True,
        text=True,
        timeout=600,
    )


def instance(env: dict[str, str]) -> dg.DagsterInstance:
    return dg.DagsterInstance.from_config(env["DAGSTER_HOME"])


def test_a_range_is_one_run_of_each_sources_job_with_a_materialization_per_day(
    lake_env: dict[str, str],
) -> None:
    sources = ["retail_orders", "retail_customers"]
    done = medallion("run", "--date", DAYS[0], "--end-date", DAYS[-1], "--select", *sources, env=lake_env)
    assert done.returncode == 0, done.stderr + done.stdout
    lake = Lake.load()
    with instance(lake_env) as inst:
        runs = inst.get_runs()
        # One run per source for the 5 days (not 5 per source), under the source's job, not the ephemeral one.
        assert sorted(r.job_name for r in runs) == sorted(f"{s}_job" for s in sources)
        for run in runs:
            assert run.is_success
            assert run.tags["dagster/asset_partition_range_start"] == DAYS[0]
            assert run.tags["dagster/asset_partition_range_end"] == DAYS[-1]
            assert run.tags["medallion/source"] in sources
        for name in sources:
            spec = lake.spec(name)
            for layer, key in (("bronze", spec.bronze_key), ("silver", spec.silver_key)):
                records = inst.fetch_materializations(dg.AssetRecordsFilter(asset_key=key), limit=100).records
                by_day = {r.asset_materialization.partition: r.asset_materialization for r in records}
                assert sorted(by_day) == DAYS, (name, layer)  # each day once, reported on its own
                for day, mat in by_day.items():
                    part = lake.committed(spec, layer, day)
                    assert part is not None
                    assert mat.metadata["manifest_sha256"].value == part.manifest.sha256
    # The per-day lines and the summary, as before.
    assert f"[1/10] retail_orders {DAYS[0]}: bronze " in done.stdout
    assert f"retail_customers  {DAYS[-1]}  silver" in done.stdout
    assert "2 Dagster run(s)" in done.stdout
    assert not ANSI.search(done.stdout + done.stderr)  # not a terminal: plain lines


def test_a_run_entirely_before_the_start_date_says_so_and_exits_1(lake_env: dict[str, str]) -> None:
    early = medallion(
        "run", "--date", "2024-12-01", "--end-date", "2024-12-31", "--select", "retail_orders", env=lake_env
    )
    assert early.returncode == 1
    assert (
        "retail_orders: nothing to run, 2024-12-01..2024-12-31 is before its start date 2025-01-01"
        in early.stderr
    )
    with instance(lake_env) as inst:
        assert inst.get_runs() == []
    # A range that starts before and ends after: the days from the start date run, and it says so.
    partly = medallion(
        "run", "--date", "2024-12-31", "--end-date", "2025-01-01", "--select", "retail_orders", env=lake_env
    )
    assert partly.returncode == 0, partly.stderr
    assert "partitions start 2025-01-01; the days before it are left out" in partly.stdout
    assert "[1/1] retail_orders 2025-01-01: bronze" in partly.stdout


def test_days_after_the_last_partition_are_left_out_and_a_run_of_only_those_exits_1(
    lake_env: dict[str, str],
) -> None:
    from datetime import UTC, datetime, timedelta

    today = datetime.now(UTC).date()  # the sample sources' partitions are UTC days, end_offset 0
    yesterday, tomorrow = today - timedelta(days=1), today + timedelta(days=1)
    # Today is not over: its partition does not exist yet (a traceback of Dagster's, before).
    for args in (["--date", str(today)], ["--date", str(today), "--end-date", str(tomorrow)]):
        late = medallion("run", *args, "--select", "retail_orders", env=lake_env)
        assert late.returncode == 1, late.stderr
        assert "Traceback" not in late.stderr, late.stderr
        assert f"retail_orders: nothing to run, {args[1]}" in late.stderr, late.stderr
        assert f"after its last partition {yesterday}" in late.stderr, late.stderr
    with instance(lake_env) as inst:
        assert inst.get_runs() == []
    # A range that ends after it: the days up to the last partition run, and it says so.
    partly = medallion(
        "run",
        "--date",
        str(yesterday),
        "--end-date",
        str(tomorrow),
        "--select",
        "retail_orders",
        env=lake_env,
    )
    assert f"last partition is {yesterday}; the days after it are left out" in partly.stdout, partly.stdout
    with instance(lake_env) as inst:
        [run] = inst.get_runs()  # yesterday only (its file is missing: that day fails)
        assert run.tags["dagster/partition"] == str(yesterday)
    plan = medallion(
        "plan", "retail_orders", "--date", str(yesterday), "--end-date", str(tomorrow), env=lake_env
    )
    assert plan.returncode == 0 and f"{yesterday}..{yesterday} (1 day(s))" in plan.stdout, plan.stdout


@pytest.mark.parametrize(
    ("instance_yaml", "problem"),
    [
        ("telemetry: [\n", "expected the node content"),  # not YAML
        ("telemetry:\n  enabled: false\nbogus_key: 1\n", 'unexpected config entry "bogus_key"'),
        ("run_coordinator:\n  module: nope.mod\n  class: X\n", "nope.mod"),  # every run loads it
    ],
)
def test_a_broken_dagster_yaml_is_one_clear_error_before_anything_runs(
    lake_env: dict[str, str], instance_yaml: str, problem: str
) -> None:
    yaml_file = Path(lake_env["DAGSTER_HOME"]) / "dagster.yaml"
    yaml_file.write_text(instance_yaml)
    for args in (["run", "--date", DAYS[0], "--select", "retail_orders"], ["status", "retail_orders"]):
        done = medallion(*args, env=lake_env)
        assert done.returncode == 1, done.stdout + done.stderr
        assert "Traceback" not in done.stderr, done.stderr
        assert str(yaml_file) in done.stderr and problem in done.stderr, done.stderr
        assert "[1/" not in done.stdout + done.stderr  # nothing ran
    lake = Lake.load()
    assert lake.committed(lake.spec("retail_orders"), "bronze", DAYS[0]) is None


def test_progress_within_a_partition_when_not_a_terminal(lake_env: dict[str, str]) -> None:
    done = medallion(
        "run",
        "--date",
        DAYS[0],
        "--select",
        "retail_orders",
        env=lake_env,
        extra={"MEDALLION_PROGRESS_SECONDS": "0"},
    )
    assert done.returncode == 0, done.stderr
    rows = Lake.load().committed(Lake.load().spec("retail_orders"), "bronze", DAYS[0])
    assert rows is not None
    # Rows and bytes of the partition being written, before its day line.
    progress = [line for line in done.stdout.splitlines() if line.startswith("  ... retail_orders bronze")]
    assert progress and re.search(rf"{DAYS[0]}: [\d,]+ rows, [\d.]+ (B|KB|MB) so far", progress[-1]), (
        done.stdout
    )
    assert done.stdout.index(progress[0]) < done.stdout.index("[1/1] retail_orders")
    # The display writes past Dagster's capture of the run's stdout: the run's compute logs stay clean.
    with instance(lake_env) as inst:
        [run] = inst.get_runs()
        logs = [
            p
            for p in Path(lake_env["DAGSTER_HOME"], "storage", run.run_id).rglob("*")
            if p.suffix in (".out", ".err")
        ]
        assert logs  # the run's stdout and stderr were captured
        captured = "".join(p.read_text() for p in logs)
        assert "retail_orders bronze" not in captured and "[1/1]" not in captured


def test_live_bars_on_a_terminal(lake_env: dict[str, str]) -> None:
    leader, follower = pty.openpty()
    child = subprocess.Popen(
        [MEDALLION, "run", "--date", DAYS[0], "--end-date", DAYS[1], "--select", "retail_orders"],
        env={**os.environ, **lake_env, "COLUMNS": "160", "TERM": "xterm"},
        stdout=subprocess.PIPE,
        stderr=follower,
        text=True,
    )
    os.close(follower)
    chunks: list[bytes] = []

    def drain() -> None:  # read while the command runs: a full terminal buffer would block it
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    stdout, _ = child.communicate(timeout=600)
    reader.join(timeout=30)
    os.close(leader)
    done = subprocess.CompletedProcess(child.args, child.returncode, stdout, "")
    screen = b"".join(chunks)
    text = screen.decode(errors="replace")
    assert done.returncode == 0, text
    assert "retail_orders bronze" in text and "retail_orders silver" in text  # a bar per source and layer
    assert "days" in text and ANSI.search(text)
    assert f"retail_orders {DAYS[1]}: bronze" in text  # the day lines print above the bars
    assert "retail_orders  2025-01-02  silver" in done.stdout  # the summary stays on stdout


def test_a_failing_bronze_day_fails_only_itself_and_silver_runs_for_the_days_before_it(
    lake_env: dict[str, str], tmp_path: Path, sample_dir: Path
) -> None:
    import shutil

    sample = tmp_path / "sample"
    shutil.copytree(sample_dir, sample)
    (sample / "retail" / "orders" / "orders_20250104.jsonl").unlink()
    env = {**lake_env, "MEDALLION_SAMPLE_DIR": str(sample)}
    done = medallion("run", "--date", DAYS[0], "--end-date", DAYS[-1], "--select", "retail_orders", env=env)
    assert done.returncode == 1
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.startswith("[")]
    assert len(lines) == 5, lines
    for line in lines[:3]:
        assert re.search(r": bronze \d+ rows/1 files, silver \d+ rows/\d+ files \(", line), line
    day4 = next(line for line in lines if "2025-01-04" in line)
    assert "bronze FAILED" in day4 and "matched no files" in day4 and day4.endswith("; silver not run")
    day5 = next(line for line in lines if "2025-01-05" in line)
    # Bronze 5 commits; Silver 5 (scd_type_1 builds on day 4) is not run.
    assert "bronze " in day5 and "committed" in day5 and "silver not run" in day5, day5
    lake = Lake.load()
    spec = lake.spec("retail_orders")
    assert [lake.committed(spec, "silver", d) is not None for d in DAYS] == [True, True, True, False, False]
    assert [lake.committed(spec, "bronze", d) is not None for d in DAYS] == [True, True, True, False, True]
    with instance(lake_env) as inst:
        runs = inst.get_runs()
        # The range run, and one Silver-only run for the days the range's skipped Silver step could build.
        assert len(runs) == 2 and {r.job_name for r in runs} == {"retail_orders_job"}
        silver = inst.get_status_by_partition(spec.silver_key, DAYS, _partitions(lake, spec)) or {}
        materialized = dg.AssetPartitionStatus.MATERIALIZED
        assert [silver.get(d) == materialized for d in DAYS] == [True, True, True, False, False]


def test_status_after_a_failed_range_gives_each_day_its_error_on_one_line_and_the_repair(
    lake_env: dict[str, str], tmp_path: Path, sample_dir: Path
) -> None:
    import shutil

    sample = tmp_path / "sample"
    shutil.copytree(sample_dir, sample)
    (sample / "retail" / "orders" / "orders_20250103.jsonl").unlink()
    env = {**lake_env, "MEDALLION_SAMPLE_DIR": str(sample)}
    done = medallion("run", "--date", DAYS[0], "--end-date", DAYS[-1], "--select", "retail_orders", env=env)
    assert done.returncode == 1
    status = medallion("status", "retail_orders", env=env, extra={"COLUMNS": "80"})
    assert status.returncode == 1
    rows = status.stdout.split("\n\n")[0].splitlines()
    # The header, its dashes, one row per day: a range's error (every day of it listed) never breaks a row.
    assert len(rows) == 2 + len(DAYS), status.stdout
    notes = {row[:10]: row for row in rows[2:]}
    assert "failed" not in notes[DAYS[1]]
    # Bronze of the failing day: its own error; Silver of it and of the day after: not run, and why.
    assert re.search(r"bronze: run \w+: ExtractError: .*matched no files", notes[DAYS[2]]), notes[DAYS[2]]
    for day in DAYS[2:4]:
        assert "silver: run" in notes[day] and "not run" in notes[day], notes[day]
        assert "partition(s) failed" not in notes[day], notes[day]  # the range's summary is not a day's note
    # The error is said once: Silver of that day names the Bronze failure beside it, not its text again.
    assert notes[DAYS[2]].count("matched no files") == 1, notes[DAYS[2]]
    assert "silver: run" in notes[DAYS[2]] and "not run, its Bronze failed" in notes[DAYS[2]], notes[DAYS[2]]
    # The dashes under the header stop at an 80-column terminal's edge: a long note wraps, not the rule.
    assert max(len(line) for line in rows[:2]) <= 80, rows[:2]
    # Bronze of the last two days committed: no bronze note.
    assert "bronze: run" not in notes[DAYS[3]] and "bronze: run" not in notes[DAYS[4]]
    # The repair command covers the failed days, both layers (Bronze failed), and it repairs them.
    repair = f"medallion run --date {DAYS[2]} --end-date {DAYS[4]} --select retail_orders"
    assert f"repair: {repair}\n" in status.stdout, status.stdout
    shutil.copy(sample_dir / "retail" / "orders" / "orders_20250103.jsonl", sample / "retail" / "orders")
    repaired = medallion(*repair.split()[1:], env=env)
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    after = medallion("status", "retail_orders", env=env)
    assert after.returncode == 0 and "repair" not in after.stdout, after.stdout


def test_status_of_a_day_whose_re_run_failed_says_its_earlier_commit_stands(
    lake_env: dict[str, str], tmp_path: Path, sample_dir: Path
) -> None:
    """Said only "failed" and the error: a reader of the status took the day for lost, though the lake
    still serves (and verifies) the commit the failed re-run left in place."""
    import shutil

    sample = tmp_path / "sample"
    shutil.copytree(sample_dir, sample)
    env = {**lake_env, "MEDALLION_SAMPLE_DIR": str(sample)}
    first = medallion("run", "--date", DAYS[0], "--select", "retail_orders", env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    (sample / "retail" / "orders" / "orders_20250101.jsonl").unlink()
    again = medallion("run", "--date", DAYS[0], "--select", "retail_orders", env=env)
    assert again.returncode == 1, again.stdout
    status = medallion("status", "retail_orders", env=env)
    assert status.returncode == 1, status.stdout
    row = next(line for line in status.stdout.splitlines() if line.startswith(DAYS[0]))
    assert "failed" in row and "matched no files" in row, row
    committed_by = Lake.load().committed(Lake.load().spec("retail_orders"), "bronze", DAYS[0])
    assert committed_by is not None
    run_id = str(committed_by.metadata["dagster_run_id"])[:8]
    assert f"bronze: the earlier commit of run {run_id} still stands" in row, row
    assert f"silver: the earlier commit of run {run_id} still stands" in row, row
    verify = medallion("verify", "retail_orders", "--date", DAYS[0], env=env)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def _partitions(lake: Lake, spec):
    from medallion_assets.assets import partitions_def_for

    return partitions_def_for(spec)


def test_plan_says_what_a_range_would_do_and_runs_nothing(lake_env: dict[str, str]) -> None:
    before = medallion(
        "plan", "retail_orders", "--date", "2025-01-03", "--end-date", "2025-02-10", env=lake_env
    )
    assert before.returncode == 0, before.stderr
    out = before.stdout
    assert (
        "plan: retail_orders 2025-01-03..2025-02-10 (39 day(s)), bronze + silver, scd_type_1 (stateful)"
        in out
    )
    assert "runs: 2 Dagster run(s) of retail_orders_job" in out
    assert (
        "run 1: 2025-01-03..2025-02-02 (31 day(s))" in out
        and "run 2: 2025-02-03..2025-02-10 (8 day(s))" in out
    )
    assert "state before 2025-01-03: rebuilt from Bronze 2025-01-01..2025-01-02" in out
    assert "problem: the rebuild needs Bronze 2025-01-01, 2025-01-02, not committed" in out
    assert "nothing was run" in out
    lake_dir = Path(lake_env["MEDALLION_LAKE_DIR"])
    assert not lake_dir.exists() or not any(lake_dir.rglob("_checksums.json"))
    with instance(lake_env) as inst:
        assert inst.get_runs() == []

    assert (
        medallion(
            "run",
            "--date",
            "2025-01-01",
            "--end-date",
            "2025-01-02",
            "--select",
            "retail_orders",
            env=lake_env,
        ).returncode
        == 0
    )
    after = json.loads(
        medallion(
            "plan",
            "retail_orders",
            "--date",
            "2025-01-02",
            "--end-date",
            "2025-01-05",
            "--json",
            env=lake_env,
        ).stdout
    )
    assert after["state"] == "read from Silver 2025-01-01 (committed)"
    assert after["bronze_committed"] == ["2025-01-02"] and after["silver_committed"] == ["2025-01-02"]
    assert after["bronze_missing"] == ["2025-01-03", "2025-01-04", "2025-01-05"]
    assert after["runs"] == [{"first": "2025-01-02", "last": "2025-01-05", "days": 4}]
    assert after["watermark_from"] == "2025-01-01" and after["problems"] == []
    silver_only = json.loads(
        medallion(
            "plan", "retail_orders", "--date", "2025-01-03", "--layer", "silver", "--json", env=lake_env
        ).stdout
    )
    assert silver_only["bronze_missing"] == ["2025-01-03"]
    assert "Silver only: Bronze is missing on 2025-01-03" in silver_only["problems"][0]
    with instance(lake_env) as inst:
        assert len(inst.get_runs()) == 1  # plan added none

    early = medallion("plan", "retail_orders", "--date", "2024-01-01", env=lake_env)
    assert early.returncode == 1 and "is before its start date 2025-01-01" in early.stderr


def test_each_day_line_and_the_summary_count_the_same_files(lake_env: dict[str, str]) -> None:
    """A Silver day carries the files of the days before it by reference: its day line counted every file
    the manifest lists (11 on day 6 of retail_orders) while the summary counted the files it wrote (2)."""
    days = [f"2025-01-{d:02d}" for d in range(1, 7)]
    done = medallion(
        "run", "--date", days[0], "--end-date", days[-1], "--select", "retail_orders", env=lake_env
    )
    assert done.returncode == 0, done.stderr + done.stdout
    lines = {
        match[1]: (int(match[2]), int(match[3]))
        for match in re.finditer(
            r"retail_orders (\S+): bronze [\d,]+ rows/(\d+) files.*?, silver [\d,]+ rows/(\d+) files",
            done.stdout,
        )
    }
    summary = {
        (cells[1], cells[2]): int(cells[4])
        for cells in (line.split() for line in done.stdout.splitlines())
        if len(cells) >= 6 and cells[0] == "retail_orders" and cells[2] in ("bronze", "silver")
    }
    assert sorted(lines) == days, done.stdout
    for day, (bronze_files, silver_files) in lines.items():
        assert (bronze_files, silver_files) == (summary[(day, "bronze")], summary[(day, "silver")]), day
    lake = Lake.load()
    last = lake.committed(lake.spec("retail_orders"), "silver", days[-1])
    assert last is not None and len(last.manifest.files) > lines[days[-1]][1]  # it does carry files
