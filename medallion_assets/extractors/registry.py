"""One typed registry of extractor classes, keyed by ``source.type``; plugins register into it.

The registry is the single truth about its members: config validation asks :func:`extractor_class` for
the class of ``source.type`` and reads its contract (``section``, ``options_model``, ``load_patterns``), so
a type is selectable from YAML as soon as it is registered, with :func:`register_extractor` or an entry
point in the ``medallion.extractors`` group (imported only when a config names it)::

    [project.entry-points."medallion.extractors"]
    sftp = "acme_lake.sftp:SftpExtractor"     # source.type: sftp (or custom_extractor.entry_point: sftp)
"""

from __future__ import annotations

import inspect

from medallion_assets.config.models import PlatformConfig, SourceEntry
from medallion_assets.errors import PluginError, UnknownNameError
from medallion_assets.extractors.base import Extractor
from medallion_resources.plugins import EntryPointError, entry_point_names, load_entry_point

__all__ = [
    "ENTRY_POINT_GROUP",
    "create_extractor",
    "extractor_class",
    "extractor_types",
    "register_extractor",
    "registered_extractors",
]

ENTRY_POINT_GROUP = "medallion.extractors"

_EXTRACTORS: dict[str, type[Extractor]] = {}


def register_extractor(cls: type[Extractor]) -> type[Extractor]:
    """Class decorator: make ``cls`` the extractor for ``source.type == cls.type_name``."""
    if not cls.type_name:
        raise ValueError(f"{cls.__name__} must set type_name to register")
    _EXTRACTORS[cls.type_name] = cls
    return cls


def registered_extractors() -> dict[str, type[Extractor]]:
    _load_builtins()
    return dict(_EXTRACTORS)


def extractor_types() -> list[str]:
    """Every name ``source.type`` accepts: registered types and installed (not yet imported) plugins."""
    _load_builtins()
    return sorted({*_EXTRACTORS, *entry_point_names(ENTRY_POINT_GROUP)})


def extractor_class(type_name: str) -> type[Extractor]:
    """The class ``source.type: <type_name>`` selects, importing the plugin that provides it if need be.

    Raises:
        UnknownNameError: no extractor has that type (a ``ValueError``; lists the known types).
        PluginError: the plugin providing it cannot be imported or is not a valid extractor class.
    """
    _load_builtins()
    cls = _EXTRACTORS.get(type_name) or _load_plugin(type_name)
    if cls is None:
        raise UnknownNameError("source.type", type_name, extractor_types(), known="known types")
    return cls


def create_extractor(entry: SourceEntry, platform: PlatformConfig) -> Extractor:
    """Build the extractor for one source (``custom`` resolves its class from the config)."""
    cls = extractor_class(entry.source.type).resolve(entry)
    return cls(entry, platform)


def _load_plugin(type_name: str) -> type[Extractor] | None:
    """Import the ``medallion.extractors`` entry point ``type_name`` (if installed) and register its class."""
    try:
        loaded = load_entry_point(ENTRY_POINT_GROUP, type_name)
    except EntryPointError as exc:
        raise PluginError(f"source.type '{type_name}': {exc}") from exc
    if loaded is None:
        return None
    found, target = loaded
    where = f"source.type '{type_name}': entry point '{type_name}' ({target}) in group '{ENTRY_POINT_GROUP}'"
    if not (inspect.isclass(found) and issubclass(found, Extractor)):
        raise PluginError(
            f"{where} is {found!r}, not a subclass of medallion_assets.extractors.Extractor "
            "(hint: point the entry point at the extractor class)"
        )
    if inspect.isabstract(found):
        raise PluginError(f"{where} is {found.__qualname__}, an abstract class; it must implement extract()")
    if found.type_name not in ("", type_name):
        raise PluginError(
            f"{where} is {found.__qualname__}, whose type_name is '{found.type_name}'; the entry point name "
            "and the class's type_name must be the same"
        )
    _EXTRACTORS[type_name] = found
    return found


def _load_builtins() -> None:
    # Importing the modules runs their @register_extractor decorators.
    import medallion_assets.extractors.api  # noqa: F401
    import medallion_assets.extractors.custom  # noqa: F401
    import medallion_assets.extractors.db  # noqa: F401
    import medallion_assets.extractors.file  # noqa: F401
