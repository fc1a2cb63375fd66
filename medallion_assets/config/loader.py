"""Load a config directory into one validated ``MedallionConfig`` (DESIGN §3).

The pipeline, one named step each: discover the YAML files → parse → substitute ``${VAR}`` → upgrade legacy
spellings (``compat``) → validate each file's ``platform`` and ``sources`` → check names and asset keys are
unique across files → resolve relative local paths. Every step collects ``ConfigIssue``s instead of raising,
so one load reports every problem with its file, key path and hint; the loader raises one ``ConfigError`` at
the end. Bad input never escapes as a raw exception.
"""

from __future__ import annotations

import os
import typing
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ConfigDict, Field

from medallion_assets.config.compat import upgrade_file
from medallion_assets.config.issues import did_you_mean, show, type_name, validate
from medallion_assets.config.models import MedallionConfig, PlatformConfig, SourceEntry, StrictModel
from medallion_assets.config.orchestration import check_orchestration
from medallion_assets.config.substitution import Substitution, accept_env_references
from medallion_assets.errors import ConfigError, ConfigIssue, MedallionDeprecationWarning

__all__ = [
    "CONFIG_DIR_ENV",
    "PROJECT_DIR_ENV",
    "TOP_LEVEL_KEYS",
    "InlineConfig",
    "LoadedConfig",
    "config_json_schema",
    "load_config",
    "load_config_with_origins",
    "resolve_config_dir",
]

CONFIG_DIR_ENV = "MEDALLION_CONFIG_DIR"
PROJECT_DIR_ENV = "MEDALLION_PROJECT_DIR"
TOP_LEVEL_KEYS = ("config_version", "platform", "sources")
SUPPORTED_VERSION = 1
_REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class LoadedConfig:
    """A loaded config and where it came from (for messages, ``medallion list`` and the CLI)."""

    config: MedallionConfig
    config_dir: Path
    source_files: dict[str, Path]  # source name -> the file it is defined in
    platform_file: str = (
        "platform"  # the label of the file holding ``platform:`` (e.g. configs/platform.yaml)
    )
    warnings: list[str] = field(default_factory=list)  # deprecation messages, "[CFG00x] ..."


@dataclass(frozen=True)
class InlineConfig:
    """Config held in another document, e.g. the ``attributes`` of a dg component's ``defs.yaml``.

    It is validated like a config file (``${VAR}``, legacy spellings, every issue with its key path) and
    merged with the files of the config directory, if one is given too.
    """

    data: Mapping[str, Any]  # `platform` and/or `sources`
    label: str  # how messages name the document, e.g. "defs/lake/defs.yaml"
    path: Path
    key_prefix: str = ""  # where the keys sit in that document, e.g. "attributes"


class _ConfigFile(StrictModel):
    """One YAML file of a config dir: any of the three top-level keys (for the JSON Schema)."""

    model_config = ConfigDict(title="medallion config file")

    config_version: Literal[1] = Field(1, description="Config format version; always 1.")
    platform: PlatformConfig | None = Field(None, description="Storage and defaults; in exactly one file.")
    sources: list[SourceEntry] = Field(default_factory=list, description="Datasets; in any file.")


# --- public API -------------------------------------------------------------------------------------------


def resolve_config_dir(
    config_dir: str | Path | None = None, *, environ: Mapping[str, str] | None = None
) -> Path:
    """The config dir: the argument, else ``$MEDALLION_CONFIG_DIR``, else ``./configs``, else the repo's."""
    env = os.environ if environ is None else environ
    if config_dir is not None:
        return Path(config_dir).expanduser().resolve()
    if env.get(CONFIG_DIR_ENV):
        return Path(env[CONFIG_DIR_ENV]).expanduser().resolve()
    local = Path.cwd() / "configs"
    return local.resolve() if local.is_dir() else _REPO_ROOT / "configs"


