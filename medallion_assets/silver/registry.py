"""The registry of Silver models: ``silver.model`` resolves here, through one factory.

::

    silver:
      model: scd_type_1      # a key of SILVER_MODELS, or an installed plugin's name

The registry is the single truth about its members: config validation asks :func:`silver_model_class` for
the class and reads its contract (``stateful``, ``load_patterns``, ``requires``, ``options``), so a model is
selectable from YAML as soon as it is registered, with :func:`register_silver_model` or an entry point in
the ``medallion.silver_models`` group (imported only when a config names it)::

    [project.entry-points."medallion.silver_models"]
    daily_counts = "acme_lake.silver:DailyCounts"
"""

from __future__ import annotations

from medallion_assets.config.models import SilverConfig
from medallion_assets.silver.base import SilverModel
from medallion_assets.silver.cdc import Cdc
from medallion_assets.silver.event_log import EventLog
from medallion_assets.silver.scd1 import ScdType1
from medallion_assets.silver.scd2 import ScdType2
from medallion_assets.silver.snapshot import PeriodicSnapshot
from medallion_resources.plugins import ClassRegistry

__all__ = [
    "ENTRY_POINT_GROUP",
    "SILVER_MODELS",
    "create_silver_model",
    "is_stateful",
    "register_silver_model",
    "silver_model_class",
    "silver_model_names",
]

ENTRY_POINT_GROUP = "medallion.silver_models"

_REGISTRY: ClassRegistry[SilverModel] = ClassRegistry(
    base=SilverModel,
    key="silver.model",
    group=ENTRY_POINT_GROUP,
    name_attr="name",
    known="known models",
    abstract_hint="it must implement apply()",
)
SILVER_MODELS = _REGISTRY.members
for _model in (PeriodicSnapshot, ScdType1, ScdType2, Cdc, EventLog):
    _REGISTRY.register(_model)


def register_silver_model(model: type[SilverModel]) -> type[SilverModel]:
    """Add a model class under its ``name``; usable as a class decorator.

    Raises:
        ValueError: The class has no ``name``, or the name is taken by another class.
    """
    return _REGISTRY.register(model)


def silver_model_names() -> list[str]:
    """Every name ``silver.model`` accepts: registered models and installed (not yet imported) plugins."""
    return _REGISTRY.names()


def silver_model_class(name: str) -> type[SilverModel]:
    """The class ``silver.model: <name>`` selects, importing the plugin that provides it if need be.

    Raises:
        UnknownNameError: no model has that name (a ``ValueError``; lists the known names).
        PluginError: the plugin providing ``name`` cannot be imported or is not a valid model class.
    """
    return _REGISTRY.get(name)


def create_silver_model(name: str, config: SilverConfig) -> SilverModel:
    """The model ``silver.model: <name>`` selects, built with its config (raises like silver_model_class)."""
    return silver_model_class(name)(config)


def is_stateful(name: str) -> bool:
    """Whether model ``name`` reads its own previous partition (Silver D-1).

    Raises:
        UnknownNameError: ``name`` is not a known model.
    """
    return silver_model_class(name).stateful
