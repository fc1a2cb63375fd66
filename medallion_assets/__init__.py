"""The upper layer: config, specs, extractors, Silver models, Dagster assets and orchestration, the CLI.

``medallion_assets.read(name, ...)`` reads the lake from Python (:mod:`medallion_assets.reader`); it is
imported on first use, so importing a subpackage stays light.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from medallion_assets.reader import read

__all__ = ["read"]


def __getattr__(name: str) -> Any:
    if name == "read":
        from medallion_assets.reader import read

        return read
    raise AttributeError(f"module 'medallion_assets' has no attribute {name!r}")
