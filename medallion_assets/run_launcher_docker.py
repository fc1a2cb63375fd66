"""The Docker run launcher of the scale-out deployment, plus the health of CLI runs (needs dagster-docker).

``dagster_docker.DockerRunLauncher`` reports a run without a container as NOT_FOUND, so with run monitoring on
it would fail every live ``medallion run`` on the shared instance; this one judges CLI runs by their process
(:mod:`medallion_assets.run_launcher`) and container runs as Docker does::

    run_launcher: {module: medallion_assets.run_launcher_docker, class: DockerRunLauncher, config: {...}}
"""

from __future__ import annotations

from dagster_docker import DockerRunLauncher as _DockerRunLauncher

from medallion_assets.run_launcher import ProcessHealth

__all__ = ["DockerRunLauncher"]


class DockerRunLauncher(ProcessHealth, _DockerRunLauncher):
    """``dagster_docker.DockerRunLauncher`` (same config), plus the health of CLI runs."""
