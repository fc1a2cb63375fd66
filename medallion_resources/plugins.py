"""The one entry-point loader: a registry asks for a name, the installed plugin providing it is imported.

Every plugin family (storage backends, extractor types, Silver models) publishes into its own entry-point
group and is loaded by name, only when a config asks for that name, so one broken plugin cannot break a
project that does not use it::

    [project.entry-points."medallion.silver_models"]
    daily_counts = "acme_lake.silver:DailyCounts"

Callers wrap :class:`EntryPointError` in their own domain error, which adds where the name was asked for.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Generic, TypeVar, cast

from medallion_resources.errors import PluginError, UnknownNameError

__all__ = ["ClassRegistry", "EntryPointError", "entry_point_names", "load_entry_point"]

T = TypeVar("T")


class EntryPointError(ImportError):
    """An installed entry point exists but cannot be imported; the message names group, name and target."""

    def __init__(self, group: str, name: str, value: str, cause: BaseException) -> None:
        self.group, self.name, self.value = group, name, value
        self.reason = f"{type(cause).__name__}: {cause}"
        super().__init__(
            f"entry point '{name} = {value}' in group '{group}' cannot be loaded: {self.reason} "
            "(hint: reinstall the plugin package, or uninstall it)"
        )


def entry_point_names(group: str) -> set[str]:
    """Names published in ``group`` by the installed distributions (nothing is imported)."""
    return {ep.name for ep in entry_points(group=group)}


def load_entry_point(group: str, name: str) -> tuple[object, str] | None:
    """Import what entry point ``name`` of ``group`` points to: (the object, its ``module:attr`` target).

    ``None`` when no installed distribution publishes that name.

    Raises:
        EntryPointError: importing the plugin failed, for whatever reason its code gives.
    """
    for ep in entry_points(group=group, name=name):
        try:
            return ep.load(), ep.value
        except Exception as exc:  # a plugin's import may fail in any way; say which plugin and why
            raise EntryPointError(group, name, ep.value, exc) from exc
    return None


class ClassRegistry(Generic[T]):
    """The one registry shape: ``name -> class`` of one plugin family, with its entry-point group.

    Members are subclasses of ``base`` whose ``name_attr`` class attribute is their name; their other class
    attributes are the family's contract, which callers (config validation) read from the class. Plugins
    register with :meth:`register` (usable as a class decorator) or publish an entry point in ``group``,
    imported by :meth:`get` the first time a config names it. ``key`` is the config key that selects a
    member (``silver.model``, ``source.type``), for the messages.
    """

    def __init__(
        self,
        *,
        base: type,  # the family's (abstract) base class: type[T] would refuse an abstract class
        key: str,
        group: str,
        name_attr: str,
        known: str,
        abstract_hint: str,
        builtins: Callable[[], None] | None = None,
        replace: bool = False,
    ) -> None:
        self.base, self.key, self.group, self.name_attr = base, key, group, name_attr
        self.known, self.abstract_hint, self.replace = known, abstract_hint, replace
        self._builtins = builtins
        self.members: dict[str, type[T]] = {}

    def register(self, cls: type[T]) -> type[T]:
        """Add ``cls`` under its name (``replace=False``: a name taken by another class is an error)."""
        name = getattr(cls, self.name_attr, "")
        if not name:
            raise ValueError(f"{cls.__qualname__} must set a non-empty '{self.name_attr}' to register")
        taken = self.members.get(name)
        if taken is not None and taken is not cls and not self.replace:
            raise ValueError(
                f"{self.key} name '{name}' is already taken by {taken.__module__}.{taken.__qualname__}"
            )
        self.members[name] = cls
        return cls

    def names(self) -> list[str]:
        """Every name the key accepts: registered members and installed (not yet imported) plugins."""
        self._load_builtins()
        return sorted({*self.members, *entry_point_names(self.group)})

    def get(self, name: str) -> type[T]:
        """The class ``name`` selects, importing the plugin that provides it if need be.

        Raises:
            UnknownNameError: no member has that name (lists the known names).
            PluginError: the plugin cannot be imported or does not give a valid member class.
        """
        self._load_builtins()
        cls = self.members.get(name) or self._load_plugin(name)
        if cls is None:
            raise UnknownNameError(self.key, name, self.names(), known=self.known)
        return cls

    def _load_builtins(self) -> None:
        if self._builtins is not None:
            load, self._builtins = self._builtins, None
            load()

    def _load_plugin(self, name: str) -> type[T] | None:
        try:
            loaded = load_entry_point(self.group, name)
        except EntryPointError as exc:
            raise PluginError(f"{self.key} '{name}': {exc}") from exc
        if loaded is None:
            return None
        found, target = loaded
        where = f"{self.key} '{name}': entry point '{name}' ({target}) in group '{self.group}'"
        base = f"{self.base.__module__}.{self.base.__qualname__}"
        if not (inspect.isclass(found) and issubclass(found, self.base)):
            raise PluginError(f"{where} is {found!r}, not a subclass of {base} (hint: point it at the class)")
        if inspect.isabstract(found):
            raise PluginError(f"{where} is {found.__qualname__}, an abstract class; {self.abstract_hint}")
        own = getattr(found, self.name_attr, "")
        if own not in ("", name):
            raise PluginError(
                f"{where} is {found.__qualname__}, whose {self.name_attr} is '{own}'; the entry point name "
                f"and the class's '{self.name_attr}' must be the same"
            )
        member = cast("type[T]", found)
        self.members[name] = member
        return member
