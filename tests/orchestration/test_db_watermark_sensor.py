"""The db_watermark sensor against the local PostgreSQL: MAX(cursor_column) past the loaded watermark
requests today's partition once; cursor resets repeat nothing; an outage is a skip reason without secrets."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import dagster as dg
import pyarrow as pa
import pytest
import sqlalchemy as sa
from service_gate import require_service

from medallion_assets.assets import build_assets
from medallion_assets.errors import ConfigError, ExtractError
from medallion_assets.factory import build_definitions
from medallion_assets.lake import Lake
from medallion_assets.schedules import build_jobs
from medallion_assets.sensors import build_sensors, days_to_load, max_cursor_value
from medallion_resources.lake.commit import PartitionWriter
from medallion_resources.lake.parts import PartSettings
from medallion_resources.lake.read import read_artifact
from medallion_resources.sql.connect import SqlTarget

pytestmark = pytest.mark.services
PG_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
NOW = datetime(2025, 3, 10, 15, 30, tzinfo=UTC)
TODAY = "2025-03-10"


@pytest.fixture(scope="module")
def engine() -> Iterator[sa.Engine]:
    engine = sa.create_engine(PG_URL)
    try:
        with engine.connect():
            pass
    except sa.exc.OperationalError:
        require_service(False, "PostgreSQL on 127.0.0.1:5432 with database 'test' (see ENVIRONMENT.md)")
    yield engine
    engine.dispose()


@pytest.fixture
def table(engine: sa.Engine) -> Iterator[str]:
    name = f"invoices_{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {name} (id int, region text, updated_at timestamp)"))
        conn.execute(
            sa.text(f"INSERT INTO {name} VALUES (1, 'eu', '2025-03-10 08:00'), (2, 'us', '2025-03-10 09:00')")
        )
    yield name
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE {name}"))


def insert(engine: sa.Engine, table: str, region: str, updated_at: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text(f"INSERT INTO {table} VALUES (99, :region, :at)"), {"region": region, "at": updated_at}
        )


@pytest.fixture
def make_lake(sample_config, monkeypatch: pytest.MonkeyPatch, table: str):
    """``make_lake(**db)``: the sample config plus a db source on ``table`` with a db_watermark sensor."""
    monkeypatch.setenv("ERP_URL", PG_URL)

    def make(
        url_env: str = "ERP_URL",
        end_offset: int = 1,
        start_date: str | None = None,
        mode: str = "watermark",
        **db,
    ) -> Lake:
        def edit(entry: dict) -> None:
            if entry["name"] != "retail_orders":
                return
            entry["source"] = {
                "system": "erp",
                "table": "invoices",
                "type": "db",
                "db": {
                    "url_env": url_env,
                    "incremental": {"cursor_column": "updated_at", "mode": mode},
                    **db,
                },
                "run": {"load_pattern": "incremental"},
            }
            entry["silver"] = {
                **entry["silver"],
                "primary_keys": ["id"],
                "order_column": "updated_at",
                "schema": {},
            }
            entry["partitions"] = {"end_offset": end_offset}
            if start_date is not None:
                entry["partitions"]["start_date"] = start_date
            entry["sensor"] = {"type": "db_watermark", "minimum_interval_seconds": 120}

        return Lake(sample_config(edit))

    return make


def sensor_of(lake: Lake, now: datetime = NOW) -> tuple[dg.SensorDefinition, dg.RepositoryDefinition]:
    """The source's sensor on a fixed clock (``now``), in a repository with the source jobs."""
    specs = list(lake.specs.values())
    [sensor] = build_sensors(specs, lake.bronze, clock=lambda: now)
    assets = build_assets(specs, lake.config.platform)
    resources = {"bronze_io_manager": lake.bronze, "silver_io_manager": lake.silver}
    defs = dg.Definitions(assets=assets, jobs=build_jobs(specs), sensors=[sensor], resources=resources)
    return sensor, defs.get_repository_def()


