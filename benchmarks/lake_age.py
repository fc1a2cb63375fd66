"""A day's cost against the lake's age: the same small day, early in a lake's life and a year later.

    .venv/bin/python benchmarks/lake_age.py [--days 365] [--rows 50] [--chunk 30]

One JSON-lines source (``scd_type_1``, incremental, ``--rows`` order events a day, half of them updates),
run through the ``medallion`` command as users run it: the first ``--chunk`` days as one range command, a
new day and a re-run of a day at that age, then the days up to ``--days`` (one range command), then the last
``--chunk`` days as one range command, a new day and a re-run at that age (re-runs: medians of 3).
Ratios old / young should stay near 1: a day costs its changes, not the number of partitions before it
(before the file bound of merge-on-read, every day listed and read every earlier day's delta files, and a
re-run's clean-up compared them with every later manifest). Also prints the last day's Silver manifest size.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from _measure import REPO, VENV_BIN, uptime, user_env
from cli import START, write_config, write_days


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--rows", type=int, default=50)
    parser.add_argument("--chunk", type=int, default=30)
    args = parser.parse_args()
    if args.days < 3 * args.chunk:
        raise SystemExit("--days must be at least 3 x --chunk")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_days(root / "landing", args.days + 2, args.rows)
        config = write_config(root, {"bench": root / "landing"})
        home = root / "home"
        home.mkdir()
        shutil.copy(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")
        env = user_env(DAGSTER_HOME=str(home))

        def run(first: int, last: int | None = None) -> float:
            """Seconds of ``medallion run`` over days ``first``..``last`` (1-based)."""
            argv = [str(VENV_BIN / "medallion"), "--config-dir", str(config), "run", "--select", "bench"]
            argv += ["--date", str(START + timedelta(days=first - 1))]
            if last is not None and last != first:
                argv += ["--end-date", str(START + timedelta(days=last - 1))]
            began = time.perf_counter()
            subprocess.run(argv, env=env, check=True, capture_output=True)
            return time.perf_counter() - began

        c, n = args.chunk, args.days
        young = {"range": run(1, c)}
        young["new day"] = run(c + 1)
        young["re-run"] = statistics.median(run(c + 1) for _ in range(3))
        middle = run(c + 2, n - c)
        old = {"range": run(n - c + 1, n)}
        old["new day"] = run(n + 1)
        old["re-run"] = statistics.median(run(n + 1) for _ in range(3))
        manifests = sorted((root / "lake" / "silver").rglob("_checksums.json"))
        listed = len(json.loads(manifests[-1].read_text())["files"])
        stored = sum(f.stat().st_size for f in (root / "lake" / "silver").rglob("*") if f.is_file())
        print(f"lake age: {args.rows} rows a day, scd_type_1; {uptime()}")
        print(f"  days {c + 2}..{n - c} in one command: {middle:.1f} s")
        for case in ("range", "new day", "re-run"):
            what = f"{c} days in one command" if case == "range" else f"one {case}"
            print(
                f"  {what:25} at age {c:>3}: {young[case]:6.2f} s   at age {n - c:>3}: {old[case]:6.2f} s"
                f"   ratio {old[case] / young[case]:.2f}"
            )
        print(f"  last Silver manifest lists {listed} files; Silver holds {stored / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
