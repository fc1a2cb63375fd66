"""Incremental db loads over several days are exact: boundaries, late commits, re-runs (DESIGN §5)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pytest

from medallion_assets.errors import ExtractError
from medallion_assets.extractors import ExtractContext, Extractor
from tests.extractors.conftest import Database

pytestmark = pytest.mark.services

D1, D2, D3 = dt.date(2025, 1, 1), dt.date(2025, 1, 2), dt.date(2025, 1, 3)
TS_TYPE = {"postgresql": "timestamp(6)", "mariadb": "datetime(6)", "sqlite": "text"}


@dataclass(frozen=True)
class State:
    """What a committed partition hands the next one: its watermark_out and boundary hashes."""

    watermark: str | None = None
    hashes: tuple[str, ...] = ()


def state(extractor: Extractor) -> State:
    """The state a partition read by ``extractor`` commits (as the Bronze asset records it)."""
    assert extractor.watermark_out is not None
    return State(extractor.watermark_out, tuple(extractor.boundary_hashes_out or ()))


def context(day: dt.date, previous: State = State()) -> ExtractContext:
    start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    return ExtractContext(
        run_date=day,
        window_start=start,
        window_end=start + dt.timedelta(days=1),
        watermark_in=previous.watermark,
        boundary_hashes=previous.hashes,
    )


def run(extractor: Extractor, day: dt.date, previous: State = State()) -> list[int]:
    """The ids a partition reads (sorted) - the extractor's watermark_out is left on it."""
    ids: list[int] = []
    for batch in extractor.extract(context(day, previous)):
        ids += batch.column("id").to_pylist()
    return sorted(ids)


def insert(db: Any, table: str, rows: list[tuple[int, str]]) -> None:
    values = [{"id": row_id, "u": stamp} for row_id, stamp in rows]
    db.execute(f"INSERT INTO {table} (id, updated_at) VALUES (:id, :u)", values)


@pytest.fixture
def events(database: Any) -> str:
    name = database.table("events")
    database.execute(
        f"CREATE TABLE {name} (id integer, note varchar(20), updated_at {TS_TYPE[database.dialect]})"
    )
    return name


class TestWatermarkMode:
    def test_boundaries_late_commits_and_reruns(
        self, database: Any, events: str, make_db: Callable[..., Extractor]
    ) -> None:
        inc = {"cursor_column": "updated_at", "mode": "watermark", "initial_value": "2024-12-31 00:00:00"}
        make = lambda: make_db(database, table=events, incremental=inc)  # noqa: E731
        insert(
            database,
            events,
            [
                (1, "2025-01-01 10:00:00"),
                (2, "2025-01-01 23:59:59.999999"),
                (3, "2025-01-02 00:00:00"),  # exactly D1's window end: D2's row, not D1's
                (4, "2025-01-02 12:00:00"),
                (5, "2025-01-03 00:00:00"),  # D3's row
            ],
        )
        first = make()
        assert run(first, D1) == [1, 2]
        wm1 = first.watermark_out
        assert wm1 is not None and wm1.startswith("2025-01-01") and "23:59:59.999999" in wm1

        second = make()
        assert run(second, D2, state(first)) == [3, 4]  # row 2, at D1's watermark, is read again and dropped
        wm2 = second.watermark_out
        assert wm2 is not None and "2025-01-02" in wm2 and "12:00:00" in wm2
        assert second.stats["boundary_rows_dropped"] == 1

        # D3 reads from D2's watermark on (>=): row 4, at it, is dropped by its hash; D3's rows land once
        third = make()
        assert run(third, D3, state(second)) == [5]

        # re-running D1 (its watermark_in is the initial value again) reads exactly what it read before
        rerun = make()
        assert run(rerun, D1) == [1, 2] and rerun.watermark_out == wm1

        # a late commit inside D2, then D2 re-run: all of D2's changes, nothing of D1 or D3
        insert(database, events, [(6, "2025-01-02 05:00:00")])
        assert run(make(), D2, state(first)) == [3, 4, 6]

    def test_watermark_round_trips_as_the_same_string(
        self, database: Any, events: str, make_db: Callable[..., Extractor]
    ) -> None:
        insert(database, events, [(1, "2025-01-01 10:00:00.000001")])
        inc = {"cursor_column": "updated_at", "mode": "watermark"}
        first = make_db(database, table=events, incremental=inc)
        assert run(first, D1) == [1]
        again = make_db(database, table=events, incremental=inc)
        assert run(again, D1, state(first)) == []  # the row at the watermark is read again and dropped
        assert again.watermark_out == first.watermark_out
        assert first.watermark_out is not None and "10:00:00.000001" in first.watermark_out

    def test_no_rows_leaves_the_watermark_unset(
        self, database: Any, events: str, make_db: Callable[..., Extractor]
    ) -> None:
        extractor = make_db(
            database, table=events, incremental={"cursor_column": "updated_at", "mode": "watermark"}
        )
        assert run(extractor, D1, State("2025-01-01 00:00:00")) == []
        assert extractor.watermark_out is None  # the asset then keeps watermark_in


