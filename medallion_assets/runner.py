"""Materialize one source's partition through Dagster, for the CLI and the demo.

Each call is a real Dagster run on the given (persistent) instance, so runs started from the CLI show up
in the UI with their materialization metadata, exactly like runs launched there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import dagster as dg

from medallion_assets.assets import build_assets
from medallion_assets.instance import process_tags
from medallion_assets.lake import Lake
from medallion_assets.specs import BRONZE_IO_MANAGER, SILVER_IO_MANAGER, SourceSpec

__all__ = ["LayerOutcome", "PartitionOutcome", "materialize_partition", "user_message"]

# The CLI prints its own one-line outcome per partition; Dagster's console log would repeat failures with
# their stack traces (they stay in the run's event log, visible in the UI).
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


@dataclass(frozen=True)
class LayerOutcome:
    rows: int  # of the main artifact (``dagster/partition_row_count``), as ``medallion inspect`` shows
    files: int
    quarantined: int = 0


@dataclass
class PartitionOutcome:
    layers: dict[str, LayerOutcome] = field(default_factory=dict)
    error: str | None = None
    failed_layer: str | None = None


def materialize_partition(
    lake: Lake, spec: SourceSpec, run_date: date, layers: tuple[str, ...], instance: dg.DagsterInstance
) -> PartitionOutcome:
    assets = build_assets([spec], lake.config.platform)
    keys = {"bronze": spec.bronze_key, "silver": spec.silver_key}
    result = dg.materialize(
        assets,
        selection=[keys[layer] for layer in layers],
        partition_key=run_date.isoformat(),
        instance=instance,
        resources={BRONZE_IO_MANAGER: lake.bronze, SILVER_IO_MANAGER: lake.silver},
        run_config=QUIET,
        raise_on_error=False,
        tags={**spec.run_tags, **process_tags()},  # a killed CLI's run is found dead by these
    )
    outcome = PartitionOutcome()
    for event in result.get_asset_materialization_events():
        mat = event.materialization
        layer = mat.asset_key.path[0]
        meta = mat.metadata
        rows = _value(meta.get("dagster/partition_row_count"), 0)
        files = len(_value(meta.get("files"), []))
        quarantined = int(_value(meta.get("quarantined"), 0))
        outcome.layers[layer] = LayerOutcome(rows=int(rows), files=files, quarantined=quarantined)
    if not result.success:
        for event in result.all_events:
            if event.is_step_failure:
                data = event.step_failure_data
                outcome.failed_layer = (event.step_key or "").split("__", 1)[0] or None
                outcome.error = user_message(data.error) if data and data.error else "step failed"
                break
        outcome.error = outcome.error or "run failed"
    return outcome


def _value(entry: Any, default: Any) -> Any:
    return default if entry is None else getattr(entry, "value", entry)


def user_message(error: Any) -> str:
    """The first error in the chain that is not Dagster's wrapper: ours say where, what and how to fix.

    A plain ``dagster.Failure`` (what the IO managers raise so the UI shows the root cause first) is a
    wrapper too: its cause carries the error's own class.
    """
    chain = []
    while error is not None:
        chain.append(error)
        error = getattr(error, "cause", None)
    for candidate in chain:
        name = candidate.cls_name or ""
        if not name.startswith("Dagster") and not (name == "Failure" and candidate.cause is not None):
            return _short(candidate)
    return _short(chain[-1])


def _short(error: Any) -> str:
    """``SilverInputError: ...`` rather than ``medallion_assets.errors.SilverInputError: ...``."""
    text = error.message.strip()
    qualified, sep, rest = text.partition(": ")
    if sep and error.cls_name and qualified.rsplit(".", 1)[-1] == error.cls_name:
        return f"{error.cls_name}: {rest}"
    return text
