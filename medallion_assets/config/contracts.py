"""What config validation asks the registries: the contract a selected extractor or Silver model declares.

``source.type`` and ``silver.model`` are not fixed lists: they name members of the extractor and Silver
model registries, and what a member needs (its settings section, the load patterns it serves, the
``silver`` keys it requires or reads) is declared on its class. The registries are imported when first used
(they import the config models).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from pydantic_core import PydanticCustomError

from medallion_assets.config.base import ModelOption
from medallion_assets.errors import PluginError, UnknownNameError

if TYPE_CHECKING:
    from medallion_assets.extractors.base import Extractor
    from medallion_assets.silver.base import SilverModel

__all__ = [
    "errors_in_one_line",
    "extractor_contract",
    "extractor_types",
    "models_phrase",
    "models_where",
    "reads_option",
    "registry_enum",
    "silver_model_contract",
    "silver_model_names",
]


def extractor_contract(type_name: str) -> type[Extractor]:
    """The registered extractor class of ``source.type``, whose class attributes are its contract."""
    from medallion_assets.extractors.registry import extractor_class

    return _registered(extractor_class, type_name)


def silver_model_contract(name: str) -> type[SilverModel]:
    """The registered Silver model class of ``silver.model``, whose class attributes are its contract."""
    from medallion_assets.silver.registry import silver_model_class

    return _registered(silver_model_class, name)


def _registered(lookup: Callable[[str], Any], name: str) -> Any:
    """``lookup(name)``, its errors turned into validation errors the loader reports at the key."""
    try:
        return lookup(name)
    except UnknownNameError as exc:
        # Reported like a Literal: the loader adds "did you mean" and the allowed names, from the registry.
        expected = " or ".join(", ".join(f"'{n}'" for n in exc.allowed).rsplit(", ", 1))
        raise PydanticCustomError(
            "literal_error", "Input should be {expected}", {"expected": expected}
        ) from None
    except (PluginError, NotImplementedError) as exc:
        raise ValueError(str(exc)) from exc


def registry_enum(names: Callable[[], list[str]]) -> Callable[[dict[str, Any]], None]:
    """JSON Schema hook: the string's allowed values are the registry's names when the schema is made."""

    def extra(schema: dict[str, Any]) -> None:
        for branch in schema.get("anyOf", [schema]):
            if branch.get("type") == "string":
                branch["enum"] = names()

    return extra


def extractor_types() -> list[str]:
    from medallion_assets.extractors.registry import extractor_types

    return extractor_types()


def silver_model_names() -> list[str]:
    from medallion_assets.silver.registry import silver_model_names

    return silver_model_names()


def errors_in_one_line(exc: ValidationError) -> str:
    """A nested model's errors in one line: ``key.path: message`` each."""
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}"
        for err in exc.errors(include_url=False)
    )


def models_where(test: Callable[[type[SilverModel]], bool]) -> list[str]:
    """The registry's models whose contract passes ``test`` (for hints; plugins that fail to load are left
    out here: they are reported where a config selects them)."""
    fits = []
    for name in silver_model_names():
        try:
            if test(silver_model_contract(name)):
                fits.append(name)
        except ValueError:
            continue
    return fits


def reads_option(key: ModelOption, model: type[SilverModel]) -> bool:
    return key in model.options


def models_phrase(names: list[str]) -> str:
    if len(names) == 1:
        return f"model '{names[0]}'"
    return "models " + ", ".join(f"'{n}'" for n in names) if names else "no registered model"
