"""The one entry-point loader: a registry asks for a name, the installed plugin providing it is imported.

Every plugin family (storage backends, extractor types, Silver models) publishes into its own entry-point
group and is loaded by name, only when a config asks for that name, so one broken plugin cannot break a
project that does not use it::

    [project.entry-points."medallion.silver_models"]
    daily_counts = "acme_lake.silver:DailyCounts"

Callers wrap :class:`EntryPointError` in their own domain error, which adds where the name was asked for.
"""

from __future__ import annotations

from importlib.metadata import entry_points

__all__ = ["EntryPointError", "entry_point_names", "load_entry_point"]


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
