"""Silver benchmarks (issue 6): a large scd_type_2 day, and a 60-day backfill per partition vs in one range.

Run: ``.venv/bin/python benchmarks/silver.py [--rows 5000000] [--changes 500000] [--days 60]``.

1. ``scd_type_2`` day: a state of N keys (history = current, one version each) and M changes (80 %
   updates, 20 % inserts). Measured in a fresh subprocess each (wall time, peak RSS): the baseline reads
   the state Parquet and writes it back with polars alone; the model run reads the same state, applies the
   changes and writes history and current. Figures are printed as ratios to the baseline.
2. Backfill of a 100k-key ``scd_type_2`` source over 60 days (1 % of keys change a day): one partition at a
   time (read Silver D-1 from Parquet, apply, write), as a run per partition does, vs the range policy
   (state carried in memory, each day still written). Dagster's own run overhead (~3 s per run measured
   in the integration tests) comes on top of the per-partition figure and is not included.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl

from medallion_assets.config.models import SilverConfig
from medallion_assets.silver.base import SilverContext
from medallion_assets.silver.scd2 import ScdType2

START = date(2025, 1, 1)
CONFIG = SilverConfig(primary_keys=["id"], order_column="ts")


def ctx(day: date) -> SilverContext:
    end = datetime.combine(day + timedelta(days=1), datetime.min.time())
    return SilverContext(load_date=day, window_end=end, load_pattern="incremental")


def source_rows(ids: pl.Series, ts: datetime, salt: int) -> pl.DataFrame:
    frame = pl.DataFrame({"id": ids})
    return frame.with_columns(
        pl.lit(ts).alias("ts"),
        (pl.col("id") * 7 + salt).cast(pl.String).alias("name"),
        ((pl.col("id") + salt) % 1000).alias("score"),
        pl.lit("EU").alias("region"),
    )


def make_state(folder: Path, rows: int) -> None:
    day = source_rows(pl.int_range(0, rows, eager=True, dtype=pl.Int64), datetime(2024, 12, 31), 0)
    result = ScdType2(CONFIG).apply(None, day, ctx(START - timedelta(days=1)))
    for name, frame in result.artifacts.items():
        frame.write_parquet(folder / f"{name}.parquet", compression="zstd", compression_level=1)


def make_changes(folder: Path, rows: int, changes: int) -> None:
    updates = int(changes * 0.8)
    ids = pl.concat(
        [
            pl.int_range(0, rows, eager=True, dtype=pl.Int64).sample(updates, seed=1),
            pl.int_range(rows, rows + changes - updates, eager=True, dtype=pl.Int64),
        ]
    )
    source_rows(ids, datetime(2025, 1, 1, 12), 1).write_parquet(folder / "changes.parquet")


def child(mode: str, folder: str) -> None:
    """One measurement in this process: prints wall seconds and peak RSS (MiB) as JSON."""
    path = Path(folder)
    started = time.perf_counter()
    state = {
        n: pl.read_parquet(path / f"{n}.parquet")
        for n in ScdType2.artifacts
        if (path / f"{n}.parquet").exists()
    }
    if mode == "baseline":
        out = state
    else:
        incoming = pl.read_parquet(path / "changes.parquet")
        out = ScdType2(CONFIG).apply(state, incoming, ctx(START)).artifacts
    for name, frame in out.items():
        frame.write_parquet(path / f"out_{name}.parquet", compression="zstd", compression_level=1)
    wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"wall": wall, "rss_mib": peak}))


def measure(mode: str, folder: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(folder)], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def backfill(folder: Path, keys: int, days: int) -> tuple[float, float]:
    model = ScdType2(CONFIG)
    day0 = source_rows(pl.int_range(0, keys, eager=True, dtype=pl.Int64), datetime(2024, 12, 31), 0)
    inputs = [day0] + [
        source_rows(
            pl.int_range(0, keys, eager=True, dtype=pl.Int64).sample(keys // 100, seed=d),
            datetime(2025, 1, 1) + timedelta(days=d),
            d,
        )
        for d in range(1, days)
    ]

    def write(day: int, artifacts: dict[str, pl.DataFrame], kind: str) -> None:
        for name, frame in artifacts.items():
            frame.write_parquet(
                folder / f"{kind}_{day}_{name}.parquet", compression="zstd", compression_level=1
            )

    started = time.perf_counter()
    state = None
    for d, rows in enumerate(inputs):  # a run per partition: Silver D-1 read back from Parquet
        if d:
            state = {n: pl.read_parquet(folder / f"p_{d - 1}_{n}.parquet") for n in ScdType2.artifacts}
        result = model.apply(state, rows, ctx(START + timedelta(days=d)))
        write(d, result.artifacts, "p")
    per_partition = time.perf_counter() - started

    started = time.perf_counter()
    state = None
    for d, rows in enumerate(inputs):  # the range policy: the state stays in memory
        result = model.apply(state, rows, ctx(START + timedelta(days=d)))
        write(d, result.artifacts, "r")
        state = result.artifacts
    ranged = time.perf_counter() - started
    return per_partition, ranged


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--changes", type=int, default=500_000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--backfill-keys", type=int, default=100_000)
    parser.add_argument("--child", nargs=2)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_state(folder, args.rows)
        make_changes(folder, args.rows, args.changes)
        base = measure("baseline", folder)
        scd2 = measure("scd2", folder)
        print(f"scd_type_2 day: {args.rows:,} current rows, {args.changes:,} changes")
        wall, rss = scd2["wall"] / base["wall"], scd2["rss_mib"] / base["rss_mib"]
        print(f"  baseline (read state + write it): {base['wall']:.2f} s, peak RSS {base['rss_mib']:.0f} MiB")
        print(
            f"  scd_type_2 apply + write: {scd2['wall']:.2f} s ({wall:.2f}x), "
            f"peak RSS {scd2['rss_mib']:.0f} MiB"
        )
        print(f"  ({rss:.2f}x the baseline's peak RSS)")
        per_partition, ranged = backfill(folder, args.backfill_keys, args.days)
        print(f"backfill: {args.days} days of a {args.backfill_keys:,}-key scd_type_2 source")
        print(f"  one partition at a time (state re-read): {per_partition:.2f} s")
        print(f"  range (state in memory): {ranged:.2f} s ({ranged / per_partition:.2f}x of per-partition)")


if __name__ == "__main__":
    main()