def tick(target: tuple, instance: dg.DagsterInstance, cursor: str | None = None):
    sensor, repo = target
    context = dg.build_sensor_context(instance=instance, cursor=cursor, repository_def=repo)
    return sensor.evaluate_tick(context)


def commit_bronze(lake: Lake, run_date: str, watermark_out: str) -> None:
    spec = lake.spec("retail_orders")
    writer = PartitionWriter(
        lake.bronze.backend,
        lake.bronze.partition_prefix(spec.bronze_path, run_date),
        layer="bronze",
        dataset=spec.bronze_path,
        run_date=run_date,
        run_id="run-test",
        output=PartSettings(),
    )
    part = writer.writer("data")
    part.write(pa.record_batch({"id": [1]}))
    part.close()
    writer.commit({"record_count": 1, "watermark_out": watermark_out})


def test_new_rows_request_todays_partition_once(make_lake, instance, engine, table: str) -> None:
    lake = make_lake(table=table)
    sensor = sensor_of(lake)
    assert sensor[0].minimum_interval_seconds == 120 and sensor[0].job_name == "retail_orders_job"

    first = tick(sensor, instance)
    [request] = first.run_requests
    assert request.partition_key == TODAY
    assert request.run_key == "retail_orders:2025-03-10:2025-03-10 09:00:00"
    assert request.tags["medallion/source"] == "retail_orders"

    again = tick(sensor, instance, first.cursor)
    assert not again.run_requests and "already requested" in again.skip_message

    # A cursor reset asks for the same run key, which Dagster never launches twice: nothing repeats.
    assert [r.run_key for r in tick(sensor, instance, None).run_requests] == [request.run_key]

    commit_bronze(lake, TODAY, "2025-03-10T09:00:00")
    loaded = tick(sensor, instance, None)
    assert not loaded.run_requests
    assert "is already loaded (watermark 2025-03-10T09:00:00)" in loaded.skip_message

    insert(engine, table, "eu", "2025-03-10 11:15")
    moved = tick(sensor, instance, first.cursor)
    assert [r.run_key for r in moved.run_requests] == ["retail_orders:2025-03-10:2025-03-10 11:15:00"]


def run_requests(lake: Lake, instance: dg.DagsterInstance, result) -> None:
    """Run a tick's requests one after the other, as the run queue does (one run at a time per source)."""
    job = build_definitions(lake.config).resolve_job_def("retail_orders_job")
    for request in result.run_requests:
        run = job.execute_in_process(
            instance=instance, partition_key=request.partition_key, tags=request.tags
        )
        assert run.success, request.partition_key


def bronze_ids(lake: Lake, day: str) -> list[int]:
    part = lake.committed(lake.spec("retail_orders"), "bronze", day)
    assert part is not None, f"Bronze {day} is not committed"
    return sorted(read_artifact(part, "data")["id"].to_list())


