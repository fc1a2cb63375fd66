"""prepare(): rename, normalize, type, quarantine, order; and the quarantine thresholds."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

import polars as pl
import pytest

from medallion_assets.config.models import ErrorHandlingConfig, SilverConfig
from medallion_assets.errors import DeleteThresholdError, QuarantineThresholdError, SilverInputError
from medallion_assets.silver.prepare import (
    ERROR_REASON,
    enforce_delete_fraction,
    enforce_thresholds,
    parse_type,
    prepare,
)


def config(**silver: Any) -> SilverConfig:
    return SilverConfig.model_validate(silver)


def bronze(**columns: list[Any]) -> pl.DataFrame:
    """Columns plus two of the columns Bronze adds."""
    return pl.DataFrame(columns).with_columns(
        pl.lit(date(2025, 6, 1)).alias("_load_date"), pl.lit("retail").alias("_source_system")
    )


class TestRename:
    def test_renames_before_everything_else(self) -> None:
        frame = bronze(ID=["1", "2"], Amount=["1.5", "2"])
        cfg = config(
            primary_keys=["id"],
            schema={"rename_map": {"ID": "id", "Amount": "amount"}, "types": {"id": "int64"}},
        )
        clean = prepare(frame, cfg).clean
        assert clean.columns[:2] == ["id", "amount"]
        assert clean.get_column("id").to_list() == [1, 2]

    def test_missing_source_column_names_it_and_the_present_ones(self) -> None:
        cfg = config(schema={"rename_map": {"nope": "x"}})
        with pytest.raises(
            SilverInputError, match=r"rename_map names column\(s\) 'nope'.*present columns: a, "
        ):
            prepare(bronze(a=[1]), cfg)

    def test_rename_onto_an_existing_column_is_an_error(self) -> None:
        cfg = config(schema={"rename_map": {"a": "b"}})
        with pytest.raises(SilverInputError, match="several columns the name.*b"):
            prepare(bronze(a=[1], b=[2]), cfg)


class TestRequiredColumns:
    @pytest.mark.parametrize(
        ("silver", "match"),
        [
            (
                {"primary_keys": ["id", "nope"]},
                r"primary_keys names column\(s\) 'nope'.*present columns: id, v",
            ),
            ({"order_column": "ts"}, r"order_column names column\(s\) 'ts'.*present columns: id"),
            ({"schema": {"column_order": ["v", "zz"]}}, r"column_order names column\(s\) 'zz'"),
            ({"schema": {"types": {"zz": "int64"}}}, r"types names column\(s\) 'zz'"),
        ],
    )
    def test_missing_column_is_a_clear_error(self, silver: dict[str, Any], match: str) -> None:
        with pytest.raises(SilverInputError, match=match):
            prepare(bronze(id=[1], v=["a"]), config(**silver))

    @pytest.mark.parametrize(
        "schema",
        [
            {"types": {"amount": "decimal(10,2)"}},
            {"column_order": ["amount"]},
            {"rename_map": {"amt": "amount"}},
        ],
    )
    def test_a_column_silver_has_that_the_day_leaves_out_is_null(self, schema: dict[str, Any]) -> None:
        """Not an error when Silver D-1 has the column (``known``): the day's rows have no value for it."""
        cfg = config(primary_keys=["id"], schema=schema)
        clean = prepare(bronze(id=[1, 2], v=["a", "b"]), cfg, known={"id", "v", "amount"}).clean
        assert clean.get_column("amount").to_list() == [None, None]
        if "types" in schema:
            assert clean.schema["amount"] == pl.Decimal(10, 2)

    def test_keys_are_required_even_when_silver_has_them(self) -> None:
        with pytest.raises(SilverInputError, match=r"primary_keys names column\(s\) 'id'"):
            prepare(bronze(v=["a"]), config(primary_keys=["id"]), known={"id", "v"})

    def test_key_checked_after_rename(self) -> None:
        cfg = config(primary_keys=["id"], schema={"rename_map": {"ID": "id"}})
        assert prepare(bronze(ID=[1]), cfg).clean.columns[0] == "id"


