"""Drain a file extraction and print its row count and peak RSS growth as JSON.

    python benchmarks/file_rss_probe.py PATH [FILE_OPTIONS_JSON]

Run in a fresh process so the peak (``VmHWM``) belongs to this extraction alone; the file is made by the
caller. Used by ``tests/extractors/test_file_memory.py`` and ``benchmarks/bronze_file.py``.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, date, datetime, timedelta


def _kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(field)


def main() -> None:
    path = sys.argv[1]
    options = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    from medallion_assets.config.models import PlatformConfig, SourceEntry
    from medallion_assets.extractors import ExtractContext, create_extractor

    entry = SourceEntry.model_validate(
        {"source": {"system": "bench", "table": "rows", "type": "file", "file": {"path": path, **options}}}
    )
    platform = PlatformConfig.model_validate(
        {"bronze": {"local_path": "/tmp/x"}, "silver": {"local_path": "/tmp/y"}}
    )
    extractor = create_extractor(entry, platform)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    ctx = ExtractContext(run_date=date(2025, 1, 1), window_start=start, window_end=start + timedelta(days=1))
    import pyarrow.csv  # noqa: F401 - loaded before the baseline, as the extraction loads them anyway
    import pyarrow.json  # noqa: F401

    baseline = _kib("VmRSS")
    began = time.perf_counter()
    count = batches = 0
    for batch in extractor.extract(ctx):
        count += batch.num_rows
        batches += 1
    seconds = time.perf_counter() - began
    print(
        json.dumps(
            {
                "rows": count,
                "batches": batches,
                "seconds": seconds,
                "rss_growth_mb": (_kib("VmHWM") - baseline) / 1024,
            }
        )
    )


if __name__ == "__main__":
    main()
