"""Benchmark: 1M PostgreSQL rows x 6 columns into a Bronze partition through the Dagster asset, per engine.

    .venv/bin/python benchmarks/db.py [--rows 1000000] [--rss-rows 5000000] [--url postgresql+psycopg://...]

Baseline, measured in the same run: the raw ADBC fetch of the same ``SELECT`` into one Arrow table
(``adbc-driver-postgresql``, no conversion, no writing). For each engine the Bronze asset is materialized with
``dagster.materialize`` on a temporary instance (extract, convert types, add the Bronze columns, write zstd
Parquet part files, hash, commit the manifest); the same run on an empty table gives the fixed cost of a
Dagster run, reported separately. Then peak RSS growth for ``--rss-rows`` rows at the default batch size, in
a fresh process (``db_rss_probe.py``). Prints rates and ratios against the raw ADBC rate.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

import adbc_driver_postgresql.dbapi as adbc_pg
import dagster as dg
import sqlalchemy as sa
import yaml

from medallion_assets.lake import Lake
from medallion_assets.runner import materialize_partition

HERE = Path(__file__).resolve().parent
DDL = (
    "CREATE TABLE {t} AS SELECT g::bigint AS id, (g % 100000)::numeric(12,2) / 100 AS amount, "
    "'label-' || (g % 1000) AS label, (g % 2 = 0) AS flag, "
    "timestamptz '2025-01-01 00:00:00+00' + g * interval '1 second' AS created_at, "
    "g * 0.5::double precision AS score FROM generate_series(1, {rows}) AS g"
)


def write_config(config_dir: Path, lake_dir: Path, table: str, engine: str, url: str) -> None:
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
            "db": {"url": url, "table": table, "engine": engine},
            "run": {"load_pattern": "full"},
        },
        "silver": {"model": "periodic_snapshot"},
    }
    (config_dir / "platform.yaml").write_text(yaml.safe_dump(platform))
    (config_dir / "sources.yaml").write_text(yaml.safe_dump({"config_version": 1, "sources": [source]}))


def bronze_seconds(table: str, engine: str, url: str, instance: dg.DagsterInstance, root: Path) -> float:
    folder = root / f"{table}_{engine}"
    write_config(folder / "configs", folder / "lake", table, engine, url)
    lake = Lake.load(folder / "configs")
    began = time.perf_counter()
    outcome = materialize_partition(lake, lake.spec("bench"), date(2025, 1, 1), ("bronze",), instance)
    seconds = time.perf_counter() - began
    if outcome.error:
        raise SystemExit(f"{engine}: {outcome.error}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rss-rows", type=int, default=5_000_000)
    parser.add_argument("--url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()

    sa_engine = sa.create_engine(args.url, poolclass=sa.pool.NullPool)
    table, empty = f"medallion_bench_{uuid.uuid4().hex[:8]}", f"medallion_bench_{uuid.uuid4().hex[:8]}_empty"
    with sa_engine.begin() as conn:
        conn.execute(sa.text(DDL.format(t=table, rows=args.rows)))
        conn.execute(sa.text(DDL.format(t=empty, rows=0)))
    libpq = sa.make_url(args.url).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        with adbc_pg.connect(libpq) as conn, conn.cursor() as cur:
            raw = []
            for _ in range(2):
                began = time.perf_counter()
                cur.execute(f"SELECT * FROM {table}")
                rows = cur.fetch_arrow_table().num_rows
                raw.append(time.perf_counter() - began)
            assert rows == args.rows
        raw_rate = args.rows / min(raw)
        print(f"rows: {args.rows:,} x 6 columns; raw ADBC: {min(raw):.2f}s = {raw_rate:,.0f} rows/s (1.00)")
        print(
            f"{'engine':<11} {'end to end':>11} {'rows/s':>11} {'ratio':>6}   {'run cost':>8} "
            f"{'rows/s w/o':>11} {'ratio':>6}"
        )
        with tempfile.TemporaryDirectory() as tmp, dg.instance_for_test(temp_dir=tmp) as instance:
            root = Path(tmp)
            bronze_seconds(empty, "adbc", args.url, instance, root)  # warm imports and the instance
            for engine in ("adbc", "auto", "sqlalchemy"):
                fixed = bronze_seconds(empty, engine, args.url, instance, root)
                total = bronze_seconds(table, engine, args.url, instance, root)
                rate, net = args.rows / total, args.rows / max(total - fixed, 1e-9)
                print(
                    f"{engine:<11} {total:>10.2f}s {rate:>11,.0f} {rate / raw_rate:>6.2f}   {fixed:>7.2f}s "
                    f"{net:>11,.0f} {net / raw_rate:>6.2f}"
                )
        for engine in ("auto",):
            probe = subprocess.run(
                [sys.executable, str(HERE / "db_rss_probe.py"), args.url, engine, str(args.rss_rows)],
                capture_output=True,
                text=True,
                check=True,
            )
            found = json.loads(probe.stdout.strip().splitlines()[-1])
            print(
                f"peak RSS growth, {found['rows']:,} rows, {found['engine']}, default batch (50,000): "
                f"{found['rss_growth_mb']:.0f} MB (target < 300 MB) in {found['seconds']:.1f}s"
            )
    finally:
        with sa_engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {empty}"))
        sa_engine.dispose()


if __name__ == "__main__":
    main()
