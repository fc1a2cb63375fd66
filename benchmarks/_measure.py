"""What the Bronze benchmarks share: the step time of a run, and the ``medallion`` command as users run it.

``step_seconds`` reads the Bronze step's start and success from the instance's event log (the asset's own
work: extract, write, hash, commit), so it leaves out Dagster's fixed cost of a run. ``command`` runs
``medallion --config-dir DIR run`` in a fresh process, as a user does, and reports its wall time and peak RSS.
``user_env`` is the environment every benchmark runs the ``medallion`` command in: the one users have, with
medallion's bytecode compiled.
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
REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("medallion_assets", "medallion_resources")
_compiled: set[Path] = set()


def compile_sources(env: dict[str, str], trees: list[Path]) -> None:
    """Measure with bytecode cached, as users run: an installed package has its ``.pyc`` files (pip
    compiles them) and an editable checkout writes them at its first run. A shell that sets
    ``PYTHONDONTWRITEBYTECODE`` (these sandboxes do) would make every command compile medallion's ~100
    modules anew (~0.15-0.3 s a command), while Dagster, polars and a peer's packages load their cached
    bytecode."""
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    todo = [tree for tree in trees if tree not in _compiled]
    if todo:
        packages = [str(tree / name) for tree in todo for name in PACKAGES]
        subprocess.run([sys.executable, "-m", "compileall", "-q", *packages], env=env, check=True)
        _compiled.update(todo)


def user_env(**extra: str) -> dict[str, str]:
    """This process's environment plus ``extra``, as a user's shell has it (see ``compile_sources``)."""
    env = {**os.environ, **extra}
    compile_sources(env, [REPO])
    return env


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
    env = user_env(DAGSTER_HOME=str(dagster_home))
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
