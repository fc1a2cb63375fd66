"""Streams of record batches read in background threads: one mechanism for every reader that overlaps I/O.

``parallel(readers)`` runs each reader (a function returning an iterator of batches) in its own thread and
hands the batches on as they arrive, through a bounded queue (memory: ``depth`` batches per reader). With one
reader it is a prefetch: the source is read while the consumer writes the previous batches (Arrow, ADBC and
polars release the GIL, so the two overlap on two cores). Used by the SQL extraction (one reader, or one per
key range) and the file extractor.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from typing import Any, TypeVar

__all__ = ["parallel"]

T = TypeVar("T")

_DONE = object()


def parallel(readers: Sequence[Callable[[], Iterator[T]]], depth: int = 2) -> Generator[T, None, None]:
    """The items of every reader, each read in its own thread, handed on as they arrive.

    At most ``depth`` batches per reader wait in the queue (memory: a few batches per range). An error in
    any reader stops the others and is raised here; closing this iterator early stops them too.
    """
    handoff: queue.Queue[Any] = queue.Queue(maxsize=depth * len(readers))
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run(reader: Callable[[], Iterator[T]]) -> None:
        try:
            for batch in reader():
                if not put(batch):
                    return
            put(_DONE)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            put(exc)

    threads = [
        threading.Thread(target=run, args=(r,), name=f"medallion-range-{i}", daemon=True)
        for i, r in enumerate(readers)
    ]
    for thread in threads:
        thread.start()
    running = len(threads)
    try:
        while running:
            item = handoff.get()
            if item is _DONE:
                running -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
