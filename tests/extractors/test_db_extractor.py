"""The db extractor: full loads, identifier validation and injection, retries, redaction and check()."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pytest
import sqlalchemy as sa
import sqlalchemy.dialects.postgresql
from pydantic import ValidationError

from medallion_assets.config.models import PlatformConfig, SourceEntry
from medallion_assets.errors import ExtractError
from medallion_assets.extractors import ExtractContext, Extractor, create_extractor
from medallion_assets.extractors.db import DbExtractor, parse_lookback
from medallion_resources.sql import SqlQuery, SqlTarget
from medallion_resources.sql.connect import RetryPolicy
from medallion_resources.sql.engines import AdbcEngine
from medallion_resources.sql.query import base_select

pytestmark = pytest.mark.services


def drain(extractor: Extractor, ctx: ExtractContext) -> pa.Table:
    return pa.Table.from_batches(list(extractor.extract(ctx)))


@pytest.fixture
def orders(database: Any) -> str:
    name = database.table("orders")
    database.execute(f"CREATE TABLE {name} (id integer, amount numeric(10,2), updated_at varchar(30))")
    rows = [{"i": i, "a": i * 1.5, "u": f"2025-01-01 0{i}:00:00"} for i in range(1, 8)]
    database.execute(f"INSERT INTO {name} VALUES (:i, :a, :u)", rows)
    return name


class TestFullLoad:
    def test_table_streams_in_batches(
        self, database: Any, orders: str, make_db: Callable[..., Extractor], make_context: Callable[..., Any]
    ) -> None:
        extractor = make_db(database, table=orders, fetch_batch_size=3)
        batches = list(extractor.extract(make_context()))
        assert [b.num_rows for b in batches] == [3, 3, 1]
        assert extractor.stats["batches"] == 3
        assert sorted(pa.Table.from_batches(batches).column("id").to_pylist()) == list(range(1, 8))
        assert extractor.watermark_out is None  # full loads have no cursor

    def test_query_with_a_percent_and_trailing_semicolon(
        self, database: Any, orders: str, make_db: Callable[..., Extractor], make_context: Callable[..., Any]
    ) -> None:
        query = f"SELECT id, updated_at FROM {orders} WHERE updated_at LIKE '%03:00%';  "
        assert drain(make_db(database, query=query), make_context()).column("id").to_pylist() == [3]

    @pytest.mark.parametrize(
        "reads", [{}, {"chunk_rows": 2, "key_columns": ["id"]}, {"parallelism": 2, "key_columns": ["id"]}]
    )
    def test_a_query_ending_in_a_line_comment(
        self,
        database: Any,
        orders: str,
        reads: dict[str, Any],
        make_db: Callable[..., Extractor],
        make_context: Callable[..., Any],
    ) -> None:
        """Each statement wraps the query as ``(<query>) AS ...``: a last line ending in a comment commented
        out the closing parenthesis and the WHERE after it ('syntax error at end of input')."""
        comment = "# not the first" if database.dialect == "mariadb" else "-- not the first"
        query = f"SELECT id, updated_at\nFROM {orders}\nWHERE id > 4  {comment}"
        table = drain(make_db(database, query=query, **reads), make_context())
        assert sorted(table.column("id").to_pylist()) == [5, 6, 7]

    def test_schema_qualified_table(
        self, postgres: Any, make_db: Callable[..., Extractor], make_context: Callable[..., Any]
    ) -> None:
        name = postgres.table("qualified")
        postgres.execute(f"CREATE TABLE public.{name} (id integer)")
        postgres.execute(f"INSERT INTO public.{name} VALUES (42)")
        table = drain(make_db(postgres, table=name, schema="public"), make_context())
        assert table.column("id").to_pylist() == [42]

    def test_an_empty_table_yields_its_columns_and_no_rows(
        self, database: Any, make_db: Callable[..., Extractor], make_context: Callable[..., Any]
    ) -> None:
        """An empty full load is an empty snapshot with its columns (Silver then deletes, or refuses to
        delete, every key), never a Bronze partition without columns."""
        name = database.table("empty")
        database.execute(f"CREATE TABLE {name} (id integer, name varchar(10))")
        extractor = make_db(database, table=name)
        [batch] = list(extractor.extract(make_context()))
        assert batch.num_rows == 0 and batch.schema.names == ["id", "name"]
        assert extractor.stats["batches"] == 0
        assert extractor.stats["batches"] == 0

    @pytest.mark.parametrize("engine", ["adbc", "sqlalchemy"])
    def test_a_statement_timeout_while_streaming_names_the_database(
        self, postgres: Any, engine: str, make_db: Callable[..., Extractor], make_context: Callable[..., Any]
    ) -> None:
        """ADBC raised libpq's bare 'OSError: [libpq] Execution error' naming no database (and, before, it
        dropped the URL's options, so the statement_timeout set there did not apply to it at all)."""
        sleep = "pg_sleep(CASE WHEN g = 3 THEN 1 ELSE 0 END)"
        query = f"SELECT g AS id, {sleep} AS z FROM generate_series(1, 5) g"
        postgres.url += "?options=-c%20statement_timeout%3D300"
        with pytest.raises(ExtractError, match=r"query failed on postgresql database .*statement timeout"):
            drain(make_db(postgres, query=query, engine=engine, fetch_batch_size=1), make_context())

    def test_a_bad_query_names_the_database(
        self, database: Any, make_db: Callable[..., Extractor], make_context: Callable[..., Any]
    ) -> None:
        with pytest.raises(ExtractError, match=r"query failed on .*database"):
            list(make_db(database, table="medallion_no_such_table").extract(make_context()))


