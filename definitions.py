"""The demo project's Dagster code location: the assets medallion makes from ``configs/`` plus Gold assets.

``workspace.yaml`` loads this file (``dagster dev``, ``make ui``); so can ``dagster asset materialize -f
definitions.py``. Your own project does the same: one file that merges
``medallion_assets.factory.load_definitions()`` (Bronze and Silver from YAML) with your Python assets
(docs/reading.md, "Your own Gold assets").
"""

import warnings

import dagster as dg

import gold
from medallion_assets.factory import load_definitions


def _gold_assets(generated: dg.Definitions) -> list[dg.AssetsDefinition]:
    """The demo's Gold assets read the sample sources. With another config (``MEDALLION_CONFIG_DIR``) that
    lacks their inputs they are left out, with a warning, instead of failing the whole code location."""
    keys = {k for a in generated.assets or [] if isinstance(a, dg.AssetsDefinition) for k in a.keys}
    kept = []
    for asset in gold.assets:
        missing = sorted(k.to_user_string() for k in asset.dependency_keys - keys - set(asset.keys))
        if missing:
            name = asset.key.to_user_string()
            warnings.warn(f"Gold asset {name} left out: {', '.join(missing)} not in the config", stacklevel=2)
        else:
            kept.append(asset)
    return kept


def _definitions() -> dg.Definitions:
    generated = load_definitions()
    return dg.Definitions.merge(generated, dg.Definitions(assets=_gold_assets(generated)))


defs = _definitions()