def test_a_day_without_changes_is_loaded_with_the_next_change(make_lake, instance, engine, table) -> None:
    """Silver D builds on Bronze D-1: a day on which MAX(cursor) never moved is requested together with
    the next change, so a source loaded by its sensor alone keeps every day (DESIGN §6, no silent gaps)."""
    with engine.begin() as conn:  # the table's rows were written on the first day, 2025-03-08
        conn.execute(sa.text(f"UPDATE {table} SET updated_at = updated_at - interval '2 days'"))
    lake = make_lake(table=table, start_date="2025-03-08")
    first = tick(sensor_of(lake, datetime(2025, 3, 8, 15, 0, tzinfo=UTC)), instance)
    assert [r.partition_key for r in first.run_requests] == ["2025-03-08"]
    run_requests(lake, instance, first)

    quiet = tick(sensor_of(lake, datetime(2025, 3, 9, 15, 0, tzinfo=UTC)), instance, first.cursor)
    assert not quiet.run_requests  # nothing changed on 2025-03-09

    insert(engine, table, "eu", "2025-03-10 11:15")
    changed = tick(sensor_of(lake), instance, quiet.cursor)
    assert [(r.partition_key, r.run_key) for r in changed.run_requests] == [
        ("2025-03-09", "retail_orders:2025-03-09:after:2025-03-08"),
        ("2025-03-10", "retail_orders:2025-03-10:2025-03-10 11:15:00"),
    ]
    # The maximum moves again before those runs commit: the quiet day is the same run (Dagster launches a
    # run key once); with the maximum in its key it ran again at every tick until it committed.
    insert(engine, table, "eu", "2025-03-10 11:30")
    moved = tick(sensor_of(lake), instance, changed.cursor)
    assert [(r.partition_key, r.run_key) for r in moved.run_requests] == [
        ("2025-03-09", "retail_orders:2025-03-09:after:2025-03-08"),
        ("2025-03-10", "retail_orders:2025-03-10:2025-03-10 11:30:00"),
    ]
    run_requests(lake, instance, moved)
    assert bronze_ids(lake, "2025-03-09") == []
    assert bronze_ids(lake, "2025-03-10") == [99, 99]  # (both new rows have the id 99)
    silver = lake.committed(lake.spec("retail_orders"), "silver", "2025-03-10")
    assert silver is not None and silver.manifest.record_count == 3  # ids 1, 2 and 99
    assert not tick(sensor_of(lake), instance, moved.cursor).run_requests


def test_a_day_that_failed_before_a_later_commit_is_requested_with_the_next_change(
    make_lake, instance, engine, table
) -> None:
    """2025-03-09's run failed and 2025-03-10's Bronze committed (its Silver failed: its rebuild lacks
    Bronze 09). The next change requests 09 again and every day after it, in date order, so Bronze fills
    the hole and Silver builds on each day; before, only today's was requested and 09 stayed missing."""
    with engine.begin() as conn:  # the table's rows were written on the first day, 2025-03-08
        conn.execute(sa.text(f"UPDATE {table} SET updated_at = updated_at - interval '2 days'"))
    lake = make_lake(table=table, start_date="2025-03-08")
    first = tick(sensor_of(lake, datetime(2025, 3, 8, 15, 0, tzinfo=UTC)), instance)
    run_requests(lake, instance, first)
    job = build_definitions(lake.config).resolve_job_def("retail_orders_job")
    later = job.execute_in_process(instance=instance, partition_key=TODAY, raise_on_error=False)
    assert not later.success  # Bronze 10 committed (empty), Silver 10 failed on the missing Bronze 09
    assert bronze_ids(lake, TODAY) == []

    insert(engine, table, "eu", "2025-03-10 11:15")
    changed = tick(sensor_of(lake), instance, first.cursor)
    assert [(r.partition_key, r.run_key) for r in changed.run_requests] == [
        ("2025-03-09", "retail_orders:2025-03-09:hole:2025-03-10"),  # once a day, whatever the maximum
        ("2025-03-10", "retail_orders:2025-03-10:2025-03-10 11:15:00"),
    ]
    run_requests(lake, instance, changed)
    # 09 reads up to the watermark 10 read from (08's): nothing; 10 again, from 09's, reads the new row
    assert bronze_ids(lake, "2025-03-09") == []
    assert bronze_ids(lake, TODAY) == [99]
    silver = lake.committed(lake.spec("retail_orders"), "silver", TODAY)
    assert silver is not None and silver.manifest.record_count == 3  # ids 1, 2 and 99


