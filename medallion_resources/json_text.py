"""The one rule for turning a nested value (object, array, Arrow struct/list/map) into JSON text.

Every path that stores a nested value as text uses it: JSON records from files and APIs
(``medallion_assets.extractors.records``), SQL ``json``/``jsonb`` and array columns (``sql.types``), and the
storage layer's widening when a struct or list column meets text in another batch (``parts``). So the same
value is the same text in Bronze whichever path brought it::

    {"a":1,"b":"é","n":{"y":null,"z":[1.5,2.0]}}

An Arrow map is an object too (``{"a":1}``, its keys written as JSON writes a dict's: ``{"7":"x"}``), as
the same data from a JSON source is; a map value that repeats a key keeps its ``[key, item]`` pairs.

The rule is ``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``: keys sorted
(equal values give equal text, whatever order a source or a struct schema lists them in), no spaces,
non-ASCII kept as UTF-8 (not ``\\u00e9``). Values JSON has no type for (``datetime``, ``Decimal``, ...
inside a struct or a custom source's dict) are written as the JSON string of ``str(value)``; a nanosecond
timestamp, time or duration of an Arrow value (Python's types stop at the microsecond) as Arrow's text of it,
every digit (``python_values``, which a materialization's preview shows too).

Not polars' ``struct.json_encode``: it keeps the struct's field order and writes a null struct as the text
``null``, so it cannot be the rule for dicts from JSON sources; the Arrow fallback below is per value (it
only runs when a nested column widens to text, never on the common path).
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

from medallion_resources.arrow_types import with_child_types

__all__ = ["json_text_array", "python_values", "to_json_text"]

# One encoder reused: ``json.dumps`` with arguments builds a new one per call (a third of the time).
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def to_json_text(value: Any) -> str:
    """The canonical JSON text of a nested value (sorted keys, no spaces, UTF-8; other scalars: ``str``)."""
    return _ENCODER.encode(value)


def json_text_array(array: pa.Array, target: pa.DataType) -> pa.Array:
    """Each value of ``array`` as its canonical JSON text (null stays null), as a ``target`` string array."""
    return pa.array([None if v is None else _ENCODER.encode(v) for v in python_values(array)], type=target)


def python_values(array: pa.Array | pa.ChunkedArray) -> list[Any]:
    """``array.to_pylist()``, but a nanosecond timestamp, time or duration (also inside a struct, list or
    map) as Arrow's text of it, every digit (``2023-11-14 22:13:20.123456789``, a duration's count of
    nanoseconds): Python's datetime stops at the microsecond, and ``to_pylist`` raised on such a value.

    A map is a dict (``{"a":1}`` in JSON, as a JSON source's object is; a key that is not text is written
    as JSON writes a dict's key: ``1`` -> ``"1"``); a map value that repeats a key, which a dict cannot
    hold, stays its list of ``[key, item]`` pairs, every pair kept."""
    text_type = _nanoseconds_as_text(array.type)
    readable = array if text_type is None else array.cast(text_type)
    try:
        values: list[Any] = readable.to_pylist(maps_as_pydicts="strict")
    except KeyError:  # a repeated key somewhere: dicts for the others, pairs for those values
        values = [_pairs_if_repeated(readable.slice(i, 1)) for i in range(len(readable))]
    return values


def _pairs_if_repeated(one: pa.Array | pa.ChunkedArray) -> Any:
    try:
        return one.to_pylist(maps_as_pydicts="strict")[0]
    except KeyError:
        return one.to_pylist()[0]


def _nanoseconds_as_text(data_type: pa.DataType) -> pa.DataType | None:
    """``data_type`` with each nanosecond temporal type as ``string``, or None when it holds none."""
    if getattr(data_type, "unit", None) == "ns":
        return pa.string()
    if pa.types.is_dictionary(data_type):  # (decoded by the cast)
        return _nanoseconds_as_text(data_type.value_type)
    return with_child_types(data_type, _nanoseconds_as_text)
