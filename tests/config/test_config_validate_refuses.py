"""Configs that ``medallion validate`` used to accept, yet the config alone shows they fail later: when the
Dagster Definitions load, or at the first run of a source. Each is refused by ``medallion validate`` with the
file, the key path and a fix.

Every case was reproduced at the boundary first: the config validated, then ``materialize_partition`` (what
``medallion run`` does) or ``Definitions.validate_loadable`` failed, with the error quoted in the case.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from medallion_assets.cli import main
from medallion_assets.config.loader import load_config
from medallion_assets.errors import MedallionDeprecationWarning

from ._support import MINIMAL, write_config


def file_source(**changes: Any) -> dict[str, Any]:
    """A daily CSV source; ``file``, ``silver`` and ``run`` merge into its sections."""
    source: dict[str, Any] = {
        "name": "shop_orders",
        "source": {
            "system": "shop",
            "table": "orders",
            "type": "file",
            "file": {"path": "./data/orders.csv", **changes.pop("file", {})},
            "run": {"load_pattern": "full", **changes.pop("run", {})},
        },
        "silver": {"primary_keys": ["id"], **changes.pop("silver", {})},
    }
    source["source"].update(changes.pop("source", {}))
    return source | changes


def validate(tmp_path: Path, *sources: dict[str, Any], platform: str | None = None) -> tuple[int, str]:
    """``medallion validate`` on a platform file and ``sources/s.yaml``: its exit code and output."""
    files = {
        "platform.yaml": platform or (MINIMAL / "platform.yaml").read_text(encoding="utf-8"),
        "sources/s.yaml": {"config_version": 1, "sources": list(sources)},
    }
    config_dir = write_config(tmp_path, files)
    # standalone_mode=False: the console script leaves with os._exit once Dagster is loaded.
    result = CliRunner().invoke(main, ["--config-dir", str(config_dir), "validate"], standalone_mode=False)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def refused(tmp_path: Path, *sources: dict[str, Any], where: str, says: str, fix: str) -> None:
    code, output = validate(tmp_path, *sources)
    assert code == 1, output
    assert f"configs/sources/s.yaml: {where}: " in output, output
    assert says in output, output
    assert fix in output, output
    assert "Traceback" not in output


# --- file sources ------------------------------------------------------------------------------------------

FILE_CASES = [
    pytest.param(  # ran: "ExtractError: ... unknown template field '{rundate}'" at the first run
        {"file": {"path": "./data/orders_{rundate}.csv"}},
        "sources[0].source.file.path",
        "unknown template field '{rundate}'",
        "allowed: {run_date}, {window_start}, {window_end}",
        id="path-template-typo",
    ),
    pytest.param(  # ran: "ExtractError: ... unknown file.encoding 'utf-9'" at the first run
        {"file": {"encoding": "utf-9"}},
        "sources[0].source.file.encoding",
        "unknown encoding 'utf-9'",
        "use a Python codec name such as utf-8",
        id="encoding-unknown",
    ),
    pytest.param(  # ran: "file.delimiter ';;' must be exactly one character" at the first run
        {"file": {"delimiter": ";;"}},
        "sources[0].source.file.delimiter",
        "delimiter ';;' must be exactly one character",
        "'\\t' or 'tab' for a tab",
        id="delimiter-two-chars",
    ),
    pytest.param(
        {"file": {"delimiter": ""}},
        "sources[0].source.file.delimiter",
        "delimiter '' must be exactly one character",
        "'\\t' or 'tab' for a tab",
        id="delimiter-empty",
    ),
    pytest.param(  # ran: Bronze landed two 'id' columns, Silver failed "DuplicateError: column appears ..."
        {"file": {"columns": ["id", "id", "amount"], "has_header": False}},
        "sources[0].source.file.columns",
        "file.columns has the name 'id' more than once",
        "give every column its own name",
        id="columns-repeated",
    ),
    pytest.param(  # ran: Bronze failed writing Parquet, whose decimals have a scale of at most their digits
        {"file": {"columns": {"id": "int64", "amount": "decimal(5,7)"}}},
        "sources[0].source.file.columns",
        "'decimal(5,7)' for column 'amount': a decimal needs a scale of at most its precision",
        "e.g. decimal(9,7)",
        id="columns-decimal-scale-over-precision",
    ),
    pytest.param(  # ran: "ExtractError: ... file.path ... {run_date:%Y%m%d%Q}" found no file at the first run
        {"file": {"path": "./data/orders_{run_date:%Y%m%d%Q}.csv"}},
        "sources[0].source.file.path",
        "'%Q' in '{run_date:%Y%m%d%Q}' is not a strftime directive",
        "write %% for a literal %",
        id="path-unknown-strftime-directive",
    ),
    pytest.param(
        {"file": {"columns": ["id", "", "amount"], "has_header": False}},
        "sources[0].source.file.columns",
        "an empty column name",
        "give every column its own name",
        id="columns-empty-name",
    ),
]


@pytest.mark.parametrize(("changes", "where", "says", "fix"), FILE_CASES)
def test_file_settings_that_fail_the_first_run(
    tmp_path: Path, changes: dict[str, Any], where: str, says: str, fix: str
) -> None:
    refused(tmp_path, file_source(**changes), where=where, says=says, fix=fix)


def test_tab_delimiter_spellings_still_validate(tmp_path: Path) -> None:
    for index, delimiter in enumerate(["\t", "\\t", "tab", ";"]):
        code, output = validate(tmp_path / str(index), file_source(file={"delimiter": delimiter}))
        assert code == 0, output


# --- silver: the columns it names --------------------------------------------------------------------------

CDC = {"model": "cdc", "order_column": "ts", "cdc": {"operation_column": "op"}}

SILVER_CASES = [
    pytest.param(  # ran: Silver failed "DuplicateError: projections contained duplicate output name 'id'"
        {"silver": {"primary_keys": ["id", "id"]}},
        "sources[0].silver.primary_keys",
        "silver.primary_keys has the name 'id' more than once",
        "give every column its own name",
        id="primary-keys-repeated",
    ),
    pytest.param(  # ran: "silver.primary_keys names column(s) '' that Bronze does not have"
        {"silver": {"primary_keys": [""]}},
        "sources[0].silver.primary_keys",
        "silver.primary_keys has an empty column name",
        "give every column its own name",
        id="primary-keys-empty-name",
    ),
    pytest.param(  # ran: Silver failed "DuplicateError: projections contained duplicate output name 'b'"
        {"silver": {"schema": {"column_order": ["amount", "amount"]}}},
        "sources[0].silver.schema.column_order",
        "silver.schema.column_order has the name 'amount' more than once",
        "give every column its own name",
        id="column-order-repeated",
    ),
    pytest.param(  # ran: "silver.primary_keys names column(s) 'id' that Bronze does not have"
        {"silver": {"primary_keys": ["id"], "schema": {"rename_map": {"id": "order_id"}}}},
        "sources[0].silver",
        "silver.primary_keys names 'id', which silver.schema.rename_map renames to 'order_id'",
        "name the column 'order_id'",
        id="primary-key-renamed-away",
    ),
    pytest.param(  # ran: "silver.schema.types names column(s) 'amt' that Bronze does not have"
        {"silver": {"schema": {"rename_map": {"amt": "amount"}, "types": {"amt": "float64"}}}},
        "sources[0].silver",
        "silver.schema.types names 'amt', which silver.schema.rename_map renames to 'amount'",
        "name the column 'amount'",
        id="type-of-renamed-away-column",
    ),
    pytest.param(  # ran: Silver failed 'ColumnNotFoundError: unable to find column "op"'
        {"run": {"load_pattern": "cdc"}, "silver": {**CDC, "primary_keys": ["id", "op"]}},
        "sources[0].silver",
        "silver.cdc.operation_column 'op' is also in silver.primary_keys",
        "the operation column only says what happened to a row",
        id="cdc-operation-column-is-a-key",
    ),
    pytest.param(  # ran: Silver failed 'ColumnNotFoundError: unable to find column "op"'
        {"run": {"load_pattern": "cdc"}, "silver": {**CDC, "primary_keys": ["id"], "order_column": "op"}},
        "sources[0].silver",
        "silver.cdc.operation_column 'op' is also in silver.order_column",
        "key and order the rows by other columns",
        id="cdc-operation-column-orders",
    ),
    pytest.param(  # ran: day 2 failed "filter predicate must be of type `Boolean`, got `String`"
        {
            "silver": {
                "model": "scd_type_2",
                "order_column": "ts",
                "schema": {"types": {"is_current": "bool"}},
            }
        },
        "sources[0]",
        "silver.schema.types names 'is_current', a column silver.model 'scd_type_2' writes itself",
        "silver.schema.rename_map (e.g. {is_current: source_is_current})",
        id="typed-column-the-model-writes",
    ),
    pytest.param(  # the source's own column is kept as _deleted_source: the key would name Silver's flag
        {"silver": {"model": "scd_type_1", "primary_keys": ["id", "_deleted"]}},
        "sources[0]",
        "silver.primary_keys names '_deleted', a column silver.model 'scd_type_1' writes itself",
        "(e.g. {_deleted: source_deleted})",
        id="key-the-model-writes",
    ),
    pytest.param(  # ran: Silver failed "InvalidOperationError: precision must be between 1 and 38, got 50"
        {"silver": {"schema": {"types": {"amount": "decimal(50,2)"}}}},
        "sources[0].silver.schema.types",
        "type 'decimal(50,2)' for column 'amount': a decimal(p,s) needs 1 <= p <= 38 digits",
        "use float64 or keep the column as text",
        id="decimal-over-38-digits",
    ),
    pytest.param(  # ran: Silver failed "scale must be less than or equal to precision, got scale 7 ..."
        {"silver": {"schema": {"types": {"amount": "decimal(5, 7)"}}}},
        "sources[0].silver.schema.types",
        "for column 'amount': a decimal(p,s) needs 1 <= p <= 38 digits and a scale s <= p",
        "use float64 or keep the column as text",
        id="decimal-scale-over-precision",
    ),
    pytest.param(  # ran: day 2 failed "DuplicateError: duplicate output name 'id'"
        {"silver": {"model": "scd_type_2", "order_column": "id"}},
        "sources[0]",
        "silver.order_column 'id' is also in silver.primary_keys",
        "choose the column that says which version is newer",
        id="scd2-ordered-by-its-key",
    ),
    pytest.param(  # ran: every row coded 'I' counted as an insert and as a delete, silently
        {"run": {"load_pattern": "cdc"}, "silver": {**CDC, "cdc": {"delete_code": "I"}}},
        "sources[0].silver.cdc",
        "insert_code, update_code and delete_code must differ ('I' is used twice)",
        "give each operation its own code",
        id="cdc-codes-equal",
    ),
]


@pytest.mark.parametrize(("changes", "where", "says", "fix"), SILVER_CASES)
def test_silver_settings_that_fail_the_first_run(
    tmp_path: Path, changes: dict[str, Any], where: str, says: str, fix: str
) -> None:
    refused(tmp_path, file_source(**changes), where=where, says=says, fix=fix)


def test_a_name_renamed_onto_another_still_validates(tmp_path: Path) -> None:
    """``{a: b, b: a}`` swaps two columns: 'a' still names a column after the rename."""
    silver = {"primary_keys": ["a"], "schema": {"rename_map": {"a": "b", "b": "a"}}}
    code, output = validate(tmp_path, file_source(silver=silver))
    assert code == 0, output


# --- partitions and names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "says"),
    [  # Definitions failed: "Invalid partition definition for bronze/shop/orders" (year < 1000: Dagster
        # writes '100-01-01' and cannot parse it back) and "OverflowError: date value out of range"
        ("0100-01-01", "start_date 0100-01-01 is before 1000-01-01"),
        ("9999-12-31", "start_date 9999-12-31 is after 9999-12-30"),
    ],
)
def test_a_start_date_dagster_cannot_hold(tmp_path: Path, day: str, says: str) -> None:
    platform = (MINIMAL / "platform.yaml").read_text(encoding="utf-8")
    platform += f"  defaults:\n    partitions: {{start_date: '{day}'}}\n"
    code, output = validate(tmp_path / "platform", file_source(), platform=platform)
    assert code == 1, output
    assert f"configs/platform.yaml: platform.defaults.partitions.start_date: {says}" in output
    assert "check the year" in output
    refused(
        tmp_path / "source",
        file_source(partitions={"start_date": day}),
        where="sources[0].partitions.start_date",
        says=says,
        fix="check the year",
    )


@pytest.mark.parametrize(
    ("day", "says"),
    [  # said "Datetimes provided to dates should have zero time - e.g. be exact dates", no fix
        (20250101, "start_date 20250101 is a number, not a date"),
        # validated as 2025-01-01: pydantic reads a number as seconds since 1970
        (1735689600, "start_date 1735689600 is a number, not a date"),
        # said "Input should be a valid date or datetime, invalid date separator, expected `-`", no fix
        ("2025/01/01", "invalid date separator"),
    ],
)
def test_a_start_date_not_written_as_yyyy_mm_dd(tmp_path: Path, day: Any, says: str) -> None:
    refused(
        tmp_path,
        file_source(partitions={"start_date": day}),
        where="sources[0].partitions.start_date",
        says=says,
        fix="write the date as YYYY-MM-DD, e.g. 2025-01-01",
    )


@pytest.mark.parametrize(
    ("changes", "where"),
    [  # ran: "OSError: [Errno 36] File name too long: '.../bronze/system=sss...'"
        ({"source": {"system": "s" * 300}}, "sources[0].source.system"),
        ({"source": {"table": "t" * 300}}, "sources[0].source.table"),
        ({"silver": {"domain": "d" * 300}}, "sources[0].silver.domain"),
        ({"silver": {"entity": "e" * 300}}, "sources[0].silver.entity"),
        ({"name": "n" * 300}, "sources[0].name"),
    ],
)
def test_a_name_too_long_for_a_folder(tmp_path: Path, changes: dict[str, Any], where: str) -> None:
    refused(tmp_path, file_source(**changes), where=where, says="is 300 characters long", fix="at most 100")


@pytest.mark.parametrize(
    ("changes", "where", "says"),
    [  # Definitions failed: '"shop_orders\n_schedule" is not a valid name in Dagster', '"shop\n_orders" is
        # not a valid asset group name' ('$' of the name patterns matched before a trailing newline)
        ({"name": "shop_orders\n"}, "sources[0].name", "name 'shop_orders\\n' must match [a-z][a-z0-9_]*"),
        ({"source": {"system": "shop\n"}}, "sources[0].source.system", "'shop\\n' must be letters"),
        ({"source": {"table": "orders\n"}}, "sources[0].source.table", "'orders\\n' must be letters"),
        ({"silver": {"domain": "sales\n"}}, "sources[0].silver.domain", "'sales\\n' must be letters"),
        ({"silver": {"entity": "orders\n"}}, "sources[0].silver.entity", "'orders\\n' must be letters"),
        (
            {"schedule": {"group": "nightly\n"}},
            "sources[0].schedule.group",
            "schedule group 'nightly\\n' must match [a-z][a-z0-9_]*",
        ),
    ],
)
def test_a_name_with_a_trailing_newline(
    tmp_path: Path, changes: dict[str, Any], where: str, says: str
) -> None:
    """A ``name: >`` (or ``|``) block scalar ends its value with a newline."""
    refused(tmp_path, file_source(**changes), where=where, says=says, fix="")


def test_a_name_from_a_block_scalar_is_refused_in_the_yaml_as_written(tmp_path: Path) -> None:
    platform = (MINIMAL / "platform.yaml").read_text(encoding="utf-8")
    source = yaml.safe_dump({"config_version": 1, "sources": [file_source()]}, sort_keys=False)
    source = source.replace("name: shop_orders", "name: >\n    shop_orders")
    config_dir = write_config(tmp_path, {"platform.yaml": platform, "sources/s.yaml": source})
    result = CliRunner().invoke(main, ["--config-dir", str(config_dir), "validate"], standalone_mode=False)
    assert result.exit_code == 1, result.output
    assert "configs/sources/s.yaml: sources[0].name: name 'shop_orders\\n' must match" in result.output


@pytest.mark.parametrize("owner", ["data@acme.consulting", "j\u00fcrgen@example.de"])
def test_an_owner_address_dagster_refuses(tmp_path: Path, owner: str) -> None:
    """Definitions failed: "Invalid owner 'data@acme.consulting' for asset 'AssetKey(['bronze', 'shop',
    'orders'])'. Owner must be an email address or a team name prefixed with 'team:'." """
    refused(
        tmp_path,
        file_source(owners=[owner]),
        where="sources[0].owners",
        says=f"owner '{owner}' is not an e-mail address Dagster accepts",
        fix="a top-level domain of 2 to 7 letters",
    )