@pytest.mark.parametrize(
    ("committed", "requested"),
    [
        # a hole between committed days within the week before the latest one: from the hole on
        (["2025-03-05", "2025-03-07"], ["2025-03-06", "2025-03-07", "2025-03-08", "2025-03-09", TODAY]),
        # a hole older than the week before the latest committed day: left to `medallion status`
        (["2025-02-25", "2025-02-26", "2025-03-09"], [TODAY]),
        # days before the first committed one are history never loaded (backfill them), not a hole
        (["2025-03-08", "2025-03-09"], [TODAY]),
    ],
)
def test_a_hole_is_requested_again_within_a_week(
    make_lake, instance, table, committed: list[str], requested: list[str]
) -> None:
    lake = make_lake(table=table, start_date="2025-02-01")
    for day in committed:
        commit_bronze(lake, day, "2025-03-01 00:00:00")
    assert [r.partition_key for r in tick(sensor_of(lake), instance).run_requests] == requested


def test_window_mode_reloads_the_day_whose_late_rows_moved_the_max(
    make_lake, instance, engine, table
) -> None:
    """In window mode a row written at 23:30 after the day's last run lies in that day's window only:
    the next day's first tick loads that day again, not just today's (empty) window."""
    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {table} SET updated_at = updated_at - interval '1 day'"))
    lake = make_lake(table=table, start_date="2025-03-09", mode="window")
    evening = tick(sensor_of(lake, datetime(2025, 3, 9, 20, 0, tzinfo=UTC)), instance)
    run_requests(lake, instance, evening)
    assert bronze_ids(lake, "2025-03-09") == [1, 2]

    insert(engine, table, "us", "2025-03-09 23:30")
    after_midnight = tick(sensor_of(lake, datetime(2025, 3, 10, 0, 10, tzinfo=UTC)), instance, evening.cursor)
    assert [r.partition_key for r in after_midnight.run_requests] == ["2025-03-09", "2025-03-10"]
    run_requests(lake, instance, after_midnight)
    assert bronze_ids(lake, "2025-03-09") == [1, 2, 99]
    assert bronze_ids(lake, "2025-03-10") == []


def test_rows_behind_an_open_transaction_are_requested_once_it_ends(
    make_lake, instance, engine, table
) -> None:
    """A watermark run on PostgreSQL reads up to the commit horizon (the start of the oldest open
    transaction): rows stamped after it wait for the next run, which the sensor requests once the
    transaction ends (MAX moves past the loaded watermark then), with no new change needed."""
    today = datetime.now(UTC).date().isoformat()
    with engine.begin() as conn:
        conn.execute(sa.text(f"DELETE FROM {table}"))
        conn.execute(sa.text(f"INSERT INTO {table} VALUES (1, 'eu', now() - interval '1 minute')"))
    lake = make_lake(table=table, start_date=today)
    blocker = engine.connect()
    try:
        blocker.execute(sa.text("SELECT 1"))  # another session's transaction, left open
        with engine.begin() as conn:
            conn.execute(sa.text(f"INSERT INTO {table} VALUES (99, 'us', clock_timestamp())"))
        first = tick(sensor_of(lake, datetime.now(UTC)), instance)
        run_requests(lake, instance, first)
        assert bronze_ids(lake, today) == [1]  # 99 is stamped past the horizon: the next run reads it
        waiting = tick(sensor_of(lake, datetime.now(UTC)), instance, first.cursor)
        assert not waiting.run_requests
    finally:
        blocker.rollback()
        blocker.close()
    ended = tick(sensor_of(lake, datetime.now(UTC)), instance, waiting.cursor)
    assert [r.partition_key for r in ended.run_requests] == [today]
    run_requests(lake, instance, ended)
    assert bronze_ids(lake, today) == [1, 99]


def test_days_to_load_fill_the_days_since_the_latest_commit() -> None:
    start = "2025-03-01"
    assert days_to_load(None, "2025-03-10", start=start) == ["2025-03-10"]
    assert days_to_load("2025-03-10", "2025-03-10", start=start) == ["2025-03-10"]
    assert days_to_load("2025-03-07", "2025-03-10", start=start) == ["2025-03-08", "2025-03-09", "2025-03-10"]
    # window mode: today is committed, empty, with yesterday's watermark; yesterday's late rows reload it
    assert days_to_load("2025-03-10", "2025-03-10", start=start, reload_from="2025-03-09") == [
        "2025-03-09",
        "2025-03-10",
    ]
    assert days_to_load("2025-03-09", "2025-03-10", start="2025-03-10", reload_from="2025-03-08") == [
        "2025-03-10"
    ]