class TestWatermarkBoundary:
    """``>=`` the watermark minus the lookback, re-read versions dropped by the hashes committed with it."""

    def test_late_commits_inside_the_lookback_land_and_known_versions_do_not(
        self, database: Any, events: str, make_db: Callable[..., Extractor]
    ) -> None:
        inc = {"cursor_column": "updated_at", "mode": "watermark", "lookback": "2s"}
        make = lambda: make_db(database, table=events, incremental=inc)  # noqa: E731
        insert(
            database,
            events,
            [
                (1, "2025-01-01 10:00:00"),
                (2, "2025-01-01 12:00:00"),  # the watermark W
                (3, "2025-01-01 11:59:58.5"),  # inside [W - 2 s, W]
                (4, "2025-01-01 11:59:57"),  # below the lookback
            ],
        )
        first = make()
        assert run(first, D1) == [1, 2, 3, 4]
        # only the rows inside the lookback at the boundary are hashed: the committed set stays bounded
        assert first.boundary_hashes_out is not None and len(first.boundary_hashes_out) == 2

        # committed after D1: a row at W, row 1 moved to W - 1 s, row 3 changed without moving its cursor
        insert(database, events, [(5, "2025-01-01 12:00:00")])
        database.execute(f"UPDATE {events} SET updated_at = '2025-01-01 11:59:59' WHERE id = 1")
        database.execute(f"UPDATE {events} SET note = 'changed' WHERE id = 3")
        second = make()
        assert run(second, D2, state(first)) == [1, 3, 5]  # row 2 is unchanged: dropped; row 4 is not read
        assert second.watermark_out == first.watermark_out  # nothing above W: the watermark stays
        assert second.boundary_hashes_out is not None and len(second.boundary_hashes_out) == 4

        third = make()
        assert run(third, D3, state(second)) == []  # nothing new: every re-read version is known
        assert third.stats["boundary_rows_dropped"] == 4

    def test_identical_rows_are_counted_not_collapsed(
        self, database: Any, events: str, make_db: Callable[..., Extractor]
    ) -> None:
        inc = {"cursor_column": "updated_at", "mode": "watermark"}
        insert(database, events, [(7, "2025-01-01 12:00:00"), (7, "2025-01-01 12:00:00")])
        first = make_db(database, table=events, incremental=inc)
        assert run(first, D1) == [7, 7]
        insert(database, events, [(7, "2025-01-01 12:00:00")])  # a third identical row, committed late
        assert run(make_db(database, table=events, incremental=inc), D2, state(first)) == [7]

    def test_a_column_added_to_the_table_does_not_land_the_boundary_again(
        self, database: Any, events: str, make_db: Callable[..., Extractor]
    ) -> None:
        """The rows at the watermark, re-read after ``ALTER TABLE ... ADD COLUMN``, hashed with the new
        column (NULL in them) and were not known: row 2, unchanged, landed a second time on day 2."""
        inc = {"cursor_column": "updated_at", "mode": "watermark", "lookback": "1h"}
        make = lambda: make_db(database, table=events, incremental=inc)  # noqa: E731
        insert(database, events, [(1, "2025-01-01 10:00:00"), (2, "2025-01-01 12:00:00")])
        first = make()
        assert run(first, D1) == [1, 2]
        database.execute(f"ALTER TABLE {events} ADD COLUMN extra varchar(10)")
        database.execute(
            f"INSERT INTO {events} (id, updated_at, extra) VALUES (3, '2025-01-02 09:00:00', 'x')"
        )
        second = make()
        assert run(second, D2, state(first)) == [3]
        assert second.stats["boundary_rows_dropped"] == 1
        # a row whose new column is then set is a new version
        database.execute(f"UPDATE {events} SET extra = 'y' WHERE id = 3")
        assert run(make(), D3, state(second)) == [3]

    def test_hashes_committed_with_null_columns_still_drop_their_rows(
        self, database: Any, events: str, make_db: Callable[..., Extractor]
    ) -> None:
        """A partition committed before NULL columns were left out of the hash listed the row's hash with
        them: the next run must still drop that row rather than land it again."""
        import hashlib

        insert(database, events, [(1, "2025-01-01 12:00:00")])  # note is NULL
        stamp = "2025-01-01 12:00:00" if database.dialect == "sqlite" else "2025-01-01T12:00:00"
        canonical = f'[["id",1],["note",null],["updated_at","{stamp}"]]'
        earlier = hashlib.blake2b(canonical.encode(), digest_size=16).hexdigest()
        inc = {"cursor_column": "updated_at", "mode": "watermark"}
        extractor = make_db(database, table=events, incremental=inc)
        assert run(extractor, D2, State("2025-01-01 12:00:00", (earlier,))) == []
        assert extractor.stats["boundary_rows_dropped"] == 1

    def test_a_lookback_on_a_numeric_cursor_is_an_error(
        self, database: Any, make_db: Callable[..., Extractor]
    ) -> None:
        name = database.table("num")
        database.execute(f"CREATE TABLE {name} (id integer)")
        inc = {"cursor_column": "id", "mode": "watermark", "lookback": "2h"}
        with pytest.raises(ExtractError, match="lookback needs a date or timestamp cursor; 'id' is"):
            run(make_db(database, table=name, incremental=inc), D1, State("5"))


