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
``current`` (data columns, ``_silver_load_date``, ``_deleted`` with ``tombstone``) and the state, each
key's whole chain in history form, not for readers, in two artifacts: ``chain_last`` (the chain from the
key's last version on: that version and the tombstone closing it, if any) and ``chain_rest`` (the rows
before it). The whole chain is kept because a tie (an op with the same order value as one applied)
replaces that op, so a delete tying with a key's last version brings the version before it back as the
tombstone's values, or as the live version when the tie is a version again. There every non-``_`` column
is tracked, order column included: an op collapses into the previous one only when it is an exact
re-delivery.

A day needs the whole chain only of a key with an op at or before the key's last stored observation (a
late op or a tie); every other key's ops come after all it has, so its chain from its last version on
decides them, exactly. So a day reads ``chain_last`` and ``absorbed`` for the keys it touches and
``chain_rest`` only for its late keys (none on an in-order day); ``chain_rest`` of the other keys only
grows: the versions a day closes are appended to it. A day's cost is then its changes, whatever the
length of the chains (docs/architecture.md, "What a day costs over a fold cycle"). A Silver D-1 written
before this split (one ``chain_tail`` artifact) is read whole once and written in the new layout.

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
from medallion_assets.silver.base import SILVER_LOAD_DATE, SilverContext, SilverModel, SilverResult
from medallion_assets.silver.chain import (
    ABSORBED,
    ABSORBED_ORDER,
    BRONZE,
    CHAIN_COLUMNS,
    CHAIN_WRITES,
    CLASS,
    EFFECTIVE_FROM,
    EFFECTIVE_TO,
    IS_DELETE,
    ORDER,
    absorbed_output,
    rebuild_chains,
    same_key,
)
from medallion_assets.silver.keys import DELETED, POSITION, SOURCE, require_columns, rows_of_keys
from medallion_assets.silver.prepare import ERROR_REASON
from medallion_assets.silver.scd2 import (
    chain_output,
    open_versions,
    reject_null_order,
    state_artifact,
    stats_from_chains,
    touched_prior,
    tracked_columns,
    untouched_rows,
)

__all__ = ["LAST", "LEGACY_TAIL", "REST", "Cdc"]

# The state of cdc without history: each key's chain from its last version on, and the rows before it.
LAST, REST = "chain_last", "chain_rest"
# The state before the split: every key's whole chain in one artifact.
LEGACY_TAIL = "chain_tail"

_UPTO, _IN_LAST = "__medallion_upto", "__medallion_in_last"


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
    read_on_demand = frozenset({REST})
    legacy_artifacts = frozenset({LEGACY_TAIL})
    writes = frozenset({SILVER_LOAD_DATE, DELETED, *CHAIN_WRITES})

    def __init__(self, config: SilverConfig) -> None:
        super().__init__(config)
        keep = config.cdc is not None and config.cdc.keep_history
        chosen = ("history", "current", ABSORBED) if keep else ("current", LAST, REST, ABSORBED)
        self.artifacts = chosen  # type: ignore[misc,assignment]
        self.derived = {"current": "history" if keep else LAST}  # type: ignore[misc]
        self.other_layouts = frozenset({LAST, REST, LEGACY_TAIL} if keep else {"history"})

    def keys_to_read(
        self, artifact: str, state: Mapping[str, pl.DataFrame], incoming: pl.DataFrame
    ) -> pl.DataFrame:
        keys, order = list(self.config.primary_keys), self.config.order_column
        assert artifact == REST and order is not None
        return _late_keys(state_artifact(state, LAST), state_artifact(state, ABSORBED), incoming, keys, order)

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
        # The codes are text in YAML; a source may write them as numbers (1/2/3): compared as text.
        code = pl.col(op).cast(pl.String)
        known = code.is_in(codes).fill_null(False)
        unknown = incoming.filter(~known).with_columns(
            pl.when(code.is_null())
            .then(
                pl.format(
                    "null operation code in column {}; known codes: {}", pl.lit(op), pl.lit(", ".join(codes))
                )
            )
            .otherwise(
                pl.format(
                    "unknown operation code '{}' in column {}; known codes: {}",
                    code,
                    pl.lit(op),
                    pl.lit(", ".join(codes)),
                )
            )
            .alias(ERROR_REASON)
        )
        errors = [e for e in (null_order, unknown) if e is not None and e.height]
        ops = incoming.with_row_index(POSITION).filter(known)
        ignored = 0
        if self.config.delete_mode == "ignore":
            ignored = ops.filter(code == cdc.delete_code).height
            ops = ops.filter(code != cdc.delete_code)
        events = ops.with_columns(
            pl.col(order).alias(ORDER),
            (code == cdc.delete_code).alias(IS_DELETE),
            pl.lit(1, pl.Int8).alias(SOURCE),
        ).drop(op)
        incoming = incoming.drop(op)

        tombstone = self.config.delete_mode == "tombstone"
        hard = self.config.delete_mode == "hard_delete"
        touched = events.select(keys).unique() if state else events.select(keys).clear()
        keep = cdc.keep_history
        if keep:
            history = state_artifact(state, "history")
            prior = touched_prior(state, "history", keys, order, touched, full=False, incoming=incoming)
            tracked = tracked_columns(self.config, incoming, history)
            absorbed = untouched_rows(state_artifact(state, ABSORBED), touched, keys)
        else:
            state = _split_layout(state, keys)
            last, rest = state_artifact(state, LAST), state_artifact(state, REST)
            # A late key is recomputed from its whole chain, any other from its last version on. Its absorbed
            # observations before that version are deletes that closed nothing (without history every
            # column is tracked, so no version is ever absorbed): placed first, they are absorbed again.
            stored_absorbed = state_artifact(state, ABSORBED)
            late = _late_keys(last, stored_absorbed, events, keys, order)
            read = {"chain": _chains_read(rest, last, late, keys), ABSORBED: stored_absorbed}
            prior = touched_prior(
                {a: f for a, f in read.items() if f is not None},
                "chain",
                keys,
                order,
                touched,
                full=False,
                incoming=incoming,
            )
            tracked = tracked_columns(self.config, incoming, last, configured=False)
            absorbed = untouched_rows(stored_absorbed, touched, keys)
        chains = rebuild_chains(
            prior,
            events.with_columns(pl.lit(BRONZE, pl.Int8).alias(CLASS)),
            keys=keys,
            tracked=tracked,
            order_column=order,
            tombstone=tombstone,
            load_date=ctx.load_date,
        )
        if keep:
            out = chain_output(
                untouched_rows(history, touched, keys), chains.rows, keys, tombstone=tombstone, hard=hard
            )
            artifacts = {"history": out, "current": open_versions(out)}
        else:
            rows = chains.rows.with_columns(_from_last_version(keys, pl.col(IS_DELETE)).alias(_IN_LAST))
            out_last, out_rest = (
                chain_output(
                    untouched_rows(stored, carry, keys),
                    rows.filter(pl.col(_IN_LAST) == side).drop(_IN_LAST),
                    keys,
                    tombstone=tombstone,
                    hard=hard,
                )
                for stored, carry, side in ((last, touched, True), (rest, late, False))
            )
            current = open_versions(out_last).drop(CHAIN_COLUMNS)
            artifacts = {"current": current, LAST: out_last, REST: out_rest}
        result = stats_from_chains(prior, chains, keys)
        result.duplicates_dropped += ignored
        result.errors = pl.concat(errors, how="diagonal_relaxed") if errors else None
        result.artifacts = {**artifacts, ABSORBED: absorbed_output(absorbed, chains.absorbed, keys)}
        return result