def test_the_latest_committed_days_watermark_is_the_reference(make_lake, instance, table) -> None:
    lake = make_lake(table=table)
    commit_bronze(lake, "2025-03-08", "2025-03-11 00:00:00")  # older partition: not the reference
    commit_bronze(lake, "2025-03-09", "2025-03-10 08:30:00")  # today not loaded yet: yesterday's counts
    assert [r.partition_key for r in tick(sensor_of(lake), instance).run_requests] == [TODAY]
    commit_bronze(lake, "2025-03-09", "2025-03-10 09:00:00")  # a re-run of yesterday caught up
    assert not tick(sensor_of(lake), instance).run_requests


def test_a_query_source_polls_the_max_of_its_own_rows(make_lake, instance, engine, table: str) -> None:
    lake = make_lake(query=f"SELECT * FROM {table} WHERE region = 'eu';")
    [request] = tick(sensor_of(lake), instance).run_requests
    assert request.run_key.endswith(":2025-03-10 08:00:00")
    insert(engine, table, "us", "2025-03-10 12:00")  # not in the query's rows
    assert [r.run_key for r in tick(sensor_of(lake), instance).run_requests] == [request.run_key]


def test_a_text_cursor_is_past_the_watermark_as_the_database_orders_it(
    make_lake, instance, engine: sa.Engine
) -> None:
    """MAX of a text cursor is taken under its collation but was compared with the watermark by code point:
    under en-x-icu 'C' is past 'b' (the extractor reads it), yet 'C' < 'b' by code point, so the sensor
    skipped it as already loaded and never requested the run."""
    name = f"codes_{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE TABLE {name} (id int, code text COLLATE "en-x-icu")'))
        conn.execute(sa.text(f"INSERT INTO {name} VALUES (1, 'a'), (2, 'b')"))
    try:
        lake = make_lake(table=name, incremental={"cursor_column": "code", "mode": "watermark"})
        commit_bronze(lake, TODAY, "b")
        loaded = tick(sensor_of(lake), instance)
        assert not loaded.run_requests and "is already loaded (watermark b)" in loaded.skip_message
        with engine.begin() as conn:
            conn.execute(sa.text(f"INSERT INTO {name} VALUES (3, 'C')"))
        [request] = tick(sensor_of(lake), instance).run_requests
        assert request.run_key == "retail_orders:2025-03-10:C"
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE {name}"))


def test_schema_qualified_table_and_identifier_validation(engine, table: str) -> None:
    target = SqlTarget.from_config(PG_URL, None)
    value = max_cursor_value(target, "updated_at", table=table, schema="public")
    assert value == datetime(2025, 3, 10, 9, 0)
    with pytest.raises(ExtractError, match=r"'updated_at; DROP TABLE x' is not a valid identifier"):
        max_cursor_value(target, "updated_at; DROP TABLE x", table=table)


def test_an_outage_is_a_skip_reason_without_the_password(make_lake, instance, monkeypatch, table) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("ERP_DOWN_URL", f"postgresql+psycopg2://loader:s3cr3t-pw@127.0.0.1:{port}/test")
    lake = make_lake(url_env="ERP_DOWN_URL", table=table)
    result = tick(sensor_of(lake), instance, '{"partition": "2025-03-09", "requested": "x"}')
    assert not result.run_requests
    assert result.skip_message.startswith("cannot poll MAX(updated_at) of source 'retail_orders':")
    assert "s3cr3t-pw" not in result.skip_message
    assert result.cursor == '{"partition": "2025-03-09", "requested": "x"}'

    monkeypatch.delenv("ERP_DOWN_URL")
    unset = tick(sensor_of(lake), instance)
    assert "environment variable 'ERP_DOWN_URL' is not set" in unset.skip_message


