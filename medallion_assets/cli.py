"""The ``medallion`` command line (DESIGN §9).

``medallion [--config-dir DIR] VERB``: validate · check · list · schema · run · status · inspect · verify.
Every verb loads the config first; a bad config prints every issue and exits 1, never a traceback.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import click

from medallion_assets.errors import ConfigError, MedallionError
from medallion_assets.lake import LAYERS, Lake

__all__ = ["main"]


@dataclass
class CliState:
    config_dir: str | None

    def lake(self) -> Lake:
        return Lake.load(self.config_dir)


def _fail(message: str) -> None:
    click.secho(message, fg="red", err=True)
    sys.exit(1)


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn our own errors into one clear message and exit 1; deprecations are shown once, briefly."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                return fn(*args, **kwargs)
            except ConfigError as exc:
                _fail(str(exc))
            except (MedallionError, KeyError) as exc:
                _fail(f"error: {exc.args[0] if isinstance(exc, KeyError) else exc}")
            finally:
                _show_deprecations(caught)

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


def _show_deprecations(caught: list[warnings.WarningMessage]) -> None:
    seen: set[str] = set()
    for w in caught:
        text = str(w.message)
        if issubclass(w.category, DeprecationWarning) and text.startswith("[CFG") and text not in seen:
            seen.add(text)
            click.secho(f"warning: {text}", fg="yellow", err=True)


def partition_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """NAME --date D [--layer]: the arguments of the verbs that look at one source partition."""
    fn = handle_errors(fn)
    fn = click.pass_obj(fn)
    fn = click.option("--layer", type=click.Choice(LAYERS), help="Default: both layers.")(fn)
    fn = click.option("--date", "run_date", required=True, type=click.DateTime(["%Y-%m-%d"]))(fn)
    return click.argument("name")(fn)


@click.group()
@click.option(
    "--config-dir",
    type=click.Path(file_okay=False),
    envvar="MEDALLION_CONFIG_DIR",
    default=None,
    help="Folder of YAML configs (default: $MEDALLION_CONFIG_DIR or ./configs).",
)
@click.pass_context
def main(ctx: click.Context, config_dir: str | None) -> None:
    """medallion: YAML sources become partitioned Bronze and Silver Dagster assets."""
    ctx.obj = CliState(config_dir)


@main.command()
@click.pass_obj
@handle_errors
def validate(state: CliState) -> None:
    """Validate the config only; list every error, exit 1 if any."""
    lake = Lake.validated(state.config_dir)
    click.echo(
        f"config OK: {len(lake.specs)} source(s), "
        f"platform bronze={lake.config.platform.bronze.storage_backend} "
        f"silver={lake.config.platform.silver.storage_backend}"
    )


@main.command("list")
@click.pass_obj
@handle_errors
def list_sources(state: CliState) -> None:
    """List sources with their assets, load pattern and Silver model."""
    lake = state.lake()
    rows = [("source", "type", "load", "model", "bronze asset", "silver asset", "start")]
    for spec in lake.specs.values():
        rows.append(
            (
                spec.name,
                spec.entry.source.type,
                spec.load_pattern,
                spec.model,
                spec.bronze_key.to_user_string(),
                spec.silver_key.to_user_string(),
                spec.start_date.isoformat(),
            )
        )
    _print_table(rows)


@main.command()
def schema() -> None:
    """Print the JSON Schema of a config file (for editors)."""
    from medallion_assets.config.loader import config_json_schema

    click.echo(json.dumps(config_json_schema(), indent=2))


@main.command()
@click.pass_obj
@handle_errors
def check(state: CliState) -> None:
    """Validate, then connect to every storage backend and source without reading data."""
    from medallion_assets.extractors import create_extractor

    lake = state.lake()
    failures = 0
    for layer in LAYERS:
        result = lake.io(layer).backend.check()
        failures += not result.ok
        _status(result.ok, f"storage {layer}: {result.detail}")
    for spec in lake.specs.values():
        try:
            result = create_extractor(spec.entry, lake.config.platform).check()
        except (MedallionError, NotImplementedError) as exc:
            failures += 1
            _status(False, f"source {spec.name}: {exc}")
            continue
        failures += not result.ok
        _status(result.ok, f"source {spec.name}: {result.detail}")
    if failures:
        _fail(f"{failures} check(s) failed")


@main.command()
@click.option(
    "--date", "start", required=True, type=click.DateTime(["%Y-%m-%d"]), help="Run date (partition)."
)
@click.option(
    "--end-date", "end", type=click.DateTime(["%Y-%m-%d"]), help="Last run date of a range (inclusive)."
)
@click.option("--select", "select", multiple=True, help="Source name (repeatable; default: all).")
@click.option("--layer", type=click.Choice(LAYERS), help="Only this layer (default: Bronze then Silver).")
@click.pass_obj
@handle_errors
def run(state: CliState, start: Any, end: Any, select: tuple[str, ...], layer: str | None) -> None:
    """Materialize sources for a date or a date range through Dagster, showing progress."""
    from medallion_assets.runner import materialize_partition

    lake = state.lake()
    specs = [lake.spec(name) for name in select] if select else list(lake.specs.values())
    first, last = start.date(), (end or start).date()
    if last < first:
        _fail("error: --end-date is before --date")
    dates = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    instance = _instance()
    layers = (layer,) if layer else LAYERS
    summary: list[tuple[str, ...]] = [("source", "date", "layer", "rows", "files", "status")]
    failed = committed = 0
    total = len(specs) * len(dates)
    step = 0
    for run_date in dates:
        for spec in specs:
            step += 1
            prefix = f"[{step}/{total}] {spec.name} {run_date}"
            if run_date < spec.start_date:
                click.echo(f"{prefix}: skipped (partitions start {spec.start_date})")
                continue
            began = time.monotonic()
            outcome = materialize_partition(lake, spec, run_date, layers, instance)
            seconds = time.monotonic() - began
            committed += len(outcome.layers)
            for lyr, info in outcome.layers.items():
                summary.append((spec.name, str(run_date), lyr, str(info.rows), str(info.files), "ok"))
            parts = ", ".join(
                f"{lyr} {i.rows} rows/{i.files} files"
                + (f"/{i.quarantined} quarantined" if i.quarantined else "")
                for lyr, i in outcome.layers.items()
            )
            if outcome.error:
                failed += 1
                lyr = outcome.failed_layer or "?"
                summary.append((spec.name, str(run_date), lyr, "-", "-", "FAILED"))
                # What did commit comes first, so a failed day does not hide the layers it committed.
                done = f"{parts} committed; " if parts else ""
                not_run = (
                    [x for x in layers[layers.index(lyr) + 1 :] if x not in outcome.layers]
                    if lyr in layers
                    else []
                )
                skipped = f"; {', '.join(not_run)} not run" if not_run else ""
                click.secho(
                    f"{prefix}: {done}{lyr} FAILED ({seconds:.1f}s): {outcome.error}{skipped}",
                    fg="red",
                    err=True,
                )
            else:
                click.echo(f"{prefix}: {parts} ({seconds:.1f}s)")
    click.echo("")
    _print_table(summary)
    if failed:
        _fail(f"{failed} partition run(s) failed; {committed} layer partition(s) committed")


@main.command()
@click.argument("name")
@click.option("--start", type=click.DateTime(["%Y-%m-%d"]), help="First day (default: the start date).")
@click.option("--end", type=click.DateTime(["%Y-%m-%d"]), help="Last day (default: the last one seen).")
@click.pass_obj
@handle_errors
def status(state: CliState, name: str, start: Any, end: Any) -> None:
    """Per day: Bronze and Silver committed, stale or failed; exit 1 if any day is stale or failed."""
    from medallion_assets.status import day_statuses

    lake = state.lake()
    spec = lake.spec(name)
    first, last = (start.date() if start else None), (end.date() if end else None)
    if first and last and last < first:
        _fail("error: --end is before --start")
    days = day_statuses(spec, lake.bronze, lake.silver, _instance(), first, last)
    rows = [("date", "bronze", "silver", "note")]
    rows += [(str(d.day), d.bronze, d.silver, "; ".join(d.notes)) for d in days]
    _print_table(rows)
    problems = [d for d in days if d.problem]
    if problems:
        stale = [d.day for d in problems if d.silver == "stale"]
        if stale:
            click.echo(
                f"\nrepair: medallion run --date {min(stale)} --end-date {max(stale)} "
                f"--select {spec.name} --layer silver"
            )
        _fail(f"{len(problems)} day(s) stale or failed")


@main.command()
@partition_options
def inspect(state: CliState, name: str, run_date: Any, layer: str | None) -> None:
    """Show a partition's manifest, metadata and row counts."""
    from medallion_resources.io_managers import artifact_row_counts
    from medallion_resources.lake.layout import ERRORS_ARTIFACT
    from medallion_resources.lake.leftovers import find_leftovers

    lake = state.lake()
    spec = lake.spec(name)
    for lyr in (layer,) if layer else LAYERS:
        part = lake.committed(spec, lyr, run_date.date())
        click.secho(
            f"== {lyr} {spec.name} {run_date.date()} ({lake.partition_uri(spec, lyr, run_date.date())})",
            bold=True,
        )
        io = lake.io(lyr)
        prefix = io.partition_prefix(lake.dataset_path(spec, lyr), str(run_date.date()))
        leftovers = find_leftovers(io.backend, prefix, older_than=part.committed_time if part else None)
        if leftovers:  # temp files of killed writers of this dataset: the next commit removes them
            click.echo(f"leftovers: {len(leftovers)} temp file(s) of killed runs, removed at the next commit")
            for leftover in leftovers:
                click.echo(f"  {leftover.describe()}")
        if part is None:
            click.echo("not committed")
            continue
        m = part.manifest
        counts = artifact_row_counts(m)
        main = lake.main_artifact(spec, lyr)
        # The same figures as the materialization's dagster/partition_row_count, row_count/*, quarantined.
        per_artifact = ", ".join(f"{a} {n}" for a, n in counts.items() if a != ERRORS_ARTIFACT)
        click.echo(
            f"committed_at {m.committed_at}  run_id {m.run_id}  manifest {m.sha256[:16]}\n"
            f"rows {counts.get(main, 0)} ({main})  per artifact: {per_artifact or 'none'}  "
            f"quarantined {counts.get(ERRORS_ARTIFACT, 0)}"
        )
        rows = [("artifact", "file", "rows", "bytes", "sha256")]
        rows += [(f.artifact, f.path, str(f.row_count), str(f.size_bytes), f.sha256[:16]) for f in m.files]
        _print_table(rows)
        click.echo(json.dumps(part.metadata, indent=2, sort_keys=True, default=str))


