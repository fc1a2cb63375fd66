"""``medallion_assets.read``: the committed, verified rows of a source, on local disk, S3 (moto) and Azure
(Azurite), with errors that name the source, the layer and what is committed (docs/reading.md)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest
import yaml
from polars.testing import assert_frame_equal

import medallion_assets
from medallion_assets.lake import Lake
from medallion_assets.runner import materialize_partition
from medallion_resources.errors import IntegrityError, NotCommittedError, UnknownNameError
from medallion_resources.lake.read import read_artifact
from tests.instances import cli_instance_for_test

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
DAYS = [date(2025, 1, 1), date(2025, 1, 2)]


def _materialize(lake: Lake, tmp_path: Path, sources: tuple[str, ...] = ("retail_orders",)) -> None:
    (tmp_path / "instance").mkdir()
    with cli_instance_for_test(tmp_path / "instance") as instance:
        for day in DAYS:
            for name in sources:
                outcome = materialize_partition(lake, lake.spec(name), day, ("bronze", "silver"), instance)
                assert outcome.error is None, outcome.error


def _committed(
    lake: Lake, layer: str, day: date, artifact: str, source: str = "retail_orders"
) -> pl.DataFrame:
    part = lake.committed(lake.spec(source), layer, day)
    assert part is not None
    return read_artifact(part, artifact)


def test_read_on_local_disk(lake_env: dict[str, str], tmp_path: Path) -> None:
    lake = Lake.load()
    _materialize(lake, tmp_path)

    latest = medallion_assets.read("retail_orders")
    assert isinstance(latest, pl.LazyFrame)
    assert_frame_equal(latest.collect(), _committed(lake, "silver", DAYS[1], "current"))
    for as_of in (DAYS[0], "2025-01-01", datetime(2025, 1, 1, 23, 59)):
        got = medallion_assets.read("retail_orders", as_of=as_of).collect()
        assert_frame_equal(got, _committed(lake, "silver", DAYS[0], "current"))
    # a date after the last committed partition gives the latest one on or before it
    assert_frame_equal(
        medallion_assets.read("retail_orders", as_of="2025-03-01").collect(),
        _committed(lake, "silver", DAYS[1], "current"),
    )
    bronze = medallion_assets.read("retail_orders", layer="bronze", as_of=DAYS[0]).collect()
    assert_frame_equal(bronze, _committed(lake, "bronze", DAYS[0], "data"))

    with pytest.raises(
        NotCommittedError,
        match=r"^Silver retail_orders has no committed partition on or before 2024-12-31; "
        r"committed: 2025-01-01\.\.2025-01-02 \(.*domain=sales/entity=orders/v1\)$",
    ):
        medallion_assets.read("retail_orders", as_of="2024-12-31")
    with pytest.raises(
        NotCommittedError, match=r"^Bronze retail_customers has no committed partition; nothing"
    ):
        medallion_assets.read("retail_customers", layer="bronze")
    with pytest.raises(UnknownNameError, match=r"unknown source 'retail_order'; sources: inventory_stock, "):
        medallion_assets.read("retail_order")
    with pytest.raises(UnknownNameError, match=r"unknown layer 'gold'; layers: bronze, silver"):
        medallion_assets.read("retail_orders", layer="gold")
    with pytest.raises(
        UnknownNameError,
        match=r"unknown artifact 'history'; the artifacts of Silver retail_orders 2025-01-02 are",
    ):
        medallion_assets.read("retail_orders", artifact="history")
    with pytest.raises(
        ValueError, match=r"as_of must be a date or an ISO date \(YYYY-MM-DD\), got '01/02/2025'"
    ):
        medallion_assets.read("retail_orders", as_of="01/02/2025")


def test_an_uncommitted_attempt_is_invisible_to_read_but_not_to_a_glob(
    lake_env: dict[str, str], tmp_path: Path
) -> None:
    """What the API is for: a reader globbing the partition folder also reads a crashed attempt's files."""
    lake = Lake.load()
    _materialize(lake, tmp_path)
    # The first day: its folder holds its whole state (later days also list earlier days' files).
    part = lake.committed(lake.spec("retail_orders"), "silver", DAYS[0])
    assert part is not None
    (listed,) = part.files("current")
    source = Path(part.backend.local_path(part.relpath(listed)) or "")
    folder = source.parent
    shutil.copy(source, folder / "current-part-00001-20990101T000000000000Z-abcdef.parquet")
    globbed = pl.scan_parquet(str(folder / "current-*.parquet")).collect()
    committed = medallion_assets.read("retail_orders", as_of=DAYS[0]).collect()
    assert globbed.height == 2 * committed.height  # the crashed attempt's rows, twice over
    assert_frame_equal(committed, _committed(lake, "silver", DAYS[0], "current"))


