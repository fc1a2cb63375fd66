"""File sources an operator gets wrong (issue 11): through Dagster on a real instance, then the lake files.

Header-only and empty files, a CSV field longer than Arrow's block, malformed lines (``file.on_bad_lines``)
and JSON lines that are not objects. Each case materializes Bronze (and Silver where the defect showed there)
with ``materialize_partition``, the path ``medallion run`` takes, and reads what the lake committed.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

from medallion_assets.lake import Lake
from medallion_assets.runner import PartitionOutcome, materialize_partition
from medallion_resources.lake.read import read_artifact, verify_partition
from tests.instances import cli_instance_for_test

pytestmark = pytest.mark.slow
DAY1, DAY2 = date(2025, 1, 1), date(2025, 1, 2)


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dg.DagsterInstance]:
    with cli_instance_for_test(tmp_path_factory.mktemp("instance")) as inst:
        yield inst


Run = Callable[..., tuple[Lake, PartitionOutcome]]


@pytest.fixture
def run(tmp_path: Path, instance: dg.DagsterInstance) -> Run:
    """``run(day, file={...}, silver={...}, layers=...)``: write the config, materialize one partition."""

    def go(
        day: date,
        file: dict[str, Any],
        silver: dict[str, Any] | None = None,
        layers: tuple[str, ...] = ("bronze",),
        load_pattern: str = "full",
        max_delete_fraction: float | None = None,
    ) -> tuple[Lake, PartitionOutcome]:
        config = tmp_path / "configs"
        config.mkdir(exist_ok=True)
        platform = {
            "config_version": 1,
            "platform": {
                "bronze": {"local_path": str(tmp_path / "lake" / "bronze")},
                "silver": {"local_path": str(tmp_path / "lake" / "silver")},
                "defaults": {"partitions": {"start_date": "2025-01-01"}},
            },
        }
        source = {
            "name": "shop",
            "source": {
                "system": "shop",
                "table": "stores",
                "type": "file",
                "file": file,
                "run": {"load_pattern": load_pattern}
                | ({} if max_delete_fraction is None else {"max_delete_fraction": max_delete_fraction}),
            },
            "silver": silver or {"model": "periodic_snapshot", "primary_keys": ["id"]},
        }
        (config / "platform.yaml").write_text(yaml.safe_dump(platform))
        (config / "sources.yaml").write_text(yaml.safe_dump({"config_version": 1, "sources": [source]}))
        lake = Lake.load(config)
        return lake, materialize_partition(lake, lake.spec("shop"), day, layers, instance)

    return go


def landing(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / "landing" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


# --- item 5: header-only and empty files -------------------------------------------------------------------


def test_a_header_only_file_is_an_empty_snapshot_with_its_columns(tmp_path: Path, run: Run) -> None:
    landing(tmp_path, "stores_20250101.csv", "id,name\n1,Lisbon\n2,Porto\n")
    landing(tmp_path, "stores_20250102.csv", "id,name\n")
    file = {"path": str(tmp_path / "landing" / "stores_{run_date:%Y%m%d}.csv")}
    silver = {"model": "scd_type_1", "primary_keys": ["id"], "delete_mode": "hard_delete"}
    lake, outcome = run(DAY1, file, silver, layers=("bronze", "silver"))
    assert outcome.error is None, outcome.error
    # By default the empty snapshot trips the delete guard (run.max_delete_fraction 0.5): Silver D fails.
    lake, outcome = run(DAY2, file, silver, layers=("bronze", "silver"))
    assert outcome.error is not None and "DeleteThresholdError" in outcome.error
    assert lake.committed(lake.spec("shop"), "silver", DAY2) is None
    # Allowed: the snapshot is real, every key goes.
    lake, outcome = run(DAY2, file, silver, layers=("bronze", "silver"), max_delete_fraction=1.0)
    assert outcome.error is None, outcome.error
    bronze = lake.committed(lake.spec("shop"), "bronze", DAY2)
    assert bronze is not None and bronze.manifest.record_count == 0
    names = [c["name"] for c in bronze.metadata["schema"]]
    assert names[:2] == ["id", "name"] and "_source_file" in names
    frame = read_artifact(bronze, "data")
    assert frame.height == 0 and frame.columns[:2] == ["id", "name"]
    silver_day2 = lake.committed(lake.spec("shop"), "silver", DAY2)
    assert silver_day2 is not None
    assert read_artifact(silver_day2, "current").height == 0  # every key deleted by the empty snapshot


def test_a_zero_byte_file_fails_and_keeps_the_last_commit_unless_allowed(tmp_path: Path, run: Run) -> None:
    path = landing(tmp_path, "stores.csv", "id,name\n1,Lisbon\n")
    lake, ok = run(DAY1, {"path": str(path)})
    assert ok.error is None
    before = lake.committed(lake.spec("shop"), "bronze", DAY1)
    path.write_bytes(b"")
    lake, failed = run(DAY1, {"path": str(path)})
    assert failed.failed_layer == "bronze"
    assert failed.error is not None
    assert (
        f"'{path}': the file is empty (0 bytes)" in failed.error and "file.allow_empty: true" in failed.error
    )
    after = lake.committed(lake.spec("shop"), "bronze", DAY1)
    assert after is not None and before is not None and after.manifest == before.manifest
    lake, allowed = run(DAY1, {"path": str(path), "allow_empty": True})
    assert allowed.error is None, allowed.error
    committed = lake.committed(lake.spec("shop"), "bronze", DAY1)
    assert committed is not None and committed.manifest.record_count == 0
    assert committed.metadata["source_files"][0]["size_bytes"] == 0


# --- item 4: a field longer than Arrow's block -------------------------------------------------------------


def test_a_field_of_several_mib_lands_and_the_cap_is_named(tmp_path: Path, run: Run) -> None:
    big = "x" * (6 << 20)  # longer than the first block (4 MiB): read again with a bigger one
    path = landing(tmp_path, "notes.csv", f'id,note\n1,short\n2,"{big}"\n3,after\n')
    lake, outcome = run(DAY1, {"path": str(path)})
    assert outcome.error is None, outcome.error
    part = lake.committed(lake.spec("shop"), "bronze", DAY1)
    assert part is not None
    frame = read_artifact(part, "data")
    assert frame["id"].to_list() == ["1", "2", "3"]  # none lost, none twice after the re-read
    assert frame["note"].to_list() == ["short", big, "after"]
    assert verify_partition(part) == []
    _, capped = run(DAY2, {"path": str(path), "max_field_mb": 2})
    assert capped.error is not None
    assert (
        "longer than file.max_field_mb (2 MiB)" in capped.error and "raise file.max_field_mb" in capped.error
    )


# --- item 8: malformed lines -------------------------------------------------------------------------------


def test_quarantined_csv_lines_land_in_errors_with_line_and_reason(tmp_path: Path, run: Run) -> None:
    path = landing(tmp_path, "stores.csv", 'id,name\n1,a\n2,b,extra\n3,"multi\nline"\n4\n5,e\n')
    file = {"path": str(path), "on_bad_lines": "quarantine"}
    lake, failed = run(DAY1, file)  # default thresholds allow no bad row
    assert failed.error is not None
    assert "2 malformed line(s)" in failed.error and "silver.error_handling" in failed.error
    assert lake.committed(lake.spec("shop"), "bronze", DAY1) is None
    silver = {"model": "periodic_snapshot", "primary_keys": ["id"], "error_handling": {"max_bad_records": 2}}
    lake, outcome = run(DAY1, file, silver, layers=("bronze", "silver"))
    assert outcome.error is None, outcome.error
    assert outcome.layers["bronze"].rows == 3 and outcome.layers["bronze"].quarantined == 2
    assert outcome.layers["silver"].rows == 3  # Silver reads Bronze's data, not its _errors/
    part = lake.committed(lake.spec("shop"), "bronze", DAY1)
    assert part is not None
    assert read_artifact(part, "data")["id"].to_list() == ["1", "3", "5"]
    assert part.metadata["quarantined"] == 2
    assert {f.path.split("/")[0] for f in part.files("errors")} == {"_errors"}
    errors = read_artifact(part, "errors").to_dicts()
    assert [(e["_line_number"], e["_raw_line"]) for e in errors] == [(3, "2,b,extra"), (6, "4")]
    assert errors[0]["_error_reason"] == "3 fields, the header has 2"
    assert {e["_source_file"] for e in errors} == {str(path)}
    assert verify_partition(part) == []


def test_on_bad_lines_error_names_the_line(tmp_path: Path, run: Run) -> None:
    path = landing(tmp_path, "stores.csv", "id,name\n1,a\n2,b,extra\n")
    _, failed = run(DAY1, {"path": str(path)})
    assert failed.error is not None and "line 3 has 3 fields, the first row 2" in failed.error


def test_quarantined_jsonl_lines(tmp_path: Path, run: Run) -> None:
    lines = ['{"id": 1}', "{broken", '{"id": 3}', "42", '{"id": 5}']
    path = landing(tmp_path, "events.jsonl", "\n".join(lines) + "\n")
    silver = {"model": "periodic_snapshot", "primary_keys": ["id"], "error_handling": {"max_bad_percent": 50}}
    lake, outcome = run(DAY1, {"path": str(path), "on_bad_lines": "quarantine"}, silver)
    assert outcome.error is None, outcome.error
    part = lake.committed(lake.spec("shop"), "bronze", DAY1)
    assert part is not None
    assert read_artifact(part, "data")["id"].to_list() == [1, 3, 5]
    errors = read_artifact(part, "errors").to_dicts()
    assert [(e["_line_number"], e["_raw_line"]) for e in errors] == [(2, "{broken"), (4, "42")]
    assert errors[0]["_error_reason"].startswith("invalid JSON at character 2")
    assert "not a JSON object" in errors[1]["_error_reason"]


# --- item 9: JSON lines that are not objects ---------------------------------------------------------------


def test_jsonl_lines_that_are_not_objects_fail_bronze_naming_file_and_line(tmp_path: Path, run: Run) -> None:
    path = landing(tmp_path, "events.jsonl", json.dumps({"id": 1}) + "\n7\n8\n")
    lake, outcome = run(DAY1, {"path": str(path)}, layers=("bronze", "silver"))
    assert outcome.failed_layer == "bronze"
    assert outcome.error is not None
    assert f"'{path}': line 2: the line is a number, not a JSON object" in outcome.error
    assert lake.committed(lake.spec("shop"), "bronze", DAY1) is None


def test_a_jsonl_null_line_is_refused_not_landed_as_a_row_of_nulls(tmp_path: Path, run: Run) -> None:
    """Arrow reads a ``null`` line as a row whose every column is null; the records rule refuses it."""
    path = landing(tmp_path, "events.jsonl", '{"id": 1}\nnull\n{"id": 3}\n')
    lake, failed = run(DAY1, {"path": str(path)})
    assert failed.error is not None
    assert f"'{path}': line 2: the line is null, not a JSON object" in failed.error
    assert lake.committed(lake.spec("shop"), "bronze", DAY1) is None
    silver = {"model": "periodic_snapshot", "primary_keys": ["id"], "error_handling": {"max_bad_records": 1}}
    lake, outcome = run(DAY1, {"path": str(path), "on_bad_lines": "quarantine"}, silver)
    assert outcome.error is None, outcome.error
    part = lake.committed(lake.spec("shop"), "bronze", DAY1)
    assert part is not None
    assert read_artifact(part, "data")["id"].to_list() == [1, 3]
    errors = read_artifact(part, "errors").to_dicts()
    assert [(e["_line_number"], e["_raw_line"]) for e in errors] == [(2, "null")]


# --- CSV headers and typed values --------------------------------------------------------------------------


def test_a_header_only_csv_without_a_final_newline_is_an_empty_snapshot(tmp_path: Path, run: Run) -> None:
    path = landing(tmp_path, "stores.csv", "id,name")
    lake, outcome = run(DAY1, {"path": str(path)})
    assert outcome.error is None, outcome.error
    part = lake.committed(lake.spec("shop"), "bronze", DAY1)
    assert part is not None and part.manifest.record_count == 0
    assert [(c["name"], c["type"]) for c in part.metadata["schema"]][:2] == [
        ("id", "string"),
        ("name", "string"),
    ]


def test_typed_csv_reads_only_an_empty_field_as_null(tmp_path: Path, run: Run) -> None:
    """``NaN`` stays a float NaN and ``NA``/``null`` stay text; only an empty field is null in a number."""
    path = landing(tmp_path, "m.csv", "id,amount,note\n1,NaN,NA\n2,,null\n3,1.5,\n")
    columns = {"id": "int64", "amount": "float64", "note": "string"}
    lake, outcome = run(DAY1, {"path": str(path), "columns": columns})
    assert outcome.error is None, outcome.error
    part = lake.committed(lake.spec("shop"), "bronze", DAY1)
    assert part is not None
    frame = read_artifact(part, "data")
    amounts = frame["amount"].to_list()
    assert amounts[0] != amounts[0] and amounts[1:] == [None, 1.5]  # NaN, then null, then 1.5
    assert frame["note"].to_list() == ["NA", "null", ""]
    # A spelling of "no value" in a number column is a value that does not fit: the file fails, naming it.
    path.write_text("id,amount\n1,2.5\n2,N/A\n")
    _, failed = run(DAY2, {"path": str(path), "columns": {"id": "int64", "amount": "float64"}})
    assert failed.error is not None and "invalid value 'N/A'" in failed.error
    # Any value that does not fit names the fix, not only Arrow's "conversion error"s.
    path.write_text("id,amount\n1,2.345\n")
    _, failed = run(DAY2, {"path": str(path), "columns": {"id": "int64", "amount": "decimal(18,2)"}})
    assert failed.error is not None and "data loss" in failed.error and "fix file.columns" in failed.error
    # Inferred types: a column holding such a spelling is text, exactly as written.
    path.write_text("id,amount\n1,2.5\n2,N/A\n")
    lake, outcome = run(DAY2, {"path": str(path), "infer_types": True})
    assert outcome.error is None, outcome.error
    part = lake.committed(lake.spec("shop"), "bronze", DAY2)
    assert part is not None
    assert read_artifact(part, "data")["amount"].to_list() == ["2.5", "N/A"]


def test_duplicate_and_empty_csv_header_names_get_unique_names(tmp_path: Path, run: Run) -> None:
    """Bronze cannot hold two columns of one name (Silver could not read them): each gets its own name."""
    path = landing(tmp_path, "stores.csv", "id,name,name,,\n1,a,b,c,d\n")
    lake, outcome = run(DAY1, {"path": str(path)}, layers=("bronze", "silver"))
    assert outcome.error is None, outcome.error
    part = lake.committed(lake.spec("shop"), "bronze", DAY1)
    assert part is not None
    frame = read_artifact(part, "data")
    assert frame.select(["id", "name", "name_3", "column_4", "column_5"]).rows() == [
        ("1", "a", "b", "c", "d")
    ]
    projected, outcome = run(DAY2, {"path": str(path), "columns": ["name_3", "id"]})
    assert outcome.error is None, outcome.error
    part = projected.committed(projected.spec("shop"), "bronze", DAY2)
    assert part is not None
    assert read_artifact(part, "data").select(["name_3", "id"]).rows() == [("b", "1")]


def test_duplicate_and_empty_parquet_column_names_get_unique_names(tmp_path: Path, run: Run) -> None:
    """A Parquet file (written by pyarrow, which allows it) with two columns of one name and one without a
    name lands them by the CSV header's rule, in every row group and in a file without rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "landing" / "stores.parquet"
    path.parent.mkdir(parents=True)
    table = pa.Table.from_arrays(
        [pa.array(["1", "2"]), pa.array(["a", "b"]), pa.array(["c", "d"]), pa.array([1, 2])],
        names=["id", "name", "name", ""],
    )
    pq.write_table(table, path, row_group_size=1)
    lake, outcome = run(DAY1, {"path": str(path)}, layers=("bronze", "silver"))
    assert outcome.error is None, outcome.error
    part = lake.committed(lake.spec("shop"), "bronze", DAY1)
    assert part is not None
    frame = read_artifact(part, "data").sort("id")
    assert frame.select(["id", "name", "name_3", "column_4"]).rows() == [
        ("1", "a", "c", 1),
        ("2", "b", "d", 2),
    ]
    projected, outcome = run(DAY2, {"path": str(path), "columns": ["name_3", "id"]})
    assert outcome.error is None, outcome.error
    part = projected.committed(projected.spec("shop"), "bronze", DAY2)
    assert part is not None
    assert read_artifact(part, "data").sort("id").select(["name_3", "id"]).rows() == [("c", "1"), ("d", "2")]
    assert "name" not in read_artifact(part, "data").columns
    pq.write_table(table.slice(0, 0), path)
    lake, outcome = run(date(2025, 1, 3), {"path": str(path)}, layers=("bronze",))
    assert outcome.error is None, outcome.error
    part = lake.committed(lake.spec("shop"), "bronze", date(2025, 1, 3))
    assert part is not None
    assert {"id", "name", "name_3", "column_4"} <= set(read_artifact(part, "data").columns)


