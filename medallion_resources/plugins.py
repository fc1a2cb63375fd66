"""The one entry-point loader: a registry asks for a name, the installed plugin providing it is imported.

Every plugin family (storage backends, extractor types, Silver models) publishes into its own entry-point
group and is loaded by name, only when a config asks for that name, so one broken plugin cannot break a
project that does not use it::

    [project.entry-points."medallion.silver_models"]
    daily_counts = "acme_lake.silver:DailyCounts"

Callers wrap :class:`EntryPointError` in their own domain error, which adds where the name was asked for.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from typing import Generic, TypeVar, cast

from medallion_resources.errors import PluginError, UnknownNameError

__all__ = ["ClassRegistry", "EntryPointError", "Registry", "entry_point_names", "load_entry_point"]

T = TypeVar("T")
M = TypeVar("M")


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


class Registry(Generic[M]):
    """The one registry shape: ``name -> member`` of one plugin family, with its entry-point group.

    ``key`` is the config key that selects a member (``silver.model``, ``source.type``,
    ``storage_backend``), for the messages. Plugins register in code with :meth:`register` or publish an
    entry point in ``group``, imported by :meth:`get` the first time a config names it; what an entry
    point must give is the family's contract, checked by :meth:`_accept`. Unknown names raise
    :class:`UnknownNameError` with the allowed names from the registry.
    """

    def __init__(
        self,
        *,
        key: str,
        group: str,
        known: str,
        builtins: Callable[[], None] | None = None,
        builtin_modules: Mapping[str, str] | None = None,
        replace: bool = False,
    ) -> None:
        self.key, self.group, self.known, self.replace = key, group, known, replace
        self._builtins = builtins
        # name -> the module that registers it: imported when that name is first asked for (a config
        # with file sources never imports the HTTP client of the API extractor), all of them by names()
        self._builtin_modules = dict(builtin_modules or {})
        self.members: dict[str, M] = {}

    def register(self, member: M, name: str | None = None) -> M:
        """Add ``member`` under ``name`` (default: the name it declares itself, see :meth:`_name_of`).

        With ``replace=False`` a name taken by another member is an error.
        """
        name = self._name_of(member) if name is None else name
        if not name or not isinstance(name, str):
            raise ValueError(f"a {self.key} name must be a non-empty string, got {name!r}")
        taken = self.members.get(name)
        if taken is not None and taken is not member and not self.replace:
            raise ValueError(f"{self.key} name '{name}' is already taken by {_qualified(taken)}")
        self.members[name] = member
        return member

    def names(self) -> list[str]:
        """Every name the key accepts: registered members and installed (not yet imported) plugins."""
        self._load_builtins()
        for module in self._builtin_modules.values():
            importlib.import_module(module)
        self._builtin_modules.clear()
        return sorted({*self.members, *entry_point_names(self.group)})

    def get(self, name: str) -> M:
        """The member ``name`` selects, importing the plugin that provides it if need be.

        Raises:
            UnknownNameError: no member has that name (lists the known names).
            PluginError: the plugin cannot be imported or does not give a valid member.
        """
        self._load_builtins()
        module = self._builtin_modules.pop(name, None)
        if module is not None:
            importlib.import_module(module)
        member = self.members.get(name)
        if member is None:
            member = self._load_plugin(name)
        if member is None:
            raise self._unknown(name)
        return member

    # --- what a family may refine ---
    def _name_of(self, member: M) -> str:
        raise ValueError(f"register({_qualified(member)}) needs the {self.key} name it is selected by")

    def _accept(self, found: object, name: str, where: str) -> M:
        """``found`` (an entry point's object) as a member, or raise ``PluginError`` saying why not."""
        return cast("M", found)

    def _unknown(self, name: str) -> Exception:
        return UnknownNameError(self.key, name, self.names(), known=self.known)

    def _plugin_error(self, name: str, exc: EntryPointError) -> Exception:
        return PluginError(f"{self.key} '{name}': {exc}")

    # --- mechanism ---
    def _load_builtins(self) -> None:
        if self._builtins is not None:
            load, self._builtins = self._builtins, None
            load()

    def _load_plugin(self, name: str) -> M | None:
        try:
            loaded = load_entry_point(self.group, name)
        except EntryPointError as exc:
            raise self._plugin_error(name, exc) from exc
        if loaded is None:
            return None
        found, target = loaded
        member = self._accept(
            found, name, f"{self.key} '{name}': entry point '{name}' ({target}) in group '{self.group}'"
        )
        self.members[name] = member
        return member


class ClassRegistry(Registry[type[T]]):
    """A registry whose members are classes: subclasses of ``base`` named by their ``name_attr`` attribute.

    Their other class attributes are the family's contract, which callers (config validation) read from
    the class. :meth:`register` works as a class decorator.
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
        builtin_modules: Mapping[str, str] | None = None,
        replace: bool = False,
    ) -> None:
        super().__init__(
            key=key,
            group=group,
            known=known,
            builtins=builtins,
            builtin_modules=builtin_modules,
            replace=replace,
        )
        self.base, self.name_attr, self.abstract_hint = base, name_attr, abstract_hint

    def _name_of(self, member: type[T]) -> str:
        name = getattr(member, self.name_attr, "")
        if not name:
            raise ValueError(f"{member.__qualname__} must set a non-empty '{self.name_attr}' to register")
        return str(name)

    def _accept(self, found: object, name: str, where: str) -> type[T]:
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
        return cast("type[T]", found)


def _qualified(member: object) -> str:
    owner = member if inspect.isclass(member) or inspect.isfunction(member) else type(member)
    return f"{owner.__module__}.{owner.__qualname__}"
