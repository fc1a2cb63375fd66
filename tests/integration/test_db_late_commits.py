"""`watermark` mode never loses a late commit, and Bronze holds each row version once (DESIGN §5).

Real concurrent transactions on the local PostgreSQL, MariaDB and a SQLite file: one connection commits
rows after a day's run at (and just below) that day's watermark, another keeps a transaction open while the
next day runs and commits afterwards. Every day goes through the Bronze asset (``materialize_partition``) and
the test reads the committed Parquet parts back.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa
import yaml

from medallion_assets.lake import Lake
from medallion_assets.runner import materialize_partition
from medallion_resources.lake.read import read_artifact, verify_partition
from tests.extractors.conftest import DB_URLS, Database, open_database
from tests.instances import cli_instance_for_test

pytestmark = [pytest.mark.slow, pytest.mark.services]
D1, D2, D3 = date(2025, 1, 1), date(2025, 1, 2), date(2025, 1, 3)
TS_TYPE = {"postgresql": "timestamp(6)", "mariadb": "datetime(6)", "sqlite": "text"}


def write_config(
    config_dir: Path,
    lake_dir: Path,
    table: str,
    incremental: dict[str, Any],
    partitions: dict[str, Any],
    db_extra: dict[str, Any],
    pattern: str = "incremental",
) -> None:
    config_dir.mkdir(parents=True, exist_ok=True)
    platform = {
        "config_version": 1,
        "platform": {
            "bronze": {"local_path": str(lake_dir / "bronze")},
            "silver": {"local_path": str(lake_dir / "silver")},
            "defaults": {"partitions": partitions},
        },
    }
    source = {
        "name": "late",
        "source": {
            "system": "db",
            "table": "late",
            "type": "db",
            "db": {
                "url_env": "MEDALLION_TEST_DB_URL",
                "table": table,
                "fetch_batch_size": 2,  # several batches: the dedupe works across batch boundaries
                "incremental": {"cursor_column": "updated_at", "mode": "watermark", **incremental},
                **db_extra,
            },
            "run": {"load_pattern": pattern},
        },
        "silver": {
            "model": "scd_type_2" if pattern == "current_history" else "scd_type_1",
            "primary_keys": ["id"],
            "order_column": "updated_at",
        },
    }
    (config_dir / "platform.yaml").write_text(yaml.safe_dump(platform))
    (config_dir / "sources.yaml").write_text(yaml.safe_dump({"config_version": 1, "sources": [source]}))


class LateLake:
    """A lake over one db table, its Dagster instance, and the day-by-day Bronze runs of the test."""

    def __init__(self, tmp_path: Path, instance: dg.DagsterInstance) -> None:
        self.lake = Lake.load(tmp_path / "configs")
        self.spec = self.lake.spec("late")
        self.instance = instance

    def run(self, day: date) -> list[tuple[int, str]]:
        outcome = materialize_partition(self.lake, self.spec, day, ("bronze",), self.instance)
        assert outcome.error is None, outcome.error
        return sorted(self.versions(day))

    def part(self, day: date) -> Any:
        part = self.lake.committed(self.spec, "bronze", day)
        assert part is not None and verify_partition(part) == []
        return part

    def versions(self, day: date) -> list[tuple[int, str]]:
        """(id, note) of every row the committed Bronze partition holds (notes name the versions)."""
        frame = read_artifact(self.part(day), "data")
        return list(zip(frame["id"].to_list(), frame["note"].to_list(), strict=True))


@pytest.fixture
def lake_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``lake_for(db, table, incremental, partitions, pattern=..., **db)``: a LateLake over that table."""
    (tmp_path / "instance").mkdir()
    with cli_instance_for_test(tmp_path / "instance") as instance:

        def make(
            db: Database,
            table: str,
            incremental: dict[str, Any],
            partitions: dict[str, Any],
            pattern: str = "incremental",
            **extra: Any,
        ) -> LateLake:
            monkeypatch.setenv("MEDALLION_TEST_DB_URL", db.url)
            configs, lake = tmp_path / "configs", tmp_path / "lake"
            write_config(configs, lake, table, incremental, partitions, extra, pattern)
            return LateLake(tmp_path, instance)

        yield make


