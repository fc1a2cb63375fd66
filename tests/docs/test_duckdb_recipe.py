"""The DuckDB recipe of docs/storage.md gives exactly the rows of the one read path (deltas resolved).

The recipe's code block is run as written in the docs, on a real lake whose Silver days were written as
deltas (shared files, deletes, a compaction), and compared with ``scan_artifact`` day by day.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from medallion_assets.silver import delta
from medallion_resources.lake.read import scan_artifact
from tests.silver.test_merge_on_read import _lake, _land, _silver_days, incremental
from tests.silver.test_silver_chain_property import START

DOC = Path(__file__).resolve().parents[2] / "docs" / "storage.md"


def _recipe() -> dict[str, Any]:
    text = DOC.read_text()
    section = text[text.index("### Reading Silver from DuckDB") :]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    body = code.group(1).split("\nrows = ")[0]  # the last line reads an example path
    namespace: dict[str, Any] = {}
    exec(compile(body, str(DOC), "exec"), namespace)  # noqa: S102 - the documented recipe itself
    return namespace


def _days() -> list[list[dict[str, Any]]]:
    day1 = [{"k1": k, "k2": "a", "ts": 1, "v": "x", "w": k % 2} for k in range(8)]
    day2 = [{"k1": 1, "k2": "a", "ts": 2, "v": "y", "w": 0}, {"k1": 9, "k2": "a", "ts": 2, "v": "n", "w": 0}]
    day3 = [
        {"k1": 1, "k2": "a", "ts": 0, "v": "late", "w": 0},
        {"k1": 3, "k2": "a", "ts": 3, "v": "z", "w": 1},
    ]
    day4 = [{"k1": k, "k2": "a", "ts": 4, "v": "w", "w": 1} for k in (0, 2, 4, 6)]
    return [day1, day2, day3, day4]


@pytest.mark.parametrize("model", ["scd_type_2", "scd_type_1"])
def test_duckdb_recipe_gives_the_rows_of_the_read_path(tmp_path: Path, model: str) -> None:
    s = incremental(model, _days())
    silver_query = _recipe()["silver_query"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(delta, "COMPACT_DEAD_RATIO", 0.5)  # day 4 folds an artifact into new base files
        lake = _lake(tmp_path, s)
        _land(lake, s)
        _silver_days(lake, s, 1)
    spec = lake.spec("t")
    root = tmp_path / "silver" / spec.silver_path  # the local backend's root is the silver local_path
    kinds = set()
    for number in range(1, len(s.days) + 1):
        day = START + timedelta(days=number - 1)
        part = lake.committed(spec, "silver", day)
        assert part is not None
        kinds |= {(f.kind, f.path.startswith(f"load_date={day}/")) for f in part.manifest.files}
        for artifact in part.manifest.artifacts():
            want = scan_artifact(part, artifact).collect()
            if not want.height:
                continue
            got = duckdb.sql(silver_query(str(root), day.isoformat(), artifact)).pl()
            assert got.columns == want.columns
            assert got.cast(dict(want.schema)).equals(want), (day, artifact)  # type: ignore[arg-type]
    # The lake really had shared files and deletes.
    assert ("deletes", True) in kinds and ("data", False) in kinds
