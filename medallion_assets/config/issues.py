"""Pydantic's validation errors become ``ConfigIssue``s: file, dotted key path, message and hint (DESIGN §3).

A missing key whose near-spelling was given is reported once, as the typo; an unknown key gets "did you
mean"; a value failing every member of a union is one issue; environment values are masked.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from medallion_assets.config.models import SourceEntry
from medallion_assets.errors import ConfigIssue

if TYPE_CHECKING:
    from medallion_assets.config.substitution import Substitution

__all__ = ["did_you_mean", "dotted", "join_key", "show", "type_name", "validate"]


_MAX_SHOWN = 60
_M = TypeVar("_M", bound=BaseModel)


def validate(
    model: type[_M], raw: Any, label: str, prefix: str, subst: Substitution, issues: list[ConfigIssue]
) -> _M | None:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        issues.extend(_issues_from(exc, model, raw, label, prefix, subst))
        return None


def _issues_from(
    exc: ValidationError, model: type[BaseModel], raw: Any, label: str, prefix: str, subst: Substitution
) -> list[ConfigIssue]:
    suffix = _source_suffix(raw) if model is SourceEntry else ""
    errors = exc.errors(include_url=False)
    unknown = [e for e in errors if e["type"] == "extra_forbidden"]
    out: list[ConfigIssue] = []
    union_paths: dict[str, int] = {}  # a value failing every member of a union gives one issue
    for err in errors:
        loc, tagged = _clean_loc(model, err["loc"])
        path = dotted(prefix, loc)
        if err["type"] == "missing" and _explained_by_typo(model, loc, unknown):
            continue
        message, hint = _describe(err, model, loc, subst)
        issue = ConfigIssue(label, path, subst.mask(message) + suffix, subst.mask(hint))
        if tagged and path in union_paths:
            prev = out[union_paths[path]]
            issue = ConfigIssue(
                label, path, f"{prev.message.removesuffix(suffix)}; or {issue.message}", prev.hint
            )
            out[union_paths[path]] = issue
            continue
        if tagged:
            union_paths[path] = len(out)
        out.append(issue)
    return out


def _describe(
    err: Mapping[str, Any], model: type[BaseModel], loc: tuple[Any, ...], subst: Substitution
) -> tuple[str, str]:
    kind, msg, value = err["type"], err["msg"], err.get("input")
    if kind == "extra_forbidden":
        candidates = _keys_of(_model_at(model, loc[:-1]))
        return "unknown key", did_you_mean(str(loc[-1]), candidates)
    if kind == "missing":
        return "required key missing", f"add '{loc[-1]}'" if loc else ""
    if kind == "literal_error":
        allowed = re.findall(r"'([^']*)'", err.get("ctx", {}).get("expected", ""))
        close = difflib.get_close_matches(str(value), allowed, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        hint = _BOOLEAN_HINT + "; " if isinstance(value, bool) else hint
        return f"{show(value, subst)} is not allowed", f"{hint}allowed: {', '.join(allowed)}"
    if kind == "string_type" and isinstance(value, bool):
        return f"expected a string, got the boolean {value}", _BOOLEAN_HINT
    if kind == "string_type" and isinstance(value, int | float):
        return f"expected a string, got the number {value}", _NUMBER_HINT
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a mapping (key: value), got {type_name(value)}", ""
    if kind == "finite_number":
        return f"{show(value, subst)} is not a finite number", "give a number (YAML's .inf and .nan are not)"
    if kind in ("date_parsing", "date_from_datetime_parsing", "date_type"):
        return f"{msg}, got {show(value, subst)}", "write the date as YYYY-MM-DD, e.g. 2025-01-01"
    if kind == "list_type":
        return f"expected a list, got {type_name(value)}", ""
    if kind in ("value_error", "assertion_error"):
        return msg.removeprefix("Value error, ").removeprefix("Assertion failed, "), ""
    return f"{msg}, got {show(value, subst)}", ""


_NUMBER_HINT = "quote it: YAML reads an unquoted number as a number (1.10 as 1.1)"
_BOOLEAN_HINT = "YAML reads unquoted yes, no, on, off, true and false as booleans: quote it, e.g. 'on'"


def _explained_by_typo(
    model: type[BaseModel], loc: tuple[Any, ...], unknown: Sequence[Mapping[str, Any]]
) -> bool:
    """A missing key whose near-spelling was given as an unknown key is reported once, as the typo."""
    for err in unknown:
        other, _ = _clean_loc(model, err["loc"])
        if other[:-1] == loc[:-1] and difflib.get_close_matches(str(other[-1]), [str(loc[-1])], n=1):
            return True
    return False


def _clean_loc(model: type[BaseModel], loc: Sequence[Any]) -> tuple[tuple[Any, ...], bool]:
    """Drop pydantic's union-member tags (``dict[str,any]``) from a loc; say whether there were any."""
    out: list[Any] = []
    tagged = False
    tp: Any = model
    for part in loc:
        tp = _unwrap(tp)
        if _is_union(tp) and isinstance(part, str):
            tagged = True
            tp = None
            continue
        out.append(part)
        tp = _child_type(tp, part)
    return tuple(out), tagged


def _model_at(model: type[BaseModel], loc: Sequence[Any]) -> type[BaseModel] | None:
    tp: Any = model
    for part in loc:
        tp = _child_type(_unwrap(tp), part)
    tp = _unwrap(tp)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _child_type(tp: Any, part: Any) -> Any:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        for name, info in tp.model_fields.items():
            if part in (name, info.alias):
                return info.annotation
        return None
    args = typing.get_args(tp)
    origin = typing.get_origin(tp)
    if origin is list and args:
        return args[0]
    if origin is dict and len(args) == 2:
        return args[1]
    return None


def _unwrap(tp: Any) -> Any:
    """``X | None`` -> ``X`` (pydantic reports no tag for it); other unions stay unions."""
    if _is_union(tp):
        members = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(members) == 1:
            return members[0]
    return tp


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def _keys_of(model: type[BaseModel] | None) -> list[str]:
    if model is None:
        return []
    return [info.alias or name for name, info in model.model_fields.items()]


def did_you_mean(key: str, candidates: Sequence[str]) -> str:
    if not candidates:
        return ""
    lowered = {c.lower(): c for c in candidates}
    close = [lowered[c] for c in difflib.get_close_matches(key.lower(), list(lowered), n=2, cutoff=0.6)]
    if close:
        return f"did you mean {' or '.join(repr(c) for c in close)}?"
    return f"allowed keys: {', '.join(repr(c) for c in candidates)}"


def _source_suffix(raw: Any) -> str:
    if not isinstance(raw, Mapping):
        return ""
    name = raw.get("name")
    source = raw.get("source")
    if not isinstance(name, str) and isinstance(source, Mapping):
        system, table = source.get("system"), source.get("table")
        name = f"{system}_{table}".lower() if isinstance(system, str) and isinstance(table, str) else None
    return f" (source {name!r})" if isinstance(name, str) else ""


def join_key(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def dotted(prefix: str, loc: Sequence[Any]) -> str:
    path = prefix
    for part in loc:
        path = f"{path}[{part}]" if isinstance(part, int) else join_key(path, str(part))
    return path


def show(value: Any, subst: Substitution) -> str:
    text = subst.mask(repr(value))
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def type_name(value: Any) -> str:
    names = {
        dict: "a mapping",
        list: "a list",
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "a boolean",
        type(None): "nothing (null)",
    }
    return names.get(type(value), type(value).__name__)
