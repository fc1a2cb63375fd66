"""The peer of ``benchmarks/silver.py command``: dlt's scd2 merge of one day's Parquet file into duckdb.

Runs in its own virtualenv (dlt is not a dependency of medallion)::

    python3 -m venv .venv-dlt && .venv-dlt/bin/pip install 'dlt[duckdb]' 'duckdb<2' polars pyarrow pandas
    .venv-dlt/bin/python benchmarks/dlt_scd2.py FILE.parquet WORKDIR

Incremental scd2 (``merge_key`` = the natural key, so keys absent from the day are not retired), with a
content hash of the data columns as ``row_version_column_name`` (dlt's ``_dlt_id`` would be random).
Prints the wall time of the run, from before ``import dlt`` to the end of the load, as JSON.
"""

from __future__ import annotations

import json
import sys
import time

started = time.perf_counter()

import dlt  # noqa: E402
import polars as pl  # noqa: E402


def main(path: str, workdir: str) -> None:
    frame = pl.read_parquet(path).drop("op", strict=False)
    data = [c for c in frame.columns if c not in ("id", "ts")]
    table = frame.with_columns(pl.concat_str(data, separator="\x1f").hash().cast(pl.String).alias("row_hash"))

    @dlt.resource(
        name="bench",
        write_disposition={"disposition": "merge", "strategy": "scd2", "row_version_column_name": "row_hash"},
        merge_key="id",
    )
    def rows():  # type: ignore[no-untyped-def]
        yield table.to_arrow()

    pipeline = dlt.pipeline(
        pipeline_name="bench",
        pipelines_dir=f"{workdir}/pipelines",
        destination=dlt.destinations.duckdb(f"{workdir}/lake.duckdb"),
        dataset_name="silver",
    )
    pipeline.run(rows())
    print(json.dumps({"wall": time.perf_counter() - started}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
