"""The Arrow memory pool of a process that runs medallion's assets: jemalloc, unless the user chose one.

Each case is a fresh interpreter (Arrow has one default pool per process, and other tests' processes may
have set it) that loads the demo project's Definitions, as a code server or a ``medallion run`` does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

REPO = Path(__file__).resolve().parents[2]
LOAD = (
    "import pyarrow as pa; before = pa.default_memory_pool().backend_name; "
    "from medallion_assets.factory import load_definitions; load_definitions(); "
    "print(before, pa.default_memory_pool().backend_name)"
)
needs_jemalloc = pytest.mark.skipif(
    "jemalloc" not in pa.supported_memory_backends(), reason="this pyarrow has no jemalloc (Windows wheels)"
)


def pools(tmp_path: Path, **env: str) -> list[str]:
    environ = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    environ.update(MEDALLION_CONFIG_DIR=str(REPO / "configs"), MEDALLION_LAKE_DIR=str(tmp_path), **env)
    done = subprocess.run([sys.executable, "-c", LOAD], env=environ, capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.split()


@needs_jemalloc
def test_loading_the_definitions_makes_jemalloc_the_pool(tmp_path: Path) -> None:
    """pyarrow's own default (mimalloc) kept a streaming read's freed buffers: a JSON-lines extraction
    peaked ~190 MB above its start against ~140 MB on jemalloc, with more CPU (docs/performance.md)."""
    assert pools(tmp_path) == ["mimalloc", "jemalloc"]


@pytest.mark.parametrize("chosen", ["system", "mimalloc"])
def test_a_pool_chosen_in_the_environment_is_kept(tmp_path: Path, chosen: str) -> None:
    assert pools(tmp_path, ARROW_DEFAULT_MEMORY_POOL=chosen) == [chosen, chosen]
