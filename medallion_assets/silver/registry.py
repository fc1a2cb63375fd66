"""The registry of Silver models: ``silver.model`` resolves here, through one factory.

::

    silver:
      model: scd_type_1      # a key of SILVER_MODELS

Models named by the config contract (DESIGN §6) but not shipped yet are known here too, so that their
statefulness (the self-dependency the asset factory adds) is right from the start and choosing one fails
with a message that says what to use meanwhile. A plugin adds a model with :func:`register_silver_model`.
"""

from __future__ import annotations

from medallion_assets.config.models import SilverConfig
from medallion_assets.silver.base import SilverModel
from medallion_assets.silver.cdc import Cdc
from medallion_assets.silver.event_log import EventLog
from medallion_assets.silver.scd1 import ScdType1
from medallion_assets.silver.scd2 import ScdType2
from medallion_assets.silver.snapshot import PeriodicSnapshot

__all__ = ["PLANNED_MODELS", "SILVER_MODELS", "create_silver_model", "is_stateful", "register_silver_model"]

SILVER_MODELS: dict[str, type[SilverModel]] = {
    PeriodicSnapshot.name: PeriodicSnapshot,
    ScdType1.name: ScdType1,
    ScdType2.name: ScdType2,
    Cdc.name: Cdc,
    EventLog.name: EventLog,
}

# Known models that arrive in a later release: what to use for now. All of them read Silver D-1.
PLANNED_MODELS: dict[str, str] = {}


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
    PLANNED_MODELS.pop(model.name, None)
    return model


def create_silver_model(name: str, config: SilverConfig) -> SilverModel:
    """The model ``silver.model: <name>`` selects, built with its config.

    Raises:
        NotImplementedError: ``name`` is a model of the contract that arrives in a later release.
        ValueError: ``name`` is not a known model.
    """
    if name in SILVER_MODELS:
        return SILVER_MODELS[name](config)
    if name in PLANNED_MODELS:
        raise NotImplementedError(f"silver.model '{name}' arrives in a later release; {PLANNED_MODELS[name]}")
    raise ValueError(f"unknown silver.model '{name}'; known models: {_known()}")


def is_stateful(name: str) -> bool:
    """Whether model ``name`` reads its own previous partition (Silver D-1).

    Raises:
        ValueError: ``name`` is not a known model.
    """
    if name in SILVER_MODELS:
        return SILVER_MODELS[name].stateful
    if name in PLANNED_MODELS:
        return True
    raise ValueError(f"unknown silver.model '{name}'; known models: {_known()}")


def _known() -> str:
    return ", ".join(sorted({*SILVER_MODELS, *PLANNED_MODELS}))
