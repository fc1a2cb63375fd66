"""One typed registry of extractor classes, keyed by ``source.type``; plugins register into it.

The registry is the single truth about its members: config validation asks :func:`extractor_class` for
the class of ``source.type`` and reads its contract (``section``, ``options_model``, ``load_patterns``), so
a type is selectable from YAML as soon as it is registered, with :func:`register_extractor` or an entry
point in the ``medallion.extractors`` group (imported only when a config names it)::

    [project.entry-points."medallion.extractors"]
    sftp = "acme_lake.sftp:SftpExtractor"     # source.type: sftp (or custom_extractor.entry_point: sftp)
"""

from __future__ import annotations

from medallion_assets.config.models import PlatformConfig, SourceEntry
from medallion_assets.extractors.base import Extractor
from medallion_resources.plugins import ClassRegistry

__all__ = [
    "ENTRY_POINT_GROUP",
    "EXTRACTORS",
    "create_extractor",
    "extractor_class",
    "extractor_types",
    "register_extractor",
    "registered_extractors",
]

ENTRY_POINT_GROUP = "medallion.extractors"


# Importing a module runs its @register_extractor decorator; each is imported when its type is first asked
# for (a run of file sources never loads the API extractor's HTTP client).
_BUILTINS = {name: f"medallion_assets.extractors.{name}" for name in ("api", "custom", "db", "file")}

_REGISTRY: ClassRegistry[Extractor] = ClassRegistry(
    base=Extractor,
    key="source.type",
    group=ENTRY_POINT_GROUP,
    name_attr="type_name",
    known="known types",
    abstract_hint="it must implement extract()",
    builtin_modules=_BUILTINS,
    replace=True,
)
EXTRACTORS = _REGISTRY.members  # source.type -> class (built-ins are added on first use)


def register_extractor(cls: type[Extractor]) -> type[Extractor]:
    """Class decorator: make ``cls`` the extractor for ``source.type == cls.type_name``."""
    return _REGISTRY.register(cls)


def registered_extractors() -> dict[str, type[Extractor]]:
    _REGISTRY.names()  # loads the built-in types
    return dict(_REGISTRY.members)


def extractor_types() -> list[str]:
    """Every name ``source.type`` accepts: registered types and installed (not yet imported) plugins."""
    return _REGISTRY.names()


def extractor_class(type_name: str) -> type[Extractor]:
    """The class ``source.type: <type_name>`` selects, importing the plugin that provides it if need be.

    Raises:
        UnknownNameError: no extractor has that type (a ``ValueError``; lists the known types).
        PluginError: the plugin providing it cannot be imported or is not a valid extractor class.
    """
    return _REGISTRY.get(type_name)


def create_extractor(entry: SourceEntry, platform: PlatformConfig) -> Extractor:
    """Build the extractor for one source (``custom`` resolves its class from the config)."""
    cls = extractor_class(entry.source.type).resolve(entry)
    return cls(entry, platform)
