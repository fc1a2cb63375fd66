"""What a Silver day changes, by key: the rows of Silver D-1 it replaces and the rows it writes (pure polars).

A model with ``keyed_state`` is applied to the rows of the keys the day touches only (read from Silver D-1
with their row ids, :func:`medallion_resources.lake.touched.read_touched`). Its output for those keys is
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
from medallion_assets.silver.keys import rows_of_keys
from medallion_resources.lake.read import ROW_FILE, ROW_POS

__all__ = [
    "COMPACT_DEAD_RATIO",
    "COMPACT_MAX_FILES",
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
# ... and once its files would pass this many more than its stored rows fill (``ceil(rows / rows per file)``):
# a day that changes few rows still adds a data file and a deletes file, so without this bound a year of small
# days left 700 files in each manifest, and every day read them all (its cost grew with the lake's age).
COMPACT_MAX_FILES = 100

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
    values = [c for c in both.columns if c not in (*keys, _SIDE, ROW_FILE, ROW_POS)]
    tail = _tail(both, keys, values).filter(pl.col(_CUT))
    deletes = tail.filter(pl.col(_SIDE) == 0).select(
        pl.col(ROW_FILE).alias("path"), pl.col(ROW_POS).cast(pl.Int64).alias("pos")
    )
    rows = tail.filter(pl.col(_SIDE) == 1).select(new.columns)
    changed = tail.select(keys).filter(~same_key(keys))  # still sorted by key: each key's first row
    return KeyDiff(deletes, rows, changed.height, changed)


_I, _RS, _RE, _NTH_, _PARTNER, _DIFF, _KS = (
    "__medallion_i",
    "__medallion_run_start",
    "__medallion_run_end",
    "__medallion_nth",
    "__medallion_partner",
    "__medallion_diff",
    "__medallion_key_start",
)


def _tail(both: pl.DataFrame, keys: list[str], values: list[str]) -> pl.DataFrame:
    """``both`` (sorted by key, then D-1's rows of a key before its new rows) with :data:`_CUT`: True for
    the rows from the key's first difference on: the rows to delete (old side) and to write (new side).

    Linear, in a few passes: shifts, fills and gathers on the sorted frame, no joins, no windows. A key's
    old row ``n`` is compared with its new row ``n`` (at ``end of the old run + 1 + n``); the first ``n``
    where they differ, or where one side has no row, is the key's cut. Each intermediate is a column
    computed once, and the values are compared for the old rows that have a partner only.
    """
    side, index = pl.col(_SIDE), pl.col(_I)
    key_start = ~same_key(keys)
    run_start_flag = key_start | (side != side.shift(1)).fill_null(True)
    frame = both.with_columns(
        pl.int_range(pl.len(), dtype=pl.Int64).alias(_I), run_start_flag.alias(_RS), key_start.alias(_KS)
    )
    last = frame.height - 1
    frame = frame.with_columns(
        pl.when(pl.col(_RS)).then(index).otherwise(None).forward_fill().alias(_RS),
        pl.when(pl.col(_RS).shift(-1).fill_null(True)).then(index).otherwise(None).backward_fill().alias(_RE),
        # Does the row after this run belong to the same key's new run?
        ((side.shift(-1) == 1).fill_null(False) & ~pl.col(_KS).shift(-1).fill_null(True)).alias(_PARTNER),
    )
    run_start, run_end = pl.col(_RS), pl.col(_RE)
    frame = frame.with_columns(
        (index - run_start).alias(_NTH_),
        # Old rows: the new run starts after the old run ends; its length is read at its first row.
        pl.when(pl.col(_PARTNER).gather(run_end))
        .then(run_end.gather((run_end + 1).clip(upper_bound=last)) - run_end)
        .otherwise(0)
        .alias(_PARTNER),
    )
    nth = pl.col(_NTH_)
    frame = frame.with_columns(
        pl.when((side == 0) & (nth < pl.col(_PARTNER))).then(run_end + 1 + nth).alias(_PARTNER)
    )
    frame = frame.with_columns(_differs(frame, values).alias(_DIFF))
    # Old rows at or after the first differing old row of their key (a running count since the run start).
    seen = pl.col(_DIFF).cum_sum()
    frame = frame.with_columns(
        (seen - pl.when(index == run_start).then(seen - pl.col(_DIFF)).otherwise(None).forward_fill()).alias(
            _DIFF
        )
    )
    frame = frame.with_columns(((side == 0) & (pl.col(_DIFF) > 0)).alias(_CUT))
    # New rows: past the old run's length, or partnered with an old row in the tail.
    before = (run_start - 1).clip(lower_bound=0)
    has_old = (run_start > 0) & (side.gather(before) == 0) & ~pl.col(_KS).gather(run_start)
    frame = frame.with_columns(
        pl.when(has_old).then(run_start - run_start.gather(before)).otherwise(0).alias(_PARTNER)
    )
    old_len = pl.col(_PARTNER)
    old_partner = (run_start - old_len + nth).clip(lower_bound=0, upper_bound=last)
    new_tail = (side == 1) & ((nth >= old_len) | pl.col(_CUT).gather(old_partner))
    return frame.with_columns((pl.col(_CUT) | new_tail).alias(_CUT)).drop(
        _I, _RS, _RE, _NTH_, _PARTNER, _DIFF, _KS
    )


def _differs(frame: pl.DataFrame, values: list[str]) -> pl.Series:
    """1 for the old rows without a partner (column :data:`_PARTNER`: its row) or whose values differ
    from their partner's, else 0: the values are gathered for the partnered old rows only."""
    partner = frame.get_column(_PARTNER)
    differs = ((frame.get_column(_SIDE) == 0) & partner.is_null()).cast(pl.Int64)
    paired = frame.select(_I, _PARTNER).filter(pl.col(_PARTNER).is_not_null())
    if not paired.height or not values:
        return differs
    rows, partners = paired.get_column(_I), paired.get_column(_PARTNER)
    same = frame.select(
        pl.all_horizontal(pl.col(c).gather(rows).eq_missing(pl.col(c).gather(partners)) for c in values)
    ).to_series()
    changed = rows.filter(~same)
    if changed.len():
        differs = differs.scatter(changed, 1)
    return differs


def derived_diff(
    old: pl.DataFrame | None, new: pl.DataFrame, changed: pl.DataFrame, keys: Sequence[str]
) -> KeyDiff:
    """The diff of an artifact derived by key from another (``current`` from ``history``): the keys
    ``changed`` in the source artifact are the ones replaced (``old`` needs only keys and row ids)."""
    keys = list(keys)
    empty = pl.DataFrame(schema={"path": pl.String, "pos": pl.Int64})
    deletes = (
        rows_of_keys(old, changed, keys).select(
            pl.col(ROW_FILE).alias("path"), pl.col(ROW_POS).cast(pl.Int64).alias("pos")
        )
        if old is not None and old.height
        else empty
    )
    rows = rows_of_keys(new, changed, keys)
    return KeyDiff(deletes, rows, changed.height, changed)


def needs_compaction(
    files_before: int, rows_before: int, dead_before: int, diff: KeyDiff, rows_per_file: int
) -> bool:
    """Fold the artifact into new base files when its dead rows pass :data:`COMPACT_DEAD_RATIO` x live, or
    its files :data:`COMPACT_MAX_FILES` more than its stored rows fill (``rows_before``: data rows stored,
    ``dead_before`` of them deleted).

    Counting against the rows stored, not the live ones, makes the file bound a bound on *small* files: a
    big day that writes full parts adds as many files as a fold of its rows would, so only the dead-row
    ratio folds it."""
    stored = rows_before + diff.rows.height
    dead = dead_before + diff.deletes.height
    if dead > COMPACT_DEAD_RATIO * max(stored - dead, 1):
        return True
    per_file = max(rows_per_file, 1)
    files = files_before + -(-diff.rows.height // per_file) + (1 if diff.deletes.height else 0)
    return files > COMPACT_MAX_FILES + -(-stored // per_file)