def load_config(
    config_dir: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> MedallionConfig:
    """Load and validate every YAML file of the config dir.

    Raises:
        ConfigError: listing every problem found, each with file, key path and hint.
    """
    loaded, deprecations = _load(config_dir, environ)
    _emit_warnings(deprecations)
    return loaded.config


def load_config_with_origins(
    config_dir: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    inline: InlineConfig | None = None,
    project_dir: str | Path | None = None,
) -> LoadedConfig:
    """Like ``load_config``, also returning the file of each source and the deprecation messages.

    With ``inline`` (and no ``config_dir``) only that document is read; with both, the directory's files and
    the document are merged as if the document were one more file. ``project_dir`` (else
    ``$MEDALLION_PROJECT_DIR``, else the config dir's parent, else the document's folder) anchors relative
    paths.
    """
    loaded, deprecations = _load(config_dir, environ, inline=inline, project_dir=project_dir)
    _emit_warnings(deprecations)
    return loaded


def config_json_schema() -> dict[str, Any]:
    """JSON Schema of one config file (``medallion schema``); editors can validate each file with it."""
    schema = accept_env_references(_ConfigFile.model_json_schema(by_alias=True))
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


# --- the pipeline -----------------------------------------------------------------------------------------


@dataclass
class _FileResult:
    """What one file contributed: its validated parts, with the file they came from."""

    label: str
    path: Path
    platform: PlatformConfig | None = None
    sources: list[tuple[int, SourceEntry]] = field(default_factory=list)
    top_level_typos: list[str] = field(default_factory=list)
    has_platform_key: bool = False
    prefix: str = ""  # where `platform`/`sources` sit in the document ("attributes." in a defs.yaml)


def _load(
    config_dir: str | Path | None,
    environ: Mapping[str, str] | None,
    *,
    inline: InlineConfig | None = None,
    project_dir: str | Path | None = None,
) -> tuple[LoadedConfig, list[tuple[str, str]]]:
    env = os.environ if environ is None else environ
    issues: list[ConfigIssue] = []
    deprecations: list[tuple[str, str]] = []
    results: list[_FileResult] = []
    if inline is None or config_dir is not None:
        root = resolve_config_dir(config_dir, environ=env)
        results += [
            _load_file(path, _label(path, root), env, issues, deprecations)
            for path in _discover_files(root, issues)
        ]
        where, anchor = root.name, root.parent
    if inline is not None:
        results.append(_load_inline(inline, env, issues, deprecations))
        if config_dir is None:
            root, where, anchor = inline.path.parent, inline.label, inline.path.parent
    platform = _single_platform(results, where, issues)
    _check_unique(results, issues)
    if platform is not None:
        located = [(r.label, index, entry) for r in results for index, entry in r.sources]
        issues.extend(check_orchestration(platform, located))
    if issues or platform is None:
        raise ConfigError(issues)
    if project_dir is not None:
        anchor = Path(project_dir).expanduser().resolve()
    elif env.get(PROJECT_DIR_ENV):
        anchor = Path(env[PROJECT_DIR_ENV]).expanduser().resolve()
    project_dir = anchor
    entries = [(r, entry) for r in results for _, entry in r.sources]
    config = MedallionConfig(
        config_version=1,
        platform=_resolve_platform_paths(platform, project_dir),
        sources=[_resolve_source_paths(entry, project_dir) for _, entry in entries],
    )
    source_files = {entry.source_name: r.path for r, entry in entries}
    messages = [str(MedallionDeprecationWarning(code, message)) for code, message in deprecations]
    platform_file = next(r.label for r in results if r.platform is not None)
    loaded = LoadedConfig(
        config=config,
        config_dir=root,
        source_files=source_files,
        platform_file=platform_file,
        warnings=messages,
    )
    return loaded, deprecations


def _discover_files(root: Path, issues: list[ConfigIssue]) -> list[Path]:
    if not root.is_dir():
        issues.append(
            ConfigIssue(
                str(root), "", "config directory not found", f"pass --config-dir or set {CONFIG_DIR_ENV}"
            )
        )
        return []
    files = [p for p in root.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()]
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def _label(path: Path, root: Path) -> str:
    """How a file is named in messages: relative to the config dir's parent, e.g. ``configs/x.yaml``."""
    return (Path(root.name) / path.relative_to(root)).as_posix()


def _load_file(
    path: Path,
    label: str,
    env: Mapping[str, str],
    issues: list[ConfigIssue],
    deprecations: list[tuple[str, str]],
) -> _FileResult:
    result = _FileResult(label=label, path=path)
    data = _parse_yaml(path, label, issues)
    if data is None:
        return result
    return _load_document(result, data, env, issues, deprecations, prefix="")


def _load_inline(
    inline: InlineConfig,
    env: Mapping[str, str],
    issues: list[ConfigIssue],
    deprecations: list[tuple[str, str]],
) -> _FileResult:
    prefix = f"{inline.key_prefix}." if inline.key_prefix else ""
    result = _FileResult(label=inline.label, path=inline.path, prefix=prefix)
    data = {"config_version": SUPPORTED_VERSION, **inline.data}
    return _load_document(result, data, env, issues, deprecations, prefix=prefix)


def _load_document(
    result: _FileResult,
    data: dict[str, Any],
    env: Mapping[str, str],
    issues: list[ConfigIssue],
    deprecations: list[tuple[str, str]],
    *,
    prefix: str,
) -> _FileResult:
    """Validate one parsed document's ``platform`` and ``sources`` (``prefix``: their place in it)."""
    label = result.label
    subst = Substitution(env, label)
    data = subst.apply(data, prefix.rstrip("."))
    issues.extend(subst.issues)
    upgraded = upgrade_file(data, label)
    issues.extend(upgraded.issues)
    deprecations.extend(upgraded.warnings)
    data = upgraded.data
    for key in data:
        if key not in TOP_LEVEL_KEYS:
            hint = did_you_mean(str(key), TOP_LEVEL_KEYS)
            issues.append(ConfigIssue(label, f"{prefix}{key}", "unknown top-level key", hint))
            result.top_level_typos.append(str(key))
    version = data.get("config_version", SUPPORTED_VERSION)
    if version != SUPPORTED_VERSION or isinstance(version, bool):
        issues.append(
            ConfigIssue(
                label,
                "config_version",
                f"unsupported config_version {show(version, subst)}",
                f"the only supported version is {SUPPORTED_VERSION}",
            )
        )
    if "platform" in data:
        result.has_platform_key = True
        platform = data["platform"]
        result.platform = validate(PlatformConfig, platform, label, f"{prefix}platform", subst, issues)
    sources = data.get("sources")
    if sources is not None and not isinstance(sources, list):
        issues.append(
            ConfigIssue(label, f"{prefix}sources", f"expected a list, got {type_name(sources)}", _LIST_HINT)
        )
    for index, raw in enumerate(sources if isinstance(sources, list) else []):
        entry = validate(SourceEntry, raw, label, f"{prefix}sources[{index}]", subst, issues)
        if entry is not None and entry.source.api is not None:
            entry.source.api.remember_env_values(subst.masks)  # secrets in api: (a token in the path)
        if entry is not None:
            result.sources.append((index, entry))
    return result


_LIST_HINT = "write each source as a '- name: ...' item under 'sources:'"


def _parse_yaml(path: Path, label: str, issues: list[ConfigIssue]) -> dict[str, Any] | None:
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        byte = exc.object[exc.start : exc.start + 1].hex()
        message = f"the file is not UTF-8 (byte 0x{byte} at line {line})"
        issues.append(
            ConfigIssue(label, "", message, "save it as UTF-8 (your editor's 'Save with encoding')")
        )
        return None
    except OSError as exc:
        issues.append(ConfigIssue(label, "", f"cannot read file: {exc}"))
        return None
    except yaml.YAMLError as exc:
        issues.append(_yaml_issue(exc, label))
        return None
    if data is None:  # an empty file (or only comments) contributes nothing
        return None
    if not isinstance(data, dict):
        issues.append(
            ConfigIssue(
                label,
                "",
                f"expected a mapping at the top of the file, got {type_name(data)}",
                f"use the top-level keys {', '.join(TOP_LEVEL_KEYS)}",
            )
        )
        return None
    return data


_MERGE_TAG = "tag:yaml.org,2002:merge"


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that rejects a key given twice in one mapping (PyYAML silently keeps the last), and an
    alias inside the node its anchor names (PyYAML builds a list or mapping that holds itself, which no
    step after parsing can walk)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._open_anchors: set[str] = set()  # anchors of the nodes being composed

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()
        anchor = getattr(event, "anchor", None)
        if isinstance(event, yaml.AliasEvent) and anchor in self._open_anchors:
            raise yaml.composer.ComposerError(
                None, None, f"alias '*{anchor}' refers to the node that contains it", event.start_mark
            )
        if anchor is None or isinstance(event, yaml.AliasEvent):
            return super().compose_node(parent, index)
        self._open_anchors.add(anchor)
        try:
            return super().compose_node(parent, index)
        finally:
            self._open_anchors.discard(anchor)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:  # '<<: *base': merged keys may be overridden (flatten_mapping)
                continue
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, typing.Hashable) and key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"duplicate key '{key}'",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _yaml_issue(exc: yaml.YAMLError, label: str) -> ConfigIssue:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    if str(problem).startswith("duplicate key"):
        hint = "a key may appear only once in a mapping"
    elif str(problem).startswith("alias"):
        hint = "an alias (*name) may only repeat a node defined before it, not one that holds it"
    else:
        hint = "check indentation (spaces, not tabs), colons and quotes at and just above that line"
    return ConfigIssue(label, "", f"malformed YAML: {problem}{where}", hint)


