"""Property tests: any valid config round-trips through YAML files, and any key typo is reported."""

from __future__ import annotations

import tempfile
import typing
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from medallion_assets.config.loader import load_config
from medallion_assets.config.models import (
    DEFAULT_MODEL,
    ApiAuthConfig,
    ApiConfig,
    ApiIncrementalConfig,
    ApiPaginationConfig,
    CdcConfig,
    CustomExtractorConfig,
    DbConfig,
    DbIncrementalConfig,
    DefaultsConfig,
    ErrorHandlingConfig,
    FileConfig,
    HttpDefaultsConfig,
    LayerStorageConfig,
    MedallionConfig,
    NormalizationConfig,
    OutputDefaultsConfig,
    PartitionsConfig,
    PlatformConfig,
    RunConfig,
    ScheduleConfig,
    SilverConfig,
    SourceConfig,
    SourceEntry,
)
from medallion_assets.errors import ConfigError
from medallion_assets.silver.registry import SILVER_MODELS

from ._support import FIXTURES, write_config

SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])

idents = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
# S3 bucket names (AWS's rules): no '..', and no IP address (here: nothing of digits and dots only)
buckets = st.from_regex(r"[a-z0-9][a-z0-9.-]{1,10}[a-z0-9]", fullmatch=True).filter(
    lambda name: ".." not in name and not name.replace(".", "").isdigit()
)
not_op = idents.filter(lambda name: name != "op")  # a key or order column, never cdc's operation column
texts = st.text(
    st.characters(codec="ascii", categories=["L", "N", "Zs"], include_characters="-_./:"), max_size=20
)
abs_paths = idents.map(lambda s: f"/data/{s}.csv")
positive = st.floats(min_value=0.5, max_value=1000).map(lambda f: round(f, 3))
timezones = st.sampled_from(["UTC", "Europe/Amsterdam", "America/New_York", "Asia/Tokyo"])


@st.composite
def layers(draw: st.DrawFn) -> LayerStorageConfig:
    backend = draw(st.sampled_from(["local", "s3", "azure"]))
    outputs = OutputDefaultsConfig(
        max_rows_per_file=draw(st.integers(1, 10**7)),
        parquet_compression=draw(st.sampled_from(["zstd", "snappy", "gzip", "uncompressed"])),
    )
    return LayerStorageConfig(
        storage_backend=backend,
        local_path=draw(abs_paths) if backend == "local" else None,
        s3_bucket=draw(buckets) if backend == "s3" else None,
        azure_container=draw(idents) if backend == "azure" else None,
        s3_prefix=draw(idents),
        options=draw(st.dictionaries(idents, st.integers() | texts | st.booleans(), max_size=2)),
        output_defaults=outputs,
    )


@st.composite
def platforms(draw: st.DrawFn) -> PlatformConfig:
    partitions = PartitionsConfig(
        start_date=draw(st.dates(date(2000, 1, 1), date(2030, 12, 31))),
        timezone=draw(timezones),
        end_offset=draw(st.integers(0, 3)),
    )
    schedule = draw(st.none() | st.builds(ScheduleConfig, cron=st.just("15 3 * * *"), timezone=timezones))
    http = HttpDefaultsConfig(rate_limit_rps=draw(positive), burst=draw(st.integers(1, 50)))
    return PlatformConfig(
        bronze=draw(layers()),
        silver=draw(layers()),
        defaults=DefaultsConfig(partitions=partitions, schedule=schedule, http=http),
    )