def _late_keys(
    last: pl.DataFrame | None,
    absorbed: pl.DataFrame | None,
    ops: pl.DataFrame,
    keys: list[str],
    order: str,
) -> pl.DataFrame:
    """The keys with an op at or before their last stored observation (a late op or a tie), from the
    state's ``chain_last`` and ``absorbed`` rows of the touched keys: their chains are recomputed whole."""
    stored = []
    if last is not None and last.height:
        stored.append(last.select(*keys, pl.max_horizontal(EFFECTIVE_FROM, EFFECTIVE_TO).alias(_UPTO)))
    if absorbed is not None and absorbed.height and ABSORBED_ORDER in absorbed.columns:
        stored.append(absorbed.select(*keys, pl.col(ABSORBED_ORDER).alias(_UPTO)))
    if not stored:
        return ops.select(keys).clear()
    upto = pl.concat(stored, how="vertical_relaxed").group_by(keys).agg(pl.col(_UPTO).max())
    return (
        ops.select(*keys, order)
        .join(upto, on=keys, how="inner", nulls_equal=True)
        .filter(pl.col(order) <= pl.col(_UPTO))
        .select(keys)
        .unique()
    )


def _chains_read(
    rest: pl.DataFrame | None, last: pl.DataFrame | None, late: pl.DataFrame, keys: list[str]
) -> pl.DataFrame | None:
    """The chain rows the engine gets: the whole chain of a late key, the rest from the last version on."""
    frames = [
        f for f in (rows_of_keys(rest, late, keys) if rest is not None else None, last) if f is not None
    ]
    if not frames:
        return None
    return pl.concat(frames, how="diagonal_relaxed").sort(keys, maintain_order=True, nulls_last=False)


def _from_last_version(keys: list[str], is_delete: pl.Expr) -> pl.Expr:
    """On chain rows sorted by key (chain order kept): the row is the key's last, or the version that the
    key's last row, a tombstone, closes. A tombstone always follows a version (a delete with nothing live
    is absorbed), so that is each key's chain from its last version on."""
    next_same = same_key(keys).shift(-1).fill_null(False)
    last_row = ~next_same
    return last_row | (next_same & is_delete.shift(-1).fill_null(False) & last_row.shift(-1).fill_null(False))


def _split_layout(
    state: Mapping[str, pl.DataFrame] | None, keys: list[str]
) -> Mapping[str, pl.DataFrame] | None:
    """The state in the ``chain_last`` / ``chain_rest`` layout: a ``chain_tail`` of an earlier Silver
    (every key's whole chain) is split."""
    tail = state_artifact(state, LEGACY_TAIL)
    if state is None or tail is None:
        return state
    deleted = pl.col(DELETED).fill_null(False) if DELETED in tail.columns else pl.lit(False)
    tail = tail.with_columns(_from_last_version(keys, deleted).alias(_IN_LAST))
    split = {
        LAST: tail.filter(pl.col(_IN_LAST)).drop(_IN_LAST),
        REST: tail.filter(~pl.col(_IN_LAST)).drop(_IN_LAST),
    }
    return {**{a: f for a, f in state.items() if a != LEGACY_TAIL}, **split}
