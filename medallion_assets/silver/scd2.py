"""``scd_type_2``: the history of distinct versions per key, and the current version of every key.

Selected by::

    silver:
      model: scd_type_2              # the default for load_pattern: current_history
      primary_keys: [customer_id]
      order_column: updated_at       # required: effective_from / effective_to are its values
      scd2:
        track_columns: [name, tier]  # optional; default: every column but keys, order column and "_" columns
      delete_mode: tombstone         # ignore | hard_delete | tombstone (deletes need load_pattern: full)

Silver D = ``apply(Silver D-1, Bronze D)`` through the chain engine of :mod:`medallion_assets.silver.chain`:
the chains of the keys touched on D are recomputed from their stored observations (history rows plus the
``absorbed`` ones) and Bronze D; the other rows are carried over as they are. Ties on the order value are
corrections (the last row wins), never versions. Rows with a null ``order_column`` cannot be placed in a
chain and are quarantined (``_error_reason`` ``null order column: <name>``).

Deletes, for ``load_pattern: full``: a live key of Silver D-1 absent from Bronze D is deleted at the end
of the partition window (the window end in the order column's type when it is a date or datetime; for
another type the key's last order value: the version it closes then has zero length), and never before
the key's last observation. A key that comes back in a
later snapshot is live again: its rows are placed no earlier than the delete (``effective_from`` = max(its
order value, the delete's)), so the resurrection is a new version after the delete.

Artifacts: ``history`` (every version, sorted by key then chain order), ``current`` (the open version per
key: ``effective_to`` null; with ``tombstone`` deleted keys stay with ``_deleted = true``) and ``absorbed``
(state only: the observations a version absorbed, so that a late row can still split the run).

Example, ``primary_keys: [id]``, ``order_column: ts``, ``load_pattern: incremental``::

    Bronze 2025-06-01    Bronze 2025-06-02      history after 2025-06-02
    id  v  ts            id  v  ts              id  v  effective_from  effective_to  is_current
    1   A  1             1   C  3   (late)      1   A  1               3             false
    1   B  5             1   B  7   (no-op)     1   C  3               5             false
                                                1   B  5               null          true

Counters: ``versions_added`` (incoming rows that became history rows), ``duplicates_dropped`` (incoming rows
equal to the version before them), so ``rows in = versions_added + duplicates_dropped``; ``inserted`` /
``updated`` / ``deleted`` / ``unchanged`` describe the keys' current versions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl

from medallion_assets.config.models import SilverConfig
from medallion_assets.errors import SilverInputError
from medallion_assets.silver.base import SILVER_LOAD_DATE, SilverContext, SilverModel, SilverResult
from medallion_assets.silver.chain import (
    ABSORBED,
    BRONZE,
    CHAIN_COLUMNS,
    CHAIN_WRITES,
    CLASS,
    CLOSED_BY_DELETE,
    DETECTED_DELETE,
    EFFECTIVE_FROM,
    EFFECTIVE_TO,
    HIDDEN_CHAIN,
    IS_CURRENT,
    IS_DELETE,
    OLD_CLOSED,
    OLD_CURRENT,
    OLD_TO,
    ORDER,
    REVIVED,
    ChainResult,
    absorbed_as_events,
    absorbed_output,
    rebuild_chains,
    same_key,
)
from medallion_assets.silver.keys import DELETED, POSITION, SOURCE, require_columns, rows_of_keys
from medallion_assets.silver.prepare import ERROR_REASON

__all__ = [
    "ScdType2",
    "chain_output",
    "open_versions",
    "prior_rows",
    "reject_null_order",
    "state_artifact",
    "stats_from_chains",
    "touched_prior",
    "tracked_columns",
    "untouched_rows",
]

_LAST_POSITION = 2**31  # a delete detected on D sorts after every row of D that ties with it


class ScdType2(SilverModel):
    """Type 2 history with late-arriving repair, deletes for full loads and resurrection."""

    name = "scd_type_2"
    artifacts = ("history", "current", ABSORBED)
    stateful = True
    load_patterns = frozenset({"full", "incremental", "current_history"})
    requires = frozenset({"primary_keys", "order_column"})
    options = frozenset({"delete_mode", "scd2"})
    reconciled = ("versions_added", "duplicates_dropped")
    keyed_state = True
    derived = {"current": "history"}
    writes = frozenset({SILVER_LOAD_DATE, DELETED, *CHAIN_WRITES})

    def touches_absent_keys(self, ctx: SilverContext) -> bool:
        return ctx.load_pattern == "full" and self.config.delete_mode != "ignore"

    def apply(
        self, state: Mapping[str, pl.DataFrame] | None, incoming: pl.DataFrame, ctx: SilverContext
    ) -> SilverResult:
        keys, order = self.config.primary_keys, self.config.order_column
        if not keys or not order:
            raise SilverInputError("silver.model 'scd_type_2' needs silver.primary_keys and order_column")
        require_columns(incoming, [*keys, order], what="silver.primary_keys/order_column")
        incoming, errors = reject_null_order(incoming, order)
        history = state_artifact(state, "history")
        tombstone = self.config.delete_mode == "tombstone"
        full = ctx.load_pattern == "full"
        deletes = full and self.config.delete_mode != "ignore"

        events = incoming.with_row_index(POSITION).with_columns(
            pl.col(order).alias(ORDER),
            pl.lit(False).alias(IS_DELETE),
            pl.lit(BRONZE, pl.Int8).alias(CLASS),
            pl.lit(1, pl.Int8).alias(SOURCE),
        )
        # The keys whose chains are recomputed; with no state (the first day) every chain is new.
        touched = events.select(keys).unique() if state else events.select(keys).clear()
        if deletes and history is not None:
            live = history.filter(pl.col(IS_CURRENT).fill_null(False)).select(keys)
            absent = live.join(touched, on=keys, how="anti", nulls_equal=True)
            held = _held_keys(ctx, errors, keys)
            if held is not None:  # in the snapshot, in quarantined rows only: no delete, carried as it was
                absent = rows_of_keys(absent, held, keys, anti=True)
            touched = pl.concat([touched, absent])
        prior = touched_prior(state, "history", keys, order, touched, full=full, incoming=incoming)
        if deletes and history is not None:
            events = _revive(events, prior, keys)
            events = pl.concat(
                [events, _full_load_deletes(prior, events, keys, order, ctx)], how="diagonal_relaxed"
            )
        chains = rebuild_chains(
            prior,
            events,
            keys=keys,
            tracked=tracked_columns(self.config, incoming, history),
            order_column=order,
            tombstone=tombstone,
            load_date=ctx.load_date,
        )
        history_out = chain_output(
            untouched_rows(history, touched, keys),
            chains.rows,
            keys,
            tombstone=tombstone,
            hard=self.config.delete_mode == "hard_delete",
        )
        current = open_versions(history_out)
        absorbed = absorbed_output(
            untouched_rows(state_artifact(state, ABSORBED), touched, keys), chains.absorbed, keys
        )
        result = stats_from_chains(prior, chains, keys)
        result.artifacts = {"history": history_out, "current": current, ABSORBED: absorbed}
        result.errors = errors
        return result


def tracked_columns(
    config: SilverConfig, incoming: pl.DataFrame, history: pl.DataFrame | None, *, configured: bool = True
) -> list[str]:
    """``scd2.track_columns``, or every column but keys, the order column and ``_`` columns.

    With ``configured=False`` (``cdc`` without history) the order column is tracked too and
    ``track_columns`` is not used: only an exact re-delivery then collapses into the version before it.
    """
    chosen = config.scd2.track_columns if config.scd2 and configured else None
    if chosen:
        require_columns(incoming, chosen, what="silver.scd2.track_columns")
        return list(chosen)
    columns = [*(history.columns if history is not None else []), *incoming.columns]
    skip = {*config.primary_keys, *CHAIN_COLUMNS, *([config.order_column] if configured else [])}
    return list(dict.fromkeys(c for c in columns if not c.startswith("_") and c not in skip))


def reject_null_order(incoming: pl.DataFrame, order: str) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """Split off rows whose order value is null: they cannot be placed in a version chain."""
    bad = pl.col(order).is_null()
    rejected = incoming.filter(bad)
    if not rejected.height:
        return incoming, None
    return incoming.filter(~bad), rejected.with_columns(
        pl.lit(f"null order column: {order}").alias(ERROR_REASON)
    )


def state_artifact(state: Mapping[str, pl.DataFrame] | None, artifact: str) -> pl.DataFrame | None:
    """An artifact of the state, or None when it is missing or has no columns (an older lake)."""
    frame = (state or {}).get(artifact)
    return frame if frame is not None and frame.width else None


def untouched_rows(
    frame: pl.DataFrame | None, touched: pl.DataFrame, keys: Sequence[str]
) -> pl.DataFrame | None:
    """The rows of ``frame`` whose key is not in ``touched``: carried over as they are."""
    return rows_of_keys(frame, touched, keys, anti=True) if frame is not None else None


def touched_prior(
    state: Mapping[str, pl.DataFrame] | None,
    chain_artifact: str,
    keys: Sequence[str],
    order: str,
    touched: pl.DataFrame,
    *,
    full: bool,
    incoming: pl.DataFrame,
) -> pl.DataFrame:
    """Every stored observation of the touched keys: their chain rows as events plus their absorbed ones."""
    chain = state_artifact(state, chain_artifact)
    chain = rows_of_keys(chain, touched, keys) if chain is not None else None
    prior = prior_rows(chain, keys, order, incoming, full=full)
    absorbed = absorbed_as_events(state_artifact(state, ABSORBED))
    if absorbed is None:
        return prior
    absorbed = rows_of_keys(absorbed, touched, keys)
    return pl.concat([prior, absorbed], how="diagonal_relaxed")


def prior_rows(
    history: pl.DataFrame | None, keys: Sequence[str], order: str, incoming: pl.DataFrame, *, full: bool
) -> pl.DataFrame:
    """History rows as chain events; with a closed last version (hard delete) a delete marker is added.

    A full load's deletes are detected deletes, and a version right after one at the same order value is
    a revived version (their tie classes, see :mod:`medallion_assets.silver.chain`).
    """
    if history is None:
        return incoming.clear().with_columns(
            pl.lit(None, pl.Date).alias(SILVER_LOAD_DATE),
            pl.col(order).alias(ORDER),
            pl.lit(None, pl.Boolean).alias(IS_DELETE),
            pl.lit(BRONZE, pl.Int8).alias(CLASS),
            pl.lit(0, pl.Int8).alias(SOURCE),
            pl.lit(0, pl.UInt32).alias(POSITION),
            pl.col(order).alias(OLD_TO),
            pl.lit(None, pl.Boolean).alias(OLD_CURRENT),
        )
    deleted = pl.col(DELETED).fill_null(False) if DELETED in history.columns else pl.lit(False)
    delete_class = pl.lit(DETECTED_DELETE if full else BRONZE, pl.Int8)
    rows = history.with_row_index(POSITION).with_columns(
        (pl.col(POSITION) * 2).alias(POSITION),
        pl.col(EFFECTIVE_FROM).alias(ORDER),
        deleted.alias(IS_DELETE),
        pl.when(deleted).then(delete_class).otherwise(pl.lit(BRONZE, pl.Int8)).alias(CLASS),
        pl.lit(0, pl.Int8).alias(SOURCE),
        pl.col(EFFECTIVE_TO).alias(OLD_TO),
        pl.col(IS_CURRENT).alias(OLD_CURRENT),
    )
    closed = pl.col(CLOSED_BY_DELETE).fill_null(False) if CLOSED_BY_DELETE in rows.columns else pl.lit(False)
    if CLOSED_BY_DELETE in rows.columns:
        rows = rows.with_columns(closed.alias(OLD_CLOSED))
    markers = rows.filter(closed).select(
        *keys,
        pl.col(EFFECTIVE_TO).alias(order),
        pl.col(EFFECTIVE_TO).alias(ORDER),
        pl.lit(True).alias(IS_DELETE),
        delete_class.alias(CLASS),
        pl.col(SOURCE),
        (pl.col(POSITION) + 1).alias(POSITION),
        pl.col(SILVER_LOAD_DATE),
    )
    prior = pl.concat([rows, markers], how="diagonal_relaxed")
    if not full:
        return prior
    prior = prior.sort([*keys, POSITION], nulls_last=False, maintain_order=True)
    after_delete = (
        same_key(keys)
        & pl.col(IS_DELETE).shift(1).fill_null(False)
        & pl.col(ORDER).eq_missing(pl.col(ORDER).shift(1))
    )
    revived = ~pl.col(IS_DELETE) & after_delete
    return prior.with_columns(
        pl.when(revived).then(pl.lit(REVIVED, pl.Int8)).otherwise(pl.col(CLASS)).alias(CLASS)
    )


def _revive(events: pl.DataFrame, prior: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Rows of a key deleted in the state are placed no earlier than its delete (a resurrection).

    A row placed at (or already at) the delete's order value is :data:`REVIVED`: it opens a version after
    the delete instead of tying with it.
    """
    # Absorbed observations have no chain position. On the key-sorted chain a key's last row is the one
    # whose next row has another key: a shifted key-change mask, not a per-key window.
    chain = prior.filter(pl.col(POSITION).is_not_null()).sort([*keys, POSITION], nulls_last=False)
    last = ~same_key(keys).shift(-1).fill_null(False)
    deleted_at = chain.filter(last & pl.col(IS_DELETE)).select(*keys, pl.col(ORDER).alias("__deleted_at"))
    at = pl.col("__deleted_at")
    return (
        events.join(deleted_at, on=keys, how="left", nulls_equal=True, maintain_order="left")
        .with_columns(
            pl.max_horizontal(ORDER, at).alias(ORDER),
            pl.when(at.is_not_null() & (pl.col(ORDER) <= at))
            .then(pl.lit(REVIVED, pl.Int8))
            .otherwise(pl.col(CLASS))
            .alias(CLASS),
        )
        .drop("__deleted_at")
    )


