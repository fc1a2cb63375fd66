"""Keyset-chunked and parallel range reads give exactly the rows of one read (PostgreSQL, MariaDB, SQLite).

A chunked read holds no snapshot between chunks (checked in ``pg_stat_activity`` while the consumer is
paused); with a writer updating and inserting rows concurrently, every key present throughout is read
exactly once. What each mode guarantees is written in docs/db_extractor.md.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa
import pytest
import sqlalchemy as sa

from medallion_assets.errors import ExtractError
from medallion_assets.extractors import ExtractContext, Extractor
from medallion_resources.lake.schema import unify_tables
from tests.extractors.conftest import Database, open_database

pytestmark = pytest.mark.services
ROWS = 503


def drain(extractor: Extractor, ctx: ExtractContext) -> pa.Table:
    """Every batch, widened into one table (MariaDB text and SQLite columns are typed per batch)."""
    return unify_tables([pa.Table.from_batches([b]) for b in extractor.extract(ctx)])


def rows_of(table: pa.Table) -> Counter[tuple[Any, ...]]:
    return Counter(tuple(row.values()) for row in table.to_pylist())


@pytest.fixture(params=["postgresql", "mariadb"])
def server(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Database]:
    """The two database servers (SQLite has one writer at a time and no column types to split on)."""
    db = open_database(request.param, tmp_path)
    yield db
    db.close()


@pytest.fixture
def events(database: Any) -> str:
    return make_events(database)


@pytest.fixture
def server_events(server: Any) -> str:
    return make_events(server)


@pytest.fixture
def numbered(database: Any) -> str:
    return make_numbered(database)


@pytest.fixture
def server_numbered(server: Any) -> str:
    return make_numbered(server)


def make_events(database: Any) -> str:
    """A table with a two-column primary key, a timestamp, text, NULLs and a numeric column."""
    name = database.table("events")
    database.execute(
        f"CREATE TABLE {name} (region varchar(8) NOT NULL, n integer NOT NULL, at timestamp NULL, "
        f"label varchar(20), amount numeric(12,2), PRIMARY KEY (region, n))"
    )
    rows = [
        {
            "r": ["north", "south", "east"][i % 3],
            "n": i,
            "at": None if i % 17 == 0 else f"2025-01-{1 + i % 28:02d} {i % 24:02d}:00:00",
            "l": None if i % 5 == 0 else f"label {i}",
            "a": i * 1.25,
        }
        for i in range(ROWS)
    ]
    database.execute(f"INSERT INTO {name} VALUES (:r, :n, :at, :l, :a)", rows)
    return name


def make_numbered(database: Any) -> str:
    """A table keyed by an integer id with gaps and a NULL-able non-key integer."""
    name = database.table("numbered")
    database.execute(f"CREATE TABLE {name} (id integer PRIMARY KEY, grp integer, label varchar(20))")
    rows = [{"i": i * 3 + (i % 7), "g": None if i % 11 == 0 else i % 9, "l": f"x{i}"} for i in range(ROWS)]
    database.execute(f"INSERT INTO {name} VALUES (:i, :g, :l)", rows)
    return name


class TestChunked:
    @pytest.mark.parametrize("chunk_rows", [7, ROWS, 10_000])
    def test_a_composite_key_table_equals_one_read(
        self,
        database: Any,
        events: str,
        make_db: Callable[..., Extractor],
        make_context: Callable[..., Any],
        chunk_rows: int,
    ) -> None:
        single = drain(make_db(database, table=events), make_context())
        extractor = make_db(database, table=events, chunk_rows=chunk_rows, fetch_batch_size=5)
        chunked = drain(extractor, make_context())
        assert chunked.schema == single.schema
        assert rows_of(chunked) == rows_of(single) and chunked.num_rows == ROWS
        assert extractor.stats["key_columns"] == ["region", "n"]  # the primary key, found by itself
        # the chunks (each fetches one row more than it hands on: the last one is short), then the
        # statement reading rows whose key holds a NULL
        assert extractor.stats["source_snapshots"] == -(-ROWS // chunk_rows) + 1
        assert extractor.stats["source_snapshot_seconds"] >= 0

    def test_query_with_key_columns_and_incremental_window(
        self, database: Any, events: str, make_db: Callable[..., Extractor], make_context: Callable[..., Any]
    ) -> None:
        query = f"SELECT region, n, at, label FROM {events}"
        window = {"cursor_column": "at", "mode": "window"}
        from datetime import date

        ctx = make_context(date(2025, 1, 3))
        single = drain(make_db(database, query=query, incremental=window), ctx)
        chunked = drain(
            make_db(database, query=query, incremental=window, chunk_rows=4, key_columns=["n", "region"]), ctx
        )
        assert single.num_rows > 4
        assert rows_of(chunked) == rows_of(single)

    def test_a_text_key_that_looks_like_numbers_is_compared_as_text(
        self, database: Any, make_db: Callable[..., Extractor], make_context: Callable[..., Any]
    ) -> None:
        name = database.table("codes")
        database.execute(f"CREATE TABLE {name} (code varchar(10) PRIMARY KEY, v integer)")
        codes = ["010", "9", "10", "abc", "1e3", "-5", "Z", "09", "100", " 7"]
        database.execute(
            f"INSERT INTO {name} VALUES (:c, :v)", [{"c": c, "v": i} for i, c in enumerate(codes)]
        )
        chunked = drain(make_db(database, table=name, chunk_rows=2), make_context())
        assert sorted(chunked.column("code").to_pylist()) == sorted(codes)

    def test_a_table_without_a_key_is_refused_naming_key_columns(
        self, database: Any, make_db: Callable[..., Extractor], make_context: Callable[..., Any]
    ) -> None:
        name = database.table("nokey")
        database.execute(f"CREATE TABLE {name} (id integer, v integer)")
        with pytest.raises(
            ExtractError, match=rf"chunk_rows needs a key: table '{name}' has no primary key.*key_columns"
        ):
            drain(make_db(database, table=name, chunk_rows=10), make_context())


class TestParallel:
    @pytest.mark.parametrize("parallelism", [2, 3, 16])
    def test_integer_key_ranges_equal_one_read(
        self,
        database: Any,
        numbered: str,
        make_db: Callable[..., Extractor],
        make_context: Callable[..., Any],
        parallelism: int,
    ) -> None:
        single = drain(make_db(database, table=numbered), make_context())
        extractor = make_db(database, table=numbered, parallelism=parallelism, fetch_batch_size=50)
        ranged = drain(extractor, make_context())
        assert ranged.schema == single.schema
        assert rows_of(ranged) == rows_of(single) and ranged.num_rows == ROWS
        assert extractor.stats["source_snapshots"] == parallelism
        # every range's engine, not only the first's (auto: ADBC on PostgreSQL, SQLAlchemy elsewhere)
        assert extractor.stats["engine"] == ("adbc" if database.dialect == "postgresql" else "sqlalchemy")

    def test_ranges_of_a_nullable_timestamp_keep_the_nulls(
        self,
        server: Any,
        server_events: str,
        make_db: Callable[..., Extractor],
        make_context: Callable[..., Any],
    ) -> None:
        single = drain(make_db(server, table=server_events), make_context())
        ranged = drain(
            make_db(server, table=server_events, parallelism=4, key_columns=["at"]), make_context()
        )
        assert rows_of(ranged) == rows_of(single)
        assert sum(1 for v in ranged.column("at").to_pylist() if v is None) == len(range(0, ROWS, 17))

    @pytest.mark.parametrize("key", ["numeric", "real"])
    def test_a_numeric_key_holding_nan_is_read_whole(
        self, postgres: Any, key: str, make_db: Callable[..., Extractor], make_context: Callable[..., Any]
    ) -> None:
        """PostgreSQL sorts NaN above every number, so MAX is NaN: splitting on a Decimal NaN raised
        decimal.InvalidOperation and failed the run."""
        name = postgres.table("nans")
        postgres.execute(f"CREATE TABLE {name} (k {key} PRIMARY KEY, label text)")
        postgres.execute(
            f"INSERT INTO {name} VALUES (-1e20, 'a'), (0.1, 'b'), (0.3, 'c'), (7, 'd'), ('NaN', 'e')"
        )
        for reads in ({"parallelism": 3}, {"parallelism": 2, "chunk_rows": 2}):
            table = drain(make_db(postgres, table=name, **reads), make_context())
            assert sorted(table.column("label").to_pylist()) == ["a", "b", "c", "d", "e"], reads

    def test_parallel_chunked_ranges(
        self,
        database: Any,
        numbered: str,
        make_db: Callable[..., Extractor],
        make_context: Callable[..., Any],
    ) -> None:
        single = drain(make_db(database, table=numbered), make_context())
        extractor = make_db(database, table=numbered, parallelism=2, chunk_rows=40)
        assert rows_of(drain(extractor, make_context())) == rows_of(single)
        assert extractor.stats["source_snapshots"] > 2

    def test_a_text_key_cannot_be_split(
        self, database: Any, events: str, make_db: Callable[..., Extractor], make_context: Callable[..., Any]
    ) -> None:
        with pytest.raises(
            ExtractError, match=r"parallelism splits on a numeric, date or timestamp key.*'label'"
        ):
            drain(make_db(database, table=events, parallelism=2, key_columns=["label"]), make_context())


# --- PostgreSQL: every key type chunks accept ---------------------------------------------------------

_TEXTS = (
    "(ARRAY['a', 'B', 'b', 'é', 'E', 'a b', '', 'Z', 'z1', 'z10', 'z2', ' ', 'a' || chr(9), '~'])[g % 14 + 1]"
)
_STEP = "interval '1 hour 7 minutes 0.000001 second'"
PG_KEYS = {  # key type → its value for row g (of generate_series(1, 40))
    "smallint": "g * 37 % 61 - 30",
    "integer": "g * 7919 % 1000 - 500",
    "bigint": "(g * 7919 % 1000 - 500) * 1000000000000",
    "numeric(12,3)": "g * 7.125 - 100",
    "numeric": "(g * 7.125 - 100) * 10::numeric ^ (g % 5 - 2)",
    "real": "g / 7.0",
    "double precision": "CASE g % 13 WHEN 0 THEN 'NaN' WHEN 1 THEN 'Infinity' WHEN 2 THEN '-Infinity' "
    "ELSE (g / 7.0)::text END",
    "boolean": "g % 2 = 0",
    "bytea": "decode(lpad(to_hex(g * 37 % 256), 2, '0') || repeat('00', g % 3), 'hex')",
    "date": "date '2025-01-01' + g * 13",
    "timestamp": f"timestamp '2025-01-01' + g * {_STEP}",
    "timestamptz": f"timestamptz '2025-01-01 00:00+00' + g * {_STEP}",
    "uuid": "md5(g::text)::uuid",
    "text": _TEXTS,
    "varchar(10)": _TEXTS,
    "char(3)": _TEXTS,
    'text COLLATE "en-x-icu"': _TEXTS,  # a deterministic collation that is not the database's
    "citext": _TEXTS,
    "icu collation": _TEXTS,  # case-insensitive, non-deterministic
    "enum": "(ARRAY['z', 'b', 'a'])[g % 3 + 1]",
}


@pytest.mark.parametrize("engine", ["adbc", "sqlalchemy"])
@pytest.mark.parametrize("key_type", list(PG_KEYS))
def test_every_postgresql_key_type_chunks_accept_reads_every_row(
    postgres: Any,
    make_db: Callable[..., Extractor],
    make_context: Callable[..., Any],
    key_type: str,
    engine: str,
) -> None:
    """Each type docs/db_extractor.md lists for a chunked key, as the leading column of a composite key,
    read in chunks of 2 by either engine: the rows of one read, each once (before: ``citext`` and enum keys
    skipped rows or failed with ADBC)."""
    pytest.importorskip("adbc_driver_postgresql")
    from tests.extractors.conftest import CASE_INSENSITIVE, case_insensitive_type, pg_object

    if key_type in CASE_INSENSITIVE:
        column = case_insensitive_type(postgres, key_type)
    elif key_type == "enum":
        column = pg_object(postgres, "TYPE", "keyenum", "AS ENUM ('z', 'b', 'a')")
    else:
        column = key_type
    name = postgres.table("keytype")
    postgres.execute(
        f"CREATE TABLE {name} (k {column} NOT NULL, n integer NOT NULL, v integer, PRIMARY KEY (k, n))"
    )
    value = f"CAST(({PG_KEYS[key_type]})::text AS {column.split(' COLLATE')[0]})"
    postgres.execute(
        f"INSERT INTO {name} SELECT {value}, g % 7, g FROM generate_series(1, 40) AS g ON CONFLICT DO NOTHING"
    )
    single = drain(make_db(postgres, table=name, engine="sqlalchemy"), make_context())
    extractor = make_db(postgres, table=name, engine=engine, chunk_rows=2, fetch_batch_size=3)
    chunked = drain(extractor, make_context())
    assert single.num_rows > 10
    assert _nan_as_text(rows_of(chunked)) == _nan_as_text(rows_of(single))
    assert extractor.stats["engine"] == engine


def test_medallion_check_reports_a_key_chunks_cannot_read_by(
    postgres: Any, make_db: Callable[..., Extractor]
) -> None:
    """``medallion check`` refuses the key the run would refuse, reading no row."""
    name = postgres.table("checkkey")
    postgres.execute(f"CREATE TABLE {name} (k inet PRIMARY KEY, v integer)")
    result = make_db(postgres, table=name, chunk_rows=2).check()
    assert not result.ok
    assert "key column 'k' of type inet" in result.detail and "Remove db.chunk_rows" in result.detail
    assert make_db(postgres, table=name).check().ok


def test_a_chunk_that_does_not_advance_fails_instead_of_looping(postgres: Any) -> None:
    """Should a bound key ever compare otherwise than it sorts (here: a text key bound as ``"char"``, its
    first character, so the chunk after ``'aa'`` starts at ``'aa'`` again), the read fails rather than read
    the same chunk for ever."""
    from medallion_resources.sql import SqlQuery, SqlTarget, describe_query, select_engine
    from medallion_resources.sql.keys import KeyColumn
    from medallion_resources.sql.reads import SnapshotClock, keyset_chunks

    name = postgres.table("loop")
    postgres.execute(f"CREATE TABLE {name} (k text PRIMARY KEY)")
    postgres.execute(f"INSERT INTO {name} VALUES ('aa'), ('ab'), ('ac')")
    target = SqlTarget.from_config(postgres.url, None, "loop")
    query = SqlQuery(f"SELECT * FROM {name}")
    columns = describe_query(target, query)
    wrong = [KeyColumn(columns[0], cast='"char"')]
    chunks = keyset_chunks(select_engine("sqlalchemy", target), query, columns, wrong, 1, 10, SnapshotClock())
    with pytest.raises(ExtractError, match=r"chunk after key \('aa'\) of \(k\) ended at that key again"):
        for _ in range(10):
            next(chunks)


def _nan_as_text(rows: Counter[tuple[Any, ...]]) -> Counter[tuple[Any, ...]]:
    """The rows with NaN written ``'NaN'``: NaN is not equal to itself, so a Counter would not match it."""
    return Counter(
        {tuple("NaN" if isinstance(v, float) and v != v else v for v in row): n for row, n in rows.items()}
    )


# --- concurrency: real writers while the extraction reads ------------------------------------------------


def _writer(url: str, table: str, stop: threading.Event, done: list[int]) -> None:
    """Update non-key columns of existing rows and insert new keys above the range, until stopped."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    n = 0
    try:
        while not stop.is_set():
            with engine.begin() as conn:
                conn.execute(
                    sa.text(f"UPDATE {table} SET label = :l WHERE id % 10 = :m"), {"l": f"u{n}", "m": n % 10}
                )
                conn.execute(sa.text(f"INSERT INTO {table} VALUES (:i, 1, 'new')"), {"i": 10_000_000 + n})
            n += 1
            time.sleep(0.002)
    finally:
        done.append(n)
        engine.dispose()