def test_a_parquet_decimal_beyond_38_digits_lands_as_its_exact_text(tmp_path: Path, run: Run) -> None:
    """Polars (Silver, ``medallion_assets.read``) reads no Arrow ``decimal256``: such a column lands as the
    exact decimal text a database's ``numeric(40, 2)`` lands as (every digit, the scale's zeros kept), also
    inside a list; decimals of 38 digits or fewer stay decimals."""
    from decimal import Decimal

    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "landing" / "stores.parquet"
    path.parent.mkdir(parents=True)
    big = "12345678901234567890123456789012345678.25"
    table = pa.table(
        {
            "id": pa.array(["1", "2"]),
            "amount": pa.array([Decimal(big), Decimal("-0.5")], pa.decimal256(40, 2)),
            "parts": pa.array([[Decimal("1.5")], None], pa.list_(pa.decimal256(39, 1))),
            "price": pa.array([Decimal("1.25"), None], pa.decimal128(10, 2)),
        }
    )
    pq.write_table(table, path)
    lake, outcome = run(DAY1, {"path": str(path)}, layers=("bronze", "silver"))
    assert outcome.error is None, outcome.error
    bronze = lake.committed(lake.spec("shop"), "bronze", DAY1)
    assert bronze is not None
    types = {c["name"]: c["type"] for c in bronze.metadata["schema"]}
    assert (types["amount"], types["parts"], types["price"]) == (
        "string",
        "list<element: string>",
        "decimal128(10, 2)",
    )
    frame = read_artifact(bronze, "data").sort("id")
    assert frame.select(["id", "amount", "parts", "price"]).rows() == [
        ("1", big, ["1.5"], Decimal("1.25")),
        ("2", "-0.50", None, None),
    ]
    silver = lake.committed(lake.spec("shop"), "silver", DAY1)
    assert silver is not None
    assert read_artifact(silver, "snapshot").sort("id")["amount"].to_list() == [big, "-0.50"]


