"""``scd_type_1`` names its changed keys (``SilverResult.changed``): replacing those keys whole deletes and
writes exactly what comparing every touched key's rows with the state's (``key_diff``) finds.

Random days over a small key space, every load pattern and delete mode, with duplicates, late rows (older
order values), deletes and revivals; and the cases where the model must not name them (a state row the
model changes without the key changing: a null ``_deleted`` made false, a new column).
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from typing import Any

import polars as pl
import pytest

from medallion_assets.config.models import SilverConfig
from medallion_assets.silver.base import SilverContext
from medallion_assets.silver.delta import derived_diff, key_diff
from medallion_assets.silver.scd1 import ScdType1
from medallion_resources.lake.read import ROW_FILE, ROW_POS

START = date(2025, 6, 1)


def context(n: int, pattern: Any) -> SilverContext:
    load = START + timedelta(days=n)
    end = datetime.combine(load + timedelta(days=1), datetime.min.time())
    return SilverContext(load_date=load, window_end=end, load_pattern=pattern)


def with_row_ids(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_row_index(ROW_POS).with_columns(
        pl.col(ROW_POS).cast(pl.Int64), pl.lit("load_date=x/f.parquet").alias(ROW_FILE)
    )


def same_diff(state: pl.DataFrame, incoming: pl.DataFrame, model: ScdType1, ctx: SilverContext) -> bool:
    """Whether the model named its changed keys; asserts they give key_diff's deletes and rows."""
    result = model.apply({"current": state}, incoming, ctx)
    new = result.artifacts["current"]
    old = with_row_ids(state)
    compared = key_diff(old, new, ["id"])
    named = result.changed.get("current")
    if named is None:
        return False
    replaced = derived_diff(old, new, named, ["id"])
    assert replaced.deletes.sort("pos").equals(compared.deletes.sort("pos"))
    assert replaced.rows.sort("id").equals(compared.rows.select(replaced.rows.columns).sort("id"))
    assert replaced.changed_keys == compared.changed_keys
    return True


@pytest.mark.parametrize("pattern", ["full", "incremental"])
@pytest.mark.parametrize("delete_mode", ["ignore", "hard_delete", "tombstone"])
@pytest.mark.parametrize("seed", range(8))
def test_named_changed_keys_give_the_rows_key_diff_finds(pattern: str, delete_mode: str, seed: int) -> None:
    rng = random.Random(seed)
    config = {"primary_keys": ["id"], "order_column": "ts", "delete_mode": delete_mode}
    model = ScdType1(SilverConfig.model_validate(config))
    state = None
    named = 0
    for n in range(6):
        ids = [rng.randrange(12) for _ in range(rng.randrange(0, 14))]
        rows = {
            "id": ids,
            "v": [rng.choice(["a", "b", None]) for _ in ids],
            "ts": [rng.randrange(4) + n for _ in ids],  # late rows too: order values overlap the days'
        }
        incoming = pl.DataFrame(rows, schema={"id": pl.Int64, "v": pl.String, "ts": pl.Int64})
        incoming = incoming.with_columns(pl.lit(START + timedelta(days=n)).alias("_load_date"))
        ctx = context(n, pattern)
        if state is not None and state.height:
            named += same_diff(state, incoming, model, ctx)
        state = model.apply({"current": state} if state is not None else None, incoming, ctx).artifacts[
            "current"
        ]
    assert named  # the model named them on some day of every scenario


def test_no_claim_when_the_model_rewrites_state_rows() -> None:
    model = ScdType1(SilverConfig.model_validate({"primary_keys": ["id"], "delete_mode": "tombstone"}))
    state = pl.DataFrame(
        {
            "id": [1, 2],
            "v": ["a", "b"],
            "_silver_load_date": [START, START],
            "_deleted": [None, False],
        },
        schema_overrides={"_deleted": pl.Boolean},
    )
    incoming = pl.DataFrame({"id": [1, 2], "v": ["a", "b"]})
    # _deleted null (a file written before tombstones) reads false in the model: key 1 changes.
    assert not same_diff(state, incoming, model, context(1, "full"))
    # A column new in Bronze is null on every state row: all touched keys change.
    wider = incoming.with_columns(pl.lit("x").alias("w"))
    assert not same_diff(
        state.with_columns(pl.lit(False).alias("_deleted")), wider, model, context(1, "full")
    )
    # Otherwise the model names them.
    assert same_diff(state.with_columns(pl.lit(False).alias("_deleted")), incoming, model, context(1, "full"))
