"""The loader: merging, env substitution, paths, origins, and a table of bad configs (one folder each)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import jsonschema
import pytest
import yaml

from medallion_assets.config.loader import (
    LoadedConfig,
    config_json_schema,
    load_config,
    load_config_with_origins,
    resolve_config_dir,
)
from medallion_assets.config.models import MedallionConfig
from medallion_assets.errors import ConfigError

from ._support import FIXTURES, MINIMAL, write_config

BAD = FIXTURES / "bad"
ENV = {"MEDALLION_TEST_SECRET": "hunter2-very-secret"}


class TestGoodConfigs:
    def test_minimal_loads_without_warnings(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            config = load_config(MINIMAL, environ={})
        assert isinstance(config, MedallionConfig)
        assert [s.source_name for s in config.sources] == ["retail_orders"]

    def test_full_merges_every_file_in_sorted_order(self) -> None:
        loaded = load_config_with_origins(FIXTURES / "full", environ={})
        assert isinstance(loaded, LoadedConfig)
        names = [s.source_name for s in loaded.config.sources]
        assert names == ["retail_orders", "retail_order_changes", "web_events", "web_plugins"]
        assert loaded.source_files["retail_orders"].name == "retail.yml"
        assert loaded.source_files["web_events"].name == "web.yaml"
        assert loaded.config_dir == (FIXTURES / "full").resolve()
        assert loaded.warnings == []
        orders = loaded.config.sources[0]
        assert orders.source.db is not None and orders.source.db.db_schema == "sales"
        assert orders.silver.silver_schema.types == {"amount": "decimal(18,2)"}

    def test_relative_paths_resolve_against_parent_of_config_dir(self) -> None:
        config = load_config(MINIMAL, environ={})
        project = MINIMAL.resolve().parent
        assert config.platform.bronze.local_path == str(project / "lake" / "bronze")
        file = config.sources[0].source.file
        assert file is not None and file.path == str(project / "data" / "orders.csv")

    def test_project_dir_env_wins_and_urls_stay(self, tmp_path: Path) -> None:
        config = load_config(FIXTURES / "full", environ={"MEDALLION_PROJECT_DIR": str(tmp_path)})
        assert config.platform.bronze.local_path == str(tmp_path / "lake" / "bronze")
        cdc_file = config.sources[1].source.file
        assert cdc_file is not None and cdc_file.path == "s3://landing/cdc/{run_date:%Y%m%d}/*.parquet"

    def test_env_substitution_with_default_and_value(self, tmp_path: Path) -> None:
        config = load_config(FIXTURES / "full", environ={"MEDALLION_TEST_LAKE": str(tmp_path)})
        assert config.platform.bronze.local_path == str(tmp_path / "bronze")

    def test_env_substitution_types_and_escape(self, tmp_path: Path, minimal_platform_text: str) -> None:
        source = {
            "config_version": 1,
            "sources": [
                {
                    "source": {
                        "system": "s",
                        "table": "t",
                        "type": "api",
                        "api": {
                            "base_url": "${API:https://x.test}",
                            "endpoint": "/a",
                            "params": {"q": "$${KEEP}"},
                        },
                        "run": {"max_rows_per_file": "${ROWS}"},
                    }
                }
            ],
        }
        config_dir = write_config(tmp_path, {"platform.yaml": minimal_platform_text, "s.yaml": source})
        config = load_config(config_dir, environ={"ROWS": "123"})
        api = config.sources[0].source.api
        assert api is not None and api.base_url == "https://x.test" and api.params == {"q": "${KEEP}"}
        assert config.sources[0].source.run.max_rows_per_file == 123

    def test_empty_file_is_ignored(self, tmp_path: Path, minimal_platform_text: str) -> None:
        config_dir = write_config(
            tmp_path, {"platform.yaml": minimal_platform_text, "empty.yaml": "# nothing\n"}
        )
        assert load_config(config_dir, environ={}).sources == []


class TestResolveConfigDir:
    def test_explicit_argument_wins(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("MEDALLION_CONFIG_DIR", "/elsewhere")
        assert resolve_config_dir(tmp_path) == tmp_path.resolve()

    def test_env_then_cwd_then_repo(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("MEDALLION_CONFIG_DIR", str(tmp_path / "a"))
        assert resolve_config_dir() == tmp_path / "a"
        monkeypatch.delenv("MEDALLION_CONFIG_DIR")
        monkeypatch.chdir(tmp_path)
        repo_default = Path(__file__).resolve().parents[2] / "configs"
        assert resolve_config_dir() == repo_default
        (tmp_path / "configs").mkdir()
        assert resolve_config_dir() == tmp_path / "configs"

    def test_missing_dir_is_a_config_error(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match="config directory not found") as info:
            load_config(tmp_path / "nope", environ={})
        assert len(info.value.issues) == 1


# (fixture folder, [(file, key path, fragments of message + hint)], ...): every issue expected, in order.
BAD_CONFIGS = [
    ("malformed_yaml", [("sources/orders.yaml", "", ["malformed YAML", "line 7, column 6", "indentation"])]),
    (
        "unknown_key",
        [("sources/orders.yaml", "sources[0].silver.primary_key", ["unknown key", "'primary_keys'"])],
    ),
    (
        "wrong_type",
        [("sources/orders.yaml", "sources[0].source.run.max_rows_per_file", ["valid integer", "'lots'"])],
    ),
    (
        "missing_env_var",
        [("platform.yaml", "platform.bronze.local_path", ["MEDALLION_TEST_LAKE_ROOT", "not set", "default"])],
    ),
    (
        "unknown_model",
        [
            (
                "sources/orders.yaml",
                "sources[0].silver.model",
                ["'scd_type_3'", "did you mean 'scd_type_2'", "cdc"],
            )
        ],
    ),
    (
        "unknown_load_pattern",
        [
            (
                "sources/orders.yaml",
                "sources[0].source.run.load_pattern",
                ["'incremntal'", "'incremental'", "full"],
            )
        ],
    ),
    (
        "model_pattern_mismatch",
        [("sources/orders.yaml", "sources[0]", ["'cdc' does not fit", "'full'", "retail_orders"])],
    ),
    (
        "missing_primary_keys",
        [("sources/orders.yaml", "sources[0]", ["needs silver.primary_keys", "retail_orders"])],
    ),
    (
        "two_platforms",
        [
            (
                "platform_extra.yaml",
                "platform",
                ["more than one file", "two_platforms/platform.yaml", "exactly one"],
            )
        ],
    ),
    ("no_platform", [("", "platform", ["no file defines 'platform:'"])]),
    (
        "duplicate_source_names",
        [("sources/b.yaml", "sources[0]", ["duplicate source name 'orders'", "sources/a.yaml"])],
    ),
    (
        "duplicate_asset_keys",
        [
            (
                "sources/b.yaml",
                "sources[0]",
                ["duplicate Bronze asset key 'bronze/retail/orders'", "sources/a.yaml"],
            )
        ],
    ),
    (
        # Dagster's asset key has no version (DESIGN §7): two versions of one Silver entity clash at load.
        "silver_versions_share_a_key",
        [
            (
                "sources/b.yaml",
                "sources[0]",
                ["duplicate Silver asset key 'silver/retail/orders'", "sources/a.yaml", "silver.entity"],
            )
        ],
    ),
    (
        "schedule_name_clash",
        [
            (
                "sources/a.yaml",
                "sources[1].schedule.group",
                ["schedule 'nightly_group_schedule'", "source 'nightly_group'", "sources[0]"],
            )
        ],
    ),
    (
        "bad_timezone",
        [
            (
                "platform.yaml",
                "platform.defaults.partitions.timezone",
                ["unknown timezone 'Mars/Olympus_Mons'"],
            )
        ],
    ),
    (
        "multiple_errors",
        [
            ("sources/a.yaml", "sources[0].source.tabel", ["unknown key", "did you mean 'table'"]),
            ("sources/a.yaml", "sources[1]", ["'scd_type_2' needs silver.order_column", "retail_customers"]),
            ("sources/b.yaml", "sources[0].source.api.method", ["'PUT'", "GET, POST"]),
            ("sources/b.yaml", "sources[0].partitions.timezone", ["unknown timezone 'Nowhere/City'"]),
        ],
    ),
    ("not_a_mapping", [("sources/list.yaml", "", ["expected a mapping", "a list"])]),
    (
        "bad_owner",
        [("sources/orders.yaml", "sources[0].owners", ["owner 'retail-team'", "'team:'", "e-mail"])],
    ),
    ("unknown_top_level_key", [("sources/orders.yaml", "source", ["unknown top-level key", "'sources'"])]),
    (
        "bad_config_version",
        [("sources/orders.yaml", "config_version", ["unsupported config_version 2", "1"])],
    ),
    ("duplicate_yaml_key", [("sources/orders.yaml", "", ["duplicate key 'table'", "line 7"])]),
    (
        "deprecated_key_conflict",
        [("platform.yaml", "platform.bronze.output_dir", ["both 'output_dir'", "local_path"])],
    ),
    (
        "masked_secret",
        [
            (
                "platform.yaml",
                "platform.bronze.output_defaults.max_rows_per_file",
                ["${MEDALLION_TEST_SECRET}"],
            )
        ],
    ),
]


@pytest.mark.parametrize(("folder", "expected"), BAD_CONFIGS, ids=[case[0] for case in BAD_CONFIGS])
def test_bad_config_reports_every_issue(folder: str, expected: list[tuple[str, str, list[str]]]) -> None:
    with pytest.raises(ConfigError, match=r"config error") as info:
        load_config(BAD / folder, environ=ENV)
    issues = info.value.issues
    assert len(issues) == len(expected), "\n".join(map(str, issues))
    for issue, (file, path, fragments) in zip(issues, expected, strict=True):
        assert issue.file == f"{folder}/{file}".rstrip("/")
        assert issue.path == path
        text = str(issue)
        for fragment in fragments:
            assert fragment in text, f"{fragment!r} not in {text!r}"
        assert "Traceback" not in text
        assert ENV["MEDALLION_TEST_SECRET"] not in text


def test_every_bad_fixture_folder_is_in_the_table() -> None:
    folders = {p.name for p in BAD.iterdir() if p.is_dir()}
    assert folders == {case[0] for case in BAD_CONFIGS}


def test_error_message_lists_all_issues_with_file_and_path() -> None:
    with pytest.raises(ConfigError, match=r"4 config errors") as info:
        load_config(BAD / "multiple_errors", environ={})
    message = str(info.value)
    assert "multiple_errors/sources/a.yaml: sources[0].source.tabel: unknown key" in message
    assert "(hint: did you mean 'table'?)" in message


def test_typo_of_a_required_key_is_one_issue(tmp_path: Path, minimal_platform_text: str) -> None:
    entry = {"source": {"sytem": "a", "table": "b", "type": "file", "file": {"path": "/x.csv"}}}
    config_dir = write_config(
        tmp_path, {"platform.yaml": minimal_platform_text, "s.yaml": {"sources": [entry]}}
    )
    with pytest.raises(ConfigError) as info:
        load_config(config_dir, environ={})
    assert [(i.path, i.message, i.hint) for i in info.value.issues] == [
        ("sources[0].source.sytem", "unknown key", "did you mean 'system'?")
    ]


@pytest.mark.parametrize(
    ("text", "path", "fragment"),
    [
        ("sources: {a: 1}", "sources", "expected a list"),
        ("sources: [5]", "sources[0]", "expected a mapping"),
        (
            "sources:\n  - source: {system: a, table: b, type: api, api: {base_url: x, body: 5}}",
            "sources[0].source.api.body",
            "expected a mapping (key: value), got an integer; or expected a list",
        ),
        (
            "sources:\n  - source: {system: a, table: b, type: api, api: {base_url: x, allow_empty: maybe}}",
            "sources[0].source.api.allow_empty",
            "valid boolean",
        ),
        (
            "sources:\n  - source: {system: a, table: b, type: file, file: {path: x}}\n"
            "    silver: {schema: {typs: {}}}",
            "sources[0].silver.schema.typs",
            "unknown key",
        ),
    ],
)
def test_shapes_and_aliased_paths(
    tmp_path: Path, minimal_platform_text: str, text: str, path: str, fragment: str
) -> None:
    config_dir = write_config(
        tmp_path, {"platform.yaml": minimal_platform_text, "s.yaml": f"config_version: 1\n{text}"}
    )
    with pytest.raises(ConfigError) as info:
        load_config(config_dir, environ={})
    assert [i.path for i in info.value.issues] == [path]
    assert fragment in str(info.value.issues[0])


class TestJsonSchema:
    def test_is_json_serializable_and_validates_files(self) -> None:
        schema = config_json_schema()
        json.dumps(schema)
        validator = jsonschema.Draft202012Validator(schema)
        for path in sorted((FIXTURES / "full").rglob("*.y*ml")):
            validator.validate(yaml.safe_load(path.read_text()))  # a ${VAR} in a string is fine

    def test_rejects_unknown_keys(self) -> None:
        validator = jsonschema.Draft202012Validator(config_json_schema())
        bad = yaml.safe_load((BAD / "unknown_key" / "sources" / "orders.yaml").read_text())
        assert not validator.is_valid(bad)

    def test_every_key_has_a_description(self) -> None:
        """Editors show the description on hover and in completion: no key may go without one."""
        schema = config_json_schema()
        models = {"(file)": schema, **schema["$defs"]}
        missing = [
            f"{model}.{key}"
            for model, node in models.items()
            for key, prop in (node.get("properties") or {}).items()
            if not prop.get("description")
        ]
        assert missing == []

    @pytest.mark.parametrize(
        ("value", "valid"),
        [("${ROWS:1000}", True), ("${ROWS}", True), ("rows-${ROWS:5}", True), ("1000", False), ("x", False)],
    )
    def test_integer_key_takes_an_env_reference(self, value: str, valid: bool) -> None:
        """Where the loader substitutes ``${VAR:default}`` the schema takes it; other strings, not."""
        validator = jsonschema.Draft202012Validator(config_json_schema())
        doc = yaml.safe_load((MINIMAL / "platform.yaml").read_text())
        doc["platform"]["bronze"]["output_defaults"] = {"max_rows_per_file": value}
        assert validator.is_valid(doc) is valid

    def test_env_reference_in_typed_keys_loads(self, tmp_path: Path, minimal_platform_text: str) -> None:
        source = (MINIMAL / "sources" / "orders.yaml").read_text()
        platform = minimal_platform_text + (
            "  defaults:\n    http: {burst: '${BURST:7}', max_retries: '${RETRIES}'}\n"
            "    partitions: {end_offset: '${OFFSET:1}'}\n"
        )
        config_dir = write_config(tmp_path, {"platform.yaml": platform, "sources/orders.yaml": source})
        config = load_config(config_dir, environ={"RETRIES": "2"})
        http = config.platform.defaults.http
        assert (http.burst, http.max_retries, config.platform.defaults.partitions.end_offset) == (7, 2, 1)
        validator = jsonschema.Draft202012Validator(config_json_schema())
        for path in sorted(config_dir.rglob("*.yaml")):
            validator.validate(yaml.safe_load(path.read_text()))


@pytest.mark.parametrize(
    ("text", "line", "anchor"),
    [
        ("config_version: 1\nsources: &s\n  - *s\n", 3, "s"),
        (
            "config_version: 1\nsources:\n  - &e\n    source: {system: a, table: b, type: file, "
            "file: {path: /x.csv}, options: {again: *e}}\n",
            4,
            "e",
        ),
    ],
)
def test_an_alias_inside_its_own_anchor_is_a_yaml_error(
    tmp_path: Path, minimal_platform_text: str, text: str, line: int, anchor: str
) -> None:
    """Was a RecursionError traceback out of ``medallion validate``: PyYAML builds a list (or mapping) that
    holds itself."""
    from click.testing import CliRunner

    from medallion_assets.cli import main

    config_dir = write_config(tmp_path, {"platform.yaml": minimal_platform_text, "s.yaml": text})
    result = CliRunner().invoke(main, ["--config-dir", str(config_dir), "validate"], standalone_mode=False)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 1, result.output
    says = f"alias '*{anchor}' refers to the node that contains it at line {line}"
    assert f"configs/s.yaml: malformed YAML: {says}" in result.output
    assert "may only repeat a node defined before it" in result.output


def test_merge_keys_reuse_a_block_and_keys_next_to_them_override(
    tmp_path: Path, minimal_platform_text: str
) -> None:
    """Was: "malformed YAML: could not determine a constructor for the tag 'tag:yaml.org,2002:merge'", with
    a hint to check indentation: the duplicate-key check constructed the '<<' key itself."""
    text = (
        "config_version: 1\n"
        "sources:\n"
        "  - &orders\n"
        "    name: orders_eu\n"
        "    source: &src {system: shop, table: orders_eu, type: file, file: {path: /eu.csv}}\n"
        "    silver: {primary_keys: [id]}\n"
        "  - <<: *orders\n"
        "    name: orders_us\n"
        "    source: {<<: *src, table: orders_us, file: {path: /us.csv}}\n"
    )
    config_dir = write_config(tmp_path, {"platform.yaml": minimal_platform_text, "s.yaml": text})
    first, second = load_config(config_dir, environ={}).sources
    assert (first.name, first.source.table, first.source.file and first.source.file.path) == (
        "orders_eu",
        "orders_eu",
        "/eu.csv",
    )
    assert (second.name, second.source.system, second.source.table) == ("orders_us", "shop", "orders_us")
    assert second.source.file is not None and second.source.file.path == "/us.csv"
    assert second.silver.primary_keys == ["id"]


def test_a_key_written_twice_next_to_a_merge_key_is_still_refused(
    tmp_path: Path, minimal_platform_text: str
) -> None:
    text = (
        "config_version: 1\nsources:\n  - &a\n"
        "    source: {system: s, table: a, type: file, file: {path: /a}}\n"
        "  - <<: *a\n    name: b\n    name: c\n"
    )
    config_dir = write_config(tmp_path, {"platform.yaml": minimal_platform_text, "s.yaml": text})
    with pytest.raises(ConfigError) as info:
        load_config(config_dir, environ={})
    assert "malformed YAML: duplicate key 'name' at line 7" in str(info.value)