def _parquet_type_cases() -> dict[str, tuple[Any, str, list[Any]]]:
    """Parquet columns of types Bronze does not keep as stored (pyarrow, polars, DuckDB write them; the
    file's Arrow schema keeps the type): case -> (array, the type Bronze records, the values read back)."""
    from datetime import UTC, datetime

    import pyarrow as pa

    # Offsets out of order and sharing values: a view's rows need not follow each other in its values.
    shared = pa.ListViewArray.from_arrays(
        pa.array([2, 0, 0], pa.int32()), pa.array([1, 2, 0], pa.int32()), pa.array([7, 8, 9])
    )
    return {
        "list_view": (
            pa.array([[1, 2], None, [3, None]], pa.list_view(pa.int64())),
            "list<element: int64>",
            [[1, 2], None, [3, None]],
        ),
        "large_list_view": (
            pa.array([[], ["é"], None], pa.large_list_view(pa.string())),
            "large_list<element: string>",
            [[], ["é"], None],
        ),
        "shared_offsets": (shared, "list<element: int64>", [[9], [7, 8], []]),
        "in_struct": (
            pa.array([{"a": [1]}, None, {"a": None}], pa.struct([("a", pa.list_view(pa.int64()))])),
            "struct<a: list<element: int64>>",
            [{"a": [1]}, None, {"a": None}],
        ),
        "in_list": (
            pa.array([[[1], None], None, [[]]], pa.list_(pa.list_view(pa.int8()))),
            "list<element: list<element: int8>>",
            [[[1], None], None, [[]]],
        ),
        # A fixed-offset time zone (Arrow's "+05:30"): the same instants, in UTC.
        "offset_time_zone": (
            pa.array([1_700_000_000_000_000, None, 0], pa.timestamp("us", "+05:30")),
            "timestamp[us, tz=UTC]",
            [datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC), None, datetime(1970, 1, 1, tzinfo=UTC)],
        ),
        "z_and_unknown_time_zones": (
            pa.array([{"z": 0, "n": 1000}, None, {"z": None, "n": None}]).cast(
                pa.struct([("z", pa.timestamp("ms", "Z")), ("n", pa.timestamp("us", "Mars/Olympus_Mons"))])
            ),
            "struct<z: timestamp[ms, tz=UTC], n: timestamp[us, tz=UTC]>",
            [
                {"z": datetime(1970, 1, 1, tzinfo=UTC), "n": datetime(1970, 1, 1, 0, 0, 0, 1000, tzinfo=UTC)},
                None,
                {"z": None, "n": None},
            ],
        ),
        "offset_time_zone_in_list": (
            pa.array([[0], None, []], pa.list_(pa.timestamp("ms", "-03:00"))),
            "list<element: timestamp[ms, tz=UTC]>",
            [[datetime(1970, 1, 1, tzinfo=UTC)], None, []],
        ),
        # A dictionary inside a struct or list: its values, as a dictionary column lands (it was kept, and
        # the readers got a polars Categorical where _metadata.json's schema named a dictionary).
        "dictionary_in_struct": (
            pa.StructArray.from_arrays(
                [pa.array(["p", None, "p"]).dictionary_encode()],
                names=["d"],
                mask=pa.array([False, False, True]),
            ),
            "struct<d: string>",
            [{"d": "p"}, {"d": None}, None],
        ),
        "dictionary_in_list": (
            pa.ListArray.from_arrays(pa.array([0, 2, 2, 3]), pa.array(["x", "y", "x"]).dictionary_encode()),
            "list<element: string>",
            [["x", "y"], [], ["x"]],
        ),
        # Extension types (DuckDB's and pyarrow's JSON and UUID): their stored values.
        "json_extension": (pa.array(['{"a":1}', None, "[]"], pa.json_()), "string", ['{"a":1}', None, "[]"]),
        "uuid_extension": (
            pa.array([b"0123456789abcdef", None, bytes(16)], pa.uuid()),
            "fixed_size_binary[16]",
            [b"0123456789abcdef", None, bytes(16)],
        ),
    }


