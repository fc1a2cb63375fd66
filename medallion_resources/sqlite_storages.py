"""Dagster's SQLite run and schedule storages, opened without parsing the migration scripts.

Dagster's ``SqliteRunStorage`` and ``SqliteScheduleStorage`` learn, every time they are opened, both the
database's alembic revision and the *head* revision of Dagster's migrations; the head means importing the
~90 migration scripts as Python modules (~30 ms each storage, paid by every ``medallion`` command that
runs something). They only act when the database has no revision yet (a new home: create the tables and
stamp it). These subclasses read the revision alone, with the standard library's ``sqlite3``, and open an
already stamped database directly; anything else (a new home, a database with no stamp, one that cannot be
read) goes through Dagster's own ``from_local``, unchanged. The files, tables and migrations are Dagster's
(``dagster instance migrate`` still upgrades them), so a home is read the same by the stock classes.

``medallion`` (``medallion_assets.instance.get_instance``) sets them as instance overrides beside the
kept-connection event log (:mod:`medallion_resources.sqlite_event_log`) when the home's ``dagster.yaml``
leaves storage to the SQLite default; ``base_dir`` is ``<DAGSTER_HOME>/history``, where Dagster's default
puts ``runs.db`` and ``schedules.db``.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self, cast

from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._core.storage.schedules.sqlite.sqlite_schedule_storage import SqliteScheduleStorage
from dagster._core.storage.sqlite import create_db_conn_string
from dagster._serdes import ConfigurableClassData

__all__ = ["StampedSqliteRunStorage", "StampedSqliteScheduleStorage", "stamped"]


def stamped(database: Path, tables: tuple[str, ...]) -> bool:
    """Whether ``database`` exists, has an alembic revision and every one of ``tables`` (read-only)."""
    if not database.is_file():
        return False
    with (
        contextlib.suppress(sqlite3.Error),
        contextlib.closing(
            sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
        ) as conn,
    ):
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "alembic_version" not in names or not set(tables) <= names:
            return False
        return conn.execute("SELECT version_num FROM alembic_version").fetchone() is not None
    return False


class _OpenedIfStamped:
    """``from_local`` (and so ``from_config_value``) opening a stamped ``<base_dir>/<DATABASE>.db`` directly;
    anything else goes to the Dagster storage class after this one in the MRO."""

    DATABASE: str
    TABLES: tuple[str, ...]  # the tables a stamped database must have (Dagster adds them otherwise)

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> Self:
        return cls.from_local(inst_data=inst_data, **config_value)

    @classmethod
    def from_local(cls, base_dir: str, inst_data: ConfigurableClassData | None = None) -> Self:
        if stamped(Path(base_dir) / f"{cls.DATABASE}.db", cls.TABLES):
            # The Dagster storage after this class in the MRO takes (conn_string, inst_data).
            return cast(Self, cast(Any, cls)(create_db_conn_string(base_dir, cls.DATABASE), inst_data))
        return cast(Self, super().from_local(base_dir, inst_data=inst_data))  # type: ignore[misc]


class StampedSqliteRunStorage(_OpenedIfStamped, SqliteRunStorage):
    """``SqliteRunStorage`` that opens a stamped ``runs.db`` without reading the migrations."""

    DATABASE = "runs"
    # Dagster's from_local on a stamped database only adds `instance_info` when it is missing.
    TABLES = ("runs", "instance_info")


class StampedSqliteScheduleStorage(_OpenedIfStamped, SqliteScheduleStorage):
    """``SqliteScheduleStorage`` that opens a stamped ``schedules.db`` without reading the migrations."""

    DATABASE = "schedules"
    TABLES = ("jobs", "job_ticks")