def _held_keys(ctx: SilverContext, rejected: pl.DataFrame | None, keys: list[str]) -> pl.DataFrame | None:
    """The keys the snapshot of D holds in quarantined rows only (failed casts, null order values)."""
    frames = [
        f for f in (ctx.held_keys, rejected.select(keys) if rejected is not None else None) if f is not None
    ]
    return pl.concat(frames, how="vertical_relaxed").unique() if frames else None


def _full_load_deletes(
    prior: pl.DataFrame, events: pl.DataFrame, keys: list[str], order: str, ctx: SilverContext
) -> pl.DataFrame:
    """A delete event for every live key of the state that is absent from the full snapshot of D.

    It is placed at the window end, and never before the key's last observation.
    """
    live = prior.filter(pl.col(OLD_CURRENT).fill_null(False)).select(keys)
    absent = live.join(events.select(keys).unique(), on=keys, how="anti", nulls_equal=True)
    last = prior.join(absent, on=keys, how="semi", nulls_equal=True).group_by(keys).agg(pl.col(ORDER).max())
    dtype = prior.schema[ORDER]
    at = window_end_as(dtype, ctx)
    when = pl.max_horizontal(pl.col(ORDER), pl.lit(at, dtype=dtype)) if at is not None else pl.col(ORDER)
    return last.select(
        *keys,
        when.alias(ORDER),
        when.alias(order),
        pl.lit(True).alias(IS_DELETE),
        pl.lit(DETECTED_DELETE, pl.Int8).alias(CLASS),
        pl.lit(1, pl.Int8).alias(SOURCE),
        pl.lit(_LAST_POSITION, pl.UInt32).alias(POSITION),
    )


