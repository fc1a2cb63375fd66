"""The Dagster code location: ``dagster dev`` (via workspace.yaml) loads ``defs`` from here.

The config directory is ``MEDALLION_CONFIG_DIR`` or ``configs/`` (see ``medallion_assets.config.loader``).
"""

from medallion_assets.factory import load_definitions

__all__ = ["defs"]

defs = load_definitions()
