"""``cdc``: apply insert / update / delete operations in order; the current state per key (+ history).

Selected by::

    source:
      run: {load_pattern: cdc}
    silver:
      model: cdc                     # the default for load_pattern: cdc
      primary_keys: [order_id]
      order_column: commit_lsn       # required: the order of the operations
      delete_mode: tombstone         # ignore | hard_delete | tombstone
      cdc:
        operation_column: op
        insert_code: I
        update_code: U
        delete_code: D
        keep_history: true           # also write an SCD2 history built from the op stream

The ops of a key form a version chain (:mod:`medallion_assets.silver.chain`): inserts and updates are
versions, deletes are deletes at their own order value; two ops with the same order value are a
correction (the last one wins, delete or not). Ops that changed nothing (an update equal to the live
version, a delete with nothing live) are kept in the ``absorbed`` state artifact, so a late op landing
before them is placed exactly as if every op had arrived in order.
``current`` is the state after each key's highest-ordered op, so a late op (lower order value than one
already applied) never overrides it: it is inserted into the history where it belongs. An insert and an
update are treated alike (an update of an unknown key creates it; an insert of a known key updates it). A
delete of a key with no version before it closes nothing (counted as ``duplicates_dropped``, but
remembered); with ``delete_mode: ignore`` every delete op is dropped.
Unknown op codes (and null ones) and null order values are quarantined with a reason. The op column is
not written to Silver: the chain and ``_deleted`` say what it said.

With ``keep_history`` the artifacts are ``history`` and ``current`` exactly as for ``scd_type_2`` (tracked
columns: every non-key, non-order, non-``_`` column, or ``scd2.track_columns``). Without it they are
``current`` (data columns, ``_silver_load_date``, ``_deleted`` with ``tombstone``) and ``chain_tail``, the
state: each key's whole chain in history form, not for readers. The whole chain is needed because a tie (an
op with the same order value as one applied) replaces that op, so a delete tying with a key's last version
brings the version before it back as the tombstone's values, or as the live version when the tie is a
version again. There every non-``_`` column is tracked, order column included: an op collapses into the
previous one only when it is an exact re-delivery.

Example, ``primary_keys: [id]``, ``order_column: lsn``, ``delete_mode: tombstone``::

    Bronze D-1           Bronze D              current after D
    id  v  lsn  op       id  v  lsn  op        id  v  lsn  _deleted
    1   A  1    I        1   -  5    D         1   B  5    true      (the delete keeps B's values)
    1   B  3    U        2   Z  2    U         2   Y  4    false     (the late U at 2 does not win)
    2   Y  4    I        3   Q  7    X         (id 3 quarantined: unknown operation code 'X')
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from medallion_assets.config.models import SilverConfig
from medallion_assets.errors import SilverInputError
from medallion_assets.silver.base import SilverContext, SilverModel, SilverResult
from medallion_assets.silver.chain import (
    ABSORBED,
    BRONZE,
    CHAIN_COLUMNS,
    CLASS,
    EFFECTIVE_TO,
    IS_DELETE,
    ORDER,
    absorbed_output,
    rebuild_chains,
)
from medallion_assets.silver.keys import POSITION, SOURCE, require_columns
from medallion_assets.silver.prepare import ERROR_REASON
from medallion_assets.silver.scd2 import (
    chain_output,
    reject_null_order,
    state_artifact,
    stats_from_chains,
    touched_prior,
    tracked_columns,
    untouched_rows,
)

__all__ = ["TAIL", "Cdc"]

# The state of cdc without history: the chain of each key from its last version on.
TAIL = "chain_tail"


class Cdc(SilverModel):
    """Ordered I/U/D operations per key; current state, optional history, late ops never win."""

    name = "cdc"
    artifacts = ("current",)
    stateful = True
    load_patterns = frozenset({"cdc"})
    requires = frozenset({"primary_keys", "order_column", "cdc"})
    options = frozenset({"delete_mode", "cdc", "scd2"})
    reconciled = ("versions_added", "deletes_applied", "duplicates_dropped")
    keyed_state = True

    def __init__(self, config: SilverConfig) -> None:
        super().__init__(config)
        keep = config.cdc is not None and config.cdc.keep_history
        chosen = ("history", "current", ABSORBED) if keep else ("current", TAIL, ABSORBED)
        self.artifacts = chosen  # type: ignore[misc,assignment]
        self.derived = {"current": chosen[0] if keep else TAIL}  # type: ignore[misc]

    def apply(
        self, state: Mapping[str, pl.DataFrame] | None, incoming: pl.DataFrame, ctx: SilverContext
    ) -> SilverResult:
        keys, order, cdc = self.config.primary_keys, self.config.order_column, self.config.cdc
        if not keys or not order or cdc is None:
            raise SilverInputError(
                "silver.model 'cdc' needs silver.primary_keys, order_column and a cdc section"
            )
        op = cdc.operation_column
        require_columns(incoming, [*keys, order], what="silver.primary_keys/order_column")
        require_columns(incoming, [op], what="silver.cdc.operation_column")
        incoming, null_order = reject_null_order(incoming, order)
        codes = [cdc.insert_code, cdc.update_code, cdc.delete_code]
        known = pl.col(op).is_in(codes).fill_null(False)
        unknown = incoming.filter(~known).with_columns(
            pl.format(
                "unknown operation code '{}' in column {}; known codes: {}",
                pl.col(op).cast(pl.String).fill_null("null"),
                pl.lit(op),
                pl.lit(", ".join(codes)),
            ).alias(ERROR_REASON)
        )
        errors = [e for e in (null_order, unknown) if e is not None and e.height]
        ops = incoming.with_row_index(POSITION).filter(known)
        ignored = 0
        if self.config.delete_mode == "ignore":
            ignored = ops.filter(pl.col(op) == cdc.delete_code).height
            ops = ops.filter(pl.col(op) != cdc.delete_code)
        events = ops.with_columns(
            pl.col(order).alias(ORDER),
            (pl.col(op) == cdc.delete_code).alias(IS_DELETE),
            pl.lit(1, pl.Int8).alias(SOURCE),
        ).drop(op)
        incoming = incoming.drop(op)

        tombstone = self.config.delete_mode == "tombstone"
        hard = self.config.delete_mode == "hard_delete"
        keep = cdc.keep_history
        chain_artifact = "history" if keep else TAIL
        previous = (state or {}).get(chain_artifact)
        touched = events.select(keys).unique() if state else events.select(keys).clear()
        prior = touched_prior(state, chain_artifact, keys, order, touched, full=False, incoming=incoming)
        chains = rebuild_chains(
            prior,
            events.with_columns(pl.lit(BRONZE, pl.Int8).alias(CLASS)),
            keys=keys,
            tracked=tracked_columns(self.config, incoming, previous, configured=keep),
            order_column=order,
            tombstone=tombstone,
            load_date=ctx.load_date,
        )
        result = stats_from_chains(prior, chains, keys)
        result.duplicates_dropped += ignored
        result.errors = pl.concat(errors, how="diagonal_relaxed") if errors else None
        untouched = untouched_rows(previous, touched, keys)
        out = chain_output(untouched, chains.rows, keys, tombstone=tombstone, hard=hard)
        current = out.filter(pl.col(EFFECTIVE_TO).is_null())
        if keep:
            result.artifacts = {"history": out, "current": current}
        else:
            # The whole chain stays as state (not published): a tie or a late op can replace a key's last
            # versions and bring an earlier one back (as the live version, or as a tombstone's values).
            result.artifacts = {"current": current.drop(CHAIN_COLUMNS), TAIL: out}
        untouched_absorbed = untouched_rows(state_artifact(state, ABSORBED), touched, keys)
        result.artifacts[ABSORBED] = absorbed_output(untouched_absorbed, chains.absorbed, keys)
        return result
