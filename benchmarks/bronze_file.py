"""Bronze ingest of a large CSV and JSON-lines file through the Dagster asset, against polars alone.

    .venv/bin/python benchmarks/bronze_file.py [--rows 1000000]

For each format: the end-to-end Bronze materialization (a real Dagster run: extractor → part files →
manifest commit, with SHA-256 of source and parts) and, in the same run, the baseline of reading the same file
with polars and writing one Parquet file. Prints seconds, rows/s and the ratio to the baseline.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl
import yaml

from medallion_assets.lake import Lake
from medallion_assets.runner import materialize_partition


def make_files(folder: Path, rows: int) -> dict[str, Path]:
    frame = pl.DataFrame(
        {
            "id": pl.int_range(0, rows, eager=True),
            "customer": pl.int_range(0, rows, eager=True) % 9973,
            "amount": (pl.int_range(0, rows, eager=True) % 100_000) / 100,
            "status": pl.Series(["placed", "paid", "shipped", "delivered"] * (rows // 4 + 1))[:rows],
            "city": pl.Series(["Lisbon", "Porto", "Oslo", "Rome", "Paris"] * (rows // 5 + 1))[:rows],
            "updated_at": pl.datetime_range(
                pl.datetime(2025, 1, 1),
                pl.datetime(2025, 1, 1) + pl.duration(seconds=rows - 1),
                "1s",
                eager=True,
            ).dt.to_string("%Y-%m-%dT%H:%M:%S"),
        }
    )
    paths = {"csv": folder / "data_20250101.csv", "jsonl": folder / "data_20250101.jsonl"}
    frame.write_csv(paths["csv"])
    frame.write_ndjson(paths["jsonl"])
    return paths


def write_config(root: Path, path: Path) -> Path:
    config = root / f"configs_{path.suffix[1:]}"
    config.mkdir()
    platform = {
        "config_version": 1,
        "platform": {
            "bronze": {"local_path": str(root / "lake" / "bronze")},
            "silver": {"local_path": str(root / "lake" / "silver")},
        },
    }
    source = {
        "name": "bench",
        "source": {"system": "bench", "table": path.suffix[1:], "type": "file", "file": {"path": str(path)}},
    }
    (config / "platform.yaml").write_text(yaml.safe_dump(platform))
    (config / "sources.yaml").write_text(yaml.safe_dump({"config_version": 1, "sources": [source]}))
    return config


def baseline(path: Path, out: Path) -> float:
    began = time.perf_counter()
    frame = pl.read_csv(path, infer_schema=False) if path.suffix == ".csv" else pl.read_ndjson(path)
    frame.write_parquet(out, compression="zstd", compression_level=1)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, dg.instance_for_test(temp_dir=tmp) as instance:
        root = Path(tmp)
        paths = make_files(root, args.rows)
        print(f"{args.rows:,} rows x 6 columns")
        print(f"{'format':8} {'medallion s':>12} {'baseline s':>11} {'rows/s':>12} {'ratio':>6}")
        for fmt, path in paths.items():
            lake = Lake.load(write_config(root, path))
            began = time.perf_counter()
            outcome = materialize_partition(lake, lake.spec("bench"), date(2025, 1, 1), ("bronze",), instance)
            ours = time.perf_counter() - began
            assert outcome.error is None, outcome.error
            assert outcome.layers["bronze"].rows == args.rows
            base = baseline(path, root / f"baseline_{fmt}.parquet")
            print(f"{fmt:8} {ours:12.2f} {base:11.2f} {args.rows / ours:12,.0f} {ours / base:6.2f}")
        print(json.dumps({"note": "ratio = medallion end-to-end time / polars read + write_parquet"}))


if __name__ == "__main__":
    main()