@pytest.mark.parametrize("column", list(_parquet_type_cases()))
def test_a_parquet_type_lands_as_its_documented_type(tmp_path: Path, run: Run, column: str) -> None:
    """Polars, so Silver and the readers, panicked on list views and offset time zones. A list view (also
    inside a struct or a list) lands as a ``list`` (``large_list`` for a large one) of the same values and
    nulls (Arrow's own cast of a view to a list makes an invalid array); a timestamp of a fixed-offset time
    zone as the same instants in UTC; a dictionary inside a struct or list as its values
    (docs/file_extractor.md's table)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    array, landed, values = _parquet_type_cases()[column]
    path = tmp_path / "landing" / "stores.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(pa.table({"id": pa.array([1, 2, 3]), "v": array}), path, row_group_size=2)
    lake, outcome = run(DAY1, {"path": str(path)}, layers=("bronze", "silver"))
    assert outcome.error is None, outcome.error
    bronze = lake.committed(lake.spec("shop"), "bronze", DAY1)
    silver = lake.committed(lake.spec("shop"), "silver", DAY1)
    assert bronze is not None and silver is not None
    assert {c["name"]: c["type"] for c in bronze.metadata["schema"]}["v"] == landed
    assert read_artifact(bronze, "data").sort("id")["v"].to_list() == values
    assert read_artifact(silver, "snapshot").sort("id")["v"].to_list() == values
    for part in (tmp_path / "lake" / "bronze").rglob("part-*.parquet"):
        table = pq.read_table(part)
        table.validate(full=True)
        assert str(table.schema.field("v").type) == landed


def test_parquet_int96_timestamps_land_exact_beyond_the_nanosecond_range(tmp_path: Path, run: Run) -> None:
    """Spark, Hive and Impala write timestamps as INT96; Arrow read them as nanoseconds, whose range is
    1677-2262: a year 1500 or 3000 landed as another date without a word. They land as microseconds."""
    from datetime import datetime

    import pyarrow as pa
    import pyarrow.parquet as pq

    values = [datetime(1500, 1, 1), None, datetime(3000, 6, 1, 1, 2, 3, 4), datetime(2024, 2, 29, 23, 59)]
    path = tmp_path / "landing" / "stores.parquet"
    path.parent.mkdir(parents=True)
    table = pa.table({"id": pa.array([1, 2, 3, 4]), "at": pa.array(values, pa.timestamp("us"))})
    pq.write_table(table, path, use_deprecated_int96_timestamps=True)
    lake, outcome = run(DAY1, {"path": str(path)}, layers=("bronze", "silver"))
    assert outcome.error is None, outcome.error
    bronze = lake.committed(lake.spec("shop"), "bronze", DAY1)
    silver = lake.committed(lake.spec("shop"), "silver", DAY1)
    assert bronze is not None and silver is not None
    assert {c["name"]: c["type"] for c in bronze.metadata["schema"]}["at"] == "timestamp[us]"
    assert read_artifact(bronze, "data").sort("id")["at"].to_list() == values
    assert read_artifact(silver, "snapshot").sort("id")["at"].to_list() == values


def test_files_of_nanosecond_and_far_microsecond_timestamps_fail_the_day_saying_why(
    tmp_path: Path, run: Run
) -> None:
    """One file's ``timestamp[ns]`` and another's ``timestamp[us]`` of the year 3000 widen to nanoseconds,
    which stop at 2262: the day fails naming the column, the range and what to do, and nothing lands."""
    from datetime import datetime

    import pyarrow as pa
    import pyarrow.parquet as pq

    landing_dir = tmp_path / "landing"
    landing_dir.mkdir()
    pq.write_table(pa.table({"id": [1], "at": pa.array([1], pa.timestamp("ns"))}), landing_dir / "a.parquet")
    far = pa.array([datetime(3000, 1, 1)], pa.timestamp("us"))
    pq.write_table(pa.table({"id": [2], "at": far}), landing_dir / "b.parquet")
    lake, outcome = run(DAY1, {"path": str(landing_dir / "*.parquet")})
    assert outcome.error is not None and outcome.failed_layer == "bronze"
    assert "column 'at'" in outcome.error and "1677-2262" in outcome.error, outcome.error
    assert "in one unit" in outcome.error
    assert lake.committed(lake.spec("shop"), "bronze", DAY1) is None


def _silver_typing_cases() -> dict[str, tuple[Any, str, list[Any], dict[int, str]]]:
    """A typed Parquet column given another type by ``silver.schema.types``: case -> (array, the type, the
    values Silver keeps for ids 1-3, the reason of each id quarantined)."""
    from datetime import datetime, time
    from decimal import Decimal

    import pyarrow as pa

    return {
        # Polars casts a time to text without its fraction: 23:59:59.999999 became "23:59:59".
        "time_as_string": (
            pa.array([time(23, 59, 59, 999999), None, time(0, 0, 0, 5)], pa.time64("us")),
            "string",
            ["23:59:59.999999", None, "00:00:00.000005"],
            {},
        ),
        "nanosecond_time_as_string": (
            pa.array([1, None, 12 * 3600 * 10**9], pa.time64("ns")),
            "string",
            ["00:00:00.000000001", None, "12:00:00"],
            {},
        ),
        # Polars drops the digits a smaller scale has no room for (1.25 became 1.2): such a value is bad.
        "decimal_to_a_smaller_scale": (
            pa.array([Decimal("1.25"), None, Decimal("-3.50")], pa.decimal64(12, 2)),
            "decimal(10,1)",
            [None, None, Decimal("-3.5")],
            {1: "cast failed: column 'v' value '1.25' is not decimal(10,1)"},
        ),
        # A Silver datetime holds microseconds: polars dropped a nanosecond timestamp's last digits.
        "nanosecond_timestamp_as_datetime": (
            pa.array([1_700_000_000_123_456_789, None, 1_700_000_000_123_456_000], pa.timestamp("ns")),
            "datetime",
            [None, None, datetime(2023, 11, 14, 22, 13, 20, 123456)],
            {1: "cast failed: column 'v' value '2023-11-14 22:13:20.123456789' is not datetime"},
        ),
        # Polars failed the whole day on one value that is not UTF-8 ("invalid utf8").
        "bytes_as_string": (
            pa.array([b"ab", None, b"\xff"], pa.binary()),
            "string",
            ["ab", None, None],
            {3: "cast failed: column 'v' value '0xff' is not string"},
        ),
        # A float an integer type holds only cut: polars kept 1.5 as 1 (a float read back must be the same).
        "float_as_int": (
            pa.array([2.0, None, 1.5], pa.float64()),
            "int64",
            [2, None, None],
            {3: "cast failed: column 'v' value '1.5' is not int64"},
        ),
        # A float typed decimal is rounded as PostgreSQL and Spark round it: its shortest text, half away
        # from zero (35 * 0.01 is 0.35000000000000003: 0.35; 1.005: 1.01). Polars rounded the binary value:
        # 1.00 (and quarantining every float the cast did not read back as lost such noisy values).
        "float_as_decimal": (
            pa.array([35 * 0.01, 2.675, 1.005], pa.float64()),
            "decimal(10,2)",
            [Decimal("0.35"), Decimal("2.68"), Decimal("1.01")],
            {},
        ),
        "float32_as_decimal": (
            pa.array([0.1, None, -0.125], pa.float32()),
            "decimal(10,2)",
            [Decimal("0.10"), None, Decimal("-0.13")],
            {},
        ),
        "nan_as_decimal": (
            pa.array([1e-7, None, float("nan")], pa.float64()),
            "decimal(10,2)",
            [Decimal("0.00"), None, None],
            {3: "cast failed: column 'v' value 'NaN' is not decimal(10,2)"},
        ),
        "decimal_as_int": (
            pa.array([Decimal("2.00"), None, Decimal("-1.70")], pa.decimal128(10, 2)),
            "int64",
            [2, None, None],
            {3: "cast failed: column 'v' value '-1.70' is not int64"},
        ),
        # Lists and structs as text: JSON by the one rule Bronze widens them with (polars has no such cast).
        "list_as_string": (
            pa.array([[1, 2], None, []], pa.list_(pa.int64())),
            "string",
            ["[1,2]", None, "[]"],
            {},
        ),
        "struct_as_string": (
            pa.array(
                [{"b": "é", "a": 1.5}, None, {"b": None, "a": None}],
                pa.struct([("b", pa.string()), ("a", pa.float64())]),
            ),
            "string",
            ['{"a":1.5,"b":"é"}', None, '{"a":null,"b":null}'],
            {},
        ),
        "map_as_string": (
            pa.array([[("b", 2), ("a", 1)], None, []], pa.map_(pa.string(), pa.int64())),
            "string",
            ['{"a":1,"b":2}', None, "{}"],
            {},
        ),
        # A duration as ISO 8601 text (PostgreSQL's interval style iso_8601 writes the same).
        "duration_as_string": (
            pa.array([5_400_000_005, None, -86_400_000_000], pa.duration("us")),
            "string",
            ["PT1H30M0.000005S", None, "-P1D"],
            {},
        ),
        # An Arrow JSON column (DuckDB's, pyarrow's): polars could not cast its extension type to text.
        "json_as_string": (
            pa.array(['{"a":1}', None, "[1]"], pa.json_()),
            "string",
            ['{"a":1}', None, "[1]"],
            {},
        ),
    }


@pytest.mark.parametrize(
    ("array", "type_name", "bronze_type"),
    [
        ([[1, 2], None, []], "int64", "List(Int64)"),
        ([timedelta(seconds=1), None, timedelta(0)], "date", "Duration(time_unit='us')"),
    ],
)
def test_a_silver_type_bronze_cannot_be_cast_to_names_the_column_and_the_fix(
    tmp_path: Path, run: Run, array: list[Any], type_name: str, bronze_type: str
) -> None:
    """Polars' own error ("cannot cast List type") named neither the config key nor the column."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "landing" / "stores.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(pa.table({"id": pa.array([1, 2, 3]), "v": pa.array(array)}), path)
    silver = {"model": "scd_type_1", "primary_keys": ["id"], "schema": {"types": {"v": type_name}}}
    lake, outcome = run(DAY1, {"path": str(path)}, silver, layers=("bronze", "silver"))
    assert outcome.failed_layer == "silver" and outcome.error is not None
    assert (
        f"silver.schema.types gives column 'v' the type '{type_name}', which its Bronze type {bronze_type} "
        "cannot be cast to"
    ) in outcome.error, outcome.error
    assert "leave the column out of silver.schema.types" in outcome.error
    assert lake.committed(lake.spec("shop"), "silver", DAY1) is None


