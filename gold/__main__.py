"""Materialize the project's Gold assets for some days through Dagster, as ``make demo`` does after Bronze
and Silver::

    python -m gold --date 2025-01-01 [--end-date 2025-01-03]

Each day is one Dagster run on the persistent instance (``DAGSTER_HOME``, else ``./.dagster_home``), so
the runs and their metadata show in the UI like runs launched there. Prints one line per asset and day;
exit status 1 if one failed.
"""

import argparse
import sys
from datetime import date, timedelta

import dagster as dg

import gold
from medallion_assets.instance import dispose_instance, get_instance
from medallion_assets.runner import QUIET, user_message


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gold", description=__doc__.split("\n\n")[0])
    parser.add_argument("--date", required=True, type=date.fromisoformat)
    parser.add_argument("--end-date", type=date.fromisoformat)
    args = parser.parse_args(argv)
    from definitions import defs  # the project's code location: generated assets + Gold

    present = {spec.key for spec in defs.resolve_all_asset_specs()}
    keys = [asset.key for asset in gold.assets if asset.key in present]
    instance = get_instance()  # the instance the CLI and `make ui` share
    rows = [("asset", "date", "rows", "revenue", "status")]
    failed = False
    day = args.date
    while day <= (args.end_date or args.date):
        result = dg.materialize(
            list(defs.assets or []),
            selection=keys,
            partition_key=day.isoformat(),
            instance=instance,
            resources=dict(defs.resources or {}),
            run_config=QUIET,
            raise_on_error=False,
        )
        for event in result.get_asset_materialization_events():
            meta = event.materialization.metadata
            count, revenue = meta.get("dagster/row_count"), meta.get("revenue")
            rows.append(
                (
                    event.materialization.asset_key.to_user_string(),
                    day.isoformat(),
                    str(count.value if count is not None else "-"),
                    str(revenue.value if revenue is not None else "-"),
                    "ok",
                )
            )
        if not result.success:
            failed = True
            errors = [e.step_failure_data.error for e in result.all_events if e.is_step_failure]
            message = user_message(errors[0]) if errors and errors[0] else "run failed"
            rows.append(("gold", day.isoformat(), "-", "-", "FAILED"))
            print(f"{day}: {message}", file=sys.stderr)
        day += timedelta(days=1)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for index, row in enumerate(rows):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
        if index == 0:
            print("  ".join("-" * width for width in widths))
    dispose_instance()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
