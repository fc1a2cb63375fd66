"""PostgreSQL rows into a Bronze partition, through ``medallion run`` and in-process, against raw ADBC.

    .venv/bin/python benchmarks/db.py [--rows 2000000] [--rss-rows 10000000] [--repeat 3] [--url ...]

Baseline, measured in the same run: the raw ADBC fetch of ``SELECT *`` of the same table into Arrow batches
(``adbc-driver-postgresql``, one connection, no conversion, no writing). Then, for the default read and for
``db.parallelism: 2``:

- **command**: ``medallion --config-dir DIR run --date D --select bench --layer bronze`` in a fresh process,
  as users run it (imports, instance, Dagster run, extract, convert, Bronze columns, zstd Parquet parts,
  SHA-256, manifest commit);
- **step**: the Bronze step of an in-process materialization (``dagster.materialize``), from STEP_START to
  STEP_SUCCESS in the event log: the asset's own work without Dagster's fixed cost of a run.

Rates are rows/s; ratios are our rate over the raw fetch rate (higher is better, 1.0 = the raw fetch).
Every figure is the median of ``--repeat`` runs. Finally the peak RSS of the command for ``--rss-rows``
(its raw fetch: the mean of one before and one after the command). Tables are vacuumed once created.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import adbc_driver_postgresql.dbapi as adbc_pg
import dagster as dg
import sqlalchemy as sa
import yaml
from _measure import command, median, step_seconds, uptime

from medallion_assets.lake import Lake
from medallion_assets.runner import materialize_partition

DDL = (
    "CREATE TABLE {t} AS SELECT g::bigint AS id, (g % 100000)::numeric(12,2) / 100 AS amount, "
    "'label-' || (g % 1000) AS label, (g % 2 = 0) AS flag, "
    "timestamptz '2025-01-01 00:00:00+00' + g * interval '1 second' AS created_at, "
    "g * 0.5::double precision AS score FROM generate_series(1, {rows}) AS g; "
    "ALTER TABLE {t} ADD PRIMARY KEY (id)"
)


def write_config(config_dir: Path, lake_dir: Path, table: str, url: str, **db: Any) -> Path:
    config_dir.mkdir(parents=True, exist_ok=True)
    platform = {
        "config_version": 1,
        "platform": {
            "bronze": {"local_path": str(lake_dir / "bronze")},
            "silver": {"local_path": str(lake_dir / "silver")},
            "defaults": {"partitions": {"start_date": "2025-01-01"}},
        },
    }
    source = {
        "name": "bench",
        "source": {
            "system": "bench",
            "table": "rows",
            "type": "db",
            "db": {"url": url, "table": table, **db},
            "run": {"load_pattern": "full"},
        },
        "silver": {"model": "periodic_snapshot"},
    }
    (config_dir / "platform.yaml").write_text(yaml.safe_dump(platform))
    (config_dir / "sources.yaml").write_text(yaml.safe_dump({"config_version": 1, "sources": [source]}))
    return config_dir


def create(engine: sa.Engine, table: str, rows: int) -> None:
    """The table, vacuumed: its first reader does not pay for setting the new rows' hint bits."""
    with engine.begin() as conn:
        conn.execute(sa.text(DDL.format(t=table, rows=rows)))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text(f"VACUUM (ANALYZE) {table}"))


def raw_fetch(url: str, table: str) -> float:
    libpq = sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with adbc_pg.connect(libpq) as conn, conn.cursor() as cur:
        began = time.perf_counter()
        cur.execute(f"SELECT * FROM {table}")
        for _ in cur.fetch_record_batch():
            pass
        return time.perf_counter() - began


def in_process(config_dir: Path, instance: dg.DagsterInstance) -> float:
    lake = Lake.load(config_dir)
    outcome = materialize_partition(lake, lake.spec("bench"), date(2025, 1, 1), ("bronze",), instance)
    if outcome.error:
        raise SystemExit(outcome.error)
    return step_seconds(instance)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--rss-rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()

    engine = sa.create_engine(args.url, poolclass=sa.pool.NullPool)
    table = f"medallion_bench_{uuid.uuid4().hex[:8]}"
    big = f"{table}_rss"
    create(engine, table, args.rows)
    modes = {"default": {}, "parallelism 2": {"parallelism": 2}}
    try:
        with tempfile.TemporaryDirectory() as tmp, dg.instance_for_test(temp_dir=tmp) as instance:
            root = Path(tmp)
            configs = {
                m: write_config(root / m / "configs", root / m / "lake", table, args.url, **db)
                for m, db in modes.items()
            }
            raw: list[float] = []
            steps: dict[str, list[float]] = {m: [] for m in modes}
            commands: dict[str, list[float]] = {m: [] for m in modes}
            in_process(configs["default"], instance)  # warm caches and imports
            for _ in range(args.repeat):
                raw.append(raw_fetch(args.url, table))
                for mode, config in configs.items():
                    steps[mode].append(in_process(config, instance))
                    commands[mode].append(command(config, root / mode / "home", "bench")[0])
            raw_rate = args.rows / median(raw)
            print(f"{args.rows:,} rows x 6 columns; {uptime()}; medians of {args.repeat}")
            print(f"raw ADBC fetch, one connection: {median(raw):.2f} s = {raw_rate:,.0f} rows/s (1.00)")
            print(
                f"{'mode':<14} {'command s':>10} {'rows/s':>11} {'ratio':>6}   "
                f"{'step s':>7} {'rows/s':>11} {'ratio':>6}"
            )
            for mode in modes:
                c, s = median(commands[mode]), median(steps[mode])
                print(
                    f"{mode:<14} {c:>10.2f} {args.rows / c:>11,.0f} {args.rows / c / raw_rate:>6.2f}   "
                    f"{s:>7.2f} {args.rows / s:>11,.0f} {args.rows / s / raw_rate:>6.2f}"
                )
            if args.rss_rows:
                create(engine, big, args.rss_rows)
                config = write_config(root / "rss" / "configs", root / "rss" / "lake", big, args.url)
                # The raw fetch before and after the command: whichever runs first reads a colder cache.
                before = raw_fetch(args.url, big)
                seconds, peak = command(config, root / "rss" / "home", "bench")
                big_raw = (before + raw_fetch(args.url, big)) / 2
                rate, raw_big = args.rss_rows / seconds, args.rss_rows / big_raw
                print(
                    f"{args.rss_rows:,} rows through the command: {seconds:.2f} s = {rate:,.0f} rows/s "
                    f"({rate / raw_big:.2f} of the raw fetch, {big_raw:.2f} s); peak RSS {peak:.0f} MB"
                )
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {big}"))
        engine.dispose()


if __name__ == "__main__":
    main()
