"""What killed and simultaneous runs leave behind: instance creation races, temp files, checks that raced."""

from __future__ import annotations

import os
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
from medallion_resources.storage.base import StorageBackend
from medallion_resources.storage.wrappers import WrappingBackend

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
