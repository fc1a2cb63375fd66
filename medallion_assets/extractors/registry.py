"""One typed registry of extractor classes, keyed by ``source.type``; plugins register into it."""

from __future__ import annotations

from medallion_assets.config.models import PlatformConfig, SourceEntry
from medallion_assets.extractors.base import Extractor

__all__ = ["create_extractor", "register_extractor", "registered_extractors"]

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


def create_extractor(entry: SourceEntry, platform: PlatformConfig) -> Extractor:
    """Build the extractor for one source (``custom`` resolves its class from the config)."""
    _load_builtins()
    if entry.source.type == "custom":
        from medallion_assets.extractors.custom import resolve_custom_class

        cls = resolve_custom_class(entry)
    else:
        try:
            cls = _EXTRACTORS[entry.source.type]
        except KeyError:
            known = ", ".join(sorted(_EXTRACTORS)) or "none"
            raise NotImplementedError(
                f"source '{entry.source_name}': no extractor for type '{entry.source.type}' in this "
                f"version (available: {known})"
            ) from None
    return cls(entry, platform)


def _load_builtins() -> None:
    # Importing the modules runs their @register_extractor decorators.
    import medallion_assets.extractors.api  # noqa: F401
    import medallion_assets.extractors.db  # noqa: F401
    import medallion_assets.extractors.file  # noqa: F401
