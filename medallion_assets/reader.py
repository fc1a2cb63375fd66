"""Reading the lake from Python: ``medallion_assets.read(name, ...)`` gives a LazyFrame (docs/reading.md).

The config names the source; the storage backend, the dataset folder and the partition come from it, and
the rows come from :class:`medallion_resources.lake.dataset.Dataset`, the same reader a Gold asset's input
uses: only files a committed manifest lists, each verified (size and SHA-256) before it is scanned.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import polars as pl

from medallion_assets.lake import LAYERS, Lake
from medallion_resources.errors import UnknownNameError
from medallion_resources.io_managers import SILVER_DEFAULT_ARTIFACT
from medallion_resources.lake.dataset import Dataset
from medallion_resources.lake.layout import DEFAULT_ARTIFACT

__all__ = ["read"]


def read(
    name: str,
    layer: str = "silver",
    artifact: str | None = None,
    as_of: date | datetime | str | None = None,
    config_dir: str | Path | None = None,
    verify: bool = True,
) -> pl.LazyFrame:
    """A LazyFrame over one artifact of a source's latest committed partition (on or before ``as_of``).

    Args:
        name: the source's name, as ``medallion list`` shows it (``retail_orders``).
        layer: ``silver`` (default) or ``bronze``.
        artifact: ``current`` (the Silver default), ``history``, ``snapshot``, ``events`` or ``errors``
            (the quarantined rows); Bronze has ``data`` (its default).
        as_of: a date (or ISO string): the latest committed partition on or before it; None: the latest.
        config_dir: the config directory (default ``MEDALLION_CONFIG_DIR`` or ``configs/``).
        verify: check every file's SHA-256 against the manifest before it is scanned (default); False
            checks sizes only.

    Raises ``NotCommittedError`` (no committed partition; the message lists what is committed),
    ``UnknownNameError`` (an unknown source, layer or artifact, listing the known ones) and
    ``IntegrityError`` (a file differs from its manifest).

    Example::

        import medallion_assets
        orders = medallion_assets.read("retail_orders", as_of="2025-01-02")
        orders.filter(pl.col("status") == "paid").collect()
    """
    if layer not in LAYERS:
        raise UnknownNameError("layer", layer, LAYERS, known="layers")
    lake = Lake.load(config_dir)
    if name not in lake.specs:
        raise UnknownNameError("source", name, lake.specs, known="sources")
    spec = lake.spec(name)
    dataset = Dataset(lake.io(layer).backend, lake.dataset_path(spec, layer), layer, name)
    part = dataset.require_latest(_as_date(as_of))
    default = DEFAULT_ARTIFACT if layer == "bronze" else SILVER_DEFAULT_ARTIFACT
    return dataset.scan([part], artifact or default, verify=verify)


def _as_date(value: date | datetime | str | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise ValueError(f"as_of must be a date or an ISO date (YYYY-MM-DD), got {value!r}") from None