class TestCommitHorizon:
    """PostgreSQL: the role must see every session of the database, else a clear error (or opt out)."""

    def test_sessions_the_role_cannot_see_are_an_error_naming_the_grant(
        self, postgres: Any, make_db: Callable[..., Extractor]
    ) -> None:
        import sqlalchemy as sa

        table = postgres.table("hz")
        postgres.execute(f"CREATE TABLE {table} (id integer, updated_at timestamptz)")
        postgres.execute(f"INSERT INTO {table} VALUES (1, '2025-01-01 10:00:00+00')")
        role = f"medallion_reader_{uuid.uuid4().hex[:8]}"
        postgres.execute(f"CREATE ROLE {role} LOGIN")
        try:
            postgres.execute(f"GRANT SELECT ON {table} TO {role}")
            reader = Database("postgresql", postgres.url.replace("//postgres@", f"//{role}@"))
            inc = {"cursor_column": "updated_at", "mode": "watermark"}
            with postgres.engine.connect() as other:  # a session of another role, in a transaction
                other.execute(sa.text("SELECT 1"))
                with pytest.raises(
                    ExtractError, match=r"cannot see \d+ other session.*GRANT pg_read_all_stats"
                ):
                    run(make_db(reader, table=table, incremental=inc), D1)
                checked = make_db(reader, table=table, incremental=inc).check()  # `medallion check` says so
                assert not checked.ok and "GRANT pg_read_all_stats" in checked.detail
                opted_out = make_db(reader, table=table, incremental={**inc, "commit_horizon": False})
                assert run(opted_out, D1, State("2025-01-01T00:00:00.000000+00:00")) == [1]
            reader.engine.dispose()
        finally:
            postgres.execute(f"REVOKE ALL ON {table} FROM {role}")
            postgres.execute(f"DROP ROLE {role}")


class TestWindowMode:
    def test_lookback_boundaries_late_commits_and_reruns(
        self, database: Any, events: str, make_db: Callable[..., Extractor]
    ) -> None:
        inc = {"cursor_column": "updated_at", "mode": "window", "lookback": "2h"}
        make = lambda: make_db(database, table=events, incremental=inc)  # noqa: E731
        insert(
            database,
            events,
            [
                (1, "2024-12-31 21:59:59"),  # before D1's lookback
                (2, "2024-12-31 22:00:00"),  # exactly D1's lookback start: included
                (3, "2025-01-01 10:00:00"),
                (4, "2025-01-01 23:00:00"),  # inside D2's lookback
                (5, "2025-01-02 00:00:00"),  # exactly D1's window end: excluded from D1
                (6, "2025-01-02 12:00:00"),
            ],
        )
        first = make()
        assert run(first, D1) == [2, 3, 4]
        # the greatest cursor read is still recorded (the db_watermark sensor compares MAX(cursor) with it)
        assert first.watermark_out is not None and "2025-01-01" in first.watermark_out
        assert "23:00:00" in first.watermark_out and first.boundary_hashes_out is None
        assert run(make(), D2) == [4, 5, 6]
        # a late commit at D1 21:30 (outside D2's lookback) and one at 23:30 (inside it)
        insert(database, events, [(7, "2025-01-01 21:30:00"), (8, "2025-01-01 23:30:00")])
        assert run(make(), D2) == [4, 5, 6, 8]
        # re-running D1 is a pure function of the table: it now holds both late rows
        assert run(make(), D1) == [2, 3, 4, 7, 8]

    def test_a_query_with_its_own_where(
        self, database: Any, events: str, make_db: Callable[..., Extractor]
    ) -> None:
        insert(
            database,
            events,
            [(1, "2025-01-01 10:00:00"), (2, "2025-01-01 11:00:00"), (3, "2025-01-02 01:00:00")],
        )
        database.execute(f"UPDATE {events} SET note = 'skip' WHERE id = 2")
        query = f"SELECT id, updated_at FROM {events} WHERE note IS NULL OR note <> 'skip'"
        extractor = make_db(
            database, query=query, incremental={"cursor_column": "updated_at", "mode": "window"}
        )
        assert run(extractor, D1) == [1]