@pytest.mark.parametrize(
    ("changes", "where"),
    [  # ran: "OverflowError: cannot convert float infinity to integer" (the part file size cap)
        ({"run": {"max_file_size_mb": float("inf")}}, "sources[0].source.run.max_file_size_mb"),
        # Definitions failed: "OverflowError: cannot convert float infinity to integer" (FreshnessPolicy)
        ({"freshness": {"fail_window_hours": float("inf")}}, "sources[0].freshness.fail_window_hours"),
        ({"freshness": {"fail_window_hours": float("nan")}}, "sources[0].freshness.fail_window_hours"),
    ],
)
def test_yaml_infinity_or_nan_as_a_number(tmp_path: Path, changes: dict[str, Any], where: str) -> None:
    """``.inf`` and ``.nan`` are YAML floats (yaml.safe_dump writes them so)."""
    says = "nan is not a finite number" if "nan" in repr(changes) else "inf is not a finite number"
    refused(tmp_path, file_source(**changes), where=where, says=says, fix="YAML's .inf and .nan are not")


def test_yaml_booleans_and_numbers_where_a_string_belongs_say_to_quote_them(tmp_path: Path) -> None:
    """Was "Input should be a valid string, got True" for ``table: on``, with no hint."""
    platform = (MINIMAL / "platform.yaml").read_text(encoding="utf-8")
    text = (
        "config_version: 1\n"
        "sources:\n"
        "  - source: {system: shop, table: on, type: file, file: {path: /o.csv}}\n"
        "    silver: {primary_keys: [yes, 1.10]}\n"
        "    schedule: {default_status: off}\n"
    )
    config_dir = write_config(tmp_path, {"platform.yaml": platform, "sources/s.yaml": text})
    result = CliRunner().invoke(main, ["--config-dir", str(config_dir), "validate"], standalone_mode=False)
    assert result.exit_code == 1, result.output
    quote = "YAML reads unquoted yes, no, on, off, true and false as booleans: quote it"
    for where, says, fix in [
        ("sources[0].source.table", "expected a string, got the boolean True", quote),
        ("sources[0].silver.primary_keys[0]", "expected a string, got the boolean True", quote),
        ("sources[0].silver.primary_keys[1]", "expected a string, got the number 1.1", "(1.10 as 1.1)"),
        ("sources[0].schedule.default_status", "False is not allowed", quote),
    ]:
        prefix = f"configs/sources/s.yaml: {where}: "
        line = next(line for line in result.output.splitlines() if prefix in line)
        assert says in line, line
        assert fix in line, line


