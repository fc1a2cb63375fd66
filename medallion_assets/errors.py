"""The exception hierarchy of medallion; it lives in :mod:`medallion_resources.errors` (the lower package).

Kept importable here (``from medallion_assets.errors import ConfigError``) as part of the public contract.
"""

from medallion_resources.errors import *  # noqa: F403
from medallion_resources.errors import __all__ as __all__
