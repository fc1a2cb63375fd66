"""The demo project's Dagster code location: medallion's assets from ``configs/`` plus the project's Gold assets.

``workspace.yaml`` loads this file (``dagster dev``, ``make ui``); ``dagster asset materialize -f
definitions.py`` does too. Your own project does the same: one file that merges
``medallion_assets.factory.load_definitions()`` (Bronze and Silver from YAML) with your Python assets.
"""

import dagster as dg

import gold
from medallion_assets.factory import load_definitions

defs = dg.Definitions.merge(load_definitions(), gold.defs)
