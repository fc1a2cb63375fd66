"""The commit horizon: how far a ``watermark`` read may go without skipping a row still to be committed.

A cursor such as ``updated_at DEFAULT now()`` is stamped before its transaction commits, and transactions
commit in any order: a transaction that wrote at 10:00 and commits at 10:05 adds rows stamped 10:00 after rows
stamped 10:03 (another transaction) were already visible. A run that reads up to 10:03 and moves its watermark
there would never see them. So a ``watermark`` run reads only ``cursor <= horizon``, where no transaction open
now, or begun later, can write a cursor below the horizon; the next run reads ``>=`` its watermark again
(DESIGN §5), so a late row exactly at the horizon is caught too, and the watermark stays at or below the
stamps of every transaction still open, whose rows the next run reads.

When a database stamps, and where it shows what is open:

- **PostgreSQL**: ``now()`` is the start of the *transaction*; ``pg_stat_activity.xact_start`` shows it::

      horizon = least(statement_timestamp(), min(xact_start) of the other sessions of this database
                                              that have a transaction open)

  autovacuum is ignored, every other session of the database counts, read-only ones included (a read-only
  transaction can still write before it ends, stamped with its start). The role must see the other sessions
  (superuser, ``pg_read_all_stats`` or the same role), and a standby is refused (its ``pg_stat_activity``
  does not show the primary's transactions).
- **MariaDB / MySQL**: ``NOW()`` is the start of the *statement*. A transaction that wrote rows is in
  ``information_schema.INNODB_TRX`` from its first statement on (``trx_started``, to the second, the
  server's system time zone); a statement running now is in ``information_schema.PROCESSLIST`` (``TIME``:
  whole seconds since it started, when its ``NOW()`` was taken)::

      horizon = least(NOW(), min(trx_started) - 1 s, min(NOW() - TIME) - 1 s of the statements running)

  over the other sessions whose default database is the source's or none (a writer that qualifies another
  database's tables from a session of a third is not seen). The second of margin covers both columns'
  truncation to the second. Reading ``INNODB_TRX`` needs the ``PROCESS`` privilege (without it
  ``PROCESSLIST`` silently shows only the role's own sessions), so a role without it is an error naming the
  grant. A replica shows only its own transactions: read from the primary.

Writers must stamp the cursor from the server clock at or after their transaction's (PostgreSQL) or
statement's (MariaDB) start, in a default, a trigger or the statement. ``incremental.commit_horizon: false``
reads without the horizon; the lookback is then the only protection.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa

from medallion_resources.errors import ExtractError
from medallion_resources.sql.connect import DEFAULT_RETRY, RetryPolicy, SqlTarget, sa_connection
from medallion_resources.sql.zones import server_zone

__all__ = ["HORIZON_DIALECTS", "CommitHorizon", "commit_horizon"]

#: The dialects whose horizon is known (SQLAlchemy dialect names).
HORIZON_DIALECTS = frozenset({"postgresql", "mysql", "mariadb"})

_HIDDEN = "<insufficient privilege>"  # pg_stat_activity.query of a session the role may not see

_POSTGRES_SQL = f"""
SELECT least(n.now_, o.xact_start) AS horizon,
       least(n.now_, o.xact_start)::timestamp AS horizon_local,
       o.pid AS oldest_pid,
       o.xact_start AS oldest_start,
       (SELECT count(*) FROM pg_stat_activity h
         WHERE h.datname = current_database() AND h.pid <> pg_backend_pid() AND h.query = '{_HIDDEN}')
         AS hidden,
       pg_is_in_recovery() AS standby
FROM (SELECT statement_timestamp() AS now_) AS n
LEFT JOIN LATERAL (
    SELECT a.pid, a.xact_start FROM pg_stat_activity a
     WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() AND a.xact_start IS NOT NULL
       AND a.backend_type NOT IN ('autovacuum worker', 'autovacuum launcher')
     ORDER BY a.xact_start LIMIT 1
) AS o ON true
"""

# Run with the session's time_zone at SYSTEM: trx_started is the server's system-zone wall clock, which
# UNIX_TIMESTAMP then reads as such. Sessions of the source's database or of none; a transaction whose
# session is gone (an XA transaction prepared, recovered) counts too.
_MARIADB_SQL = """
SELECT UNIX_TIMESTAMP(NOW(6)) AS now_epoch,
       (SELECT MIN(UNIX_TIMESTAMP(t.trx_started)) - 1
          FROM information_schema.INNODB_TRX t
          LEFT JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id
         WHERE t.trx_mysql_thread_id <> CONNECTION_ID()
           AND (p.ID IS NULL OR p.DB IS NULL OR p.DB = DATABASE())) AS trx_epoch,
       (SELECT t.trx_mysql_thread_id
          FROM information_schema.INNODB_TRX t
          LEFT JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id
         WHERE t.trx_mysql_thread_id <> CONNECTION_ID()
           AND (p.ID IS NULL OR p.DB IS NULL OR p.DB = DATABASE())
         ORDER BY t.trx_started LIMIT 1) AS trx_session,
       (SELECT MIN(UNIX_TIMESTAMP(NOW(6)) - p.TIME - 1)
          FROM information_schema.PROCESSLIST p
         WHERE p.ID <> CONNECTION_ID() AND p.COMMAND IN ('Query', 'Execute')
           AND (p.DB IS NULL OR p.DB = DATABASE())) AS statement_epoch,
       (SELECT p.ID FROM information_schema.PROCESSLIST p
         WHERE p.ID <> CONNECTION_ID() AND p.COMMAND IN ('Query', 'Execute')
           AND (p.DB IS NULL OR p.DB = DATABASE())
         ORDER BY p.TIME DESC LIMIT 1) AS statement_session
