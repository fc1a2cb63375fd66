"""Bronze of a day that arrives as many small files (a landing zone written by a stream: Firehose, Kafka
Connect, one file per request), per format, against polars reading the same glob.

    .venv/bin/python benchmarks/many_files.py [--files 2000] [--rows-per-file 5] [--repeat 3]

For each format, in one run: the baseline, polars reading every file of the glob and writing one zstd(1)
Parquet file (CSV with every column as text, as medallion lands it); the **step**, the Bronze step of an
in-process materialization (STEP_START to STEP_SUCCESS: list, read and hash every file, Bronze columns,
parts, manifest commit), on the instance the command uses; and the **command**, ``medallion run --layer
bronze`` in a fresh process, as users run it. Also printed: the step's milliseconds per file and the run's
events (a log line per file would be one event, one SQLite write, per file). Medians of ``--repeat``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from datetime import date
from pathlib import Path

import polars as pl
from _measure import command, median, step_seconds, uptime
from bronze_file import baseline, write_config

from medallion_assets.instance import dispose_instance, get_instance
from medallion_assets.lake import Lake
from medallion_assets.runner import materialize_partition

FORMATS = ("csv", "jsonl", "parquet")


def make_files(folder: Path, files: int, rows: int) -> dict[str, str]:
    """``files`` files of ``rows`` rows per format; the glob of each format."""
    globs = {}
    for fmt in FORMATS:
        (folder / fmt).mkdir(parents=True)
        globs[fmt] = str(folder / fmt / f"*.{fmt}")
    for n in range(files):
        ids = pl.int_range(n * rows, (n + 1) * rows, eager=True)
        frame = pl.DataFrame(
            {
                "id": ids,
                "amount": ids / 100,
                "status": pl.Series(["placed", "paid", "shipped", "delivered"] * (rows // 4 + 1))[:rows],
                "updated_at": [
                    f"2025-01-01T{(i % 86400) // 3600:02d}:{(i % 3600) // 60:02d}:00" for i in ids
                ],
            }
        )
        frame.write_csv(folder / "csv" / f"part_{n:05d}.csv")
        frame.write_ndjson(folder / "jsonl" / f"part_{n:05d}.jsonl")
        frame.write_parquet(folder / "parquet" / f"part_{n:05d}.parquet")
    return globs


def step(config: Path, rows: int) -> tuple[float, int]:
    """(the Bronze step's seconds, the run's events)."""
    instance = get_instance()
    lake = Lake.load(config)
    outcome = materialize_partition(lake, lake.spec("bench"), date(2025, 1, 1), ("bronze",), instance)
    assert outcome.error is None, outcome.error
    assert outcome.layers["bronze"].rows == rows
    run = instance.get_runs(limit=1)[0]
    return step_seconds(instance), len(instance.all_logs(run.run_id))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--rows-per-file", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--formats", default=",".join(FORMATS))
    args = parser.parse_args()
    formats = args.formats.split(",")
    rows = args.files * args.rows_per_file
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ["DAGSTER_HOME"] = str(root / "step_home")
        globs = make_files(root / "files", args.files, args.rows_per_file)
        configs = {fmt: write_config(root, fmt, Path(globs[fmt])) for fmt in formats}
        step(configs[formats[0]], rows)  # warm imports and caches
        base: dict[str, list[float]] = {f: [] for f in formats}
        steps: dict[str, list[tuple[float, int]]] = {f: [] for f in formats}
        commands: dict[str, list[float]] = {f: [] for f in formats}
        for _ in range(args.repeat):
            for fmt in formats:
                base[fmt].append(baseline(fmt, Path(globs[fmt]), root / f"baseline_{fmt}.parquet")[0])
                steps[fmt].append(step(configs[fmt], rows))
                commands[fmt].append(command(configs[fmt], root / fmt / "home", "bench")[0])
        print(f"{args.files:,} files x {args.rows_per_file} rows; {uptime()}; medians of {args.repeat}")
        print(
            f"{'format':8} {'polars s':>9} {'step s':>7} {'ratio':>6} {'ms/file':>8} {'events':>7}   "
            f"{'command s':>9} {'ratio':>6}"
        )
        for fmt in formats:
            b, s = median(base[fmt]), median([w for w, _ in steps[fmt]])
            events = max(e for _, e in steps[fmt])
            c = median(commands[fmt])
            print(
                f"{fmt:8} {b:9.2f} {s:7.2f} {s / b:6.2f} {1000 * s / args.files:8.2f} {events:7}   "
                f"{c:9.2f} {c / b:6.2f}"
            )
        dispose_instance()


if __name__ == "__main__":
    main()
