"""Fixtures of the extractor tests: typed configs and run contexts built without YAML files."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import fsspec
import pytest

from medallion_assets.config.models import PlatformConfig, SourceEntry
from medallion_assets.extractors import ExtractContext, Extractor, create_extractor


@pytest.fixture
def platform() -> PlatformConfig:
    return PlatformConfig.model_validate(
        {"bronze": {"local_path": "/tmp/x"}, "silver": {"local_path": "/tmp/y"}}
    )


@pytest.fixture
def make_context() -> Callable[[date], ExtractContext]:
    """``make_context(run_date)``: the context of that day's UTC partition."""

    def make(run_date: date = date(2025, 1, 2)) -> ExtractContext:
        start = datetime(run_date.year, run_date.month, run_date.day, tzinfo=UTC)
        return ExtractContext(run_date=run_date, window_start=start, window_end=start + timedelta(days=1))

    return make


@pytest.fixture
def make_entry() -> Callable[..., SourceEntry]:
    """``make_entry(type, section)``: a source of that type whose extractor section is ``section``."""

    def make(source_type: str, section: dict[str, Any]) -> SourceEntry:
        key = "custom_extractor" if source_type == "custom" else source_type
        source: dict[str, Any] = {"system": "shop", "table": "orders", "type": source_type, key: section}
        entry: dict[str, Any] = {"source": source}
        if section.get("incremental") is not None:  # reads changes: load_pattern full would refuse it
            source["run"] = {"load_pattern": "incremental"}
            entry["silver"] = {"model": "periodic_snapshot"}  # no keys needed: Silver is not under test
        return SourceEntry.model_validate(entry)

    return make


@pytest.fixture
def make_file(make_entry: Callable[..., SourceEntry], platform: PlatformConfig) -> Callable[..., Extractor]:
    """``make_file(path=..., format=...)``: the extractor for those ``file:`` settings."""

    def make(**file: Any) -> Extractor:
        return create_extractor(make_entry("file", file), platform)

    return make


@pytest.fixture
def memory_root(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh ``memory://`` folder for one test, removed afterwards."""
    folder = "/medallion-tests/" + re.sub(r"\W", "_", request.node.name)
    yield f"memory://{folder.lstrip('/')}"
    fs = fsspec.filesystem("memory")
    if fs.exists(folder):
        fs.rm(folder, recursive=True)


# --- SQL databases: the local PostgreSQL and MariaDB, and a SQLite file ----------------------------------

DB_URLS = {
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    "mariadb": "mysql+pymysql://root@127.0.0.1:3306/test",
}
DB_START = {
    "postgresql": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    "mariadb": "start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd",
}


_LOCK_TIMEOUT = {"postgresql": "SET lock_timeout = '30s'", "mariadb": "SET SESSION lock_wait_timeout = 30"}


class Database:
    """A database the test may create tables in; every table it creates is dropped afterwards, then every
    object named in ``objects`` (``"TYPE name"``, ``"DOMAIN name"``, ``"COLLATION name"``: what the tables
    used)."""

    def __init__(self, dialect: str, url: str) -> None:
        import sqlalchemy as sa

        self.dialect, self.url = dialect, url
        self.engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        self.tables: list[str] = []
        self.objects: list[str] = []

    def table(self, prefix: str = "t") -> str:
        """A table name unique to this test (parallel workers share the servers)."""
        import uuid

        name = f"medallion_{prefix}_{uuid.uuid4().hex[:10]}"
        self.tables.append(name)
        return name

    def execute(self, sql: str, params: Any = None) -> None:
        import sqlalchemy as sa

        with self.engine.begin() as conn:
            conn.execute(sa.text(sql), params or {})

    def close(self) -> None:
        import sqlalchemy as sa

        with self.engine.begin() as conn:
            self._end_sessions_on_tables(conn)
            setting = _LOCK_TIMEOUT.get(self.dialect)  # a lock still held: fail the teardown, not hang it
            if setting:
                conn.execute(sa.text(setting))
            for name in self.tables:
                conn.execute(sa.text(f"DROP TABLE IF EXISTS {name}"))
            for kind, name in (o.split(" ", 1) for o in reversed(self.objects)):  # a domain before its type
                conn.execute(sa.text(f"DROP {kind} IF EXISTS {name}"))
        self.engine.dispose()

    def _end_sessions_on_tables(self, conn: Any) -> None:
        """End other sessions still reading this test's tables: a failed test can leave a stream open (its
        generator kept alive by the traceback), whose lock would make DROP TABLE wait for ever. (MariaDB
        shows a session's statement only while it runs: an idle one in its transaction is left to the
        lock timeout.)"""
        import sqlalchemy as sa

        if not self.tables or self.dialect not in ("postgresql", "mariadb"):
            return
        like = " OR ".join(f"{{column}} LIKE '%{name}%'" for name in self.tables)
        if self.dialect == "postgresql":
            where = like.format(column="query")
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    f"WHERE pid <> pg_backend_pid() AND datname = current_database() AND ({where})"
                )
            )
            return
        where = like.format(column="info")
        ids = conn.execute(
            sa.text(
                f"SELECT id FROM information_schema.processlist WHERE id <> CONNECTION_ID() AND ({where})"
            )
        ).scalars()
        for session in list(ids):
            conn.execute(sa.text(f"KILL {int(session)}"))


