"""The dg Component: a ``defs.yaml`` declares a medallion lake, from a config directory or inline.

``dg scaffold defs medallion_assets.MedallionSources lake`` writes one (and an example config directory)::

    type: medallion_assets.MedallionSources
    attributes:
      config_dir: configs              # relative to this defs.yaml; or `platform:` / `sources:` inline
      translation:                     # optional, like dagster-dlt's: applied to each source's two assets
        key_prefix: lake
        group_name: "{{ source.system }}"
        owners: ["team:data"]
        tags: {layer: "{{ layer }}"}
    post_processing: {...}             # dg's own, applied to the Definitions built here

The component yields exactly the Definitions ``medallion_assets.definitions`` builds from the same config
(assets, checks, jobs, schedules, sensors, IO managers): the config goes through the same loader (every
problem with its file, key path and hint) and the translation through ``SourceSpec``, which stays the one
place that names things. Relative paths inside the config (``local_path``, ``file.path``) resolve against
the dg project root (or ``$MEDALLION_PROJECT_DIR``), as ``configs/`` at a project's root would.
"""

# No `from __future__ import annotations`: dg reads the field annotations as objects.

import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import dagster as dg
from dagster.components.utils.translation import TranslationFn, TranslationFnResolver

from medallion_assets.component_file import TYPE_NAME, config_at, load_component
from medallion_assets.config.loader import LoadedConfig, config_json_schema
from medallion_assets.factory import build_definitions
from medallion_assets.specs import SourceTranslationData

__all__ = ["TYPE_NAME", "MedallionSources", "MedallionSourcesScaffolder", "ScaffoldParams", "load_component"]


def _inlined(schema: dict[str, Any], defs: dict[str, Any]) -> Any:
    """``schema`` with every ``#/$defs/..`` reference replaced by its definition (the models are a tree)."""
    if isinstance(schema, list):
        return [_inlined(item, defs) for item in schema]
    if not isinstance(schema, dict):
        return schema
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        siblings = {k: v for k, v in schema.items() if k != "$ref"}
        return {**_inlined(defs[ref.removeprefix("#/$defs/")], defs), **siblings}
    return {k: _inlined(v, defs) for k, v in schema.items()}


def _section_schema(key: str) -> dict[str, Any]:
    """The config file schema of ``platform`` or of one ``sources`` item, self-contained for dg's schema."""
    schema = config_json_schema()
    node = schema["properties"][key]
    node = node["items"] if key == "sources" else node
    inlined = _inlined(node, schema["$defs"])
    return {k: v for k, v in inlined.items() if k not in ("title", "default", "description")}


class ScaffoldParams(dg.Model):
    """``dg scaffold defs medallion_assets.MedallionSources NAME [--config-dir DIR]``."""

    config_dir: str | None = None


class MedallionSourcesScaffolder(dg.Scaffolder[ScaffoldParams]):
    """Writes ``defs.yaml``: pointing at ``--config-dir``, or at an example config directory it writes."""

    @classmethod
    def get_scaffold_params(cls) -> type[ScaffoldParams]:
        return ScaffoldParams

    def scaffold(self, request: dg.ScaffoldRequest[ScaffoldParams]) -> None:
        config_dir = request.params.config_dir if request.params else None
        if config_dir is None:
            config_dir = "configs"
            _write_example_configs(request.target_path / config_dir)
        dg.scaffold_component(request, {"config_dir": config_dir})


@dg.scaffold_with(MedallionSourcesScaffolder)
@dataclass
class MedallionSources(dg.Component, dg.Resolvable):
    """A medallion lake: YAML sources become partitioned Bronze and Silver assets, checks and schedules.

    Point ``config_dir`` at a medallion config directory, or give ``platform`` and ``sources`` inline (or
    both: the inline part joins the directory's files). Without any of them the directory is
    ``$MEDALLION_CONFIG_DIR``, else ``./configs``. ``translation`` changes keys, groups, kinds, owners and
    tags per source (``{{ source.name }}``, ``{{ source.system }}``, ``{{ layer }}``, ...).
    """

    config_dir: Annotated[
        str | None,
        dg.Resolver.default(
            description="A medallion config directory, relative to this defs.yaml (docs/CONFIG_REFERENCE.md)."
        ),
    ] = None
    platform: Annotated[
        dict[str, Any] | None,
        dg.Resolver.default(
            description="The `platform:` section inline (storage, defaults), when no config file holds it.",
            json_schema_extra=_section_schema("platform"),
        ),
    ] = None
    sources: Annotated[
        list[dict[str, Any]] | None,
        dg.Resolver.default(
            description="`sources:` entries inline, validated like a config file's.",
            json_schema_extra={"items": _section_schema("sources")},
        ),
    ] = None
    translation: Annotated[
        TranslationFn[SourceTranslationData] | None,
        TranslationFnResolver[SourceTranslationData](
            template_vars_for_translation_fn=lambda data: {"source": data, "layer": data.layer}
        ),
    ] = None

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        return build_definitions(self.load_config(context).config, self.translation)

    def load_config(self, context: dg.ComponentLoadContext) -> LoadedConfig:
        """The validated config this component declares (raises ``ConfigError`` listing every problem)."""
        return self.load_config_at(context.path, context.project_root)

    def load_config_at(self, here: Path, project_root: Path) -> LoadedConfig:
        """``load_config`` of the component whose ``defs.yaml`` is in ``here``, in ``project_root``."""
        return config_at(here, project_root, self.config_dir, self.platform, self.sources)


_EXAMPLE_PLATFORM = """\
    config_version: 1
    # Storage of both layers and the defaults every source inherits (docs/CONFIG_REFERENCE.md).
    # Relative paths resolve against the dg project root.
    platform:
      bronze: {storage_backend: local, local_path: ./lake/bronze}
      silver: {storage_backend: local, local_path: ./lake/silver}
      defaults:
        partitions: {start_date: "2025-01-01", timezone: UTC}
"""

_EXAMPLE_SOURCE = """\
    config_version: 1
    # One entry per dataset: a file, SQL or API source landed in Bronze, curated into Silver.
    sources:
      - name: example_orders
        source:
          system: example
          table: orders
          type: file
          file: {path: "./data/orders_{run_date:%Y%m%d}.csv", required: false}
          run: {load_pattern: full}
        silver:
          model: periodic_snapshot
          primary_keys: [order_id]
"""


def _write_example_configs(config_dir: Path) -> None:
    (config_dir / "sources").mkdir(parents=True, exist_ok=True)
    for rel, text in (("platform.yaml", _EXAMPLE_PLATFORM), ("sources/example.yaml", _EXAMPLE_SOURCE)):
        target = config_dir / rel
        if not target.exists():
            target.write_text(textwrap.dedent(text), encoding="utf-8")