@pytest.mark.parametrize(
    "mode", [{"chunk_rows": 20}, {"parallelism": 3}, {"parallelism": 2, "chunk_rows": 15}]
)
def test_with_a_concurrent_writer_every_key_is_read_once(
    server: Any,
    server_numbered: str,
    make_db: Callable[..., Extractor],
    make_context: Callable[..., Any],
    mode: dict[str, int],
) -> None:
    database, numbered = server, server_numbered
    initial = set(drain(make_db(database, table=numbered), make_context()).column("id").to_pylist())
    stop, done = threading.Event(), []
    writer = threading.Thread(target=_writer, args=(database.url, numbered, stop, done))
    writer.start()
    try:
        time.sleep(0.05)
        read = drain(make_db(database, table=numbered, fetch_batch_size=7, **mode), make_context())
    finally:
        stop.set()
        writer.join()
    assert done and done[0] > 0  # the writer did write while we read
    ids = read.column("id").to_pylist()
    assert len(ids) == len(set(ids)), "a key was read twice"
    assert initial <= set(ids), "a key present throughout was missed"
    assert all(i in initial or i >= 10_000_000 for i in ids)


def test_a_chunked_read_holds_no_snapshot_while_its_rows_are_handed_on(
    postgres: Any, make_db: Callable[..., Extractor], make_context: Callable[..., Any]
) -> None:
    """With the consumer paused (writing Parquet, say), one read keeps its transaction; chunks hold none.

    Sessions are counted by an open transaction, not by a snapshot (``backend_xmin``): once the server
    has sent the whole COPY into the socket and the driver's buffers, the one read's session is idle in
    its transaction and holds no snapshot, although it holds the table until the stream is closed.
    """
    name = postgres.table("big")
    postgres.execute(
        f"CREATE TABLE {name} AS SELECT g AS id, repeat('x', 60) AS pad FROM generate_series(1, 300000) AS g"
    )
    postgres.execute(f"ALTER TABLE {name} ADD PRIMARY KEY (id)")

    def transactions_open() -> int:
        with postgres.engine.connect() as conn:
            return int(
                conn.execute(
                    sa.text(
                        "SELECT count(*) FROM pg_stat_activity WHERE query LIKE :q "
                        "AND pid <> pg_backend_pid() AND xact_start IS NOT NULL"
                    ),
                    {"q": f"%{name}%"},
                ).scalar_one()
            )

    single = make_db(postgres, table=name, fetch_batch_size=1000).extract(make_context())
    try:
        next(single)
        assert transactions_open() == 1
    finally:
        single.close()
    # The closed read's backend leaves pg_stat_activity when PostgreSQL has torn it down, after the client
    # hung up (asynchronously: on a loaded machine it was still listed at the check below once).
    deadline = time.monotonic() + 10
    while transactions_open() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert transactions_open() == 0
    chunked_extractor = make_db(postgres, table=name, chunk_rows=50_000, fetch_batch_size=1000)
    chunked = chunked_extractor.extract(make_context())
    try:
        next(chunked)
        assert transactions_open() == 0
        rows = 1000 + sum(b.num_rows for b in chunked)
    finally:
        chunked.close()
    assert rows == 300_000
    assert chunked_extractor.stats["source_snapshots"] == 6 + 1  # 6 chunks, then the rows with NULL keys


