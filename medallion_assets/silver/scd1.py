"""``scd_type_1``: one current row per key, its latest version over all Bronze up to D.

Selected by::

    silver:
      model: scd_type_1              # the default for load_pattern: incremental
      primary_keys: [customer_id]
      order_column: updated_at       # optional
      delete_mode: tombstone         # ignore | hard_delete | tombstone (deletes need load_pattern: full)

Silver D = ``apply(Silver D-1, Bronze D)``. Versions are ordered by (``order_column``, load date, Bronze
position), nulls in ``order_column`` oldest, so:

- within Bronze D the latest row per key wins (a tie goes to the later row);
- an incoming row beats the state's row unless its order value is strictly older (a late-arriving old
  version never overrides a newer one); without ``order_column`` incoming always wins;
- a winning row whose values (every column not starting with ``_``) equal the state's is *unchanged*: the
  state row stays as it is, with its ``_silver_load_date`` and Bronze lineage columns;
- every row written on D (inserted, updated, tombstoned, revived) gets ``_silver_load_date = D``.

Deletes, for ``load_pattern: full`` only (another pattern cannot tell a deleted key from an unchanged one):
a live key of Silver D-1 that is absent from Bronze D is deleted. ``hard_delete`` removes it from
``current``; ``tombstone`` keeps its last row with ``_deleted = true`` (live rows carry ``_deleted =
false``); ``ignore`` keeps it as it was. A deleted key that comes back is live again with the incoming row,
whatever its order value, and counts as inserted. CDC op codes are not interpreted here.

Example, ``primary_keys: [id]``, ``order_column: ts``, ``load_pattern: full``, ``delete_mode: tombstone``::

    Silver D-1 (current)              Bronze D = 2025-06-02     Silver D (current)
    id  name  ts  _silver_load_date   id  name  ts              id  name  ts  _silver_load_date  _deleted
    1   Ann   5   2025-06-01          1   Ann   5               1   Ann   5   2025-06-01         false
    2   Bob   5   2025-06-01     +    2   Rob   4        ->     2   Bob   5   2025-06-01         false
    3   Cy    5   2025-06-01          4   Di    1               3   Cy    5   2025-06-02         true
                                      4   Dee   2               4   Dee   2   2025-06-02         false

Key 1 is unchanged, key 2's late row (ts 4 < 5) is dropped, key 3 is tombstoned, key 4 is inserted and its
older row dropped: inserted 1, updated 0, unchanged 1, deleted 1, duplicates_dropped 2.

Every prepared Bronze row is counted exactly once: ``rows in = inserted + updated + unchanged +
duplicates_dropped`` (revived keys count as inserted); and ``live rows D = live rows D-1 + inserted -
deleted``. Rows of ``current`` are sorted by the primary keys, so an incremental run and a rebuild give the
same frame.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from medallion_assets.errors import SilverInputError
from medallion_assets.silver.base import SILVER_LOAD_DATE, SilverContext, SilverModel, SilverResult
from medallion_assets.silver.keys import (
    DELETED,
    HIDDEN,
    SOURCE,
    drop_hidden,
    latest_per_key,
    order_wins,
    require_columns,
    rows_of_keys,
    with_position,
)

__all__ = ["ScdType1"]

_STATE = "__state"  # suffix of the state's columns when winners are joined to it
# Per-key decisions on the joined frame (hidden names, clear of user columns).
_REVIVED, _WINS, _SAME = "__medallion_revived", "__medallion_wins", "__medallion_same"
_revived, _wins, _same = pl.col(_REVIVED), pl.col(_WINS), pl.col(_SAME)


class ScdType1(SilverModel):
    """Latest version per key over the state and Bronze D, with delete detection for full loads."""

    name = "scd_type_1"
    artifacts = ("current",)
    stateful = True
    requires = frozenset({"primary_keys"})
    options = frozenset({"delete_mode"})
    reconciled = ("inserted", "updated", "unchanged", "duplicates_dropped")
    keyed_state = True
    writes = frozenset({SILVER_LOAD_DATE, DELETED})

    def touches_absent_keys(self, ctx: SilverContext) -> bool:
        return ctx.load_pattern == "full" and self.config.delete_mode != "ignore"

    def apply(
        self, state: Mapping[str, pl.DataFrame] | None, incoming: pl.DataFrame, ctx: SilverContext
    ) -> SilverResult:
        keys, order = self.config.primary_keys, self.config.order_column
        if not keys:
            raise SilverInputError("silver.model 'scd_type_1' needs silver.primary_keys")
        require_columns(incoming, keys, what="silver.primary_keys")
        require_columns(incoming, [order], what="silver.order_column")
        previous = (state or {}).get("current")
        tombstones = self.config.delete_mode == "tombstone" or (
            previous is not None and DELETED in previous.columns
        )
        old, new = _align(previous, incoming, tombstones)
        written = _written(ctx, tombstones)

        winners = latest_per_key(new, keys, order)
        matched = winners.join(old, on=keys, how="inner", suffix=_STATE).with_columns(
            self._decide(old, keys, tombstones)
        )
        take_new = _revived | (_wins & ~_same)
        new_keys = winners.join(old, on=keys, how="anti")
        replaced = matched.filter(take_new).select(winners.columns)
        kept = old.join(matched.filter(~take_new).select(keys), on=keys, how="semi")
        absent = old.join(winners, on=keys, how="anti")
        if ctx.held_keys is not None:  # in the snapshot, in quarantined rows only: kept as it was
            held = rows_of_keys(absent, ctx.held_keys, keys)
            absent = rows_of_keys(absent, ctx.held_keys, keys, anti=True)
            kept = pl.concat([kept, held], how="vertical_relaxed")
        survivors, deleted = self._detect_deletes(absent, ctx, tombstones)
        changed = self._changed(previous, old, keys, [new_keys, replaced, absent], ctx, tombstones)

        columns = _output_columns(old.columns, tombstones)
        current = (
            pl.concat(
                [new_keys.with_columns(written), replaced.with_columns(written), kept, survivors],
                how="vertical_relaxed",
            )
            .select(columns)
            .sort(keys, maintain_order=True)
        )
        tally = matched.select(
            revived=_revived.sum(),
            updated=(~_revived & _wins & ~_same).sum(),
            unchanged=(~_revived & _wins & _same).sum(),
            lost=(~_revived & ~_wins).sum(),
        ).row(0, named=True)
        return SilverResult(
            artifacts={"current": current},
            inserted=new_keys.height + tally["revived"],
            updated=tally["updated"],
            unchanged=tally["unchanged"],
            deleted=deleted,
            duplicates_dropped=(new.height - winners.height) + tally["lost"],
            changed=changed,
        )

    def _changed(
        self,
        previous: pl.DataFrame | None,
        old: pl.DataFrame,
        keys: list[str],
        parts: list[pl.DataFrame],
        ctx: SilverContext,
        tombstones: bool,
    ) -> dict[str, pl.DataFrame]:
        """``current``'s changed keys: inserted, replaced, and deleted (tombstoned or removed) ones.

        Only when the state's rows come out of :func:`_align` as they went in (same columns and types, no
        null ``_deleted`` made false): the rows kept are then exactly the state's. Otherwise nothing is
        claimed and the day compares the rows (``key_diff``).
        """
        if previous is None or dict(previous.schema) != dict(drop_hidden(old).schema):
            return {}
        if DELETED in previous.columns and previous.get_column(DELETED).null_count():
            return {}
        new_keys, replaced, absent = parts
        gone = absent.head(0)
        mode = self.config.delete_mode
        if ctx.load_pattern == "full" and mode == "hard_delete":
            gone = absent
        elif ctx.load_pattern == "full" and mode == "tombstone":
            gone = absent.filter(~pl.col(DELETED)) if tombstones else absent
        frames = [f.select(keys) for f in (new_keys, replaced, gone)]
        return {"current": pl.concat(frames, how="vertical_relaxed")}

    def _decide(self, old: pl.DataFrame, keys: list[str], tombstones: bool) -> list[pl.Expr]:
        """Per matched key: ``revived`` (state row is a tombstone), ``wins`` (by order), ``same`` (values)."""
        order = self.config.order_column
        revived = pl.col(DELETED + _STATE).fill_null(False) if tombstones else pl.lit(False)
        wins = order_wins(order, order + _STATE) if order and order not in keys else pl.lit(True)
        values = [c for c in old.columns if not c.startswith("_") and c not in keys]
        same = (
            pl.all_horizontal(pl.col(c).eq_missing(pl.col(c + _STATE)) for c in values)
            if values
            else pl.lit(True)
        )
        return [revived.alias(_REVIVED), wins.alias(_WINS), same.alias(_SAME)]

    def _detect_deletes(
        self, absent: pl.DataFrame, ctx: SilverContext, tombstones: bool
    ) -> tuple[pl.DataFrame, int]:
        """State rows absent from Bronze D: those that stay in ``current``, and how many keys were deleted."""
        mode = self.config.delete_mode
        if ctx.load_pattern != "full" or mode == "ignore":
            return absent, 0
        live = ~pl.col(DELETED) if tombstones else pl.lit(True)
        deleted = absent.filter(live).height
        if mode == "hard_delete":
            return absent.clear(), deleted
        marked = absent.with_columns(
            pl.when(live)
            .then(pl.lit(ctx.load_date))
            .otherwise(pl.col(SILVER_LOAD_DATE))
            .alias(SILVER_LOAD_DATE),
            pl.lit(True).alias(DELETED),
        )
        return marked, deleted


def _align(
    previous: pl.DataFrame | None, incoming: pl.DataFrame, tombstones: bool
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """State and incoming rows with one schema (a column new in Bronze is null on older rows)."""
    if previous is None:
        previous = incoming.clear()
    combined = pl.concat(
        [
            previous.with_columns(pl.lit(0, dtype=pl.Int8).alias(SOURCE)),
            with_position(incoming).with_columns(pl.lit(1, dtype=pl.Int8).alias(SOURCE)),
        ],
        how="diagonal_relaxed",
    )
    if SILVER_LOAD_DATE not in combined.columns:
        combined = combined.with_columns(pl.lit(None, dtype=pl.Date).alias(SILVER_LOAD_DATE))
    if tombstones:
        deleted = pl.col(DELETED).cast(pl.Boolean) if DELETED in combined.columns else pl.lit(None)
        combined = combined.with_columns(deleted.fill_null(False).alias(DELETED))
    old = combined.filter(pl.col(SOURCE) == 0)
    new = combined.filter(pl.col(SOURCE) == 1)
    return old, new


def _written(ctx: SilverContext, tombstones: bool) -> list[pl.Expr]:
    """Columns of a row version written on D."""
    exprs = [pl.lit(ctx.load_date, dtype=pl.Date).alias(SILVER_LOAD_DATE)]
    if tombstones:
        exprs.append(pl.lit(False).alias(DELETED))
    return exprs


def _output_columns(columns: list[str], tombstones: bool) -> list[str]:
    """Data columns in state-then-Bronze order, then ``_silver_load_date`` and ``_deleted``."""
    trailing = [SILVER_LOAD_DATE, DELETED]
    data = [c for c in columns if c not in HIDDEN and c not in trailing]
    return [*data, SILVER_LOAD_DATE, *([DELETED] if tombstones else [])]
