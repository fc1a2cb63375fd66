"""MySQL/MariaDB ``TIMESTAMP`` columns read as instants: every session medallion opens is at UTC.

The server stores a ``TIMESTAMP`` as an instant and shows it in the session's ``time_zone`` (the server's
default, often ``SYSTEM``, unless the URL's ``init_command`` sets another). In a zone with daylight saving
the hour the clocks go back shows two instants as one wall time, so a watermark compared in wall time
skipped or re-read rows. ``utc_sessions`` sets ``time_zone = '+00:00'`` on every connection of an engine,
so a ``TIMESTAMP`` is read, bound and compared in UTC (landed as ``timestamp[us, tz=UTC]``, as PostgreSQL
``timestamptz``). A ``DATETIME`` is not converted by any session zone: it is still the wall time as stored.

The zone the session had before (``server_zone``) is what the writers' ``NOW()`` stamps a ``DATETIME`` in
(the commit horizon of a ``DATETIME`` cursor) and what an earlier release read ``TIMESTAMP`` columns in: a
watermark it committed (naive, ``upgraded_watermark``) and the values it hashed the boundary rows with
(``server_wall``) are converted by the server itself, so a named zone needs no tz tables of ours.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

__all__ = ["UTC_ZONE", "server_wall", "server_zone", "upgraded_watermark", "utc_sessions"]

UTC_ZONE = "+00:00"
_ZONE_VARIABLE = "@medallion_server_zone"  # a session variable
_MYSQL = ("mysql", "mariadb")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_PER_SELECT = 500  # values converted per statement by server_wall


def utc_sessions(engine: sa.Engine) -> None:
    """Make every MySQL/MariaDB connection of ``engine`` read ``TIMESTAMP`` columns in UTC (module
    docstring), recording the zone it had before (``server_zone``). Other dialects are left alone."""
    if engine.dialect.name not in _MYSQL:
        return

    @sa.event.listens_for(engine, "connect")
    def _utc(dbapi_connection: Any, record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:  # one round trip: the zone it had is kept in the session, read only where it is needed
            cursor.execute(f"SET {_ZONE_VARIABLE} = @@session.time_zone, time_zone = '{UTC_ZONE}'")
        finally:
            cursor.close()


def server_zone(conn: sa.Connection) -> str:
    """The zone the connection's session had before ``utc_sessions`` set UTC (the server's default or the
    URL's): what ``NOW()`` of a writer at the defaults stamps a ``DATETIME`` in."""
    zone = conn.execute(sa.text(f"SELECT COALESCE({_ZONE_VARIABLE}, @@global.time_zone)")).scalar_one()
    return str(zone)


def upgraded_watermark(conn: sa.Connection, wall: dt.datetime) -> dt.datetime:
    """A naive watermark an earlier release committed for a ``TIMESTAMP`` cursor (the server zone's wall
    time) as the UTC instant it named. In the hour a zone's clocks go back the wall time names two
    instants and the server picks one (docs/db_extractor.md, "Upgrading: MySQL/MariaDB TIMESTAMP")."""
    zone = server_zone(conn)
    value = conn.execute(
        sa.text("SELECT CONVERT_TZ(:wall, :zone, :utc)"), {"wall": wall, "zone": zone, "utc": UTC_ZONE}
    ).scalar_one()
    if value is None:  # a named zone without the server's tz tables: the session converts instead
        conn.execute(sa.text("SET time_zone = :zone"), {"zone": zone})
        try:
            epoch = conn.execute(sa.text("SELECT UNIX_TIMESTAMP(:wall)"), {"wall": wall}).scalar_one()
        finally:
            conn.execute(sa.text(f"SET time_zone = '{UTC_ZONE}'"))
        return _from_epoch(epoch)
    return _utc(value)


def server_wall(conn: sa.Connection, instants: Sequence[dt.datetime]) -> list[dt.datetime]:
    """UTC ``instants`` as the naive wall times of the server zone (an earlier release's ``TIMESTAMP``
    values), converted by the server (``FROM_UNIXTIME`` in a session at that zone)."""
    if not instants:
        return []
    zone = server_zone(conn)
    walls: list[dt.datetime] = []
    conn.execute(sa.text("SET time_zone = :zone"), {"zone": zone})
    try:  # (an upgrade's first run may ask for every row of the lookback: a bounded select list each)
        for start in range(0, len(instants), _PER_SELECT):
            chunk = instants[start : start + _PER_SELECT]
            params = {f"e{i}": _epoch(v) for i, v in enumerate(chunk)}
            select = ", ".join(f"FROM_UNIXTIME(:e{i})" for i in range(len(chunk)))
            walls.extend(conn.execute(sa.text(f"SELECT {select}"), params).one())
    finally:
        conn.execute(sa.text(f"SET time_zone = '{UTC_ZONE}'"))
    return walls


def _epoch(instant: dt.datetime) -> Decimal:
    """An instant as exact Unix-epoch seconds (microseconds kept)."""
    aware = instant if instant.tzinfo is not None else instant.replace(tzinfo=dt.UTC)
    delta = aware - _EPOCH
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return Decimal(micros).scaleb(-6)


def _from_epoch(epoch: Any) -> dt.datetime:
    micros = int(Decimal(str(epoch)).scaleb(6))
    return _EPOCH + dt.timedelta(microseconds=micros)


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC)