# --- ${VAR} substitution ----------------------------------------------------------------------------------


# --- validation and pydantic errors -> issues -------------------------------------------------------------


# --- cross-file checks ------------------------------------------------------------------------------------


def _single_platform(
    results: list[_FileResult], where: str, issues: list[ConfigIssue]
) -> PlatformConfig | None:
    holders = [r for r in results if r.platform is not None]
    if len(holders) > 1:
        names = ", ".join(r.label for r in holders)
        for r in holders[1:]:
            issues.append(
                ConfigIssue(
                    r.label,
                    "platform",
                    f"'platform:' is defined in more than one file ({names})",
                    "keep exactly one platform section",
                )
            )
    if holders:
        return holders[0].platform
    typo = any(did_you_mean(t, ["platform"]).startswith("did") for r in results for t in r.top_level_typos)
    unparsed = any(i.path == "" for i in issues)  # a malformed file may hold it
    if not (typo or unparsed or any(r.has_platform_key for r in results)):
        issues.append(
            ConfigIssue(where, "platform", "no file defines 'platform:'", "add a platform.yaml (see docs)")
        )
    return None


def _check_unique(results: list[_FileResult], issues: list[ConfigIssue]) -> None:
    checks = {  # what must be unique -> (key of an entry, how to fix a clash)
        "source name": (lambda e: e.source_name, "give one of them another 'name'"),
        "Bronze asset key": (
            lambda e: f"bronze/{e.source.system}/{e.source.table}",
            "each (source.system, source.table) may be extracted once",
        ),
        # The key has no version (DESIGN §7): two versions of one entity would be one asset twice.
        "Silver asset key": (
            lambda e: f"silver/{e.silver.domain or e.source.system}/{e.silver.entity or e.source.table}",
            "set another silver.domain or silver.entity (silver.version only changes the folder)",
        ),
    }
    for what, (key_of, hint) in checks.items():
        # Keys are folders: on a case-insensitive file system (macOS, Windows) 'Shop' and 'shop' are one.
        seen: dict[str, tuple[str, str, str]] = {}
        for r in results:
            for index, entry in r.sources:
                key = key_of(entry)
                if key.lower() in seen:
                    first_key, first_file, first_index = seen[key.lower()]
                    message, fix = f"duplicate {what} '{key}', also in {first_file} {first_index}", hint
                    if first_key != key:
                        message = f"duplicate {what} '{key}' (as '{first_key}' in {first_file} {first_index})"
                        fix += (
                            "; keys that differ only in case are one folder on case-insensitive file systems"
                        )
                    issues.append(ConfigIssue(r.label, f"{r.prefix}sources[{index}]", message, fix))
                else:
                    seen[key.lower()] = (key, r.label, f"{r.prefix}sources[{index}]")