class TestNormalization:
    FRAME = {"s": ["  a ", "", "   ", None], "n": [1, 2, 3, 4], "_source_file": [" f ", "", " ", None]}

    @pytest.mark.parametrize(
        ("trim", "empty", "expected"),
        [
            (False, False, ["  a ", "", "   ", None]),
            (True, False, ["a", "", "", None]),
            (False, True, ["  a ", None, "   ", None]),
            (True, True, ["a", None, None, None]),
        ],
    )
    def test_string_rules(self, trim: bool, empty: bool, expected: list[str | None]) -> None:
        cfg = config(normalization={"trim_strings": trim, "empty_strings_as_null": empty})
        clean = prepare(pl.DataFrame(self.FRAME), cfg).clean
        assert clean.get_column("s").to_list() == expected
        assert clean.get_column("n").to_list() == [1, 2, 3, 4]
        # Bronze's own columns are never touched.
        assert clean.get_column("_source_file").to_list() == [" f ", "", " ", None]

    def test_trim_happens_before_cast(self) -> None:
        cfg = config(normalization={"trim_strings": True}, schema={"types": {"n": "int32"}})
        clean = prepare(pl.DataFrame({"n": [" 7 "]}), cfg).clean
        assert clean.schema["n"] == pl.Int32
        assert clean.get_column("n").to_list() == [7]


# (type, Bronze values, values after the cast (None where the cast fails), rows that fail)
CASTS: list[tuple[str, list[Any], list[Any], list[int]]] = [
    ("int64", ["1", "-2", "x", "1.0", None], [1, -2, None, None, None], [2, 3]),
    ("int8", ["127", "128"], [127, None], [1]),
    ("uint8", ["0", "-1"], [0, None], [1]),
    ("float64", ["1.5", "1e3", "abc"], [1.5, 1000.0, None], [2]),
    ("float32", ["0.5"], [0.5], []),
    ("string", ["a", None], ["a", None], []),
    ("utf8", ["a"], ["a"], []),
    (
        "boolean",
        ["true", "FALSE", "1", "0", "Yes", "no", "maybe", None],
        [True, False, True, False, True, False, None, None],
        [6],
    ),
    ("bool", ["y"], [None], [0]),
    ("date", ["2025-06-01", "2025-13-01", "06/01/2025"], [date(2025, 6, 1), None, None], [1, 2]),
    (
        "datetime",
        [
            "2025-06-01T10:11:12",
            "2025-06-01 10:11:12.5",
            "2025-06-01T10:11",
            "2025-06-01",
            "2025-06-01T10:00:00Z",
            "2025-06-01T10:00:00+02:00",
            "noon",
        ],
        [
            datetime(2025, 6, 1, 10, 11, 12),
            datetime(2025, 6, 1, 10, 11, 12, 500000),
            datetime(2025, 6, 1, 10, 11),
            datetime(2025, 6, 1),
            datetime(2025, 6, 1, 10),
            datetime(2025, 6, 1, 8),
            None,
        ],
        [6],
    ),
    ("timestamp", ["2025-06-01 00:00:00"], [datetime(2025, 6, 1)], []),
    ("time", ["10:11:12", "10:11", "25:00"], [time(10, 11, 12), time(10, 11), None], [2]),
    (
        "decimal(18,2)",
        ["10.5", "-0.25", "12.345", "12.340", "abc", "123456789012345678"],
        [Decimal("10.50"), Decimal("-0.25"), None, Decimal("12.34"), None, None],
        [2, 4, 5],
    ),
]


