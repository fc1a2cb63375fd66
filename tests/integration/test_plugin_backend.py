"""A storage backend registered in code (on fsspec's ``memory://``), selected by name in YAML, runs the
whole sample lake: Bronze and Silver of every source, verified, equal to the same lake on local disk.

This is the walkthrough of docs/ADDING_STORAGE_BACKENDS.md, executed."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import ClassVar

import fsspec
import pytest
import yaml

from medallion_assets.config.models import LayerStorageConfig, PlatformConfig
from medallion_assets.lake import Lake
from medallion_assets.runner import materialize_partition
from medallion_resources.lake.read import read_artifact, verify_partition
from medallion_resources.storage import FsspecBackend, StorageBackend, register_backend
from medallion_resources.storage import registry as registry_module
from medallion_resources.storage.retry import policy_from_options
from medallion_resources.storage.wrappers import RetryingBackend
from tests.instances import cli_instance_for_test

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
DAYS = [date(2025, 1, 1), date(2025, 1, 2)]


class MemoryPluginBackend(FsspecBackend):
    """What a plugin writes: an FsspecBackend on its filesystem, with a name."""

    name: ClassVar[str] = "memfs"

    def __init__(self, root: str) -> None:
        super().__init__(fsspec.filesystem("memory"), f"memory://{root}")


def make_memfs(layer: LayerStorageConfig, platform: PlatformConfig) -> StorageBackend:
    root = layer.options.get("root")
    if not root:
        raise ValueError("storage_backend 'memfs' needs options.root")
    return RetryingBackend(MemoryPluginBackend(str(root)), policy_from_options(layer.options))


@pytest.fixture
def memfs_registered() -> Iterator[None]:
    saved = dict(registry_module.BACKENDS.members)
    register_backend("memfs", make_memfs)
    yield
    registry_module.BACKENDS.members.clear()
    registry_module.BACKENDS.members.update(saved)


@pytest.fixture
def instance(tmp_path: Path):
    (tmp_path / "instance").mkdir()
    with cli_instance_for_test(tmp_path / "instance") as inst:
        yield inst


def test_registered_memory_backend_runs_bronze_and_silver(
    memfs_registered: None, lake_env: dict[str, str], tmp_path: Path, instance
) -> None:
    root = f"/medallion-plugin-{uuid.uuid4().hex}"
    config_dir = tmp_path / "plugin-configs"
    shutil.copytree(REPO / "configs" / "sources", config_dir / "sources")
    platform = {
        "config_version": 1,
        "platform": {
            "bronze": {"storage_backend": "memfs", "options": {"root": f"{root}/bronze"}},
            "silver": {"storage_backend": "memfs", "options": {"root": f"{root}/silver"}},
            "defaults": {"partitions": {"start_date": "2025-01-01", "timezone": "UTC"}},
        },
    }
    (config_dir / "platform.yaml").write_text(yaml.safe_dump(platform))
    lake = Lake.load(config_dir)
    local = Lake.load(REPO / "configs")  # lake_env points it at tmp_path/lake
    assert isinstance(lake.bronze.backend.inner, MemoryPluginBackend)

    for day in DAYS:
        for name in lake.specs:
            for target in (lake, local):
                outcome = materialize_partition(
                    target, target.spec(name), day, ("bronze", "silver"), instance
                )
                assert outcome.error is None, outcome.error

    fs = fsspec.filesystem("memory")
    assert fs.find(root), "nothing was written to memory://"
    for name, spec in lake.specs.items():
        for layer in ("bronze", "silver"):
            for day in DAYS:
                part = lake.committed(spec, layer, day)
                assert part is not None and verify_partition(part) == []
                assert part.backend.uri(part.prefix).startswith(f"memory://{root}/{layer}/")
                ref = local.committed(local.spec(name), layer, day)
                for artifact in {f.artifact for f in ref.files()}:
                    got = read_artifact(part, artifact).drop("_extracted_at", strict=False)
                    want = read_artifact(ref, artifact).drop("_extracted_at", strict=False)
                    assert got.equals(want), (name, layer, day, artifact)
    fs.rm(root, recursive=True)
