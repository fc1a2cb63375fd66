"""``records_to_batch``: the one rule that turns parsed JSON records into an Arrow batch."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from medallion_assets.extractors.records import VALUE_COLUMN, records_to_batch, to_json_text


class TestColumns:
    def test_column_order_is_first_appearance_and_missing_keys_are_null(self) -> None:
        batch = records_to_batch([{"b": 1}, {"a": "x", "b": 2}, {"c": True}])
        assert batch.schema.names == ["b", "a", "c"]
        assert batch.to_pylist() == [
            {"b": 1, "a": None, "c": None},
            {"b": 2, "a": "x", "c": None},
            {"b": None, "a": None, "c": True},
        ]

    def test_empty_list_gives_an_empty_batch(self) -> None:
        batch = records_to_batch([])
        assert batch.num_rows == 0
        assert batch.num_columns == 0

    def test_empty_objects_still_count_as_rows(self) -> None:
        assert records_to_batch([{}, {}, {}]).num_rows == 3

    def test_non_object_records_land_in_the_value_column(self) -> None:
        batch = records_to_batch([{"a": 1}, 5, [1, 2]])
        assert batch.schema.names == ["a", VALUE_COLUMN]
        assert batch.column(VALUE_COLUMN).to_pylist() == [None, "5", "[1,2]"]


@pytest.mark.parametrize(
    ("values", "arrow_type", "expected"),
    [
        ([1, 2, None], pa.int64(), [1, 2, None]),
        ([1, 2.5], pa.float64(), [1.0, 2.5]),
        ([1.5, None], pa.float64(), [1.5, None]),
        ([True, False, None], pa.bool_(), [True, False, None]),
        (["a", None], pa.string(), ["a", None]),
        ([None, None], pa.null(), [None, None]),
        ([1, "x"], pa.string(), ["1", "x"]),
        ([True, 1], pa.int64(), [1, 1]),
        ([True, 1.5], pa.float64(), [1.0, 1.5]),
        ([True, "yes"], pa.string(), ["true", "yes"]),
        ([1.5, "x"], pa.string(), ["1.5", "x"]),
        ([100.0, 1.23456789012345e14, "x"], pa.string(), ["100", "1.23456789012345e+14", "x"]),
        ([2**70, 1], pa.string(), [str(2**70), "1"]),
        ([{"b": 1, "a": [1, 2]}, None], pa.string(), ['{"a":[1,2],"b":1}', None]),
        ([[1, {"z": "é"}]], pa.string(), ['[1,{"z":"é"}]']),
        ([{"a": 1}, 3], pa.string(), ['{"a":1}', "3"]),
        ([{"a": 1}, "text"], pa.string(), ['{"a":1}', "text"]),
    ],
    ids=[
        "int",
        "int+float->float",
        "float",
        "bool",
        "string",
        "all-null",
        "int+str->str",
        "bool+int->int",
        "bool+float->float",
        "bool+str->str",
        "float+str->str",
        "floats-as-arrow-writes-them",
        "int-overflow->str",
        "object->json",
        "array->json",
        "object+int->str",
        "object+str->str",
    ],
)
def test_column_type_rule(values: list[Any], arrow_type: pa.DataType, expected: list[Any]) -> None:
    batch = records_to_batch([{"v": value} for value in values])
    assert batch.schema.field("v").type == arrow_type
    assert batch.column("v").to_pylist() == expected


def test_other_python_scalars_keep_their_arrow_type() -> None:
    from datetime import date

    batch = records_to_batch([{"d": date(2025, 1, 2)}, {"d": None}])
    assert batch.schema.field("d").type == pa.date32()


def test_lone_surrogates_do_not_crash() -> None:
    batch = records_to_batch([json.loads('{"s": "bad \\ud800 text"}')])
    assert batch.column("s").to_pylist() == ["bad \\ud800 text"]


def test_nested_text_is_canonical() -> None:
    assert to_json_text({"b": {"y": 1, "x": 2}, "a": [True, None]}) == '{"a":[true,null],"b":{"x":2,"y":1}}'


# --- property: the documented rule holds for any mix of values -------------------------------------------

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.integers(),  # also beyond int64 and float range
    st.floats(allow_nan=False),
    st.text(max_size=8),
)
NESTED = st.one_of(st.lists(SCALARS, max_size=3), st.dictionaries(st.text(max_size=3), SCALARS, max_size=3))
RECORDS = st.lists(
    st.dictionaries(st.sampled_from(["id", "name", "x", "y", "Ünï"]), st.one_of(SCALARS, NESTED), max_size=5),
    max_size=25,
)
INT64 = range(-(2**63), 2**63)


def _fits_float(value: float) -> bool:
    try:
        float(value)
    except OverflowError:
        return False
    return True


def _expected_type(values: list[Any]) -> pa.DataType:
    """The documented rule, restated independently of the implementation."""
    kinds = {"str" if isinstance(v, dict | list | str) else type(v).__name__ for v in values if v is not None}
    if not kinds:
        return pa.null()
    if kinds == {"bool"}:
        return pa.bool_()
    numbers = [v for v in values if v is not None and not isinstance(v, bool)]  # a bool among them is 0/1
    if kinds <= {"bool", "int"} and all(v in INT64 for v in numbers):
        return pa.int64()
    if kinds <= {"bool", "int", "float"} and "float" in kinds and all(_fits_float(v) for v in numbers):
        return pa.float64()
    return pa.string()


@settings(max_examples=300, deadline=None)
@given(RECORDS)
def test_rule_round_trips(records: list[dict[str, Any]]) -> None:
    batch = records_to_batch(records)

    assert batch.num_rows == len(records)
    first_seen = list(dict.fromkeys(key for record in records for key in record))
    assert batch.schema.names == first_seen

    for name in first_seen:
        originals = [record.get(name) for record in records]
        arrow_type = _expected_type(originals)
        assert batch.schema.field(name).type == arrow_type
        for cell, original in zip(batch.column(name).to_pylist(), originals, strict=True):
            if original is None:
                assert cell is None
            elif arrow_type == pa.float64():
                assert cell == float(original)
            elif arrow_type == pa.int64():
                assert cell == int(original) and type(cell) is int  # (True: 1)
            elif arrow_type != pa.string():
                assert cell == original and type(cell) is type(original)
            elif isinstance(original, str):
                assert cell == original  # text is never re-quoted
            elif isinstance(original, float):  # as Arrow writes a float (100.0: "100", inf: "inf")
                assert float(cell) == original
            else:  # objects, arrays and other scalars in a text column: their JSON text
                assert json.loads(cell) == original