class TestTypes:
    @pytest.mark.parametrize(
        ("type_name", "values", "expected", "bad_rows"), CASTS, ids=[c[0] for c in CASTS]
    )
    def test_string_casts(
        self, type_name: str, values: list[Any], expected: list[Any], bad_rows: list[int]
    ) -> None:
        frame = pl.DataFrame(
            {"row": list(range(len(values))), "c": values}, schema={"row": pl.Int64, "c": pl.String}
        )
        result = prepare(frame, config(schema={"types": {"c": type_name}}))
        assert result.clean.schema["c"] == parse_type(type_name)
        assert result.errors.get_column("row").to_list() == bad_rows
        good = [v for i, v in enumerate(expected) if i not in bad_rows]
        assert result.clean.get_column("c").to_list() == good

    def test_datetimes_are_wall_time_in_the_partition_timezone(self) -> None:
        """Days in Europe/Paris (UTC+1 in winter, +2 in summer): a value without an offset is Paris wall
        time as written; one with an offset or Z is the same instant in Paris wall time."""
        values = [
            "2025-03-01T10:00:00",
            "2025-03-01T09:30:00Z",
            "2025-03-01T10:00:00+02:00",
            "2025-03-01T23:30:00-01:00",
            "2025-07-01T10:00:00Z",
            "2025-03-01",
        ]
        frame = pl.DataFrame({"c": values})
        result = prepare(frame, config(schema={"types": {"c": "datetime"}}), timezone="Europe/Paris")
        assert result.errors.height == 0
        assert result.clean.get_column("c").to_list() == [
            datetime(2025, 3, 1, 10),
            datetime(2025, 3, 1, 10, 30),
            datetime(2025, 3, 1, 9),
            datetime(2025, 3, 2, 1, 30),
            datetime(2025, 7, 1, 12),
            datetime(2025, 3, 1),
        ]

    @pytest.mark.parametrize("unit", ["us", "ns"])
    def test_a_timezone_aware_column_typed_datetime_is_wall_time_in_the_partition_timezone(
        self, unit: str
    ) -> None:
        """A Parquet or PostgreSQL ``timestamptz`` column (here in UTC and in New York) typed ``datetime``
        with days in Europe/Paris: the same instants as Paris wall time, as a text value with an offset."""
        frame = pl.DataFrame(
            {
                "utc": [datetime(2025, 3, 1, 9, 30, tzinfo=UTC), datetime(2025, 7, 1, 10, tzinfo=UTC)],
                "ny": [datetime(2025, 3, 1, 9, 30, tzinfo=UTC), datetime(2025, 7, 1, 10, tzinfo=UTC)],
            },
            schema={"utc": pl.Datetime(unit, "UTC"), "ny": pl.Datetime(unit, "UTC")},
        ).with_columns(pl.col("ny").dt.convert_time_zone("America/New_York"))
        types = {"utc": "datetime", "ny": "timestamp"}
        result = prepare(frame, config(schema={"types": types}), timezone="Europe/Paris")
        expected = [datetime(2025, 3, 1, 10, 30), datetime(2025, 7, 1, 12)]
        assert result.clean.schema["utc"] == pl.Datetime("us")
        assert result.clean.get_column("utc").to_list() == expected
        assert result.clean.get_column("ny").to_list() == expected

    def test_failed_cast_reason_and_original_value(self) -> None:
        frame = pl.DataFrame({"id": [1, 2], "amount": ["1.00", "abc"]})
        result = prepare(frame, config(schema={"types": {"amount": "decimal(18,2)"}}))
        assert result.errors.to_dicts() == [
            {
                "id": 2,
                "amount": "abc",
                ERROR_REASON: "cast failed: column 'amount' value 'abc' is not decimal(18,2)",
            }
        ]
        assert result.reason_counts == {"cast failed: column 'amount' is not decimal(18,2)": 1}

    def test_non_string_source_casts_with_null_on_overflow(self) -> None:
        frame = pl.DataFrame({"n": [1, 300, None]})
        result = prepare(frame, config(schema={"types": {"n": "int8"}}))
        assert result.clean.get_column("n").to_list() == [1, None]
        assert result.errors.get_column("n").to_list() == [300]

    def test_null_stays_null_and_is_not_a_failure(self) -> None:
        result = prepare(
            pl.DataFrame({"c": [None, "1"]}, schema={"c": pl.String}),
            config(schema={"types": {"c": "int64"}}),
        )
        assert result.errors.height == 0
        assert result.clean.get_column("c").to_list() == [None, 1]

    def test_unknown_type(self) -> None:
        with pytest.raises(SilverInputError, match="unknown type 'money'.*decimal"):
            parse_type("money")


