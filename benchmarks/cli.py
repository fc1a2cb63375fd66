"""The ``medallion`` command's own cost, measured as users run it: the console script in a subprocess.

    .venv/bin/python benchmarks/cli.py [--repeat 5] [--range-days 30] [--big-rows 20000]

Targets (issue 15), each a ratio within this one run:

- ``medallion --help`` (and ``validate``, ``list``): seconds, target ≤ 0.5 s for ``--help``;
- ``medallion run`` of one day of a 200-row source, Bronze and Silver: wall time / (``python -c "import
  dagster"`` + the run's step times), target ≤ 1.5 (``import dagster`` timed right after each run);
- ``medallion run`` over ``--range-days`` days: wall time / the sum of its step times, target ≤ 1.3, and the
  Dagster runs (one source, both assets in each run), target ≤ 2. For 200-row and ``--big-rows``-row days.

``--stock-too`` adds each case on Dagster's own event log, ``--baseline-tree DIR`` each case with the
``medallion`` code of another checkout (``PYTHONPATH=DIR``, e.g. ``main``): the variants alternate within
each case, so the ratios between them come from one run.

Step times come from the run's event log (``STEP_START`` to ``STEP_SUCCESS``/``STEP_FAILURE`` of every step:
Bronze, Silver, the Silver inputs check). The breakdown splits a command's wall time into the process before
the first run event (interpreter, imports, config, instance, definitions), the Dagster run outside its steps
and the steps. The single-day run is measured with the CLI's kept-connection event log and with Dagster's
stock one (``--stock-too``) to show what the kept connection saves. Prints medians of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import yaml
from _measure import REPO, compile_sources

BIN = Path(sys.executable).parent
MEDALLION = str(BIN / "medallion")
START = date(2025, 1, 1)


def write_days(folder: Path, days: int, rows: int) -> None:
    """One JSON-lines file per day: ``rows`` order events, half of them updates of earlier ids."""
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(days):
        day = START + timedelta(days=n)
        ids = pl.int_range(0, rows, eager=True) + n * rows // 2
        pl.DataFrame(
            {
                "order_id": ids,
                "customer_id": ids % 977,
                "amount": (ids % 10_000) / 100,
                "status": pl.Series(["placed", "paid", "shipped", "delivered"] * (rows // 4 + 1))[:rows],
                "updated_at": [
                    f"{day}T{(i % 86400) // 3600:02d}:{(i % 3600) // 60:02d}:00" for i in range(rows)
                ],
            }
        ).write_ndjson(folder / f"orders_{day:%Y%m%d}.jsonl")


def write_config(root: Path, sources: dict[str, Path]) -> Path:
    config = root / "configs"
    config.mkdir()
    platform = {
        "config_version": 1,
        "platform": {
            "bronze": {"local_path": str(root / "lake" / "bronze")},
            "silver": {"local_path": str(root / "lake" / "silver")},
            "defaults": {"partitions": {"start_date": START.isoformat()}},
        },
    }
    entries = [
        {
            "name": name,
            "source": {
                "system": "bench",
                "table": name,
                "type": "file",
                "file": {"path": str(folder / "orders_{run_date:%Y%m%d}.jsonl")},
                "run": {"load_pattern": "incremental"},
            },
            "silver": {
                "model": "scd_type_1",
                "primary_keys": ["order_id"],
                "order_column": "updated_at",
                "schema": {
                    "types": {"order_id": "int64", "amount": "decimal(18,2)", "updated_at": "datetime"}
                },
            },
        }
        for name, folder in sources.items()
    ]
    (config / "platform.yaml").write_text(yaml.safe_dump(platform))
    (config / "sources.yaml").write_text(yaml.safe_dump({"config_version": 1, "sources": entries}))
    return config


def timed(args: list[str], env: dict[str, str]) -> float:
    began = time.perf_counter()
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"{args} failed:\n{done.stderr[-3000:]}{done.stdout[-2000:]}")
    return seconds


def run_breakdown(home: Path, since: float) -> dict[str, float]:
    """Step seconds, run seconds and the first event's time of the runs started after ``since``."""
    os.environ["DAGSTER_HOME"] = str(home)
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = [r for r in instance.get_run_records() if r.create_timestamp.timestamp() >= since]
        steps = run_seconds = 0.0
        first_event = float("inf")
        per_asset: dict[str, int] = {}
        for record in runs:
            logs = instance.all_logs(record.dagster_run.run_id)
            first_event = min(first_event, logs[0].timestamp)
            run_seconds += logs[-1].timestamp - logs[0].timestamp
            started: dict[str, float] = {}
            for entry in logs:
                event = entry.dagster_event
                if event is None or entry.step_key is None:
                    continue
                if event.event_type_value == "STEP_START":
                    started[entry.step_key] = entry.timestamp
                elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE"):
                    steps += entry.timestamp - started.pop(entry.step_key)
            for key in record.dagster_run.asset_selection or ():
                per_asset[key.to_user_string()] = per_asset.get(key.to_user_string(), 0) + 1
        return {
            "runs": len(runs),
            "max_runs_per_asset": max(per_asset.values(), default=0),
            "steps": steps,
            "run": run_seconds,
            "first_event": first_event,
        }


