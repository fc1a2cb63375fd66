"""Is the process that started something still running? A process named by host, pid and start time.

A killed ``medallion run`` leaves a Dagster run marked STARTED and temp files in ``.medallion-staging``;
whoever finds them later must tell a dead owner from a live one. A pid alone is not enough (pids are
reused), so a process is named by its host, its pid and its start time (``ProcessRef``); on its own host,
``alive`` is exact: the pid must exist *and* have started at that time. On another host nothing can be
told (``None``): callers leave such things alone.
"""

from __future__ import annotations

import hashlib
import os
import socket
from dataclasses import dataclass
from functools import cache

import psutil

__all__ = ["ProcessRef", "host_id"]

# Two readings of one process's start time differ by clock-tick rounding (10 ms on Linux).
_START_SLACK_SECONDS = 1.0


@cache
def host_id() -> str:
    """A short, file-name-safe id of this host (the hostname's SHA-256, 12 hex digits)."""
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:12]


@dataclass(frozen=True)
class ProcessRef:
    """One process: the host it runs on (``host_id``), its pid and its start time (epoch seconds)."""

    host: str
    pid: int
    started: float

    @classmethod
    def current(cls) -> ProcessRef:
        return cls(host_id(), os.getpid(), float(psutil.Process().create_time()))

    @property
    def token(self) -> str:
        """``<host>.<pid>.<start in ms>``: what file names and run tags carry."""
        return f"{self.host}.{self.pid}.{round(self.started * 1000)}"

    @classmethod
    def parse(cls, token: str) -> ProcessRef | None:
        """The inverse of ``token``; None for anything else."""
        host, _, rest = token.partition(".")
        pid, _, started = rest.partition(".")
        if not (host and pid.isdigit() and started.isdigit()):
            return None
        return cls(host, int(pid), int(started) / 1000)

    @property
    def local(self) -> bool:
        return self.host == host_id()

    def alive(self) -> bool | None:
        """True while the process runs; False once it is gone (or its pid belongs to a newer process);
        None when it runs on another host."""
        if not self.local:
            return None
        try:
            process = psutil.Process(self.pid)
            if process.status() == psutil.STATUS_ZOMBIE:  # killed, not yet reaped by its parent
                return False
            started = float(process.create_time())
        except psutil.NoSuchProcess:
            return False
        except psutil.Error:  # e.g. access denied: it exists
            return True
        return abs(started - self.started) <= _START_SLACK_SECONDS

    def describe(self) -> str:
        return f"pid {self.pid} on {'this host' if self.local else 'host ' + self.host}"
