"""Metadata a person reads on a materialization: previews, the files as a table, figures the UI plots.

Checked on Dagster's materialization events of real runs (``materialize_partition``, a range run), against
the rows written by the fixtures of ``test_row_counts``.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
import yaml

from medallion_assets.assets import build_assets
from medallion_assets.lake import Lake
from medallion_assets.runner import QUIET, materialize_partition
from medallion_assets.specs import BRONZE_IO_MANAGER, SILVER_IO_MANAGER
from medallion_resources.io_managers import PartitionOutput
from medallion_resources.lake.parts import PartSettings
from medallion_resources.storage.local import LocalBackend

from .test_row_counts import DAYS, instance, lake, materialize_days  # noqa: F401 - fixtures

pytestmark = pytest.mark.slow
PLOTTED = ("rows_in", "quarantined", "duplicates_dropped", "inserted", "updated", "deleted")


def latest(store: dg.DagsterInstance, key: dg.AssetKey, day: str) -> dict[str, object]:
    record = store.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[day]), limit=1
    ).records[0]
    return dict(record.asset_materialization.metadata)


def rows(value: object) -> list[dict[str, object]]:
    assert isinstance(value, dg.TableMetadataValue), value
    return [dict(r.data) for r in value.records]


def test_a_silver_day_shows_its_rows_its_quarantine_and_its_files(lake: Lake, instance) -> None:  # noqa: F811
    materialize_days(lake, "hist", instance)
    spec = lake.spec("hist")
    meta = latest(instance, spec.silver_key, DAYS[1])
    assert meta["dagster/row_count"].value == 3  # the history: main artifact
    assert meta["dagster/table_name"].value == "silver.t.hist"
    # The rows this commit wrote: key 1's closed version "a" and its new version "z"; "b" is unchanged and
    # carried forward by reference (merge-on-read Silver), so it is not among them.
    preview = rows(meta["preview"])
    assert sorted(r["v"] for r in preview) == ["a", "z"]
    assert [c.name for c in meta["preview"].schema.columns][:3] == ["id", "v", "ts"]
    (bad,) = rows(meta["quarantined_preview"])
    assert bad["_error_reason"].startswith("null primary key") and bad["v"] == "x"
    assert list(bad)[0] == "_error_reason"
    part = lake.committed(spec, "silver", DAYS[1])
    assert part is not None
    files = rows(meta["files"])
    # The files this commit wrote (files of earlier days the partition shares are in their own metadata).
    own = {
        (f.path, f.row_count, f.sha256)
        for f in part.manifest.files
        if f.path.startswith(f"load_date={DAYS[1]}/") or not part.manifest.shared
    }
    assert own and {(f["path"], f["rows"], f["sha256"]) for f in files} == own
    for key in PLOTTED:  # numbers, so the UI plots them over the partitions
        assert isinstance(meta[key], dg.IntMetadataValue), (key, meta[key])
    assert (meta["rows_in"].value, meta["quarantined"].value, meta["updated"].value) == (2, 1, 1)

    bronze = latest(instance, spec.bronze_key, DAYS[1])
    assert bronze["dagster/table_name"].value == "bronze.t.hist"
    assert bronze["dagster/row_count"].value == bronze["rows_in"].value == 2
    assert len(rows(bronze["preview"])) == 2 and "quarantined_preview" not in bronze


def test_a_range_run_reports_each_day_with_its_own_preview(lake: Lake, instance) -> None:  # noqa: F811
    spec = lake.spec("events")
    result = dg.materialize(
        build_assets([spec], lake.config.platform),
        selection=[spec.bronze_key, spec.silver_key],
        instance=instance,
        resources={BRONZE_IO_MANAGER: lake.bronze, SILVER_IO_MANAGER: lake.silver},
        run_config=QUIET,
        tags={"dagster/asset_partition_range_start": DAYS[0], "dagster/asset_partition_range_end": DAYS[1]},
    )
    assert result.success
    first, second = (latest(instance, spec.silver_key, day) for day in DAYS)
    assert [r["id"] for r in rows(first["preview"])] == [1, 2, 3]
    assert [r["id"] for r in rows(second["preview"])] == [4]
    assert second["duplicates_dropped"].value == 1
    assert first["dagster/table_name"].value == "silver.t.events"


def test_previews_are_redacted_and_capped(tmp_path: Path, instance) -> None:  # noqa: F811
    data = tmp_path / "links.csv"
    lines = ["id,link"] + [f"{i},https://bob:hunter2@db.example.com/x?token=tok{i}&page=2" for i in range(25)]
    data.write_text("\n".join(lines) + "\n")
    config = tmp_path / "configs"
    config.mkdir()
    doc = {
        "config_version": 1,
        "platform": {
            "bronze": {"local_path": str(tmp_path / "lake" / "bronze")},
            "silver": {"local_path": str(tmp_path / "lake" / "silver")},
        },
        "sources": [
            {
                "name": "links",
                "source": {"system": "web", "table": "links", "type": "file", "file": {"path": str(data)}},
                "silver": {"model": "periodic_snapshot", "primary_keys": ["id"]},
            }
        ],
    }
    (config / "c.yaml").write_text(yaml.safe_dump(doc))
    links = Lake.load(config)
    spec = links.spec("links")
    outcome = materialize_partition(links, spec, date(2025, 1, 1), ("bronze", "silver"), instance)
    assert outcome.error is None, outcome.error
    for key in (spec.bronze_key, spec.silver_key):
        preview = rows(latest(instance, key, "2025-01-01")["preview"])
        assert len(preview) == 10  # of 25
        text = json.dumps(preview)
        assert "hunter2" not in text and "tok3" not in text, text
        assert "db.example.com" in text and "page=2" in text
    # The Bronze columns travel as one-value dictionaries; the preview names the types the files store.
    bronze = latest(instance, spec.bronze_key, "2025-01-01")["preview"]
    types = {c.name: c.type for c in bronze.schema.columns}  # type: ignore[attr-defined]
    assert [types[c] for c in ("_source_file", "_source_system", "_load_date")] == [
        "string",
        "string",
        "date32[day]",
    ]


def test_the_bronze_preview_survives_columns_that_widen_across_files(tmp_path: Path, instance) -> None:  # noqa: F811
    """A day of two files whose columns differ (the second adds one, turns an int column to text, an int
    to a float): the preview shows the first rows typed as Bronze stores the day, not no preview at all."""
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "a.jsonl").write_text('{"id": 1, "v": 10, "f": 1}\n{"id": 2, "v": 20, "f": 2}\n')
    (landing / "b.jsonl").write_text('{"id": 3, "v": "x", "f": 0.5, "c": true}\n')
    config = tmp_path / "configs"
    config.mkdir()
    source = {"system": "web", "table": "ev", "type": "file", "file": {"path": str(landing / "*.jsonl")}}
    doc = {
        "config_version": 1,
        "platform": {
            "bronze": {"local_path": str(tmp_path / "lake" / "bronze")},
            "silver": {"local_path": str(tmp_path / "lake" / "silver")},
        },
        "sources": [{"name": "ev", "source": source, "silver": {"model": "periodic_snapshot"}}],
    }
    (config / "c.yaml").write_text(yaml.safe_dump(doc))
    ev = Lake.load(config)
    spec = ev.spec("ev")
    outcome = materialize_partition(ev, spec, date(2025, 1, 1), ("bronze",), instance)
    assert outcome.error is None, outcome.error
    preview = latest(instance, spec.bronze_key, "2025-01-01")["preview"]
    assert [(r["id"], r["v"], r["f"], r["c"]) for r in rows(preview)] == [
        (1, "10", 1.0, None),
        (2, "20", 2.0, None),
        (3, "x", 0.5, True),
    ]
    part = ev.committed(spec, "bronze", date(2025, 1, 1))
    assert part is not None
    stored = {c["name"]: c["type"] for c in part.metadata["schema"]}
    assert {c.name: c.type for c in preview.schema.columns} == stored  # type: ignore[attr-defined]

    # Past the preview's ten rows: the rows shown are the first file's, typed as the day is stored.
    (landing / "a.jsonl").write_text("".join(f'{{"id": {i}, "v": {i}}}\n' for i in range(12)))
    outcome = materialize_partition(ev, spec, date(2025, 1, 2), ("bronze",), instance)
    assert outcome.error is None, outcome.error
    preview = latest(instance, spec.bronze_key, "2025-01-02")["preview"]
    assert [r["v"] for r in rows(preview)] == [str(i) for i in range(10)]
    part = ev.committed(spec, "bronze", date(2025, 1, 2))
    assert part is not None
    stored = {c["name"]: c["type"] for c in part.metadata["schema"]}
    assert {c.name: c.type for c in preview.schema.columns} == stored  # type: ignore[attr-defined]


def test_the_preview_shows_nanosecond_values_exactly(tmp_path: Path, instance) -> None:  # noqa: F811
    """A Parquet file of nanosecond timestamps (pandas' and Spark's) had no preview at all (Python's
    datetime stops at the microsecond): the cells show each value's every digit."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = tmp_path / "ticks.parquet"
    table = pa.table(
        {
            "id": pa.array([1, 2]),
            "at": pa.array([1_700_000_000_123_456_789, None], pa.timestamp("ns")),
            "utc": pa.array([5, -1], pa.timestamp("ns", "UTC")),
            "clock": pa.array([1, 86_399_999_999_999], pa.time64("ns")),
            "took": pa.array([1_500, -7], pa.duration("ns")),
            "ats": pa.array([[1], None], pa.list_(pa.timestamp("ns"))),
        }
    )
    pq.write_table(table, data)
    config = tmp_path / "configs"
    config.mkdir()
    source = {"system": "web", "table": "ticks", "type": "file", "file": {"path": str(data)}}
    doc = {
        "config_version": 1,
        "platform": {
            "bronze": {"local_path": str(tmp_path / "lake" / "bronze")},
            "silver": {"local_path": str(tmp_path / "lake" / "silver")},
        },
        "sources": [
            {"name": "ticks", "source": source, "silver": {"model": "scd_type_1", "primary_keys": ["id"]}}
        ],
    }
    (config / "c.yaml").write_text(yaml.safe_dump(doc))
    ticks = Lake.load(config)
    spec = ticks.spec("ticks")
    outcome = materialize_partition(ticks, spec, date(2025, 1, 1), ("bronze", "silver"), instance)
    assert outcome.error is None, outcome.error
    for key in (spec.bronze_key, spec.silver_key):
        preview = rows(latest(instance, key, "2025-01-01")["preview"])
        assert sorted(r["ats"] or "" for r in preview) == ["", '["1970-01-01 00:00:00.000000001"]']
        assert sorted((r["id"], r["at"], r["utc"], r["clock"], r["took"]) for r in preview) == [
            (
                1,
                "2023-11-14T22:13:20.123456789",
                "1970-01-01T00:00:00.000000005Z",
                "00:00:00.000000001",
                "1500ns",
            ),
            (2, None, "1969-12-31T23:59:59.999999999Z", "23:59:59.999999999", "-7ns"),
        ]