def _section(draw: st.DrawFn, kind: str, named: list[str], pattern: str) -> dict[str, Any]:
    # A db source loading changes (incremental, cdc, current_history) needs db.incremental, an api source
    # api.incremental or a date in its request.
    incremental = pattern in ("incremental", "cdc", "current_history")
    if kind == "api":
        auth = draw(st.sampled_from([ApiAuthConfig(), ApiAuthConfig(type="bearer", token_env="TOKEN")]))
        pagination = draw(
            st.sampled_from([ApiPaginationConfig(), ApiPaginationConfig(type="cursor", cursor_path="next")])
        )
        params = draw(st.dictionaries(idents, texts | st.integers(), max_size=3))
        api = ApiConfig(
            base_url="https://api.test",
            endpoint="/" + draw(idents),
            params=params,
            auth=auth,
            pagination=pagination,
            body=draw(st.none() | st.lists(st.integers(), max_size=3)),
            incremental=ApiIncrementalConfig(cursor_field=draw(idents)) if incremental else None,
        )
        return {"api": api}
    if kind == "db":
        cursor = st.builds(DbIncrementalConfig, cursor_column=idents, lookback=st.just("2h"))
        if pattern == "full":  # a watermark reads only the changes: a full load selects its day (window)
            cursor = st.builds(
                DbIncrementalConfig, cursor_column=idents, lookback=st.just("2h"), mode=st.just("window")
            )
        return {
            "db": DbConfig(
                url_env="DB_URL",
                table=draw(idents),
                db_schema=draw(st.none() | idents),
                incremental=draw(cursor if incremental else st.none() | cursor),
            )
        }
    if kind == "file":
        path = draw(abs_paths | idents.map(lambda s: f"s3://bucket/{s}/*.parquet"))
        # file.columns lists every column the silver keys name (else validation refuses them).
        extra = draw(st.none() | st.lists(idents, max_size=3))
        columns = None if extra is None else list(dict.fromkeys([*named, *extra]))
        return {"file": FileConfig(path=path, columns=columns)}
    return {"custom_extractor": CustomExtractorConfig(module="pkg.mod", class_name="Extractor")}


@st.composite
def source_entries(draw: st.DrawFn) -> SourceEntry:
    kind = draw(st.sampled_from(["api", "db", "file", "custom"]))
    pattern = draw(st.sampled_from(list(DEFAULT_MODEL)))
    model = draw(
        st.none() | st.sampled_from(sorted(n for n, m in SILVER_MODELS.items() if pattern in m.load_patterns))
    )
    effective = model or DEFAULT_MODEL[pattern]
    contract = SILVER_MODELS[effective]
    stateful = "delete_mode" in contract.options and pattern in ("full", "cdc")
    silver = SilverConfig(
        domain=draw(st.none() | idents),
        entity=draw(st.none() | idents),
        version=draw(st.integers(1, 5)),
        model=model,
        primary_keys=draw(
            st.lists(
                not_op, min_size=1 if "primary_keys" in contract.requires else 0, max_size=3, unique=True
            )
        ),
        order_column=draw(not_op) if "order_column" in contract.requires else draw(st.none() | not_op),
        delete_mode=draw(st.sampled_from(["ignore", "hard_delete", "tombstone"])) if stateful else "ignore",
        silver_schema={
            "types": draw(st.dictionaries(idents, st.sampled_from(["int64", "decimal(18,2)"]), max_size=2))
        },
        normalization=draw(st.builds(NormalizationConfig)),
        error_handling=ErrorHandlingConfig(
            max_bad_percent=draw(st.floats(0, 100).map(lambda f: round(f, 2)))
        ),
        cdc=CdcConfig(keep_history=draw(st.booleans())) if "cdc" in contract.requires else None,
        dedupe_lookback_days=draw(st.integers(0, 7)) if "dedupe_lookback_days" in contract.options else 0,
    )
    source = SourceConfig(
        system=draw(idents),
        table=draw(idents),
        type=kind,
        run=RunConfig(load_pattern=pattern, max_rows_per_file=draw(st.none() | st.integers(1, 10**6))),
        **_section(draw, kind, [n for names in silver.named_columns.values() for n in names], pattern),
    )
    return SourceEntry(
        name=draw(st.none() | idents),
        description=draw(st.none() | texts),
        owners=draw(st.lists(idents.map(lambda name: f"team:{name}"), max_size=2)),
        source=source,
        silver=silver,
        schedule=draw(st.none() | st.builds(ScheduleConfig, cron=st.just("0 4 * * 1"), timezone=st.none())),
    )


def _silver_key(entry: SourceEntry) -> tuple[str, str, int]:
    return (
        entry.silver.domain or entry.source.system,
        entry.silver.entity or entry.source.table,
        entry.silver.version,
    )


configs = st.builds(
    MedallionConfig,
    platform=platforms(),
    sources=st.lists(
        source_entries(),
        max_size=4,
        unique_by=(lambda e: e.source_name, lambda e: (e.source.system, e.source.table), _silver_key),
    ),
)


