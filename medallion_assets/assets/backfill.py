"""How a backfill over many partitions is split into runs (DESIGN §7).

Bronze and Silver assets carry ``BackfillPolicy.multi_run(max_partitions_per_run=MAX_PARTITIONS_PER_RUN)``:
a backfill of N days runs in ceil(N / 31) runs, each processing its days in date order and committing each
partition on its own (see ``RangeOutput`` in ``medallion_resources.io_managers``). Silver reads its own
D-1, so Dagster runs the ranges of a Silver asset one after the other. A one-partition run (a schedule,
``medallion run``, the UI's "materialize" on one partition) is unchanged.
"""

from __future__ import annotations

import dagster as dg

__all__ = ["BACKFILL_POLICY", "MAX_PARTITIONS_PER_RUN"]

MAX_PARTITIONS_PER_RUN = 31
BACKFILL_POLICY = dg.BackfillPolicy.multi_run(max_partitions_per_run=MAX_PARTITIONS_PER_RUN)
