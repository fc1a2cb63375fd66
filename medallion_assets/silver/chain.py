"""Version chains: the engine behind ``scd_type_2`` and ``cdc`` (pure polars, no per-row Python).

A key's *observations* are every Bronze row of it (and, for full loads, every detected delete) up to D.
DESIGN §6 defines the history as a walk over them, sorted by (order value, Bronze load date, position):

1. **ties**: of observations with the same order value only the last is kept (a correction, never a
   version of zero length); an exact re-delivery of the winner keeps the first delivery, so re-landing
   the same row rewrites nothing; a delete winning over a delete stored at that order (other ops of D
   between them) gives the stored row again, dated as it was (a delete has no values of its own in
   Silver). A full-load delete and a version revived at it are in different tie classes (:data:`BRONZE`,
   :data:`DETECTED_DELETE`, :data:`REVIVED`), so they never cancel each other;
2. **walk**: a version whose tracked columns equal the live version's is *absorbed*; any other version
   closes the live one (or the tombstone) at its order value and opens a new one; a delete closes the
   live version at its order value; a delete with nothing live is absorbed;
3. a delete that closes a version becomes a tombstone row carrying that version's values (except the
   order column, which holds the delete's order value); ``effective_from`` is the row's order value,
   ``effective_to`` the next row's, null on the last; ``is_current`` = last and not a delete. With
   ``hard_delete`` the delete rows are then removed, which leaves the closed version with
   ``effective_to`` = the delete's order value and ``_closed_by_delete``.

The history rows are the observations that opened a version or closed one; the others are kept in the
``absorbed`` artifact, because a late row can land inside a run of equal versions and split it: the
absorbed observation after it then reopens the earlier values. History plus ``absorbed`` is every
observation that survived the tie rule, so recomputing a key's chain from them equals the walk over all
of its Bronze rows. Only the keys touched on day D have their chain recomputed; every other row is carried
over untouched, so the work is proportional to the changes plus one pass over the state.

Example (tracked ``[v]``, order ``ts``): history ``A@1, B@2`` with ``B@4`` absorbed; on D a late ``C@3``::

    sorted observations    history after D
    A@1  (state)           v=A  from 1  to 2
    B@2  (state)           v=B  from 2  to 3          (re-closed: was open)
    C@3  (incoming)        v=C  from 3  to 4          (inserted into the run of B)
    B@4  (absorbed)        v=B  from 4  to null       (reopens B: no longer absorbed)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from medallion_assets.silver.base import SILVER_LOAD_DATE
from medallion_assets.silver.keys import DELETED, POSITION, SOURCE

__all__ = [
    "ABSORBED",
    "ABSORBED_COLUMNS",
    "ABSORBED_ORDER",
    "BRONZE",
    "CHAIN_COLUMNS",
    "CLASS",
    "CLOSED_BY_DELETE",
    "DETECTED_DELETE",
    "EFFECTIVE_FROM",
    "EFFECTIVE_TO",
    "HIDDEN_CHAIN",
    "IS_CURRENT",
    "IS_DELETE",
    "OLD_CLOSED",
    "OLD_CURRENT",
    "OLD_TO",
    "ORDER",
    "REVIVED",
    "ChainResult",
    "absorbed_as_events",
    "absorbed_output",
    "rebuild_chains",
    "same_key",
]

EFFECTIVE_FROM, EFFECTIVE_TO, IS_CURRENT = "effective_from", "effective_to", "is_current"
# With hard_delete the delete rows are not kept, so a version closed by a delete says so (a later
# recomputation of the chain puts the delete back from it).
CLOSED_BY_DELETE = "_closed_by_delete"
CHAIN_COLUMNS = (EFFECTIVE_FROM, EFFECTIVE_TO, IS_CURRENT)

# The state artifact of absorbed observations, and the columns it adds to the data columns.
ABSORBED = "absorbed"
_A_ORDER, _A_DELETE, _A_CLASS = "_absorbed_order", "_absorbed_delete", "_absorbed_class"
ABSORBED_COLUMNS = (_A_ORDER, _A_DELETE, _A_CLASS)
ABSORBED_ORDER = _A_ORDER  # an absorbed observation's order value
# Every column a chain model (scd_type_2, cdc) adds to its artifacts (``SilverModel.writes``).
CHAIN_WRITES = frozenset({*CHAIN_COLUMNS, CLOSED_BY_DELETE, *ABSORBED_COLUMNS})

# Hidden working columns of an event frame.
ORDER = "__medallion_order"  # the event's order value (effective_from)
IS_DELETE = "__medallion_delete"
CLASS = "__medallion_class"  # tie class, see BRONZE / DETECTED_DELETE / REVIVED
OLD_TO, OLD_CURRENT = "__medallion_old_to", "__medallion_old_current"
OLD_CLOSED = "__medallion_old_closed"  # the row's _closed_by_delete before D (hard_delete only)
_DROP, _SAME_KEY, _GROUP, _ROW = (
    "__medallion_drop",
    "__medallion_same",
    "__medallion_group",
    "__medallion_row",
)
# An incoming delete that won a tie over a delete of the state: the same observation again (a tombstone
# takes the values of the version it closes, not the op's), so it carries the stored row's window and date.
_REDELIVERED = "__medallion_redelivered"
HIDDEN_CHAIN = (
    ORDER,
    IS_DELETE,
    CLASS,
    OLD_TO,
    OLD_CURRENT,
    OLD_CLOSED,
    POSITION,
    SOURCE,
    _DROP,
    _SAME_KEY,
    _REDELIVERED,
)

# Tie classes: observations tie only within a class. A Bronze row (or cdc op); a delete detected because
# a key is missing from a full snapshot; a version of a full-load key that came back, placed at its delete.
BRONZE, DETECTED_DELETE, REVIVED = 0, 1, 2


@dataclass
class ChainResult:
    """Recomputed chains of the touched keys, their absorbed observations, and counters."""

    rows: pl.DataFrame  # chain rows of the touched keys, hidden columns dropped except ORDER/IS_DELETE
    absorbed: pl.DataFrame  # absorbed observations of the touched keys (ORDER/IS_DELETE/CLASS kept)
    versions_added: int  # incoming versions that became a row
    deletes_applied: int  # incoming delete events that closed a version
    dropped: int  # incoming rows that opened nothing: absorbed, redundant deletes, ties lost, re-deliveries


def same_key(keys: Sequence[str]) -> pl.Expr:
    """On a frame sorted by key: the row has the same key as the row before it."""
    return pl.all_horizontal(pl.col(k).eq_missing(pl.col(k).shift(1)) for k in keys).fill_null(False)


def rebuild_chains(
    prior: pl.DataFrame,
    events: pl.DataFrame,
    *,
    keys: Sequence[str],
    tracked: Sequence[str],
    order_column: str,
    tombstone: bool,
    load_date: object,
) -> ChainResult:
    """Recompute the chains of the keys in ``events`` from their ``prior`` observations and the new events.

    Both frames carry the data columns plus :data:`ORDER`, :data:`IS_DELETE`, :data:`CLASS`, ``SOURCE``
    (0 for state rows, 1 for events of day D) and ``POSITION`` (chain order within the state, Bronze order
    within D). ``prior`` rows also carry ``OLD_TO``/``OLD_CURRENT`` (their previous window; null for
    absorbed observations) and ``_silver_load_date``. ``prior`` must already be restricted to the
    touched keys.
    """
    keys = list(keys)
    frame = pl.concat([prior, events], how="diagonal_relaxed").sort(
        [*keys, ORDER, CLASS, SOURCE, POSITION], nulls_last=False, maintain_order=True
    )
    if OLD_CLOSED not in frame.columns:
        frame = frame.with_columns(pl.lit(None, pl.Boolean).alias(OLD_CLOSED))
    skip = {*keys, *HIDDEN_CHAIN, SILVER_LOAD_DATE, DELETED, CLOSED_BY_DELETE, *CHAIN_COLUMNS}
    data = [c for c in frame.columns if c not in skip]
    frame = _drop_ties(
        frame.with_columns(same_key(keys).alias(_SAME_KEY)), keys, [c for c in data if c[0] != "_"]
    )
    # A row of day D, except a re-delivered delete: that one is dated like a row of the state.
    incoming = pl.col(SOURCE) == 1
    new_row = incoming & ~pl.col(_REDELIVERED) if _REDELIVERED in frame.columns else incoming

    # The walk: a row opens or closes a version unless the row before it leaves nothing for it to do.
    is_del, keyed = pl.col(IS_DELETE), pl.col(_SAME_KEY)
    prev_version = keyed & ~is_del.shift(1).fill_null(True)
    same = (
        pl.all_horizontal(pl.col(c).eq_missing(pl.col(c).shift(1)) for c in tracked)
        if tracked
        else pl.lit(True)
    )
    frame = frame.with_columns(
        pl.when(is_del).then(~prev_version).otherwise(prev_version & same).alias(_DROP)
    )
    absorbed = frame.filter(pl.col(_DROP)).with_columns(
        pl.when(new_row)
        .then(pl.lit(load_date, dtype=pl.Date))
        .otherwise(pl.col(SILVER_LOAD_DATE))
        .alias(SILVER_LOAD_DATE)
    )
    frame = frame.filter(~pl.col(_DROP)).with_columns(same_key(keys).alias(_SAME_KEY))

    closes = is_del & keyed
    # A tombstone of the state whose closed version changed is rewritten too.
    values_moved = (
        pl.any_horizontal(pl.col(c).ne_missing(pl.col(c).shift(1)) for c in data if c != order_column)
        if tombstone and data
        else pl.lit(False)
    )
    frame = frame.with_columns((closes & values_moved).alias(_DROP))
    frame = frame.with_columns(
        pl.when(closes).then(pl.col(c).shift(1)).otherwise(pl.col(c)).alias(c)
        for c in data
        if c != order_column
    )
    next_same = keyed.shift(-1).fill_null(False)
    nxt = pl.when(next_same).then(pl.col(ORDER).shift(-1))
    frame = frame.with_columns(
        pl.col(ORDER).alias(EFFECTIVE_FROM),
        nxt.alias(EFFECTIVE_TO),
        (~next_same & ~is_del).alias(IS_CURRENT),
        (~is_del & next_same & is_del.shift(-1).fill_null(False)).alias(CLOSED_BY_DELETE),
    )
    changed = (
        new_row
        | pl.col(_DROP)
        | pl.col(OLD_TO).ne_missing(pl.col(EFFECTIVE_TO))
        | pl.col(OLD_CURRENT).ne_missing(pl.col(IS_CURRENT))
        | (pl.col(OLD_CLOSED).is_not_null() & pl.col(OLD_CLOSED).ne_missing(pl.col(CLOSED_BY_DELETE)))
    )
    frame = frame.with_columns(
        pl.when(changed)
        .then(pl.lit(load_date, dtype=pl.Date))
        .otherwise(pl.col(SILVER_LOAD_DATE))
        .alias(SILVER_LOAD_DATE)
    )
    effective_in = frame.filter(incoming)
    added = effective_in.filter(~is_del).height
    deletes = effective_in.height - added
    rows_in = events.filter(pl.col(CLASS) != DETECTED_DELETE).height
    effective_rows = effective_in.filter(pl.col(CLASS) != DETECTED_DELETE).height
    if not tombstone:
        frame = frame.filter(~is_del)
    return ChainResult(
        rows=frame,
        absorbed=absorbed,
        versions_added=added,
        deletes_applied=deletes,
        dropped=rows_in - effective_rows,
    )


def _drop_ties(frame: pl.DataFrame, keys: Sequence[str], content: Sequence[str]) -> pl.DataFrame:
    """Keep one observation per (key, order value, tie class): the last, or the first of its re-deliveries.

    An exact re-delivery (same non-``_`` values) of the winner right before it is kept instead of it, so
    landing the same row again rewrites nothing.

    ``frame`` is sorted by key, order, class, then arrival. Only rows of groups with more than one row are
    looked at closely, so the usual case (no ties) costs two column passes.
    """
    start = (
        ~pl.col(_SAME_KEY)
        | pl.col(ORDER).ne_missing(pl.col(ORDER).shift(1))
        | pl.col(CLASS).ne_missing(pl.col(CLASS).shift(1))
    )
    frame = frame.with_columns(start.fill_null(True).alias(_GROUP))
    tied = ~pl.col(_GROUP) | ~pl.col(_GROUP).shift(-1).fill_null(True)
    if not frame.select(tied.any()).item():
        return frame.drop(_GROUP)  # no ties: nothing dropped, _SAME_KEY still holds
    frame = frame.with_row_index(_ROW).with_columns(tied.alias(_DROP), pl.col(_GROUP).cum_sum())
    groups = frame.filter(pl.col(_DROP))
    is_del = pl.col(IS_DELETE)
    winner_del = is_del.last().over(_GROUP)
    equal = (is_del == winner_del) & (
        is_del | pl.all_horizontal(pl.col(c).eq_missing(pl.col(c).last().over(_GROUP)) for c in content)
        if content
        else pl.lit(True)
    )
    # The winner's trailing run of exact re-deliveries; its first row is the one kept.
    run = equal & ((~equal).cast(pl.UInt32).cum_sum(reverse=True).over(_GROUP) == 0)
    kept = groups.filter(run & (run.cast(pl.UInt32).cum_sum().over(_GROUP) == 1))
    losers = groups.join(kept.select(_ROW), on=_ROW, how="anti").select(_ROW)
    frame = frame.join(losers, on=_ROW, how="anti", maintain_order="left")
    # A delete of day D winning over a delete the state holds at that order (a version of D between them
    # broke the run of re-deliveries) is that delete again: a delete's own values never reach Silver (a
    # tombstone takes the closed version's). It takes the stored row's values, window and date, so the
    # row is rewritten only if what it closes changed (DESIGN §6: an unchanged row keeps its date).
    stored = is_del & (pl.col(SOURCE) == 0)
    own = {*keys, ORDER, IS_DELETE, CLASS, SOURCE, POSITION, _SAME_KEY, _GROUP, _ROW, _DROP}
    inherited = [c for c in groups.columns if c not in own]
    twins = (
        groups.filter(stored.any().over(_GROUP))
        .with_columns(pl.col(c).filter(stored).first().over(_GROUP) for c in inherited)
        .join(kept.filter(is_del & (pl.col(SOURCE) == 1)).select(_ROW), on=_ROW, how="semi")
        .select(_ROW, *inherited, pl.lit(True).alias(_REDELIVERED))
    )
    if twins.height:
        frame = frame.with_columns(pl.lit(False).alias(_REDELIVERED)).update(
            twins, on=_ROW, how="left", include_nulls=True, maintain_order="left"
        )
    frame = frame.drop(_ROW, _GROUP, _DROP)
    return frame.with_columns(same_key(keys).alias(_SAME_KEY))  # rows were dropped


def absorbed_as_events(absorbed: pl.DataFrame | None) -> pl.DataFrame | None:
    """The ``absorbed`` artifact as prior chain events (no window: they are not history rows)."""
    if absorbed is None or _A_ORDER not in absorbed.columns:
        return None
    return absorbed.rename({_A_ORDER: ORDER, _A_DELETE: IS_DELETE, _A_CLASS: CLASS}).with_columns(
        pl.lit(0, pl.Int8).alias(SOURCE),
        pl.lit(None, pl.UInt32).alias(POSITION),  # no chain position: ties are resolved in the state
        pl.lit(None, pl.Boolean).alias(OLD_CURRENT),
    )


def absorbed_output(
    untouched: pl.DataFrame | None, rebuilt: pl.DataFrame, keys: Sequence[str]
) -> pl.DataFrame:
    """The ``absorbed`` artifact: carried-over rows of untouched keys plus those of the touched keys."""
    rows = rebuilt.rename({ORDER: _A_ORDER, IS_DELETE: _A_DELETE, CLASS: _A_CLASS}).with_columns(
        pl.col(_A_CLASS).cast(pl.Int8)
    )
    rows = rows.drop(
        [c for c in (*HIDDEN_CHAIN, *CHAIN_COLUMNS, DELETED, CLOSED_BY_DELETE) if c in rows.columns]
    )
    frames = [f for f in (untouched, rows) if f is not None and f.width]
    out = pl.concat(frames, how="diagonal_relaxed") if frames else rows
    return out.sort([*keys, _A_ORDER], nulls_last=False, maintain_order=True)