def insert(conn: sa.Connection, table: str, row_id: int, note: str, stamp: str | None = None) -> None:
    if stamp is None:  # the column default: now() of the writing transaction
        conn.execute(sa.text(f"INSERT INTO {table} (id, note) VALUES (:i, :n)"), {"i": row_id, "n": note})
    else:
        conn.execute(
            sa.text(f"INSERT INTO {table} (id, note, updated_at) VALUES (:i, :n, :u)"),
            {"i": row_id, "n": note, "u": stamp},
        )


@pytest.mark.parametrize("dialect", ["postgresql", "mariadb", "sqlite"])
def test_late_commits_at_and_inside_the_lookback_land_exactly_once(
    dialect: str, tmp_path: Path, lake_for: Any
) -> None:
    """Commits at the watermark and inside the lookback, and a transaction open during the next run.

    The cursor values are written by the application (explicit stamps), as on every engine the guarantee
    for those is the lookback: a late commit whose cursor is at most ``lookback`` below the watermark lands.
    """
    db = open_database(dialect, tmp_path)
    try:
        table = db.table("late")
        db.execute(f"CREATE TABLE {table} (id integer, note varchar(20), updated_at {TS_TYPE[dialect]})")
        with db.engine.begin() as conn:
            insert(conn, table, 1, "1a", "2025-01-01 10:00:00")
            insert(conn, table, 2, "2a", "2025-01-01 12:00:00")  # day 1's watermark W
            insert(conn, table, 3, "3a", "2025-01-01 11:59:59.5")  # inside the lookback below W
        lake = lake_for(db, table, {"lookback": "2s", "initial_value": "2024-12-31 00:00:00"}, {})

        assert lake.run(D1) == [(1, "1a"), (2, "2a"), (3, "3a")]
        assert "12:00:00" in lake.part(D1).metadata["watermark_out"]

        # after day 1 committed, a second connection commits a row AT the watermark and moves row 1 to W - 1 s
        with db.engine.begin() as conn:
            insert(conn, table, 4, "4late", "2025-01-01 12:00:00")
            conn.execute(
                sa.text(f"UPDATE {table} SET note = '1b', updated_at = :u WHERE id = 1"),
                {"u": "2025-01-01 11:59:59"},
            )
        # a transaction stays open while day 2 runs; its row's cursor is 1 s below day 2's watermark
        open_tx = db.engine.connect()
        try:
            if dialect == "sqlite":  # one writer at a time: the other writer commits before it begins
                with db.engine.begin() as conn:
                    insert(conn, table, 6, "6a", "2025-01-02 06:00:00")
                insert(open_tx, table, 5, "5open", "2025-01-02 05:59:59")
            else:  # the open transaction began first and commits last
                insert(open_tx, table, 5, "5open", "2025-01-02 05:59:59")
                with db.engine.begin() as conn:
                    insert(conn, table, 6, "6a", "2025-01-02 06:00:00")

            assert lake.run(D2) == [(1, "1b"), (4, "4late"), (6, "6a")]
            open_tx.commit()
        finally:
            open_tx.close()

        assert lake.run(D3) == [(5, "5open")]

        every = Counter(v for day in (D1, D2, D3) for v in lake.versions(day))
        assert every == Counter(
            [(1, "1a"), (1, "1b"), (2, "2a"), (3, "3a"), (4, "4late"), (5, "5open"), (6, "6a")]
        )  # each row version exactly once across the days

        # re-running day 2 re-reads all of its changes (now including the late one), and none of day 1's
        assert lake.run(D2) == [(1, "1b"), (4, "4late"), (5, "5open"), (6, "6a")]
    finally:
        db.close()