class TestInjection:
    @pytest.mark.parametrize(
        ("section", "key"),
        [
            ({"table": "orders; DROP TABLE orders"}, "db.table"),
            ({"table": 'orders" --'}, "db.table"),
            ({"table": "orders", "schema": 'public"."pg_user'}, "db.schema"),
            (
                {"table": "orders", "incremental": {"cursor_column": "id OR 1=1", "mode": "watermark"}},
                "db.incremental.cursor_column",
            ),
        ],
    )
    def test_identifiers_are_validated(
        self,
        database: Any,
        orders: str,
        make_db: Callable[..., Extractor],
        section: dict[str, Any],
        key: str,
    ) -> None:
        """Refused when the config loads (``medallion validate``), before anything connects."""
        section = {**section, "table": section["table"].replace("orders", orders)}
        with pytest.raises(ValidationError, match=r"is not a valid identifier; allowed"):
            make_db(database, **section)

    @pytest.mark.parametrize(
        ("table", "schema", "key"),
        [("orders; DROP TABLE orders", None, "db.table"), ("orders", 'public"."pg_user', "db.schema")],
    )
    def test_the_query_builder_refuses_them_too(self, table: str, schema: str | None, key: str) -> None:
        """Defence in depth: SQL text is only ever built from identifiers that pass the same rule."""
        with pytest.raises(ExtractError, match=rf"{key}: .* is not a valid identifier; allowed"):
            base_select(sa.dialects.postgresql.dialect(), table=table, schema=schema, query=None)

    def test_a_watermark_value_is_bound_never_spliced(
        self, database: Any, orders: str, make_db: Callable[..., Extractor], make_context: Callable[..., Any]
    ) -> None:
        hostile = f"x'; DROP TABLE {orders}; --"
        inc = {"cursor_column": "updated_at", "mode": "watermark", "initial_value": hostile}
        extractor = make_db(database, table=orders, incremental=inc)
        # compared as the text it is: every row sorts before 'x', nothing is dropped
        assert sum(batch.num_rows for batch in extractor.extract(make_context())) == 0
        with sa.create_engine(database.url, poolclass=sa.pool.NullPool).connect() as conn:
            assert conn.execute(sa.text(f"SELECT count(*) FROM {orders}")).scalar() == 7

    def test_a_typed_cursor_rejects_a_value_of_the_wrong_type(
        self, postgres: Any, make_db: Callable[..., Extractor], make_context: Callable[..., Any]
    ) -> None:
        name = postgres.table("typed")
        postgres.execute(f"CREATE TABLE {name} (id integer, updated_at timestamp)")
        inc = {"cursor_column": "updated_at", "mode": "watermark", "initial_value": "2025' OR '1'='1"}
        with pytest.raises(
            ExtractError, match=r"initial_value .* is not a valid value for cursor column 'updated_at'"
        ):
            list(make_db(postgres, table=name, incremental=inc).extract(make_context()))

    def test_window_mode_needs_a_temporal_cursor(
        self, postgres: Any, make_db: Callable[..., Extractor], make_context: Callable[..., Any]
    ) -> None:
        name = postgres.table("numeric")
        postgres.execute(f"CREATE TABLE {name} (id integer)")
        with pytest.raises(
            ExtractError, match=r"mode 'window' needs a date or timestamp cursor column; 'id' is int"
        ):
            list(
                make_db(postgres, table=name, incremental={"cursor_column": "id", "mode": "window"}).extract(
                    make_context()
                )
            )

    def test_an_unknown_cursor_column_lists_the_columns(
        self, database: Any, orders: str, make_db: Callable[..., Extractor], make_context: Callable[..., Any]
    ) -> None:
        inc = {"cursor_column": "changed_at", "mode": "watermark"}
        with pytest.raises(
            ExtractError, match=r"cursor_column 'changed_at' is not a column .*: id, amount, updated_at"
        ):
            list(make_db(database, table=orders, incremental=inc).extract(make_context()))

    @pytest.fixture
    def cased(self, postgres: Any) -> str:
        """A PostgreSQL table with two columns whose names differ only in case: ``"Seq"`` and ``seq``."""
        name = postgres.table("cased")
        postgres.execute(f'CREATE TABLE {name} ("Seq" integer, seq integer, name text)')
        postgres.execute(f"INSERT INTO {name} VALUES (100, 1, 'a'), (200, 2, 'b')")
        return name

    @pytest.mark.parametrize("setting", ["cursor_column", "key_columns"])
    def test_a_name_matching_two_columns_only_by_case_fails_naming_both(
        self,
        postgres: Any,
        cased: str,
        setting: str,
        make_db: Callable[..., Extractor],
        make_context: Callable[..., Any],
    ) -> None:
        """``SEQ`` is neither column exactly, and folds to both: taking the first silently read the
        watermark (or the chunk key) off a column the user may not have meant."""
        inc = {"cursor_column": "SEQ" if setting == "cursor_column" else "seq", "mode": "watermark"}
        section: dict[str, Any] = {"table": cased, "incremental": inc}
        if setting == "key_columns":
            section |= {"key_columns": ["SEQ"], "chunk_rows": 1}
        with pytest.raises(
            ExtractError,
            match=rf"{setting} 'SEQ' matches 2 columns of the query that differ only in case: Seq, seq; "
            r"write the one meant with its exact case",
        ):
            list(make_db(postgres, **section).extract(make_context()))

    @pytest.mark.parametrize(("cursor", "watermark"), [("Seq", "200"), ("seq", "2")])
    def test_a_name_matching_one_column_exactly_takes_it_beside_one_differing_in_case(
        self,
        postgres: Any,
        cased: str,
        cursor: str,
        watermark: str,
        make_db: Callable[..., Extractor],
        make_context: Callable[..., Any],
    ) -> None:
        inc = {"cursor_column": cursor, "mode": "watermark"}
        extractor = make_db(postgres, table=cased, incremental=inc, key_columns=[cursor], chunk_rows=1)
        assert drain(extractor, make_context()).num_rows == 2
        assert extractor.watermark_out == watermark
        assert extractor.stats["key_columns"] == [cursor]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TestConnection:
    @pytest.mark.parametrize("scheme", ["postgresql+psycopg", "mysql+pymysql"])
    def test_unreachable_server_is_retried_then_named_without_the_password(
        self,
        scheme: str,
        make_entry: Callable[..., SourceEntry],
        platform: PlatformConfig,
        make_context: Callable[..., Any],
        monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        port = _closed_port()
        monkeypatch.setenv("MEDALLION_TEST_DB_URL", f"{scheme}://alice:S3cr%40tPw@127.0.0.1:{port}/warehouse")
        extractor = create_extractor(
            make_entry("db", {"url_env": "MEDALLION_TEST_DB_URL", "table": "t"}), platform
        )
        assert isinstance(extractor, DbExtractor)
        extractor.retry = RetryPolicy(max_attempts=3, base_delay_seconds=0.01)
        with caplog.at_level("WARNING"), pytest.raises(ExtractError) as info:
            list(extractor.extract(make_context()))
        message = str(info.value)
        assert f"database 'warehouse' on 127.0.0.1:{port} after 3 attempts" in message
        assert "S3cr" not in message and "S3cr" not in caplog.text
        assert caplog.text.count("retrying in") == 2
        check = extractor.check()
        assert not check.ok and "warehouse" in check.detail and "S3cr" not in check.detail

    def test_the_adbc_engine_retries_and_redacts_too(
        self, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        port = _closed_port()
        monkeypatch.setenv(
            "MEDALLION_TEST_DB_URL", f"postgresql://alice:S3cr%40tPw@127.0.0.1:{port}/warehouse"
        )
        target = SqlTarget.from_env("MEDALLION_TEST_DB_URL")
        engine = AdbcEngine(target, RetryPolicy(max_attempts=2, base_delay_seconds=0.01))
        with caplog.at_level("WARNING"), pytest.raises(ExtractError) as info:
            list(engine.stream(SqlQuery("SELECT 1 AS one"), [], 10))
        assert f"database 'warehouse' on 127.0.0.1:{port} after 2 attempts" in str(info.value)
        assert "S3cr" not in str(info.value) and "S3cr" not in caplog.text
        assert caplog.text.count("retrying in") == 1

    def test_missing_env_var(self, make_entry: Callable[..., SourceEntry], platform: PlatformConfig) -> None:
        extractor = create_extractor(
            make_entry("db", {"url_env": "MEDALLION_UNSET_URL", "table": "t"}), platform
        )
        check = extractor.check()
        assert not check.ok and "environment variable 'MEDALLION_UNSET_URL' is not set" in check.detail

    def test_check_reports_columns_and_types_without_reading(
        self, postgres: Any, make_db: Callable[..., Extractor]
    ) -> None:
        name = postgres.table("check")
        postgres.execute(f"CREATE TABLE {name} (id bigint, amount numeric(12,2), seen timestamptz)")
        postgres.execute(f"INSERT INTO {name} VALUES (1, 2.5, now())")
        result = make_db(postgres, table=name).check()
        assert result.ok, result.detail
        assert "postgresql database 'test' on 127.0.0.1:5432: 3 columns" in result.detail
        assert "id int64, amount decimal128(12, 2), seen timestamp[us, tz=UTC]" in result.detail

    def test_a_missing_sqlite_file_is_reported_not_created(
        self, tmp_path: Any, make_entry: Callable[..., SourceEntry], platform: PlatformConfig
    ) -> None:
        path = tmp_path / "nowhere.db"
        extractor = create_extractor(make_entry("db", {"url": f"sqlite:///{path}", "table": "t"}), platform)
        result = extractor.check()
        assert not result.ok and f"sqlite database '{path}' does not exist" in result.detail
        assert not path.exists()

    def test_check_of_a_missing_table_fails(self, database: Any, make_db: Callable[..., Extractor]) -> None:
        result = make_db(database, table="medallion_missing_table").check()
        assert not result.ok and "query failed" in result.detail


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("2h", 7200), ("1 d", 86400), (None, 0)])
def test_parse_lookback(text: str | None, seconds: int) -> None:
    assert parse_lookback(text).total_seconds() == seconds