def test_integer_cursor_watermark(database: Any, make_db: Callable[..., Extractor]) -> None:
    name = database.table("ids")
    database.execute(f"CREATE TABLE {name} (id integer, note varchar(10))")
    database.execute(f"INSERT INTO {name} VALUES (:i, 'x')", [{"i": i} for i in range(1, 6)])
    inc = {"cursor_column": "id", "mode": "watermark", "initial_value": "2"}
    first = make_db(database, table=name, incremental=inc)
    assert run(first, D1) == [3, 4, 5] and first.watermark_out == "5"
    database.execute(f"INSERT INTO {name} VALUES (6, 'y')")
    assert run(make_db(database, table=name, incremental=inc), D2, state(first)) == [6]


def test_timestamptz_cursor_keeps_microseconds_and_zone(
    postgres: Any, make_db: Callable[..., Extractor]
) -> None:
    name = postgres.table("tz")
    postgres.execute(f"CREATE TABLE {name} (id integer, updated_at timestamptz)")
    postgres.execute(
        f"INSERT INTO {name} VALUES (1, '2025-01-01 23:30:00.000007+01'), (2, '2025-01-02 00:30:00+01')"
    )
    inc = {"cursor_column": "updated_at", "mode": "watermark"}
    first = make_db(postgres, table=name, incremental=inc)
    assert run(first, D1) == [1, 2]  # both are before 2025-01-02 00:00 UTC
    assert first.watermark_out == "2025-01-01T23:30:00.000000+00:00"
    # >= the watermark, to the microsecond (no hashes given, so the row at it is read again and kept)
    again = State("2025-01-01T22:30:00.000007+00:00")
    assert run(make_db(postgres, table=name, incremental=inc), D1, again) == [1, 2]
    after = State("2025-01-01T22:30:00.000008+00:00")
    assert run(make_db(postgres, table=name, incremental=inc), D1, after) == [2]


@pytest.mark.parametrize("engine", ["adbc", "sqlalchemy"])
@pytest.mark.parametrize("ddl", ["numeric", "numeric(10, 2)"])
def test_a_numeric_cursor_holding_nan_fails_naming_the_column(
    postgres: Any, engine: str, ddl: str, make_db: Callable[..., Extractor]
) -> None:
    """NaN is above every number in PostgreSQL: an unconstrained numeric cursor failed with a bare
    decimal.InvalidOperation, a numeric(10, 2) one (widened to text) committed the watermark 'NaN', after
    which no later row was ever read again."""
    name = postgres.table("nan_cursor")
    postgres.execute(f"CREATE TABLE {name} (id integer, seq {ddl})")
    postgres.execute(f"INSERT INTO {name} VALUES (1, 9.5), (2, 10.25), (3, 'NaN')")
    inc = {"cursor_column": "seq", "mode": "watermark"}
    with pytest.raises(ExtractError, match=r"cursor column 'seq' holds NaN.*seq <> 'NaN'"):
        run(make_db(postgres, table=name, incremental=inc, engine=engine), D1)


