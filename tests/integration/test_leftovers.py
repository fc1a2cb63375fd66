"""What killed and simultaneous runs leave behind: instance creation races, temp files, checks that raced."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import dagster as dg
import pytest

from medallion_assets.assets import build_assets
from medallion_assets.lake import Lake
from medallion_assets.specs import BRONZE_IO_MANAGER, SILVER_IO_MANAGER
from medallion_resources.io_managers import SilverIOManager
from medallion_resources.lake.leftovers import temp_prefix
from medallion_resources.storage.base import StorageBackend
from medallion_resources.storage.wrappers import WrappingBackend

from .dagster_dev import wait_for

pytestmark = pytest.mark.slow
MEDALLION = str(Path(sys.executable).parent / "medallion")
SOURCE = "retail_orders"
DAY = "2025-01-01"
T = TypeVar("T")


def start(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [MEDALLION, *args],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_simultaneous_commands_on_a_new_dagster_home_all_succeed(
    lake_env: dict[str, str], tmp_path: Path
) -> None:
    """They all create the instance (its SQLite tables, its dagster.yaml) at once; without the instance lock
    about one new home in five lost a process to an alembic or SQLite error."""
    homes = [tmp_path / f"new_home_{i}" for i in range(3)]
    processes = [
        start({**lake_env, "DAGSTER_HOME": str(home)}, "status", "retail_orders", "--end", "2025-01-01")
        for home in homes
        for _ in range(3)
    ]
    for process in processes:
        code, (out, err) = process.wait(timeout=300), process.communicate()
        assert code == 0 and "Traceback" not in err, out + err


class _CommitsRightAfterUs(WrappingBackend):
    """The Silver backend of the run under test. Once its manifest landed, the first file check it makes (the
    ``manifest_verified`` check re-hashing the commit) first lets a real ``medallion run`` of the same
    partition commit a newer attempt, whose clean-up removes our attempt's files: the race of two runs of
    one partition, made to happen every time."""

    def __init__(self, inner: StorageBackend, env: dict[str, str]) -> None:
        super().__init__(inner)
        self.env = env
        self.committed = False
        self.raced: subprocess.CompletedProcess[str] | None = None

    def _call(self, operation: str, relpath: str, fn: Callable[[], T]) -> T:
        result = fn()
        if operation == "put_bytes_if" and relpath.endswith("/_checksums.json") and result:
            self.committed = True
        return result

    def size(self, relpath: str) -> int:
        if self.committed and self.raced is None and relpath.endswith(".parquet"):
            self.raced = subprocess.run(
                [MEDALLION, "run", "--date", DAY, "--select", SOURCE, "--layer", "silver"],
                env={**os.environ, **self.env},
                capture_output=True,
                text=True,
                timeout=300,
            )
        return super().size(relpath)


def test_manifest_verified_checks_the_attempt_this_run_committed(lake_env: dict[str, str]) -> None:
    """A newer commit of the same partition (another run) removing our files while our check re-hashes them
    used to fail the blocking check, and the run, although the partition then verified."""
    bronze = start(lake_env, "run", "--date", DAY, "--select", SOURCE, "--layer", "bronze")
    assert bronze.wait(timeout=300) == 0, bronze.communicate()
    lake = Lake.load()
    spec = lake.spec(SOURCE)
    racing = _CommitsRightAfterUs(lake.silver.backend, lake_env)
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            build_assets([spec], lake.config.platform),
            selection=[spec.silver_key],
            partition_key=DAY,
            instance=instance,
            resources={BRONZE_IO_MANAGER: lake.bronze, SILVER_IO_MANAGER: SilverIOManager(racing)},
            raise_on_error=False,
        )
    assert racing.raced is not None and racing.raced.returncode == 0, racing.raced
    [evaluation] = [e for e in result.get_asset_check_evaluations() if e.check_name == "manifest_verified"]
    assert evaluation.passed, evaluation.description
    assert "has replaced it since, and that run's check verifies it" in (evaluation.description or "")
    assert result.success
    verify = subprocess.run(
        [MEDALLION, "verify", SOURCE, "--date", DAY, "--layer", "silver"],
        env={**os.environ, **lake_env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert verify.returncode == 0, verify.stderr


STALL_AFTER_TEMP_FILE = """
import sys, time
import medallion_resources.lake.parts as parts
real = parts._write_parquet
def stalled(table, path, *args, **kwargs):
    real(table, path, *args, **kwargs)
    time.sleep(600)  # killed here: a part written to its temp file, never moved into place
parts._write_parquet = stalled
from medallion_assets.cli import main
sys.argv = ["medallion", "run", "--date", "2025-01-01", "--select", "retail_orders", "--layer", "bronze"]
main()
"""


def test_temp_files_of_a_killed_run_are_listed_and_removed_at_the_next_commit(
    lake_env: dict[str, str],
) -> None:
    staging = Path(lake_env["MEDALLION_LAKE_DIR"]) / "bronze" / ".medallion-staging"
    killed = subprocess.Popen([sys.executable, "-c", STALL_AFTER_TEMP_FILE], env={**os.environ, **lake_env})
    try:

        def temp_files() -> list[Path]:
            return (
                [p for p in staging.glob(".medallion-part-*") if p.stat().st_size > 0]
                if staging.exists()
                else []
            )

        [leftover] = wait_for(temp_files, 180, "the run to write a part's temp file", interval=0.2)
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=30)
    finally:
        killed.kill()
    lake = Lake.load()
    io = lake.io("bronze")
    live = (
        Path(staging)
        / f"{temp_prefix(io.backend, io.partition_prefix(lake.spec(SOURCE).bronze_path, DAY))}x.parquet"
    )
    live.write_bytes(b"a live writer's part")  # this test process: alive, so never removed

    def medallion(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [MEDALLION, *args], env={**os.environ, **lake_env}, capture_output=True, text=True, timeout=300
        )

    inspect = medallion("inspect", SOURCE, "--date", "2025-01-02", "--layer", "bronze")
    assert "leftovers: 1 temp file(s) of killed runs, removed at the next commit" in inspect.stdout, inspect
    assert leftover.name in inspect.stdout and f"pid {killed.pid} on this host" in inspect.stdout
    run = medallion("run", "--date", "2025-01-02", "--select", SOURCE, "--layer", "bronze")
    assert run.returncode == 0, run.stderr
    assert not leftover.exists() and live.exists()
    assert "leftovers" not in medallion("inspect", SOURCE, "--date", "2025-01-02", "--layer", "bronze").stdout
