"""The ``inputs_current`` verdict of a year-old lake on an object store: first evaluation and the next ones.

    .venv/bin/python benchmarks/stale_check.py [--days 365] [--rows 50]

Builds a local lake of ``--days`` days of one small source with ``medallion run`` (one range command),
copies it to moto's S3 server on 127.0.0.1, and times ``silver_staleness`` (what the ``inputs_current``
check and the ``medallion_silver_inputs`` sensor compute) in this process: with fresh IO managers and an
empty commit cache (one listing per layer, then every manifest and metadata file), again with the same IO
managers (the sensor's next tick in the code server: listings only, plus what changed), and with fresh IO
managers again (a run's check in a new process, starting from the commit cache on disk). Prints wall
seconds and storage calls of each, what the IO managers keep between the two (their caches' size), and the
same on local disk; then ``medallion status`` of the source on the S3 copy, as users run it, twice in fresh
processes (the first with an empty commit cache, the second from the file it left). moto answers
in-process-fast; on a real store each request is a network round trip, so the request counts are the
figure that carries over.
"""

from __future__ import annotations

import argparse
import copy
import logging
import os
import shutil
import subprocess
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from _measure import REPO, VENV_BIN, uptime, user_env
from cli import START, write_config, write_days

from medallion_assets.lake import Lake
from medallion_assets.staleness import silver_staleness
from medallion_resources.io_managers import BronzeIOManager, SilverIOManager
from medallion_resources.lake.committed_cache import CACHE_DIR_ENV
from medallion_resources.storage import LocalBackend, StorageBackend
from medallion_resources.storage.s3 import S3Backend, S3Settings
from medallion_resources.storage.wrappers import WrappingBackend

CALLS: Counter[str] = Counter()


class Counting(WrappingBackend):
    def _call(self, operation: str, relpath: str, fn: Callable[[], Any]) -> Any:
        CALLS[operation] += 1
        return fn()


def timed(spec: Any, bronze: BronzeIOManager, silver: SilverIOManager, end: Any) -> tuple[float, int, int]:
    """(seconds, requests, stale days) of one evaluation."""
    CALLS.clear()
    began = time.perf_counter()
    reasons = silver_staleness(spec, bronze, silver, end)
    return time.perf_counter() - began, sum(CALLS.values()), sum(1 for r in reasons.values() if r)


def cache_bytes(*ios: Any) -> int:
    """Bytes the IO managers' commit caches hold: traced while an equal copy of them is made (tracing the
    evaluation itself would also count the S3 client's models, and slow it fourfold)."""
    tracemalloc.start()
    copies = [copy.deepcopy(io._committed._entries) for io in ios]
    size = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del copies
    return size


def s3_config_dir(root: Path, config: Path) -> Path:
    """The same sources with the lake on the moto server (``lake`` bucket, ``bronze``/``silver`` prefixes)."""
    folder = root / "configs-s3"
    folder.mkdir()
    shutil.copy(config / "sources.yaml", folder / "sources.yaml")
    platform = yaml.safe_load((config / "platform.yaml").read_text())
    for layer in ("bronze", "silver"):
        platform["platform"][layer] = {"storage_backend": "s3", "s3_bucket": "lake", "s3_prefix": layer}
    platform["platform"]["s3_connection"] = {
        "endpoint_url_env": "MEDALLION_S3_ENDPOINT",
        "access_key_env": "AWS_ACCESS_KEY_ID",
        "secret_key_env": "AWS_SECRET_ACCESS_KEY",
        "region": "us-east-1",
        "addressing_style": "path",
    }
    (folder / "platform.yaml").write_text(yaml.safe_dump(platform))
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--rows", type=int, default=50)
    args = parser.parse_args()
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ[CACHE_DIR_ENV] = str(root / "cache")  # this run's own commit cache, empty at the start
        write_days(root / "landing", args.days, args.rows)
        config = write_config(root, {"bench": root / "landing"})
        home = root / "home"
        home.mkdir()
        shutil.copy(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")
        end = START + timedelta(days=args.days - 1)
        argv = [str(VENV_BIN / "medallion"), "--config-dir", str(config), "run", "--select", "bench"]
        argv += ["--date", str(START), "--end-date", str(end)]
        built = time.perf_counter()
        subprocess.run(argv, env={**os.environ, "DAGSTER_HOME": str(home)}, check=True, capture_output=True)
        print(f"built {args.days} days in {time.perf_counter() - built:.0f} s; {uptime()}")
        spec = Lake.load(config).spec("bench")

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        try:
            settings = S3Settings(
                endpoint_url=f"http://{host}:{port}", key="k", secret="s", region="us-east-1"
            )
            loader = S3Backend("lake", "", settings)
            loader.fs.call_s3("create_bucket", Bucket="lake")
            for layer in ("bronze", "silver"):
                loader.fs.put(str(root / "lake" / layer), f"lake/{layer}", recursive=True)

            def store(layer: str) -> StorageBackend:
                return Counting(S3Backend("lake", layer, settings))

            cases: list[tuple[str, Callable[[str], StorageBackend]]] = [
                ("local disk", lambda layer: Counting(LocalBackend(root / "lake" / layer))),
                ("S3 (moto)", store),
            ]
            for name, make in cases:
                bronze, silver = BronzeIOManager(make("bronze")), SilverIOManager(make("silver"))
                cold = timed(spec, bronze, silver, end)
                warm = timed(spec, bronze, silver, end)
                kept = cache_bytes(bronze, silver)
                bronze, silver = BronzeIOManager(make("bronze")), SilverIOManager(make("silver"))
                fresh = timed(spec, bronze, silver, end)
                cases_run = (("first", cold), ("next", warm), ("fresh", fresh))
                for label, (seconds, requests, stale) in cases_run:
                    print(
                        f"  {name:11} {label:5} evaluation of {args.days} days: {seconds:6.2f} s, "
                        f"{requests:5} storage calls, {stale} stale"
                    )
                print(f"  {name:11} kept between evaluations: {kept / 1024:.0f} KiB")
            s3_config = s3_config_dir(root, config)
            env = user_env(
                DAGSTER_HOME=str(home),
                MEDALLION_S3_ENDPOINT=settings.endpoint_url or "",
                AWS_ACCESS_KEY_ID="k",
                AWS_SECRET_ACCESS_KEY="s",
                **{CACHE_DIR_ENV: str(root / "cache-command")},
            )
            status = [str(VENV_BIN / "medallion"), "--config-dir", str(s3_config), "status", "bench"]
            for label in ("empty commit cache", "commit cache on disk"):
                began = time.perf_counter()
                subprocess.run(status, env=env, check=True, capture_output=True)
                print(f"  S3 (moto)   medallion status, {label}: {time.perf_counter() - began:6.2f} s")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
