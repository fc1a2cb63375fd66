"""Cron expressions checked field by field when the config loads, so a bad one never reaches Dagster.

Dagster refuses an invalid ``cron_schedule`` when the code location loads, and then *every* source's assets,
schedules and sensors vanish from the UI. ``check_cron`` accepts the standard five-field syntax (a subset of
what Dagster accepts) and says which field is wrong and what it allows::

    schedule: {cron: "30 2 * * 1-5"}      # minute hour day-of-month month day-of-week

Each field is ``*`` or a comma list of items ``N``, ``A-B``, ``*/S``, ``A-B/S`` or ``N/S`` within the field's
range; months and weekdays may be names (``JAN``, ``MON``). Also: ``L`` (last day) in the day-of-month field,
``D#N`` (the N-th weekday D of the month; only with other ``D#N`` items) in the day-of-week field, and the
macros ``@hourly``, ``@daily``, ``@midnight``, ``@weekly``, ``@monthly``, ``@yearly`` and ``@annually``.
Refused too, although Dagster takes them: a day that no selected month has (``0 0 31 4 *``: it would never
tick), a range written backwards, and a step past its range's end (Dagster would tick more often).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["check_cron"]


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()  # names[i] stands for low + i

    def allowed(self) -> str:
        named = f" or {self.names[0]}-{self.names[-1]}" if self.names else ""
        return f"{self.low}-{self.high}{named}"


_FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day-of-month", 1, 31),
    _Field(
        "month", 1, 12, ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
    ),
    _Field("day-of-week", 0, 7, ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")),  # 0 and 7: Sunday
)
_MACROS = ("@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly", "@annually")
_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_ITEM = re.compile(r"(?P<range>\*|[A-Za-z0-9]+(?:-[A-Za-z0-9]+)?)(?:/(?P<step>[0-9]+))?")
_SYNTAX = "'*', N, A-B, */S, A-B/S or N/S, comma-separated"


class CronError(ValueError):
    """A cron expression that Dagster would refuse, or that would never tick."""


def check_cron(expression: str) -> str:
    """``expression`` when it is a valid five-field cron; ``CronError`` naming the field and its range."""
    text = expression.strip()
    if text.lower() in _MACROS:
        return expression
    parts = text.split()
    if len(parts) != len(_FIELDS):
        raise CronError(
            f"cron '{expression}' has {len(parts)} field(s); it needs 5: minute hour day-of-month month "
            f"day-of-week (e.g. '0 2 * * *'), or one of {', '.join(_MACROS)}"
        )
    selected = [_values(part, spec, expression) for part, spec in zip(parts, _FIELDS, strict=True)]
    days, months, weekdays = selected[2], selected[3], selected[4]
    if days and months is not None and weekdays is None:  # a restricted weekday ticks on its own
        if all(day > _DAYS_IN_MONTH[month - 1] for day in days for month in months):
            raise CronError(
                f"cron '{expression}' never ticks: no selected month has day {_listing(days)} "
                "(February has at most 29 days; April, June, September and November 30)"
            )
    return expression


def _values(part: str, spec: _Field, expression: str) -> set[int] | None:
    """The values a field selects (None for ``*`` alone, an empty set for ``L`` or ``D#N`` items)."""
    if part == "*":
        return None
    values: set[int] = set()
    where = f"cron '{expression}': {spec.name}"
    items = part.split(",")
    if any("#" in item for item in items) and not all("#" in item for item in items):
        raise CronError(f"{where} '{part}': D#N items cannot be mixed with other items in one field")
    for item in items:
        if spec.name == "day-of-month" and item.upper() == "L":
            continue
        if spec.name == "day-of-week" and "#" in item:
            weekday, _, nth = item.partition("#")
            _value(weekday, spec, where)
            if not nth.isdigit() or not 1 <= int(nth) <= 5:
                raise CronError(f"{where} '{item}': the week number after '#' must be 1-5")
            continue
        match = _ITEM.fullmatch(item)
        if match is None:
            raise CronError(f"{where} '{item}' is not valid; allowed: {_SYNTAX}, values {spec.allowed()}")
        low, high = _bounds(match.group("range"), spec, where)
        step_text = match.group("step")
        if step_text is not None and "-" not in match.group("range") and match.group("range") != "*":
            high = spec.high  # N/S: from N to the end of the range
        step = int(step_text) if step_text is not None else 1
        if not 1 <= step <= spec.high - spec.low:
            raise CronError(
                f"{where} '{item}': step {step} is out of range; allowed: 1-{spec.high - spec.low}"
            )
        if "-" in match.group("range") and low == high:
            raise CronError(f"{where} '{item}' is a range of one value; write {low}")
        if (
            step_text is not None and step > high
        ):  # Dagster would normalize it into a schedule that ticks more often than written
            raise CronError(f"{where} '{item}': step {step} is larger than the range's end {high}")
        values.update(range(low, high + 1, step))
    return values


def _bounds(text: str, spec: _Field, where: str) -> tuple[int, int]:
    if text == "*":
        return spec.low, spec.high
    first, _, last = text.partition("-")
    low = _value(first, spec, where)
    high = _value(last, spec, where) if last else low
    if low > high:
        raise CronError(f"{where} '{text}' runs backwards; write the smaller value first")
    return low, high


def _value(text: str, spec: _Field, where: str) -> int:
    upper = text.upper()
    if upper in spec.names:
        return spec.low + spec.names.index(upper)
    if not text.isdigit() or not spec.low <= int(text) <= spec.high:
        raise CronError(f"{where} '{text}' is out of range; allowed: {spec.allowed()}")
    return int(text)


def _listing(values: set[int]) -> str:
    ordered = sorted(values)
    return ", ".join(str(v) for v in ordered[:5]) + (", ..." if len(ordered) > 5 else "")
