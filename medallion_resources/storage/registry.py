"""One registry of storage backends, keyed by ``storage_backend``; plugins register into it.

The registry has the one shape of every plugin family (``medallion_resources.plugins.Registry``); its
members are *factories*, ``(LayerSettings, PlatformSettings) -> StorageBackend``, so a backend can read its
own settings (bucket, prefix, connection env vars, ``options``) from the config.
Built in: ``local``, ``s3`` (``medallion_resources.storage.s3``), ``azure``
(``medallion_resources.storage.azure``) and ``memory`` (fsspec's in-process filesystem, for tests).
Plugins either call ``register_backend`` or publish an entry point in the ``medallion.storage_backends``
group whose object is a factory; entry points are only imported when their name is asked for::

    [project.entry-points."medallion.storage_backends"]
    minio = "my_package.storage:make_minio_backend"
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import fsspec

from medallion_resources.errors import StorageError, UnknownNameError
from medallion_resources.plugins import EntryPointError, Registry
from medallion_resources.storage.base import FsspecBackend, StorageBackend
from medallion_resources.storage.local import LocalBackend
from medallion_resources.storage.settings import LayerSettings, PlatformSettings

__all__ = [
    "BACKENDS",
    "ENTRY_POINT_GROUP",
    "BackendFactory",
    "UnknownBackendError",
    "create_backend",
    "register_backend",
    "registered_backends",
]

ENTRY_POINT_GROUP = "medallion.storage_backends"

BackendFactory = Callable[[LayerSettings, PlatformSettings], StorageBackend]


class UnknownBackendError(StorageError, UnknownNameError):
    """``storage_backend`` names no registered backend: a storage error that carries the allowed names."""

    def __init__(self, name: str, allowed: list[str]) -> None:
        UnknownNameError.__init__(self, "storage_backend", name, allowed, known="registered backends")
        self.args = (
            f"storage_backend '{name}' is not registered; registered backends: {', '.join(self.allowed)}. "
            "Plugins register with medallion_resources.storage.register_backend() or an entry point in "
            f"the '{ENTRY_POINT_GROUP}' group",
        )


class _BackendRegistry(Registry[BackendFactory]):
    """The registry shape, for a family whose members are factories; its errors are storage errors."""

    def _accept(self, found: object, name: str, where: str) -> BackendFactory:
        if not callable(found):
            raise StorageError(
                f"{where} is not callable; it must be a factory (LayerSettings, PlatformSettings) -> "
                "StorageBackend"
            )
        return cast(BackendFactory, found)

    def _unknown(self, name: str) -> Exception:
        return UnknownBackendError(name, self.names())

    def _plugin_error(self, name: str, exc: EntryPointError) -> Exception:
        return StorageError(
            f"storage_backend '{name}': entry point '{exc.value}' in group '{ENTRY_POINT_GROUP}' "
            f"could not be loaded: {exc.reason}"
        )


# A later registration of a name replaces the earlier one (a project may swap a built-in backend).
BACKENDS = _BackendRegistry(
    key="storage_backend", group=ENTRY_POINT_GROUP, known="registered backends", replace=True
)


def register_backend(name: str, factory: BackendFactory) -> None:
    """Make ``factory`` build the backend selected by ``storage_backend: <name>`` (replacing any)."""
    BACKENDS.register(factory, name)


def registered_backends() -> list[str]:
    """Names usable as ``storage_backend``: registered ones and not-yet-loaded entry points, sorted."""
    return BACKENDS.names()


def create_backend(layer: LayerSettings, platform: PlatformSettings) -> StorageBackend:
    """Build the backend of one layer from its ``storage_backend`` name."""
    return BACKENDS.get(layer.storage_backend)(layer, platform)


def _local(layer: LayerSettings, platform: PlatformSettings) -> StorageBackend:
    if not layer.local_path:
        raise StorageError("storage_backend 'local' needs 'local_path'")
    return LocalBackend(layer.local_path)  # relative paths resolve against the current folder


def _memory(layer: LayerSettings, platform: PlatformSettings) -> StorageBackend:
    return FsspecBackend(fsspec.filesystem("memory"), root=str(layer.options.get("root", "/medallion")))


def _s3(layer: LayerSettings, platform: PlatformSettings) -> StorageBackend:
    from medallion_resources.storage.s3 import make_s3_backend  # s3fs is imported only when used

    return make_s3_backend(layer, platform)


def _azure(layer: LayerSettings, platform: PlatformSettings) -> StorageBackend:
    from medallion_resources.storage.azure import make_azure_backend  # adlfs is imported only when used

    return make_azure_backend(layer, platform)


register_backend("local", _local)
register_backend("memory", _memory)
register_backend("s3", _s3)
register_backend("azure", _azure)
