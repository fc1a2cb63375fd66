"""The persistent Dagster instance the CLI runs on: one function, so every verb gets it the same way.

``$DAGSTER_HOME``, else ``./.dagster_home`` (the folder ``make ui`` uses, so CLI runs show in the UI). A new
home gets the project's ``deploy/dagster.yaml`` (telemetry off, the run queue's per-source limits). When that
file leaves storage to Dagster's SQLite default, the instance's event log is
:class:`~medallion_resources.sqlite_event_log.KeptConnectionSqliteEventLogStorage` (one connection per run,
not one per event; the same files), given as an override with the home's own path, so it never depends on
``DAGSTER_HOME`` pointing elsewhere and ``dagster dev`` keeps Dagster's class. Dagster is imported here, not
at module import, so verbs that do not run anything never load it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    import dagster as dg

__all__ = ["dagster_home", "dispose_instance", "get_instance", "storage_overrides"]

TEMPLATE = Path(__file__).resolve().parents[1] / "deploy" / "dagster.yaml"
STORAGE_KEYS = ("storage", "run_storage", "event_log_storage", "schedule_storage")


def dagster_home() -> Path:
    """``$DAGSTER_HOME`` or ``./.dagster_home``, created with the project's dagster.yaml when new."""
    home = Path(os.environ.get("DAGSTER_HOME") or Path(".dagster_home").resolve())
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists() and TEMPLATE.exists():
        shutil.copyfile(TEMPLATE, home / "dagster.yaml")
    return home


_instances: dict[Path, dg.DagsterInstance] = {}


def get_instance() -> dg.DagsterInstance:
    """The persistent instance of :func:`dagster_home`; one per home and process, shared by every caller."""
    home = dagster_home()
    if home in _instances:
        return _instances[home]
    from dagster import DagsterInstance
    from dagster._core.instance.ref import InstanceRef

    os.environ["DAGSTER_HOME"] = str(home)
    ref = InstanceRef.from_dir(str(home), overrides=storage_overrides(home))
    _instances[home] = DagsterInstance.from_ref(ref)
    return _instances[home]


def storage_overrides(home: Path) -> dict[str, Any]:
    """What the CLI's instance changes of Dagster's defaults, where the home's dagster.yaml keeps them.

    Storage left to the SQLite default: the kept-connection event log (one connection per run, not per
    event). ``compute_logs`` left to the local default: the same files without the terminal mirror (four
    processes per run; the CLI's display owns the terminal).
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
