"""The Silver asset checks fail on deliberately broken Silver data, and pass on good data."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from medallion_assets.assets.silver_checks import evaluate_checks, manifest_outcome
from medallion_assets.config.models import MedallionConfig
from medallion_assets.specs import build_specs


def spec_for(model: str, pattern: str, **silver: Any):
    config = MedallionConfig.model_validate(
        {
            "platform": {
                "bronze": {"storage_backend": "local", "local_path": "/tmp/b"},
                "silver": {"storage_backend": "local", "local_path": "/tmp/s"},
                "defaults": {"partitions": {"start_date": "2025-01-01"}},
            },
            "sources": [
                {
                    "source": {
                        "system": "s",
                        "table": "t",
                        "type": "file",
                        "file": {"path": "x.csv"},
                        "run": {"load_pattern": pattern},
                    },
                    "silver": {"model": model, "primary_keys": ["id"], "order_column": "ts", **silver},
                }
            ],
        }
    )
    return build_specs(config)[0]


def history(rows: list[tuple[int, int, int | None]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows, schema={"id": pl.Int64, "effective_from": pl.Int64, "effective_to": pl.Int64}, orient="row"
    ).with_columns(pl.lit("v").alias("v"), pl.col("effective_from").alias("ts"))


GOOD_HISTORY = [(1, 1, 3), (1, 3, None), (2, 1, None)]


def run(model: str, artifacts: dict[str, pl.DataFrame], stats: dict[str, int], **kw: Any) -> dict[str, bool]:
    pattern = {"scd_type_2": "current_history", "scd_type_1": "incremental"}[model]
    outcomes = evaluate_checks(
        spec_for(model, pattern),
        artifacts,
        stats,
        rows_in=kw.get("rows_in", 3),
        quarantined=kw.get("quarantined", 0),
        main_artifact=next(iter(artifacts)),
        previous_schema=kw.get("previous_schema"),
    )
    return {o.name: o.passed for o in outcomes}


def scd2(rows: list[tuple[int, int, int | None]]) -> dict[str, pl.DataFrame]:
    frame = history(rows)
    return {"history": frame, "current": frame.filter(pl.col("effective_to").is_null())}


def test_good_scd2_partition_passes_every_check() -> None:
    got = run("scd_type_2", scd2(GOOD_HISTORY), {"versions_added": 3, "duplicates_dropped": 0})
    assert got == dict.fromkeys(
        [
            "primary_key_unique",
            "no_null_keys",
            "scd2_windows",
            "reconciliation",
            "quarantine_threshold",
            "schema_drift",
        ],
        True,
    )


@pytest.mark.parametrize(
    ("rows", "failing"),
    [
        ([(1, 1, 3), (1, 2, None), (2, 1, None)], "scd2_windows"),  # closed at 3, next starts at 2: overlap
        ([(1, 1, None), (1, 3, None)], "scd2_windows"),  # two open versions (and a duplicate current key)
        ([(1, 5, 3), (1, 3, None)], "scd2_windows"),  # inverted window
        ([(1, 1, 3), (None, 3, None)], "no_null_keys"),
    ],
)
def test_broken_history_fails(rows: list[tuple[Any, ...]], failing: str) -> None:
    got = run("scd_type_2", scd2(rows), {"versions_added": 3})
    assert got[failing] is False


def test_duplicate_current_keys_fail() -> None:
    current = pl.DataFrame({"id": [1, 1, 2], "ts": [1, 2, 3]})
    got = run("scd_type_1", {"current": current}, {"inserted": 3})
    assert got["primary_key_unique"] is False


def test_reconciliation_counts_every_row() -> None:
    current = pl.DataFrame({"id": [1, 2], "ts": [1, 2]})
    assert run("scd_type_1", {"current": current}, {"inserted": 2, "duplicates_dropped": 1})["reconciliation"]
    # one row in went nowhere: neither written, nor dropped as a duplicate, nor quarantined
    assert not run("scd_type_1", {"current": current}, {"inserted": 2})["reconciliation"]
    assert run("scd_type_1", {"current": current}, {"inserted": 2}, quarantined=1)["reconciliation"]


def test_quarantine_over_the_threshold_fails() -> None:
    current = pl.DataFrame({"id": [1], "ts": [1]})
    assert not run("scd_type_1", {"current": current}, {"inserted": 1}, rows_in=3, quarantined=2)[
        "quarantine_threshold"
    ]


def test_schema_drift_warns() -> None:
    current = pl.DataFrame({"id": [1], "ts": [1], "extra": ["x"]})
    same = {"id": pl.Int64, "ts": pl.Int64, "extra": pl.String}
    assert run("scd_type_1", {"current": current}, {"inserted": 1}, rows_in=1, previous_schema=same)[
        "schema_drift"
    ]
    outcomes = evaluate_checks(
        spec_for("scd_type_1", "incremental"),
        {"current": current},
        {"inserted": 1},
        rows_in=1,
        quarantined=0,
        main_artifact="current",
        previous_schema={"id": pl.Int64, "ts": pl.Date},
    )
    drift = next(o for o in outcomes if o.name == "schema_drift")
    assert not drift.passed and not drift.blocking
    assert drift.description == "added ['extra'], removed -, type changed ['ts']"


def test_manifest_outcome() -> None:
    assert manifest_outcome([], 2).passed
    bad = manifest_outcome(["part-0.parquet: sha256 mismatch"], 2)
    assert not bad.passed and bad.blocking and "sha256 mismatch" in bad.description
