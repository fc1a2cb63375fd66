"""The persistent Dagster instance the CLI runs on: one function, so every verb gets it the same way.

``$DAGSTER_HOME``, else ``./.dagster_home`` (the folder ``make ui`` uses, so CLI runs show in the UI). A new
home gets the project's ``deploy/dagster.yaml`` (telemetry off, run monitoring, the run queue's per-source
limits).

- **Created under a file lock.** Two ``medallion run`` processes starting on a new home raced to create
  Dagster's SQLite tables and one died with a traceback: creating the instance (and its tables) holds an
  exclusive lock on ``<home>/.medallion-instance.lock``.
- **Dead runs reaped.** A run whose ``medallion run`` process was killed stays STARTED and blocks its
  source's queued runs (one run per source): when the instance is made, the runs of this host whose
  process is gone are marked failed (:mod:`medallion_assets.run_launcher`; the daemon's run monitoring
  does the same).
- **A cheaper event log.** When ``dagster.yaml`` leaves storage to Dagster's SQLite default, the instance's
  event log is :class:`~medallion_resources.sqlite_event_log.KeptConnectionSqliteEventLogStorage` (one
  connection per run, not one per event; the same files), given as an override with the home's own path,
  so it never depends on ``DAGSTER_HOME`` pointing elsewhere and ``dagster dev`` keeps Dagster's class.
  Its run and schedule storages (:mod:`medallion_resources.sqlite_storages`) open the same files without
  importing Dagster's ~90 migration scripts to learn a head revision they do not use.

Dagster is imported here, not at module import, so verbs that do not run anything never load it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from filelock import FileLock

from medallion_resources.errors import ConfigError, ConfigIssue
from medallion_resources.processes import ProcessRef, host_id

if TYPE_CHECKING:
    import dagster as dg

__all__ = [
    "HOST_TAG",
    "dagster_home",
    "dispose_instance",
    "get_instance",
    "process_tags",
    "reap_dead_runs",
    "storage_overrides",
]

HOST_TAG = "medallion/host"  # this host's id: lets the CLI find its own runs without reading every run
TEMPLATE = Path(__file__).resolve().parents[1] / "deploy" / "dagster.yaml"
STORAGE_KEYS = ("storage", "run_storage", "event_log_storage", "schedule_storage")
LOCK_NAME = ".medallion-instance.lock"


def dagster_home() -> Path:
    """``$DAGSTER_HOME`` or ``./.dagster_home``, created (with the project's dagster.yaml when new)."""
    home = Path(os.environ.get("DAGSTER_HOME") or Path(".dagster_home").resolve())
    home.mkdir(parents=True, exist_ok=True)
    with FileLock(str(home / LOCK_NAME)):
        if not (home / "dagster.yaml").exists() and TEMPLATE.exists():
            shutil.copyfile(TEMPLATE, home / "dagster.yaml")
    return home


_instances: dict[Path, dg.DagsterInstance] = {}


def get_instance() -> dg.DagsterInstance:
    """The persistent instance of :func:`dagster_home`; one per home and process, shared by every caller.

    Made under the home's lock (its storages create their SQLite tables then), then this host's dead
    CLI runs are marked failed.
    """
    home = dagster_home()
    if home in _instances:
        return _instances[home]
    from dagster import DagsterInstance, DagsterInvalidConfigError
    from dagster._check import CheckError
    from dagster._core.instance.ref import InstanceRef

    os.environ["DAGSTER_HOME"] = str(home)
    try:
        with FileLock(str(home / LOCK_NAME)):
            ref = InstanceRef.from_dir(str(home), overrides=storage_overrides(home))
            instance = DagsterInstance.from_ref(ref)
            instance.get_runs(limit=1)  # the run storage's tables exist before the lock is released
        # Every run loads it (its concurrency settings): a class that does not import fails here, once,
        # rather than every run, each with an error that does not name the file.
        _ = instance.run_coordinator
    except (yaml.YAMLError, DagsterInvalidConfigError, CheckError) as exc:
        raise ConfigError(
            [
                ConfigIssue(
                    str(home / "dagster.yaml"),
                    "",
                    f"the Dagster instance does not load: {str(exc).strip()}",
                    "fix the file, or move it away: a home without one gets the project's "
                    "deploy/dagster.yaml",
                )
            ]
        ) from exc
    reap_dead_runs(instance)
    _instances[home] = instance
    return instance


def storage_overrides(home: Path) -> dict[str, Any]:
    """What the CLI's instance changes of Dagster's defaults, where the home's dagster.yaml keeps them.

    Storage left to the SQLite default: the kept-connection event log (one connection per run, not per
    event) and run and schedule storages that open a stamped database without parsing the migrations.
    ``compute_logs`` left to the local default: the same files without the terminal mirror (four processes
    per run; the CLI's display owns the terminal).
    """
    path = home / "dagster.yaml"
    config = (yaml.safe_load(path.read_text()) if path.exists() else None) or {}
    overrides: dict[str, Any] = {}
    if not any(key in config for key in STORAGE_KEYS):
        overrides["event_log_storage"] = {
            "module": "medallion_resources.sqlite_event_log",
            "class": "KeptConnectionSqliteEventLogStorage",
            "config": {"base_dir": str(home)},
        }
        for key, name, folder in (
            ("run_storage", "StampedSqliteRunStorage", "history"),  # Dagster's default places
            ("schedule_storage", "StampedSqliteScheduleStorage", "schedules"),
        ):
            overrides[key] = {
                "module": "medallion_resources.sqlite_storages",
                "class": name,
                "config": {"base_dir": str(home / folder)},
            }
    if "compute_logs" not in config:
        overrides["compute_logs"] = {
            "module": "medallion_resources.compute_logs",
            "class": "FileOnlyComputeLogManager",
            "config": {"base_dir": str(home / "storage")},  # where Dagster's default writes them
        }
    return overrides


def dispose_instance() -> None:
    """Close the instances of :func:`get_instance`, if any were made (their storages' connections)."""
    while _instances:
        _instances.popitem()[1].dispose()


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