@pytest.mark.parametrize("case", list(_silver_typing_cases()))
def test_silver_types_a_parquet_column_without_losing_digits(tmp_path: Path, run: Run, case: str) -> None:
    """A value Silver's type cannot hold whole is quarantined, never kept with digits dropped."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    array, type_name, kept, quarantined = _silver_typing_cases()[case]
    path = tmp_path / "landing" / "stores.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(pa.table({"id": pa.array([1, 2, 3]), "v": array}), path)
    silver = {
        "model": "scd_type_1",
        "primary_keys": ["id"],
        "schema": {"types": {"v": type_name}},
        "error_handling": {"max_bad_percent": 100},
    }
    lake, outcome = run(DAY1, {"path": str(path)}, silver, layers=("bronze", "silver"))
    assert outcome.error is None, outcome.error
    part = lake.committed(lake.spec("shop"), "silver", DAY1)
    assert part is not None
    current = read_artifact(part, "current").sort("id")
    assert dict(zip(current["id"], current["v"], strict=True)) == {
        i: v for i, v in zip([1, 2, 3], kept, strict=True) if i not in quarantined
    }
    errors = read_artifact(part, "errors").to_dicts() if "errors" in part.manifest.artifacts() else []
    assert {row["id"]: row["_error_reason"] for row in errors} == quarantined


def test_a_nested_nanosecond_value_widened_to_text_keeps_every_digit(tmp_path: Path, run: Run) -> None:
    """One file's struct of a ``timestamp[ns]`` and another's text in one column widen to JSON text: the
    day failed on Python's datetime, which stops at the microsecond."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    landing_dir = tmp_path / "landing"
    landing_dir.mkdir()
    at = pa.array([{"at": 1_700_000_000_123_456_789}], pa.struct([("at", pa.timestamp("ns"))]))
    pq.write_table(pa.table({"id": [1], "v": at}), landing_dir / "a.parquet")
    pq.write_table(pa.table({"id": [2], "v": ["x"]}), landing_dir / "b.parquet")
    lake, outcome = run(DAY1, {"path": str(landing_dir / "*.parquet")}, layers=("bronze", "silver"))
    assert outcome.error is None, outcome.error
    bronze = lake.committed(lake.spec("shop"), "bronze", DAY1)
    assert bronze is not None
    assert read_artifact(bronze, "data").sort("id")["v"].to_list() == [
        '{"at":"2023-11-14 22:13:20.123456789"}',
        "x",
    ]


