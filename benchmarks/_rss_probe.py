"""What the memory probes share: drain one extraction in this process and report its peak RSS growth.

Each probe runs in a fresh process so the peak (``VmHWM``) belongs to that extraction alone; the baseline is
taken once the config, the extractor and the Arrow modules it loads are imported.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any


def kib(field: str) -> int:
    """A ``/proc/self/status`` field in KiB (``VmRSS`` now, ``VmHWM`` the peak)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(field)


def drain(source: dict[str, Any], preload: tuple[str, ...] = ("pyarrow",)) -> dict[str, Any]:
    """Extract ``source`` (a ``source:`` section) for one day: rows and batches yielded, seconds, RSS growth
    and the extractor's own ``stats``."""
    from medallion_assets.config.models import PlatformConfig, SourceEntry
    from medallion_assets.extractors import ExtractContext, create_extractor

    entry = SourceEntry.model_validate({"source": {"system": "bench", "table": "rows", **source}})
    platform = PlatformConfig.model_validate(
        {"bronze": {"local_path": "/tmp/x"}, "silver": {"local_path": "/tmp/y"}}
    )
    extractor = create_extractor(entry, platform)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    ctx = ExtractContext(run_date=date(2025, 1, 1), window_start=start, window_end=start + timedelta(days=1))
    for module in preload:  # loaded before the baseline, as the extraction loads them anyway
        importlib.import_module(module)
    from medallion_resources.arrow_memory import use_jemalloc_pool

    use_jemalloc_pool()  # the pool every medallion process runs on (its Definitions choose it)
    baseline = kib("VmRSS")
    began = time.perf_counter()
    rows = batches = 0
    for batch in extractor.extract(ctx):
        rows += batch.num_rows
        batches += 1
    return {
        "rows": rows,
        "batches": batches,
        "seconds": time.perf_counter() - began,
        "rss_growth_mb": (kib("VmHWM") - baseline) / 1024,
        "stats": dict(extractor.stats),
    }


def report(result: dict[str, Any]) -> None:
    """Print ``result`` as JSON and leave at once, as the ``medallion`` command does (``os._exit``).

    A probe ends a moment after its last batch. Arrow's reader threads may still be dropping buffers that are
    Python objects then, and a thread that takes the GIL while the interpreter shuts down aborts the process
    ("terminate called without an active exception", apache/arrow#34314: it failed one CI run). Leaving
    without interpreter shutdown, as the command users run does, measures the extraction and nothing else.
    """
    print(json.dumps(result), flush=True)
    sys.stderr.flush()
    os._exit(0)