# --- silver keys against the columns a file source declares ------------------------------------------------


@pytest.mark.parametrize(
    ("file", "silver", "says"),
    [  # ran: "silver.primary_keys names column(s) 'id' that Bronze does not have; present columns: a, b, c"
        (
            {"columns": ["order_id", "amount"], "has_header": False},
            {"primary_keys": ["id"]},
            "silver.primary_keys names 'id', which is not among file.columns (order_id, amount)",
        ),
        (  # a projection of a file with a header: Bronze holds the listed columns only
            {"columns": ["amount", "ts"]},
            {"primary_keys": ["id"]},
            "silver.primary_keys names 'id', which is not among file.columns (amount, ts)",
        ),
        (
            {"columns": {"order_id": "int64", "ts": "string"}},
            {"primary_keys": ["id"]},
            "silver.primary_keys names 'id', which is not among file.columns (order_id, ts)",
        ),
        (
            {"columns": {"id": "int64", "ts": "string"}},
            {"primary_keys": ["order_id"], "schema": {"rename_map": {"id": "order_id", "amt": "amount"}}},
            "silver.schema.rename_map renames 'amt', which is not among file.columns (id, ts)",
        ),
        (
            {"columns": ["id", "ts"], "has_header": False},
            {"primary_keys": ["id"], "schema": {"column_order": ["ts", "amount"]}},
            "silver.schema.column_order names 'amount', which is not among file.columns (id, ts)",
        ),
    ],
)
def test_silver_names_a_column_the_file_source_cannot_have(
    tmp_path: Path, file: dict[str, Any], silver: dict[str, Any], says: str
) -> None:
    refused(
        tmp_path,
        file_source(file=file, silver=silver),
        where="sources[0]",
        says=says,
        fix="add it to file.columns",
    )