# --- a property: random small tables, random chunk sizes and range counts --------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_random_tables_land_the_multiset_of_their_rows(
    server: Any, make_db: Callable[..., Extractor], make_context: Callable[..., Any], seed: int
) -> None:
    """Whatever the table, chunk size, range count and key, the rows read are the table's rows, each once.

    The reference is deliberately plain: ``SELECT *`` as a Counter of tuples. Keys: the primary key (its
    first column repeats across chunk boundaries), or a key led by a nullable column (NULLs in a chunked
    key, NULLs in the split column); boundaries fall on existing values often (small integer ranges).
    """
    import random
    from datetime import datetime, timedelta

    rng = random.Random(seed)
    name = f"db_prop_{uuid.uuid4().hex[:10]}"
    server.tables.append(name)  # dropped by the fixture
    stamp = "timestamp(6)" if server.dialect == "postgresql" else "datetime(6)"
    server.execute(
        f"CREATE TABLE {name} (a integer NOT NULL, b varchar(6) NOT NULL, c integer NULL, t {stamp} NULL, "
        "PRIMARY KEY (a, b))"
    )
    rows = {}
    for _ in range(rng.randint(0, 40)):
        a, b = rng.randint(-3, 3), rng.choice(["x", "X", "y", "é", "z1", "z10", "z2", ""])
        rows[(a, b.lower() if server.dialect == "mariadb" else b)] = {
            "a": a,
            "b": b,
            "c": rng.choice([None, rng.randint(-2, 2)]),
            "t": rng.choice([None, datetime(2025, 1, 1) + timedelta(hours=rng.randint(0, 3))]),
        }
    if rows:
        server.execute(f"INSERT INTO {name} VALUES (:a, :b, :c, :t)", list(rows.values()))
    with server.engine.connect() as conn:
        expected = Counter(tuple(r) for r in conn.execute(sa.text(f"SELECT a, b, c, t FROM {name}")))
    for _ in range(6):
        mode: dict[str, Any] = {"fetch_batch_size": rng.randint(1, 5)}
        if rng.random() < 0.7:
            mode["chunk_rows"] = rng.randint(1, len(rows) + 2)
        if rng.random() < 0.6 or "chunk_rows" not in mode:
            mode["parallelism"] = rng.randint(2, 5)
        key = rng.choice([None, ["c", "a", "b"], ["t", "a", "b"]])
        if key:
            mode["key_columns"] = key
        read = drain(make_db(server, table=name, **mode), make_context())
        got = Counter(tuple(r[k] for k in ("a", "b", "c", "t")) for r in read.to_pylist())
        assert got == expected, mode