def test_maps_widened_to_text_are_json_objects_as_a_json_source_gives(tmp_path: Path, run: Run) -> None:
    """Two files' map columns whose items differ (``map<string, int64>``, ``map<int32, string>``) and a
    struct holding a map widen to JSON text: objects, as a JSON source's ``{"a":1}`` lands, a key that is
    not text written as JSON writes it. They landed as lists of pairs (``[["a",1]]``). A map value that
    repeats a key (a dict cannot hold it) keeps every pair."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    landing_dir = tmp_path / "landing"
    landing_dir.mkdir()
    words = pa.array([[("b", 2), ("a", 1)], [("a", 1), ("a", 3)], None], pa.map_(pa.string(), pa.int64()))
    inner = pa.array(
        [{"m": [("k", 1.5)]}, {"m": None}, None], pa.struct([("m", pa.map_(pa.string(), pa.float64()))])
    )
    pq.write_table(pa.table({"id": [1, 2, 3], "m": words, "s": inner}), landing_dir / "a.parquet")
    numbers = pa.array([[(7, "x")]], pa.map_(pa.int32(), pa.string()))
    pq.write_table(pa.table({"id": [4], "m": numbers, "s": ["text"]}), landing_dir / "b.parquet")
    lake, outcome = run(DAY1, {"path": str(landing_dir / "*.parquet")}, layers=("bronze", "silver"))
    assert outcome.error is None, outcome.error
    bronze = lake.committed(lake.spec("shop"), "bronze", DAY1)
    assert bronze is not None
    rows = read_artifact(bronze, "data").sort("id").select("m", "s").rows()
    assert rows == [
        ('{"a":1,"b":2}', '{"m":{"k":1.5}}'),
        ('[["a",1],["a",3]]', '{"m":null}'),
        (None, None),
        ('{"7":"x"}', "text"),
    ]


@pytest.mark.parametrize("split", [False, True], ids=["one_file", "two_files"])
def test_mixed_json_values_land_alike_in_one_batch_or_two(tmp_path: Path, run: Run, split: bool) -> None:
    """``amount`` a float then text, ``flag`` a boolean then a number, ``n`` a big float then text: in one
    file (one batch, the records rule) or in two (two batches, the storage layer's widening) they landed
    differently (``"100.0"``/``"true"`` in one batch, ``"100"``/``1`` across two), so the same records
    depended on where a page, chunk or file ended. Both now land as the widening rule gives them."""
    lines = [
        '{"id": 1, "amount": 100.0, "flag": true, "n": 123456789012345.0}',
        '{"id": 2, "amount": "x", "flag": 1, "n": "y"}',
    ]
    landing_dir = tmp_path / "landing"
    landing_dir.mkdir()
    if split:
        (landing_dir / "a.jsonl").write_text(lines[0] + "\n")
        (landing_dir / "b.jsonl").write_text(lines[1] + "\n")
    else:
        (landing_dir / "a.jsonl").write_text("\n".join(lines) + "\n")
    lake, outcome = run(DAY1, {"path": str(landing_dir / "*.jsonl")})
    assert outcome.error is None, outcome.error
    bronze = lake.committed(lake.spec("shop"), "bronze", DAY1)
    assert bronze is not None
    rows = read_artifact(bronze, "data").sort("id").select("amount", "flag", "n").rows()
    assert rows == [("100", 1, "1.23456789012345e+14"), ("x", 1, "y")]


def test_source_columns_named_like_the_columns_bronze_adds_keep_their_values(
    tmp_path: Path, run: Run
) -> None:
    """A CSV's own ``_source_file`` and ``_load_date`` are data: kept as ``<name>_source``, not overwritten
    by the lineage columns of the same names (which lost them without a word), through Silver too."""
    path = landing(tmp_path, "stores.csv", "id,_source_file,_load_date\n1,exports/a.csv,2020-05-05\n")
    lake, outcome = run(DAY1, {"path": str(path)}, layers=("bronze", "silver"))
    assert outcome.error is None, outcome.error
    part = lake.committed(lake.spec("shop"), "bronze", DAY1)
    assert part is not None
    row = read_artifact(part, "data").row(0, named=True)
    assert (row["id"], row["_source_file_source"], row["_load_date_source"]) == (
        "1",
        "exports/a.csv",
        "2020-05-05",
    )
    assert (row["_source_file"], row["_load_date"]) == (str(path), DAY1)
    silver = lake.committed(lake.spec("shop"), "silver", DAY1)
    assert silver is not None
    kept = read_artifact(silver, "snapshot").select(["_source_file_source", "_load_date_source"]).rows()
    assert kept == [("exports/a.csv", "2020-05-05")]


def test_a_quote_left_open_at_the_end_of_a_csv_fails_the_file_naming_its_line(
    tmp_path: Path, run: Run
) -> None:
    """Arrow closes a quoted field at the end of the file: the rows after an unclosed quote would land as
    one value of one row, silently. The file fails instead, in either on_bad_lines mode."""
    path = landing(tmp_path, "stores.csv", 'id,name\n1,a\n2,"b\n3,c\n4,d\n')
    silver = {"model": "periodic_snapshot", "primary_keys": ["id"], "error_handling": {"max_bad_records": 9}}
    for on_bad_lines in ("error", "quarantine"):
        lake, failed = run(DAY1, {"path": str(path), "on_bad_lines": on_bad_lines}, silver)
        assert failed.error is not None, on_bad_lines
        assert "a quoted field is not closed before the end of the file" in failed.error
        assert "the row starts at line 3" in failed.error
        assert lake.committed(lake.spec("shop"), "bronze", DAY1) is None
    # Quotes closed, the last row without a newline, other encodings: every row lands as written.
    cases = [
        ("utf-8", b'id,name\r\n1,"a\r\nb"\r\n2,"x ""y"""'),
        ("utf-16", 'id,name\n1,"a,b"\n2,"c\nd"\n'.encode("utf-16")),
        ("utf-16", codecs.BOM_UTF16_BE + 'id,name\n1,"a,b"\n2,"c\nd"\n'.encode("utf-16-be")),
        ("latin-1", 'id,name\n1,"é"\n2,"ü"'.encode("latin-1")),
        ("utf-8", b'id,name\n1,a\n2,"' + b"x" * (3 << 20) + b'"'),  # a last row of blocks, no newline
    ]
    for encoding, content in cases:
        path.write_bytes(content)
        lake, outcome = run(DAY1, {"path": str(path), "encoding": encoding})
        assert outcome.error is None, (encoding, outcome.error)
        part = lake.committed(lake.spec("shop"), "bronze", DAY1)
        assert part is not None
        expected = list(csv.reader(io.StringIO(content.decode(encoding).lstrip("\ufeff"), newline="")))
        assert read_artifact(part, "data").select(["id", "name"]).rows() == [tuple(r) for r in expected[1:]]


def test_a_csv_with_carriage_return_line_ends_lands(tmp_path: Path, run: Run) -> None:
    """Classic Mac exports end lines with a lone CR: Arrow reads them; the header peek must too."""
    path = landing(tmp_path, "stores.csv", b'id,name\r1,"a\rb"\r2,c\r')
    lake, outcome = run(DAY1, {"path": str(path)})
    assert outcome.error is None, outcome.error
    part = lake.committed(lake.spec("shop"), "bronze", DAY1)
    assert part is not None
    assert read_artifact(part, "data").select(["id", "name"]).rows() == [("1", "a\rb"), ("2", "c")]


def test_bad_rows_of_a_csv_with_carriage_return_line_ends_are_quarantined_and_named(
    tmp_path: Path, run: Run
) -> None:
    """The second read that numbers bad rows split lines on LF only: Python's csv refused the lone CRs
    ("new-line character seen in unquoted field"), which failed a quarantining partition whole and named
    line 1 in the error of ``on_bad_lines: error``."""
    path = landing(tmp_path, "stores.csv", b'id,name\r1,a\r2,b,extra\r3,"multi\rline"\r4\r5,e\r')
    _, failed = run(DAY1, {"path": str(path)})
    assert failed.error is not None and "line 3 has 3 fields, the first row 2" in failed.error, failed.error
    file = {"path": str(path), "on_bad_lines": "quarantine"}
    silver = {"model": "periodic_snapshot", "primary_keys": ["id"], "error_handling": {"max_bad_records": 2}}
    lake, outcome = run(DAY1, file, silver)
    assert outcome.error is None, outcome.error
    part = lake.committed(lake.spec("shop"), "bronze", DAY1)
    assert part is not None
    assert read_artifact(part, "data").select(["id", "name"]).rows() == [
        ("1", "a"),
        ("3", "multi\rline"),
        ("5", "e"),
    ]
    errors = read_artifact(part, "errors").to_dicts()
    assert [(e["_line_number"], e["_raw_line"]) for e in errors] == [(3, "2,b,extra"), (6, "4")]


def test_bytes_not_valid_in_the_encoding_fail_a_csv_naming_the_line(tmp_path: Path, run: Run) -> None:
    """As text, typed or inferred: never a binary column of the raw bytes, never a hint about types."""
    path = landing(tmp_path, "stores.csv", b"id,name\n1,a\n2,\xff\n3,c\n")
    for extra in ({}, {"columns": {"id": "int64", "name": "string"}}, {"infer_types": True}):
        lake, failed = run(DAY1, {"path": str(path)} | extra)
        assert failed.error is not None, extra
        assert "line 3: not valid utf-8" in failed.error and "file.encoding" in failed.error, extra
        assert "file.columns' types" not in failed.error, extra
        assert lake.committed(lake.spec("shop"), "bronze", DAY1) is None


@pytest.mark.parametrize(
    "content",
    [
        b"id,n\xe9me\n1,a\n",  # a header Arrow reads itself
        b"id,n\xe9me,id\n1,a,b\n",  # a header renamed (a repeated name)
        b"\n\nid,n\xe9me\n",  # a header-only file, after blank lines: an empty snapshot
    ],
)
def test_bytes_not_valid_in_the_encoding_in_a_csv_header_fail_the_file_naming_the_line(
    tmp_path: Path, run: Run, content: bytes
) -> None:
    """A Latin-1 header read as UTF-8 is no column name: never "n\\ufffdme", nor a crash naming no file."""
    path = landing(tmp_path, "stores.csv", content)
    line = 3 if content.startswith(b"\n") else 1
    for extra in ({}, {"columns": {"id": "string"}}, {"infer_types": True}):
        lake, failed = run(DAY1, {"path": str(path)} | extra)
        assert failed.error is not None, extra
        assert "cannot read csv file" in failed.error and "stores.csv" in failed.error, failed.error
        assert f"line {line}: not valid utf-8 at byte 5 of the line" in failed.error, failed.error
        assert "file.encoding" in failed.error, failed.error
        assert lake.committed(lake.spec("shop"), "bronze", DAY1) is None