@pytest.mark.parametrize("batch", [1, 10])
def test_a_bigint_unsigned_cursor_above_2_63_keeps_the_greatest_number(
    mariadb: Any, batch: int, make_db: Callable[..., Extractor]
) -> None:
    """A BIGINT UNSIGNED above 2**63 - 1 widens the column to text; its watermark was the greatest string,
    '99' rather than 18446744073709551615, so the next partition landed the rows above 99 a second time."""
    name = mariadb.table("unsigned_cursor")
    mariadb.execute(f"CREATE TABLE {name} (id integer, seq bigint unsigned)")
    mariadb.execute(f"INSERT INTO {name} VALUES (1, 99), (2, 18446744073709551615), (3, 100)")
    inc = {"cursor_column": "seq", "mode": "watermark"}
    first = make_db(mariadb, table=name, incremental=inc, fetch_batch_size=batch)
    assert run(first, D1) == [1, 2, 3] and first.watermark_out == "18446744073709551615"
    assert run(make_db(mariadb, table=name, incremental=inc), D2, state(first)) == []


# A text cursor under a collation that does not order by code point, its rows on day 1 and the row added on
# day 2 (greater in that collation), as (dialect, column type, day 1's cursors, day 2's cursor, engine).
TEXT_CURSORS = [
    # case-insensitive (and PAD SPACE): 'B' and 'b' are one value, above 'a'
    pytest.param("mariadb", "varchar(10)", ["a", "B", "b"], "c", "auto", id="mariadb-general-ci"),
    # binary but PAD SPACE: 'b' and 'b ' are one value
    pytest.param(
        "mariadb", "varchar(10) COLLATE utf8mb4_bin", ["a", "b", "b "], "c", "auto", id="mariadb-bin"
    ),
    # case-sensitive ICU: 'B' above 'a' (by code point 'a' is the greater)
    pytest.param("postgresql", 'text COLLATE "en-x-icu"', ["a", "B"], "c", "auto", id="postgresql-icu-en"),
    # case-insensitive: 'B' and 'b' one value (citext; a non-deterministic ICU collation), with each engine
    # (ADBC binds the watermark as text, and citext >= text compares as text, with case)
    *(
        pytest.param(
            "postgresql",
            kind,
            ["a", "B", "b"],
            "c",
            engine,
            id=f"postgresql-{kind.replace(' ', '-')}-{engine}",
        )
        for kind in ("citext", "icu collation")
        for engine in ("adbc", "sqlalchemy")
    ),
    # an enum orders by its labels' declared order ('b', 'a', 'c'), not as text
    pytest.param("postgresql", "enum", ["b", "a"], "c", "sqlalchemy", id="postgresql-enum"),
    # ISO date-times of one format order alike in every collation: compared without a statement
    pytest.param(
        "mariadb",
        "varchar(30)",
        ["2025-01-01 10:00:00", "2025-01-01 09:00:00.5", "2025-01-01 09:59:59"],
        "2025-01-01 10:00:01",
        "auto",
        id="mariadb-iso-text",
    ),
]


@pytest.mark.parametrize(("dialect", "ddl", "day1", "day2", "engine"), TEXT_CURSORS)
@pytest.mark.parametrize("batch", [1, 100])
def test_a_text_cursor_compares_under_its_collation(
    tmp_path: Any,
    make_db: Callable[..., Extractor],
    dialect: str,
    ddl: str,
    day1: list[str],
    day2: str,
    engine: str,
    batch: int,
) -> None:
    """The database reads ``cursor >= watermark`` under the column's collation, but the watermark was the
    greatest cursor in code point order and the boundary its rows equal by code point: on MariaDB's default
    collation day 1 read 'a', 'B' and 'b', committed the watermark 'b', and day 2 read 'B' again, which no
    boundary hash covered, and landed it twice (on PostgreSQL under en-x-icu: 'a', then 'B' again)."""
    from tests.extractors.conftest import case_insensitive_type, open_database, pg_object

    db = open_database(dialect, tmp_path)
    try:
        if ddl in ("citext", "icu collation"):
            ddl = case_insensitive_type(db, ddl)
        if ddl == "enum":
            ddl = pg_object(db, "TYPE", "labels", "AS ENUM ('b', 'a', 'c')")
        name = db.table("text_cursor")
        db.execute(f"CREATE TABLE {name} (id integer, code {ddl})")
        db.execute(f"INSERT INTO {name} VALUES (:i, :c)", [{"i": i, "c": c} for i, c in enumerate(day1, 1)])
        inc = {"cursor_column": "code", "mode": "watermark"}
        make = lambda: make_db(  # noqa: E731
            db, table=name, incremental=inc, fetch_batch_size=batch, engine=engine
        )
        first = make()
        assert run(first, D1) == list(range(1, len(day1) + 1))
        new = len(day1) + 1
        db.execute(f"INSERT INTO {name} VALUES ({new}, :c)", {"c": day2})
        second = make()
        assert run(second, D2, state(first)) == [new]  # each row of day 1 once, the new row once
        assert second.watermark_out == day2
        assert run(make(), D3, state(second)) == []
    finally:
        db.close()


