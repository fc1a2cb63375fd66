"""Progress of the lake writes in this process, for whoever listens (the ``medallion run`` display).

The partition writer reports when it starts a partition, every batch it takes (rows and in-memory bytes)
and the commit. Nothing listens inside a Dagster run launched by the daemon or the UI; the CLI, which runs
its Dagster runs in its own process, listens while they run. A listener is called on the writing thread and
must be quick; an exception it raises is logged and dropped, never fails a write.

    with listening(my_listener):
        ...  # every PartitionWriter in this process reports to my_listener
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator, Mapping
from typing import Protocol

__all__ = ["ProgressListener", "committed", "listening", "rows_written", "started"]

log = logging.getLogger("medallion.progress")
_listeners: list[ProgressListener] = []
_lock = threading.Lock()


class ProgressListener(Protocol):
    """What a partition writer reports; ``dataset`` is the dataset path (``system=x/table=y``)."""

    def partition_started(self, layer: str, dataset: str, run_date: str) -> None: ...

    def rows_written(self, layer: str, dataset: str, run_date: str, rows: int, nbytes: int) -> None: ...

    def partition_committed(
        self, layer: str, dataset: str, run_date: str, rows: Mapping[str, int], files: int, nbytes: int
    ) -> None: ...


@contextlib.contextmanager
def listening(listener: ProgressListener) -> Iterator[None]:
    with _lock:
        _listeners.append(listener)
    try:
        yield
    finally:
        with _lock:
            _listeners.remove(listener)


def started(layer: str, dataset: str, run_date: str) -> None:
    for listener in tuple(_listeners):
        with _dropping_errors():
            listener.partition_started(layer, dataset, run_date)


def rows_written(layer: str, dataset: str, run_date: str, rows: int, nbytes: int) -> None:
    """``rows`` and ``nbytes`` of one batch, as taken by the writer (before compression)."""
    for listener in tuple(_listeners):
        with _dropping_errors():
            listener.rows_written(layer, dataset, run_date, rows, nbytes)


def committed(
    layer: str, dataset: str, run_date: str, rows: Mapping[str, int], files: int, nbytes: int
) -> None:
    """A committed partition: ``rows`` per artifact (``errors``: quarantined), ``nbytes`` of its files."""
    for listener in tuple(_listeners):
        with _dropping_errors():
            listener.partition_committed(layer, dataset, run_date, rows, files, nbytes)


@contextlib.contextmanager
def _dropping_errors() -> Iterator[None]:
    try:
        yield
    except Exception:  # noqa: BLE001 - a display must never fail a write
        log.exception("a progress listener failed")
