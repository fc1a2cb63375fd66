"""The CLI's Dagster instance: created under a file lock, with this host's dead CLI runs marked failed.

``$DAGSTER_HOME`` (else ``./.dagster_home``, shared with ``make ui``) gets the project's
``deploy/dagster.yaml`` when it has none. Two ``medallion run`` processes starting on a new home raced to
create Dagster's SQLite tables and one died with a traceback: creating the instance (and its tables) holds
an exclusive lock on ``<home>/.medallion-instance.lock``. A run whose ``medallion run`` process was killed
stays STARTED and blocks its source's queued runs (one run per source): on start, the CLI marks the runs of
its own host whose process is gone failed (:mod:`medallion_assets.run_launcher`; the daemon's run
monitoring does the same). Dagster is imported lazily: ``medallion --help`` and ``validate`` never load it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from filelock import FileLock

from medallion_resources.processes import ProcessRef, host_id

if TYPE_CHECKING:
    import dagster as dg

__all__ = ["HOST_TAG", "cli_instance", "dagster_home", "process_tags", "reap_dead_runs"]

HOST_TAG = "medallion/host"  # this host's id: lets the CLI find its own runs without reading every run
TEMPLATE = Path(__file__).resolve().parents[1] / "deploy" / "dagster.yaml"
LOCK_NAME = ".medallion-instance.lock"


def dagster_home() -> Path:
    """``$DAGSTER_HOME``, else ``./.dagster_home``; created (with the project's dagster.yaml) when missing."""
    home = Path(os.environ.get("DAGSTER_HOME") or Path(".dagster_home").resolve())
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def cli_instance() -> dg.DagsterInstance:
    """The persistent instance of the CLI: created under the home's lock, then dead runs reaped."""
    from dagster import DagsterInstance

    home = dagster_home()
    with FileLock(str(home / LOCK_NAME)):
        if not (home / "dagster.yaml").exists() and TEMPLATE.exists():
            shutil.copyfile(TEMPLATE, home / "dagster.yaml")
        instance = DagsterInstance.get()  # its storages create their SQLite tables here
        instance.get_runs(limit=1)
    reap_dead_runs(instance)
    return instance


def process_tags() -> dict[str, str]:
    """Tags of every run the CLI executes: which process on which host runs it."""
    from medallion_assets.run_launcher import PROCESS_TAG

    return {PROCESS_TAG: ProcessRef.current().token, HOST_TAG: host_id()}


def reap_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed every STARTED or STARTING run of this host whose CLI process is gone; their ids."""
    from dagster import DagsterRunStatus, RunsFilter

    from medallion_assets.run_launcher import dead_reason

    statuses = [DagsterRunStatus.STARTED, DagsterRunStatus.STARTING]
    records = instance.get_run_records(RunsFilter(statuses=statuses, tags={HOST_TAG: host_id()}))
    reaped = []
    for record in records:
        run = record.dagster_run
        reason = dead_reason(run)
        if reason is not None:
            instance.report_run_failed(run, f"Marked failed by medallion: {reason}")
            reaped.append(run.run_id)
    return reaped
