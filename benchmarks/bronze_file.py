"""Bronze ingest of CSV, JSON lines and Parquet through ``medallion run`` and in-process, against polars.

    .venv/bin/python benchmarks/bronze_file.py [--rows 2000000] [--repeat 3]

For each format, in one run: the baseline, polars alone reading the same file and writing one zstd(1) Parquet
file (CSV with every column as text, as medallion lands it); the **step**, the Bronze step of an in-process
materialization from STEP_START to STEP_SUCCESS (extract, Bronze columns, part files, SHA-256 of the source
and of every part, manifest commit), on the instance the command uses (``get_instance``: its event log keeps
one SQLite connection, where ``dg.instance_for_test``'s opens one per event); and the **command**,
``medallion --config-dir DIR run --date D --layer bronze`` in a fresh process, as users run it. Ratios are our
time over the baseline's (lower is better); every figure is the median of ``--repeat`` runs, the baseline
measured between them. On a shared machine the wall ratios move with the load, so CPU seconds are printed too:
the baseline's and the whole in-process run's (the step plus Dagster's own cost of a run).
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl
import yaml
from _measure import command, median, step_seconds, uptime

from medallion_assets.instance import dispose_instance, get_instance
from medallion_assets.lake import Lake
from medallion_assets.runner import materialize_partition

TARGETS = {"csv": (1.3, 2.0), "jsonl": (1.5, 2.5), "parquet": (1.2, None)}


def make_files(folder: Path, rows: int) -> dict[str, Path]:
    frame = pl.select(id=pl.int_range(0, rows)).with_columns(
        customer=pl.col("id") % 9973,
        amount=(pl.col("id") % 100_000) / 100,
        status=pl.lit(["placed", "paid", "shipped", "delivered"]).list.get(pl.col("id") % 4),
        city=pl.lit(["Lisbon", "Porto", "Oslo", "Rome", "Paris"]).list.get(pl.col("id") % 5),
        updated_at=(pl.datetime(2025, 1, 1) + pl.duration(seconds=pl.col("id"))).dt.to_string(
            "%Y-%m-%dT%H:%M:%S"
        ),
    )
    paths = {fmt: folder / f"data_20250101.{fmt}" for fmt in TARGETS}
    frame.write_csv(paths["csv"])
    frame.write_ndjson(paths["jsonl"])
    frame.write_parquet(paths["parquet"], row_group_size=100_000)
    return paths


def write_config(root: Path, fmt: str, path: Path) -> Path:
    config = root / fmt / "configs"
    config.mkdir(parents=True)
    platform = {
        "config_version": 1,
        "platform": {
            "bronze": {"local_path": str(root / fmt / "lake" / "bronze")},
            "silver": {"local_path": str(root / fmt / "lake" / "silver")},
            "defaults": {"partitions": {"start_date": "2025-01-01"}},
        },
    }
    source = {
        "name": "bench",
        "source": {"system": "bench", "table": fmt, "type": "file", "file": {"path": str(path)}},
    }
    (config / "platform.yaml").write_text(yaml.safe_dump(platform))
    (config / "sources.yaml").write_text(yaml.safe_dump({"config_version": 1, "sources": [source]}))
    return config


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def baseline(fmt: str, path: Path, out: Path) -> tuple[float, float]:
    """(wall, CPU) seconds of polars reading ``path`` and writing one Parquet file."""
    began, cpu = time.perf_counter(), cpu_seconds()
    if fmt == "csv":
        frame = pl.read_csv(path, infer_schema=False)
    elif fmt == "jsonl":
        frame = pl.read_ndjson(path)
    else:
        frame = pl.read_parquet(path)
    frame.write_parquet(out, compression="zstd", compression_level=1)
    return time.perf_counter() - began, cpu_seconds() - cpu


def step(config: Path, instance: dg.DagsterInstance, rows: int) -> tuple[float, float]:
    """(the step's wall seconds, the CPU seconds of the whole in-process run)."""
    lake = Lake.load(config)
    cpu = cpu_seconds()
    outcome = materialize_partition(lake, lake.spec("bench"), date(2025, 1, 1), ("bronze",), instance)
    cpu = cpu_seconds() - cpu
    assert outcome.error is None, outcome.error
    assert outcome.layers["bronze"].rows == rows
    return step_seconds(instance), cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--formats", default="csv,jsonl,parquet")
    args = parser.parse_args()
    formats = args.formats.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ["DAGSTER_HOME"] = str(root / "step_home")
        instance = get_instance()
        paths = make_files(root, args.rows)
        configs = {fmt: write_config(root, fmt, paths[fmt]) for fmt in formats}
        base: dict[str, list[tuple[float, float]]] = {f: [] for f in formats}
        steps: dict[str, list[tuple[float, float]]] = {f: [] for f in formats}
        commands: dict[str, list[float]] = {f: [] for f in formats}
        step(configs[formats[0]], instance, args.rows)  # warm imports and caches
        for _ in range(args.repeat):
            for fmt in formats:
                base[fmt].append(baseline(fmt, paths[fmt], root / f"baseline_{fmt}.parquet"))
                steps[fmt].append(step(configs[fmt], instance, args.rows))
                commands[fmt].append(command(configs[fmt], root / fmt / "home", "bench")[0])
        print(f"{args.rows:,} rows x 6 columns; {uptime()}; medians of {args.repeat}")
        print(
            f"{'format':8} {'polars s':>9} {'step s':>7} {'ratio':>6} {'target':>6}   "
            f"{'command s':>9} {'ratio':>6} {'target':>6}   {'polars cpu':>10} {'run cpu':>7} {'ratio':>6}"
        )
        for fmt in formats:
            b, s = median([w for w, _ in base[fmt]]), median([w for w, _ in steps[fmt]])
            bc, rc = median([c for _, c in base[fmt]]), median([c for _, c in steps[fmt]])
            c = median(commands[fmt])
            step_target, command_target = TARGETS[fmt]
            print(
                f"{fmt:8} {b:9.2f} {s:7.2f} {s / b:6.2f} {step_target:>6}   {c:9.2f} {c / b:6.2f} "
                f"{command_target or '-':>6}   {bc:10.2f} {rc:7.2f} {rc / bc:6.2f}"
            )
        dispose_instance()


if __name__ == "__main__":
    main()
