"""What killed and simultaneous runs leave behind: instance creation races, temp files, checks that raced."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
MEDALLION = str(Path(sys.executable).parent / "medallion")


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