def window_end_as(dtype: pl.DataType, ctx: SilverContext) -> date | datetime | None:
    """The partition's window end as a value of ``dtype`` (None when the type is not temporal).

    A naive datetime column is read as wall time in the partition's timezone; a column with a time zone
    gets the same instant in its own zone (``2025-06-03 00:00`` in Europe/Paris is ``2025-06-02 22:00`` in
    a UTC column), which polars requires of a value of that type.
    """
    if dtype == pl.Date:
        return ctx.load_date + timedelta(days=1)
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            return ctx.window_end.replace(tzinfo=None)
        return ctx.window_end.astimezone(ZoneInfo(dtype.time_zone))
    return None


def chain_output(
    untouched: pl.DataFrame | None,
    rebuilt: pl.DataFrame,
    keys: Sequence[str],
    *,
    tombstone: bool,
    hard: bool,
) -> pl.DataFrame:
    """History: untouched rows plus recomputed chains, sorted by key (chain order kept), columns in order."""
    if tombstone:
        rebuilt = rebuilt.with_columns(pl.col(IS_DELETE).alias(DELETED))
    rebuilt = rebuilt.drop([c for c in HIDDEN_CHAIN if c in rebuilt.columns])
    frames = [f for f in (untouched, rebuilt) if f is not None]
    history = pl.concat(frames, how="diagonal_relaxed").sort(
        list(keys), maintain_order=True, nulls_last=False
    )
    trailing = [*CHAIN_COLUMNS, SILVER_LOAD_DATE, DELETED, CLOSED_BY_DELETE]
    data = [c for c in history.columns if c not in trailing]
    flags = [DELETED] if tombstone else [CLOSED_BY_DELETE] if hard else []
    return history.select(*data, *CHAIN_COLUMNS, SILVER_LOAD_DATE, *flags)


