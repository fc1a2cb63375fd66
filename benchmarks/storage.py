"""Write and read back one 2M-row partition on local disk, S3 (moto) and Azure (Azurite).

For each backend it measures, in the same run:

* ``commit``: ``PartitionWriter`` writing the rows as Parquet parts, uploading them (in parallel on object
  stores) and committing the manifest; MB/s over the bytes of the part files;
* ``read``: ``read_artifact`` of the committed partition (every part read and SHA-256 verified);
* the baseline: a plain ``fs.put_file`` of the same part files (already encoded) and ``fs.cat_file`` of
  them back, one after the other, with the same fsspec filesystem.

Ratios are baseline time / medallion time (1.0: as fast as a plain put). The commit includes Parquet
encoding and hashing, and the read Parquet decoding and verification, which the plain put/cat do not do; so
the script also prints each backend's times against local disk, which isolates what the store adds.

Usage: ``.venv/bin/python benchmarks/storage.py [--rows 2000000]`` (starts moto and Azurite itself; skips
Azure when npm is missing). Takes about a minute.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from object_stores import AzureEndpoint, S3Endpoint, _install_azurite, _wait_for_port, free_port  # noqa: E402

from medallion_resources.lake.commit import PartitionWriter  # noqa: E402
from medallion_resources.lake.parts import PartSettings  # noqa: E402
from medallion_resources.lake.read import read_artifact, read_committed  # noqa: E402
from medallion_resources.storage import FsspecBackend, LocalBackend  # noqa: E402
from medallion_resources.storage.azure import AzureBackend, AzureSettings  # noqa: E402
from medallion_resources.storage.s3 import S3Backend, S3Settings  # noqa: E402
from medallion_resources.storage.wrappers import RetryingBackend  # noqa: E402

PREFIX = "system=bench/table=orders/dt=2025-01-01"


def make_frame(rows: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "order_id": pl.int_range(0, rows, eager=True),
            "customer_id": (pl.int_range(0, rows, eager=True) * 7919) % 100_003,
            "amount": pl.int_range(0, rows, eager=True).cast(pl.Float64) * 0.37,
            "status": pl.Series(["new", "paid", "shipped", "returned"] * (rows // 4 + 1))[:rows],
            "note": pl.Series([f"order {i} of the benchmark" for i in range(rows)]),
            "ts": pl.datetime_range(
                pl.datetime(2025, 1, 1), pl.datetime(2025, 1, 2), interval="1s", eager=True
            ).sample(rows, with_replacement=True, seed=1),
        }
    )


def bench(name: str, backend: FsspecBackend, frame: pl.DataFrame) -> dict[str, float]:
    store = RetryingBackend(backend)
    output = PartSettings(max_rows_per_file=250_000)
    started = time.perf_counter()
    with PartitionWriter(
        store, PREFIX, layer="bronze", dataset="bench", run_date="2025-01-01", run_id="bench", output=output
    ) as writer:
        writer.write_artifact("data", [frame])
        manifest = writer.commit({"record_count": frame.height})
    commit_s = time.perf_counter() - started
    size = sum(f.size_bytes for f in manifest.files)

    started = time.perf_counter()
    part = read_committed(store, PREFIX)
    assert part is not None
    back = read_artifact(part, "data")
    read_s = time.perf_counter() - started
    assert back.height == frame.height

    # Baseline: the same encoded part files, put and read back plainly with the same filesystem.
    with tempfile.TemporaryDirectory() as tmp:
        locals_ = []
        for f in manifest.files:
            path = os.path.join(tmp, f.path)
            Path(path).write_bytes(backend.read_bytes(part.relpath(f)))
            locals_.append((path, backend.full_path(f"baseline/{f.path}")))
        fs = backend.fs
        started = time.perf_counter()
        for path, target in locals_:
            if isinstance(backend, LocalBackend):
                os.makedirs(os.path.dirname(target), exist_ok=True)
            fs.put_file(path, target)
        put_s = time.perf_counter() - started
        started = time.perf_counter()
        for _, target in locals_:
            fs.cat_file(target)
        cat_s = time.perf_counter() - started
    mb = size / 1e6
    row = {"MB": mb, "commit_s": commit_s, "read_s": read_s, "put_s": put_s, "cat_s": cat_s}
    print(
        f"{name:<6} parts {mb:5.1f} MB | commit {commit_s:5.2f}s = {mb / commit_s:6.1f} MB/s, "
        f"plain put {put_s:5.2f}s = {mb / put_s:7.1f} MB/s, ratio {put_s / commit_s:.2f} | "
        f"read+verify {read_s:5.2f}s = {mb / read_s:6.1f} MB/s, "
        f"plain cat {cat_s:5.2f}s = {mb / cat_s:7.1f} MB/s, ratio {cat_s / read_s:.2f}",
        flush=True,
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    args = parser.parse_args()
    frame = make_frame(args.rows)
    print(f"{args.rows:,} rows x {frame.width} columns, {frame.estimated_size() / 1e6:.0f} MB in memory")

    with tempfile.TemporaryDirectory() as tmp:
        local = bench("local", LocalBackend(Path(tmp) / "lake"), frame)
    results = {"local": local}

    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        s3 = S3Endpoint(url=f"http://{host}:{port}")
        settings = S3Settings(endpoint_url=s3.url, key=s3.key, secret=s3.secret, region=s3.region)
        results["s3"] = bench("s3", S3Backend(s3.create_bucket(), "lake", settings), frame)
        serial = S3Backend(s3.create_bucket(), "lake", settings, upload_concurrency=1)
        results["s3-x1"] = bench("s3-x1", serial, frame)  # one upload at a time, for comparison
    finally:
        server.stop()

    binary = _install_azurite()
    if binary is None:
        print("azure  skipped: npm/node missing")
        _summary(results, frame)
        return
    location = tempfile.mkdtemp()
    port = free_port()
    proc = subprocess.Popen(
        [str(binary), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location", location,
         "--disableTelemetry", "--skipApiVersionCheck", "--loose", "--silent"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert _wait_for_port(port, proc), "azurite did not start"
        azure = AzureEndpoint(blob_url=f"http://127.0.0.1:{port}/devstoreaccount1")
        settings_az = AzureSettings(connection_string=azure.connection_string)
        results["azure"] = bench("azure", AzureBackend(azure.create_container(), "lake", settings_az), frame)
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(location, ignore_errors=True)
    _summary(results, frame)


def _summary(results: dict[str, dict[str, float]], frame: pl.DataFrame) -> None:
    """Object-store cost on top of encoding: each backend's commit and read time against local disk."""
    base = results["local"]
    arrow_mb = frame.estimated_size() / 1e6
    for name, row in results.items():
        print(
            f"{name:<6} {arrow_mb / row['commit_s']:6.1f} MB/s of Arrow data committed, "
            f"{arrow_mb / row['read_s']:6.1f} MB/s read back; time vs local: commit "
            f"{row['commit_s'] / base['commit_s']:.2f}x, read {row['read_s'] / base['read_s']:.2f}x"
        )


if __name__ == "__main__":
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    main()
