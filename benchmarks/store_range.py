"""A range run on an object store: requests and wall time of ``medallion run`` over many days on moto's S3.

    .venv/bin/python benchmarks/store_range.py [--days 30] [--rows 200] [--repeat 2] [--baseline-tree DIR]

The ``benchmarks/cli.py`` source (JSON lines, ``scd_type_1``, ``--rows`` order events a day, half of them
updates of earlier ids) with Bronze and Silver both on moto's S3 server (in this process, on 127.0.0.1),
run as users run it: ``medallion run --date D1 --end-date DN`` in a fresh process, each run into a new
bucket. Prints the requests the store served, by verb (moto's request log), and the wall time.
``--baseline-tree`` runs each round with the ``medallion`` code of another checkout too
(``PYTHONPATH=DIR``), the two taking turns. On a real store every request is a network round trip, so the
request counts are the figure to compare; moto answers in about a millisecond.
"""

from __future__ import annotations

import argparse
import collections
import logging
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import yaml
from _measure import REPO, compile_sources, uptime, user_env
from cli import START, write_config, write_days

sys.path.insert(0, str(REPO / "tests"))
from object_stores import S3Endpoint, free_port  # noqa: E402

_REQUEST = re.compile(r'"(GET|HEAD|PUT|POST|DELETE) ')


class _Requests(logging.Handler):
    """Counts the requests moto's server logs (werkzeug logs one line per request)."""

    def __init__(self) -> None:
        super().__init__()
        self.verbs: collections.Counter[str] = collections.Counter()

    def emit(self, record: logging.LogRecord) -> None:
        found = _REQUEST.search(record.getMessage())
        if found:
            self.verbs[found.group(1)] += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--baseline-tree", help="also each round with this tree (e.g. a main checkout)")
    args = parser.parse_args()

    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    requests = _Requests()
    werkzeug = logging.getLogger("werkzeug")
    werkzeug.setLevel(logging.INFO)
    werkzeug.propagate = False
    werkzeug.addHandler(requests)
    keys = {"aws_access_key_id": "test", "aws_secret_access_key": "test", "region_name": "us-east-1"}
    client = boto3.client("s3", endpoint_url=url, **keys)
    trees = {"this tree": REPO, **({"baseline": Path(args.baseline_tree)} if args.baseline_tree else {})}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_days(root / "landing", args.days, args.rows)
        config = write_config(root, {"orders": root / "landing"})
        env = user_env(MEDALLION_S3_ENDPOINT=url, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
        compile_sources(env, list(trees.values()))
        end = START + timedelta(days=args.days - 1)
        results: dict[str, list[tuple[float, collections.Counter[str]]]] = {name: [] for name in trees}
        runs = 0
        for _ in range(args.repeat):
            for name, tree in trees.items():
                runs += 1
                bucket = f"bench-range-{runs}"
                client.create_bucket(Bucket=bucket)
                platform = yaml.safe_load((config / "platform.yaml").read_text())
                platform["platform"] |= {
                    "bronze": {"storage_backend": "s3", "s3_bucket": bucket, "s3_prefix": "lake/bronze"},
                    "silver": {"storage_backend": "s3", "s3_bucket": bucket, "s3_prefix": "lake/silver"},
                    "s3_connection": S3Endpoint.connection_config(),
                }
                (config / "platform.yaml").write_text(yaml.safe_dump(platform))
                home = root / f"home-{runs}"
                home.mkdir()
                cache = str(root / f"cache-{runs}")
                run_env = {**env, "DAGSTER_HOME": str(home), "MEDALLION_CACHE_DIR": cache}
                if tree != REPO:
                    run_env["PYTHONPATH"] = str(tree)
                requests.verbs.clear()
                began = time.perf_counter()
                done = subprocess.run(
                    [sys.executable, "-m", "medallion_assets.cli", "--config-dir", str(config), "run"]
                    + ["--date", START.isoformat(), "--end-date", end.isoformat()],
                    env=run_env,
                    capture_output=True,
                    text=True,
                    cwd=tmp,
                )
                wall = time.perf_counter() - began
                if done.returncode != 0:
                    raise SystemExit(f"{name}: the run failed:\n{done.stderr[-3000:]}{done.stdout[-2000:]}")
                results[name].append((wall, collections.Counter(requests.verbs)))
        server.stop()
    print(f"{args.days} days x {args.rows} rows, Bronze and Silver on moto's S3; {uptime()}")
    for name, rounds in results.items():
        verbs = rounds[-1][1]
        walls = ", ".join(f"{w:.2f}" for w, _ in rounds)
        detail = ", ".join(f"{v} {verbs[v]:,}" for v in ("GET", "HEAD", "PUT", "POST", "DELETE") if verbs[v])
        print(
            f"  {name:9}  requests {sum(verbs.values()):,} ({detail});  wall {walls} s"
            f" (median {statistics.median(w for w, _ in rounds):.2f})"
        )


if __name__ == "__main__":
    main()
