"""Run launchers that tell Dagster's run monitoring when a ``medallion run`` process is gone.

The CLI executes its runs in its own process, outside the run queue; when that process is killed its run
stays STARTED, and since each source allows one run at a time (``deploy/dagster.yaml``) the source's queued
runs wait for ever. Every CLI run carries the tag ``medallion/process`` (host, pid and start time of the
process, :class:`medallion_resources.processes.ProcessRef`). With ``run_monitoring`` enabled, the daemon
asks the run launcher about every STARTED run; these launchers answer FAILED for a CLI run whose process is
gone from this host, and defer to the launcher they extend for every other run::

    run_launcher: {module: medallion_assets.run_launcher, class: LocalRunLauncher}
    run_monitoring: {enabled: true, poll_interval_seconds: 30}

The scale-out flavour for Docker is :mod:`medallion_assets.run_launcher_docker`.
"""

from __future__ import annotations

from typing import Any

from dagster._core.launcher import CheckRunHealthResult, DefaultRunLauncher, WorkerStatus
from dagster._core.storage.dagster_run import DagsterRun

from medallion_resources.processes import ProcessRef

__all__ = ["PROCESS_TAG", "LocalRunLauncher", "ProcessHealth", "dead_reason", "run_process"]

PROCESS_TAG = "medallion/process"


def run_process(run: DagsterRun) -> ProcessRef | None:
    """The process a CLI run executes in, from its tag; None for runs the CLI did not start."""
    token = run.tags.get(PROCESS_TAG)
    return ProcessRef.parse(token) if token else None


def dead_reason(run: DagsterRun) -> str | None:
    """Why ``run`` cannot be running any more (its CLI process is gone from this host), or None."""
    process = run_process(run)
    if process is None or process.alive() is not False:
        return None
    return (
        f"the medallion CLI process that executed this run ({process.describe()}) is gone: it was killed or "
        "crashed before the run finished. Nothing it did not commit is visible: every partition keeps its "
        "last commit. Run the partition again."
    )


class ProcessHealth:
    """Mixin for a run launcher: a CLI run is healthy while its process lives; other runs are judged by the
    launcher it is mixed into (when that launcher can judge them; else they count as running)."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        if run_process(run) is not None:
            reason = dead_reason(run)
            if reason is None:
                return CheckRunHealthResult(WorkerStatus.RUNNING)
            return CheckRunHealthResult(WorkerStatus.FAILED, msg=reason)
        parent: Any = super()
        if parent.supports_check_run_worker_health:
            return parent.check_run_worker_health(run)  # type: ignore[no-any-return]
        return CheckRunHealthResult(WorkerStatus.RUNNING)


class LocalRunLauncher(ProcessHealth, DefaultRunLauncher):
    """Dagster's default launcher (runs as local processes), plus the health of CLI runs (single node)."""