def test_a_jsonl_key_with_a_lone_surrogate_is_kept_visible_as_an_escape(tmp_path: Path, run: Run) -> None:
    """JSON allows "\\ud800", UTF-8 (and Parquet's names) do not: as in values, the escape is kept as text."""
    path = landing(tmp_path, "events.jsonl", '{"id": 1, "k\\ud800": "v\\udfff"}\n{"id": 2}\n')
    lake, outcome = run(DAY1, {"path": str(path)})
    assert outcome.error is None, outcome.error
    part = lake.committed(lake.spec("shop"), "bronze", DAY1)
    assert part is not None
    frame = read_artifact(part, "data")
    assert frame.select(["id", "k\\ud800"]).rows() == [(1, "v\\udfff"), (2, None)]


def _medallion_run(tmp_path: Path, file: dict[str, Any], max_bad_records: int = 0) -> tuple[int, str]:
    """``medallion run`` of the ``shop`` file source for DAY1, as a user runs it: (exit code, output)."""
    config = tmp_path / "cli-configs"
    config.mkdir(exist_ok=True)
    platform = {
        "bronze": {"local_path": str(tmp_path / "cli-lake" / "bronze")},
        "silver": {"local_path": str(tmp_path / "cli-lake" / "silver")},
        "defaults": {"partitions": {"start_date": "2025-01-01"}},
    }
    source = {
        "name": "shop",
        "source": {"system": "shop", "table": "stores", "type": "file", "file": file},
        "silver": {"model": "periodic_snapshot", "error_handling": {"max_bad_records": max_bad_records}},
    }
    (config / "platform.yaml").write_text(yaml.safe_dump({"config_version": 1, "platform": platform}))
    (config / "sources.yaml").write_text(yaml.safe_dump({"config_version": 1, "sources": [source]}))
    home = tmp_path / "cli-dagster-home"
    home.mkdir(exist_ok=True)
    medallion = str(Path(sys.executable).parent / "medallion")
    done = subprocess.run(
        [medallion, "--config-dir", str(config), "run", "--date", DAY1.isoformat(), "--layer", "bronze"],
        env={**os.environ, "DAGSTER_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    return done.returncode, done.stdout + done.stderr


def test_a_chunk_of_json_lines_that_starts_with_null_does_not_crash_the_run(tmp_path: Path) -> None:
    """pyarrow's JSON reader dies of a segmentation fault on a block whose first value is ``null``: a file
    whose first line is ``null``, or whose 8 MiB chunk ends just before one, killed the whole run."""
    path = landing(tmp_path, "events.jsonl", 'null\n{"id": 2}\n')
    code, output = _medallion_run(tmp_path, {"path": str(path)})
    assert code == 1, output
    assert "line 1: the line is null, not a JSON object" in output
    # A `null` line at the very start of the second chunk: the first chunk is exactly 8 MiB of lines.
    line = json.dumps({"id": 1, "pad": "x" * 1000}) + "\n"
    count, rest = divmod(8 << 20, len(line))
    first = line * (count - 1) + json.dumps({"id": 1, "pad": "x" * (1000 + rest)}) + "\n"
    assert len(first) == 8 << 20
    path.write_text(first + 'null\n{"id": 3}\n')
    code, output = _medallion_run(tmp_path, {"path": str(path), "on_bad_lines": "quarantine"}, 1)
    assert code == 0, output
    lake = Lake.load(tmp_path / "cli-configs")
    part = lake.committed(lake.spec("shop"), "bronze", DAY1)
    assert part is not None and part.manifest.record_count == count + 1
    errors = read_artifact(part, "errors").to_dicts()
    assert [(e["_line_number"], e["_raw_line"]) for e in errors] == [(count + 1, "null")]
    # The same after a byte-order mark (files joined end to end; a line's mark is not part of it).
    path.write_text(first + '\ufeffnull\n{"id": 3}\n')
    code, output = _medallion_run(tmp_path, {"path": str(path), "on_bad_lines": "quarantine"}, 1)
    assert code == 0, output
    part = lake.committed(lake.spec("shop"), "bronze", DAY1)
    assert part is not None
    errors = read_artifact(part, "errors").to_dicts()
    assert [(e["_line_number"], e["_raw_line"]) for e in errors] == [(count + 1, "null")]


@pytest.mark.parametrize(
    ("early", "late"),
    [
        ('{"tags": []}', '{"tags": "x"}'),  # pyarrow 26 crashes (list<null> meets a string)
        ('{"o": {"b": {}}}', '{"o": {"b": 1}}'),  # pyarrow 26 reads the 1 as {} (struct<> kept)
    ],
)
def test_json_lines_whose_types_change_after_a_mebibyte_land_by_the_records_rule(
    tmp_path: Path, early: str, late: str
) -> None:
    """Arrow's JSON reader reads a chunk in blocks and joins their types; joining a type it inferred from
    empty arrays or objects with another crashed the process, or silently changed the later values."""
    first = "".join(json.dumps({"id": i} | json.loads(early)) + "\n" for i in range(120_000))
    first = first[: first.rfind("\n", 0, 2 << 20) + 1]  # 2 MiB of whole lines: the late one starts a block
    rows = first.count("\n") + 1
    path = landing(tmp_path, "events.jsonl", first + json.dumps({"id": -1} | json.loads(late)) + "\n")
    code, output = _medallion_run(tmp_path, {"path": str(path)})
    assert code == 0, output
    lake = Lake.load(tmp_path / "cli-configs")
    part = lake.committed(lake.spec("shop"), "bronze", DAY1)
    assert part is not None and part.manifest.record_count == rows
    frame = read_artifact(part, "data")
    column = next(iter(json.loads(late)))
    values = frame[column].to_list()
    # The records rule: one chunk, the column mixes kinds (text) or nests (JSON text).
    expected = [
        v if isinstance(v, str) else json.dumps(v, sort_keys=True, separators=(",", ":"))
        for v in (json.loads(early)[column], json.loads(late)[column])
    ]
    assert (values[0], values[-1]) == tuple(expected)


@pytest.mark.parametrize("model", ["scd_type_1", "scd_type_2", "cdc", "event_log"])
def test_an_incremental_day_without_records_leaves_silver_as_it_was(
    tmp_path: Path, run: Run, model: str
) -> None:
    """A day with no changes (an empty file allowed, an API answering ``[]``) commits a Bronze partition of
    no rows and no columns; Silver of that day is the day before's (no events for ``event_log``), not a
    failure naming the keys."""
    day1 = landing(tmp_path, "d1.jsonl", '{"id": 1, "v": "a", "op": "I", "ts": "2025-01-01T10:00:00"}\n')
    day2 = landing(tmp_path, "d2.jsonl", b"")
    silver: dict[str, Any] = {"model": model, "primary_keys": ["id"], "order_column": "ts"}
    pattern = "cdc" if model == "cdc" else "incremental"
    if model == "cdc":
        silver["cdc"] = {"operation_column": "op"}
    lake, first = run(
        DAY1, {"path": str(day1)}, silver=silver, layers=("bronze", "silver"), load_pattern=pattern
    )
    assert first.error is None, first.error
    lake, second = run(
        DAY2,
        {"path": str(day2), "allow_empty": True},
        silver=silver,
        layers=("bronze", "silver"),
        load_pattern=pattern,
    )
    assert second.error is None, second.error
    spec = lake.spec("shop")
    before, after = lake.committed(spec, "silver", DAY1), lake.committed(spec, "silver", DAY2)
    assert before is not None and after is not None
    if model == "event_log":  # Silver D holds the events of Bronze D: none
        assert after.manifest.record_count == 0 and before.manifest.record_count == 1
        return
    for artifact in before.manifest.artifacts():
        old, new = read_artifact(before, artifact), read_artifact(after, artifact)
        keep = [c for c in old.columns if c != "_silver_load_date"]
        assert new.select(keep).to_dicts() == old.select(keep).to_dicts(), artifact


# --- column names, blank lines and blank-only files --------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content"),
    [
        # Plain columns: Arrow's chunk path.
        ("events.jsonl", '{"id": 1, "": "a"}\n{"id": 2, "": "b"}\n'),
        # A column mixing kinds: the chunk is read line by line (json.loads + records_to_batch).
        ("events.jsonl", '{"id": 1, "": "a", "m": 1}\n{"id": 2, "": "b", "m": "x"}\n'),
        ("events.json", '{"items": [{"id": 1, "": "a"}, {"id": 2, "": "b"}]}'),
    ],
)
def test_an_empty_json_key_lands_as_a_named_column(tmp_path: Path, run: Run, name: str, content: str) -> None:
    """Bronze holds no column without a name (Silver, SQL and the UI cannot address one): the empty key
    lands as ``empty_key`` in every JSON path, as an empty CSV header lands as ``column_<position>``."""
    path = landing(tmp_path, name, content)
    file = {"path": str(path)} | ({"json_path": "items"} if name.endswith(".json") else {})
    lake, outcome = run(DAY1, file, layers=("bronze", "silver"))
    assert outcome.error is None, outcome.error
    part = lake.committed(lake.spec("shop"), "bronze", DAY1)
    assert part is not None
    frame = read_artifact(part, "data")
    assert "" not in frame.columns and "" not in [c["name"] for c in part.metadata["schema"]]
    assert frame.select(["id", "empty_key"]).rows() == [(1, "a"), (2, "b")]
    # `columns:` projects by the name Bronze gives it.
    lake, outcome = run(DAY2, file | {"columns": ["empty_key", "id"]})  # id: Silver's key
    assert outcome.error is None, outcome.error
    part = lake.committed(lake.spec("shop"), "bronze", DAY2)
    assert part is not None
    assert read_artifact(part, "data").select(["empty_key", "id"]).rows() == [("a", 1), ("b", 2)]


def test_an_empty_json_key_beside_a_real_empty_key_column_keeps_both(tmp_path: Path, run: Run) -> None:
    """A key named like the generated name keeps its name; the empty key yields (``empty_key_2``), and a
    lone-surrogate key whose escape text is another key's name does not land two columns of one name."""
    content = '{"id": 1, "": "a", "empty_key": "real", "k\\ud800": "s", "k\\\\ud800": "t"}\n'
    path = landing(tmp_path, "events.jsonl", content)
    lake, outcome = run(DAY1, {"path": str(path)})
    assert outcome.error is None, outcome.error
    part = lake.committed(lake.spec("shop"), "bronze", DAY1)
    assert part is not None
    row = read_artifact(part, "data").row(0, named=True)
    assert (row["empty_key"], row["empty_key_2"]) == ("real", "a")
    assert sorted(v for k, v in row.items() if k.startswith("k\\ud800")) == ["s", "t"]


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("stores.csv", "\n\r\n\n"),
        ("stores.json", " \n\t\n"),
        ("stores.jsonl", "\n \r\n"),
        ("st.jsonl", "\n\n\n\n"),
    ],
)
def test_a_file_of_only_blank_lines_is_named_as_such_not_as_zero_bytes(
    tmp_path: Path, run: Run, name: str, content: str
) -> None:
    """Blank lines are no header and no document: like a 0-byte file such a file fails naming
    file.allow_empty, and says what it holds (it said "0 bytes"); allowed, it adds no rows."""
    path = landing(tmp_path, name, content)
    lake, failed = run(DAY1, {"path": str(path)})
    assert failed.error is not None
    assert "0 bytes" not in failed.error, failed.error
    assert f"'{path}': the file has only blank lines (4 bytes)" in failed.error, failed.error
    assert "file.allow_empty: true" in failed.error
    assert lake.committed(lake.spec("shop"), "bronze", DAY1) is None
    lake, allowed = run(DAY1, {"path": str(path), "allow_empty": True})
    assert allowed.error is None, allowed.error
    part = lake.committed(lake.spec("shop"), "bronze", DAY1)
    assert part is not None and part.manifest.record_count == 0
    assert part.metadata["source_files"][0]["size_bytes"] == 4


