"""Version chains: the engine behind ``scd_type_2`` and ``cdc`` (pure polars, no per-row Python).

A key's *chain* is its list of events in version order (DESIGN §6): (order value, load date, position),
the last winning a tie. An event is a *version* (a row of values) or a *delete*. Only the keys touched on
day D (an incoming row, or a delete detected on D) have their chain recomputed; every other history row is
carried over untouched, so the work is proportional to the changes plus one pass over the state.

Recomputing a chain, with all events sorted:

1. a delete that follows a delete, or an incoming delete that starts a chain (nothing to delete), is
   dropped;
2. a version whose tracked columns equal the preceding version's collapses into it (the earlier survives,
   so ``effective_from`` is the first order value of the run); a version after a delete always starts a
   new version (resurrection);
3. a remaining delete becomes a tombstone row carrying the values of the version it closes (except the
   order column, which holds the delete's order value);
4. ``effective_from`` is the event's order value, ``effective_to`` the next event's, null on the last;
   ``is_current`` = last and not a delete. With ``hard_delete`` the delete rows are then removed, which
   leaves the closed version with ``effective_to`` = the delete's order value and ``_closed_by_delete``.

Example (tracked ``[v]``, order ``ts``): state chain ``A@1, B@5``; on D a late ``C@3`` and ``B@7``::

    sorted events      history after D
    A@1  (state)       v=A  from 1  to 3             (re-closed: was "to 5")
    C@3  (incoming)    v=C  from 3  to 5             (inserted into the chain)
    B@5  (state)       v=B  from 5  to null  current
    B@7  (incoming)    -- equal to B@5: collapses into it, counted as dropped
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from medallion_assets.silver.base import SILVER_LOAD_DATE
from medallion_assets.silver.keys import DELETED, POSITION, SOURCE

__all__ = [
    "CHAIN_COLUMNS",
    "CLOSED_BY_DELETE",
    "EFFECTIVE_FROM",
    "EFFECTIVE_TO",
    "IS_CURRENT",
    "HIDDEN_CHAIN",
    "IS_DELETE",
    "OLD_CURRENT",
    "OLD_TO",
    "ORDER",
    "ChainResult",
    "rebuild_chains",
]

EFFECTIVE_FROM, EFFECTIVE_TO, IS_CURRENT = "effective_from", "effective_to", "is_current"
# With hard_delete the delete rows are not kept, so a version closed by a delete says so (a later
# recomputation of the chain puts the delete back from it).
CLOSED_BY_DELETE = "_closed_by_delete"
CHAIN_COLUMNS = (EFFECTIVE_FROM, EFFECTIVE_TO, IS_CURRENT)

# Hidden working columns of an event frame.
ORDER = "__medallion_order"  # the event's order value (effective_from)
IS_DELETE = "__medallion_delete"
OLD_TO, OLD_CURRENT = "__medallion_old_to", "__medallion_old_current"
_DROP = "__medallion_drop"
HIDDEN_CHAIN = (ORDER, IS_DELETE, OLD_TO, OLD_CURRENT, POSITION, SOURCE, _DROP)


@dataclass
class ChainResult:
    """Recomputed chains of the touched keys, plus counters about the incoming events."""

    rows: pl.DataFrame  # chain rows of the touched keys, hidden columns dropped except ORDER/IS_DELETE
    versions_added: int  # incoming versions that became a row
    deletes_applied: int  # incoming delete events that closed a version
    dropped: int  # incoming events absorbed (equal to the preceding version) or redundant deletes


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
    """Recompute the chains of the keys in ``events`` from their ``prior`` rows and the new events.

    Both frames carry the data columns plus :data:`ORDER`, :data:`IS_DELETE`, ``SOURCE`` (0 for state
    rows, 1 for events of day D) and ``POSITION`` (chain order within the state, Bronze order within D).
    ``prior`` rows also carry ``OLD_TO``/``OLD_CURRENT`` (their previous window) and
    ``_silver_load_date``. ``prior`` must already be restricted to the touched keys.
    """
    keys = list(keys)
    frame = pl.concat([prior, events], how="diagonal_relaxed").sort(
        [*keys, ORDER, SOURCE, POSITION], nulls_last=False, maintain_order=True
    )
    is_del, incoming = pl.col(IS_DELETE), pl.col(SOURCE) == 1

    # A delete is kept when it follows a version; before any version only the state's own (a tombstone of
    # a chain whose versions are not kept) survives, once.
    leading = (~is_del).cast(pl.UInt32).cum_sum().over(keys) == 0
    prior_lead = leading & ~incoming
    first_prior_lead = prior_lead & (prior_lead.cast(pl.UInt32).cum_sum().over(keys) == 1)
    keep = pl.when(leading).then(first_prior_lead).otherwise(~is_del.shift(1).over(keys).fill_null(False))
    frame = frame.with_columns((is_del & ~keep).alias(_DROP))
    redundant = frame.filter(pl.col(_DROP) & incoming).height
    frame = frame.filter(~pl.col(_DROP))

    prev_del = is_del.shift(1).over(keys)
    same = (
        pl.all_horizontal(pl.col(c).eq_missing(pl.col(c).shift(1).over(keys)) for c in tracked)
        if tracked
        else pl.lit(True)
    )
    frame = frame.with_columns((~is_del & prev_del.is_not_null() & ~prev_del & same).alias(_DROP))
    collapsed = frame.filter(pl.col(_DROP) & incoming).height
    frame = frame.filter(~pl.col(_DROP))

    skip = {*keys, *HIDDEN_CHAIN, order_column, SILVER_LOAD_DATE, DELETED, CLOSED_BY_DELETE, *CHAIN_COLUMNS}
    has_prev = is_del.shift(1).over(keys).is_not_null()
    frame = frame.with_columns(
        pl.when(is_del & has_prev).then(pl.col(c).shift(1).over(keys)).otherwise(pl.col(c)).alias(c)
        for c in frame.columns
        if c not in skip
    )
    nxt = pl.col(ORDER).shift(-1).over(keys)
    frame = frame.with_columns(
        pl.col(ORDER).alias(EFFECTIVE_FROM),
        nxt.alias(EFFECTIVE_TO),
        (nxt.is_null() & ~is_del).alias(IS_CURRENT),
        (~is_del & is_del.shift(-1).over(keys).fill_null(False)).alias(CLOSED_BY_DELETE),
    )
    changed = (
        incoming
        | pl.col(OLD_TO).ne_missing(pl.col(EFFECTIVE_TO))
        | pl.col(OLD_CURRENT).ne_missing(pl.col(IS_CURRENT))
    )
    frame = frame.with_columns(
        pl.when(changed)
        .then(pl.lit(load_date, dtype=pl.Date))
        .otherwise(pl.col(SILVER_LOAD_DATE))
        .alias(SILVER_LOAD_DATE)
    )
    if not tombstone:
        frame = frame.filter(~is_del)
    n_deletes = events.filter(pl.col(IS_DELETE)).height
    return ChainResult(
        rows=frame,
        versions_added=events.height - n_deletes - collapsed,
        deletes_applied=n_deletes - redundant,
        dropped=redundant + collapsed,
    )
