"""Model × load pattern × silver options: which combinations are accepted, and what the errors say."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from medallion_assets.config.models import SourceEntry


def entry(pattern: str, **silver: Any) -> dict[str, Any]:
    run = {"load_pattern": pattern}
    if "max_delete_fraction" in silver:  # a source.run key, given here for the table's brevity
        run["max_delete_fraction"] = silver.pop("max_delete_fraction")
    return {
        "source": {
            "system": "s",
            "table": "t",
            "type": "file",
            "file": {"path": "x.csv"},
            "run": run,
        },
        "silver": {"primary_keys": ["id"], **silver},
    }


ACCEPTED = [
    ("current_history", {"order_column": "ts"}),
    ("full", {"model": "scd_type_2", "order_column": "ts", "delete_mode": "hard_delete"}),
    ("full", {"model": "scd_type_1", "delete_mode": "tombstone", "max_delete_fraction": 1.0}),
    ("full", {"model": "scd_type_2", "order_column": "ts", "scd2": {"track_columns": ["v"]}}),
    ("cdc", {"order_column": "lsn", "cdc": {"keep_history": True}, "scd2": {"track_columns": ["v"]}}),
    ("cdc", {"order_column": "lsn", "cdc": {}, "delete_mode": "tombstone"}),
    ("incremental", {"model": "event_log", "dedupe_lookback_days": 3}),
]

REJECTED = [
    (
        "cdc",
        {"model": "scd_type_2", "order_column": "ts"},
        "'scd_type_2' does not fit source.run.load_pattern 'cdc'",
    ),
    ("full", {"model": "cdc", "order_column": "ts", "cdc": {}}, "'cdc' does not fit"),
    ("current_history", {}, "'scd_type_2' needs silver.order_column"),
    ("cdc", {"order_column": "lsn"}, "'cdc' needs a silver.cdc section"),
    (
        "incremental",
        {"model": "scd_type_2", "order_column": "ts", "delete_mode": "tombstone"},
        "cannot tell a deleted key",
    ),
    (
        "incremental",
        {"model": "event_log", "delete_mode": "hard_delete"},
        "silver.delete_mode 'hard_delete' has no meaning for model 'event_log'; it only applies to models "
        "'cdc', 'scd_type_1', 'scd_type_2'",
    ),
    ("incremental", {"dedupe_lookback_days": 2}, "only applies to model 'event_log'"),
    (
        "incremental",
        {"order_column": "ts", "cdc": {}},
        "silver.cdc has no meaning for model 'scd_type_1'; it only applies to model 'cdc'",
    ),
    (
        "incremental",
        {"scd2": {"track_columns": ["v"]}},
        "silver.scd2 has no meaning for model 'scd_type_1'; it only applies to models 'cdc', 'scd_type_2'",
    ),
    ("cdc", {"order_column": "lsn", "cdc": {}, "scd2": {}}, "silver.scd2 needs cdc.keep_history: true"),
    (
        "incremental",
        {"max_delete_fraction": 0.9},
        "source.run.max_delete_fraction only applies to load_pattern 'full' with silver.delete_mode",
    ),
    ("full", {"max_delete_fraction": 0.9}, "max_delete_fraction only applies"),  # delete_mode ignore
    (
        "current_history",
        {"order_column": "ts", "scd2": {"track_columns": ["v", "ts", "_load_date"]}},
        "track_columns lists ts, _load_date: keys, the order column",
    ),
]


@pytest.mark.parametrize(("pattern", "silver"), ACCEPTED)
def test_accepted(pattern: str, silver: dict[str, Any]) -> None:
    SourceEntry.model_validate(entry(pattern, **silver))


@pytest.mark.parametrize(("pattern", "silver", "message"), REJECTED)
def test_rejected_with_a_message(pattern: str, silver: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(")):
        SourceEntry.model_validate(entry(pattern, **silver))
