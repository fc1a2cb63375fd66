"""JSON-ish records become one Arrow record batch: the one rule every JSON source follows.

File ``json``/``jsonl`` sources and the REST API extractor both hand their parsed records to
``records_to_batch``, so a field lands in Bronze the same way whatever brought it. The rule, per batch:

- **Columns**: every key seen in any record becomes a column, in order of first appearance. A record that
  lacks a key gets null there. Names as Bronze can hold them (``column_names``): the key ``""`` lands as
  ``empty_key`` (``extractors.names.EMPTY_KEY``: a key has no stable position, so it is not named by one as
  an empty CSV header is), and ``empty_key_2``, ... in a batch that also has a key ``empty_key``.
- **Scalars keep their type**: all ``bool`` → ``bool``; all ``int`` → ``int64``; ``int`` and ``float``
  (or only ``float``) → ``float64`` (an int beyond 2**53 is rounded, as a float would be); all ``str`` →
  ``string``; a column that is null in every record → Arrow ``null`` type (the storage layer widens it
  when a later batch has values). Other Python scalars (``datetime``, ``Decimal``, ... from custom
  sources) are handed to ``pyarrow`` as they are.
- **Nested objects and arrays are kept as JSON text** (a ``string`` column), serialised by the one rule of
  ``medallion_resources.json_text`` (``to_json_text``: sorted keys, no spaces, non-ASCII as UTF-8), which
  the storage layer's widening and SQL json columns use too, so equal values give equal text everywhere.
  Silver can parse them back (``json_decode``); nothing is flattened or dropped.
- **Mixed types widen as the storage layer widens them across batches** (``medallion_resources.lake.schema``),
  so the same records land alike wherever a page, a chunk or a file ends: ``bool`` among numbers is a number
  (``true`` -> ``1``; ``int64``, or ``float64`` with floats); a column that mixes in text or nested values
  (``int`` and ``str``, a scalar and an object, ...) is text: strings unchanged, booleans and ints as their
  JSON text (``true``, ``42``), floats as Arrow writes them (``100``, ``1.5``, ``1.23456789012345e+14``),
  objects and arrays as above. An ``int`` too large for ``int64`` makes its column string too.
- **A lone surrogate** (JSON allows ``"\\ud800"``, UTF-8 does not), in a key or a string, is kept visible as
  its escape text ``\\ud800``; a key whose escape text is another key of the batch gets
  ``<name>_<position>`` (the first keeps the name), by the same ``unique_names``.
- **A record that is not an object** (a bare scalar or array in the list) becomes one row whose only
  column is ``value``.

Each batch has its own schema; widening across batches, pages and files (``int64`` then ``string`` →
``string``) is the storage layer's job.

Example::

    records_to_batch([{"id": 1, "tags": ["a"]}, {"id": "x2", "extra": True}])
    # id: string ["1", "x2"]; tags: string ['["a"]', null]; extra: bool [null, true]
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from medallion_assets.extractors.names import EMPTY_KEY, unique_names
from medallion_resources.json_text import to_json_text

__all__ = ["VALUE_COLUMN", "column_names", "records_to_batch", "to_json_text"]

VALUE_COLUMN = "value"
"""Column that holds a record which is not an object."""

_NONE = type(None)


def records_to_batch(records: Sequence[Any]) -> pa.RecordBatch:
    """Build one record batch from parsed JSON records, following the module's rule.

    Args:
        records: parsed JSON values, normally objects (``dict``); see the module docstring for others.

    Returns:
        A batch with ``len(records)`` rows and one column per key, in order of first appearance.
    """
    columns = _collect_columns(records)
    if not columns:  # no records, or only empty objects: rows without columns
        return pa.RecordBatch.from_struct_array(pa.array([{}] * len(records), type=pa.struct([])))
    return pa.RecordBatch.from_arrays(
        [_column_array(values) for values in columns.values()], names=column_names(list(columns))
    )


def column_names(keys: list[str]) -> list[str]:
    """The columns of the keys, in their order: each key as UTF-8 can hold it, as Bronze can hold it.

    The one naming of every JSON path: ``records_to_batch``, and the JSON-lines reader's Arrow chunks (whose
    columns Arrow names from the keys). It changes no name twice, so it may be applied to its own result.
    """
    return unique_names([_utf8(key) for key in keys], empty=EMPTY_KEY)


def _collect_columns(records: Sequence[Any]) -> dict[str, list[Any]]:
    """One pass over the records: a pre-sized value list per key, nested values already as JSON text."""
    n = len(records)
    columns: dict[str, list[Any]] = {}
    for i, record in enumerate(records):
        if not isinstance(record, Mapping):
            record = {VALUE_COLUMN: record}
        for key, value in record.items():
            column = columns.get(key)
            if column is None:
                column = columns[key] = [None] * n
            kind = type(value)
            if kind is dict or kind is list or kind is tuple:
                value = to_json_text(value)
            column[i] = value
    return columns


def _column_array(values: list[Any]) -> pa.Array:
    """The Arrow array of one column: its kinds decide the type; anything pyarrow refuses becomes text."""
    kinds = set(map(type, values))
    kinds.discard(_NONE)
    if not kinds:
        return pa.nulls(len(values))
    if kinds == {str}:
        return _string_array(values)
    if kinds == {bool}:
        return pa.array(values, type=pa.bool_())
    if kinds == {int}:
        try:
            return pa.array(values, type=pa.int64())
        except (OverflowError, pa.ArrowException):
            return _string_array([_scalar_text(v) for v in values])
    if bool in kinds and kinds <= {bool, int, float}:  # numbers, as the storage layer widens them
        number = float if float in kinds else int
        return _column_array([number(v) if type(v) is bool else v for v in values])
    if kinds <= {int, float}:
        try:
            return pa.array(values, type=pa.float64())
        except pa.ArrowInvalid:  # an int beyond 2**53: Arrow refuses to round it, Python's float() does not
            try:
                return pa.array([v if v is None else float(v) for v in values], type=pa.float64())
            except OverflowError:
                return _string_array([_scalar_text(v) for v in values])
    if len(kinds) == 1:
        try:
            return pa.array(values)
        except (TypeError, ValueError, OverflowError, pa.ArrowException):
            pass
    texts = [_scalar_text(v) for v in values]
    floats = [i for i, v in enumerate(values) if type(v) is float]
    if floats:  # as the storage layer casts a float column meeting text: 100.0 -> "100", one Arrow cast
        for i, text in zip(
            floats,
            pa.array([values[i] for i in floats], pa.float64()).cast(pa.string()).to_pylist(),
            strict=True,
        ):
            texts[i] = text
    return _string_array(texts)


def _scalar_text(value: Any) -> str | None:
    """Text of one value in a string column: strings as they are, other scalars as JSON text."""
    kind = type(value)
    if kind is str or value is None:
        return value
    if kind is bool:
        return "true" if value else "false"
    if kind is int or kind is float:
        return json.dumps(value)
    iso = getattr(value, "isoformat", None)
    return iso() if callable(iso) else str(value)


def _string_array(values: list[str | None]) -> pa.Array:
    try:
        return pa.array(values, type=pa.string())
    except (UnicodeEncodeError, pa.ArrowException):
        return pa.array([v if v is None else _utf8(v) for v in values], type=pa.string())


def _utf8(text: str) -> str:
    """``text`` as UTF-8 can hold it: lone surrogates (JSON allows "\\ud800") kept visible as escapes."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text
