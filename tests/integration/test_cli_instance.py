"""The CLI's instance (``get_instance`` on a home with the shipped ``dagster.yaml``).

Its event log: one SQLite connection per run (Dagster's own opens one per event), and a home it writes stays
Dagster's, read live by the stock storage (what ``dagster dev`` does when it shows a run the CLI is
executing). Its run and schedule storages: a stamped home opens without parsing Dagster's migrations.
Its compute logs: a run's stdout in the files the UI reads, with no terminal mirror.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.instance.ref import InstanceRef
from sqlalchemy import event
from sqlalchemy.engine import Engine

from medallion_assets.instance import dispose_instance, get_instance
from medallion_resources.sqlite_event_log import KeptConnectionSqliteEventLogStorage
from medallion_resources.sqlite_storages import (
    StampedSqliteRunStorage,
    StampedSqliteScheduleStorage,
    stamped,
)

REPO = Path(__file__).resolve().parents[2]
STOCK = "telemetry:\n  enabled: false\n"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")
    return home


@contextlib.contextmanager
def shipped(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dg.DagsterInstance]:
    """The CLI's instance of ``home`` (what ``medallion run`` uses)."""
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    try:
        yield get_instance()
    finally:
        dispose_instance()


def stock(home: Path, tmp_path: Path) -> dg.DagsterInstance:
    """An instance on the same files with Dagster's default storage (another config dir, same home)."""
    config = tmp_path / "stock_config"
    config.mkdir(exist_ok=True)
    (config / "dagster.yaml").write_text(STOCK)
    return dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home), config_dir=str(config)))


@pytest.fixture
def connects() -> Iterator[list[str]]:
    """The database of every new SQLite connection made while the test runs."""
    seen: list[str] = []

    def on_connect(dbapi_connection, _record) -> None:
        seen.append(dbapi_connection.execute("PRAGMA database_list").fetchone()[2])

    event.listen(Engine, "connect", on_connect)
    yield seen
    event.remove(Engine, "connect", on_connect)


def small_job() -> dg.JobDefinition:
    @dg.asset
    def first() -> int:
        return 1

    @dg.asset
    def second(first: int) -> int:
        return first + 1

    return dg.Definitions(assets=[first, second], jobs=[dg.define_asset_job("two")]).resolve_job_def("two")


def run_shard_connects(connects: list[str], run_id: str) -> int:
    return sum(path.endswith(f"{run_id}.db") for path in connects)


def test_one_connection_per_run_where_dagster_opens_one_per_event(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, connects: list[str]
) -> None:
    job = small_job()
    with shipped(home, monkeypatch) as instance:
        assert isinstance(instance.event_log_storage, KeptConnectionSqliteEventLogStorage)
        result = job.execute_in_process(instance=instance)
        events = len(instance.all_logs(result.run_id))
        assert result.success and events > 15
        assert run_shard_connects(connects, result.run_id) == 1

    # Dagster's own storage on the same home: a connection per event (what the shipped one avoids).
    with stock(home, tmp_path) as instance:
        result = job.execute_in_process(instance=instance)
        assert run_shard_connects(connects, result.run_id) >= len(instance.all_logs(result.run_id))
        # And the run written through the shipped storage reads back whole with Dagster's.
        first_run = [r for r in instance.get_runs() if r.run_id != result.run_id][0]
        assert len(instance.all_logs(first_run.run_id)) == events
        assert instance.get_latest_materialization_event(dg.AssetKey("second")) is not None


def test_commits_skip_the_fsync_on_wal_shards_and_table_checks_reuse_the_kept_connection(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, connects: list[str]
) -> None:
    @dg.asset(check_specs=[dg.AssetCheckSpec("positive", asset="checked")])
    def checked() -> dg.MaterializeResult:
        return dg.MaterializeResult(check_results=[dg.AssetCheckResult(passed=True)])

    job = dg.Definitions(assets=[checked], jobs=[dg.define_asset_job("one")]).resolve_job_def("one")
    with shipped(home, monkeypatch) as instance:
        storage = instance.event_log_storage
        results = [job.execute_in_process(instance=instance)]
        connects.clear()  # the index shard is open now
        results += [job.execute_in_process(instance=instance) for _ in range(2)]
        assert all(r.success for r in results)
        for shard in ("index", results[-1].run_id):
            with storage._engine(shard).connect() as conn:
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL (FULL is 2)
        # Every check evaluation asks whether the index has the checks table: no new connection for it
        # (Dagster's own class opens a new engine per question).
        assert not [path for path in connects if path.endswith("index.db")]

    # Dagster's own reader sees the same history.
    with stock(home, tmp_path) as reader:
        history = reader.event_log_storage.get_asset_check_execution_history(
            dg.AssetCheckKey(dg.AssetKey("checked"), "positive"), limit=5
        )
        assert {r.run_id for r in history} == {r.run_id for r in results}


