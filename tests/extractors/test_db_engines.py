"""The engines (SQLAlchemy, ADBC, auto) give identical schemas and rows; auto picks ADBC for PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pytest

from medallion_assets.errors import ExtractError
from medallion_assets.extractors import ExtractContext, Extractor
from tests.extractors.test_db_types import POSTGRES

pytestmark = pytest.mark.services


def drain(extractor: Extractor, ctx: ExtractContext) -> pa.Table:
    return pa.Table.from_batches(list(extractor.extract(ctx)))


@pytest.fixture
def typed_table(postgres: Any) -> str:
    name = postgres.table("engines")
    columns = ", ".join(f"{col} {ddl}" for col, (ddl, *_rest) in POSTGRES.items())
    postgres.execute(f"CREATE TABLE {name} (id integer, updated_at timestamptz, {columns})")
    values = ", ".join(value for _ddl, value, *_rest in POSTGRES.values())
    postgres.execute(
        f"INSERT INTO {name} SELECT g, timestamptz '2025-01-02 00:00:00+00' - g * interval '1 minute', "
        f"{values} FROM generate_series(1, 2500) AS g"
    )
    postgres.execute(f"INSERT INTO {name} (id, updated_at) VALUES (0, '2025-01-01 12:00:00+00')")
    return name


@pytest.mark.parametrize(
    "section",
    [
        {},
        {"incremental": {"cursor_column": "updated_at", "mode": "window", "lookback": "1h"}},
        {
            "incremental": {
                "cursor_column": "updated_at",
                "mode": "watermark",
                "initial_value": "2025-01-01T23:00:00+00:00",
            }
        },
    ],
    ids=["full", "window", "watermark"],
)
def test_engines_agree(
    postgres: Any,
    typed_table: str,
    make_db: Callable[..., Extractor],
    make_context: Callable[..., ExtractContext],
    section: dict[str, Any],
) -> None:
    ctx = make_context(dt.date(2025, 1, 1))
    results = {}
    for engine in ("sqlalchemy", "adbc", "auto"):
        extractor = make_db(postgres, table=typed_table, engine=engine, fetch_batch_size=1000, **section)
        table = drain(extractor, ctx).sort_by("id")
        results[engine] = (table, extractor.watermark_out, extractor.stats["engine"])
    reference, watermark, _ = results["sqlalchemy"]
    assert reference.num_rows > 0
    for engine in ("adbc", "auto"):
        table, engine_watermark, used = results[engine]
        assert table.schema == reference.schema, engine
        assert table.equals(reference), engine
        assert engine_watermark == watermark
        assert used == "adbc"


def test_batches_hold_at_most_fetch_batch_size_rows(
    postgres: Any,
    typed_table: str,
    make_db: Callable[..., Extractor],
    make_context: Callable[..., ExtractContext],
) -> None:
    for engine in ("sqlalchemy", "adbc"):
        extractor = make_db(postgres, table=typed_table, engine=engine, fetch_batch_size=700)
        sizes = [b.num_rows for b in extractor.extract(make_context())]
        assert sum(sizes) == 2501 and max(sizes) <= 700, engine
        assert extractor.stats["batches"] == len(sizes)


def test_auto_uses_sqlalchemy_elsewhere(
    mariadb: Any, make_db: Callable[..., Extractor], make_context: Callable[..., ExtractContext]
) -> None:
    name = mariadb.table("auto")
    mariadb.execute(f"CREATE TABLE {name} (id integer)")
    mariadb.execute(f"INSERT INTO {name} VALUES (1), (2)")
    extractor = make_db(mariadb, table=name)
    assert drain(extractor, make_context()).column("id").to_pylist() == [1, 2]
    assert extractor.stats["engine"] == "sqlalchemy"


def test_adbc_on_mariadb_is_a_clear_error(
    mariadb: Any, make_db: Callable[..., Extractor], make_context: Callable[..., ExtractContext]
) -> None:
    with pytest.raises(
        ExtractError, match=r"db.engine 'adbc' cannot read mysql database 'test'.*PostgreSQL only"
    ):
        list(make_db(mariadb, table="anything", engine="adbc").extract(make_context()))


def test_connectorx_is_a_clear_error(
    postgres: Any, make_db: Callable[..., Extractor], make_context: Callable[..., ExtractContext]
) -> None:
    extractor = make_db(postgres, table="anything", engine="connectorx")
    with pytest.raises(
        ExtractError, match=r"db.engine 'connectorx' is not supported: it cannot bind parameters"
    ):
        list(extractor.extract(make_context()))
    assert not extractor.check().ok


def test_auto_names_every_engine_that_read(postgres: Any) -> None:
    """``auto`` runs each statement on ADBC and falls back to SQLAlchemy for one ADBC rejects: the engine it
    reports is every engine that read rows (before: the last statement's, so a read of many chunks or
    ranges named one engine whatever the others used)."""
    import uuid

    from medallion_resources.sql import SqlQuery, SqlTarget, describe_query, select_engine
    from medallion_resources.sql.query import Condition

    name = postgres.table("autoused")
    postgres.execute(f"CREATE TABLE {name} (id uuid PRIMARY KEY, n integer)")
    postgres.execute(
        f"INSERT INTO {name} VALUES (:i, :n)", [{"i": str(uuid.uuid4()), "n": n} for n in range(4)]
    )
    target = SqlTarget.from_config(postgres.url, None, "autoused")
    everything = SqlQuery(f"SELECT * FROM {name}")
    columns = describe_query(target, everything)
    # ADBC binds the text as text, and PostgreSQL has no uuid > text: ADBC rejects it, SQLAlchemy runs it
    above = SqlQuery(
        everything.base, (Condition("id", ">", "p"),), {"p": "00000000-0000-0000-0000-000000000000"}
    )
    engine = select_engine("auto", target)
    assert sum(b.num_rows for b in engine.stream(everything, columns, 10)) == 4
    assert engine.used == "adbc"
    assert sum(b.num_rows for b in engine.stream(above, columns, 10)) == 4
    assert engine.used == "adbc+sqlalchemy"
    assert sum(b.num_rows for b in engine.stream(everything, columns, 10)) == 4
    assert engine.used == "adbc+sqlalchemy"
