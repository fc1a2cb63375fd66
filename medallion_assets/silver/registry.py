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

import inspect

from medallion_assets.config.models import SilverConfig
from medallion_assets.errors import PluginError, UnknownNameError
from medallion_assets.silver.base import SilverModel
from medallion_assets.silver.cdc import Cdc
from medallion_assets.silver.event_log import EventLog
from medallion_assets.silver.scd1 import ScdType1
from medallion_assets.silver.scd2 import ScdType2
from medallion_assets.silver.snapshot import PeriodicSnapshot
from medallion_resources.plugins import EntryPointError, entry_point_names, load_entry_point

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

SILVER_MODELS: dict[str, type[SilverModel]] = {
    PeriodicSnapshot.name: PeriodicSnapshot,
    ScdType1.name: ScdType1,
    ScdType2.name: ScdType2,
    Cdc.name: Cdc,
    EventLog.name: EventLog,
}


def register_silver_model(model: type[SilverModel]) -> type[SilverModel]:
    """Add a model class under its ``name``; usable as a class decorator.

    Raises:
        ValueError: The class has no ``name``, or the name is taken by another class.
    """
    if not model.name:
        raise ValueError(f"Silver model class {model.__qualname__} needs a non-empty 'name'")
    taken = SILVER_MODELS.get(model.name)
    if taken is not None and taken is not model:
        raise ValueError(
            f"Silver model name '{model.name}' is already taken by {taken.__module__}.{taken.__qualname__}"
        )
    SILVER_MODELS[model.name] = model
    return model


def silver_model_names() -> list[str]:
    """Every name ``silver.model`` accepts: registered models and installed (not yet imported) plugins."""
    return sorted({*SILVER_MODELS, *entry_point_names(ENTRY_POINT_GROUP)})


def silver_model_class(name: str) -> type[SilverModel]:
    """The class ``silver.model: <name>`` selects, importing the plugin that provides it if need be.

    Raises:
        UnknownNameError: no model has that name (a ``ValueError``; lists the known names).
        PluginError: the plugin providing ``name`` cannot be imported or is not a valid model class.
    """
    model = SILVER_MODELS.get(name) or _load_plugin(name)
    if model is not None:
        return model
    raise UnknownNameError("silver.model", name, silver_model_names(), known="known models")


def create_silver_model(name: str, config: SilverConfig) -> SilverModel:
    """The model ``silver.model: <name>`` selects, built with its config (raises like silver_model_class)."""
    return silver_model_class(name)(config)


def is_stateful(name: str) -> bool:
    """Whether model ``name`` reads its own previous partition (Silver D-1).

    Raises:
        UnknownNameError: ``name`` is not a known model.
    """
    return silver_model_class(name).stateful


def _load_plugin(name: str) -> type[SilverModel] | None:
    """Import the ``medallion.silver_models`` entry point ``name`` (if installed) and register its class."""
    try:
        loaded = load_entry_point(ENTRY_POINT_GROUP, name)
    except EntryPointError as exc:
        raise PluginError(f"silver.model '{name}': {exc}") from exc
    if loaded is None:
        return None
    found, target = loaded
    where = f"silver.model '{name}': entry point '{name}' ({target}) in group '{ENTRY_POINT_GROUP}'"
    if not (inspect.isclass(found) and issubclass(found, SilverModel)):
        raise PluginError(
            f"{where} is {found!r}, not a subclass of medallion_assets.silver.base.SilverModel "
            "(hint: point the entry point at the model class)"
        )
    if inspect.isabstract(found):
        raise PluginError(f"{where} is {found.__qualname__}, an abstract class; it must implement apply()")
    if found.name != name:
        raise PluginError(
            f"{where} is {found.__qualname__}, whose name is '{found.name}'; the entry point name and the "
            "class's 'name' must be the same"
        )
    return register_silver_model(found)