def test_silver_may_name_the_lineage_columns_of_a_file_with_columns(tmp_path: Path) -> None:
    silver = {"primary_keys": ["id", "_source_file"], "schema": {"rename_map": {"ts": "updated_at"}}}
    code, output = validate(tmp_path, file_source(file={"columns": ["id", "ts"]}, silver=silver))
    assert code == 0, output


def test_asset_keys_that_differ_only_in_case(tmp_path: Path) -> None:
    """``system=Shop`` and ``system=shop`` are one folder on macOS and Windows disks (and Azure Files): two
    sources would write each other's partitions."""
    first = file_source(name="shop_orders_a", source={"system": "Shop"})
    second = file_source(name="shop_orders_b", silver={"domain": "sales"})
    refused(
        tmp_path,
        first,
        second,
        where="sources[1]",
        says="duplicate Bronze asset key 'bronze/shop/orders' (as 'bronze/Shop/orders' in configs/sources/s",
        fix="keys that differ only in case are one folder on case-insensitive file systems",
    )


def test_a_file_that_is_not_utf8_says_how_to_fix_it(tmp_path: Path) -> None:
    """Was: "cannot read file: 'utf-8' codec can't decode byte 0xe9 ..." and no fix."""
    config_dir = write_config(tmp_path, {"platform.yaml": (MINIMAL / "platform.yaml").read_text()})
    (config_dir / "s.yaml").write_bytes(
        "config_version: 1\n# Caf\u00e9 orders\nsources: []\n".encode("latin-1")
    )
    result = CliRunner().invoke(main, ["--config-dir", str(config_dir), "validate"], standalone_mode=False)
    assert result.exit_code == 1, result.output
    assert "configs/s.yaml: the file is not UTF-8 (byte 0xe9 at line 2)" in result.output
    assert "save it as UTF-8" in result.output


def test_an_unknown_template_field_in_an_api_endpoint(tmp_path: Path) -> None:
    """``/orders/{rundate}`` (a typo) was requested as ``/orders/%7Brundate%7D`` at every run. A URL path has
    no other use for braces, so the endpoint is held to the template fields; ``params`` and ``body`` still
    send any other ``{...}`` as written (a JSON or GraphQL body has braces of its own)."""
    source = {
        "name": "shop_orders",
        "source": {
            "system": "shop",
            "table": "orders",
            "type": "api",
            "api": {
                "base_url": "https://api.example.com",
                "endpoint": "/orders/{rundate}",
                "params": {"q": "{raw}"},
            },
            "run": {"load_pattern": "full"},
        },
        "silver": {"primary_keys": ["id"]},
    }
    refused(
        tmp_path,
        source,
        where="sources[0].source.api.endpoint",
        says="unknown template field '{rundate}'",
        fix="allowed: {run_date}, {window_start}, {window_end}, {watermark}",
    )
    source["source"]["api"]["endpoint"] = "/orders/{run_date:%Y%m%d}/{watermark}"
    code, output = validate(tmp_path, source)
    assert code == 0, output


# --- environment references --------------------------------------------------------------------------------

ENV_FIX = "write $${ for a literal ${"


@pytest.mark.parametrize(
    ("text", "says"),
    [  # each was kept as written: 'file.path' './data/${NOPE/b.csv' was looked for at the first run
        ("./data/${NOPE/b.csv", "environment reference '${NOPE/b.csv' has no closing '}'"),
        ("./data/${NOPE", "environment reference '${NOPE' has no closing '}'"),
        ("prefix-${A", "environment reference '${A' has no closing '}'"),
        ("./data/${}.csv", "environment reference '${}' names no variable"),
        ("./data/${1X}.csv", "'1X' is not an environment variable name"),
        ("./data/${NOPE/b}.csv", "'NOPE/b' is not an environment variable name"),
        ("./data/${:x}.csv", "environment reference '${:x}' names no variable"),
        ("./data/${A:${B}}.csv", "environment reference '${A:${B}' holds another reference in its default"),
    ],
)
def test_a_dollar_brace_that_is_no_environment_reference(tmp_path: Path, text: str, says: str) -> None:
    refused(
        tmp_path,
        file_source(file={"path": text}),
        where="sources[0].source.file.path",
        says=says,
        fix=ENV_FIX,
    )


def test_an_unclosed_environment_reference_in_the_platform_file(tmp_path: Path) -> None:
    platform = (MINIMAL / "platform.yaml").read_text(encoding="utf-8")
    platform = platform.replace("./lake/bronze", "${LAKE/bronze")
    code, output = validate(tmp_path, file_source(), platform=platform)
    assert code == 1, output
    says = "environment reference '${LAKE/bronze' has no closing '}'"
    assert f"configs/platform.yaml: platform.bronze.local_path: {says}" in output, output
    assert "close it: ${NAME} or ${NAME:default}" in output and ENV_FIX in output


def test_a_literal_dollar_brace_is_written_with_two_dollars(tmp_path: Path) -> None:
    for index, text in enumerate(["$${NOPE/b", "$${", "a $${}b", "$${1X}"]):
        code, output = validate(tmp_path / str(index), file_source(description=text))
        assert code == 0, output


# --- storage: a URL (or a name the store refuses) where a bucket, container or folder is expected ----------


AZURE_CS_ENV = "MEDALLION_TEST_AZURE_CS"


@pytest.fixture
def azure_cs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(AZURE_CS_ENV, "UseDevelopmentStorage=true")