"""


@dataclass(frozen=True)
class CommitHorizon:
    """The horizon as an instant and as the wall clock of the server's time zone (what the
    database stores in a timestamp-without-time-zone column stamped by its clock)."""

    instant: dt.datetime  # aware
    local: dt.datetime  # naive
    oldest_pid: int | None  # the session whose open transaction (or statement) holds the horizon back
    oldest_start: dt.datetime | None

    def describe(self) -> str:
        if self.oldest_pid is None or self.oldest_start is None:
            return f"commit horizon {self.instant.isoformat()} (no other transaction open)"
        return (
            f"commit horizon {self.instant.isoformat()}: the oldest open transaction (session "
            f"{self.oldest_pid}) began then; its rows and later ones wait for a later run"
        )


def commit_horizon(target: SqlTarget, retry: RetryPolicy = DEFAULT_RETRY) -> CommitHorizon:
    """The commit horizon of ``target``'s database (the module docstring): a read up to it skips no row of
    a transaction still open. Only for ``HORIZON_DIALECTS``."""
    with sa_connection(target, retry, "cannot read the commit horizon of") as conn:
        if target.dialect == "postgresql":
            return _postgres(target, conn)
        return _mariadb(target, conn)


def _postgres(target: SqlTarget, conn: sa.Connection) -> CommitHorizon:
    row = conn.execute(sa.text(_POSTGRES_SQL)).one()
    if row.standby:
        raise ExtractError(
            f"{target.describe()} is a standby: its pg_stat_activity does not show the primary's open "
            "transactions, so watermark mode cannot bound its read at the commit horizon. Read from the "
            "primary, or set db.incremental.commit_horizon: false (then only the lookback catches late "
            "commits)"
        )
    if row.hidden:
        raise ExtractError(
            f"the role of {target.describe()} cannot see {row.hidden} other session(s) of the database, any "
            "of which may hold an open transaction, so watermark mode cannot find the commit horizon. Run "
            "'GRANT pg_read_all_stats TO <role>', or set db.incremental.commit_horizon: false (then only "
            "the lookback catches late commits)"
        )
    return CommitHorizon(row.horizon, row.horizon_local, row.oldest_pid, row.oldest_start)


def _mariadb(target: SqlTarget, conn: sa.Connection) -> CommitHorizon:
    zone = conn.execute(sa.text("SELECT @@session.time_zone")).scalar_one()
    conn.execute(sa.text("SET time_zone = 'SYSTEM'"))
    try:
        row = conn.execute(sa.text(_MARIADB_SQL)).one()
    except sa.exc.DBAPIError as exc:
        code = exc.orig.args[0] if exc.orig is not None and exc.orig.args else None
        if code in (1227, 1142):  # ER_SPECIFIC_ACCESS_DENIED_ERROR, ER_TABLEACCESS_DENIED_ERROR
            raise ExtractError(
                f"the role of {target.describe()} may not read information_schema.INNODB_TRX, so watermark "
                "mode cannot see which transactions are open and cannot find the commit horizon. Run "
                "'GRANT PROCESS ON *.* TO <user>', or set db.incremental.commit_horizon: false (then only "
                "the lookback catches late commits)"
            ) from None
        raise
    candidates = [(row.now_epoch, None)]
    if row.trx_epoch is not None:
        candidates.append((row.trx_epoch, row.trx_session))
    if row.statement_epoch is not None:
        candidates.append((row.statement_epoch, row.statement_session))
    epoch, session = min(candidates, key=lambda c: c[0])
    # The server zone's wall clock of that instant: what a writer's NOW() stored in a DATETIME column (a
    # TIMESTAMP cursor is compared with the instant, in medallion's UTC session: sql.zones).
    conn.execute(sa.text("SET time_zone = :zone"), {"zone": server_zone(conn)})
    local = conn.execute(sa.text("SELECT FROM_UNIXTIME(:epoch)"), {"epoch": epoch}).scalar_one()
    conn.execute(sa.text("SET time_zone = :zone"), {"zone": zone})
    seconds = Decimal(epoch)
    instant = dt.datetime.fromtimestamp(int(seconds), dt.UTC) + dt.timedelta(
        microseconds=int((seconds - int(seconds)) * 1_000_000)
    )
    held = int(session) if session is not None else None
    return CommitHorizon(instant, local, held, instant if held is not None else None)
