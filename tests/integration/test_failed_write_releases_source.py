"""A Bronze write that fails mid-stream lets go of the source at once: no transaction left open.

``medallion run`` runs its sources one after another in one process. When a part cannot be written (here:
the disk is full) after the extraction has started, the source's stream must be closed as the step fails:
its reader thread stopped, its connection returned and its transaction (a snapshot PostgreSQL keeps for
it, holding back vacuum) ended, not when a garbage collection happens to find the stream. The collector is
off during the run, as it may well be for the seconds or hours the next sources take.
"""

from __future__ import annotations

import errno
import gc
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from medallion_assets.lake import Lake
from medallion_assets.runner import materialize_partition
from medallion_resources.lake import parts
from medallion_resources.lake.read import read_committed
from medallion_resources.storage import LocalBackend
from tests.extractors.conftest import open_database
from tests.instances import cli_instance_for_test

pytestmark = [pytest.mark.slow, pytest.mark.services]


@pytest.fixture
def collector_off() -> Iterator[None]:
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _config(root: Path, table: str) -> Path:
    config = root / "configs"
    config.mkdir()
    platform = {
        "bronze": {"local_path": str(root / "bronze"), "output_defaults": {"max_rows_per_file": 5_000}},
        "silver": {"local_path": str(root / "silver")},
        "defaults": {"partitions": {"start_date": "2025-01-01"}},
    }
    source = {
        "name": "orders",
        "source": {
            "system": "shop",
            "table": "orders",
            "type": "db",
            "db": {"url_env": "MEDALLION_TEST_DB_URL", "table": table, "fetch_batch_size": 2_000},
            "run": {"load_pattern": "full"},
        },
        "silver": {"model": "periodic_snapshot", "primary_keys": ["id"]},
    }
    (config / "platform.yaml").write_text(yaml.safe_dump({"config_version": 1, "platform": platform}))
    (config / "sources.yaml").write_text(yaml.safe_dump({"config_version": 1, "sources": [source]}))
    return config


def test_a_failed_part_write_ends_the_source_transaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, collector_off: None
) -> None:
    db = open_database("postgresql", tmp_path)
    try:
        table = db.table("held")
        db.execute(
            f"CREATE TABLE {table} AS SELECT g AS id, g::text AS name FROM generate_series(1, 60000) g"
        )
        monkeypatch.setenv("MEDALLION_TEST_DB_URL", db.url)
        written = parts.PartWriter.write

        def disk_fills_up(self: parts.PartWriter, batch: Any) -> None:
            if self.row_count >= 10_000:  # two parts landed, the extraction is well under way
                raise OSError(errno.ENOSPC, "No space left on device")
            written(self, batch)

        monkeypatch.setattr(parts.PartWriter, "write", disk_fills_up)
        lake = Lake.load(_config(tmp_path, table))
        (tmp_path / "instance").mkdir()
        with cli_instance_for_test(tmp_path / "instance") as instance:
            outcome = materialize_partition(
                lake, lake.spec("orders"), date(2025, 1, 1), ("bronze",), instance
            )
        assert outcome.error is not None and "No space left on device" in outcome.error
        with db.engine.connect() as conn:
            still_open = conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE query LIKE :q "
                    "AND pid <> pg_backend_pid() AND xact_start IS NOT NULL"
                ),
                {"q": f"%{table}%"},
            ).scalar_one()
        assert still_open == 0, "the failed step left the source's transaction open"
        backend = LocalBackend(str(tmp_path / "bronze"))
        assert read_committed(backend, "system=shop/table=orders/dt=2025-01-01") is None  # nothing committed
    finally:
        db.close()
