"""A Dagster test instance on the storage ``medallion run`` uses, for tests that materialize many partitions.

``dg.instance_for_test`` keeps Dagster's SQLite event log, which opens and closes a connection for every
event: a test materializing a dozen partitions spent most of its time there (``test_downstream_assets``'
lake: 12 s against 4.9 s on this storage). ``cli_instance_for_test`` is the same temporary instance with
``medallion_assets.instance.storage_overrides``: the kept-connection event log and the stamped run and
schedule storages the CLI runs on (the UI's ``dagster dev`` reads the same files with Dagster's classes;
``tests/integration/test_cli_run.py`` and the end-to-end tests cover that both ways). Tests of Dagster's
own storage, or of an instance configured otherwise, keep ``dg.instance_for_test``.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

import dagster as dg

from medallion_assets.instance import storage_overrides


@contextlib.contextmanager
def cli_instance_for_test(temp_dir: Path | str | None = None) -> Iterator[dg.DagsterInstance]:
    """``dg.instance_for_test(temp_dir=...)`` on the CLI's storage (module docstring); a temporary
    folder of its own when ``temp_dir`` is None."""
    with contextlib.ExitStack() as stack:
        if temp_dir is None:
            temp_dir = stack.enter_context(tempfile.TemporaryDirectory())
        home = Path(temp_dir)
        yield stack.enter_context(dg.instance_for_test(temp_dir=str(home), overrides=storage_overrides(home)))
