"""Connecting to a SQL database: the URL, its redaction, and retries of transient connection failures.

The URL comes from the environment variable named by ``db.url_env`` (or, without credentials, from
``db.url``). Every message that could carry it goes through ``SqlTarget.redact``: the password is replaced
by ``***`` wherever it appears, and the target is described as ``<dialect> database '<db>' on <host>:<port>``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import quote, quote_plus

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from medallion_resources.errors import ExtractError

__all__ = ["RetryPolicy", "SqlTarget", "connect_with_retries", "create_sa_engine", "is_transient"]

T = TypeVar("T")
_log = logging.getLogger("medallion.sql")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a connection that failed for a transient reason."""

    attempts: int = 4
    first_delay: float = 0.5
    max_delay: float = 8.0

    def delays(self) -> list[float]:
        return [min(self.first_delay * 2**i, self.max_delay) for i in range(self.attempts - 1)]


DEFAULT_RETRY = RetryPolicy()


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
        """``text`` with the password (raw and URL-encoded) replaced by ``***``."""
        password = self.url.password
        if password:
            for form in (str(password), quote(str(password), safe=""), quote_plus(str(password))):
                text = _mask(text, form)
        return text


def _mask(text: str, secret: str) -> str:
    return text.replace(secret, "***") if secret else text


def create_sa_engine(target: SqlTarget) -> sa.Engine:
    """A SQLAlchemy engine without a pool (one connection per extraction; nothing lingers)."""
    database = target.url.database
    if target.dialect == "sqlite" and database and database != ":memory:" and not os.path.exists(database):
        # SQLite would create an empty file and then report missing tables; say what is really wrong
        raise ExtractError(
            f"{target.describe()} does not exist (check db.url / the path in '{target.url_env}')"
        )
    try:
        return sa.create_engine(target.url, poolclass=sa.pool.NullPool)
    except (ImportError, sa.exc.ArgumentError, sa.exc.NoSuchModuleError) as exc:
        raise ExtractError(
            f"cannot create a SQLAlchemy engine for {target.describe()} from '{target.url_env}': "
            f"{target.redact(str(exc))} (install the dialect's driver, e.g. psycopg, PyMySQL)"
        ) from None


def is_transient(exc: BaseException) -> bool:
    """Connection-level failures worth retrying: refused, reset, timed out, server starting up."""
    if isinstance(exc, sa.exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        return isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError)
    if isinstance(exc, ConnectionError | TimeoutError):
        return True
    # other DBAPI drivers (ADBC, raw psycopg): connection trouble is their OperationalError/InterfaceError
    return type(exc).__name__ in ("OperationalError", "InterfaceError")


def connect_with_retries(
    target: SqlTarget, connect: Callable[[], T], policy: RetryPolicy = DEFAULT_RETRY
) -> T:
    """Call ``connect`` until it succeeds, retrying transient failures with exponential backoff.

    Raises:
        ExtractError: naming the host and database (never the password) once the attempts are spent, or at
            once for a failure that is not transient (bad credentials are reported as the server words it).
    """
    delays = policy.delays()
    for attempt in range(policy.attempts):
        try:
            return connect()
        except Exception as exc:  # noqa: BLE001 - classified just below, re-raised as ExtractError
            transient = is_transient(exc)
            if transient and attempt < len(delays):
                _log.warning(
                    "connecting to %s failed (attempt %d of %d), retrying in %.1fs: %s",
                    target.describe(),
                    attempt + 1,
                    policy.attempts,
                    delays[attempt],
                    target.redact(_first_line(exc)),
                )
                time.sleep(delays[attempt])
                continue
            tries = f" after {attempt + 1} attempts" if attempt else ""
            raise ExtractError(
                f"cannot connect to {target.describe()}{tries}: {target.redact(_first_line(exc))}"
            ) from None
    raise AssertionError("unreachable")  # pragma: no cover


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()
    return f"{type(orig).__name__}: {text[0] if text else ''}"
