"""``sa_connection``: the one way the SQL helpers connect, and what a failed statement becomes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine

from medallion_resources.errors import ExtractError
from medallion_resources.sql.connect import DEFAULT_RETRY, SqlTarget, sa_connection


def test_a_failed_statement_is_an_extract_error_and_the_connection_is_closed(tmp_path: Path) -> None:
    path = tmp_path / "source.db"
    sqlite3.connect(path).close()
    target = SqlTarget.from_config(f"sqlite:///{path}", None)
    opened: list[object] = []
    closed: list[object] = []

    def on_connect(dbapi: object, _record: object) -> None:
        opened.append(dbapi)

    def on_close(dbapi: object, _record: object) -> None:
        closed.append(dbapi)

    event.listen(Engine, "connect", on_connect)
    event.listen(Engine, "close", on_close)
    try:
        with sa_connection(target, DEFAULT_RETRY, "count query failed on") as conn:
            assert conn.execute(sa.text("SELECT 1")).scalar() == 1
        with (
            pytest.raises(
                ExtractError, match=r"^count query failed on .*: OperationalError: no such table: nope$"
            ),
            sa_connection(target, DEFAULT_RETRY, "count query failed on") as conn,
        ):
            conn.execute(sa.text("SELECT count(*) FROM nope"))
        # Another kind of error passes through as it is; every connection is closed either way.
        with pytest.raises(ZeroDivisionError), sa_connection(target, DEFAULT_RETRY, "query failed on"):
            _ = 1 / 0
    finally:
        event.remove(Engine, "connect", on_connect)
        event.remove(Engine, "close", on_close)
    assert len(opened) == 3 and closed == opened
