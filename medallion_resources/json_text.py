"""The one rule for turning a nested value (object, array, Arrow struct/list/map) into JSON text.

Every path that stores a nested value as text uses it: JSON records from files and APIs
(``medallion_assets.extractors.records``), SQL ``json``/``jsonb`` and array columns (``sql.types``), and the
storage layer's widening when a struct or list column meets text in another batch (``parts``). So the same
value is the same text in Bronze whichever path brought it::

    {"a":1,"b":"é","n":{"y":null,"z":[1.5,2.0]}}

The rule is ``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``: keys sorted
(equal values give equal text, whatever order a source or a struct schema lists them in), no spaces,
non-ASCII kept as UTF-8 (not ``\\u00e9``). Values JSON has no type for (``datetime``, ``Decimal``, ...
inside a struct or a custom source's dict) are written as the JSON string of ``str(value)``.

Not polars' ``struct.json_encode``: it keeps the struct's field order and writes a null struct as the text
``null``, so it cannot be the rule for dicts from JSON sources; the Arrow fallback below is per value (it
only runs when a nested column widens to text, never on the common path).
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

__all__ = ["json_text_array", "to_json_text"]

# One encoder reused: ``json.dumps`` with arguments builds a new one per call (a third of the time).
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def to_json_text(value: Any) -> str:
    """The canonical JSON text of a nested value (sorted keys, no spaces, UTF-8; other scalars: ``str``)."""
    return _ENCODER.encode(value)


def json_text_array(array: pa.Array, target: pa.DataType) -> pa.Array:
    """Each value of ``array`` as its canonical JSON text (null stays null), as a ``target`` string array."""
    return pa.array([None if v is None else _ENCODER.encode(v) for v in array.to_pylist()], type=target)