@main.command()
@partition_options
def verify(state: CliState, name: str, run_date: Any, layer: str | None) -> None:
    """Re-hash a partition's files against its manifest; exit 1 on any mismatch."""
    from medallion_resources.lake.read import verify_partition

    lake = state.lake()
    spec = lake.spec(name)
    problems = 0
    for lyr in (layer,) if layer else LAYERS:
        part = lake.committed(spec, lyr, run_date.date())
        if part is None:
            problems += 1
            _status(False, f"{lyr} {spec.name} {run_date.date()}: not committed")
            continue
        issues = verify_partition(part)
        problems += len(issues)
        for issue in issues:
            _status(False, f"{lyr} {spec.name} {run_date.date()}: {issue}")
        if not issues:
            _status(True, f"{lyr} {spec.name} {run_date.date()}: {len(part.manifest.files)} file(s) verified")
    if problems:
        _fail(f"{problems} problem(s) found")


# --- helpers ----------------------------------------------------------------------------------------------


def _instance() -> Any:
    """The persistent Dagster instance (:func:`medallion_assets.instance.cli_instance`)."""
    from medallion_assets.instance import cli_instance

    return cli_instance()


def _status(ok: bool, text: str) -> None:
    click.secho(("ok    " if ok else "FAIL  ") + text, fg=None if ok else "red", err=not ok)


def _print_table(rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for index, row in enumerate(_format(rows, widths)):
        click.echo(row)
        if index == 0:
            click.echo("  ".join("-" * w for w in widths))


def _format(rows: Sequence[tuple[str, ...]], widths: list[int]) -> Iterator[str]:
    for row in rows:
        yield "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()


if __name__ == "__main__":
    main()
