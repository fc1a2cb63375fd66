"""``ordered_map``: results in the items' order, work side by side, errors at their turn, no thread left."""

from __future__ import annotations

import threading
import time

import pytest

from medallion_resources.threads import ordered_map


def test_results_keep_the_items_order_while_work_overlaps() -> None:
    active, peak, lock = [0], [0], threading.Lock()

    def slow(n: int) -> int:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.02 * (5 - n % 5))  # later items finish first
        with lock:
            active[0] -= 1
        return n * n

    assert list(ordered_map(slow, range(12), workers=3)) == [n * n for n in range(12)]
    assert peak[0] == 3


def test_items_are_drawn_in_the_consumers_thread_just_before_submission() -> None:
    drawn: list[str] = []
    consumer = threading.current_thread().name

    def items():
        for n in range(6):
            drawn.append(threading.current_thread().name)
            yield n

    results = ordered_map(lambda n: n, items(), workers=2)
    assert next(results) == 0
    assert len(drawn) == 3  # two workers: at most three in flight before the first result is handed on
    assert list(results) == [1, 2, 3, 4, 5]
    assert set(drawn) == {consumer}


def test_an_error_is_raised_at_its_items_turn_and_stops_the_rest() -> None:
    done: list[int] = []

    def work(n: int) -> int:
        if n == 3:
            raise ValueError("item 3")
        done.append(n)
        return n

    before = {t.ident for t in threading.enumerate()}
    results = ordered_map(work, range(100), workers=2)
    assert [next(results) for _ in range(3)] == [0, 1, 2]
    with pytest.raises(ValueError, match="item 3"):
        next(results)
    assert len(done) < 10
    assert not [t for t in threading.enumerate() if t.ident not in before and t.is_alive()]


def test_closing_early_leaves_no_thread_behind() -> None:
    before = {t.ident for t in threading.enumerate()}
    results = ordered_map(lambda n: time.sleep(0.01) or n, range(1000), workers=2)
    assert next(results) == 0
    results.close()
    assert not [t for t in threading.enumerate() if t.ident not in before and t.is_alive()]
