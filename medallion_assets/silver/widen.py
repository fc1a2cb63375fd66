"""Silver's inputs widened alike: the lake's widening rule, with naive date-times as wall time in the zone.

Rows of different days (Silver D-1's state, Bronze D, the days a rebuild folds, the files a day carries)
meet with the types each day's files had. They are unified by the rule the lake reads with
(:func:`~medallion_resources.lake.read.widen_alike`: ``1`` and ``"x"`` -> text, a ``null`` column takes the
other's type), with one exception that only Silver can make: a date-time column naive on one side and with
a time zone on the other. The lake reads such naive values as UTC (Bronze has no zone to go by); Silver's
naive date-times are wall time in the source's ``partitions.timezone`` (docs/silver_patterns.md), so they
are read there and converted to the other side's zone first. With ``partitions.timezone: Europe/Paris``
a naive ``2025-03-01 10:15`` meeting ``datetime[us, UTC]`` is ``2025-03-01 09:15 UTC``, not 10:15 UTC.
A date meeting a date-time with a time zone is midnight there alike.

Daylight-saving changes: a naive time in the hour the clocks skip (``2025-03-30 02:30`` in Paris) is read
with the offset before the change (``+01:00``: 01:30 UTC, as Python's ``zoneinfo`` reads it), one in the
hour they repeat (``2025-10-26 02:30``) as the first of the two (``+02:00``: 00:30 UTC).
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from medallion_assets.silver.chain import ABSORBED_ORDER, EFFECTIVE_FROM, EFFECTIVE_TO
from medallion_resources.lake.read import widen_alike

__all__ = ["ORDER_VALUED", "widen_inputs", "widen_alike_in"]

ORDER_VALUED = (EFFECTIVE_FROM, EFFECTIVE_TO, ABSORBED_ORDER)
"""Chain columns that hold values of the order column (SCD2 and cdc history, the ``absorbed`` artifact's
``_absorbed_order``), so they widen with it: a naive order column that gains a time zone (``datetime[us]``,
then ``datetime[us, UTC]``) otherwise leaves ``_absorbed_order`` naive, which polars cannot concat with the
widened history."""


def widen_alike_in(frames: Sequence[pl.DataFrame], timezone: str) -> list[pl.DataFrame]:
    """:func:`widen_alike`, with a column's naive date-times (and dates) that meet date-times with a time
    zone read as wall time in ``timezone`` and converted to that zone (UTC when the frames hold several)."""
    zones: dict[str, set[str]] = {}
    for frame in frames:
        for name, dtype in frame.schema.items():
            if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
                zones.setdefault(name, set()).add(dtype.time_zone)
    if not zones:
        return widen_alike(frames)
    localized = []
    for frame in frames:
        exprs = [
            _in_zone(pl.col(name), dtype, timezone, zones[name])
            for name, dtype in frame.schema.items()
            if name in zones
            and (dtype == pl.Date or (isinstance(dtype, pl.Datetime) and dtype.time_zone is None))
        ]
        localized.append(frame.with_columns(exprs) if exprs else frame)
    return widen_alike(localized)


def _in_zone(column: pl.Expr, dtype: pl.DataType, timezone: str, others: set[str]) -> pl.Expr:
    """Naive ``column`` as the instants its wall times in ``timezone`` are, in the zone of ``others``."""
    naive = column.cast(pl.Datetime("us")) if dtype == pl.Date else column
    first = naive.dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null")
    # The hour the clocks skip: the offset before the change, that of the same wall time a day earlier.
    before = (naive - pl.duration(days=1)).dt.replace_time_zone(
        timezone, ambiguous="earliest", non_existent="null"
    )
    offset = before.dt.base_utc_offset() + before.dt.dst_offset()
    skipped = (naive - offset).dt.replace_time_zone("UTC").dt.convert_time_zone(timezone)
    instants = pl.coalesce(first, skipped)
    zone = next(iter(others)) if len(others) == 1 else "UTC"
    return instants.dt.convert_time_zone(zone).name.keep()


def widen_inputs(
    frames: Sequence[pl.DataFrame], order_column: str | None, timezone: str
) -> list[pl.DataFrame]:
    """:func:`widen_alike_in`, then the columns holding order values (``effective_from``, ``effective_to``,
    ``_absorbed_order``) in the order column's widened type: an order column that turned to text (``9``,
    then ``"x"``) would otherwise meet a history whose bounds are still numbers ("cannot compare string with
    numeric type"), one that gained a time zone a history whose bounds are naive."""
    widened = widen_alike_in(frames, timezone)
    if order_column is None:
        return widened
    spots = [(i, c) for i, f in enumerate(widened) for c in (order_column, *ORDER_VALUED) if c in f.columns]
    if len({widened[i].schema[c] for i, c in spots}) < 2:
        return widened
    value = "__medallion_order_value"
    alike = widen_alike_in([widened[i].select(pl.col(c).alias(value)) for i, c in spots], timezone)
    out = list(widened)
    for (i, c), column in zip(spots, alike, strict=True):
        out[i] = out[i].with_columns(column.get_column(value).alias(c))
    return out