@SETTINGS
@given(config=configs, n_files=st.integers(1, 3))
def test_any_config_round_trips_through_yaml_files(config: MedallionConfig, n_files: int) -> None:
    dumped = config.model_dump(by_alias=True, mode="json")
    files: dict[str, object] = {"platform.yaml": {"config_version": 1, "platform": dumped["platform"]}}
    for i in range(n_files):
        files[f"sources/part{i}.yaml"] = {"config_version": 1, "sources": dumped["sources"][i::n_files]}
    with tempfile.TemporaryDirectory() as tmp:
        loaded = load_config(write_config(Path(tmp), files), environ={})
    # sources come back file by file, so compare them as a multiset.
    assert loaded.platform == config.platform
    assert sorted(map(repr, loaded.sources)) == sorted(map(repr, config.sources))
    assert loaded.model_dump(by_alias=True, mode="json")["platform"] == dumped["platform"]


# --- typos ------------------------------------------------------------------------------------------------

FREE_FORM = {"params", "headers", "body", "options", "rename_map", "types"}  # user keys, not config keys
TYPO_FIXTURE = FIXTURES / "full"
RAW_FILES = {
    path.relative_to(TYPO_FIXTURE).as_posix(): yaml.safe_load(path.read_text())
    for path in sorted(TYPO_FIXTURE.rglob("*.y*ml"))
}


def _key_paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = []
    if isinstance(node, dict):
        for key, value in node.items():
            out.append((*path, key))
            if key not in FREE_FORM:
                out.extend(_key_paths(value, (*path, key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out.extend(_key_paths(value, (*path, i)))
    return out


ALL_KEYS = [(file, path) for file, data in RAW_FILES.items() for path in _key_paths(data)]


def _allowed_keys(path: tuple[Any, ...]) -> set[str]:
    """The keys valid next to ``path[-1]``, walking the models by YAML name."""
    tp: Any = MedallionConfig
    for part in path[:-1]:
        if isinstance(part, int):
            tp = typing.get_args(tp)[0]
            continue
        fields = {info.alias or name: info for name, info in tp.model_fields.items()}
        tp = fields[part].annotation
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        tp = args[0] if args and typing.get_origin(tp) is not list else tp
    if typing.get_origin(tp) is list:
        tp = typing.get_args(tp)[0]
    assert isinstance(tp, type) and issubclass(tp, BaseModel)
    return {info.alias or name for name, info in tp.model_fields.items()}


@st.composite
def typos(draw: st.DrawFn) -> tuple[str, tuple[Any, ...], str]:
    file, path = draw(st.sampled_from(ALL_KEYS))
    key = path[-1]
    i = draw(st.integers(0, len(key) - 1))
    letter = draw(st.sampled_from("abcdefghijklmnopqrstuvwxyz_"))
    edits = [key[:i] + key[i + 1 :], key[:i] + letter + key[i:], key[:i] + letter + key[i + 1 :]]
    if i + 1 < len(key):
        edits.append(key[:i] + key[i + 1] + key[i] + key[i + 2 :])
    typo = draw(st.sampled_from(edits))
    allowed = _allowed_keys(path) if len(path) > 1 else {"config_version", "platform", "sources"}
    assume(typo and typo not in allowed)
    return file, path, typo


def _dotted(path: tuple[Any, ...]) -> str:
    text = ""
    for part in path:
        text = f"{text}[{part}]" if isinstance(part, int) else (f"{text}.{part}" if text else part)
    return text


def _rename(node: Any, path: tuple[Any, ...], new: str) -> Any:
    if len(path) == 1:
        return {(new if k == path[0] else k): v for k, v in node.items()}
    copy = list(node) if isinstance(node, list) else dict(node)
    copy[path[0]] = _rename(node[path[0]], path[1:], new)
    return copy


@SETTINGS
@given(case=typos())
def test_any_key_typo_is_reported_with_did_you_mean(case: tuple[str, tuple[Any, ...], str]) -> None:
    file, path, typo = case
    files = dict(RAW_FILES)
    files[file] = _rename(RAW_FILES[file], path, typo)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            load_config(write_config(Path(tmp), files), environ={})
        except ConfigError as exc:
            issues = exc.issues
        else:
            raise AssertionError(f"typo {typo!r} of {_dotted(path)} in {file} was accepted")
    wanted = _dotted((*path[:-1], typo))
    match = [i for i in issues if i.file == f"configs/{file}" and i.path == wanted]
    assert match, f"no issue at {wanted}: {[str(i) for i in issues]}"
    assert "unknown" in match[0].message
    assert f"'{path[-1]}'" in match[0].hint