def test_read_from_a_script_with_config_dir(lake_env: dict[str, str], tmp_path: Path) -> None:
    """The way a notebook or a script calls it: another working directory, the config dir as an argument."""
    lake = Lake.load()
    _materialize(lake, tmp_path)
    script = (
        "import medallion_assets, sys\n"
        "frame = medallion_assets.read('retail_orders', as_of='2025-01-01', config_dir=sys.argv[1])\n"
        "frame = frame.collect()\n"
        "print(frame.height, frame['order_id'].n_unique())\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "MEDALLION_CONFIG_DIR"}
    result = subprocess.run(
        [sys.executable, "-c", script, str(REPO / "configs")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    rows = _committed(lake, "silver", DAYS[0], "current").height
    assert result.stdout.split() == [str(rows), str(rows)]


@pytest.mark.services
@pytest.mark.parametrize("layout", ["bronze_s3_silver_azure", "bronze_azure_silver_s3"])
def test_read_on_object_stores(
    layout: str,
    s3_endpoint,
    azurite_endpoint,
    sample_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in {**s3_endpoint.env(), **azurite_endpoint.env()}.items():
        monkeypatch.setenv(name, value)
    s3 = {"storage_backend": "s3", "s3_bucket": s3_endpoint.create_bucket(), "s3_prefix": "lake"}
    azure = {"storage_backend": "azure", "azure_container": azurite_endpoint.create_container()}
    bronze, silver = (s3, azure) if layout == "bronze_s3_silver_azure" else (azure, s3)
    config_dir = tmp_path / "configs"
    (config_dir / "sources").mkdir(parents=True)
    shutil.copy(REPO / "configs" / "sources" / "retail.yaml", config_dir / "sources" / "retail.yaml")
    platform = {
        "bronze": bronze,
        "silver": {**silver, "s3_prefix": "silver"} if silver is s3 else {**silver, "azure_prefix": "silver"},
        "s3_connection": {
            "endpoint_url_env": "MEDALLION_S3_ENDPOINT",
            "access_key_env": "AWS_ACCESS_KEY_ID",
            "secret_key_env": "AWS_SECRET_ACCESS_KEY",
            "addressing_style": "path",
        },
        "azure_connection": {"connection_string_env": "AZURE_STORAGE_CONNECTION_STRING"},
        "defaults": {"partitions": {"start_date": "2025-01-01"}},
    }
    (config_dir / "platform.yaml").write_text(yaml.safe_dump({"config_version": 1, "platform": platform}))
    monkeypatch.setenv("MEDALLION_SAMPLE_DIR", str(sample_dir))
    cache = tmp_path / "cache"
    monkeypatch.setenv("MEDALLION_READ_CACHE_DIR", str(cache))
    lake = Lake.load(config_dir)
    _materialize(lake, tmp_path, ("retail_orders", "retail_customers"))

    for source, layer, artifact in (
        ("retail_orders", "silver", "current"),
        ("retail_orders", "bronze", "data"),
        ("retail_customers", "silver", "errors"),
    ):
        for day in DAYS:
            got = medallion_assets.read(
                source, layer=layer, artifact=artifact, as_of=day, config_dir=config_dir
            )
            assert_frame_equal(got.collect(), _committed(lake, layer, day, artifact, source))
    part = lake.committed(lake.spec("retail_orders"), "silver", DAYS[1])
    assert part is not None and part.backend.local_path(part.prefix) is None
    assert part.backend.uri(part.prefix).startswith(("s3://", "abfs://"))
    file = part.files("current")[-1]  # the file day 2 wrote (it also lists day 1's by reference)
    assert (cache / f"{file.sha256}.parquet").is_file()  # the verified local copy the scan reads

    # A changed byte in the store: a reader with a fresh cache gets an IntegrityError naming the file
    data = bytearray(part.backend.read_bytes(part.relpath(file)))
    data[len(data) // 2] ^= 0x01
    part.backend.put_bytes(part.relpath(file), bytes(data))
    monkeypatch.setenv("MEDALLION_READ_CACHE_DIR", str(tmp_path / "fresh-cache"))
    with pytest.raises(
        IntegrityError, match=rf"{file.path} has SHA-256 [0-9a-f]+, the manifest says {file.sha256}"
    ):
        medallion_assets.read("retail_orders", config_dir=config_dir)
    assert not (tmp_path / "fresh-cache" / f"{file.sha256}.parquet").exists()
