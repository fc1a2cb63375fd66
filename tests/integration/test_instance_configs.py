"""The two dagster.yaml files of docs/operations.md load as Dagster instances; the scale-out one (PostgreSQL
storage via dagster-postgres) runs a materialization on the local PostgreSQL."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
import yaml
from service_gate import require_service

from medallion_assets.instance import storage_overrides
from medallion_assets.lake import Lake
from medallion_assets.runner import NullObserver, SourceRunner

REPO = Path(__file__).resolve().parents[2]
PG_ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


def doc_config(marker: str) -> str:
    """The ```yaml block of docs/operations.md whose first line is ``# medallion: <marker>``."""
    text = (REPO / "docs" / "operations.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, flags=re.S)
    [block] = [b for b in blocks if b.startswith(f"# medallion: {marker}\n")]
    return block


def instance_from(home: Path, text: str) -> dg.DagsterInstance:
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(text)
    return dg.DagsterInstance.from_config(str(home))


def test_the_single_node_example_is_the_shipped_dagster_yaml(tmp_path: Path) -> None:
    block = doc_config("single-node")
    shipped = (REPO / "deploy" / "dagster.yaml").read_text()
    assert yaml.safe_load(block) == yaml.safe_load(shipped)
    with instance_from(tmp_path / "home", block) as instance:
        assert type(instance.run_storage).__name__ == "SqliteRunStorage"
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        config = instance.get_concurrency_config()
        assert config.pool_config.default_pool_limit == 1
        assert config.pool_config.pool_granularity.value == "run"
        [limit] = config.run_queue_config.tag_concurrency_limits
        assert limit == {"key": "medallion/source", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}
        # a killed run fails instead of holding its source's slot (tests/integration/test_killed_runs.py)
        assert instance.run_monitoring_enabled and instance.run_monitoring_start_timeout_seconds > 0
        assert type(instance.run_launcher).__name__ == "LocalRunLauncher"
        assert instance.run_launcher.supports_check_run_worker_health


@pytest.fixture
def pg_database(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh PostgreSQL database for Dagster's storage, dropped afterwards."""
    name = f"medallion_dagster_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError:
        require_service(False, "PostgreSQL on 127.0.0.1:5432, user postgres (see ENVIRONMENT.md)")
    for key, value in {
        "DAGSTER_PG_HOST": "127.0.0.1",
        "DAGSTER_PG_DB": name,
        "DAGSTER_PG_USER": "postgres",
        "DAGSTER_PG_PASSWORD": "unused-with-trust-auth",
    }.items():
        monkeypatch.setenv(key, value)
    yield name
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    engine.dispose()


@pytest.mark.slow
@pytest.mark.services
def test_the_scale_out_example_runs_a_materialization_on_postgres(
    tmp_path: Path, lake_env: dict[str, str], pg_database: str
) -> None:
    with instance_from(tmp_path / "home", doc_config("scale-out")) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert type(instance.run_launcher).__name__ == "DockerRunLauncher"
        assert type(instance.run_launcher).__module__ == "medallion_assets.run_launcher_docker"
        assert instance.run_monitoring_enabled
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
        # The CLI keeps configured storage as it is (its kept-connection event log is for SQLite only).
        assert "event_log_storage" not in storage_overrides(tmp_path / "home")

        lake = Lake.load()
        spec = lake.spec("retail_orders")
        day = date(2025, 1, 1)
        [outcome] = SourceRunner(lake, instance, ("bronze", "silver")).run(spec, day, day, NullObserver())
        assert outcome.ok, outcome.failed
        assert outcome.committed["bronze"].rows > 0
        event = instance.get_latest_materialization_event(spec.silver_key)
        assert event is not None and event.asset_materialization.partition == "2025-01-01"
        [record] = instance.get_run_records(dg.RunsFilter(tags={"medallion/source": "retail_orders"}))
        assert record.dagster_run.is_success

    engine = sa.create_engine(f"postgresql+psycopg2://postgres@127.0.0.1:5432/{pg_database}")
    with engine.connect() as conn:  # the run really is in PostgreSQL, not in a local file
        assert conn.execute(sa.text("SELECT count(*) FROM runs")).scalar() == 1
    engine.dispose()
