"""Drain a db extraction of N generated rows and print its row count and peak RSS growth as JSON.

    python benchmarks/db_rss_probe.py URL ENGINE ROWS [FETCH_BATCH_SIZE]

Run in a fresh process so the peak (``VmHWM``) belongs to this extraction alone. The rows are made by the
server (``generate_series``, 6 columns), so nothing but the extraction itself costs memory here. Used by
``tests/extractors/test_db_memory.py`` and ``benchmarks/db.py``.
"""

from __future__ import annotations

import os
import sys

from _rss_probe import drain, report

ROWS_SQL = (
    "SELECT g::bigint AS id, (g % 100000)::numeric(12,2) / 100 AS amount, 'label-' || (g % 1000) AS label, "
    "(g % 2 = 0) AS flag, timestamptz '2025-01-01 00:00:00+00' + g * interval '1 second' AS created_at, "
    "g * 0.5::double precision AS score FROM generate_series(1, {rows}) AS g"
)


def main() -> None:
    url, engine, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
    batch = int(sys.argv[4]) if len(sys.argv) > 4 else 50_000
    os.environ["MEDALLION_PROBE_DB_URL"] = url
    db = {
        "url_env": "MEDALLION_PROBE_DB_URL",
        "query": ROWS_SQL.format(rows=rows),
        "engine": engine,
        "fetch_batch_size": batch,
    }
    result = drain({"type": "db", "db": db})
    stats = result.pop("stats")
    result.update(engine=stats.get("engine"), batches=stats.get("batches"))  # batches as the engine fetched
    report(result)


if __name__ == "__main__":
    main()
