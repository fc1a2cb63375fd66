"""Reading a committed Silver partition downstream (docs/reading.md): time and peak RSS against polars alone.

One 2M-row partition (``current``, 8 parts of 250k rows) on local disk and on S3 (moto, in this process).
Each case runs in a fresh subprocess (wall time of the read and the query, and the child's peak RSS), with
two queries: ``agg`` touches two columns (sum, distinct count), ``all`` collects every column.

* ``floor``: polars alone scanning exactly the listed files, unverified (on S3: each listed file downloaded
  once with s3fs, then scanned: the bytes have to cross the network once either way);
* ``scan``: ``Dataset.scan`` (``scan_artifact``), every file SHA-256-verified; on S3 ``cold`` with an empty
  read cache, ``warm`` with the copies of an earlier read;
* ``scan_noverify``: ``verify=False``;
* ``eager``: ``read_artifact`` then the query (every part read, verified and decoded into memory).

Peak RSS is the child's; "+N MiB" is that peak over the resident memory just before the read (imports and
manifest), i.e. what the read itself holds at its peak.

Usage: ``.venv/bin/python benchmarks/read.py [--rows 2000000] [--repeat 3]``; medians are printed. Takes
about three minutes.
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
from pathlib import Path

import polars as pl

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "benchmarks"))

from object_stores import S3Endpoint, free_port  # noqa: E402
from storage import make_frame  # noqa: E402

from medallion_resources.lake.commit import PartitionWriter  # noqa: E402
from medallion_resources.lake.dataset import Dataset  # noqa: E402
from medallion_resources.lake.parts import PartSettings  # noqa: E402
from medallion_resources.lake.read import read_artifact  # noqa: E402
from medallion_resources.storage import LocalBackend, StorageBackend  # noqa: E402
from medallion_resources.storage.s3 import S3Backend, S3Settings  # noqa: E402

DATASET = "domain=bench/entity=orders/v1"
DAY = "2025-01-01"
QUERIES = {
    "agg": lambda f: f.select(pl.col("amount").sum(), pl.col("customer_id").n_unique(), pl.len()),
    "all": lambda f: f,
}


def _backend(spec: dict[str, str]) -> StorageBackend:
    if spec["kind"] == "local":
        return LocalBackend(spec["root"])
    settings = S3Settings(endpoint_url=spec["url"], key="test", secret="test", region="us-east-1")
    return S3Backend(spec["bucket"], "lake", settings)


def _write(backend: StorageBackend, frame: pl.DataFrame) -> None:
    with PartitionWriter(
        backend,
        f"{DATASET}/load_date={DAY}",
        layer="silver",
        dataset=DATASET,
        run_date=DAY,
        run_id="bench",
        output=PartSettings(max_rows_per_file=250_000),
    ) as writer:
        writer.write_artifact("current", [frame])
        writer.commit({})


def child(case: str, query: str, spec: dict[str, str]) -> dict[str, float]:
    backend = _backend(spec)
    dataset = Dataset(backend, DATASET, "silver", "bench")
    part = dataset.require(DAY)
    q = QUERIES[query]
    cache = Path(tempfile.mkdtemp(prefix="bench-read-cache-"))
    if case == "scan_warm":
        dataset.scan([part], "current", cache_dir=cache).select(pl.len()).collect()
    before = _rss_now_mib()
    started = time.perf_counter()
    if case == "floor":
        files = part.files("current")
        if spec["kind"] == "local":
            paths = [backend.local_path(part.relpath(f)) or "" for f in files]
        else:
            paths = []
            for f in files:  # each listed file crosses the network once, as the verified copy does
                target = cache / f.path
                backend.fs.get_file(backend.full_path(part.relpath(f)), str(target))  # type: ignore[attr-defined]
                paths.append(str(target))
        out = q(pl.scan_parquet(paths, hive_partitioning=False)).collect()
    elif case in ("scan", "scan_warm", "scan_noverify"):
        lazy = dataset.scan([part], "current", verify=case != "scan_noverify", cache_dir=cache)
        out = q(lazy).collect()
    elif case == "eager":
        out = q(read_artifact(part, "current").lazy()).collect()
    else:
        raise ValueError(case)
    wall = time.perf_counter() - started
    rss = _peak_rss_mib()
    return {"wall": wall, "rss_mib": rss, "read_mib": rss - before, "rows": out.height}


def _peak_rss_mib() -> float:
    """VmHWM: the peak resident memory of this process image. (``ru_maxrss`` would not do: Linux keeps the
    parent's resident size from before ``exec`` in it, and the parent holds the benchmark's data.)"""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _rss_now_mib() -> float:
    """Resident memory now (the imports and the partition's manifest), the base the read adds to."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 2**20


def measure(case: str, query: str, spec: dict[str, str]) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", case, query, json.dumps(spec)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(name: str, cases: list[str], spec: dict[str, str], repeat: int) -> None:
    for query in QUERIES:
        floor = None
        for case in cases:
            runs = [measure(case, query, spec) for _ in range(repeat)]
            wall = statistics.median(r["wall"] for r in runs)
            rss = statistics.median(r["rss_mib"] for r in runs)
            added = statistics.median(r["read_mib"] for r in runs)
            floor = floor or wall
            print(
                f"{name:<5} {query:<3} {case:<13} {wall:6.2f} s  {wall / floor:5.2f}x floor  "
                f"peak RSS {rss:6.0f} MiB (+{added:5.0f} MiB over the process before the read)",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", nargs=3)
    args = parser.parse_args()
    if args.child:
        case, query, spec = args.child
        print(json.dumps(child(case, query, json.loads(spec))))
        return
    frame = make_frame(args.rows)
    print(f"{args.rows:,} rows x {frame.width} columns, {frame.estimated_size() / 1e6:.0f} MB in memory")
    with tempfile.TemporaryDirectory() as tmp:
        local = {"kind": "local", "root": str(Path(tmp) / "lake")}
        _write(_backend(local), frame)
        run("local", ["floor", "scan", "scan_noverify", "eager"], local, args.repeat)

    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        s3 = S3Endpoint(url=f"http://{host}:{port}")
        spec = {"kind": "s3", "url": s3.url, "bucket": s3.create_bucket()}
        _write(_backend(spec), frame)
        run("s3", ["floor", "scan", "scan_warm", "scan_noverify", "eager"], spec, args.repeat)
    finally:
        server.stop()


if __name__ == "__main__":
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    main()