@pytest.mark.parametrize("engine", ["auto", "sqlalchemy"])
@pytest.mark.parametrize("dialect", ["postgresql", "mariadb"])
def test_a_bigint_cursor_beyond_2_53_keeps_its_exact_watermark(
    tmp_path: Any, make_db: Callable[..., Extractor], dialect: str, engine: str
) -> None:
    """A watermark of 2**53 + 1 taken through a float would be 9007199254740992: the next day would land the
    row at 2**53 + 1 again (its hash is at the watermark, not at the rounded value), and one at 2**63 - 1
    would not fit a bigint bound."""
    from tests.extractors.conftest import open_database

    db = open_database(dialect, tmp_path)
    try:
        name = db.table("bigcursor")
        db.execute(f"CREATE TABLE {name} (id integer, seq bigint)")
        rows = [(1, -(2**63)), (2, 2**53), (3, 2**53 + 1)]
        db.execute(f"INSERT INTO {name} VALUES (:i, :s)", [{"i": i, "s": s} for i, s in rows])
        inc = {"cursor_column": "seq", "mode": "watermark"}
        make = lambda: make_db(db, table=name, incremental=inc, engine=engine)  # noqa: E731
        first = make()
        assert run(first, D1) == [1, 2, 3] and first.watermark_out == "9007199254740993"
        db.execute(f"INSERT INTO {name} VALUES (4, 9007199254740994), (5, 9223372036854775807)")
        second = make()
        assert run(second, D2, state(first)) == [4, 5]
        assert second.watermark_out == "9223372036854775807"
        assert run(make(), D3, state(second)) == []
        assert run(make(), D3, State("9223372036854775806")) == [5]  # >= the watermark, exactly
    finally:
        db.close()


@pytest.mark.parametrize("dialect", ["postgresql", "mariadb"])
def test_rows_written_during_the_read_are_counted_before_and_after_it(
    tmp_path: Any, make_db: Callable[..., Extractor], dialect: str
) -> None:
    """The source was counted only after the read: a row inserted while the read streamed (read by the next
    run, nothing lost) made the count exceed the rows landed, and row_count_matches_source failed as an
    error on every busy table. The count before the read brackets what the read saw."""
    import sqlalchemy as sa

    from tests.extractors.conftest import open_database

    db = open_database(dialect, tmp_path)
    try:
        name = db.table("busy")
        db.execute(f"CREATE TABLE {name} (id integer, note varchar(20))")
        db.execute(f"INSERT INTO {name} VALUES (:i, 'x')", [{"i": i} for i in range(1, 11)])
        inc = {"cursor_column": "id", "mode": "watermark"}
        extractor = make_db(db, table=name, incremental=inc, fetch_batch_size=2)
        landed = 0
        writer = sa.create_engine(db.url, poolclass=sa.pool.NullPool)
        try:
            for number, batch in enumerate(extractor.extract(context(D2, State("5")))):
                landed += batch.num_rows
                if number == 0:  # committed while the read streams
                    with writer.begin() as conn:
                        conn.execute(sa.text(f"INSERT INTO {name} VALUES (11, 'during')"))
        finally:
            writer.dispose()
        assert extractor.stats["source_row_count_before"] == 6  # ids 5 to 10
        assert extractor.stats["source_row_count"] == 7  # and 11
        assert landed in (6, 7)  # the read saw the table before or after the insert
    finally:
        db.close()


# --- MySQL/MariaDB TIMESTAMP: an instant, read in a UTC session ---------------------------------------------

BERLIN_SUMMER, BERLIN_WINTER = "+02:00", "+01:00"  # Europe/Berlin before and after 2025-10-26 03:00 CEST


def in_zone(db: Database, zone: str) -> Any:
    """``db`` as a reader whose server's default zone is ``zone`` (set by the URL, not the server's global
    setting, which other tests share)."""
    from types import SimpleNamespace
    from urllib.parse import quote

    command = quote(f"SET time_zone='{zone}'", safe="")
    return SimpleNamespace(url=f"{db.url}?init_command={command}")


