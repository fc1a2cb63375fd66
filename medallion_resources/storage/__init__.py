"""Storage backends: where the lake's files live (local disk, object stores, memory for tests)."""

from __future__ import annotations

from medallion_resources.storage.base import FsspecBackend, StorageBackend, join_relpath
from medallion_resources.storage.local import LocalBackend
from medallion_resources.storage.registry import (
    ENTRY_POINT_GROUP,
    create_backend,
    register_backend,
    registered_backends,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "FsspecBackend",
    "LocalBackend",
    "StorageBackend",
    "create_backend",
    "join_relpath",
    "register_backend",
    "registered_backends",
]
