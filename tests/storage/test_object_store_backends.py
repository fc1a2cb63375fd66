"""The S3 and Azure backends against real servers (moto's S3 server, Azurite): the backend contract,
conditional puts, settings resolution, the registry factories and the manifest commit on them."""

from __future__ import annotations

import os
import threading
import time

import polars as pl
import pytest
import test_storage_backends as contract

from medallion_assets.config.models import PlatformConfig
from medallion_assets.errors import IntegrityError, StorageError
from medallion_resources.lake.read import forget_files_read, read_artifact, read_committed, verify_partition
from medallion_resources.retry import RetryPolicy
from medallion_resources.storage import StorageBackend, create_backend
from medallion_resources.storage.azure import AzureBackend, AzureSettings
from medallion_resources.storage.s3 import S3Backend, S3Settings
from medallion_resources.storage.wrappers import RetryingBackend, WrappingBackend

pytestmark = pytest.mark.services

PREFIX = "system=crm/table=users/dt=2026-01-31"


def s3_backend_on(endpoint, prefix: str = "lake/bronze") -> S3Backend:
    settings = S3Settings(
        endpoint_url=endpoint.url, key=endpoint.key, secret=endpoint.secret, region="us-east-1"
    )
    return S3Backend(endpoint.create_bucket(), prefix, settings)


def azure_backend_on(endpoint, prefix: str = "lake/silver") -> AzureBackend:
    settings = AzureSettings(connection_string=endpoint.connection_string)
    return AzureBackend(endpoint.create_container(), prefix, settings)


class TestS3Contract(contract.TestBackendContract):
    @pytest.fixture
    def backend(self, s3_endpoint) -> StorageBackend:
        return s3_backend_on(s3_endpoint)

    def test_uri_names_bucket_and_prefix(self, backend: S3Backend) -> None:
        assert backend.uri("a/b.json") == f"s3://{backend.bucket}/lake/bronze/a/b.json"


class TestAzureContract(contract.TestBackendContract):
    @pytest.fixture
    def backend(self, azurite_endpoint) -> StorageBackend:
        return azure_backend_on(azurite_endpoint)

    def test_uri_names_container_and_prefix(self, backend: AzureBackend) -> None:
        assert backend.uri("a/b.json") == f"abfs://{backend.container}/lake/silver/a/b.json"


@pytest.fixture(params=["s3", "azure"])
def store(request: pytest.FixtureRequest) -> StorageBackend:
    if request.param == "s3":
        return s3_backend_on(request.getfixturevalue("s3_endpoint"))
    return azure_backend_on(request.getfixturevalue("azurite_endpoint"))


class TestConditionalPut:
    def test_create_only_when_absent(self, store: StorageBackend) -> None:
        assert store.atomic_conditional_put
        assert store.put_bytes_if("m.json", b"one", None)
        assert not store.put_bytes_if("m.json", b"two", None)
        assert store.read_bytes("m.json") == b"one"

    def test_replace_only_the_version_read(self, store: StorageBackend) -> None:
        store.put_bytes("m.json", b"one")
        data, version = store.read_versioned("m.json")
        assert data == b"one"
        store.put_bytes("m.json", b"other writer")
        assert not store.put_bytes_if("m.json", b"stale", version)
        data, version = store.read_versioned("m.json")
        assert store.put_bytes_if("m.json", b"fresh", version)
        assert store.read_bytes("m.json") == b"fresh"

    def test_read_versioned_of_missing_object(self, store: StorageBackend) -> None:
        with pytest.raises(FileNotFoundError):
            store.read_versioned("never/written.json")


class TestListVersions:
    def test_one_listing_gives_every_file_and_a_version_that_changes_with_it(
        self, store: StorageBackend
    ) -> None:
        for path in ("t/dt=1/_checksums.json", "t/dt=1/_errors/e.parquet", "t/dt=2/_metadata.json", "u/x"):
            store.put_bytes(path, b"one")
        assert store.versioned_listings
        versions = store.list_versions("t")
        assert versions is not None
        assert sorted(versions) == [
            "t/dt=1/_checksums.json",
            "t/dt=1/_errors/e.parquet",
            "t/dt=2/_metadata.json",
        ]
        store.put_bytes("t/dt=2/_metadata.json", b"two")
        after = store.list_versions("t")
        assert after is not None
        assert after["t/dt=2/_metadata.json"] != versions["t/dt=2/_metadata.json"]
        assert after["t/dt=1/_checksums.json"] == versions["t/dt=1/_checksums.json"]
        assert store.list_versions("missing") == {}

    def test_a_retrying_backend_lists_through_its_inner_one(self, s3_endpoint) -> None:
        inner = s3_backend_on(s3_endpoint)
        inner.put_bytes("t/a.json", b"{}")
        wrapped = RetryingBackend(inner, RetryPolicy())
        assert wrapped.versioned_listings
        assert wrapped.list_versions("t") == inner.list_versions("t")