def _reachable(url: str) -> bool:
    import sqlalchemy as sa

    engine = sa.create_engine(url, poolclass=sa.pool.NullPool, connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            return True
    except Exception:  # noqa: BLE001 - any failure means: not available
        return False
    finally:
        engine.dispose()


CASE_INSENSITIVE = ["citext", "citext domain", "icu collation"]


def pg_object(db: Database, kind: str, prefix: str, definition: str) -> str:
    """A PostgreSQL TYPE, DOMAIN or COLLATION unique to this test, dropped by ``db.close()``."""
    import uuid

    name = f"medallion_{prefix}_{uuid.uuid4().hex[:8]}"
    db.execute(f"CREATE {kind} {name} {definition}")
    db.objects.append(f"{kind} {name}")
    return name


def case_insensitive_type(db: Database, kind: str) -> str:
    """The SQL type of a text column that sorts and compares without case (one of ``CASE_INSENSITIVE``);
    skips the test when the server has none."""
    import sqlalchemy as sa

    if kind in ("citext", "citext domain"):
        try:
            db.execute("CREATE EXTENSION IF NOT EXISTS citext")
        except sa.exc.DBAPIError as exc:
            pytest.skip(
                f"this PostgreSQL cannot create the citext extension: {str(exc.orig).splitlines()[0]}"
            )
        return "citext" if kind == "citext" else pg_object(db, "DOMAIN", "cidom", "AS citext")
    try:
        locale = "(provider = icu, locale = 'und-u-ks-level2', deterministic = false)"
        return f"text COLLATE {pg_object(db, 'COLLATION', 'ci', locale)}"
    except sa.exc.DBAPIError as exc:
        pytest.skip(
            f"this PostgreSQL has no non-deterministic ICU collation: {str(exc.orig).splitlines()[0]}"
        )


def open_database(dialect: str, tmp_path: Any) -> Database:
    from tests.conftest import require_service

    if dialect == "sqlite":
        import sqlite3

        sqlite3.connect(tmp_path / "source.db").close()  # an empty database, as a server would have
        return Database("sqlite", f"sqlite:///{tmp_path}/source.db")
    url = DB_URLS[dialect]
    require_service(
        _reachable(url), f"{dialect} on 127.0.0.1 is not reachable; start it with: {DB_START[dialect]}"
    )
    return Database(dialect, url)


@pytest.fixture(params=["postgresql", "mariadb", "sqlite"])
def database(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Database]:
    """Each of the three tested databases in turn."""
    db = open_database(request.param, tmp_path)
    yield db
    db.close()


@pytest.fixture
def postgres(tmp_path: Any) -> Iterator[Database]:
    db = open_database("postgresql", tmp_path)
    yield db
    db.close()


@pytest.fixture
def mariadb(tmp_path: Any) -> Iterator[Database]:
    db = open_database("mariadb", tmp_path)
    yield db
    db.close()


@pytest.fixture
def make_db(
    make_entry: Callable[..., SourceEntry], platform: PlatformConfig, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Extractor]:
    """``make_db(database, table=..., incremental=...)``: the db extractor for those settings."""

    def make(db: Database, **section: Any) -> Extractor:
        monkeypatch.setenv("MEDALLION_TEST_DB_URL", db.url)
        return create_extractor(make_entry("db", {"url_env": "MEDALLION_TEST_DB_URL", **section}), platform)

    return make
