"""``ProcessRef``: a process named by host, pid and start time is alive exactly while it runs."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil

from medallion_resources.processes import ProcessRef, host_id


def test_this_process_is_alive_and_its_token_round_trips() -> None:
    me = ProcessRef.current()
    assert me.local and me.alive() is True
    assert ProcessRef.parse(me.token) == ProcessRef(me.host, me.pid, round(me.started * 1000) / 1000)
    assert ProcessRef.parse("not-a-token") is None and ProcessRef.parse("h.12.x") is None


def test_a_killed_process_is_dead_even_before_it_is_reaped() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        ref = ProcessRef(host_id(), child.pid, psutil.Process(child.pid).create_time())
        assert ref.alive() is True
        child.kill()
        deadline = time.monotonic() + 10
        while ref.alive() and time.monotonic() < deadline:  # a zombie until waited for: dead already
            time.sleep(0.05)
        assert ref.alive() is False
        child.wait()
        assert ref.alive() is False
    finally:
        child.kill()
        child.wait()


def test_a_reused_pid_is_not_the_same_process() -> None:
    me = ProcessRef.current()
    assert ProcessRef(me.host, me.pid, me.started - 3600).alive() is False  # same pid, started earlier


def test_a_process_on_another_host_cannot_be_judged() -> None:
    assert ProcessRef("0" * 12, 1, 0.0).alive() is None
