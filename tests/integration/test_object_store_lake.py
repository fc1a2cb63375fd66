"""The sample lake on object storage, from config alone: Bronze on S3 and Silver on Azure, and the other
way round, with the sample source files themselves read from the object store (``s3://``, ``abfs://``).

Servers are real: moto's S3 server and Azurite (``tests/object_stores.py``). Every partition is
materialized through Dagster, verified against its manifest, compared with the same partitions on local
disk, and checked with the ``medallion`` CLI (``check``, ``verify``, a flipped byte).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import yaml
from object_stores import S3Endpoint

from medallion_assets.config.models import LayerStorageConfig, PlatformConfig
from medallion_assets.lake import Lake
from medallion_assets.runner import materialize_partition
from medallion_resources.errors import StorageError
from medallion_resources.lake.read import read_artifact, verify_partition
from medallion_resources.storage import StorageBackend, register_backend
from medallion_resources.storage import registry as registry_module
from medallion_resources.storage.azure import AzureBackend, AzureSettings
from medallion_resources.storage.retry import RetryPolicy
from medallion_resources.storage.s3 import S3Backend, S3Settings
from medallion_resources.storage.wrappers import FaultInjectingBackend, RetryingBackend
from tests.instances import cli_instance_for_test

pytestmark = [pytest.mark.slow, pytest.mark.services]
REPO = Path(__file__).resolve().parents[2]
MEDALLION = str(Path(sys.executable).parent / "medallion")
DAYS = [date(2025, 1, 1), date(2025, 1, 2)]
FAST_RETRIES = {"base_delay_seconds": 0.001, "max_delay_seconds": 0.01}
VOLATILE = ("_extracted_at", "_source_file")  # when it was read, and from where (s3:// vs a local path)


def upload_tree(backend, local: Path) -> None:
    for path in sorted(local.rglob("*")):
        if path.is_file():
            backend.fs.put_file(str(path), backend.full_path(path.relative_to(local).as_posix()))


# The sample sources that read files: the lake's sources here are read from s3:// and abfs:// too (the API and
# SQLite samples have their own tests and do not read from object storage).
FILE_SOURCES = ("retail.yaml", "inventory.yaml")


def copy_file_sources(config_dir: Path) -> None:
    (config_dir / "sources").mkdir(parents=True)
    for name in FILE_SOURCES:
        shutil.copy(REPO / "configs" / "sources" / name, config_dir / "sources" / name)


def write_platform(config_dir: Path, bronze: dict, silver: dict) -> None:
    copy_file_sources(config_dir)
    platform = {
        "config_version": 1,
        "platform": {
            "bronze": {**bronze, "output_defaults": {"max_rows_per_file": 400}},
            "silver": silver,
            "s3_connection": S3Endpoint.connection_config(),
            "azure_connection": {"connection_string_env": "AZURE_STORAGE_CONNECTION_STRING"},
            "defaults": {"partitions": {"start_date": "2025-01-01", "timezone": "UTC"}},
        },
    }
    (config_dir / "platform.yaml").write_text(yaml.safe_dump(platform))


@pytest.fixture
def stores(s3_endpoint, azurite_endpoint, monkeypatch: pytest.MonkeyPatch) -> dict:
    for name, value in {**s3_endpoint.env(), **azurite_endpoint.env()}.items():
        monkeypatch.setenv(name, value)
    return {"s3": s3_endpoint, "azure": azurite_endpoint}


@pytest.fixture
def instance(tmp_path: Path):
    (tmp_path / "instance").mkdir()
    with cli_instance_for_test(tmp_path / "instance") as inst:
        yield inst


@pytest.fixture(scope="module")
def reference(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lake]:
    """The same sources on local disk, materialized once per module, for comparison."""
    root = tmp_path_factory.mktemp("local-reference")
    (root / "instance").mkdir()
    saved = {k: os.environ.get(k) for k in ("MEDALLION_SAMPLE_DIR", "MEDALLION_LAKE_DIR")}
    os.environ.update(MEDALLION_SAMPLE_DIR=str(sample_dir), MEDALLION_LAKE_DIR=str(root / "lake"))
    config_dir = root / "configs"
    copy_file_sources(config_dir)
    shutil.copy(REPO / "configs" / "platform.yaml", config_dir / "platform.yaml")
    try:
        lake = Lake.load(config_dir)
    finally:
        for key, value in saved.items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)
    with cli_instance_for_test(root / "instance") as inst:
        for day in DAYS:
            for name in lake.specs:
                outcome = materialize_partition(lake, lake.spec(name), day, ("bronze", "silver"), inst)
                assert outcome.error is None, outcome.error
    yield lake


@pytest.mark.parametrize("layout", ["bronze_s3_silver_azure", "bronze_azure_silver_s3"])
def test_sample_lake_on_object_storage(
    layout: str,
    stores: dict,
    reference: Lake,
    sample_dir: Path,
    tmp_path: Path,
    instance,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s3, azure = stores["s3"], stores["azure"]
    bucket, container = s3.create_bucket(), azure.create_container()
    s3_layer = {"storage_backend": "s3", "s3_bucket": bucket, "s3_prefix": "lake/bronze"}
    azure_layer = {"storage_backend": "azure", "azure_container": container, "azure_prefix": "lake/silver"}
    if layout == "bronze_s3_silver_azure":
        bronze, silver = s3_layer, azure_layer
        landing = S3Backend(
            s3.create_bucket(), "", S3Settings(endpoint_url=s3.url, key="test", secret="test")
        )
        sample_url = f"s3://{landing.bucket}"
    else:
        bronze = {**azure_layer, "azure_prefix": "lake/bronze"}
        silver = {**s3_layer, "s3_prefix": "lake/silver"}
        landing = AzureBackend(azure.create_container(), "", AzureSettings(azure.connection_string))
        sample_url = f"abfs://{landing.container}"
    upload_tree(landing, sample_dir)
    config_dir = tmp_path / "configs"
    write_platform(config_dir, bronze, silver)
    monkeypatch.setenv("MEDALLION_SAMPLE_DIR", sample_url)
    monkeypatch.setenv("MEDALLION_CONFIG_DIR", str(config_dir))
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))

    lake = Lake.load(config_dir)
    assert isinstance(lake.bronze.backend, RetryingBackend) and isinstance(
        lake.silver.backend, RetryingBackend
    )
    for day in DAYS:
        for name in lake.specs:
            outcome = materialize_partition(lake, lake.spec(name), day, ("bronze", "silver"), instance)
            assert outcome.error is None, outcome.error

    for name, spec in lake.specs.items():
        for layer in ("bronze", "silver"):
            for day in DAYS:
                part = lake.committed(spec, layer, day)
                assert part is not None, (name, layer, day)
                assert verify_partition(part) == []
                assert part.backend.uri(part.prefix).startswith(("s3://", "abfs://"))
                ours = {f.artifact for f in part.files()}
                ref_part = reference.committed(reference.spec(name), layer, day)
                assert ours == {f.artifact for f in ref_part.files()}
                for artifact in ours:
                    got = read_artifact(part, artifact).drop("_extracted_at", "_source_file", strict=False)
                    want = read_artifact(ref_part, artifact).drop(
                        "_extracted_at", "_source_file", strict=False
                    )
                    key = [c for c in got.columns if not c.startswith("_") and got[c].dtype.is_numeric()][:1]
                    assert got.sort(key or got.columns).equals(want.sort(key or want.columns)), (
                        name,
                        artifact,
                    )

    part = lake.committed(lake.spec("retail_orders"), "bronze", DAYS[1])
    victim = part.relpath(part.files("data")[0])
    data = bytearray(part.backend.read_bytes(victim))
    data[-100] ^= 0x01
    part.backend.put_bytes(victim, bytes(data))
    if layout != "bronze_s3_silver_azure":
        problems = verify_partition(part)
        assert len(problems) == 1 and "SHA-256" in problems[0] and victim in problems[0]
        return

    # The CLI sees the same lake (a subprocess reading only the config): check and verify pass for Silver
    # (on Azure), and verify catches the flipped byte in Bronze (on S3).
    env = {**os.environ}
    checked = subprocess.run([MEDALLION, "check"], env=env, capture_output=True, text=True, timeout=300)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count("list, write, read and delete ok") == 2
    assert "AccountKey" not in checked.stdout + checked.stderr
    args = [MEDALLION, "verify", "retail_orders", "--date", "2025-01-02"]
    silver_ok = subprocess.run(
        [*args, "--layer", "silver"], env=env, capture_output=True, text=True, timeout=300
    )
    assert silver_ok.returncode == 0, silver_ok.stdout + silver_ok.stderr
    broken = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert broken.returncode == 1
    output = broken.stdout + broken.stderr
    assert "SHA-256" in output and victim.rsplit("/", 1)[-1] in output


def test_materializations_under_random_faults_equal_the_fault_free_lake(
    stores: dict, reference: Lake, sample_dir: Path, tmp_path: Path, instance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bronze and Silver of every sample source through Dagster on S3 with 25% of storage calls failing
    (before or after taking effect): retries absorb the faults, and every partition verifies and equals
    the fault-free local lake."""
    bucket = stores["s3"].create_bucket()
    injectors: list[FaultInjectingBackend] = []

    def faulty_s3(layer: LayerStorageConfig, platform: PlatformConfig) -> StorageBackend:
        inner = S3Backend(
            bucket, str(layer.options["prefix"]), S3Settings.from_config(platform.s3_connection)
        )
        injectors.append(FaultInjectingBackend(inner, rate=0.15, seed=len(injectors)))
        return RetryingBackend(injectors[-1], RetryPolicy(max_attempts=12, **FAST_RETRIES))

    saved = dict(registry_module.BACKENDS.members)
    register_backend("faulty_s3", faulty_s3)
    try:
        config_dir = tmp_path / "configs"
        write_platform(
            config_dir,
            {"storage_backend": "faulty_s3", "options": {"prefix": "bronze"}},
            {"storage_backend": "faulty_s3", "options": {"prefix": "silver"}},
        )
        monkeypatch.setenv("MEDALLION_SAMPLE_DIR", str(sample_dir))
        lake = Lake.load(config_dir)
        for day in DAYS:
            for name in lake.specs:
                outcome = materialize_partition(lake, lake.spec(name), day, ("bronze", "silver"), instance)
                assert outcome.error is None, outcome.error
        assert sum(i.injected for i in injectors) > 10
        clean = Lake.load(config_dir)  # fresh backends: read without faults
        for name, spec in clean.specs.items():
            for layer in ("bronze", "silver"):
                for day in DAYS:
                    part = clean.committed(spec, layer, day)
                    assert part is not None and verify_partition(part) == []
                    # The folder holds exactly its own listed files (data and deletes; a Silver day also
                    # lists files of the days before it, which stay in their own folders).
                    listed = {part.relpath(f) for f in part.manifest.files}
                    own = {p for p in listed if p.startswith(part.prefix + "/")}
                    assert all(part.backend.exists(p) for p in listed - own)
                    assert set(part.backend.list_files(part.prefix)) == own | {
                        f"{part.prefix}/_checksums.json",
                        f"{part.prefix}/_metadata.json",
                    }
                    ref = reference.committed(reference.spec(name), layer, day)
                    for artifact in {f.artifact for f in ref.files()}:
                        got = read_artifact(part, artifact).drop(VOLATILE, strict=False)
                        want = read_artifact(ref, artifact).drop(VOLATILE, strict=False)
                        assert got.equals(want), (name, layer, day, artifact)
    finally:
        registry_module.BACKENDS.members.clear()
        registry_module.BACKENDS.members.update(saved)