def platform_with(bronze: dict[str, Any]) -> str:
    """The minimal platform file with its Bronze layer replaced by ``bronze``."""
    silver = {"storage_backend": "local", "local_path": "./lake/silver"}
    platform: dict[str, Any] = {"bronze": bronze, "silver": silver}
    if bronze["storage_backend"] == "azure":  # a complete connection: the layer is all that may be wrong
        platform["azure_connection"] = {"connection_string_env": AZURE_CS_ENV}
    return yaml.safe_dump({"config_version": 1, "platform": platform})


STORAGE_CASES = [
    pytest.param(  # a URL is never a name: 'https://...' does not strip ('s3://' ones are split, CFG005)
        {"storage_backend": "s3", "s3_bucket": "https://lake.s3.amazonaws.com/bronze"},
        "s3_bucket",
        "s3_bucket 'https://lake.s3.amazonaws.com/bronze' is a URL",
        "write the bucket name only, and the folder inside it in s3_prefix",
        id="s3-bucket-https-url",
    ),
    pytest.param(
        {"storage_backend": "s3", "s3_bucket": "lake", "s3_prefix": "s3://lake/bronze"},
        "s3_prefix",
        "s3_prefix 's3://lake/bronze' is a URL",
        "s3_bucket: lake, s3_prefix: bronze",
        id="s3-prefix-url",
    ),
    pytest.param(
        {"storage_backend": "s3", "s3_bucket": "lake/bronze"},
        "s3_bucket",
        "s3_bucket 'lake/bronze' holds a '/'",
        "s3_bucket: lake, s3_prefix: bronze",
        id="s3-bucket-with-path",
    ),
    pytest.param(
        {"storage_backend": "s3", "s3_bucket": "my lake"},
        "s3_bucket",
        "s3_bucket 'my lake' is not an S3 bucket name",
        "3 to 255 letters, digits, '.', '-' and '_'",
        id="s3-bucket-with-a-space",
    ),
    pytest.param(
        {"storage_backend": "s3", "s3_bucket": "ab"},
        "s3_bucket",
        "s3_bucket 'ab' is not an S3 bucket name",
        "3 to 255 letters",
        id="s3-bucket-too-short",
    ),
    pytest.param(
        {"storage_backend": "s3", "s3_bucket": "a" * 256},
        "s3_bucket",
        f"s3_bucket '{'a' * 256}' is not an S3 bucket name",
        "3 to 255 letters",
        id="s3-bucket-too-long",
    ),
    pytest.param(
        {"storage_backend": "azure", "azure_container": "abfs://c"},
        "azure_container",
        "azure_container 'abfs://c' is a URL",
        "write the container name only: azure_container: c",
        id="azure-container-abfs-url",
    ),
    pytest.param(
        {"storage_backend": "azure", "azure_container": "abfss://lake@acct.dfs.core.windows.net/bronze"},
        "azure_container",
        "azure_container 'abfss://lake@acct.dfs.core.windows.net/bronze' is a URL",
        "azure_container: lake, azure_prefix: bronze",
        id="azure-container-abfss-url",
    ),
    pytest.param(
        {"storage_backend": "azure", "azure_container": "az://lake/bronze"},
        "azure_container",
        "azure_container 'az://lake/bronze' is a URL",
        "azure_container: lake, azure_prefix: bronze",
        id="azure-container-az-url",
    ),
    pytest.param(
        {"storage_backend": "azure", "azure_container": "lake", "azure_prefix": "az://lake/bronze"},
        "azure_prefix",
        "azure_prefix 'az://lake/bronze' is a URL",
        "azure_container: lake, azure_prefix: bronze",
        id="azure-prefix-url",
    ),
    pytest.param(  # ran: Bronze landed in a local folder './s3:/b/x' of the current directory
        {"storage_backend": "local", "local_path": "s3://b/x"},
        "local_path",
        "local_path 's3://b/x' is a URL, but the local backend writes to a folder",
        "use storage_backend: s3 with s3_bucket: b, s3_prefix: x",
        id="local-path-s3-url",
    ),
    pytest.param(
        {"storage_backend": "local", "local_path": "abfs://lake/bronze"},
        "local_path",
        "local_path 'abfs://lake/bronze' is a URL",
        "use storage_backend: azure with azure_container: lake, azure_prefix: bronze",
        id="local-path-azure-url",
    ),
    pytest.param(
        {"storage_backend": "local", "local_path": "file:///srv/lake/bronze"},
        "local_path",
        "local_path 'file:///srv/lake/bronze' is a URL",
        "write the folder itself: local_path: /srv/lake/bronze",
        id="local-path-file-url",
    ),
]


@pytest.mark.usefixtures("azure_cs")
@pytest.mark.parametrize(("bronze", "key", "says", "fix"), STORAGE_CASES)
def test_storage_settings_that_name_no_bucket_container_or_folder(
    tmp_path: Path, bronze: dict[str, Any], key: str, says: str, fix: str
) -> None:
    code, output = validate(tmp_path, file_source(), platform=platform_with(bronze))
    assert code == 1, output
    assert f"configs/platform.yaml: platform.bronze.{key}: {says}" in output, output
    assert fix in output, output
    assert "Traceback" not in output


@pytest.mark.parametrize(
    "bronze",
    [
        {"storage_backend": "s3", "s3_bucket": "acme.lake-2025", "s3_prefix": "lake/bronze"},
        {"storage_backend": "s3", "s3_bucket": "b-0123456789abcdef"},  # what tests/object_stores.py creates
        {"storage_backend": "s3", "s3_bucket": "1" * 63},
        {"storage_backend": "s3", "s3_bucket": "Legacy_Lake"},  # AWS's older buckets: capitals, '_'
        {"storage_backend": "azure", "azure_container": "lake", "azure_prefix": "bronze/x"},
        {"storage_backend": "local", "local_path": "C:\\lake\\bronze"},
        {"storage_backend": "local", "local_path": "~/lake/bronze"},
        {"storage_backend": "local", "local_path": "./lake", "s3_bucket": "unused"},
    ],
)
@pytest.mark.usefixtures("azure_cs")
def test_storage_settings_that_still_validate(tmp_path: Path, bronze: dict[str, Any]) -> None:
    code, output = validate(tmp_path, file_source(), platform=platform_with(bronze))
    assert code == 0, output