def test_known_secret_values_of_a_source_are_masked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """``SourceSpec.secret_values`` (the ``*_env`` settings' values) reach the preview's redactor."""
    monkeypatch.setenv("API_TOKEN_FOR_TEST", "s3cr3t-value-42")
    config = tmp_path / "configs"
    config.mkdir()
    api = {
        "base_url": "http://127.0.0.1:1",
        "endpoint": "/x",
        "auth": {"type": "bearer", "token_env": "API_TOKEN_FOR_TEST"},
    }
    doc = {
        "config_version": 1,
        "platform": {
            "bronze": {"local_path": str(tmp_path / "b")},
            "silver": {"local_path": str(tmp_path / "s")},
        },
        "sources": [{"source": {"system": "a", "table": "b", "type": "api", "api": api}}],
    }
    (config / "c.yaml").write_text(yaml.safe_dump(doc))
    spec = Lake.load(config).spec("a_b")
    assert spec.secret_values == ("s3cr3t-value-42",)
    io = Lake.load(config).bronze
    frame = pl.DataFrame({"id": [1], "echo": ["the token is s3cr3t-value-42"]})
    output = PartitionOutput(
        artifacts={"data": [frame]},
        build_metadata=lambda written: {"record_count": 1},
        output=PartSettings(),
        secrets=spec.secret_values,
    )
    _, meta = io.write_partition(spec.bronze_path, "2025-01-01", output, "run")
    (row,) = rows(meta["preview"])
    assert row["echo"] == "the token is ***"


def test_collecting_metadata_never_fails_a_commit(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from medallion_resources import io_managers

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("preview exploded")

    monkeypatch.setattr(io_managers, "preview_table", broken)
    monkeypatch.setattr(io_managers, "files_table", broken)
    io = io_managers.BronzeIOManager(LocalBackend(str(tmp_path)))
    output = PartitionOutput(
        artifacts={"data": [pl.DataFrame({"id": [1, 2]})]},
        build_metadata=lambda written: {"record_count": 2},
        output=PartSettings(),
    )
    manifest, meta = io.write_partition("system=a/table=b", "2025-01-01", output, "run")
    assert io.committed("system=a/table=b", "2025-01-01") is not None
    assert meta["dagster/row_count"] == 2 and meta["manifest_sha256"] == manifest.sha256
    assert "preview" not in meta and "files" not in meta