def insert_at(db: Database, table: str, zone: str, rows: list[tuple[int, str]]) -> None:
    """Rows written by a session whose ``time_zone`` is ``zone`` (the stamps are its wall times)."""
    import sqlalchemy as sa

    with db.engine.begin() as conn:
        conn.execute(sa.text("SET time_zone = :zone"), {"zone": zone})
        for row_id, stamp in rows:
            conn.execute(
                sa.text(f"INSERT INTO {table} (id, updated_at) VALUES (:i, :u)"), {"i": row_id, "u": stamp}
            )


def utc(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=dt.UTC)  # type: ignore[misc]


def test_a_mariadb_timestamp_lands_as_utc_instants_across_the_repeated_hour(
    mariadb: Database, make_db: Callable[..., Extractor]
) -> None:
    """Writers in Berlin stamp 02:10 and 02:50 twice on 2025-10-26 (summer, then winter time). Read in the
    server zone's wall time, the second 02:10 sorted below the first 02:50 and TIMESTAMP landed naive:
    each row must land once, as the instant it names."""
    name = mariadb.table("mariats_dst")
    mariadb.execute(f"CREATE TABLE {name} (id integer, updated_at timestamp(6) NULL)")
    insert_at(mariadb, name, BERLIN_SUMMER, [(1, "2025-10-26 02:10:00"), (2, "2025-10-26 02:50:00")])
    insert_at(mariadb, name, BERLIN_WINTER, [(3, "2025-10-26 02:10:00")])
    inc = {"cursor_column": "updated_at", "mode": "watermark"}
    reader = in_zone(mariadb, BERLIN_SUMMER)
    first = make_db(reader, table=name, incremental=inc)
    batches = list(first.extract(context(dt.date(2025, 10, 26))))
    table = pa.Table.from_batches(batches)
    assert table.schema.field("updated_at").type == pa.timestamp("us", tz="UTC")
    assert sorted(
        zip(table.column("id").to_pylist(), table.column("updated_at").to_pylist(), strict=True)
    ) == [
        (1, utc(2025, 10, 26, 0, 10)),
        (2, utc(2025, 10, 26, 0, 50)),
        (3, utc(2025, 10, 26, 1, 10)),
    ]
    assert first.watermark_out == "2025-10-26T01:10:00.000000+00:00"
    insert_at(mariadb, name, BERLIN_WINTER, [(4, "2025-10-26 02:30:00"), (5, "2025-10-26 02:50:00")])
    second = make_db(reader, table=name, incremental=inc)
    assert run(second, dt.date(2025, 10, 27), state(first)) == [4, 5]
    assert second.watermark_out == "2025-10-26T01:50:00.000000+00:00"


@pytest.mark.parametrize(
    ("lookback", "known_ids"),
    [pytest.param(None, [2], id="at-watermark"), pytest.param("1h", [1, 2], id="1h")],
)
def test_a_watermark_an_earlier_release_committed_for_a_mariadb_timestamp_loses_and_repeats_nothing(
    mariadb: Database, make_db: Callable[..., Extractor], lookback: str | None, known_ids: list[int]
) -> None:
    """Day 1, landed by the earlier release on a server at +02:00, committed the naive wall time 02:50 of
    row 2 and the boundary hashes of the rows as it read them (TIMESTAMP columns naive, in that wall time).
    Read as UTC, that watermark skipped row 3 (00:55Z); the old hashes must still drop rows 1-2."""
    import hashlib

    name = mariadb.table("mariats_upgrade")
    mariadb.execute(
        f"CREATE TABLE {name} (id integer, created_at timestamp(6) NULL, updated_at timestamp(6) NULL)"
    )
    mariadb.execute(
        f"INSERT INTO {name} VALUES (1, '2025-10-25 21:00:00', '2025-10-26 00:10:00'), "
        "(2, '2025-10-25 22:00:00', '2025-10-26 00:50:00'), (3, NULL, '2025-10-26 00:55:00')"
    )  # the fixture's session is at UTC: these are the instants
    old_rows = {  # as the earlier release read them: the +02:00 wall time, naive
        1: '[["created_at","2025-10-25T23:00:00"],["id",1],["updated_at","2025-10-26T02:10:00"]]',
        2: '[["created_at","2025-10-26T00:00:00"],["id",2],["updated_at","2025-10-26T02:50:00"]]',
    }
    hashes = tuple(hashlib.blake2b(old_rows[i].encode(), digest_size=16).hexdigest() for i in known_ids)
    day1 = State("2025-10-26T02:50:00.000000", hashes)
    inc = {"cursor_column": "updated_at", "mode": "watermark", "lookback": lookback}
    second = make_db(in_zone(mariadb, "+02:00"), table=name, incremental=inc)
    assert run(second, dt.date(2025, 10, 27), day1) == [3]
    assert second.stats["boundary_rows_dropped"] == len(known_ids)
    assert second.watermark_out == "2025-10-26T00:55:00.000000+00:00"


