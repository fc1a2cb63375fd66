"""Drain a file extraction and print its row count and peak RSS growth as JSON.

    python benchmarks/file_rss_probe.py PATH [FILE_OPTIONS_JSON]

Run in a fresh process so the peak (``VmHWM``) belongs to this extraction alone; the file is made by the
caller. Used by ``tests/extractors/test_file_memory.py`` and ``benchmarks/bronze_file.py``.
"""

from __future__ import annotations

import json
import sys

from _rss_probe import drain, report


def main() -> None:
    path = sys.argv[1]
    options = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    result = drain({"type": "file", "file": {"path": path, **options}}, ("pyarrow.csv", "pyarrow.json"))
    report({k: result[k] for k in ("rows", "batches", "seconds", "rss_growth_mb")})


if __name__ == "__main__":
    main()