class TestCommitOnObjectStores:
    def test_commit_verify_and_a_flipped_byte(self, store: StorageBackend, make_writer) -> None:
        frame = pl.DataFrame({"id": list(range(2500)), "name": [f"n{i}" for i in range(2500)]})
        with make_writer(store, max_rows=1000) as writer:
            writer.write_artifact("data", [frame])
            writer.commit({"record_count": 2500})
        part = read_committed(store, PREFIX)
        assert part is not None and verify_partition(part) == []
        assert read_artifact(part, "data").sort("id").equals(frame)
        assert len(part.files("data")) == 3

        victim = part.relpath(part.files("data")[1])
        data = bytearray(store.read_bytes(victim))
        data[len(data) // 2] ^= 0xFF
        store.put_bytes(victim, bytes(data))
        problems = verify_partition(part)
        assert len(problems) == 1 and "SHA-256" in problems[0] and victim in problems[0]
        # This process fetched the small files once and keeps the verified bytes (read.py, by SHA-256):
        # it reads what the manifest lists, never the changed bytes; a process without them refuses them.
        assert read_artifact(part, "data").sort("id").equals(frame)
        forget_files_read()
        with pytest.raises(IntegrityError, match="SHA-256"):
            read_artifact(part, "data")

    def test_rerun_replaces_and_removes_superseded_files(self, store: StorageBackend, make_writer) -> None:
        for run in ("run-1", "run-2"):
            with make_writer(store, run_id=run) as writer:
                writer.write_artifact("data", [pl.DataFrame({"run": [run] * 10})])
                writer.commit({"run": run})
        part = read_committed(store, PREFIX)
        assert part is not None and part.manifest.run_id == "run-2"
        listed = {part.relpath(f) for f in part.files()}
        names = set(store.list_files(PREFIX))
        assert names == listed | {f"{PREFIX}/_checksums.json", f"{PREFIX}/_metadata.json"}

    def test_failed_attempt_leaves_previous_commit(self, store: StorageBackend, make_writer) -> None:
        with make_writer(store, run_id="good") as writer:
            writer.write_artifact("data", [pl.DataFrame({"x": [1, 2]})])
            writer.commit({})
        with pytest.raises(RuntimeError, match="source broke"), make_writer(store, run_id="bad") as writer:
            writer.write_artifact("data", [pl.DataFrame({"x": [3]})])
            raise RuntimeError("source broke")
        part = read_committed(store, PREFIX)
        assert part is not None and part.manifest.run_id == "good" and verify_partition(part) == []
        assert len(store.list_files(PREFIX)) == 3


class TestSettings:
    def test_s3_settings_from_env(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("MY_KEY", "AKIAEXAMPLE")
        monkeypatch.setenv("MY_SECRET", "s3cr3t-value")
        monkeypatch.setenv("MY_ENDPOINT", "http://127.0.0.1:9000")
        platform = _platform(
            s3_connection={
                "endpoint_url_env": "MY_ENDPOINT",
                "access_key_env": "MY_KEY",
                "secret_key_env": "MY_SECRET",
                "region": "eu-west-1",
                "addressing_style": "path",
                "verify_ssl": False,
            }
        )
        settings = S3Settings.from_config(platform.s3_connection)
        assert settings.fsspec_options() == {
            "key": "AKIAEXAMPLE",
            "secret": "s3cr3t-value",
            "endpoint_url": "http://127.0.0.1:9000",
            "client_kwargs": {"region_name": "eu-west-1", "verify": False},
            "config_kwargs": {"s3": {"addressing_style": "path"}},
        }
        assert "s3cr3t" not in repr(settings)

    def test_s3_half_a_key_pair_is_an_error(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("MY_KEY", "AKIAEXAMPLE")
        monkeypatch.delenv("MY_SECRET", raising=False)
        platform = _platform(s3_connection={"access_key_env": "MY_KEY", "secret_key_env": "MY_SECRET"})
        with pytest.raises(StorageError, match=r"s3_connection.*secret_key_env \(MY_SECRET\)"):
            S3Settings.from_config(platform.s3_connection)

    def test_s3_unset_variables_fall_back_to_the_default_chain(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("NOPE_KEY", raising=False)
        monkeypatch.delenv("NOPE_SECRET", raising=False)
        platform = _platform(
            s3_connection={
                "access_key_env": "NOPE_KEY",
                "secret_key_env": "NOPE_SECRET",
                "profile": "analytics",
            }
        )
        assert S3Settings.from_config(platform.s3_connection).fsspec_options() == {"profile": "analytics"}

    @pytest.mark.parametrize(
        ("env", "conn", "expected"),
        [
            (
                {"ACC": "acct", "KEY": "k3y-secret"},
                {"account_name_env": "ACC", "account_key_env": "KEY"},
                {"account_name": "acct", "account_key": "k3y-secret"},
            ),
            (
                {"ACC": "acct", "SAS": "sv=2024&sig=abc"},
                {"account_name_env": "ACC", "sas_token_env": "SAS"},
                {"account_name": "acct", "sas_token": "sv=2024&sig=abc"},
            ),
            (
                {"ACC": "acct", "T": "t", "C": "c", "S": "s"},
                {
                    "account_name_env": "ACC",
                    "tenant_id_env": "T",
                    "client_id_env": "C",
                    "client_secret_env": "S",
                },
                {"account_name": "acct", "tenant_id": "t", "client_id": "c", "client_secret": "s"},
            ),
            (
                {"ACC": "acct"},
                {
                    "account_name_env": "ACC",
                    "use_default_credential": True,
                    "account_url": "https://acct.blob.core.usgovcloudapi.net",
                },
                {"account_name": "acct", "anon": False, "account_host": "acct.blob.core.usgovcloudapi.net"},
            ),
            (  # the account's blob URL names it: no account_name_env needed
                {},
                {"use_default_credential": True, "account_url": "https://acct.blob.core.windows.net/"},
                {"account_name": "acct", "anon": False, "account_host": "acct.blob.core.windows.net"},
            ),
            (
                {"CS": "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=x"},
                {"connection_string_env": "CS"},
                {"connection_string": "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=x"},
            ),
        ],
    )
    def test_azure_ways_to_authenticate(self, monkeypatch: pytest.MonkeyPatch, env, conn, expected) -> None:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        settings = AzureSettings.from_config(_platform(azure_connection=conn).azure_connection)
        assert settings.fsspec_options() == expected

    @pytest.mark.parametrize(
        ("env", "conn", "match"),
        [
            (
                {},
                {"connection_string_env": "UNSET_CS"},
                r"no connection string and no account name.*UNSET_CS",
            ),
            ({"ACC": "acct"}, {"account_name_env": "ACC"}, r"account 'acct' has no credential"),
            (
                {"ACC": "acct", "T": "t"},
                {"account_name_env": "ACC", "tenant_id_env": "T", "client_id_env": "C"},
                r"service principal needs",
            ),
        ],
    )
    def test_azure_incomplete_settings(self, monkeypatch: pytest.MonkeyPatch, env, conn, match) -> None:
        monkeypatch.delenv("UNSET_CS", raising=False)
        monkeypatch.delenv("C", raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        with pytest.raises(StorageError, match=match):
            AzureSettings.from_config(_platform(azure_connection=conn).azure_connection)


class TestFactories:
    def test_s3_from_config(self, s3_endpoint, monkeypatch: pytest.MonkeyPatch) -> None:
        for name, value in s3_endpoint.env().items():
            monkeypatch.setenv(name, value)
        bucket = s3_endpoint.create_bucket()
        platform = _platform(
            bronze={"storage_backend": "s3", "s3_bucket": bucket, "s3_prefix": "bronze"},
            s3_connection={
                "endpoint_url_env": "MEDALLION_S3_ENDPOINT",
                "access_key_env": "AWS_ACCESS_KEY_ID",
                "secret_key_env": "AWS_SECRET_ACCESS_KEY",
                "region": "us-east-1",
            },
        )
        backend = create_backend(platform.bronze, platform)
        assert isinstance(backend, RetryingBackend) and isinstance(backend.inner, S3Backend)
        assert backend.uri() == f"s3://{bucket}/bronze"
        result = backend.check()
        assert result.ok, result.detail

    def test_check_reports_a_missing_bucket(self, s3_endpoint) -> None:
        settings = S3Settings(endpoint_url=s3_endpoint.url, key="test", secret="test", region="us-east-1")
        result = S3Backend("no-such-bucket-here", "", settings).check()
        assert not result.ok and "s3://no-such-bucket-here" in result.detail

    def test_azure_from_config(self, azurite_endpoint, monkeypatch: pytest.MonkeyPatch) -> None:
        for name, value in azurite_endpoint.env().items():
            monkeypatch.setenv(name, value)
        container = azurite_endpoint.create_container()
        platform = _platform(
            silver={"storage_backend": "azure", "azure_container": container, "azure_prefix": "silver"},
            azure_connection={"connection_string_env": "AZURE_STORAGE_CONNECTION_STRING"},
        )
        backend = create_backend(platform.silver, platform)
        assert isinstance(backend, RetryingBackend) and isinstance(backend.inner, AzureBackend)
        result = backend.check()
        assert result.ok, result.detail
        assert "AccountKey" not in result.detail


def test_azure_refusing_the_key_is_a_storage_error_not_a_traceback(azurite_endpoint) -> None:
    """A wrong account key: Azure answers 403 (``HttpResponseError``, not an ``OSError``), which escaped
    ``medallion check``, ``verify`` and ``inspect`` as a raw traceback quoting the response. It is a
    ``StorageError`` naming the operation and the object, and ``check`` reports it."""
    from medallion_resources.errors import StorageError

    container = azurite_endpoint.create_container()
    wrong = "d3Jvbmcta2V5LW9mLXRoZS1yaWdodC1sZW5ndGgtZm9yLWF6dXJpdGUtYWNjb3VudA=="
    good = azurite_endpoint.connection_string
    key = good.split("AccountKey=")[1].split(";")[0]
    backend = AzureBackend(container, "lake", AzureSettings(connection_string=good.replace(key, wrong)))
    result = backend.check()
    assert not result.ok and f"abfs://{container}/lake" in result.detail, result.detail
    assert "HTTP 403" in result.detail and "Content:" not in result.detail
    assert "check the credentials of azure_connection" in result.detail, result.detail  # the setting to fix
    assert wrong not in result.detail and key not in result.detail
    with pytest.raises(StorageError) as raised:
        backend.read_bytes("bronze/x/_manifest.json")
    assert wrong not in str(raised.value) and f"{container}/lake/bronze/x/_manifest.json" in str(raised.value)


def _platform(**overrides) -> PlatformConfig:
    data = {
        "bronze": {"storage_backend": "local", "local_path": "/tmp/unused-bronze"},
        "silver": {"storage_backend": "local", "local_path": "/tmp/unused-silver"},
    }
    data.update(overrides)
    return PlatformConfig.model_validate(data)


class _CountingUploads(WrappingBackend):
    """Counts part uploads in flight; fails the upload of ``fail_name`` when set."""

    def __init__(self, inner: StorageBackend, concurrency: int, fail_name: str = "") -> None:
        super().__init__(inner)
        self._concurrency = concurrency
        self.fail_name = fail_name
        self.in_flight = 0
        self.most = 0
        self._mutex = threading.Lock()

    @property
    def upload_concurrency(self) -> int:  # type: ignore[override]
        return self._concurrency

    def put_file(self, local_path, relpath: str) -> None:
        with self._mutex:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
        try:
            time.sleep(0.05)
            if self.fail_name and self.fail_name in relpath:
                raise StorageError(f"put_file {relpath} failed: injected permanent failure")
            self.inner.put_file(local_path, relpath)
        finally:
            with self._mutex:
                self.in_flight -= 1


class TestParallelUpload:
    def test_parts_upload_in_parallel_within_the_bound(self, s3_endpoint, make_writer) -> None:
        backend = _CountingUploads(s3_backend_on(s3_endpoint), concurrency=3)
        frame = pl.DataFrame({"id": list(range(1000))})
        with make_writer(backend, max_rows=100) as writer:
            writer.write_artifact("data", [frame])
            writer.commit({})
        assert 2 <= backend.most <= 3
        part = read_committed(backend, PREFIX)
        assert part is not None and len(part.files()) == 10 and verify_partition(part) == []
        assert read_artifact(part, "data").sort("id").equals(frame)

    def test_a_failed_upload_fails_the_attempt_and_leaves_nothing(self, s3_endpoint, make_writer) -> None:
        backend = _CountingUploads(s3_backend_on(s3_endpoint), concurrency=3, fail_name="part-00004")
        with (
            pytest.raises(StorageError, match=r"part-00004.*injected"),
            make_writer(backend, max_rows=100) as w,
        ):
            w.write_artifact("data", [pl.DataFrame({"id": list(range(1000))})])
            w.commit({})
        assert backend.list_files(PREFIX) == []
        assert read_committed(backend, PREFIX) is None


class TestDagsterResources:
    def test_s3_resource_carries_the_connection_without_secret_values(
        self, s3_endpoint, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        import dagster as dg

        from medallion_assets.cloud_resources import cloud_resources

        for name, value in s3_endpoint.env().items():
            monkeypatch.setenv(name, value)
        bucket = s3_endpoint.create_bucket()
        platform = _platform(
            bronze={"storage_backend": "s3", "s3_bucket": bucket},
            s3_connection={
                "endpoint_url_env": "MEDALLION_S3_ENDPOINT",
                "access_key_env": "AWS_ACCESS_KEY_ID",
                "secret_key_env": "AWS_SECRET_ACCESS_KEY",
                "region": "us-east-1",
            },
        )
        resources = cloud_resources(platform)
        assert set(resources) == {"s3"}
        assert resources["s3"].aws_secret_access_key == dg.EnvVar("AWS_SECRET_ACCESS_KEY")
        with dg.build_resources({"s3": resources["s3"]}) as built:  # as Dagster hands it to an asset
            client = built.s3  # S3Resource hands out the boto3 client
        client.put_object(Bucket=bucket, Key="from-resource.txt", Body=b"hi")
        assert client.get_object(Bucket=bucket, Key="from-resource.txt")["Body"].read() == b"hi"

    def test_adls2_resource_from_account_and_key(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from medallion_assets.cloud_resources import cloud_resources

        monkeypatch.setenv("ACC", "acct")
        monkeypatch.setenv("KEY", "k3y")
        platform = _platform(
            silver={"storage_backend": "azure", "azure_container": "lake"},
            azure_connection={"account_name_env": "ACC", "account_key_env": "KEY"},
        )
        resource = cloud_resources(platform)["adls2"]
        assert resource.storage_account == "acct"
        assert "k3y" not in repr(resource.credential)

    def test_adls2_resource_from_the_account_url(self) -> None:
        from medallion_assets.cloud_resources import cloud_resources

        platform = _platform(
            silver={"storage_backend": "azure", "azure_container": "lake"},
            azure_connection={
                "account_url": "https://acct.blob.core.chinacloudapi.cn",
                "use_default_credential": True,
            },
        )
        resource = cloud_resources(platform)["adls2"]
        assert (resource.storage_account, resource.endpoint_suffix) == ("acct", "core.chinacloudapi.cn")


def test_large_part_files_go_up_as_multipart_uploads(s3_endpoint, tmp_path) -> None:
    settings = S3Settings(endpoint_url=s3_endpoint.url, key="test", secret="test", region="us-east-1")
    backend = S3Backend(s3_endpoint.create_bucket(), "lake", settings, chunksize_mb=5)
    data = os.urandom(11 * 1024 * 1024)
    local = tmp_path / "big.parquet"
    local.write_bytes(data)
    backend.put_file(local, "big/part-00001.parquet")
    info = backend.fs.info(backend.full_path("big/part-00001.parquet"))
    assert info["ETag"].strip('"').endswith("-3")  # S3's ETag of a 3-part multipart upload
    assert backend.read_bytes("big/part-00001.parquet") == data


@pytest.mark.parametrize(
    ("layer", "match"),
    [
        (
            {"storage_backend": "s3", "s3_bucket": "lake", "options": {"upload_concurency": 2}},
            r"storage_backend 's3': unknown options key\(s\) upload_concurency; allowed: multipart_chunk",
        ),
        (
            {"storage_backend": "azure", "azure_container": "c", "options": {"retry": {"attempts": 2}}},
            r"options.retry: unknown key\(s\) attempts",
        ),
    ],
)
def test_bad_backend_options_are_clear_errors(layer, match) -> None:
    platform = _platform(bronze=layer, azure_connection={"connection_string_env": "AZ_CS_FOR_OPTIONS_TEST"})
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AZ_CS_FOR_OPTIONS_TEST", "UseDevelopmentStorage=true")
        with pytest.raises(StorageError, match=match):
            create_backend(platform.bronze, platform)