class TestQuarantine:
    def test_null_primary_key(self) -> None:
        frame = pl.DataFrame({"order_id": [1, None, 3], "v": ["a", "b", "c"]})
        result = prepare(frame, config(primary_keys=["order_id"]))
        assert result.clean.get_column("order_id").to_list() == [1, 3]
        assert result.errors.to_dicts() == [
            {"order_id": None, "v": "b", ERROR_REASON: "null primary key: order_id"}
        ]

    def test_empty_key_after_normalization_is_null(self) -> None:
        frame = pl.DataFrame({"k": [" ", "a"]})
        cfg = config(primary_keys=["k"], normalization={"trim_strings": True, "empty_strings_as_null": True})
        result = prepare(frame, cfg)
        assert result.errors.get_column("k").to_list() == [" "]  # the value as Bronze held it
        assert result.errors.get_column(ERROR_REASON).to_list() == ["null primary key: k"]

    def test_failed_cast_of_a_key_is_not_also_a_null_key(self) -> None:
        result = prepare(
            pl.DataFrame({"k": ["x"]}), config(primary_keys=["k"], schema={"types": {"k": "int64"}})
        )
        assert result.errors.get_column(ERROR_REASON).to_list() == [
            "cast failed: column 'k' value 'x' is not int64"
        ]

    def test_held_keys_are_the_valid_keys_of_the_bad_rows_typed_as_clean(self) -> None:
        """A full load must not delete a key whose rows were all quarantined: Bronze holds it."""
        frame = pl.DataFrame(
            {"k": ["1", " 2 ", "x", None, "2", "3"], "amount": ["a", "b", "c", "d", "e", "1"]}
        )
        cfg = config(
            primary_keys=["k"],
            schema={"types": {"k": "int64", "amount": "float64"}},
            normalization={"trim_strings": True},
        )
        result = prepare(frame, cfg)
        assert result.clean.get_column("k").to_list() == [3]
        assert result.held_keys is not None
        assert result.held_keys.to_dict(as_series=False) == {"k": [1, 2]}  # "x" and null are no keys

    def test_no_bad_rows_hold_no_keys(self) -> None:
        result = prepare(pl.DataFrame({"k": [1]}), config(primary_keys=["k"]))
        assert result.held_keys is None

    def test_a_row_with_several_problems_appears_once_with_every_reason(self) -> None:
        frame = pl.DataFrame(
            {"a": [None, 1], "b": [None, 2], "amount": ["x", "1"], "day": ["never", "2025-01-01"]}
        )
        cfg = config(primary_keys=["a", "b"], schema={"types": {"amount": "float64", "day": "date"}})
        result = prepare(frame, cfg)
        assert result.errors.height == 1
        assert result.errors.item(0, ERROR_REASON) == (
            "cast failed: column 'amount' value 'x' is not float64; "
            "cast failed: column 'day' value 'never' is not date; "
            "null primary key: a; null primary key: b"
        )
        assert result.reason_counts == {
            "cast failed: column 'amount' is not float64": 1,
            "cast failed: column 'day' is not date": 1,
            "null primary key: a": 1,
            "null primary key: b": 1,
        }
        assert result.clean.height == 1

    def test_errors_follow_column_order_and_end_with_the_reason(self) -> None:
        frame = pl.DataFrame({"a": [None], "b": ["x"]})
        result = prepare(frame, config(primary_keys=["a"], schema={"column_order": ["b"]}))
        assert result.errors.columns == ["b", "a", ERROR_REASON]

    def test_no_bad_rows(self) -> None:
        result = prepare(pl.DataFrame({"a": [1]}), config(primary_keys=["a"]))
        assert result.errors.height == 0
        assert result.errors.columns == ["a", ERROR_REASON]
        assert result.reason_counts == {}

    def test_empty_frame(self) -> None:
        frame = pl.DataFrame(schema={"a": pl.String, "b": pl.String})
        result = prepare(frame, config(primary_keys=["a"], schema={"types": {"b": "int64"}}))
        assert result.clean.height == 0
        assert result.clean.schema["b"] == pl.Int64

    def test_disabled_error_handling_raises_on_the_first_bad_row(self) -> None:
        frame = pl.DataFrame({"k": [None, 1]})
        cfg = config(primary_keys=["k"], error_handling={"enabled": False, "max_bad_records": 10})
        with pytest.raises(
            QuarantineThresholdError, match=r"orders: 1 of 2 rows .*enabled is false.*null primary key: k: 1"
        ):
            prepare(frame, cfg, dataset="orders")

    def test_disabled_error_handling_passes_clean_rows(self) -> None:
        cfg = config(primary_keys=["k"], error_handling={"enabled": False})
        assert prepare(pl.DataFrame({"k": [1]}), cfg).clean.height == 1


