"""``${VAR}`` and ``${VAR:default}`` in config values, from the environment (DESIGN §3).

``$${`` escapes a literal ``${``. An unset variable without a default is an issue naming the file and key;
so is any other ``${`` (unclosed, with no name or an invalid one, or another reference in a default), which
would otherwise be kept as written. The values substituted are remembered so that messages show ``${VAR}``
instead of them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from medallion_assets.config.issues import join_key
from medallion_assets.errors import ConfigIssue

__all__ = ["ENV_REFERENCE_DEF", "Substitution", "accept_env_references"]

# `$${` escapes a literal `${`; `${NAME}` or `${NAME:default}` substitutes; any other `${` is an error.
_ENV_RE = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}|\$\{")
_LITERAL_FIX = "write $${ for a literal ${"
_SHOWN = 40  # characters of an unclosed reference shown in its message


class Substitution:
    """Replaces ``${VAR}``/``${VAR:default}`` in string values; remembers values to mask in messages."""

    def __init__(self, env: Mapping[str, str], label: str) -> None:
        self.env = env
        self.label = label
        self.issues: list[ConfigIssue] = []
        self.masks: dict[str, str] = {}  # environment value -> "${VAR}"
        self._wrong_in_value = False

    def apply(self, value: Any, path: str) -> Any:
        if isinstance(value, dict):
            return {k: self.apply(v, join_key(path, str(k))) for k, v in value.items()}
        if isinstance(value, list):
            return [self.apply(v, f"{path}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, str) and "$" in value:
            self._wrong_in_value = False
            return _ENV_RE.sub(lambda m: self._replace(m, path), value)
        return value

    def _replace(self, match: re.Match[str], path: str) -> str:
        name, default = match.group(1), match.group(2)
        if match.group(0) == "$${":
            return "${"
        if name is None or (default is not None and "${" in default):
            if not self._wrong_in_value:  # one issue per value: the first `${` that is wrong
                self.issues.append(ConfigIssue(self.label, path, *_not_a_reference(match)))
                self._wrong_in_value = True
            return match.group(0)
        if name in self.env:
            value = self.env[name]
            if value:
                self.masks[value] = f"${{{name}}}"
            return value
        if default is not None:
            return default
        self.issues.append(
            ConfigIssue(
                self.label,
                path,
                f"environment variable '{name}' is not set",
                f"set {name}, or give a default: ${{{name}:default}}",
            )
        )
        return match.group(0)

    def mask(self, text: str) -> str:
        for value in sorted(self.masks, key=len, reverse=True):
            if len(value) >= 3 or text == value:
                text = text.replace(value, self.masks[value])
        return text


def _not_a_reference(match: re.Match[str]) -> tuple[str, str]:
    """Why the ``${`` at ``match`` starts no ``${NAME}``/``${NAME:default}``, and the fix."""
    if match.group(2) is not None:  # a valid name whose default holds a `${`
        message = (
            f"environment reference '{match.group(0)}' holds another reference in its default; a default "
            "is plain text (references do not nest)"
        )
        return message, f"give the default as plain text; {_LITERAL_FIX}"
    rest = match.string[match.end() :]
    if "}" not in rest:
        shown = "${" + rest if len(rest) <= _SHOWN else "${" + rest[:_SHOWN] + "..."
        message = f"environment reference '{shown}' has no closing '}}'"
        return message, f"close it: ${{NAME}} or ${{NAME:default}}; {_LITERAL_FIX}"
    name = rest[: rest.index("}")].partition(":")[0]
    if name:
        message = f"'{name}' is not an environment variable name"
    else:
        message = f"environment reference '${{{rest[: rest.index('}') + 1]}' names no variable"
    hint = "write ${NAME} or ${NAME:default}, NAME of letters, digits and '_' not starting with a digit"
    return message, f"{hint}; {_LITERAL_FIX}"


# --- the JSON Schema side: where the loader substitutes, the schema must accept a reference ---------------

# A string holding at least one `${NAME}` or `${NAME:default}` (what ``Substitution`` replaces).
ENV_REFERENCE_DEF = "EnvReference"
_ENV_REFERENCE_SCHEMA: dict[str, Any] = {
    "type": "string",
    "pattern": r"\$\{[A-Za-z_][A-Za-z0-9_]*(:[^}]*)?\}",
    "description": "${VAR} or ${VAR:default}: substituted from the environment when the config loads; "
    "the result must then be a valid value of this key.",
}
_ANNOTATIONS = ("title", "description", "default", "examples", "deprecated")


def accept_env_references(schema: dict[str, Any]) -> dict[str, Any]:
    """Let every scalar key that is not a free string take a ``${VAR:default}`` string too.

    The loader substitutes before validation, so ``max_rows_per_file: ${ROWS:1000}`` is valid config; a
    schema generated from the models alone would flag it in the editor (an integer field given a string).
    Keys whose type already takes any string are left as they are.
    """
    defs = schema.setdefault("$defs", {})
    for node in [schema, *defs.values()]:
        for key, value in (node.get("properties") or {}).items():
            node["properties"][key] = _with_reference(value)
    defs[ENV_REFERENCE_DEF] = dict(_ENV_REFERENCE_SCHEMA)
    return schema


def _with_reference(node: dict[str, Any]) -> dict[str, Any]:
    if _takes_any_string(node) or not _is_scalar(node):
        if isinstance(node.get("items"), dict):  # list of integers and such
            node = {**node, "items": _with_reference(node["items"])}
        return node
    annotations = {k: node[k] for k in _ANNOTATIONS if k in node}
    rest = {k: v for k, v in node.items() if k not in _ANNOTATIONS}
    reference = {"$ref": f"#/$defs/{ENV_REFERENCE_DEF}"}
    alternatives = [*rest["anyOf"], reference] if list(rest) == ["anyOf"] else [rest, reference]
    return {"anyOf": alternatives, **annotations}


def _takes_any_string(node: dict[str, Any]) -> bool:
    if "anyOf" in node:
        return any(_takes_any_string(n) for n in node["anyOf"])
    constrained = {"enum", "const", "pattern", "format"} & node.keys()
    return node.get("type") == "string" and not constrained


def _is_scalar(node: dict[str, Any]) -> bool:
    if "anyOf" in node:
        return all(_is_scalar(n) for n in node["anyOf"])
    if "enum" in node or "const" in node:
        return True
    return node.get("type") in ("integer", "number", "boolean", "string", "null")