# Integers a float64 cannot hold (2**53 + 1 rounds to 2**53) next to their neighbours, and bigint's ends.
BIG_KEYS = [-(2**63), -(2**53) - 1, 0, 2**53, 2**53 + 1, 2**53 + 2, 2**63 - 2, 2**63 - 1]


@pytest.mark.parametrize("engine", ["auto", "sqlalchemy"])
@pytest.mark.parametrize(
    "reads",
    [{"chunk_rows": 1}, {"chunk_rows": 2}, {"parallelism": 3}, {"parallelism": 4, "chunk_rows": 1}],
    ids=["chunks-1", "chunks-2", "ranges-3", "ranges-4-chunks-1"],
)
def test_bigint_keys_beyond_2_53_are_read_exactly_once(
    server: Any,
    make_db: Callable[..., Extractor],
    make_context: Callable[..., Any],
    reads: dict[str, Any],
    engine: str,
) -> None:
    """Keyset chunk bounds and parallel range bounds of a bigint key stay integers: through a float, the
    chunk after 2**53 would start after 2**53 + 1 rounded (2**53), reading 2**53 + 1 twice, and range bounds
    near 2**63 would overflow bigint."""
    name = server.table("bigkeys")
    server.execute(f"CREATE TABLE {name} (k bigint PRIMARY KEY, copy varchar(24))")
    server.execute(f"INSERT INTO {name} VALUES (:k, :c)", [{"k": k, "c": str(k)} for k in BIG_KEYS])
    table = drain(make_db(server, table=name, engine=engine, **reads), make_context())
    assert sorted(zip(table.column("k").to_pylist(), table.column("copy").to_pylist(), strict=True)) == [
        (k, str(k)) for k in BIG_KEYS
    ]
