"""What a Silver day changes, by key: the rows of Silver D-1 it replaces and the rows it writes (pure polars).

A model with ``keyed_state`` is applied to the rows of the keys the day touches only (read from Silver D-1
with their row ids, :func:`medallion_resources.lake.read.read_touched`). Its output for those keys is
compared with what D-1 held for them, key by key: a key whose rows are the same (same values, same order)
is left alone, carried by reference with the file that holds it; a key whose rows differ is replaced from
its first differing row on: those D-1 rows are deleted (by position) and the new rows from there on are
written. The rows a key keeps come before the ones it writes, and files are listed in the order they were
written, so a key's live rows, read file after file, are in their order: readers restore the artifact's
exact order with one stable sort by key (docs/architecture.md, "Merge-on-read"). Appending a version to a
history therefore writes two rows (the re-closed version and the new one), not the whole chain.

Example (``current`` of ``scd_type_1``, keys ``[id]``; D-1 rows with their row ids)::

    D-1 rows of touched keys             model output for them       deletes            new rows
    id  v  file            pos           id  v                       path         pos   id  v
    1   a  load_date=X/..  0             1   a   (same: kept)        load_date=X  1     2   B
    2   b  load_date=X/..  1             2   B   (changed)                              3   c
                                         3   c   (new key)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from medallion_assets.silver.chain import same_key
from medallion_resources.lake.read import ROW_FILE, ROW_POS

__all__ = [
    "COMPACT_DEAD_RATIO",
    "KeyDiff",
    "derived_diff",
    "key_diff",
    "needs_compaction",
    "without_row_ids",
]

# A keyed artifact is folded into new base files once the rows its files hold that are no longer live
# (deleted) exceed this many times its live rows: readers then never decode more than twice the live rows
# of an artifact, and storage stays proportional to the changes between foldings.
COMPACT_DEAD_RATIO = 1.0

_SIDE, _NTH, _OLD, _NEW = "__medallion_side", "__medallion_nth", "__medallion_old", "__medallion_new"
_CUT = "__medallion_cut"


@dataclass(frozen=True)
class KeyDiff:
    """The rows of D-1 a day deletes (``path``, ``pos``) and the rows it writes, for one artifact."""

    deletes: pl.DataFrame
    rows: pl.DataFrame
    changed_keys: int
    changed: pl.DataFrame | None = None  # the changed keys (for the artifacts derived from this one)


def without_row_ids(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.drop([c for c in (ROW_FILE, ROW_POS) if c in frame.columns])


def key_diff(old: pl.DataFrame | None, new: pl.DataFrame, keys: Sequence[str]) -> KeyDiff:
    """Compare, key by key, D-1's rows (with row ids) with the model's rows for the touched keys.

    ``new`` must hold every row of each key it holds, in the artifact's order; ``old`` the live D-1 rows
    of (at least) those keys, in file order (the written order). A key is changed when its number of
    rows, or any value of its n-th row, differs (a column only one side has counts as null on the other).
    """
    keys = list(keys)
    empty = pl.DataFrame(schema={"path": pl.String, "pos": pl.Int64})
    if old is None or not old.height:
        changed_all = new.select(keys).unique(maintain_order=True)
        return KeyDiff(empty, new, changed_all.height, changed_all)
    both = pl.concat(
        [
            old.with_columns(pl.lit(0, pl.Int8).alias(_SIDE)),
            new.with_columns(pl.lit(1, pl.Int8).alias(_SIDE)),
        ],
        how="diagonal_relaxed",
    ).sort([*keys, _SIDE], maintain_order=True, nulls_last=False)
    # n-th row of its key on its side: a run number by shifts on the sorted frame, no per-group window.
    start = ~same_key(keys) | (pl.col(_SIDE) != pl.col(_SIDE).shift(1)).fill_null(True)
    index = pl.int_range(pl.len(), dtype=pl.UInt32)
    both = both.with_columns((index - pl.when(start).then(index).otherwise(None).forward_fill()).alias(_NTH))
    values = [c for c in both.columns if c not in (*keys, _SIDE, _NTH, ROW_FILE, ROW_POS)]
    left = both.filter(pl.col(_SIDE) == 0).select(*keys, _NTH, *values, pl.lit(True).alias(_OLD))
    right = both.filter(pl.col(_SIDE) == 1).select(*keys, _NTH, *values, pl.lit(True).alias(_NEW))
    joined = left.join(right, on=[*keys, _NTH], how="full", coalesce=True, nulls_equal=True, suffix="__r")
    differs = pl.col(_OLD).is_null() | pl.col(_NEW).is_null()
    if values:
        differs = differs | pl.any_horizontal(pl.col(c).ne_missing(pl.col(f"{c}__r")) for c in values)
    # Each changed key is replaced from its first differing row on: the rows before it stay where they are.
    cuts = joined.filter(differs).group_by(keys).agg(pl.col(_NTH).min().alias(_CUT))
    tail = pl.col(_NTH) >= pl.col(_CUT)
    old_side = both.filter(pl.col(_SIDE) == 0).join(cuts, on=keys, how="inner", nulls_equal=True)
    deletes = old_side.filter(tail).select(
        pl.col(ROW_FILE).alias("path"), pl.col(ROW_POS).cast(pl.Int64).alias("pos")
    )
    new_side = both.filter(pl.col(_SIDE) == 1).join(
        cuts, on=keys, how="inner", nulls_equal=True, maintain_order="left"
    )
    rows = new_side.filter(tail).select(new.columns)
    return KeyDiff(deletes, rows, cuts.height, cuts.select(keys))


def derived_diff(
    old: pl.DataFrame | None, new: pl.DataFrame, changed: pl.DataFrame, keys: Sequence[str]
) -> KeyDiff:
    """The diff of an artifact derived by key from another (``current`` from ``history``): the keys
    ``changed`` in the source artifact are the ones replaced (``old`` needs only keys and row ids)."""
    keys = list(keys)
    empty = pl.DataFrame(schema={"path": pl.String, "pos": pl.Int64})
    deletes = (
        old.join(changed, on=keys, how="semi", nulls_equal=True).select(
            pl.col(ROW_FILE).alias("path"), pl.col(ROW_POS).cast(pl.Int64).alias("pos")
        )
        if old is not None and old.height
        else empty
    )
    rows = new.join(changed, on=keys, how="semi", nulls_equal=True, maintain_order="left")
    return KeyDiff(deletes, rows, changed.height, changed)


def needs_compaction(dead_before: int, live_before: int, diff: KeyDiff) -> bool:
    """Fold the artifact into new base files when its dead rows pass :data:`COMPACT_DEAD_RATIO` x live."""
    dead = dead_before + diff.deletes.height
    live = live_before - diff.deletes.height + diff.rows.height
    return dead > COMPACT_DEAD_RATIO * max(live, 1)
