"""A dg component's ``defs.yaml`` read outside dg, for ``medallion --component``: its config and translation.

dg resolves a component's attributes: a ``{{ ... }}`` template in any of its strings and the
``translation`` (a function of Dagster ``AssetSpec`` s) are dg's, so a ``defs.yaml`` with either is resolved
by :class:`~medallion_assets.component.MedallionSources`, which imports Dagster. One whose attributes are
plain ``config_dir``, ``platform`` and ``sources`` is read here, without Dagster, so ``--component ...
validate`` and ``list`` answer as fast as with ``--config-dir``; anything else (an unknown attribute, a
value of the wrong kind) goes through dg too, for dg's own error.

``post_processing`` (dg's, applied to the Definitions dg loads) is not read: it updates attributes of the
component's assets (group, tags, owners, kinds, metadata, automation condition), never their keys, and
nothing the CLI reads or runs (keys, partitions of the lake, the source's job) depends on those.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medallion_assets.config.loader import (
    PROJECT_DIR_ENV,
    InlineConfig,
    LoadedConfig,
    load_config_with_origins,
)
from medallion_assets.errors import ConfigError, ConfigIssue

if TYPE_CHECKING:
    from medallion_assets.specs import AssetTranslation

__all__ = ["TYPE_NAME", "config_at", "load_component"]

TYPE_NAME = "medallion_assets.MedallionSources"

# The attributes read here, each with the kind of value dg would accept (None: not given).
_PLAIN = {"config_dir": str, "platform": dict, "sources": list}


def load_component(path: str | Path) -> tuple[LoadedConfig, AssetTranslation | None]:
    """The config and translation of the ``MedallionSources`` component declared by ``path`` (its
    ``defs.yaml`` or the folder holding it), read outside dg: what ``medallion --component`` works on, so
    the CLI reads and runs the asset keys the project's UI shows. The project root is the nearest folder
    above it with a ``pyproject.toml``."""
    import yaml

    defs_file = Path(path).resolve()
    if defs_file.is_dir():
        defs_file = defs_file / "defs.yaml"
    try:
        document = yaml.safe_load(defs_file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError([ConfigIssue(str(defs_file), "", f"cannot read the component: {exc}")]) from None
    kind = document.get("type") if isinstance(document, dict) else None
    if kind not in (TYPE_NAME, "MedallionSources"):
        hint = f"--component takes the defs.yaml of a component of type {TYPE_NAME}"
        raise ConfigError([ConfigIssue(str(defs_file), "type", f"is {kind!r}, not {TYPE_NAME}", hint)])
    attributes = document.get("attributes") or {}
    here = defs_file.parent
    root = next((d for d in (here, *here.parents) if (d / "pyproject.toml").is_file()), here)
    if _plain(attributes):
        plain = {key: attributes.get(key) for key in _PLAIN}
        return config_at(here, root, **plain), None
    from medallion_assets.component import MedallionSources  # dg resolves it (and imports Dagster)

    component = MedallionSources.resolve_from_dict(attributes)
    return component.load_config_at(here, root), component.translation


def config_at(
    here: Path,
    project_root: Path,
    config_dir: str | None = None,
    platform: dict[str, Any] | None = None,
    sources: list[dict[str, Any]] | None = None,
) -> LoadedConfig:
    """The validated config a component whose ``defs.yaml`` is in ``here`` declares (raises
    ``ConfigError`` listing every problem): ``config_dir`` relative to ``here``, and the inline
    ``platform`` and ``sources`` joining its files."""
    inline = None
    if platform is not None or sources is not None:
        data: dict[str, Any] = {}
        if platform is not None:
            data["platform"] = platform
        if sources is not None:
            data["sources"] = sources
        defs_file = here / "defs.yaml"
        inline = InlineConfig(data, _label(defs_file, project_root), defs_file, "attributes")
    folder = None if config_dir is None else (here / config_dir).resolve()
    project_dir = os.environ.get(PROJECT_DIR_ENV) or project_root
    return load_config_with_origins(folder, inline=inline, project_dir=project_dir)


def _plain(attributes: object) -> bool:
    """Attributes dg would resolve to themselves: only the config's, of the right kinds, no template."""
    if not isinstance(attributes, dict) or not set(attributes) <= set(_PLAIN):
        return False
    if any(value is not None and not isinstance(value, _PLAIN[key]) for key, value in attributes.items()):
        return False
    return not _templated(attributes)


def _templated(value: object) -> bool:
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, dict):
        return any(_templated(k) or _templated(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_templated(item) for item in value)
    return False


def _label(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()