@pytest.mark.parametrize(
    ("bucket", "prefix", "spelled"),
    [
        ("s3://lake", None, "s3_bucket: lake"),
        ("s3://lake/bronze/x/", None, "s3_bucket: lake with s3_prefix: bronze/x"),
        ("S3A://lake/bronze", "daily", "s3_bucket: lake with s3_prefix: bronze/daily"),
    ],
)
def test_an_s3_url_as_the_bucket_is_split_with_a_warning(
    tmp_path: Path, bucket: str, prefix: str | None, spelled: str
) -> None:
    """``s3_bucket: s3://lake/bronze`` ran before the key was checked (s3fs takes the URL as the root):
    it keeps validating, as the bucket and a prefix, with a warning that says what to write."""
    bronze = {"storage_backend": "s3", "s3_bucket": bucket, **({"s3_prefix": prefix} if prefix else {})}
    code, output = validate(tmp_path, file_source(), platform=platform_with(bronze))
    assert code == 0, output
    assert f"platform.bronze.s3_bucket '{bucket}' is a URL; write {spelled}" in output, output
    with pytest.warns(MedallionDeprecationWarning, match="CFG005"):
        settings = load_config(tmp_path / "configs").platform.bronze
    assert (settings.s3_bucket, settings.s3_prefix) == ("lake", spelled.partition("s3_prefix: ")[2])


# --- load_pattern incremental: something must select each run's rows ---------------------------------------


def db_source(**db: Any) -> dict[str, Any]:
    """An incremental SQLite table source; ``db`` merges into its ``db`` section."""
    return {
        "name": "shop_payments",
        "source": {
            "system": "shop",
            "table": "payments",
            "type": "db",
            "db": {"url": "sqlite:///data/shop.db", "table": "payments", **db},
            "run": {"load_pattern": "incremental"},
        },
        "silver": {"primary_keys": ["id"]},
    }


def api_source(**api: Any) -> dict[str, Any]:
    """An incremental API source; ``api`` merges into its ``api`` section."""
    return {
        "name": "crm_contacts",
        "source": {
            "system": "crm",
            "table": "contacts",
            "type": "api",
            "api": {"base_url": "https://api.example.com", "endpoint": "/contacts", **api},
            "run": {"load_pattern": "incremental"},
        },
        "silver": {"primary_keys": ["id"]},
    }


@pytest.mark.parametrize(
    "source",
    [  # ran: each day's Bronze held the whole table (day 1 held rows updated on day 2), all
        # of it handed to Silver as that day's changes
        pytest.param(db_source(), id="table"),
        pytest.param(db_source(table=None, query="SELECT * FROM payments WHERE amount > 0"), id="query"),
        pytest.param(
            db_source() | {"silver": {"model": "event_log", "primary_keys": ["id"]}}, id="event-log"
        ),
    ],
)
def test_an_incremental_db_source_that_reads_everything(tmp_path: Path, source: dict[str, Any]) -> None:
    refused(
        tmp_path,
        source,
        where="sources[0].source",
        says="run.load_pattern 'incremental' needs db.incremental",
        fix="add db.incremental with a cursor column ({cursor_column: updated_at, mode: window}), or use "
        "load_pattern: full",
    )


def with_pattern(source: dict[str, Any], pattern: str, silver: dict[str, Any]) -> dict[str, Any]:
    """``source`` with ``run.load_pattern: pattern`` and that Silver section."""
    return source | {"source": {**source["source"], "run": {"load_pattern": pattern}}, "silver": silver}


SCD2 = {"model": "scd_type_2", "primary_keys": ["id"], "order_column": "ts"}


@pytest.mark.parametrize(
    ("pattern", "silver"),
    [  # ran: validate passed, and each day's Bronze held the whole change log or table again, all of it
        # applied by Silver as that day's changes (a cdc log re-applied daily, Bronze growing by the log)
        pytest.param("cdc", {**CDC, "primary_keys": ["id"]}, id="cdc"),
        pytest.param("current_history", SCD2, id="current-history"),
    ],
)
def test_a_change_loading_db_source_that_reads_everything(
    tmp_path: Path, pattern: str, silver: dict[str, Any]
) -> None:
    refused(
        tmp_path,
        with_pattern(db_source(), pattern, silver),
        where="sources[0].source",
        says=f"run.load_pattern '{pattern}' needs db.incremental: without it every run reads the whole "
        "table 'payments'",
        fix="add db.incremental with a cursor column ({cursor_column: updated_at, mode: window}), or use "
        "load_pattern: full",
    )


@pytest.mark.parametrize(
    ("pattern", "silver"),
    [
        pytest.param("cdc", {**CDC, "primary_keys": ["id"]}, id="cdc"),
        pytest.param("current_history", SCD2, id="current-history"),
    ],
)
def test_a_change_loading_api_source_that_requests_the_same_data(
    tmp_path: Path, pattern: str, silver: dict[str, Any]
) -> None:
    refused(
        tmp_path,
        with_pattern(api_source(), pattern, silver),
        where="sources[0].source",
        says=f"run.load_pattern '{pattern}' needs api.incremental or a date field in the request",
        fix="add api.incremental with a cursor_field, put {run_date} (or {window_start}, {window_end}) in "
        "api.endpoint, params or body, or use load_pattern: full",
    )


@pytest.mark.parametrize(
    ("pattern", "silver"),
    [
        pytest.param("cdc", {**CDC, "primary_keys": ["id"]}, id="cdc"),
        pytest.param("current_history", SCD2, id="current-history"),
    ],
)
def test_a_change_loading_db_source_with_a_cursor_validates(
    tmp_path: Path, pattern: str, silver: dict[str, Any]
) -> None:
    incremental = {"cursor_column": "ts", "mode": "window"}
    code, output = validate(tmp_path, with_pattern(db_source(incremental=incremental), pattern, silver))
    assert code == 0, output


@pytest.mark.parametrize(
    "base_url", ["https://bob:s3cret@api.example.com/v1", "https://s3cret@api.example.com"]
)
def test_credentials_in_an_api_base_url(tmp_path: Path, base_url: str) -> None:
    """Validated, and the secret then sat in the YAML (httpx sends a URL's user-info as Basic auth), where
    ``db.url`` refuses the same. The message must not repeat it."""
    code, output = validate(tmp_path, api_source(base_url=base_url, incremental={"cursor_field": "u"}))
    assert code == 1, output
    assert "configs/sources/s.yaml: sources[0].source.api.base_url: " in output, output
    assert "'base_url' holds credentials" in output, output
    assert "auth: {type: basic, username_env: ..., password_env: ...}" in output, output
    assert "s3cret" not in output, output


@pytest.mark.parametrize(
    "api",
    [  # every day requests the same records, and Silver takes them all as that day's changes
        pytest.param({}, id="plain"),
        pytest.param({"params": {"since": "{watermark}"}}, id="watermark-without-incremental"),
        pytest.param(
            {"params": {"status": "open"}, "body": {"q": "{id}"}, "method": "POST"}, id="other-braces"
        ),
    ],
)
def test_an_incremental_api_source_that_requests_the_same_data(tmp_path: Path, api: dict[str, Any]) -> None:
    refused(
        tmp_path,
        api_source(**api),
        where="sources[0].source",
        says="run.load_pattern 'incremental' needs api.incremental or a date field in the request",
        fix="add api.incremental with a cursor_field, put {run_date} (or {window_start}, {window_end}) in "
        "api.endpoint, params or body, or use load_pattern: full",
    )


