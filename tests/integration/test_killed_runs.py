"""A killed ``medallion run`` does not block its source for ever.

The CLI runs outside the run queue but holds its source's one slot (``deploy/dagster.yaml``: one run per
source) while its run is STARTED. SIGKILLed, it used to leave that run STARTED for good, and every queued run
of the source (schedules, sensors, backfills) waited for ever. Now the daemon's run monitoring fails it (the
run launcher checks the CLI process named in the run's tags), and so does the next ``medallion`` command on
the same host. Real processes, a real instance, the real daemon (``dagster dev``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pytest

from medallion_assets.run_launcher import PROCESS_TAG

from .dagster_dev import dagster_dev, wait_for

pytestmark = pytest.mark.slow
MEDALLION = str(Path(sys.executable).parent / "medallion")
SOURCE = "retail_orders"


@contextmanager
def instance_of(env: dict[str, str]) -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        yield instance


def kill_mid_run(env: dict[str, str]) -> str:
    """Start ``medallion run`` over a few days of SOURCE, SIGKILL it once its run is STARTED; the run id."""
    process = subprocess.Popen(
        [MEDALLION, "run", "--date", "2025-01-01", "--end-date", "2025-01-08", "--select", SOURCE],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with instance_of(env) as instance:

            def started() -> str | None:
                records = instance.get_run_records(
                    dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED], tags={"medallion/source": SOURCE})
                )
                return records[0].dagster_run.run_id if records else None

            run_id = wait_for(started, 120, "the CLI's run to start", interval=0.05)
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
            time.sleep(1)
            run = instance.get_run_by_id(run_id)
            assert run is not None and run.status == dg.DagsterRunStatus.STARTED  # what the kill leaves
            assert PROCESS_TAG in run.tags
            return run_id
    finally:
        if process.poll() is None:
            process.kill()


def failure_message(instance: dg.DagsterInstance, run_id: str) -> str:
    [record] = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.RUN_FAILURE).records
    return record.event_log_entry.dagster_event.message or ""


def test_the_daemon_fails_a_killed_cli_run_and_the_queued_run_of_its_source_completes(
    lake_env: dict[str, str], tmp_path: Path
) -> None:
    killed = kill_mid_run(lake_env)
    with dagster_dev({**os.environ, **lake_env}, tmp_path / "dagster_dev.log") as dev:
        # The first day: Silver needs no earlier one.
        backfill_id = dev.launch_job_backfill(SOURCE, ["2025-01-01"])
        with instance_of(lake_env) as instance:

            def queued_run_done() -> dg.DagsterRun | None:
                runs = instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
                return runs[0] if runs and runs[0].is_finished else None

            try:
                run = wait_for(queued_run_done, 240, "the queued run of the killed run's source to finish", 2)
            except AssertionError as exc:
                raise AssertionError(f"{exc}\n{dev.tail()}") from None
            assert run.status == dg.DagsterRunStatus.SUCCESS, dev.tail()
            dead = instance.get_run_by_id(killed)
            assert dead is not None and dead.status == dg.DagsterRunStatus.FAILURE
            message = failure_message(instance, killed)
            assert "the medallion CLI process that executed this run (pid" in message, message
            assert "is gone" in message


def test_the_next_cli_command_fails_its_hosts_killed_runs(lake_env: dict[str, str]) -> None:
    killed = kill_mid_run(lake_env)
    status = subprocess.run(
        [MEDALLION, "status", SOURCE, "--end", "2025-01-02"],
        env={**os.environ, **lake_env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "Traceback" not in status.stderr, status.stderr
    with instance_of(lake_env) as instance:
        dead = instance.get_run_by_id(killed)
        assert dead is not None and dead.status == dg.DagsterRunStatus.FAILURE
        assert failure_message(instance, killed).startswith("Marked failed by medallion: the medallion CLI")
