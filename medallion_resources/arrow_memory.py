"""The process's Arrow memory pool: jemalloc where pyarrow has it, unless the user chose a pool.

pyarrow's own default pool (mimalloc, pyarrow 26) kept the freed buffers of a streaming read: a JSON-lines
extraction of 2.4M rows peaked ~190 MB above its start, ~140 MB on jemalloc, and the Bronze steps of
``benchmarks/bronze_file.py`` took 5-10 % more CPU (docs/performance.md, "Fourteenth session"; Silver and
the DB reads measured alike on both). Arrow has one default pool per process, so the choice is the
process's: it is made when medallion's Definitions are built (a code server, a run worker, ``medallion
run`` all build them), and not made when ``ARROW_DEFAULT_MEMORY_POOL`` names a pool (Arrow reads it itself),
when the process already uses another pool than pyarrow's default, or where pyarrow has no jemalloc.
"""

from __future__ import annotations

import os

import pyarrow as pa

__all__ = ["use_jemalloc_pool"]


def use_jemalloc_pool() -> str:
    """Make jemalloc the default Arrow pool, as the module docstring says when; the pool's backend after."""
    pool = pa.default_memory_pool()
    if (
        not os.environ.get("ARROW_DEFAULT_MEMORY_POOL")
        and pool.backend_name == "mimalloc"
        and "jemalloc" in pa.supported_memory_backends()
    ):
        pool = pa.jemalloc_memory_pool()
        pa.set_memory_pool(pool)
    return str(pool.backend_name)
