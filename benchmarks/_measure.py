"""What the Bronze benchmarks share: the step time of a run, and the ``medallion`` command as users run it.

``step_seconds`` reads the Bronze step's start and success from the instance's event log (the asset's own
work: extract, write, hash, commit), so it leaves out Dagster's fixed cost of a run. ``command`` runs
``medallion --config-dir DIR run`` in a fresh process, as a user does, and reports its wall time and peak RSS.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg

VENV_BIN = Path(sys.executable).parent


def step_seconds(instance: dg.DagsterInstance) -> float:
    """Seconds from STEP_START to STEP_SUCCESS of the latest run's only step."""
    run = instance.get_runs(limit=1)[0]
    times: dict[str, float] = {}
    for entry in instance.all_logs(run.run_id):
        event = entry.dagster_event
        if event is not None and event.event_type_value in ("STEP_START", "STEP_SUCCESS"):
            times[event.event_type_value] = entry.timestamp
    return times["STEP_SUCCESS"] - times["STEP_START"]


def command(
    config_dir: Path, dagster_home: Path, source: str, day: str = "2025-01-01"
) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of ``medallion run`` for one source's Bronze partition."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home)}
    argv = [str(VENV_BIN / "medallion"), "--config-dir", str(config_dir), "run", "--date", day]
    argv += ["--select", source, "--layer", "bronze"]
    # A wrapper process waits for the command, so its children's peak RSS is this command's alone.
    wrapper = (
        "import resource, subprocess, sys; done = subprocess.run(sys.argv[1:]); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(done.returncode)"
    )
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", wrapper, *argv], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"medallion run failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    peak_kib = int(done.stdout.strip().splitlines()[-1])
    return seconds, peak_kib / 1024


def median(values: list[float]) -> float:
    return statistics.median(values)


def uptime() -> str:
    with open("/proc/loadavg") as fh:
        return "load average " + ", ".join(fh.read().split()[:3])
