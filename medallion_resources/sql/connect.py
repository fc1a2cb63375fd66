"""Connecting to a SQL database: the URL, its redaction, and retries of transient connection failures.

The URL comes from the environment variable named by ``db.url_env`` (or, without credentials, from
``db.url``). Every message that could carry it goes through ``SqlTarget.redact`` (the one redactor,
``medallion_resources.redact``, with the password as a known secret), and the target is described as
``<dialect> database '<db>' on <host>:<port>``.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from medallion_resources.errors import ExtractError
from medallion_resources.redact import redact
from medallion_resources.retry import RetryBudgetSpent, RetryPolicy, exception_chain
from medallion_resources.sql.zones import utc_sessions

__all__ = [
    "DEFAULT_RETRY",
    "RetryPolicy",
    "SqlTarget",
    "connect_with_retries",
    "create_sa_engine",
    "first_line",
    "is_transient",
    "sa_connection",
]

T = TypeVar("T")
_log = logging.getLogger("medallion.sql")


DEFAULT_RETRY = RetryPolicy(max_attempts=4, base_delay_seconds=0.5, max_delay_seconds=8.0, jitter=0.0)
"""Connections: 4 tries, waiting 0.5, 1 and 2 s (a server starting up, a failover)."""


@dataclass(frozen=True)
class SqlTarget:
    """A database URL resolved from the environment, with everything needed to talk about it safely."""

    url: URL
    url_env: str

    @classmethod
    def from_config(cls, url: str | None, url_env: str | None, source: str = "") -> SqlTarget:
        """From ``db.url`` (no credentials) or the environment variable named by ``db.url_env``."""
        if url:
            return cls._parse(url, "db.url", "", source)
        assert url_env is not None
        return cls.from_env(url_env, source)

    @classmethod
    def from_env(cls, url_env: str, source: str = "") -> SqlTarget:
        where = f"source '{source}': " if source else ""
        raw = os.environ.get(url_env)
        if not raw:
            raise ExtractError(
                f"{where}db.url_env: environment variable '{url_env}' is not set; set it to a SQLAlchemy "
                "URL such as postgresql+psycopg://user:password@host:5432/db"
            )
        return cls._parse(raw, f"db.url_env: '{url_env}'", url_env, source)

    @classmethod
    def _parse(cls, raw: str, what: str, url_env: str, source: str) -> SqlTarget:
        where = f"source '{source}': " if source else ""
        try:
            url = make_url(raw)
        except (sa.exc.ArgumentError, ValueError):
            raise ExtractError(
                f"{where}{what} does not hold a valid SQLAlchemy URL; expected "
                "dialect+driver://user:password@host:port/database"
            ) from None
        return cls(url=url, url_env=url_env or "db.url")

    @property
    def dialect(self) -> str:
        """The backend name: ``postgresql``, ``mysql``, ``mariadb``, ``sqlite``, ..."""
        return self.url.get_backend_name()

    def describe(self) -> str:
        """``postgresql database 'test' on 127.0.0.1:5432`` (never the user's password)."""
        if self.dialect == "sqlite":
            return f"sqlite database '{self.url.database or ':memory:'}'"
        port = f":{self.url.port}" if self.url.port else ""
        return f"{self.dialect} database '{self.url.database or ''}' on {self.url.host or 'localhost'}{port}"

    def safe_url(self) -> str:
        return self.url.render_as_string(hide_password=True)

    def redact(self, text: str) -> str:
        """``text`` without the password (raw and URL-encoded) or any other credential form."""
        password = self.url.password
        return redact(text, (str(password),) if password else ())


def create_sa_engine(target: SqlTarget) -> sa.Engine:
    """A SQLAlchemy engine without a pool (one connection per extraction; nothing lingers)."""
    database = target.url.database
    if target.dialect == "sqlite" and database and database != ":memory:" and not os.path.exists(database):
        # SQLite would create an empty file and then report missing tables; say what is really wrong
        raise ExtractError(
            f"{target.describe()} does not exist (check db.url / the path in '{target.url_env}')"
        )
    try:
        engine = sa.create_engine(target.url, poolclass=sa.pool.NullPool)
    except (ImportError, sa.exc.ArgumentError, sa.exc.NoSuchModuleError) as exc:
        raise ExtractError(
            f"cannot create a SQLAlchemy engine for {target.describe()} from '{target.url_env}': "
            f"{target.redact(str(exc))} (install the dialect's driver, e.g. psycopg, PyMySQL)"
        ) from None
    utc_sessions(engine)  # MySQL/MariaDB TIMESTAMP columns read as UTC instants (sql.zones)
    return engine


def is_transient(exc: BaseException) -> bool:
    """Connection-level failures worth retrying: refused, reset, timed out, server starting up."""
    if isinstance(exc, sa.exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        return isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError)
    for item in exception_chain(exc):
        if isinstance(item, ConnectionError | TimeoutError):
            return True
        # other DBAPI drivers (ADBC, raw psycopg): connection trouble is their OperationalError/InterfaceError
        if type(item).__name__ in ("OperationalError", "InterfaceError"):
            return True
    return False


def connect_with_retries(
    target: SqlTarget, connect: Callable[[], T], policy: RetryPolicy = DEFAULT_RETRY
) -> T:
    """Call ``connect`` until it succeeds, retrying transient failures with exponential backoff.

    Raises:
        ExtractError: naming the host and database (never the password) once the attempts are spent, or at
            once for a failure that is not transient (bad credentials are reported as the server words it).
    """
    retried = 0

    def log(attempt: int, delay: float, exc: Exception) -> None:
        nonlocal retried
        retried = attempt
        _log.warning(
            "connecting to %s failed (attempt %d of %d), retrying in %.1fs: %s",
            target.describe(),
            attempt,
            policy.max_attempts,
            delay,
            target.redact(first_line(exc)),
        )

    try:
        return policy.call(connect, is_transient, on_retry=log)
    except RetryBudgetSpent as spent:
        attempts, last = spent.attempts, spent.last
    except Exception as exc:  # noqa: BLE001 - not transient: re-raised as ExtractError
        attempts, last = retried + 1, exc
    tries = f" after {attempts} attempts" if attempts > 1 else ""
    raise ExtractError(
        f"cannot connect to {target.describe()}{tries}: {target.redact(first_line(last))}"
    ) from None


@contextlib.contextmanager
def sa_connection(
    target: SqlTarget,
    retry: RetryPolicy,
    failure: str,
    *,
    errors: type[Exception] = sa.exc.DBAPIError,
    reason: Callable[[BaseException], str] | None = None,
) -> Iterator[sa.Connection]:
    """A connection of a pool-less engine (connected with retries), disposed with its engine afterwards.

    An ``errors`` exception raised while it is used (the statement, the fetch) becomes an ``ExtractError``
    ``"<failure> <target>: <reason>"``, the password redacted (``reason``: the error's first line).
    """
    engine = create_sa_engine(target)
    try:
        with connect_with_retries(target, engine.connect, retry) as conn:
            try:
                yield conn
            except errors as exc:
                why = (reason or first_line)(exc)
                raise ExtractError(f"{failure} {target.describe()}: {target.redact(why)}") from None
    finally:
        engine.dispose()


def first_line(exc: BaseException) -> str:
    """A driver error in one line: its class and the first line of its text."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()
    return f"{type(orig).__name__}: {text[0] if text else ''}"