def test_a_bucket_or_container_that_does_not_exist_is_an_error_naming_it_not_an_empty_lake(
    stores: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """s3fs and adlfs report a missing bucket or container as a missing object or an empty listing, so a
    typo in ``s3_bucket`` read as a lake with nothing committed: ``verify`` said "not committed", ``read``
    "nothing is committed under s3://...", and a run failed with "The specified bucket does not exist",
    naming neither the bucket nor the setting."""
    s3, azure = stores["s3"], stores["azure"]
    bucket, container = s3.create_bucket(), azure.create_container()
    missing_bucket, missing_container = f"{bucket}-typo", f"{container}-typo"
    config_dir = tmp_path / "configs"
    write_platform(
        config_dir,
        {"storage_backend": "s3", "s3_bucket": missing_bucket, "s3_prefix": "lake/bronze"},
        {"storage_backend": "azure", "azure_container": missing_container, "azure_prefix": "lake/silver"},
    )
    env = {**os.environ, "MEDALLION_CONFIG_DIR": str(config_dir), "DAGSTER_HOME": str(tmp_path / "home")}
    verify = [MEDALLION, "verify", "retail_orders", "--date", "2025-01-01"]
    result = subprocess.run(verify, env=env, capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert f"the bucket '{missing_bucket}'" in output and "does not exist (s3_bucket)" in output, output
    assert "not committed" not in output, output
    assert "AccountKey" not in output and "test" not in output.replace(missing_bucket, "")

    silver = subprocess.run(
        [*verify, "--layer", "silver"], env=env, capture_output=True, text=True, timeout=300
    )
    output = silver.stdout + silver.stderr
    assert silver.returncode == 1, output
    assert f"the container '{missing_container}'" in output and "(azure_container)" in output, output
    assert "not committed" not in output and "AccountKey" not in output, output

    # The Python read API says the same, where it said "nothing is committed under s3://...".
    monkeypatch.setenv("MEDALLION_CONFIG_DIR", str(config_dir))
    import medallion_assets

    with pytest.raises(StorageError, match=rf"the bucket '{missing_bucket}' .*does not exist"):
        medallion_assets.read("retail_orders", layer="bronze")

    # A bucket that exists but holds nothing yet is still an empty lake, not an error.
    write_platform(
        tmp_path / "configs-ok",
        {"storage_backend": "s3", "s3_bucket": bucket, "s3_prefix": "lake/bronze"},
        {"storage_backend": "azure", "azure_container": container, "azure_prefix": "lake/silver"},
    )
    env["MEDALLION_CONFIG_DIR"] = str(tmp_path / "configs-ok")
    empty = subprocess.run(verify, env=env, capture_output=True, text=True, timeout=300)
    output = empty.stdout + empty.stderr
    assert empty.returncode == 1 and output.count("not committed") == 2 and "exist" not in output, output
