"""The file extractor on object storage: ``s3://`` and ``abfs://``/``az://`` globs read with the credentials
and endpoint of ``platform.s3_connection`` / ``azure_connection`` (real moto and Azurite servers)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from medallion_assets.config.models import PlatformConfig, SourceEntry
from medallion_assets.extractors import ExtractContext, create_extractor
from medallion_assets.extractors.file import storage_options_for
from medallion_resources.storage.azure import AzureBackend, AzureSettings
from medallion_resources.storage.s3 import S3Backend, S3Settings

pytestmark = pytest.mark.services
RUN_DATE = date(2025, 1, 2)
FILES = {
    "in/orders_20250102_a.csv": b"id,amount\n1,10\n2,20\n",
    "in/orders_20250102_b.csv": b"id,amount\n3,30\n",
    "in/orders_20250103_a.csv": b"id,amount\n9,90\n",
    "in/_SUCCESS": b"",
}


def _platform(**connections) -> PlatformConfig:
    return PlatformConfig.model_validate(
        {"bronze": {"local_path": "/tmp/x"}, "silver": {"local_path": "/tmp/y"}, **connections}
    )


def _rows(url: str, platform: PlatformConfig) -> list[dict]:
    entry = SourceEntry.model_validate(
        {"source": {"system": "shop", "table": "orders", "type": "file", "file": {"path": url}}}
    )
    start = datetime(2025, 1, 2, tzinfo=UTC)
    ctx = ExtractContext(run_date=RUN_DATE, window_start=start, window_end=start + timedelta(days=1))
    extractor = create_extractor(entry, platform)
    assert extractor.check().ok
    return [row for batch in extractor.extract(ctx) for row in batch.to_pylist()]


def test_s3_glob_uses_the_s3_connection(s3_endpoint, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANDING_S3_ENDPOINT", s3_endpoint.url)
    monkeypatch.setenv("LANDING_KEY", "test")
    monkeypatch.setenv("LANDING_SECRET", "test")
    settings = S3Settings(endpoint_url=s3_endpoint.url, key="test", secret="test", region="us-east-1")
    landing = S3Backend(s3_endpoint.create_bucket(), "", settings)
    for path, data in FILES.items():
        landing.put_bytes(path, data)
    platform = _platform(
        s3_connection={
            "endpoint_url_env": "LANDING_S3_ENDPOINT",
            "access_key_env": "LANDING_KEY",
            "secret_key_env": "LANDING_SECRET",
            "region": "us-east-1",
        }
    )
    rows = _rows(f"s3://{landing.bucket}/in/orders_{{run_date:%Y%m%d}}_*.csv", platform)
    assert sorted(r["id"] for r in rows) == ["1", "2", "3"]
    assert {r["_source_file"].rsplit("/", 1)[-1] for r in rows} == {
        "orders_20250102_a.csv",
        "orders_20250102_b.csv",
    }


@pytest.mark.parametrize("scheme", ["abfs", "az"])
def test_azure_glob_uses_the_azure_connection(
    azurite_endpoint, monkeypatch: pytest.MonkeyPatch, scheme
) -> None:
    monkeypatch.setenv("LANDING_AZ", azurite_endpoint.connection_string)
    landing = AzureBackend(
        azurite_endpoint.create_container(),
        "",
        AzureSettings(connection_string=azurite_endpoint.connection_string),
    )
    for path, data in FILES.items():
        landing.put_bytes(path, data)
    platform = _platform(azure_connection={"connection_string_env": "LANDING_AZ"})
    rows = _rows(f"{scheme}://{landing.container}/in/orders_{{run_date:%Y%m%d}}_*.csv", platform)
    assert sorted(r["id"] for r in rows) == ["1", "2", "3"]


def test_storage_options_only_for_object_store_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("K", "key")
    monkeypatch.setenv("S", "secret")
    monkeypatch.setenv("CS", "UseDevelopmentStorage=true")
    platform = _platform(
        s3_connection={"access_key_env": "K", "secret_key_env": "S"},
        azure_connection={"connection_string_env": "CS"},
    )
    assert storage_options_for("/data/in.csv", platform) == {}
    assert storage_options_for("https://example.com/x.csv", platform) == {}
    assert storage_options_for("s3://b/k.csv", platform) == {"key": "key", "secret": "secret"}
    assert storage_options_for("abfs://c/k.csv", platform) == {
        "connection_string": "UseDevelopmentStorage=true"
    }
    assert storage_options_for("s3://b/k.csv", _platform()) == {}
