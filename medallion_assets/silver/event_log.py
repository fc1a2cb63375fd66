"""``event_log``: the events of Bronze D, each event once, deduplicated against earlier days too.

Selected by::

    silver:
      model: event_log
      primary_keys: [event_id]
      dedupe_lookback_days: 3        # also drop events already written in the 3 previous Silver days

Events are immutable, so the first delivery of an event wins: a row whose key was already seen earlier in
Bronze D, or written in one of the ``dedupe_lookback_days`` previous Silver partitions, is a re-delivery
and is dropped (``duplicates_dropped``), whatever its values. A key last written longer ago than the lookback
is a new event again.

The lookback is carried forward instead of read back: besides ``events``, Silver D writes ``recent_keys``,
the keys (and ``_silver_load_date``) of the events written on D-k+1..D. Silver D+1 therefore needs only
Silver D (the same self-dependency as the other stateful models), and a rebuild from Bronze gives the same
result by folding over the days. With ``dedupe_lookback_days: 0`` only duplicates within D are dropped.

Example, ``primary_keys: [id]``, ``dedupe_lookback_days: 1``::

    Bronze 06-01     Bronze 06-02     Bronze 06-03     events 06-02   events 06-03
    id  v            id  v            id  v            id  v          id  v
    1   a            1   a  (redeliv) 1   a            2   b          1   a   (06-01 is past the lookback)
                     2   b            2   b                           (2 dropped: written on 06-02)
                     2   b  (dup)

``rows in = inserted + duplicates_dropped``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

import polars as pl

from medallion_assets.errors import SilverInputError
from medallion_assets.silver.base import SILVER_LOAD_DATE, SilverContext, SilverModel, SilverResult
from medallion_assets.silver.keys import require_columns

__all__ = ["RECENT_KEYS", "EventLog"]

RECENT_KEYS = "recent_keys"


class EventLog(SilverModel):
    """Bronze D deduplicated by key within D and against the keys of the last ``k`` Silver days."""

    name = "event_log"
    artifacts = ("events", RECENT_KEYS)
    stateful = True
    load_patterns = frozenset({"full", "incremental", "current_history"})
    requires = frozenset({"primary_keys"})
    options = frozenset({"dedupe_lookback_days"})
    reconciled = ("inserted", "duplicates_dropped")

    def apply(
        self, state: Mapping[str, pl.DataFrame] | None, incoming: pl.DataFrame, ctx: SilverContext
    ) -> SilverResult:
        keys = self.config.primary_keys
        if not keys:
            raise SilverInputError("silver.model 'event_log' needs silver.primary_keys")
        require_columns(incoming, keys, what="silver.primary_keys")
        lookback = self.config.dedupe_lookback_days
        recent = (state or {}).get(RECENT_KEYS)
        first = incoming.unique(subset=keys, keep="first", maintain_order=True)
        if recent is not None and recent.height and lookback:
            since = ctx.load_date - timedelta(days=lookback)
            seen = recent.filter(pl.col(SILVER_LOAD_DATE) >= since).select(keys)
            first = first.join(seen, on=keys, how="anti", nulls_equal=True, maintain_order="left")
        events = first.with_columns(pl.lit(ctx.load_date, dtype=pl.Date).alias(SILVER_LOAD_DATE))
        written = events.select(*keys, SILVER_LOAD_DATE)
        if recent is not None and lookback > 1:
            keep_from = ctx.load_date - timedelta(days=lookback - 1)
            older = recent.filter(pl.col(SILVER_LOAD_DATE) >= keep_from).select(written.columns)
            written = pl.concat([older, written], how="vertical_relaxed")
        if not lookback:
            written = written.clear()
        return SilverResult(
            artifacts={"events": events, RECENT_KEYS: written},
            inserted=events.height,
            duplicates_dropped=incoming.height - events.height,
        )
