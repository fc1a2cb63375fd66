"""The demo project's own Gold assets: Dagster assets in Python, downstream of the generated Silver assets.

Add a module here (or anywhere importable) and list it below; ``definitions.py`` at the project root merges
these assets with the ones medallion generates from ``configs/``, so both live in one code location
(docs/reading.md, "Your own Gold assets").
"""

import dagster as dg

from gold import sales

__all__ = ["assets"]

assets = list(dg.load_assets_from_modules([sales]))
