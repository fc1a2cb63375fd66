"""Fixtures of the storage tests: real folders under tmp_path and fsspec's in-process memory filesystem."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import fsspec
import pytest

from medallion_resources.lake.commit import PartitionWriter
from medallion_resources.lake.parts import PartSettings
from medallion_resources.storage import FsspecBackend, LocalBackend, StorageBackend

PREFIX = "system=crm/table=users/dt=2026-01-31"


@pytest.fixture
def local_backend(tmp_path: Path) -> LocalBackend:
    return LocalBackend(tmp_path / "lake")


@pytest.fixture
def memory_backend() -> Iterator[FsspecBackend]:
    fs = fsspec.filesystem("memory")
    root = f"/medallion-test-{uuid.uuid4().hex}"
    yield FsspecBackend(fs, root)
    if fs.exists(root):
        fs.rm(root, recursive=True)


@pytest.fixture(params=["local", "memory"])
def backend(request: pytest.FixtureRequest) -> StorageBackend:
    return request.getfixturevalue(f"{request.param}_backend")


def _make_writer(
    backend: StorageBackend,
    prefix: str = PREFIX,
    *,
    max_rows: int = 1000,
    max_file_size_mb: float = 64.0,
    run_id: str = "run-1",
    layer: str = "bronze",
) -> PartitionWriter:
    return PartitionWriter(
        backend,
        prefix,
        layer=layer,
        dataset="system=crm/table=users",
        run_date="2026-01-31",
        run_id=run_id,
        output=PartSettings(max_rows_per_file=max_rows, max_file_size_mb=max_file_size_mb),
    )


WriterFactory = Callable[..., PartitionWriter]


@pytest.fixture
def make_writer() -> WriterFactory:
    """``make_writer(backend, prefix=PREFIX, *, max_rows=1000, ...)``: a PartitionWriter of PREFIX."""
    return _make_writer
