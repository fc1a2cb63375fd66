"""The one template mechanism: ``{run_date:%Y%m%d}``-style fields, filled forward and matched in reverse.

Used by ``file.path`` (filled by the file extractor, matched back by the ``file_arrival`` sensor) and by
``api.endpoint``/``params``/``body`` (filled by the API extractor). The semantics, everywhere:

- A **field** is ``{name}`` or ``{name:format}`` where ``name`` is one of:

  ==================  ==============================================  ===================================
  field               value                                           plain ``{name}``
  ==================  ==============================================  ===================================
  ``run_date``        the partition's date                            ISO date ``2025-01-07``
  ``window_start``    start of the partition's day (its time zone)    ISO datetime
                                                                      ``2025-01-07T00:00:00+00:00``
  ``window_end``      start of the next day (exclusive end)           ISO datetime of the next day
  ``watermark``       text: the incoming watermark (API only); empty  the text as it is
                      while there is none
  ==================  ==============================================  ===================================

- ``format`` is a ``strftime`` format (``%Y%m%d``, ``%Y/%m/%d``, ``dt=%Y-%m-%d``); an empty format is
  the plain form. ``{watermark}`` takes no format.
- **Everything else is literal**: text outside braces, and any ``{...}`` whose name is not a field
  (``{id}`` in a GraphQL body stays ``{id}``). ``file.path`` additionally refuses such text as a probable
  typo (``unknown_fields``), since braces are almost never part of a real path.

The reverse, ``match(template, path)``, is what the ``file_arrival`` sensor uses to read a file's run date
back: the first date field whose format names a whole day (plain, or year + month + day, or year + day of
year) gives the date (``window_end`` counts as the day before), and the date is only returned when the
path matches exactly what ``fill`` gives for that date (with the template's globs), i.e. when the file
extractor for that date would read that file. So ``match(t, fill(t, d)) == d`` for every template with a
day-naming field (a two-digit ``%y`` year reads back as 1969..2068, as ``strptime`` reads it).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

__all__ = [
    "DATE_FIELDS",
    "FIELDS",
    "Field",
    "fields",
    "fill",
    "has_date_field",
    "match",
    "to_glob",
    "unknown_fields",
]

DATE_FIELDS = ("run_date", "window_start", "window_end")
FIELDS = (*DATE_FIELDS, "watermark")

_BRACES_RE = re.compile(r"\{(\w+)(?::([^{}]*))?\}")
_DIRECTIVE_RE = re.compile(r"%[-_0^#]?.")
# What a strftime directive's text looks like, for reading a date back (verified against ``fill`` after).
_DIRECTIVE_TEXT = {
    "Y": r"\d{4}",
    "y": r"\d{2}",
    "m": r"\d{1,2}",
    "d": r"\d{1,2}",
    "H": r"\d{1,2}",
    "M": r"\d{1,2}",
    "S": r"\d{1,2}",
    "j": r"\d{1,3}",
    "b": r"[A-Za-z]+",
    "B": r"[A-Za-z]+",
    "a": r"[A-Za-z]+",
    "A": r"[A-Za-z]+",
    "%": "%",
}
_ISO_DATE = r"\d{4}-\d{2}-\d{2}"
_ISO_DATETIME = r"\d{4}-\d{2}-\d{2}T[0-9:.]+(?:[+-]\d{2}:\d{2}(?::\d{2})?|Z)?"


@dataclass(frozen=True)
class Field:
    """One ``{name}``/``{name:format}`` of a template; ``format`` is None for the plain form."""

    name: str
    format: str | None
    start: int
    end: int

    @property
    def text(self) -> str:
        return f"{{{self.name}}}" if self.format is None else f"{{{self.name}:{self.format}}}"


def fields(template: str) -> Iterator[Field]:
    """The fields of ``template`` in order; ``{...}`` with another name is literal and not listed."""
    for found in _BRACES_RE.finditer(template):
        if found.group(1) in FIELDS:
            yield Field(found.group(1), found.group(2) or None, found.start(), found.end())


def unknown_fields(template: str, allowed: Collection[str] = DATE_FIELDS) -> list[str]:
    """Each ``{name}``/``{name:...}`` of ``template`` whose name is not in ``allowed``, as written."""
    return [m.group(0) for m in _BRACES_RE.finditer(template) if m.group(1) not in allowed]


def unknown_directives(template: str) -> list[tuple[str, str]]:
    """Each (directive, field as written) of a field's strftime format that this platform's ``strftime``
    does not know: it writes such a directive as it is (``%Q`` stays ``%Q``), so a path that holds one
    never names a file."""
    found = []
    sample = datetime(2025, 1, 2, 3, 4, 5)
    for field in fields(template):
        for directive in _DIRECTIVE_RE.findall(field.format or ""):
            if directive != "%%" and sample.strftime(directive) == directive:
                found.append((directive, field.text))
    return found


def has_date_field(template: str) -> bool:
    return any(f.name in DATE_FIELDS for f in fields(template))


def fill(
    template: str,
    run_date: date,
    *,
    window_start: datetime | None = None,
    window_end: datetime | None = None,
    timezone: str = "UTC",
    watermark: str | None = None,
) -> str:
    """``template`` with its fields filled for the partition ``run_date``.

    The window defaults to the partition's day in ``timezone`` (midnight to the next midnight), which is
    what a daily partition's window is; pass ``window_start``/``window_end`` to use a run's own.

    Raises:
        ValueError: a format on ``{watermark}``.
    """
    start, end = _window(run_date, timezone, window_start, window_end)
    values: dict[str, date | datetime] = {"run_date": run_date, "window_start": start, "window_end": end}
    out, pos = [], 0
    for field in fields(template):
        out.append(template[pos : field.start])
        if field.name == "watermark":
            if field.format is not None:
                raise ValueError(f"template field {field.text}: {{watermark}} takes no format")
            out.append(watermark or "")
        else:
            value = values[field.name]
            out.append(value.isoformat() if field.format is None else value.strftime(field.format))
        pos = field.end
    out.append(template[pos:])
    return "".join(out)


def to_glob(template: str) -> str:
    """A glob that lists the files of every date: each run of strftime directives becomes ``*``.

    ``{run_date:%Y/%m/%d}`` becomes ``*/*/*``, so a dated folder layout is listed across its folders.
    """
    out, pos = [], 0
    for field in fields(template):
        out.append(template[pos : field.start])
        out.append(re.sub(f"(?:{_DIRECTIVE_RE.pattern})+", "*", field.format) if field.format else "*")
        pos = field.end
    out.append(template[pos:])
    return "".join(out)


def match(template: str, path: str, *, timezone: str = "UTC") -> date | None:
    """The run date whose ``fill(template, ...)`` (globs included) matches ``path``, or None.

    ``timezone`` is the partitions' time zone (it only matters for plain ``{window_start}``/
    ``{window_end}``, whose ISO text carries the offset). A template without a date field gives None.
    """
    date_fields = [f for f in fields(template) if f.name in DATE_FIELDS]
    if not date_fields:
        return None
    # The first field that names a whole day; else all fields of the first one's name, read together.
    whole = next((f for f in date_fields if _names_a_day(f.format)), None)
    keys = [whole] if whole else [f for f in date_fields if f.name == date_fields[0].name]
    group = {f.start: f"d{i}" for i, f in enumerate(keys)}
    loose = _regex(
        template,
        lambda f: f"(?P<{group[f.start]}>{_field_regex(f)})" if f.start in group else _field_regex(f),
    )
    found = loose.fullmatch(path)
    if found is None:
        return None
    parsed = _parse([found.group(group[f.start]) for f in keys], [f.format for f in keys])
    if parsed is None:
        return None
    name = keys[0].name
    day = parsed.date() - timedelta(days=1) if name == "window_end" else parsed.date()
    try:
        filled = {f.start: re.escape(fill(f.text, day, timezone=timezone)) for f in date_fields}
    except (ValueError, OverflowError):
        return None
    exact = _regex(template, lambda f: filled.get(f.start, ".*?"))
    return day if exact.fullmatch(path) else None


# --- helpers ----------------------------------------------------------------------------------------------


def _window(
    run_date: date, timezone: str, start: datetime | None, end: datetime | None
) -> tuple[datetime, datetime]:
    if start is None or end is None:
        tz = ZoneInfo(timezone)
        start = start or datetime.combine(run_date, time(), tzinfo=tz)
        end = end or datetime.combine(run_date + timedelta(days=1), time(), tzinfo=tz)
    return start, end


def _parse(texts: list[str], formats: list[str | None]) -> datetime | None:
    """The datetime the fields' texts spell, read together; else (a directive repeated) the first alone."""
    if formats[0] is None:
        try:
            return datetime.fromisoformat(texts[0])
        except ValueError:
            return None
    for count in (len(texts), 1):
        try:
            text, spec = "\x00".join(texts[:count]), "\x00".join(f or "" for f in formats[:count])
            return datetime.strptime(text, spec)
        except (ValueError, re.error):
            continue
    return None


def _names_a_day(spec: str | None) -> bool:
    if spec is None:
        return True
    found = {d[-1] for d in _DIRECTIVE_RE.findall(spec)}
    year = bool(found & {"Y", "y"})
    return year and ("j" in found or (bool(found & {"m", "b", "B"}) and "d" in found))


def _field_regex(field: Field) -> str:
    if field.name == "watermark":
        return ".*?"
    if field.format is None:
        return _ISO_DATE if field.name == "run_date" else _ISO_DATETIME
    parts = _DIRECTIVE_RE.split(field.format)
    directives = _DIRECTIVE_RE.findall(field.format)
    out = [re.escape(parts[0])]
    for directive, literal in zip(directives, parts[1:], strict=True):
        out.append(_DIRECTIVE_TEXT.get(directive[-1], ".+?"))
        out.append(re.escape(literal))
    return "".join(out)


def _regex(template: str, field_regex: Callable[[Field], str]) -> re.Pattern[str]:
    out, pos = [], 0
    for field in fields(template):
        out.append(_glob_regex(template[pos : field.start]))
        out.append(field_regex(field))
        pos = field.end
    out.append(_glob_regex(template[pos:]))
    return re.compile("".join(out))


def _glob_regex(text: str) -> str:
    """The regex of a glob's literal part: ``**`` any depth, ``*``/``?`` within a folder, ``[..]`` a set."""
    out = []
    for part in re.split(r"(\*\*|\*|\?|\[!?[^\]]*\])", text):
        if part == "**":
            out.append(".*")
        elif part == "*":
            out.append("[^/]*")
        elif part == "?":
            out.append("[^/]")
        elif part.startswith("[") and part.endswith("]") and len(part) > 2:
            out.append("[^" + part[2:] if part.startswith("[!") else part)
        else:
            out.append(re.escape(part))
    return "".join(out)