def test_a_csv_whose_header_follows_many_blank_lines_lands(tmp_path: Path, run: Run) -> None:
    """The header is looked for past the first 64 KiB of blank lines: the file was reported empty ("0
    bytes"), and with file.allow_empty its rows were dropped without a word. A header whose names Bronze
    renames skips the right lines too."""
    path = landing(tmp_path, "stores.csv", "\n" * 70_000 + "id,name\n1,a\n\n2,b\n")
    for allow_empty in (False, True):
        lake, outcome = run(DAY1, {"path": str(path), "allow_empty": allow_empty})
        assert outcome.error is None, outcome.error
        part = lake.committed(lake.spec("shop"), "bronze", DAY1)
        assert part is not None
        assert read_artifact(part, "data").select(["id", "name"]).rows() == [("1", "a"), ("2", "b")]
    path.write_text("\r\n" * 40_000 + "id,id\r\n1,a\r\n2,b\r\n")
    lake, outcome = run(DAY2, {"path": str(path)})
    assert outcome.error is None, outcome.error
    part = lake.committed(lake.spec("shop"), "bronze", DAY2)
    assert part is not None
    assert read_artifact(part, "data").select(["id", "id_2"]).rows() == [("1", "a"), ("2", "b")]
    # Past the 16 MiB the header is looked for in, the file fails saying so (the day keeps its commit).
    path.write_text("\n" * (17 << 20) + "id,name\n1,a\n")
    lake, failed = run(DAY2, {"path": str(path), "allow_empty": True})
    assert failed.error is not None
    assert f"'{path}': the first 16 MiB of the file are blank lines" in failed.error, failed.error


def test_a_json_line_of_whitespace_json_does_not_allow_is_a_bad_line(tmp_path: Path, run: Run) -> None:
    """Blank is what JSON calls whitespace (space, tab, CR): such a line is skipped. A line of form feed,
    vertical tab or no-break space is no JSON value (``json.loads`` and Arrow refuse it, so Arrow hands its
    chunk to the line-by-line path): it is a malformed line naming its number, not a line dropped silently."""
    lines = ['{"id": 1}', " \t\r", '{"id": 2}', "\f", "\v", "\xa0", '{"id": 3}']
    path = landing(tmp_path, "events.jsonl", "\n".join(lines) + "\n")
    lake, failed = run(DAY1, {"path": str(path)})
    assert failed.error is not None
    assert f"'{path}': line 4: " in failed.error, failed.error
    assert lake.committed(lake.spec("shop"), "bronze", DAY1) is None
    silver = {"model": "periodic_snapshot", "primary_keys": ["id"], "error_handling": {"max_bad_records": 3}}
    lake, outcome = run(DAY1, {"path": str(path), "on_bad_lines": "quarantine"}, silver)
    assert outcome.error is None, outcome.error
    part = lake.committed(lake.spec("shop"), "bronze", DAY1)
    assert part is not None
    assert read_artifact(part, "data")["id"].to_list() == [1, 2, 3]
    errors = read_artifact(part, "errors").to_dicts()
    assert [(e["_line_number"], e["_raw_line"]) for e in errors] == [(4, "\f"), (5, "\v"), (6, "\xa0")]
    assert errors[0]["_error_reason"] == (
        "invalid JSON at character 1: Expecting value: the line is only whitespace, but '\\x0c' is not "
        "whitespace in JSON (a blank line holds only spaces, tabs and carriage returns)"
    )