def full(source: dict[str, Any]) -> dict[str, Any]:
    """``source`` with ``run.load_pattern: full``."""
    return source | {"source": {**source["source"], "run": {"load_pattern": "full"}}}


@pytest.mark.parametrize(
    "incremental",
    [  # each day's "full snapshot" held the rows changed since the previous run, and Silver took the keys
        # missing from it as deleted (periodic_snapshot: a snapshot of the changed rows only)
        pytest.param({"cursor_column": "updated_at"}, id="watermark-by-default"),
        pytest.param({"cursor_column": "id", "mode": "watermark", "initial_value": "0"}, id="watermark"),
    ],
)
def test_a_full_db_source_that_reads_past_a_watermark(tmp_path: Path, incremental: dict[str, Any]) -> None:
    refused(
        tmp_path,
        full(db_source(incremental=incremental)),
        where="sources[0].source",
        says="run.load_pattern 'full' with db.incremental.mode 'watermark': each run reads only the rows "
        "changed since the previous one",
        fix="use load_pattern: incremental, or mode: window for a table that keeps a snapshot per day "
        "selected by a date column",
    )


def test_a_full_api_source_that_reads_past_a_watermark(tmp_path: Path) -> None:
    refused(
        tmp_path,
        full(api_source(incremental={"cursor_field": "updated_at", "param": "updated_since"})),
        where="sources[0].source",
        says="run.load_pattern 'full' with api.incremental: each run reads a change feed",
        fix="use load_pattern: incremental, or remove api.incremental",
    )


@pytest.mark.parametrize(
    "source",
    [
        db_source(incremental={"cursor_column": "updated_at", "mode": "window"}),
        # A periodic-snapshot table (one snapshot per day) selected by its snapshot date: a full load.
        full(db_source(incremental={"cursor_column": "snapshot_date", "mode": "window"})),
        full(api_source(endpoint="/contacts/{run_date:%Y%m%d}")),
        db_source(table=None, query="SELECT * FROM payments", incremental={"cursor_column": "id"}),
        db_source() | {"source": {**db_source()["source"], "run": {"load_pattern": "full"}}},
        api_source(incremental={"cursor_field": "updated_at"}),
        api_source(endpoint="/contacts/{run_date:%Y%m%d}"),
        api_source(params={"from": "{window_start}", "to": "{window_end}"}),
        api_source(method="POST", body={"filter": {"days": ["{run_date}"]}}),
        # A file holds what its producer put in it: a fixed path that is replaced by each day's changes (a
        # file_arrival sensor loads it when it changes) is an incremental source the config cannot tell.
        file_source(run={"load_pattern": "incremental"}),
    ],
    ids=[
        "db-window",
        "db-full-window",
        "api-full-snapshot-per-day",
        "db-query-watermark",
        "db-full",
        "api-cursor",
        "api-endpoint-date",
        "api-params-window",
        "api-body-date",
        "file-fixed-path",
    ],
)
def test_incremental_sources_that_select_each_run_s_rows(tmp_path: Path, source: dict[str, Any]) -> None:
    code, output = validate(tmp_path, source)
    assert code == 0, output


def test_a_template_field_in_a_db_query(tmp_path: Path) -> None:
    """``db.query`` is sent as written: ``'{run_date}'`` was compared as that text, and matched no row."""
    query = "SELECT * FROM payments WHERE day = '{run_date}'"
    refused(
        tmp_path,
        db_source(table=None, query=query, incremental={"cursor_column": "day", "mode": "window"}),
        where="sources[0].source.db.query",
        says="db.query holds the template field '{run_date}', but a query is sent to the database as written",
        fix="select each partition's rows with db.incremental (mode: window",
    )


# --- azure_connection: the account the backend connects to -------------------------------------------------


def azure_platform(**conn: Any) -> str:
    """A platform whose Bronze layer is on Azure, with ``conn`` as its ``azure_connection``."""
    platform = yaml.safe_load(platform_with({"storage_backend": "azure", "azure_container": "lake"}))
    platform["platform"]["azure_connection"] = conn
    return yaml.safe_dump(platform)


@pytest.mark.parametrize(
    "url",
    [
        "https://acct.blob.core.windows.net",
        "https://acct.blob.core.windows.net/",
        "https://acct.blob.core.chinacloudapi.cn",
    ],
)
def test_an_account_url_names_the_account(tmp_path: Path, url: str) -> None:
    """Was: "ValueError: unable to connect to account for Must provide either a connection_string or
    account_name with credentials!!" and a traceback: adlfs needs an account name, which the URL holds."""
    conn = {"account_url": url, "use_default_credential": True}
    code, output = validate(tmp_path, file_source(), platform=azure_platform(**conn))
    assert code == 0, output


AZURE_URL_CASES = [
    pytest.param(  # ran: the same adlfs ValueError and traceback
        {"account_url": "https://storage.example.com", "use_default_credential": True},
        "platform.azure_connection",
        "account_url 'https://storage.example.com' does not name the account",
        "set account_name_env too",
        id="custom-host-without-account-name",
    ),
    pytest.param(  # adlfs connects to https://<host> only: the path (the Azurite account) was dropped
        {"account_url": "http://127.0.0.1:10000/devstoreaccount1", "use_default_credential": True},
        "platform.azure_connection.account_url",
        "account_url 'http://127.0.0.1:10000/devstoreaccount1' is not an https://<host> URL",
        "for Azurite or another emulator use connection_string_env",
        id="emulator-url",
    ),
    pytest.param(  # host-less: it was silently ignored (adlfs took <account>.blob.core.windows.net)
        {"account_url": "acct.blob.core.windows.net", "account_name_env": "MEDALLION_TEST_AZURE_ACCOUNT"},
        "platform.azure_connection.account_url",
        "account_url 'acct.blob.core.windows.net' is not an https://<host> URL",
        "write https://<account>.blob.core.windows.net",
        id="no-scheme",
    ),
    pytest.param(  # the blob API the backend speaks is not served on the dfs endpoint
        {"account_url": "https://acct.dfs.core.windows.net", "use_default_credential": True},
        "platform.azure_connection.account_url",
        "account_url 'https://acct.dfs.core.windows.net' is the Data Lake (dfs) endpoint",
        "write https://acct.blob.core.windows.net",
        id="dfs-endpoint",
    ),
]