def test_a_stock_reader_watching_a_run_sees_each_event_as_it_is_written(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = "0b0e5c1e-0000-4000-8000-000000000001"

    def entry(n: int) -> dg.EventLogEntry:
        return dg.EventLogEntry(
            error_info=None, level="INFO", user_message=f"event {n}", run_id=run_id, timestamp=time.time()
        )

    received: list[str] = []
    arrived = threading.Event()

    def on_event(record: dg.EventLogEntry, _cursor: str) -> None:
        received.append(record.user_message)
        if len(received) >= 5:
            arrived.set()

    with shipped(home, monkeypatch) as writer, stock(home, tmp_path) as reader:
        writer.event_log_storage.store_event(entry(0))
        reader.watch_event_logs(run_id, None, on_event)
        time.sleep(0.5)  # the watcher is scheduled
        for n in range(1, 5):
            writer.event_log_storage.store_event(entry(n))
            time.sleep(0.1)
        # Dagster's watcher waits for the shard file to change; with a kept connection the commits land in
        # the WAL file, so the storage touches the shard after each one.
        assert arrived.wait(timeout=20), received
        assert received == [f"event {n}" for n in range(5)]
        reader.end_watch_event_logs(run_id, on_event)


def test_a_runs_stdout_is_captured_for_the_ui_without_a_mirror(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    @dg.asset
    def talks() -> None:
        print("hello from the step")

    job = dg.Definitions(assets=[talks], jobs=[dg.define_asset_job("talk")]).resolve_job_def("talk")
    with shipped(home, monkeypatch) as instance:
        assert type(instance.compute_log_manager).__name__ == "FileOnlyComputeLogManager"
        result = job.execute_in_process(instance=instance)
        assert result.success
        [captured] = [
            e.logs_captured_data for e in result.all_events if e.event_type_value == "LOGS_CAPTURED"
        ]
        manager = instance.compute_log_manager
        log_key = manager.build_log_key_for_run(result.run_id, captured.file_key)
        assert manager.is_capture_complete(log_key)
        data = manager.get_log_data(log_key)
        assert data.stdout is not None and b"hello from the step" in data.stdout
    # Dagster's own reader of the same home (the UI) finds it where its default manager puts it.
    with stock(home, tmp_path) as reader:
        assert b"hello from the step" in (reader.compute_log_manager.get_log_data(log_key).stdout or b"")


@pytest.fixture
def revision_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Which storages asked Dagster for the head revision (the check that parses every migration script)."""
    from dagster._core.storage.runs.sqlite import sqlite_run_storage
    from dagster._core.storage.schedules.sqlite import sqlite_schedule_storage

    asked: list[str] = []
    for name, module in (("runs", sqlite_run_storage), ("schedules", sqlite_schedule_storage)):
        original = module.check_alembic_revision

        def counted(config, conn, _name=name, _original=original):  # type: ignore[no-untyped-def]
            asked.append(_name)
            return _original(config, conn)

        monkeypatch.setattr(module, "check_alembic_revision", counted)
    return asked


def alembic_revision(database: Path) -> str | None:
    with contextlib.closing(sqlite3.connect(database)) as conn:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return row[0] if row else None


def test_a_stamped_home_opens_without_parsing_the_migrations(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, revision_checks: list[str]
) -> None:
    from alembic.script import ScriptDirectory
    from dagster._core.storage.runs.sqlite import sqlite_run_storage
    from dagster._core.storage.sql import get_alembic_config

    with shipped(home, monkeypatch) as instance:  # a new home: Dagster's own path creates and stamps it
        assert isinstance(instance.run_storage, StampedSqliteRunStorage)
        assert isinstance(instance.schedule_storage, StampedSqliteScheduleStorage)
        first = small_job().execute_in_process(instance=instance).run_id
    assert sorted(revision_checks) == ["runs", "schedules"]
    head = ScriptDirectory.from_config(get_alembic_config(sqlite_run_storage.__file__)).get_current_head()
    assert alembic_revision(home / "history" / "runs.db") == head
    assert alembic_revision(home / "schedules" / "schedules.db") == head

    revision_checks.clear()
    with shipped(home, monkeypatch) as instance:  # stamped: opened directly
        assert [r.run_id for r in instance.get_runs()] == [first]
        second = small_job().execute_in_process(instance=instance).run_id
        assert instance.schedule_storage.all_instigator_state() == []
    assert revision_checks == []

    # The same files for Dagster's own classes.
    with stock(home, tmp_path) as reader:
        assert {r.run_id for r in reader.get_runs()} == {first, second}


def test_a_database_without_a_stamp_goes_through_dagsters_path(
    home: Path, monkeypatch: pytest.MonkeyPatch, revision_checks: list[str]
) -> None:
    with shipped(home, monkeypatch) as instance:
        run_id = small_job().execute_in_process(instance=instance).run_id
    runs_db = home / "history" / "runs.db"
    with contextlib.closing(sqlite3.connect(runs_db)) as conn:
        conn.execute("DELETE FROM alembic_version")  # e.g. a home made before Dagster stamped SQLite
        conn.commit()
    assert not stamped(runs_db, ("runs",))
    revision_checks.clear()
    with shipped(home, monkeypatch) as instance:
        assert [r.run_id for r in instance.get_runs()] == [run_id]
    assert revision_checks == ["runs"]  # Dagster's from_local, which stamps it again
    assert alembic_revision(runs_db) is not None
    assert stamped(runs_db, ("runs", "instance_info"))
    assert not stamped(home / "history" / "missing.db", ("runs",))