def open_versions(history: pl.DataFrame) -> pl.DataFrame:
    """``current``: the open version of every key (``effective_to`` null), without ``_closed_by_delete``,
    which only a closed version can have (it was always false there)."""
    return history.filter(pl.col(EFFECTIVE_TO).is_null()).drop(CLOSED_BY_DELETE, strict=False)


def stats_from_chains(prior: pl.DataFrame, chains: ChainResult, keys: Sequence[str]) -> SilverResult:
    """Counters: versions added/dropped, and how the current version of each touched key changed.

    A key is ``updated`` when its current version is another row than before: a new one, or (after a
    late row split a run) an absorbed observation that reopened.
    """
    keys = list(keys)
    old = prior.filter(pl.col(OLD_CURRENT).fill_null(False)).select(*keys, pl.col(ORDER).alias("__old_order"))
    new = chains.rows.filter(pl.col(IS_CURRENT)).select(
        *keys, ((pl.col(SOURCE) == 1) | pl.col(OLD_CURRENT).is_null()).alias("__new_row"), pl.col(ORDER)
    )
    both = new.join(old, on=keys, how="inner", nulls_equal=True)
    fresh = both.filter(pl.col("__new_row") | pl.col(ORDER).ne_missing(pl.col("__old_order"))).height
    return SilverResult(
        artifacts={},
        inserted=new.height - both.height,
        updated=fresh,
        unchanged=both.height - fresh,
        deleted=old.join(new, on=keys, how="anti", nulls_equal=True).height,
        duplicates_dropped=chains.dropped,
        extra={"versions_added": chains.versions_added, "deletes_applied": chains.deletes_applied},
    )
