"""Dagster's local compute logs without the terminal mirror: a run's stdout/stderr go to the run's files only.

Dagster's ``LocalComputeLogManager`` redirects a run's stdout and stderr into files (what the UI's stdout and
stderr views read) and *mirrors* them back to the terminal with a ``tail -F`` process and a Python watcher
process per stream: four processes started per run. ``medallion run`` owns its terminal (its progress display
writes past the capture), so its instance captures into the same files without the mirror: the UI shows the
same logs, and each run starts no process. Set by ``medallion_assets.instance.get_instance`` when the home's
``dagster.yaml`` leaves ``compute_logs`` to Dagster's default.
"""

from __future__ import annotations

import sys
from collections.abc import Generator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from dagster._core.execution.compute_logs import redirect_to_file
from dagster._core.storage.compute_log_manager import CapturedLogContext, ComputeIOType
from dagster._core.storage.local_compute_log_manager import IO_TYPE_EXTENSION, LocalComputeLogManager
from dagster._serdes import ConfigurableClassData
from dagster._utils import ensure_file, touch_file

__all__ = ["FileOnlyComputeLogManager"]


class FileOnlyComputeLogManager(LocalComputeLogManager):
    """``LocalComputeLogManager`` (same files and layout) that does not mirror the capture to the terminal."""

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> FileOnlyComputeLogManager:
        return cls(inst_data=inst_data, **config_value)

    @contextmanager
    def capture_logs(self, log_key: Sequence[str]) -> Generator[CapturedLogContext, None, None]:
        outpath = self.get_captured_local_path(log_key, IO_TYPE_EXTENSION[ComputeIOType.STDOUT])
        errpath = self.get_captured_local_path(log_key, IO_TYPE_EXTENSION[ComputeIOType.STDERR])
        ensure_file(outpath)
        ensure_file(errpath)
        with redirect_to_file(sys.stdout, outpath), redirect_to_file(sys.stderr, errpath):
            yield CapturedLogContext(log_key)
        touch_file(self.complete_artifact_path(log_key))  # type: ignore[no-untyped-call]  # capture complete
