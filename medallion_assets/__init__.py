"""The upper layer: config, specs, extractors, Silver models, Dagster assets and orchestration, the CLI.

``MedallionSources`` (the dg component, :mod:`medallion_assets.component`) is exported here, the registry
module dg lists components from, and ``medallion_assets.read(name, ...)`` reads the lake from Python
(:mod:`medallion_assets.reader`). Both are imported on first use, so ``import medallion_assets`` (and the
``medallion`` CLI) stays free of Dagster's import cost.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from medallion_assets.component import MedallionSources
    from medallion_assets.reader import read

__all__ = ["MedallionSources", "read"]


def __getattr__(name: str) -> Any:
    if name == "MedallionSources":
        from medallion_assets.component import MedallionSources

        return MedallionSources
    if name == "read":
        from medallion_assets.reader import read

        return read
    raise AttributeError(f"module 'medallion_assets' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