def test_a_bad_identifier_in_config_is_a_config_error(make_lake, table: str) -> None:
    """Refused when the config loads, so the sensor never polls with it (``max_cursor_value`` refuses it
    too, above)."""
    with pytest.raises(ConfigError, match=r"db.table: .*is not a valid identifier"):
        make_lake(table=f"{table} t; --")


def test_an_end_offset_past_today_still_loads_todays_partition(make_lake, instance, table: str) -> None:
    """``end_offset: 2`` adds tomorrow's partition as well: today's changes still land in today's."""
    lake = make_lake(table=table, end_offset=2)
    [request] = tick(sensor_of(lake), instance).run_requests
    assert (request.partition_key, request.run_key) == (TODAY, "retail_orders:2025-03-10:2025-03-10 09:00:00")


def test_db_watermark_without_end_offset_1_is_a_config_error(make_lake, table: str) -> None:
    with pytest.raises(ConfigError, match=r"set 'partitions: \{end_offset: 1\}' on this source"):
        make_lake(end_offset=0, table=table)


def test_definitions_load_with_a_db_sensor(make_lake, table: str) -> None:
    from medallion_assets.factory import build_definitions

    defs = build_definitions(make_lake(table=table).config)
    assert defs.resolve_sensor_def("retail_orders_db_watermark_sensor").job_name == "retail_orders_job"
    sensor = defs.resolve_sensor_def("retail_orders_db_watermark_sensor")
    assert os.environ["ERP_URL"] not in str(sensor.description)


def test_a_mariadb_timestamp_cursor_is_polled_as_an_instant_after_an_upgrade(
    make_lake, instance, monkeypatch, table
) -> None:
    """A server at +02:00: its TIMESTAMP is read in a UTC session. The watermark an earlier release
    committed (naive, the server's wall time 11:00 = 09:00Z) is compared as that instant, so a row at 09:30Z
    is new (compared as 11:00Z it was already loaded, and the sensor waited two hours)."""
    maria = sa.create_engine("mysql+pymysql://root@127.0.0.1:3306/test", poolclass=sa.pool.NullPool)
    try:
        with maria.connect():
            pass
    except sa.exc.OperationalError:
        require_service(False, "MariaDB on 127.0.0.1:3306 with database 'test' (see ENVIRONMENT.md)")
    name = f"mariats_{uuid.uuid4().hex[:8]}"
    zone = "init_command=SET%20time_zone%3D%27%2B02%3A00%27"
    monkeypatch.setenv("MARIA_URL", f"mysql+pymysql://root@127.0.0.1:3306/test?{zone}")
    try:
        with maria.begin() as conn:
            conn.execute(sa.text("SET time_zone = '+00:00'"))
            conn.execute(sa.text(f"CREATE TABLE {name} (id int, updated_at timestamp(6) NULL)"))
            conn.execute(sa.text(f"INSERT INTO {name} VALUES (1, '2025-03-10 09:00:00')"))
        target = SqlTarget.from_config(None, "MARIA_URL")
        assert max_cursor_value(target, "updated_at", table=name) == datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
        lake = make_lake(url_env="MARIA_URL", table=name)
        commit_bronze(lake, TODAY, "2025-03-10T11:00:00.000000")
        loaded = tick(sensor_of(lake), instance)
        assert not loaded.run_requests and "is already loaded" in loaded.skip_message
        with maria.begin() as conn:
            conn.execute(sa.text("SET time_zone = '+00:00'"))
            conn.execute(sa.text(f"INSERT INTO {name} VALUES (2, '2025-03-10 09:30:00')"))
        [request] = tick(sensor_of(lake), instance).run_requests
        assert request.partition_key == TODAY
    finally:
        with maria.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {name}"))
        maria.dispose()
