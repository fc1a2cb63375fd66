"""Silver at scale (issue 14): a day costs its changes, not its table.

Run: ``.venv/bin/python benchmarks/silver.py day [--keys 1000000] [--changes 100000] [--model scd_type_2]``,
``... storage [--keys 1000000] [--days 30]``. Every figure is a ratio to a floor measured in the same run,
each measurement in a fresh subprocess (wall time and peak RSS), repeated (``--repeat``, median shown).

``day``: a real local lake (YAML config, Bronze committed, Silver day 1 committed by the pipeline), then:

- ``floor``: polars alone reads Silver D-1 (every artifact's live rows, as plain part files) and Bronze D,
  and writes frames the size of Silver D (the full state plus the day's rows): the I/O of a run that reads
  and writes the whole state;
- ``merge``: a plain polars merge of the same day (about 30 lines, below): read the state, apply the
  changes, write the whole state back;
- ``step``: the medallion Silver step in-process: state before the day, ``silver_day`` (read Bronze D
  verified, read the touched keys of D-1 verified, model, checks) and the commit (delta files, deletes,
  manifest); day 1 (every key new) and the steady-state day: day 2 by default, ``--at-day N`` for a later
  one (days 2..N-1 committed by the pipeline first), where D-1's files also hold the rows later days
  deleted (merge-on-read: a day's read grows with them until the artifact is folded) and an SCD2
  history has grown by a day's versions each day.

``command``: ``medallion run`` of a steady-state ``scd_type_2`` day (the day's Parquet file into Bronze, then
Silver), a fresh process each time, against dlt's scd2 merge of the same file into duckdb
(``benchmarks/dlt_scd2.py``, in its own virtualenv ``.venv-dlt``), from the state after day 1.

``storage``: 30 daily partitions of an ``scd_type_2`` table, 10 % of keys changing a day (90 % updates, 10 %
inserts), written by the pipeline; their bytes against (the final state written once + every day's changed
rows), and bytes per partition.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import yaml

START = date(2025, 1, 1)


# --- data ---------------------------------------------------------------------------------------------------


def rows(ids: pl.Series, ts: datetime, salt: int, op: str | None = None) -> pl.DataFrame:
    frame = pl.DataFrame({"id": ids}).with_columns(
        pl.lit(ts).alias("ts"),
        (pl.col("id") * 7 + salt).cast(pl.String).alias("name"),
        ((pl.col("id") + salt) % 1000).alias("score"),
        pl.lit("EU").alias("region"),
    )
    return frame.with_columns(pl.lit(op).alias("op")) if op else frame


def day_rows(keys: int, changes: int, day: int, op: bool, total: int) -> pl.DataFrame:
    """Day 1: every key; later days: 90 % updates of random existing keys, 10 % new keys."""
    ts = datetime(2025, 1, 1) + timedelta(days=day - 1, hours=12)
    if day == 1:
        return rows(pl.int_range(0, keys, eager=True, dtype=pl.Int64), ts, 0, "I" if op else None)
    updates = int(changes * 0.9)
    ids = pl.concat(
        [
            pl.int_range(0, total, eager=True, dtype=pl.Int64).sample(updates, seed=day),
            pl.int_range(total, total + changes - updates, eager=True, dtype=pl.Int64),
        ]
    )
    return rows(ids, ts, day, "U" if op else None)


def config(root: Path, model: str) -> Path:
    silver: dict[str, Any] = {"model": model, "primary_keys": ["id"], "order_column": "ts"}
    if model == "cdc":
        silver["cdc"] = {"operation_column": "op"}
    source = {
        "name": "bench",
        "source": {
            "system": "b",
            "table": "t",
            "type": "file",
            "file": {"path": str(root / "landing" / "day_{run_date:%Y%m%d}.parquet")},
            "run": {"load_pattern": "cdc" if model == "cdc" else "incremental"},
        },
        "silver": silver,
    }
    platform = {
        "config_version": 1,
        "platform": {
            "bronze": {"storage_backend": "local", "local_path": str(root / "lake" / "bronze")},
            "silver": {"storage_backend": "local", "local_path": str(root / "lake" / "silver")},
            "defaults": {"partitions": {"start_date": START.isoformat(), "timezone": "UTC"}},
        },
    }
    folder = root / "configs"
    (folder / "sources").mkdir(parents=True, exist_ok=True)
    (folder / "platform.yaml").write_text(yaml.safe_dump(platform))
    (folder / "sources" / "s.yaml").write_text(yaml.safe_dump({"config_version": 1, "sources": [source]}))
    return folder


def land(root: Path, model: str, keys: int, changes: int, days: int) -> None:
    """Landing files and Bronze partitions of ``days`` days (Bronze written through the IO manager)."""
    from medallion_assets.lake import Lake
    from medallion_resources.io_managers import PartitionOutput

    (root / "landing").mkdir(parents=True, exist_ok=True)
    lake = Lake.load(config(root, model))
    spec = lake.spec("bench")
    total = keys
    for day in range(1, days + 1):
        frame = day_rows(keys, changes, day, model == "cdc", total)
        total += 0 if day == 1 else changes - int(changes * 0.9)
        run_date = START + timedelta(days=day - 1)
        frame.write_parquet(root / "landing" / f"day_{run_date:%Y%m%d}.parquet")
        bronze = frame.with_columns(pl.lit(run_date).alias("_load_date"))
        output = PartitionOutput(
            artifacts={"data": [bronze]}, build_metadata=lambda w: {}, output=spec.bronze_output
        )
        lake.bronze.write_partition(spec.bronze_path, run_date.isoformat(), output, "bench")


def silver_step(root: Path, day: int, lake: Any = None) -> None:
    """The Silver step of one day, in this process: state before it, silver_day, commit.

    ``lake``: the loaded lake (config loading, a fixed cost of every run, is not the step).
    """
    from medallion_assets.assets.silver import initial_state, silver_day
    from medallion_assets.lake import Lake
    from medallion_assets.silver.registry import create_silver_model
    from medallion_resources.io_managers import BronzeInput

    lake = lake or Lake.load(root / "configs")
    spec = lake.spec("bench")
    model = create_silver_model(spec.model, spec.entry.silver)
    run_date = START + timedelta(days=day - 1)
    previous = lake.committed(spec, "silver", run_date - timedelta(days=1))
    prior = initial_state(
        spec,
        model,
        BronzeInput(lake.bronze, spec.bronze_path, run_date.isoformat()),
        previous,
        run_date=run_date,
        is_first_partition=day == 1,
    )
    current = lake.committed(spec, "bronze", run_date)
    assert current is not None
    result = silver_day(spec, model, prior, current, run_date=run_date, run_id="bench")
    if result.blocking_failures:
        raise RuntimeError(result.blocking_failures)
    lake.silver.write_partition(spec.silver_path, run_date.isoformat(), result.output, "bench")


def _files(root: Path, day: int, layer: str) -> list[Path]:
    """The data files a committed partition lists (read from its manifest, as a plain script would)."""
    run_date = START + timedelta(days=day - 1)
    dataset = root / "lake" / layer / ("system=b/table=t" if layer == "bronze" else "domain=b/entity=t/v1")
    folder = dataset / (f"dt={run_date}" if layer == "bronze" else f"load_date={run_date}")
    manifest = json.loads((folder / "_checksums.json").read_text())
    base = dataset if manifest["manifest_version"] >= 2 else folder
    return [base / f["path"] for f in manifest["files"] if f.get("kind", "data") == "data"]


# --- the floor and the plain polars merge ------------------------------------------------------------------


def floor(root: Path, day: int) -> None:
    """Read Silver D-1 (every artifact) and Bronze D, write frames the size of Silver D.

    Silver D-1 is its live state (``live_state``: every artifact's live rows, in part files of the
    pipeline's size), not the files its manifest lists: from day 3 on those also hold the rows later days
    deleted, which would make the floor grow with the merge-on-read layout's own dead rows."""
    out = root / "floor"
    out.mkdir(exist_ok=True)
    state = [pl.read_parquet(f) for f in sorted((root / "live_state").glob("*.parquet"))] if day > 1 else []
    bronze = pl.concat([pl.read_parquet(f) for f in _files(root, day, "bronze")])
    for i, frame in enumerate([*state, bronze]):
        frame.write_parquet(out / f"{i}.parquet", compression="zstd", compression_level=1)


def merge(root: Path, day: int, model: str) -> None:
    """A plain polars merge (SCD2 when ``model`` is scd_type_2, else upsert): read, merge, write all."""
    out = root / "merge"
    out.mkdir(exist_ok=True)
    new = pl.concat([pl.read_parquet(f) for f in _files(root, day, "bronze")]).drop("op", strict=False)
    new = new.unique("id", keep="last").with_columns(
        pl.lit(START + timedelta(days=day - 1)).alias("_silver_load_date")
    )
    data = [c for c in new.columns if c not in ("id", "ts", "_load_date", "_silver_load_date")]
    state = root / "merge_state"
    if model != "scd_type_2":
        old = pl.read_parquet(state / "current.parquet") if day > 1 else new.clear()
        joined = new.join(old, on="id", how="left", suffix="_old")
        changed = joined.filter(pl.any_horizontal(pl.col(c).ne_missing(pl.col(f"{c}_old")) for c in data))
        current = pl.concat([old.join(changed, on="id", how="anti"), changed.select(new.columns)])
        current.sort("id").write_parquet(out / "current.parquet", compression="zstd", compression_level=1)
        return
    if day == 1:
        history = new.with_columns(
            pl.col("ts").alias("effective_from"), pl.lit(None, pl.Datetime("us")).alias("effective_to")
        )
    else:
        history = pl.read_parquet(state / "history.parquet")
        open_rows = history.filter(pl.col("effective_to").is_null())
        joined = new.join(open_rows, on="id", how="left", suffix="_old")
        changed = joined.filter(pl.any_horizontal(pl.col(c).ne_missing(pl.col(f"{c}_old")) for c in data))
        versions = changed.select(new.columns).with_columns(
            pl.col("ts").alias("effective_from"), pl.lit(None, pl.Datetime("us")).alias("effective_to")
        )
        closing = changed.filter(pl.col("ts_old").is_not_null()).select("id", pl.col("ts").alias("__to"))
        history = (
            history.join(closing, on="id", how="left")
            .with_columns(
                pl.when(pl.col("effective_to").is_null() & pl.col("__to").is_not_null())
                .then(pl.col("__to"))
                .otherwise(pl.col("effective_to"))
                .alias("effective_to")
            )
            .drop("__to")
        )
        history = pl.concat([history, versions], how="diagonal_relaxed")
    history = history.with_columns(pl.col("effective_to").is_null().alias("is_current"))
    history.write_parquet(out / "history.parquet", compression="zstd", compression_level=1)
    history.filter(pl.col("is_current")).write_parquet(
        out / "current.parquet", compression="zstd", compression_level=1
    )


def merge_setup(root: Path, model: str, days: int = 1) -> None:
    """The merge's own state after ``days`` days (one file per table, as a plain script would keep it)."""
    import shutil

    for day in range(1, days + 1):
        merge(root, day, model)
        shutil.rmtree(root / "merge_state", ignore_errors=True)
        (root / "merge").rename(root / "merge_state")


def live_state(root: Path, day: int, rows_per_file: int = 100_000) -> None:
    """Silver ``day``'s live rows, every artifact, as plain part files: what the floor of day + 1 reads."""
    import shutil

    from medallion_assets.lake import Lake
    from medallion_resources.lake.read import read_artifact

    lake = Lake.load(root / "configs")
    part = lake.committed(lake.spec("bench"), "silver", START + timedelta(days=day - 1))
    assert part is not None
    out = root / "live_state"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    for artifact in part.manifest.artifacts():
        frame = read_artifact(part, artifact)
        for i, offset in enumerate(range(0, frame.height, rows_per_file)):
            chunk = frame.slice(offset, rows_per_file)
            chunk.write_parquet(out / f"{artifact}-{i:05d}.parquet", compression="zstd", compression_level=1)


# --- measuring ----------------------------------------------------------------------------------------------


def _rss_mib() -> float:
    """Peak RSS of this process (VmHWM: unlike ru_maxrss it does not carry the parent's peak over exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(mode: str, root: str, day: int, model: str) -> None:
    """One measurement. Imports and (for the step) loading the config happen before the clock starts;
    ``base_mib`` is the peak RSS at that point, so ``rss_mib - base_mib`` is what the work itself took."""
    path = Path(root)
    lake = None
    if mode == "step":
        import medallion_assets.assets.silver  # noqa: F401
        from medallion_assets.lake import Lake

        lake = Lake.load(path / "configs")
        lake.spec("bench")
    base = _rss_mib()
    started = time.perf_counter()
    if mode == "floor":
        floor(path, day)
    elif mode == "merge":
        merge(path, day, model)
    else:
        silver_step(path, day, lake)
    wall = time.perf_counter() - started
    print(json.dumps({"wall": wall, "rss_mib": _rss_mib(), "base_mib": base}))


def _once(mode: str, root: Path, day: int, model: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "child", mode, str(root), str(day), model],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure_all(
    modes: list[str], root: Path, day: int, model: str, repeat: int
) -> dict[str, dict[str, float]]:
    """Medians per mode; the modes take turns in each round, so a change of the machine's load between
    rounds weighs on all of them alike (other sessions share these 2 cores)."""
    runs: dict[str, list[dict[str, float]]] = {m: [] for m in modes}
    for _ in range(repeat):
        for mode in modes:
            runs[mode].append(_once(mode, root, day, model))
    return {
        m: {k: statistics.median(r[k] for r in rs) for k in ("wall", "rss_mib", "base_mib")}
        for m, rs in runs.items()
    }


def day_benchmark(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        root = Path(tmp)
        at = args.at_day
        land(root, args.model, args.keys, args.changes, at)
        merge_setup(root, args.model)
        print(f"{args.model}: {args.keys:,} keys, then {args.changes:,} changes (median of {args.repeat})")
        one = measure_all(["merge", "step"], root, 1, args.model, args.repeat)
        m1, s1 = one["merge"], one["step"]
        print(
            f"  day 1   merge {m1['wall']:.2f} s  step {s1['wall']:.2f} s = "
            f"{s1['wall'] / m1['wall']:.2f}x merge;"
            f"  RSS merge {m1['rss_mib']:.0f} MiB, step {s1['rss_mib']:.0f} MiB"
        )
        if at > 2:  # the days between, through the pipeline (not measured), and the merge's own state
            from medallion_assets.lake import Lake

            lake = Lake.load(root / "configs")
            for day in range(2, at):
                silver_step(root, day, lake)
            merge_setup(root, args.model, at - 1)
        live_state(root, at - 1)
        two = measure_all(["floor", "merge", "step"], root, at, args.model, args.repeat)
        f2, m2, s2 = two["floor"], two["merge"], two["step"]
        print(
            f"  day {at:<3} floor {f2['wall']:.2f} s  merge {m2['wall']:.2f} s  step {s2['wall']:.2f} s = "
            f"{s2['wall'] / f2['wall']:.2f}x floor, {s2['wall'] / m2['wall']:.2f}x merge"
        )
        print(
            f"          peak RSS floor {f2['rss_mib']:.0f} MiB, merge {m2['rss_mib']:.0f} MiB, step "
            f"{s2['rss_mib']:.0f} MiB = {s2['rss_mib'] / m2['rss_mib']:.2f}x merge"
        )
        work = {k: v["rss_mib"] - v["base_mib"] for k, v in (("merge", m2), ("step", s2))}
        print(
            f"          RSS of the work (peak less the process after imports): merge {work['merge']:.0f} MiB,"
            f" step {work['step']:.0f} MiB (imports: step {s2['base_mib']:.0f} MiB)"
        )


def storage_benchmark(args: argparse.Namespace) -> None:
    from medallion_assets.lake import Lake
    from medallion_resources.lake.read import read_artifact

    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        root = Path(tmp)
        land(root, "scd_type_2", args.keys, args.keys // 10, args.days)
        started = time.perf_counter()
        for day in range(1, args.days + 1):
            silver_step(root, day)
        elapsed = time.perf_counter() - started
        lake = Lake.load(root / "configs")
        spec = lake.spec("bench")
        silver_root = root / "lake" / "silver" / spec.silver_path
        per_day = []
        for day in range(1, args.days + 1):
            folder = silver_root / f"load_date={START + timedelta(days=day - 1)}"
            per_day.append(sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()))
        stored = sum(per_day)
        last = lake.committed(spec, "silver", START + timedelta(days=args.days - 1))
        assert last is not None
        fresh = root / "fresh"
        fresh.mkdir()
        for artifact in ("history", "current", "absorbed"):
            read_artifact(last, artifact).write_parquet(
                fresh / f"{artifact}.parquet", compression="zstd", compression_level=1
            )
        final_bytes = sum(p.stat().st_size for p in fresh.iterdir())
        changed = sum(p.stat().st_size for p in sorted((root / "landing").iterdir())[1:])
        ratio = stored / (final_bytes + changed)
        median = statistics.median(per_day[1:]) / 1e6
        print(f"storage: {args.days} days of {args.keys:,} keys, 10 % changing a day ({elapsed:.1f} s)")
        print(f"  stored {stored / 1e6:.1f} MB; final state {final_bytes / 1e6:.1f} MB")
        print(f"  + changed rows {changed / 1e6:.1f} MB -> {ratio:.2f}x")
        print(f"  per partition: day 1 {per_day[0] / 1e6:.1f} MB, later days median {median:.2f} MB")
        print("  per day (MB): " + " ".join(f"{b / 1e6:.1f}" for b in per_day))


def command_benchmark(args: argparse.Namespace) -> None:
    """``medallion run`` of a steady-state day (Bronze + Silver) against dlt's scd2 merge into duckdb."""
    import shutil

    from _measure import REPO as repo
    from _measure import user_env

    medallion = str(Path(sys.executable).parent / "medallion")
    dlt_python = repo / ".venv-dlt" / "bin" / "python"
    if not dlt_python.exists():
        raise SystemExit(f"{dlt_python} is missing: see benchmarks/dlt_scd2.py for its one-line set-up")
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        root = Path(tmp)
        (root / "landing").mkdir()
        folder = config(root, "scd_type_2")
        total = args.keys
        files = []
        for day in (1, 2):
            run_date = START + timedelta(days=day - 1)
            path = root / "landing" / f"day_{run_date:%Y%m%d}.parquet"
            day_rows(args.keys, args.changes, day, False, total).write_parquet(path)
            files.append(path)
        home = root / "dagster_home"
        home.mkdir()
        shutil.copy(repo / "deploy" / "dagster.yaml", home / "dagster.yaml")
        env = user_env(DAGSTER_HOME=str(home))

        def run(day: str) -> float:
            started = time.perf_counter()
            cmd = [medallion, "--config-dir", str(folder), "run", "--date", day, "--select", "bench"]
            subprocess.run(cmd, env=env, check=True, capture_output=True)
            return time.perf_counter() - started

        def peer(path: Path, workdir: Path) -> float:
            started = time.perf_counter()
            script = str(repo / "benchmarks" / "dlt_scd2.py")
            subprocess.run(  # the same environment: bytecode written and read, as for medallion
                [str(dlt_python), script, str(path), str(workdir)], env=env, check=True, capture_output=True
            )
            return time.perf_counter() - started

        run("2025-01-01")
        peer(files[0], root / "dlt_day1")
        ours, theirs = [], []
        for i in range(args.repeat):
            ours.append(run("2025-01-02"))  # re-running day 2 replaces it: the same work every time
            work = root / f"dlt_{i}"
            shutil.copytree(root / "dlt_day1", work)
            theirs.append(peer(files[1], work))
        m, d = statistics.median(ours), statistics.median(theirs)
        print(f"whole command, steady-state scd_type_2 day: {args.keys:,} keys, {args.changes:,} changes")
        print(
            f"  medallion run (Bronze + Silver) {m:.2f} s; dlt scd2 merge into duckdb {d:.2f} s"
            f" = {m / d:.2f}x"
        )
        print(f"  runs: medallion {[round(x, 2) for x in ours]}, dlt {[round(x, 2) for x in theirs]}")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["day", "storage", "command"])
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--changes", type=int, default=100_000)
    parser.add_argument("--model", default="scd_type_2", choices=["scd_type_2", "scd_type_1", "cdc"])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--at-day", type=int, default=2, help="day: the steady-state day measured (>= 2)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tmp", default=None, help="folder for the lake (default: the system temp dir)")
    args = parser.parse_args()
    {"day": day_benchmark, "storage": storage_benchmark, "command": command_benchmark}[args.what](args)


if __name__ == "__main__":
    main()
