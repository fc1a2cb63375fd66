"""Streams of record batches read in background threads: one mechanism for every reader that overlaps I/O.

``parallel(readers)`` runs each reader (a function returning an iterator of batches) in its own thread and
hands the batches on as they arrive, through a bounded queue (memory: ``depth`` batches per reader). With one
reader it is a prefetch: the source is read while the consumer writes the previous batches (Arrow, ADBC and
polars release the GIL, so the two overlap on two cores). Used by the SQL extraction (one reader, or one per
key range) and the file extractor.

``ordered_map(fn, items)`` applies ``fn`` to items on a few threads and hands the results on in the items'
order: for work that releases the GIL and must keep its order (the JSON-lines reader parses its chunks so).
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

__all__ = ["ordered_map", "parallel"]

T = TypeVar("T")
R = TypeVar("R")

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


def ordered_map(fn: Callable[[T], R], items: Iterable[T], workers: int = 2) -> Generator[R, None, None]:
    """``fn(item)`` for every item, computed on ``workers`` threads, yielded in the items' order.

    Items are drawn from ``items`` in the consumer's thread, just before their work is submitted (so an item
    may carry a snapshot of the consumer's state); at most ``workers + 1`` are in flight (memory). An error
    in ``fn`` is raised here, at its item's turn; closing this iterator early cancels what has not started
    and waits for what has.
    """
    pending: deque[Future[R]] = deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="medallion-map") as pool:
        try:
            for item in items:
                pending.append(pool.submit(fn, item))
                if len(pending) > workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()
