"""``${VAR}`` and ``${VAR:default}`` in config values, from the environment (DESIGN §3).

``$${`` escapes a literal ``${``. An unset variable without a default is an issue naming the file and key;
the values substituted are remembered so that messages show ``${VAR}`` instead of them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from medallion_assets.config.issues import join_key
from medallion_assets.errors import ConfigIssue

__all__ = ["Substitution"]

# `$${` escapes a literal `${`; `${NAME}` or `${NAME:default}` substitutes.
_ENV_RE = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}")


# `$${` escapes a literal `${`; `${NAME}` or `${NAME:default}` substitutes.
_ENV_RE = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}")


class Substitution:
    """Replaces ``${VAR}``/``${VAR:default}`` in string values; remembers values to mask in messages."""

    def __init__(self, env: Mapping[str, str], label: str) -> None:
        self.env = env
        self.label = label
        self.issues: list[ConfigIssue] = []
        self.masks: dict[str, str] = {}  # environment value -> "${VAR}"

    def apply(self, value: Any, path: str) -> Any:
        if isinstance(value, dict):
            return {k: self.apply(v, join_key(path, str(k))) for k, v in value.items()}
        if isinstance(value, list):
            return [self.apply(v, f"{path}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, str) and "$" in value:
            return _ENV_RE.sub(lambda m: self._replace(m, path), value)
        return value

    def _replace(self, match: re.Match[str], path: str) -> str:
        name, default = match.group(1), match.group(2)
        if name is None:
            return "${"
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