def fresh_home(root: Path, name: str, stock: bool) -> Path:
    home = root / name
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir()
    text = (REPO / "deploy" / "dagster.yaml").read_text()
    if stock:  # Dagster's own class named explicitly: the CLI then keeps it (medallion_assets.instance)
        text += (
            "\nevent_log_storage:\n  module: dagster._core.storage.event_log\n"
            f"  class: SqliteEventLogStorage\n  config:\n    base_dir: {home / 'history' / 'runs'}\n"
        )
    (home / "dagster.yaml").write_text(text)
    return home


def measure_run(
    root: Path, env: dict[str, str], args: list[str], *, stock: bool, tag: str
) -> dict[str, float]:
    """A run command on a fresh lake and a home that has seen one run already (the steady state)."""
    shutil.rmtree(root / "lake", ignore_errors=True)
    home = fresh_home(root, f"home_{tag}", stock)
    env = {**env, "DAGSTER_HOME": str(home)}
    warm_day = (START + timedelta(days=60)).isoformat()
    subprocess.run([MEDALLION, "run", "--date", warm_day, "--select", "small"], env=env, capture_output=True)
    since = time.time()
    began = time.time()
    wall = timed([MEDALLION, *args], env)
    figures = run_breakdown(home, since)
    figures["wall"] = wall
    # The floor measured right after the command, so a change of load hits both alike.
    figures["import_dagster"] = timed([sys.executable, "-c", "import dagster"], env)
    figures["before_first_event"] = figures.pop("first_event") - began
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--range-days", type=int, default=30)
    parser.add_argument("--big-rows", type=int, default=20_000)
    parser.add_argument("--stock-too", action="store_true", help="also each case on Dagster's event log")
    parser.add_argument("--cases", default="day,range,big", help="which run cases (day, range, big)")
    parser.add_argument("--baseline-tree", help="also each case with this source tree (e.g. a main checkout)")
    args = parser.parse_args()
    median = statistics.median
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        days = args.range_days
        write_days(root / "small", max(days, 61), 200)
        write_days(root / "big", days, args.big_rows)
        config = write_config(root, {"small": root / "small", "big": root / "big"})
        env = {**os.environ, "MEDALLION_CONFIG_DIR": str(config)}
        env.pop("DAGSTER_HOME", None)
        compile_sources(env, [REPO] + ([Path(args.baseline_tree)] if args.baseline_tree else []))

        light = {
            verb: median(timed([MEDALLION, *verb.split()], env) for _ in range(args.repeat))
            for verb in ("--help", "validate", "list")
        }
        import_dagster = median(
            timed([sys.executable, "-c", "import dagster"], env) for _ in range(args.repeat)
        )
        # What the run path cannot do without: the libraries it stands on (no medallion code).
        stack = "import dagster, polars, pyarrow, pydantic, sqlalchemy, alembic, yaml, rich.progress"
        import_stack = median(timed([sys.executable, "-c", stack], env) for _ in range(args.repeat))
        print(f"uptime: {os.popen('uptime').read().strip()}")
        for verb, seconds in light.items():
            print(
                f"medallion {verb:10} {seconds:6.2f} s" + ("   (target <= 0.5 s)" if verb == "--help" else "")
            )
        print(f'python -c "import dagster" {import_dagster:6.2f} s')
        print(f"python -c 'import dagster, polars, pyarrow, pydantic, sqlalchemy, ...' {import_stack:6.2f} s")
        results: dict[str, object] = {
            "light": light,
            "import_dagster": import_dagster,
            "import_stack": import_stack,
        }
        # (label, Dagster's stock event log?, environment): alternated, so a load change hits all alike.
        variants: list[tuple[str, bool, dict[str, str]]] = [("this tree", False, env)]
        if args.stock_too:
            variants.append(("stock event log", True, env))
        if args.baseline_tree:
            before = {**env, "PYTHONPATH": args.baseline_tree}
            variants.append(("baseline tree", False, before))
            seconds = median(timed([MEDALLION, "--help"], before) for _ in range(args.repeat))
            print(f"medallion --help   {seconds:6.2f} s   [baseline tree]")

        day = START.isoformat()
        end = (START + timedelta(days=days - 1)).isoformat()
        cases = [
            ("1 day x 200 rows", ["run", "--date", day, "--select", "small"], args.repeat),
            (f"{days} days x 200 rows", ["run", "--date", day, "--end-date", end, "--select", "small"], 2),
            (
                f"{days} days x {args.big_rows:,} rows",
                ["run", "--date", day, "--end-date", end, "--select", "big"],
                2,
            ),
        ]
        chosen = [c for c, key in zip(cases, ("day", "range", "big"), strict=True) if key in args.cases]
        for case, command, repeat in chosen:
            measured: dict[str, list[dict[str, float]]] = {label: [] for label, _, _ in variants}
            for n in range(repeat):
                for label, stock, variant_env in variants if n % 2 == 0 else variants[::-1]:
                    tag = label.replace(" ", "_")
                    measured[label].append(measure_run(root, variant_env, command, stock=stock, tag=tag))
            for label, one in measured.items():
                wall, steps = median(r["wall"] for r in one), median(r["steps"] for r in one)
                if case.startswith("1 day"):
                    ratio = median(r["wall"] / (r["import_dagster"] + r["steps"]) for r in one)
                    target = "to import dagster + steps (target <= 1.5)"
                else:
                    ratio = median(r["wall"] / r["steps"] for r in one)
                    target = "to its steps (target <= 1.3)"
                runs = max(r["runs"] for r in one)
                # The command's own cost (all but its asset work) against importing the libraries it stands
                # on, measured in this run: what the command adds that no Dagster project could avoid.
                overhead = median(r["wall"] - r["steps"] for r in one)
                print(
                    f"run {case} [{label}]: {wall:.2f} s; steps {steps:.2f} s; "
                    f"before the run {median(r['before_first_event'] for r in one):.2f} s; "
                    f"run outside steps {median(r['run'] - r['steps'] for r in one):.2f} s; "
                    f"ratio {target} {ratio:.2f}; Dagster runs {runs:.0f}; "
                    f"overhead (wall less steps) {overhead:.2f} s = {overhead / import_stack:.2f}x importing "
                    "its libraries"
                )
                results[f"{case} [{label}]"] = {
                    "wall": wall,
                    "steps": steps,
                    "ratio": ratio,
                    "runs": runs,
                    "overhead": overhead,
                    "overhead_to_stack": overhead / import_stack,
                }
        print(json.dumps(results, default=str))


if __name__ == "__main__":
    main()
