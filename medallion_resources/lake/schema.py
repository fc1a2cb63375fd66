"""The schema-widening rule and the schema as JSON (``_metadata.json``).

Schema widening (``widen_schema``) is the one rule used both by the writer, to unify the batches that go
into one part, and by the readers, to unify parts before concatenating them, so that what was written is
what is read back. Columns are the union in order of first appearance (a missing column is null); a column
with two types gets the first matching rule of:

==============================================  ===========================================================
types                                           common type
==============================================  ===========================================================
``null`` + T                                    T
dictionary<V> + T                               V + T (dictionaries are decoded)
string + string (any of string/large/view)      ``large_string``
binary + binary or string                       ``large_binary``
bool + int/float/decimal                        the number
intN + intM                                     the wider; signed + unsigned: signed, twice the unsigned
                                                width (int64 + uint64: ``float64``)
floatN + floatM                                 the wider
int + float                                     ``float64`` (an int beyond 2**53 rounds to the nearest, as
                                                ``float()`` rounds it in one batch)
decimal + decimal, decimal + int                decimal with the most integer digits and the largest scale
                                                (precision over 38: ``float64``)
decimal + float                                 ``float64``
date + date                                     ``date32``
date + timestamp                                the timestamp
timestamp + timestamp                           the finer unit; time zone: the same one, the aware one when
                                                one is naive (naive values are read as UTC), else ``UTC``
time + time, duration + duration                the finer unit
list<A> + list<B>                               list<A + B> (``large_list`` if either is large)
struct + struct                                 struct of the widened fields
anything else                                   ``large_string`` (values cast, or JSON text by the one rule
                                                of ``json_text``: ``{"a":1,"b":"é"}``)
==============================================  ===========================================================
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import pyarrow as pa

from medallion_resources.errors import StorageError
from medallion_resources.json_text import json_text_array

__all__ = [
    "arrow_type_from_name",
    "common_type",
    "is_string",
    "conform_table",
    "schema_from_json",
    "schema_to_json",
    "unify_tables",
    "widen_schema",
]

# --- schema widening --------------------------------------------------------------------------------------

_STRING = pa.large_string()
_UNIT_RANK = {"s": 0, "ms": 1, "us": 2, "ns": 3}
_SIGNED_INTS = {8: pa.int8(), 16: pa.int16(), 32: pa.int32(), 64: pa.int64()}
_INT_DIGITS = {8: 3, 16: 5, 32: 10, 64: 20}  # decimal digits an integer of this width needs


def is_string(t: pa.DataType) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t))


def _is_binary(t: pa.DataType) -> bool:
    return bool(
        pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
        or pa.types.is_binary_view(t)
        or pa.types.is_fixed_size_binary(t)
    )


def _is_list(t: pa.DataType) -> bool:
    return bool(pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t))


def _finer(a: str, b: str) -> str:
    return a if _UNIT_RANK[a] >= _UNIT_RANK[b] else b


def _common_int(a: pa.DataType, b: pa.DataType) -> pa.DataType:
    signed_a, signed_b = pa.types.is_signed_integer(a), pa.types.is_signed_integer(b)
    if signed_a == signed_b:
        return a if a.bit_width >= b.bit_width else b
    signed, unsigned = (a, b) if signed_a else (b, a)
    bits = max(signed.bit_width, 2 * unsigned.bit_width)
    return _SIGNED_INTS.get(bits, pa.float64())


def _as_decimal(t: pa.DataType) -> tuple[int, int]:
    """(integer digits, scale) of a decimal or integer type."""
    if pa.types.is_integer(t):
        return _INT_DIGITS[t.bit_width], 0
    if pa.types.is_boolean(t):
        return 1, 0
    return t.precision - t.scale, t.scale


def _common_decimal(a: pa.DataType, b: pa.DataType) -> pa.DataType:
    (ia, sa), (ib, sb) = _as_decimal(a), _as_decimal(b)
    scale = max(sa, sb)
    precision = max(ia, ib) + scale
    return pa.float64() if precision > 38 else pa.decimal128(precision, scale)


def _common_timestamp(a: pa.DataType, b: pa.DataType) -> pa.DataType:
    unit = _finer(a.unit, b.unit)
    if a.tz == b.tz:
        tz = a.tz
    elif a.tz is None or b.tz is None:
        tz = a.tz or b.tz
    else:
        tz = "UTC"
    return pa.timestamp(unit, tz)


def _numeric_kind(t: pa.DataType) -> str | None:
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_integer(t):
        return "int"
    if pa.types.is_floating(t):
        return "float"
    if pa.types.is_decimal(t):
        return "decimal"
    return None


def _common_numeric(a: pa.DataType, b: pa.DataType) -> pa.DataType | None:
    kinds = {_numeric_kind(a), _numeric_kind(b)}
    if None in kinds:
        return None
    if "bool" in kinds:
        return b if pa.types.is_boolean(a) else a
    if kinds == {"int"}:
        return _common_int(a, b)
    if kinds == {"float"}:
        return a if a.bit_width >= b.bit_width else b
    if "float" in kinds:
        return pa.float64()
    if kinds == {"int", "float"}:
        return pa.float64()
    return _common_decimal(a, b)  # decimal + decimal or decimal + int


def common_type(a: pa.DataType, b: pa.DataType) -> pa.DataType:
    """The type both ``a`` and ``b`` convert to without loss where possible (see the module's table)."""
    if a.equals(b):
        return a
    if pa.types.is_dictionary(a):
        return common_type(a.value_type, b)
    if pa.types.is_dictionary(b):
        return common_type(a, b.value_type)
    if pa.types.is_null(a):
        return b
    if pa.types.is_null(b):
        return a
    if is_string(a) and is_string(b):
        return _STRING
    if (_is_binary(a) or is_string(a)) and (_is_binary(b) or is_string(b)):
        return pa.large_binary()
    numeric = _common_numeric(a, b)
    if numeric is not None:
        return numeric
    if pa.types.is_date(a) and pa.types.is_date(b):
        return pa.date32()
    if pa.types.is_timestamp(a) and pa.types.is_date(b):
        return a
    if pa.types.is_date(a) and pa.types.is_timestamp(b):
        return b
    if pa.types.is_timestamp(a) and pa.types.is_timestamp(b):
        return _common_timestamp(a, b)
    if pa.types.is_time(a) and pa.types.is_time(b):
        unit = _finer(a.unit, b.unit)
        return pa.time64(unit) if unit in ("us", "ns") else pa.time32(unit)
    if pa.types.is_duration(a) and pa.types.is_duration(b):
        return pa.duration(_finer(a.unit, b.unit))
    if _is_list(a) and _is_list(b):
        item = common_type(a.value_type, b.value_type)
        large = pa.types.is_large_list(a) or pa.types.is_large_list(b)
        return pa.large_list(item) if large else pa.list_(item)
    if pa.types.is_struct(a) and pa.types.is_struct(b):
        return pa.struct(list(widen_schema(pa.schema(list(a)), pa.schema(list(b)))))
    return _STRING


def widen_schema(a: pa.Schema, b: pa.Schema) -> pa.Schema:
    """Union of the columns of ``a`` and ``b`` (order of first appearance), each with its common type."""
    if a.equals(b):
        return a
    b_fields = {f.name: f for f in reversed(list(b))}
    fields: list[pa.Field] = []
    seen: set[str] = set()
    for field in a:
        if field.name in seen:
            continue
        seen.add(field.name)
        other = b_fields.get(field.name)
        if other is None:
            fields.append(field.with_nullable(True))
        else:
            fields.append(
                pa.field(field.name, common_type(field.type, other.type), field.nullable or other.nullable)
            )
    for field in b:
        if field.name not in seen:
            seen.add(field.name)
            fields.append(field.with_nullable(True))
    return pa.schema(fields, metadata=a.metadata)


def _conform_array(arr: pa.Array, target: pa.DataType) -> pa.Array:
    if arr.type.equals(target):
        return arr
    if pa.types.is_dictionary(arr.type) and not pa.types.is_dictionary(target):
        return _conform_array(arr.dictionary_decode(), target)
    if pa.types.is_boolean(arr.type) and pa.types.is_decimal(target):
        arr = arr.cast(pa.int8())
    if pa.types.is_floating(target) and (pa.types.is_integer(arr.type) or pa.types.is_decimal(arr.type)):
        # A number widened to float64 rounds to the nearest float64, as ``float()`` does in the records rule
        # (an int beyond 2**53 in one batch); Arrow's safe cast would refuse it and fail the read.
        return arr.cast(target, safe=False)
    try:
        return arr.cast(target)
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError):
        if is_string(target):
            return json_text_array(arr, target)  # the one nested-JSON-to-text rule
        if pa.types.is_struct(target) and pa.types.is_struct(arr.type):
            children = dict(zip(arr.type.names, arr.flatten(), strict=True))
            columns = [
                _conform_array(children[f.name], f.type) if f.name in children else pa.nulls(len(arr), f.type)
                for f in target
            ]
            return pa.StructArray.from_arrays(columns, fields=list(target), mask=arr.is_null())
        if _is_list(target) and _is_list(arr.type) and not pa.types.is_fixed_size_list(arr.type):
            values = _conform_array(arr.values, target.value_type)
            cls = pa.LargeListArray if pa.types.is_large_list(target) else pa.ListArray
            offsets = arr.offsets.cast(pa.int64() if cls is pa.LargeListArray else pa.int32())
            return cls.from_arrays(offsets, values, type=target, mask=arr.is_null())
        raise


