"""``periodic_snapshot``: Silver D is Bronze D as it is, one row per key when keys are set.

Selected by::

    silver:
      model: periodic_snapshot       # the default for load_pattern: full
      primary_keys: [store_id]       # optional
      order_column: updated_at       # optional

No dependency on Silver D-1: every partition stands alone. With ``primary_keys`` the latest row per key is
kept, by ``order_column`` (nulls oldest) and then Bronze position (the later row wins a tie); without
``order_column`` the last row of a key in Bronze order wins. Example with ``primary_keys: [store_id]`` and
``order_column: updated_at`` on 2025-06-02::

    Bronze D                                 snapshot
    store_id  city    updated_at             store_id  city    updated_at  _silver_load_date
    1         Paris   09:00           ->     2         Lyon    09:00       2025-06-02
    2         Lyon    09:00                  1         Nice    10:00       2025-06-02
    1         Nice    10:00
    1         Lille   08:00                  (inserted 2, duplicates_dropped 2)

The rows keep Bronze order (of each key's winning row). ``inserted`` counts the rows written.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from medallion_assets.silver.base import SILVER_LOAD_DATE, SilverContext, SilverModel, SilverResult
from medallion_assets.silver.keys import drop_hidden, latest_per_key, require_columns, with_position

__all__ = ["PeriodicSnapshot"]


class PeriodicSnapshot(SilverModel):
    """Bronze D as is (prepared), deduplicated to the latest row per key when keys are set."""

    name = "periodic_snapshot"
    artifacts = ("snapshot",)
    stateful = False
    load_patterns = frozenset({"full", "incremental", "current_history"})
    reconciled = ("inserted", "duplicates_dropped")

    def apply(
        self, state: Mapping[str, pl.DataFrame] | None, incoming: pl.DataFrame, ctx: SilverContext
    ) -> SilverResult:
        keys = self.config.primary_keys
        snapshot = incoming
        if keys:
            require_columns(incoming, keys, what="silver.primary_keys")
            require_columns(incoming, [self.config.order_column], what="silver.order_column")
            snapshot = drop_hidden(latest_per_key(with_position(incoming), keys, self.config.order_column))
        snapshot = snapshot.with_columns(pl.lit(ctx.load_date, dtype=pl.Date).alias(SILVER_LOAD_DATE))
        return SilverResult(
            artifacts={"snapshot": snapshot},
            inserted=snapshot.height,
            duplicates_dropped=incoming.height - snapshot.height,
        )