class TestColumnOrder:
    def test_listed_first_rest_in_their_order(self) -> None:
        frame = pl.DataFrame({"a": [1], "b": [2], "c": [3], "_load_date": [date(2025, 1, 1)]})
        clean = prepare(frame, config(schema={"column_order": ["c", "a"]})).clean
        assert clean.columns == ["c", "a", "b", "_load_date"]


# (rows in, quarantined, error_handling, fails)
THRESHOLDS: list[tuple[int, int, dict[str, Any], bool]] = [
    (100, 0, {}, False),
    (100, 1, {}, True),  # the default: any bad row fails
    (100, 5, {"max_bad_records": 5}, False),
    (100, 6, {"max_bad_records": 5}, True),
    (100, 5, {"max_bad_percent": 5.0}, False),
    (100, 6, {"max_bad_percent": 5.0}, True),
    (100, 6, {"max_bad_records": 10, "max_bad_percent": 1.0}, False),  # within the count
    (1000, 20, {"max_bad_records": 10, "max_bad_percent": 5.0}, False),  # within the percent
    (100, 11, {"max_bad_records": 10, "max_bad_percent": 5.0}, True),  # beyond both
    (100, 1, {"enabled": False, "max_bad_records": 10}, True),
    (0, 0, {}, False),
]


class TestThresholds:
    @pytest.mark.parametrize(("rows_in", "bad", "handling", "fails"), THRESHOLDS)
    def test_table(self, rows_in: int, bad: int, handling: dict[str, Any], fails: bool) -> None:
        cfg = ErrorHandlingConfig.model_validate(handling)
        if fails:
            with pytest.raises(QuarantineThresholdError, match=rf"ds: {bad} of {rows_in} rows"):
                enforce_thresholds(rows_in, bad, cfg, "ds")
        else:
            enforce_thresholds(rows_in, bad, cfg, "ds")

    def test_message_has_limits_and_reasons(self) -> None:
        cfg = ErrorHandlingConfig(max_bad_records=2, max_bad_percent=1.5)
        with pytest.raises(
            QuarantineThresholdError,
            match=r"^sales_orders: 3 of 10 rows \(30\.00%\) failed the Silver checks, above the limits "
            r"max_bad_records=2 and max_bad_percent=1\.5%; reasons: null primary key: id: 2; x: 1$",
        ):
            enforce_thresholds(10, 3, cfg, "sales_orders", reason_counts={"null primary key: id": 2, "x": 1})


class TestDeleteFraction:
    """``run.max_delete_fraction``: a full load may delete up to that fraction of the live keys of D-1."""

    @pytest.mark.parametrize(
        ("live", "deleted", "limit"),
        [(4, 2, 0.5), (4, 0, 0.0), (0, 0, 0.5), (4, 4, 1.0), (1000, 1, 0.001)],
    )
    def test_within_the_limit(self, live: int, deleted: int, limit: float) -> None:
        enforce_delete_fraction(live, deleted, limit, "crm", previous="2025-01-01")

    @pytest.mark.parametrize(("live", "deleted", "limit"), [(4, 3, 0.5), (4, 4, 0.99), (10, 1, 0.0)])
    def test_past_the_limit_names_counts_fraction_and_the_way_out(
        self, live: int, deleted: int, limit: float
    ) -> None:
        with pytest.raises(DeleteThresholdError) as caught:
            enforce_delete_fraction(live, deleted, limit, "crm", previous="2025-01-01")
        message = str(caught.value)
        assert message.startswith(f"crm: this full load would delete {deleted} of the {live} live keys of ")
        assert f"Silver 2025-01-01 ({deleted / live:.1%})" in message
        assert f"source.run.max_delete_fraction {limit:g} allows" in message
        assert "previous commit stays in place" in message and "1.0 turns the guard off" in message