def conform_table(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with exactly ``schema``'s columns, in order: casts widened columns, adds missing as nulls."""
    if table.schema.equals(schema):
        return table
    columns = []
    for field in schema:
        if field.name not in table.column_names:
            columns.append(pa.nulls(table.num_rows, field.type))
            continue
        column = table.column(field.name)
        try:
            chunks = [_conform_array(chunk, field.type) for chunk in column.chunks]
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            hint = ""
            ns_timestamp = pa.types.is_timestamp(field.type) and field.type.unit == "ns"
            if ns_timestamp and "out of bounds" in str(exc):
                hint = (
                    " (a nanosecond value holds years 1677-2262 only: write the data of this column in one "
                    "unit, microseconds for such dates, or land the two under different sources)"
                )
            raise StorageError(
                f"column '{field.name}': cannot convert {column.type} to the widened type {field.type}: "
                f"{exc}{hint}"
            ) from exc
        columns.append(pa.chunked_array(chunks, type=field.type))
    return pa.Table.from_arrays(columns, schema=schema)


def unify_tables(tables: list[pa.Table]) -> pa.Table:
    """Concatenate tables with possibly different schemas, widened by ``widen_schema``."""
    schema = tables[0].schema
    for table in tables[1:]:
        schema = widen_schema(schema, table.schema)
    return pa.concat_tables([conform_table(t, schema) for t in tables])


# --- schema as JSON (for _metadata.json) ------------------------------------------------------------------

_TIMESTAMP_RE = re.compile(r"^timestamp\[(s|ms|us|ns)(?:, tz=(.+))?\]$")
_DECIMAL_RE = re.compile(r"^decimal(128|256)?\((\d+),\s*(-?\d+)\)$")


def schema_to_json(schema: pa.Schema) -> list[dict[str, str]]:
    """``[{"name", "type"}]`` with Arrow's type names (``int64``, ``timestamp[us, tz=UTC]``, ...)."""
    return [{"name": f.name, "type": str(f.type)} for f in schema]


def arrow_type_from_name(name: str) -> pa.DataType | None:
    """The Arrow type a name stands for (``int64``, ``timestamp[us, tz=UTC]``, ``decimal(18,2)``), or None."""
    name = name.strip()
    if match := _TIMESTAMP_RE.match(name):
        return pa.timestamp(match.group(1), match.group(2))
    if match := _DECIMAL_RE.match(name):
        bits, precision, scale = match.groups()
        make = pa.decimal256 if bits == "256" else pa.decimal128
        return make(int(precision), int(scale))
    try:
        return pa.type_for_alias(name)
    except ValueError:
        return None


def schema_from_json(columns: Iterable[dict[str, Any]]) -> pa.Schema | None:
    """Inverse of ``schema_to_json``; None when a type name is not understood (nested types, say)."""
    fields = []
    for column in columns:
        data_type = arrow_type_from_name(str(column.get("type", "")))
        if data_type is None or "name" not in column:
            return None
        fields.append(pa.field(str(column["name"]), data_type))
    return pa.schema(fields)