@pytest.mark.parametrize(("conn", "key", "says", "fix"), AZURE_URL_CASES)
def test_an_account_url_the_backend_cannot_use(
    tmp_path: Path, conn: dict[str, Any], key: str, says: str, fix: str
) -> None:
    code, output = validate(tmp_path, file_source(), platform=azure_platform(**conn))
    assert code == 1, output
    assert f"configs/platform.yaml: {key}: {says}" in output, output
    assert fix in output, output
    assert "Traceback" not in output


def test_an_account_url_with_a_sas_token_is_refused_without_repeating_it(tmp_path: Path) -> None:
    """adlfs dropped the query: the token was never used, and an error quoting the URL would show it."""
    url = "https://acct.blob.core.windows.net/?sv=2024&sig=S3CRET"
    conn = {"account_url": url, "use_default_credential": True}
    code, output = validate(tmp_path, file_source(), platform=azure_platform(**conn))
    assert code == 1, output
    says = "account_url 'https://acct.blob.core.windows.net/...' holds a query or credentials"
    assert f"configs/platform.yaml: platform.azure_connection.account_url: {says}" in output, output
    assert "put a SAS token in the variable named by sas_token_env" in output, output
    assert "S3CRET" not in output


@pytest.mark.parametrize(
    ("url", "says"),
    [  # ran: "ValueError: unable to connect to account for Unable to determine account name for shared key
        # credential" and a traceback: the Azure SDK signs with the account it reads from the host
        ("https://storage.example.com", "account_url's host names no account"),
        ("https://other.blob.core.windows.net", "account_url names the account 'other'"),
    ],
)
def test_an_account_key_with_an_account_url_of_another_account(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, says: str
) -> None:
    monkeypatch.setenv("MEDALLION_TEST_AZURE_ACCOUNT", "acct")
    monkeypatch.setenv("MEDALLION_TEST_AZURE_KEY", "a2V5")
    conn = {
        "account_name_env": "MEDALLION_TEST_AZURE_ACCOUNT",
        "account_key_env": "MEDALLION_TEST_AZURE_KEY",
        "account_url": url,
    }
    code, output = validate(tmp_path, file_source(), platform=azure_platform(**conn))
    assert code == 1, output
    assert "configs/platform.yaml: platform.bronze: platform.azure_connection: " in output, output
    assert says in output, output
    assert "https://acct.blob.core.<cloud suffix>" in output, output
    assert "Traceback" not in output


# --- numbers past what a date or Dagster holds ------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "where", "says"),
    [
        pytest.param(  # Definitions failed: "OverflowError: date value out of range" (the last partition)
            file_source(partitions={"end_offset": 3_000_000}),
            "sources[0].partitions.end_offset",
            "Input should be less than or equal to 36500, got 3000000",
            id="end-offset",
        ),
        pytest.param(  # Definitions failed: "fail_window cannot be less than 1 minute"
            file_source(freshness={"fail_window_hours": 0.001}),
            "sources[0].freshness.fail_window_hours",
            "freshness.fail_window_hours 0.001 is outside what Dagster's freshness windows hold: use at "
            "least 0.0167 (one minute) and at most 876000 (100 years)",
            id="window-under-a-minute",
        ),
        pytest.param(  # Definitions failed: "OverflowError: Python int too large to convert to C int"
            file_source(freshness={"fail_window_hours": 1e12}),
            "sources[0].freshness.fail_window_hours",
            "freshness.fail_window_hours 1e+12 is outside",
            id="window-past-timedelta",
        ),
        pytest.param(  # Definitions failed: "warn_window cannot be less than 1 minute"
            file_source(freshness={"fail_window_hours": 1, "warn_window_hours": 0.01}),
            "sources[0].freshness.warn_window_hours",
            "freshness.warn_window_hours 0.01 is outside",
            id="warn-window-under-a-minute",
        ),
        pytest.param(  # the second Silver day failed: "OverflowError: date value out of range"
            file_source(
                source={"run": {"load_pattern": "incremental"}},
                silver={"model": "event_log", "dedupe_lookback_days": 1_000_000},
            ),
            "sources[0].silver.dedupe_lookback_days",
            "Input should be less than or equal to 36500, got 1000000",
            id="dedupe-lookback",
        ),
        pytest.param(  # ran: "OverflowError: date value out of range" (the window's start)
            db_source(incremental={"cursor_column": "updated_at", "mode": "window", "lookback": "9999999d"}),
            "sources[0].source.db.incremental.lookback",
            "lookback '9999999d' is longer than 36500 days (a century)",
            id="db-lookback",
        ),
    ],
)
def test_a_number_past_what_dates_or_dagster_hold(
    tmp_path: Path, source: dict[str, Any], where: str, says: str
) -> None:
    refused(tmp_path, source, where=where, says=says, fix="")


@pytest.mark.parametrize(
    "source",
    [
        file_source(partitions={"end_offset": 36_500}),
        file_source(freshness={"fail_window_hours": 876_000, "warn_window_hours": 1 / 60}),
        db_source(incremental={"cursor_column": "updated_at", "mode": "window", "lookback": "36500d"}),
    ],
)
def test_the_largest_and_smallest_numbers_still_validate_and_build(
    tmp_path: Path, source: dict[str, Any]
) -> None:
    import dagster as dg

    from medallion_assets.factory import build_definitions

    code, output = validate(tmp_path, source)
    assert code == 0, output
    dg.Definitions.validate_loadable(build_definitions(load_config(tmp_path / "configs")))


@pytest.mark.parametrize(
    ("freshness", "says"),
    [
        # partition D exists from 2025-01-16 00:00 UTC (end_offset 0); its deadline is 2025-01-15 23:00 UTC
        ({"deadline": "23:00", "deadline_days": 0}, "'23:00' on day D+0 (UTC)"),
        # 06:00 in Tokyo on D+1 is 21:00 UTC on D, three hours before partition D exists
        ({"deadline": "06:00", "timezone": "Asia/Tokyo"}, "'06:00' on day D+1 (Asia/Tokyo)"),
    ],
)
def test_a_freshness_deadline_before_its_partition_exists(
    tmp_path: Path, freshness: dict[str, Any], says: str
) -> None:
    """No run can commit partition D before it exists, so the Bronze check reported every day late and the
    medallion_freshness sensor reported it missed while the day was still running."""
    refused(
        tmp_path,
        file_source(freshness=freshness),
        where="sources[0].freshness.deadline",
        says=says,
        fix="partitions.end_offset: 1",
    )


def test_a_same_day_deadline_with_todays_partition_validates(tmp_path: Path) -> None:
    source = file_source(freshness={"deadline": "23:00", "deadline_days": 0}, partitions={"end_offset": 1})
    code, output = validate(tmp_path, source)
    assert code == 0, output
