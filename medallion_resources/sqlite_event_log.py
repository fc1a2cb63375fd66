"""Dagster's SQLite event log, keeping one connection per database file instead of one per event.

Dagster's ``SqliteEventLogStorage`` (the embedded default) creates an engine, connects, writes and disposes
the engine for *every* event: in a small run that is a third of the wall time. This subclass keeps an engine
(one SQLite connection) per shard, the run's own ``<run_id>.db`` and the cross-run ``index.db``, for the
life of the storage; each write is still its own committed transaction, so nothing else changes:

- the files, tables and migrations are Dagster's own (a home written through this class is read by the
  stock class and the other way round), and ``dagster dev`` may read the same home while a CLI run writes;
- SQLite's WAL mode (Dagster turns it on) lets readers in other processes see every commit at once;
- a new run's shard is created as Dagster creates it (tables, WAL, the alembic stamp of the head revision),
  with the migration scripts read once per process rather than once per run (a fifth of a small run), and
  WAL turned on before the tables are created rather than after (each CREATE is then not a synced commit);
- Dagster's run-log watcher waits for a *modification of the shard's ``.db`` file*, which a per-event
  connection gave as a side effect (closing the last connection checkpoints the WAL into it). With a kept
  connection commits land in the ``-wal`` file, so each run-shard write also touches the ``.db`` file's
  modification time: the webserver's live run view updates as before;
- a commit does not wait for the disk: on its WAL shards the kept connections run with SQLite's
  ``synchronous=NORMAL`` (Dagster leaves ``FULL``, an fsync per event). In WAL mode that is still safe from
  corruption and every commit is seen at once by other processes; only a power loss or an OS crash may undo
  the last events. The lake's manifests are the commit of the data (``docs/architecture.md``), not the log;
- which tables the index shard has (Dagster asks before every asset check event and every tagged
  materialization, each time through a new engine) is answered once per table and kept.

``medallion`` (``medallion_assets.instance.get_instance``) sets it as an instance override when the home's
``dagster.yaml`` leaves storage to the SQLite default; ``base_dir`` is the ``DAGSTER_HOME`` (the shards go to
``<base_dir>/history/runs/``, where Dagster's default puts them). In a ``dagster.yaml``::

    event_log_storage:
      module: medallion_resources.sqlite_event_log
      class: KeptConnectionSqliteEventLogStorage
      config:
        base_dir: /absolute/path/of/the/dagster_home

At most ``MAX_RUN_SHARDS`` run shards stay open (least recently used closed first); ``dispose`` closes all.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import Any

import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from dagster._config import StringSource
from dagster._core.storage.event_log import sqlite as dagster_sqlite_event_log
from dagster._core.storage.event_log.schema import SqlEventLogStorageMetadata
from dagster._core.storage.event_log.sqlite.sqlite_event_log import INDEX_SHARD_NAME, SqliteEventLogStorage
from dagster._core.storage.sql import get_alembic_config
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._core.storage.sqlite_storage import _event_logs_directory
from dagster._serdes import ConfigurableClassData
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import QueuePool

__all__ = ["MAX_RUN_SHARDS", "KeptConnectionSqliteEventLogStorage"]

MAX_RUN_SHARDS = 8


class KeptConnectionSqliteEventLogStorage(SqliteEventLogStorage):
    """``SqliteEventLogStorage`` with one kept connection per shard (see the module docstring)."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._engines_lock = threading.Lock()
        self._home = os.path.abspath(base_dir)
        self._tables: set[str] = set()  # tables the index shard is known to have
        super().__init__(_event_logs_directory(self._home), inst_data=inst_data)

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {"base_dir": StringSource}

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> KeptConnectionSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    @contextlib.contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn
            if shard != INDEX_SHARD_NAME:
                _touch(self.path_for_shard(shard))

    def _initdb(self, engine: Engine, for_index_shard: bool = False) -> None:
        """A new shard: Dagster's tables, WAL and the head stamp, without re-reading the migrations."""
        if for_index_shard:  # as Dagster does, without parsing the migrations to learn the head
            with engine.connect() as conn:
                stamped = MigrationContext.configure(conn).get_current_revision() is not None
            if not stamped:
                super()._initdb(engine, for_index_shard=True)
            return
        try:
            with engine.connect() as conn:
                context = MigrationContext.configure(conn)
                if context.get_current_revision() is not None:
                    return  # an existing shard (Dagster upgrades old ones with `dagster instance migrate`)
                # WAL first: in SQLite's default journal each CREATE of create_all is a commit with its
                # own fsyncs (0.2-0.4 s for a new run's shard on a loaded machine; ~20 ms this way).
                conn.execute(sa.text("PRAGMA journal_mode=WAL;"))
                conn.execute(sa.text("PRAGMA synchronous=NORMAL;"))  # this kept connection, from now on
                SqlEventLogStorageMetadata.create_all(conn)
                context.stamp(_migrations(), "head")
                conn.commit()
        except (sa.exc.DatabaseError, sqlite3.DatabaseError):
            # Another process initializing the same shard: Dagster's own path waits for it and retries.
            super()._initdb(engine)

    def _engine(self, shard: str) -> Engine:
        with self._engines_lock:
            engine = self._engines.get(shard)
            if engine is not None:
                self._engines.move_to_end(shard)
                return engine
            engine = create_engine(
                self.conn_string_for_shard(shard),
                poolclass=QueuePool,
                pool_size=1,
                max_overflow=2,  # a nested read while a write is open (not done by Dagster today)
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
            )
            sa.event.listen(engine, "connect", _normal_sync_in_wal)
            self._engines[shard] = engine
            run_shards = [name for name in self._engines if name != INDEX_SHARD_NAME]
            for name in run_shards[: max(0, len(run_shards) - MAX_RUN_SHARDS)]:
                self._engines.pop(name).dispose()
            return engine

    def has_table(self, table_name: str) -> bool:
        """Whether the index shard has the table: asked once, then kept (tables are added, never dropped)."""
        if table_name in self._tables:
            return True
        with self._engine(INDEX_SHARD_NAME).connect() as conn:
            found = bool(conn.dialect.has_table(conn, table_name))
        if found:
            self._tables.add(table_name)
        return found

    def _close_engines(self) -> None:
        with self._engines_lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()

    def delete_events(self, run_id: str) -> None:
        super().delete_events(run_id)
        with self._engines_lock:
            engine = self._engines.pop(run_id, None)
        if engine is not None:
            engine.dispose()

    def wipe(self) -> None:
        # The run shards' files are deleted: a kept connection would go on writing to a deleted file.
        self._close_engines()
        self._tables.clear()
        super().wipe()

    def dispose(self) -> None:
        self._close_engines()
        super().dispose()


@functools.cache
def _migrations() -> ScriptDirectory:
    """Dagster's event log migration scripts, read once per process."""
    return ScriptDirectory.from_config(get_alembic_config(dagster_sqlite_event_log.sqlite_event_log.__file__))


def _normal_sync_in_wal(dbapi_connection: Any, _record: Any) -> None:
    """A new connection to a WAL shard commits without an fsync (see the module docstring)."""
    if dbapi_connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")


def _touch(path: str) -> None:
    """What Dagster's run-log watcher (watchdog) waits for: a modification event on the shard file."""
    with contextlib.suppress(OSError):
        os.utime(path)