# --- relative paths ---------------------------------------------------------------------------------------


def _absolute(path: str, project_dir: Path) -> str:
    if "://" in path:
        return path
    expanded = Path(path).expanduser()
    return path if expanded.is_absolute() else os.path.normpath(project_dir / expanded)


def _resolve_platform_paths(platform: PlatformConfig, project_dir: Path) -> PlatformConfig:
    update = {}
    for layer in ("bronze", "silver"):
        storage = getattr(platform, layer)
        if storage.local_path:
            update[layer] = storage.model_copy(
                update={"local_path": _absolute(storage.local_path, project_dir)}
            )
    return platform.model_copy(update=update)


def _resolve_source_paths(entry: SourceEntry, project_dir: Path) -> SourceEntry:
    db = entry.source.db
    if db is not None and db.url and db.url.startswith("sqlite") and ":///" in db.url:
        scheme, _, path = db.url.partition(":///")
        if path and not path.startswith(":memory:"):
            url = f"{scheme}:///{_absolute(path, project_dir)}"
            db = db.model_copy(update={"url": url})
            entry = entry.model_copy(update={"source": entry.source.model_copy(update={"db": db})})
    file = entry.source.file
    if file is None:
        return entry
    file = file.model_copy(update={"path": _absolute(file.path, project_dir)})
    return entry.model_copy(update={"source": entry.source.model_copy(update={"file": file})})


# --- small helpers ----------------------------------------------------------------------------------------


def _emit_warnings(deprecations: list[tuple[str, str]]) -> None:
    for code, message in deprecations:
        # stacklevel 3: attributed to the caller of load_config, whose config it is.
        warnings.warn(MedallionDeprecationWarning(code, message), stacklevel=3)
