"""The demo project's Dagster code location: medallion's assets from ``configs/`` plus the project's Gold assets.

``workspace.yaml`` loads this file (``dagster dev``, ``make ui``); so can ``dagster asset materialize -f
definitions.py``. Your own project does the same: one file that merges
``medallion_assets.factory.load_definitions()`` (Bronze and Silver from YAML) with your Python assets
(docs/reading.md, "Your own Gold assets").
"""

import warnings

import dagster as dg

import gold
from medallion_assets.factory import load_definitions

medallion = load_definitions()

# The demo's Gold assets read the sample sources. With another config (MEDALLION_CONFIG_DIR) that lacks
# their inputs they are left out, with a warning, instead of failing the whole code location.
generated = {key for asset in medallion.assets or [] if isinstance(asset, dg.AssetsDefinition) for key in asset.keys}
gold_assets = []
for asset in gold.assets:
    missing = sorted(k.to_user_string() for k in asset.dependency_keys - generated - set(asset.keys))
    if missing:
        warnings.warn(f"Gold asset {asset.key.to_user_string()} left out: {', '.join(missing)} not in the config")
    else:
        gold_assets.append(asset)

defs = dg.Definitions.merge(medallion, dg.Definitions(assets=gold_assets))
