"""Custom extractors: a user's own ``Extractor`` subclass, found by module path or entry point.

Selected by ``source.type: custom`` and one of::

    source:
      system: crm
      table: accounts
      type: custom
      custom_extractor:
        module: acme_lake.extractors      # importable module...
        class_name: AccountsExtractor     # ...and the class in it
        options: {region: eu, page_size: 500}

    custom_extractor:
      entry_point: crm_accounts           # or a name in the 'medallion.extractors' entry point group
      options: {region: eu}

The class is built like every extractor, with the whole ``SourceEntry`` and the ``PlatformConfig``;
``custom_extractor.options`` is where its settings go (no secrets: name environment variables instead).
A minimal one::

    from collections.abc import Iterator

    import pyarrow as pa

    from medallion_assets.extractors import CheckResult, ExtractContext, Extractor


    class AccountsExtractor(Extractor):
        @property
        def options(self) -> dict:
            return self.entry.source.custom_extractor.options

        def extract(self, ctx: ExtractContext) -> Iterator[pa.RecordBatch]:
            rows = fetch_accounts(region=self.options["region"], day=ctx.run_date)
            self.stats["batches"] = 1
            yield pa.RecordBatch.from_pylist(rows)

        def check(self) -> CheckResult:  # optional: used by `medallion check`
            return CheckResult(ok=True, detail="CRM reachable")

A package publishes it under an entry point so configs need not know the module::

    # pyproject.toml of the plugin
    [project.entry-points."medallion.extractors"]
    crm_accounts = "acme_lake.extractors:AccountsExtractor"
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from medallion_assets.config.models import CustomExtractorConfig, SourceEntry
from medallion_assets.errors import ExtractError
from medallion_assets.extractors.base import ExtractContext, Extractor
from medallion_assets.extractors.registry import ENTRY_POINT_GROUP, register_extractor
from medallion_resources.plugins import EntryPointError, entry_point_names, load_entry_point

__all__ = ["ENTRY_POINT_GROUP", "CustomExtractor", "resolve_custom_class"]


@register_extractor
class CustomExtractor(Extractor):
    """``type: custom``: stands for the class ``custom_extractor`` names, which ``resolve`` returns."""

    type_name = "custom"
    section = "custom_extractor"

    @classmethod
    def resolve(cls, entry: SourceEntry) -> type[Extractor]:
        return resolve_custom_class(entry)

    def extract(self, ctx: ExtractContext) -> Iterator[pa.RecordBatch]:
        raise ExtractError(f"source '{self.entry.source_name}': build type 'custom' with create_extractor()")


def resolve_custom_class(entry: SourceEntry) -> type[Extractor]:
    """The ``Extractor`` subclass ``custom_extractor`` names (by module + class, or by entry point).

    Raises:
        ExtractError: the module cannot be imported, the class or entry point does not exist, or what was
            found is not a concrete ``Extractor`` subclass. The message names the source and lists what is
            available.
    """
    config = entry.source.custom_extractor
    if config is None:
        raise ExtractError(f"source '{entry.source_name}': type 'custom' needs a 'custom_extractor:' section")
    if config.entry_point:
        found, where = _load_entry_point(entry.source_name, config.entry_point)
    else:
        found, where = _load_from_module(entry.source_name, config)
    return _checked_extractor_class(entry.source_name, found, where)


def _load_from_module(source: str, config: CustomExtractorConfig) -> tuple[Any, str]:
    module_name, class_name = config.module or "", config.class_name or ""
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ExtractError(
            f"source '{source}': custom_extractor.module '{module_name}' cannot be imported: {exc} "
            "(hint: install the package that provides it, or put its folder on PYTHONPATH)"
        ) from exc
    found: Any = module
    for part in class_name.split("."):
        found = getattr(found, part, None)
        if found is None:
            raise ExtractError(
                f"source '{source}': custom_extractor.class_name '{class_name}' not found in module "
                f"'{module_name}'; {_describe_classes(module)}"
            )
    return found, f"{module_name}.{class_name}"


def _load_entry_point(source: str, name: str) -> tuple[Any, str]:
    try:
        loaded = load_entry_point(ENTRY_POINT_GROUP, name)
    except EntryPointError as exc:
        raise ExtractError(
            f"source '{source}': custom_extractor.entry_point '{name}' ({exc.value}) cannot be "
            f"loaded: {exc.reason}"
        ) from exc
    if loaded is None:
        names = ", ".join(sorted(entry_point_names(ENTRY_POINT_GROUP))) or "none installed"
        raise ExtractError(
            f"source '{source}': custom_extractor.entry_point '{name}' is not registered in the "
            f"'{ENTRY_POINT_GROUP}' entry point group; available: {names}"
        )
    found, target = loaded
    return found, f"entry point '{name}' ({target})"


def _checked_extractor_class(source: str, found: Any, where: str) -> type[Extractor]:
    if not (inspect.isclass(found) and issubclass(found, Extractor)):
        kind = "a class" if inspect.isclass(found) else f"a {type(found).__name__}"
        raise ExtractError(
            f"source '{source}': {where} is {kind}, not a subclass of "
            "medallion_assets.extractors.Extractor (hint: subclass Extractor and implement extract())"
        )
    if inspect.isabstract(found):
        missing = ", ".join(sorted(getattr(found, "__abstractmethods__", ()))) or "extract"
        raise ExtractError(f"source '{source}': {where} is abstract; it must implement {missing}()")
    return found


def _describe_classes(module: Any) -> str:
    classes = sorted(
        name for name, value in vars(module).items() if inspect.isclass(value) and not name.startswith("_")
    )
    extractors = [
        name
        for name in classes
        if issubclass(vars(module)[name], Extractor) and vars(module)[name] is not Extractor
    ]
    if extractors:
        return f"Extractor subclasses there: {', '.join(extractors)}"
    if classes:
        return f"it has no Extractor subclass; public classes there: {', '.join(classes)}"
    return "it defines no public classes"
