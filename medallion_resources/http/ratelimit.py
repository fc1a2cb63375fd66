"""A token bucket per host, shared by every request to that host in the process, concurrent ones included.

``acquire()`` takes a token if one is there *now* (returns 0) or says how long until one will be (the caller
waits that long and asks again). Tokens are only taken at the moment a request leaves, so over any interval
of length ``t`` at most ``burst + rate * t`` requests leave, even when a waiting caller wakes up late (a busy
event loop, a slow consumer). Acquiring holds a lock for a few arithmetic operations only; the wait itself
happens in the caller (``time.sleep`` or ``asyncio.sleep`` through the flow drivers), so one bucket serves
threads and event loops alike.
"""

from __future__ import annotations

import threading
import time

__all__ = ["TokenBucket", "bucket_for_host", "reset_buckets"]


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up; starts full."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = float(rate)
        self.burst = int(burst)
        self._tokens = float(burst)
        self._updated = time.monotonic()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take a token and return 0, or take nothing and return the seconds until one is available."""
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return 0.0
            return (1.0 - self._tokens) / self.rate

    def tighten(self, rate: float, burst: int) -> None:
        """Adopt a stricter limit (the lowest rate and burst any user of the host asked for)."""
        with self._lock:
            self.rate = min(self.rate, float(rate))
            self.burst = min(self.burst, int(burst))
            self._tokens = min(self._tokens, float(self.burst))


_BUCKETS: dict[str, TokenBucket] = {}
_BUCKETS_LOCK = threading.Lock()


def bucket_for_host(host: str, rate: float, burst: int) -> TokenBucket:
    """The process-wide bucket of ``host`` (``host:port``); two sources with different limits on one host
    share the strictest of them, so the host never sees more than any of its configs allows."""
    with _BUCKETS_LOCK:
        bucket = _BUCKETS.get(host)
        if bucket is None:
            bucket = _BUCKETS[host] = TokenBucket(rate, burst)
        elif rate < bucket.rate or burst < bucket.burst:
            bucket.tighten(rate, burst)
        return bucket


def reset_buckets() -> None:
    """Forget every host's bucket (tests that reuse one server with different limits)."""
    with _BUCKETS_LOCK:
        _BUCKETS.clear()
