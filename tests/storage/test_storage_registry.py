"""The backend registry: built-ins, code registration and entry points."""

from __future__ import annotations

import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from medallion_assets.config.models import LayerStorageConfig, PlatformConfig
from medallion_assets.errors import StorageError, UnknownNameError
from medallion_resources.storage import (
    ENTRY_POINT_GROUP,
    FsspecBackend,
    LocalBackend,
    StorageBackend,
    create_backend,
    register_backend,
    registered_backends,
)
from medallion_resources.storage import registry as registry_module


def _platform(layer: LayerStorageConfig) -> PlatformConfig:
    return PlatformConfig(bronze=layer, silver=layer)


@pytest.fixture
def clean_registry() -> Iterator[None]:
    saved = dict(registry_module.BACKENDS.members)
    yield
    registry_module.BACKENDS.members.clear()
    registry_module.BACKENDS.members.update(saved)


def test_builtins_are_registered() -> None:
    assert {"local", "memory"} <= set(registered_backends())


def test_local_backend_from_config(tmp_path: Path) -> None:
    layer = LayerStorageConfig(storage_backend="local", local_path=str(tmp_path / "bronze"))
    backend = create_backend(layer, _platform(layer))
    assert isinstance(backend, LocalBackend)
    assert backend.root == str(tmp_path / "bronze")


def test_memory_backend_from_config() -> None:
    root = f"/reg-{uuid.uuid4().hex}"
    layer = LayerStorageConfig(storage_backend="memory", options={"root": root})
    backend = create_backend(layer, _platform(layer))
    assert isinstance(backend, FsspecBackend)
    assert backend.root == root
    assert backend.check().ok


def test_unknown_backend_lists_registered_names_and_the_entry_point_group() -> None:
    layer = LayerStorageConfig(storage_backend="ftp")
    with pytest.raises(StorageError, match=r"storage_backend 'ftp' is not registered") as info:
        create_backend(layer, _platform(layer))
    assert "local, memory" in str(info.value)
    assert ENTRY_POINT_GROUP in str(info.value)
    assert isinstance(info.value, UnknownNameError) and "local" in info.value.allowed  # the one shape


def test_register_backend_in_code(clean_registry: None, tmp_path: Path) -> None:
    made: list[LayerStorageConfig] = []

    def factory(layer: LayerStorageConfig, platform: PlatformConfig) -> StorageBackend:
        made.append(layer)
        return LocalBackend(tmp_path / str(layer.options["folder"]))

    register_backend("custom_disk", factory)
    layer = LayerStorageConfig(storage_backend="custom_disk", options={"folder": "x"})
    backend = create_backend(layer, _platform(layer))
    assert backend.uri() == (tmp_path / "x").as_uri()
    assert made == [layer]
    assert "custom_disk" in registered_backends()


def test_register_backend_needs_a_name() -> None:
    with pytest.raises(ValueError, match=r"non-empty string"):
        register_backend("", lambda layer, platform: LocalBackend("."))


def _write_plugin(site: Path, name: str, value: str) -> None:
    (site / "medallion_test_plugin.py").write_text(
        textwrap.dedent(
            """
            from medallion_resources.storage import LocalBackend

            def make(layer, platform):
                return LocalBackend(layer.options["root"])
            """
        )
    )
    dist = site / "medallion_test_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: medallion-test-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{name} = {value}\n")


def test_entry_point_backend_is_loaded_lazily(
    clean_registry: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    _write_plugin(site, "plugin_disk", "medallion_test_plugin:make")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(__import__("sys").modules, "medallion_test_plugin", raising=False)

    assert "plugin_disk" in registered_backends()
    assert "plugin_disk" not in registry_module.BACKENDS.members  # listed, not imported yet
    layer = LayerStorageConfig(storage_backend="plugin_disk", options={"root": str(tmp_path / "lake")})
    backend = create_backend(layer, _platform(layer))
    assert isinstance(backend, LocalBackend)
    assert backend.root == str(tmp_path / "lake")
    assert "plugin_disk" in registry_module.BACKENDS.members


def test_broken_entry_point_is_a_clear_error(
    clean_registry: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    _write_plugin(site, "broken_disk", "medallion_test_plugin:does_not_exist")
    monkeypatch.syspath_prepend(str(site))
    layer = LayerStorageConfig(storage_backend="broken_disk")
    with pytest.raises(StorageError, match=r"entry point 'medallion_test_plugin:does_not_exist'.*could not"):
        create_backend(layer, _platform(layer))