@pytest.mark.parametrize("ddl", ["datetime(6)", "timestamp(6)"])
def test_the_commit_horizon_of_a_mariadb_server_not_at_utc_reads_rows_stamped_now(
    mariadb: Database, make_db: Callable[..., Extractor], ddl: str
) -> None:
    """A row stamped NOW() by a writer at the server's default zone (+02:00) is below the commit horizon:
    a DATETIME cursor is compared with the horizon's wall time in that zone, a TIMESTAMP with its instant
    (in the UTC session, the wall time would put it two hours ahead, or behind)."""
    name = mariadb.table("mariats_horizon")
    mariadb.execute(f"CREATE TABLE {name} (id integer, updated_at {ddl} NULL)")
    import sqlalchemy as sa

    with mariadb.engine.begin() as conn:
        conn.execute(sa.text("SET time_zone = '+02:00'"))
        conn.execute(sa.text(f"INSERT INTO {name} VALUES (1, NOW(6))"))
    inc = {"cursor_column": "updated_at", "mode": "watermark"}
    extractor = make_db(in_zone(mariadb, "+02:00"), table=name, incremental=inc)
    tomorrow = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
    assert run(extractor, tomorrow) == [1]


def test_a_mariadb_timestamp_cursor_in_window_mode_lands_on_the_day_of_its_instant(
    mariadb: Database, make_db: Callable[..., Extractor]
) -> None:
    """A reader on a server at +02:00 compared a TIMESTAMP's wall time with the UTC day: 23:30Z on
    2025-10-26 (01:30 on the 27th there) landed on the 27th. It is the 26th's row."""
    name = mariadb.table("mariats_window")
    mariadb.execute(f"CREATE TABLE {name} (id integer, updated_at timestamp(6) NULL)")
    insert_at(mariadb, name, "+00:00", [(1, "2025-10-26 23:30:00"), (2, "2025-10-27 00:30:00")])
    inc = {"cursor_column": "updated_at", "mode": "window"}
    reader = in_zone(mariadb, "+02:00")
    assert run(make_db(reader, table=name, incremental=inc), dt.date(2025, 10, 26)) == [1]
    assert run(make_db(reader, table=name, incremental=inc), dt.date(2025, 10, 27)) == [2]


def test_an_upgrade_with_more_boundary_rows_than_one_statement_converts_drops_them_all(
    mariadb: Database, make_db: Callable[..., Extractor]
) -> None:
    """1,200 rows within the lookback of an earlier release's watermark, each known only by its old hash:
    their UTC values are converted back to the +02:00 wall time (in statements of 500 values, so that a
    long lookback stays under a server's max_allowed_packet), and every one is dropped; only the new row
    lands."""
    import hashlib

    name = mariadb.table("mariats_many")
    mariadb.execute(f"CREATE TABLE {name} (id integer, updated_at timestamp(6) NOT NULL)")
    start = dt.datetime(2025, 10, 26)  # UTC: the fixture's session is at UTC
    rows = [(i, start + dt.timedelta(seconds=i)) for i in range(1, 1201)]
    values = ", ".join(f"({i}, '{t:%Y-%m-%d %H:%M:%S}')" for i, t in rows)
    mariadb.execute(f"INSERT INTO {name} VALUES {values}, (1201, '2025-10-26 00:30:00')")
    old = [  # as the earlier release read them: the +02:00 wall time, naive
        f'[["id",{i}],["updated_at","{t + dt.timedelta(hours=2):%Y-%m-%dT%H:%M:%S}"]]' for i, t in rows
    ]
    hashes = tuple(hashlib.blake2b(text.encode(), digest_size=16).hexdigest() for text in old)
    day1 = State("2025-10-26T02:20:00.000000", hashes)
    inc = {"cursor_column": "updated_at", "mode": "watermark", "lookback": "1h"}
    second = make_db(in_zone(mariadb, "+02:00"), table=name, incremental=inc)
    assert run(second, dt.date(2025, 10, 27), day1) == [1201]
    assert second.stats["boundary_rows_dropped"] == 1200
