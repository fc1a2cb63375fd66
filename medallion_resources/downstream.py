"""What a user's asset downstream of Bronze or Silver receives: a LazyFrame over committed, verified files.

Every input an IO manager loads is a reader downstream (a Gold asset; the Silver asset reads its own
Bronze D and D-1 through the IO managers as resources, not as inputs): docs/reading.md. The input's
metadata may pick the artifact (``artifact``; Silver ``current`` unless set, Bronze ``data``) and turn off
SHA-256 verification (``verify: false``).
"""

from __future__ import annotations

from typing import Any

import dagster as dg
import polars as pl

from medallion_resources.lake.dataset import Dataset
from medallion_resources.storage.base import StorageBackend

__all__ = ["ARTIFACT_KEY", "VERIFY_KEY", "downstream_input"]

# Input metadata of an asset downstream: the artifact to read and whether to verify SHA-256s (default true).
ARTIFACT_KEY, VERIFY_KEY = "artifact", "verify"


def downstream_input(
    backend: StorageBackend, layer: str, dataset_path: str, context: dg.InputContext, default_artifact: str
) -> Any:
    """What an asset downstream reads: a LazyFrame over one artifact of the partitions it maps to.

    A partitioned asset reads the upstream partitions its partition mapping gives (the same day for a
    daily asset; a range run or a coarser partition gets the union of those days, in date order); an
    unpartitioned one reads the latest committed partition. The input's annotation picks the shape:
    ``pl.LazyFrame`` (or none), ``pl.DataFrame`` (collected), ``dict[str, pl.LazyFrame]`` (per partition).
    """
    options = context.definition_metadata or {}
    artifact = str(_plain(options.get(ARTIFACT_KEY, default_artifact)))
    verify = _plain(options.get(VERIFY_KEY, True)) not in (False, "false", "False", "no", 0)
    dataset = Dataset(backend, dataset_path, layer, f"asset {context.asset_key.to_user_string()}")
    if _downstream_partitioned(context):
        # None or an empty subset: the mapping gives no upstream day (D-1 of the first one)
        keys = context.asset_partition_keys if context.has_asset_partitions else []
        parts = {key: dataset.require(key) for key in sorted(keys)}
    else:
        latest = dataset.require_latest()
        parts = {latest.manifest.run_date: latest}
    shape = _annotated_shape(context)
    if shape is dict:
        return {key: dataset.scan([part], artifact, verify=verify) for key, part in parts.items()}
    frame = dataset.scan(list(parts.values()), artifact, verify=verify)
    return frame.collect() if shape is pl.DataFrame else frame


def _downstream_partitioned(context: dg.InputContext) -> bool:
    """Whether the asset reading the input is partitioned (not just the run)."""
    try:
        return context.step_context.entity_partitions_def is not None
    except Exception:  # noqa: BLE001 - an input context built outside a step (tests): the run decides
        return context.has_partition_key


def _annotated_shape(context: dg.InputContext) -> type | None:
    """``dict``, ``pl.DataFrame`` or None (a LazyFrame) from the input's type annotation."""
    try:
        typing_type = context.dagster_type.typing_type
    except Exception:  # noqa: BLE001 - no Dagster type: the default shape
        return None
    if typing_type is pl.DataFrame:
        return pl.DataFrame
    origin = getattr(typing_type, "__origin__", typing_type)
    return dict if origin is dict else None


def _plain(value: Any) -> Any:
    """A metadata entry's Python value (``AssetIn(metadata=...)`` may hold MetadataValue wrappers)."""
    return getattr(value, "value", value)
