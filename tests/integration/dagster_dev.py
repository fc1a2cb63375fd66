"""Run the real ``dagster dev`` (webserver + daemon) on a free port and talk GraphQL to it, as the UI does.

The process gets its own session (job control) so that SIGTERM reaches the webserver, the daemon and the
code server; a stop that times out kills the whole group.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
LOCATION = "medallion"  # workspace.yaml: location_name of definitions.py
REPOSITORY = "__repository__"
REPO_SELECTOR = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY}
LAUNCH_BACKFILL = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on Error { message }
  }
}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def graphql(port: int, query: str, variables: dict[str, Any] | None = None) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def wait_for(check: Callable[[], Any], timeout: float, what: str, interval: float = 1.0) -> Any:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


@dataclass
class DagsterDev:
    port: int
    log: Path

    def query(self, text: str, variables: dict[str, Any] | None = None) -> dict:
        result = graphql(self.port, text, variables)
        assert "errors" not in result, result
        return result["data"]

    def launch_backfill(self, params: dict[str, Any]) -> str:
        """Launch a backfill as the UI does (``LaunchBackfillParams``); its id."""
        result = self.query(LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
        assert result["__typename"] == "LaunchBackfillSuccess", result
        return str(result["backfillId"])

    def launch_job_backfill(self, source: str, partitions: list[str]) -> str:
        """A backfill of ``<source>_job``'s partition set (both assets of the source)."""
        return self.launch_backfill(
            {
                "selector": {
                    "partitionSetName": f"{source}_job_partition_set",
                    "repositorySelector": REPO_SELECTOR,
                },
                "partitionNames": partitions,
                "fromFailure": False,
                "forceSynchronousSubmission": True,
            }
        )

    def tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def dagster_dev(
    env: dict[str, str], log: Path, ready_query: str = "{ assetNodes { id } }", *, dg: bool = False
) -> Iterator[DagsterDev]:
    """Start ``dagster dev -w workspace.yaml`` (or ``dg dev``, the dg project at the repo root) with ``env``;
    yield once GraphQL lists the assets."""
    port = free_port()
    handle = log.open("w")
    command = [str(BIN / "dg"), "dev"] if dg else [str(BIN / "dagster"), "dev", "-w", "workspace.yaml"]
    if dg:  # dg checks that the active environment is the project's
        env = {**env, "VIRTUAL_ENV": str(BIN.parent), "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}"}
    server = subprocess.Popen(
        [*command, "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO,
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    dev = DagsterDev(port, log)
    try:

        def ready() -> bool:
            try:
                return bool(graphql(port, "{ assetNodes { id } }").get("data", {}).get("assetNodes"))
            except OSError:
                return False

        try:
            wait_for(ready, 120, "dagster dev to serve GraphQL")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{dev.tail()}") from None
        yield dev
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
        handle.close()