# --- the commit horizon (PostgreSQL, MariaDB) ------------------------------------------------------------

_CREATE_DATABASE = {
    "postgresql": ('CREATE DATABASE "{name}"', 'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'),
    "mariadb": ("CREATE DATABASE `{name}`", "DROP DATABASE IF EXISTS `{name}`"),
}
# The cursor stamped by the server's clock: PostgreSQL's now() is the start of the transaction, MariaDB's
# NOW() the start of the statement.
_STAMPED = {
    "postgresql": ("timestamptz DEFAULT now()", "timestamp(6) DEFAULT now()", "now()"),
    "mariadb": ("datetime(6) DEFAULT NOW(6)", "timestamp(6) DEFAULT CURRENT_TIMESTAMP(6)", "NOW(6)"),
}


@pytest.fixture
def private_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A database of this test alone on the server ``request.param`` names: the horizon counts only the
    sessions of the source's database, so other tests' open transactions on the shared server do not hold
    it back."""
    dialect = request.param
    open_database(dialect, tmp_path).close()  # skips, naming the fix, when the server is not there
    name = f"medallion_hz_{uuid.uuid4().hex[:10]}"
    create, drop = (sql.format(name=name) for sql in _CREATE_DATABASE[dialect])
    admin = sa.create_engine(DB_URLS[dialect], poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(create))
    db = Database(dialect, DB_URLS[dialect].rsplit("/", 1)[0] + f"/{name}")
    try:
        yield db
    finally:
        db.close()
        with admin.connect() as conn:
            conn.execute(sa.text(drop))
        admin.dispose()


@pytest.mark.parametrize(
    ("private_database", "column", "engine"),
    [
        ("postgresql", 0, "auto"),
        ("postgresql", 1, "auto"),
        ("postgresql", 0, "sqlalchemy"),
        ("mariadb", 0, "auto"),
        ("mariadb", 1, "auto"),
        ("mariadb", 0, "sqlalchemy"),
    ],
    indirect=["private_database"],
)
def test_row_of_an_open_transaction_is_read_by_the_next_run(
    column: int, engine: str, private_database: Database, lake_for: Any
) -> None:
    """The cursor is stamped by the server's clock; a transaction that wrote before later commits is still
    open during a run: that run stops below its stamp, and the run after it commits reads its row. No
    lookback. (On MariaDB, without the horizon, the row was lost.)"""
    db = private_database
    column_type, now = _STAMPED[db.dialect][column], _STAMPED[db.dialect][2]
    mariadb = db.dialect == "mariadb"
    table = db.table("hz")
    # a primary key: MariaDB's UPDATE below then locks its row only, not the open transaction's
    db.execute(f"CREATE TABLE {table} (id integer PRIMARY KEY, note varchar(20), updated_at {column_type})")
    with db.engine.begin() as conn:
        insert(conn, table, 1, "1a")
    with db.engine.begin() as conn:
        insert(conn, table, 2, "2a")
    # the partitions are the real days of the server's clock (UTC): today and the two after it
    today = datetime.now(UTC).date()
    day1, day2, day3 = today, today + timedelta(days=1), today + timedelta(days=2)
    partitions = {"start_date": (today - timedelta(days=1)).isoformat(), "end_offset": 3}
    lake = lake_for(db, table, {}, partitions, engine=engine)

    assert lake.run(day1) == [(1, "1a"), (2, "2a")]

    with db.engine.begin() as conn:
        insert(conn, table, 3, "3a")  # committed before the open transaction writes
    if mariadb:
        time.sleep(2.1)  # InnoDB shows a transaction's start to the second; the horizon keeps one more
    open_tx = db.engine.connect()
    try:
        insert(open_tx, table, 4, "4open")  # stamped now: the transaction's (statement's) start
        if mariadb:
            time.sleep(1.1)
        with db.engine.begin() as conn:
            insert(conn, table, 5, "5a")  # a higher cursor, committed first
        with db.engine.begin() as conn:
            conn.execute(sa.text(f"UPDATE {table} SET note = '1b', updated_at = {now} WHERE id = 1"))

        # day 2 runs while the transaction is open: it reads nothing at or past that transaction's stamp
        assert lake.run(day2) == [(3, "3a")]
        stamped = open_tx.execute(sa.text(f"SELECT updated_at FROM {table} WHERE id = 4")).scalar_one()
        metadata = lake.part(day2).metadata
        assert _instant(metadata["watermark_out"]) < _instant(stamped)
        assert _instant(metadata["commit_horizon"]) <= _instant(stamped)  # a row at it is read again
        open_tx.commit()
    finally:
        open_tx.close()

    # the run after the commit reads the open transaction's row and the later ones, each once
    assert lake.run(day3) == [(1, "1b"), (4, "4open"), (5, "5a")]
    every = Counter(v for day in (day1, day2, day3) for v in lake.versions(day))
    assert every == Counter([(1, "1a"), (1, "1b"), (2, "2a"), (3, "3a"), (4, "4open"), (5, "5a")])


def _instant(value: str | datetime) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)  # the servers run in UTC


@pytest.mark.parametrize("private_database", ["mariadb"], indirect=True)
def test_mariadb_without_the_process_privilege_fails_naming_the_grant(
    private_database: Database, lake_for: Any
) -> None:
    """A role that cannot read information_schema.INNODB_TRX cannot know which transactions are open; the
    run fails naming the grant and the switch, rather than read past an open transaction."""
    db = private_database
    table = db.table("hz")
    db.execute(f"CREATE TABLE {table} (id integer, note varchar(20), updated_at datetime(6) DEFAULT NOW(6))")
    with db.engine.begin() as conn:
        insert(conn, table, 1, "1a")
    database = db.url.rsplit("/", 1)[1]
    user = f"mhz_{uuid.uuid4().hex[:8]}"
    db.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY 'pw-{user}'")
    try:
        db.execute(f"GRANT SELECT ON `{database}`.* TO '{user}'@'%'")
        limited = Database("mariadb", db.url.replace("root@", f"{user}:pw-{user}@"))
        today = datetime.now(UTC).date()
        lake = lake_for(limited, table, {}, {"start_date": today.isoformat(), "end_offset": 1})
        outcome = materialize_partition(lake.lake, lake.spec, today, ("bronze",), lake.instance)
        assert outcome.error is not None
        assert "GRANT PROCESS" in outcome.error and "commit_horizon: false" in outcome.error, outcome.error
        assert f"pw-{user}" not in outcome.error
        assert lake.lake.committed(lake.spec, "bronze", today) is None
        limited.engine.dispose()
    finally:
        db.execute(f"DROP USER IF EXISTS '{user}'@'%'")


@pytest.mark.parametrize("pattern", ["incremental", "current_history"])
@pytest.mark.parametrize("dialect", ["postgresql", "mariadb"])
def test_each_day_of_a_changes_load_reads_past_the_previous_watermark(
    dialect: str, pattern: str, tmp_path: Path, lake_for: Any
) -> None:
    """``current_history`` lands changed rows like ``incremental``, but Bronze gave its partitions no
    watermark_in: every day read the table from initial_value again, and day 2 landed day 1's rows a second
    time (Bronze growing by the whole table each day)."""
    db = open_database(dialect, tmp_path)
    try:
        table = db.table("changes")
        db.execute(f"CREATE TABLE {table} (id integer, note varchar(20), updated_at {TS_TYPE[dialect]})")
        with db.engine.begin() as conn:
            insert(conn, table, 1, "1a", "2025-01-01 10:00:00")
            insert(conn, table, 2, "2a", "2025-01-01 12:00:00")
        lake = lake_for(db, table, {"initial_value": "2024-12-31 00:00:00"}, {}, pattern=pattern)
        assert lake.run(D1) == [(1, "1a"), (2, "2a")]
        with db.engine.begin() as conn:
            insert(conn, table, 3, "3a", "2025-01-02 09:00:00")
        assert lake.run(D2) == [(3, "3a")]
        assert lake.part(D2).metadata["watermark_in"] == "2025-01-01T12:00:00.000000"
    finally:
        db.close()


@pytest.mark.parametrize("dialect", ["postgresql", "mariadb", "sqlite"])
def test_a_rerun_of_an_id_watermark_day_stops_where_the_next_day_started(
    dialect: str, tmp_path: Path, lake_for: Any
) -> None:
    """An id cursor has no day to bound a partition by: re-running day 1 after day 2 read every id from day
    1's start on, and landed day 2's row 3 in day 1 too (Bronze held it twice). A re-run now stops at the
    watermark_in of the next committed partition (inclusive), and a late row below it still lands."""
    db = open_database(dialect, tmp_path)
    try:
        table = db.table("ids")
        db.execute(f"CREATE TABLE {table} (id integer, note varchar(20), updated_at {TS_TYPE[dialect]})")
        with db.engine.begin() as conn:
            insert(conn, table, 1, "1a", "2025-01-01 10:00:00")
            insert(conn, table, 3, "3a", "2025-01-01 11:00:00")
        lake = lake_for(db, table, {"cursor_column": "id"}, {})
        assert lake.run(D1) == [(1, "1a"), (3, "3a")]
        with db.engine.begin() as conn:
            insert(conn, table, 4, "4a", "2025-01-02 10:00:00")
            insert(conn, table, 2, "2a", "2025-01-02 11:00:00")  # committed late, below day 1's watermark
        assert lake.run(D2) == [(4, "4a")]  # ids from 3 on: 3 (dropped by its hash) and 4
        assert lake.part(D2).metadata["watermark_in"] == "3"
        assert lake.run(D1) == [(1, "1a"), (2, "2a"), (3, "3a")]  # up to 3, where day 2 started: not 4
        assert lake.part(D1).metadata["watermark_out"] == "3"
        assert lake.run(D3) == []  # from day 2's watermark 4: nothing new
    finally:
        db.close()


@pytest.mark.parametrize("dialect", ["postgresql", "mariadb", "sqlite"])
@pytest.mark.parametrize("cursor", ["id", "updated_at"])
def test_a_backfill_before_the_first_partition_lands_no_row_twice(
    dialect: str, cursor: str, tmp_path: Path, lake_for: Any
) -> None:
    """Day 2 was loaded first: a watermark read from the start, so it holds every row up to it. A backfill
    of day 1 then read from the start as well and landed every row a second time (both partitions with
    watermark_in null). Day 1 now lands nothing: the later partition holds its rows."""
    db = open_database(dialect, tmp_path)
    try:
        table = db.table("first")
        db.execute(f"CREATE TABLE {table} (id integer, note varchar(20), updated_at {TS_TYPE[dialect]})")
        with db.engine.begin() as conn:
            insert(conn, table, 1, "1a", "2024-12-31 10:00:00")
            insert(conn, table, 2, "2a", "2025-01-01 10:00:00")
        lake = lake_for(db, table, {"cursor_column": cursor}, {"start_date": "2024-12-31"})
        assert lake.run(D2) == [(1, "1a"), (2, "2a")]
        assert lake.part(D2).metadata["watermark_in"] is None
        assert lake.run(D1) == []  # the backfill: nothing of its own
        assert lake.run(D1 - timedelta(days=1)) == []
        every = Counter(v for day in (D1 - timedelta(days=1), D1, D2) for v in lake.versions(day))
        assert every == Counter([(1, "1a"), (2, "2a")])
        with db.engine.begin() as conn:
            insert(conn, table, 3, "3a", "2025-01-02 12:00:00")
        assert lake.run(D3) == [(3, "3a")]  # the days after it go on from day 2's watermark
    finally:
        db.close()
