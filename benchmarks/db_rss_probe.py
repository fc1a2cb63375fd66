"""Drain a db extraction of N generated rows and print its row count and peak RSS growth as JSON.

    python benchmarks/db_rss_probe.py URL ENGINE ROWS [FETCH_BATCH_SIZE]

Run in a fresh process so the peak (``VmHWM``) belongs to this extraction alone. The rows are made by the
server (``generate_series``, 6 columns), so nothing but the extraction itself costs memory here. Used by
``tests/extractors/test_db_memory.py`` and ``benchmarks/db.py``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import UTC, date, datetime, timedelta

ROWS_SQL = (
    "SELECT g::bigint AS id, (g % 100000)::numeric(12,2) / 100 AS amount, 'label-' || (g % 1000) AS label, "
    "(g % 2 = 0) AS flag, timestamptz '2025-01-01 00:00:00+00' + g * interval '1 second' AS created_at, "
    "g * 0.5::double precision AS score FROM generate_series(1, {rows}) AS g"
)


def _kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(field)


def main() -> None:
    url, engine, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
    batch = int(sys.argv[4]) if len(sys.argv) > 4 else 50_000
    from medallion_assets.config.models import PlatformConfig, SourceEntry
    from medallion_assets.extractors import ExtractContext, create_extractor

    os.environ["MEDALLION_PROBE_DB_URL"] = url
    entry = SourceEntry.model_validate(
        {
            "source": {
                "system": "bench",
                "table": "rows",
                "type": "db",
                "db": {
                    "url_env": "MEDALLION_PROBE_DB_URL",
                    "query": ROWS_SQL.format(rows=rows),
                    "engine": engine,
                    "fetch_batch_size": batch,
                },
            }
        }
    )
    platform = PlatformConfig.model_validate(
        {"bronze": {"local_path": "/tmp/x"}, "silver": {"local_path": "/tmp/y"}}
    )
    extractor = create_extractor(entry, platform)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    ctx = ExtractContext(run_date=date(2025, 1, 1), window_start=start, window_end=start + timedelta(days=1))
    import pyarrow  # noqa: F401 - loaded before the baseline, as the extraction loads it anyway

    baseline = _kib("VmRSS")
    began = time.perf_counter()
    count = 0
    for b in extractor.extract(ctx):
        count += b.num_rows
    seconds = time.perf_counter() - began
    print(
        json.dumps(
            {
                "rows": count,
                "seconds": seconds,
                "rss_growth_mb": (_kib("VmHWM") - baseline) / 1024,
                "engine": extractor.stats.get("engine"),
                "batches": extractor.stats.get("batches"),
            }
        )
    )


if __name__ == "__main__":
    main()
