"""Nested Arrow types rebuilt with other child types, the one walk through structs, maps and lists.

Every rule that changes a type inside a nested one (Bronze's readable types, the JSON-text rule's nanosecond
values) goes through ``with_child_types``."""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa

__all__ = ["with_child_types"]


def with_child_types(
    data_type: pa.DataType, child: Callable[[pa.DataType], pa.DataType | None]
) -> pa.DataType | None:
    """``data_type`` (a struct, map, list, large list or fixed-size list) with each child field's type
    replaced by ``child(type)`` where that gives one (field names and nullability kept); None when no child
    changes, or ``data_type`` is none of these (a union's children are left to the caller)."""
    if pa.types.is_map(data_type):  # one child, the entries struct: its key and item fields
        fields = [data_type.key_field, data_type.item_field]
    else:
        fields = [data_type.field(i) for i in range(data_type.num_fields)]
    types = [child(f.type) for f in fields]
    if all(t is None for t in types):
        return None
    children = [f if t is None else f.with_type(t) for f, t in zip(fields, types, strict=True)]
    if pa.types.is_struct(data_type):
        return pa.struct(children)
    if pa.types.is_map(data_type):
        return pa.map_(children[0], children[1])
    if pa.types.is_large_list(data_type):
        return pa.large_list(children[0])
    if pa.types.is_fixed_size_list(data_type):
        return pa.list_(children[0], data_type.list_size)
    if pa.types.is_list(data_type):
        return pa.list_(children[0])
    return None
