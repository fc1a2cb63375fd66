"""The persistent Dagster instance the CLI runs on: one function, so every verb gets it the same way.

``$DAGSTER_HOME``, else ``./.dagster_home`` (the folder ``make ui`` uses, so CLI runs show in the UI). A new
home gets the project's ``deploy/dagster.yaml`` (telemetry off, the run queue's per-source limits, the
event log storage of :mod:`medallion_resources.sqlite_event_log`). Dagster is imported here, not at module
import, so verbs that do not run anything never load it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import dagster as dg

__all__ = ["dagster_home", "dispose_instance", "get_instance"]

TEMPLATE = Path(__file__).resolve().parents[1] / "deploy" / "dagster.yaml"


def dagster_home() -> Path:
    """``$DAGSTER_HOME`` or ``./.dagster_home``, created with the project's dagster.yaml when new."""
    home = Path(os.environ.get("DAGSTER_HOME") or Path(".dagster_home").resolve())
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists() and TEMPLATE.exists():
        shutil.copyfile(TEMPLATE, home / "dagster.yaml")
    return home


_instances: list[dg.DagsterInstance] = []


def get_instance() -> dg.DagsterInstance:
    """The persistent instance of :func:`dagster_home`; one per process, shared by every caller."""
    if _instances:
        return _instances[0]
    from dagster import DagsterInstance

    os.environ["DAGSTER_HOME"] = str(dagster_home())
    _instances.append(DagsterInstance.get())
    return _instances[0]


def dispose_instance() -> None:
    """Close the instance of :func:`get_instance`, if one was made (its storages' connections)."""
    while _instances:
        _instances.pop().dispose()