class TestConfig:
    @pytest.mark.parametrize(
        ("db", "message"),
        [
            ({"url": "postgresql://bob:pw@db/x", "table": "t"}, "'url' holds a password"),
            ({"url": "sqlite:///a.db", "url_env": "X", "table": "t"}, "set exactly one of 'url_env'"),
            ({"table": "t"}, "set exactly one of 'url_env'"),
            ({"url_env": "X", "table": "t", "query": "SELECT 1"}, "set exactly one of 'query' or 'table'"),
        ],
    )
    def test_invalid_db_sections(
        self, make_entry: Callable[..., SourceEntry], db: dict, message: str
    ) -> None:
        with pytest.raises(ValueError, match=message):
            make_entry("db", db)

    def test_a_relative_sqlite_url_resolves_against_the_project(self, tmp_path: Any) -> None:
        import yaml

        from medallion_assets.config.loader import load_config

        configs = tmp_path / "configs"
        configs.mkdir()
        platform = {"bronze": {"local_path": "lake/b"}, "silver": {"local_path": "lake/s"}}
        source = {
            "source": {
                "system": "s",
                "table": "t",
                "type": "db",
                "db": {"url": "sqlite:///data/x.db", "table": "t"},
            },
            "silver": {"model": "periodic_snapshot"},
        }
        (configs / "all.yaml").write_text(
            yaml.safe_dump({"config_version": 1, "platform": platform, "sources": [source]})
        )
        config = load_config(configs)
        assert config.sources[0].source.db.url == f"sqlite:///{tmp_path / 'data' / 'x.db'}"
