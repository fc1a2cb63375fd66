"""The upper layer: config, specs, extractors, Silver models, Dagster assets and orchestration, the CLI.

``MedallionSources`` (the dg component, :mod:`medallion_assets.component`) is exported here, the registry
module dg lists components from; it is imported on first use, so ``import medallion_assets`` (and the
``medallion`` CLI) stays free of Dagster's import cost.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MedallionSources"]


def __getattr__(name: str) -> Any:
    if name == "MedallionSources":
        from medallion_assets.component import MedallionSources

        return MedallionSources
    raise AttributeError(f"module 'medallion_assets' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
