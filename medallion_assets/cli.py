"""The ``medallion`` command line (DESIGN §9).

``medallion [--config-dir DIR | --component DEFS_YAML] VERB``: validate · check · list · schema · plan · run ·
status · inspect · verify. Every verb loads the config first; a bad config prints every issue and exits 1,
never a traceback. ``--component`` reads a dg component's config and translation (its asset keys).

The module imports click only: ``--help``, ``validate``, ``list`` and ``schema`` never load Dagster (it is
imported by the verbs that run or read runs), so they answer in a fraction of a second.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import click

from medallion_assets.cli_options import (
    DATE,
    GreedyCommand,
    MedallionGroup,
    fail,
    handle_errors,
    json_option,
    partition_options,
    print_version,
    startup_done,
)
from medallion_resources.errors import MedallionError
from medallion_resources.lake.layout import LAYERS

if TYPE_CHECKING:
    from medallion_assets.lake import Lake
    from medallion_assets.runner import DayOutcome
    from medallion_assets.specs import SourceSpec

__all__ = ["main"]

# Dagster's storage imports alembic, whose error templates (mako) load every pygments lexer when pygments is
# installed (rich brings it): a tenth of a second per command for HTML error pages nothing here renders.
sys.modules.setdefault("mako.ext.pygmentplugin", None)  # type: ignore[arg-type]


@dataclass
class CliState:
    config_dir: str | None
    component: str | None = None

    def lake(self) -> Lake:
        from medallion_assets.lake import Lake

        lake = Lake.from_component(self.component) if self.component else Lake.load(self.config_dir)
        startup_done()
        return lake


@click.group(cls=MedallionGroup)
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=print_version,
    help="Show the versions of medallion, Dagster and Python, and exit.",
)
@click.option(
    "--config-dir",
    type=click.Path(file_okay=False),
    envvar="MEDALLION_CONFIG_DIR",
    default=None,
    help="Folder of YAML configs (default: $MEDALLION_CONFIG_DIR or ./configs).",
)
@click.option(
    "--component",
    type=click.Path(exists=True),
    envvar="MEDALLION_COMPONENT",
    default=None,
    help="A dg project's MedallionSources defs.yaml (or its folder): its config and translated asset keys "
    "(default: $MEDALLION_COMPONENT; instead of --config-dir).",
)
@click.pass_context
def main(ctx: click.Context, config_dir: str | None, component: str | None) -> None:
    """medallion: YAML sources become partitioned Bronze and Silver Dagster assets."""
    if (
        component
        and config_dir
        and ctx.get_parameter_source("config_dir") == click.core.ParameterSource.COMMANDLINE
    ):
        fail("error: --component and --config-dir: give one (the component names its own config)")
    ctx.obj = CliState(config_dir, component)


@main.command()
@click.pass_obj
@handle_errors
def validate(state: CliState) -> None:
    """Validate the config only; list every error, exit 1 if any."""
    from medallion_assets.lake import Lake

    lake = Lake.validated(state.config_dir, component=state.component)
    click.echo(
        f"config OK: {len(lake.specs)} source(s), "
        f"platform bronze={lake.config.platform.bronze.storage_backend} "
        f"silver={lake.config.platform.silver.storage_backend}"
    )


@main.command("list")
@json_option
@click.pass_obj
@handle_errors
def list_sources(state: CliState, as_json: bool) -> None:
    """List sources with their assets, load pattern and Silver model."""
    lake = state.lake()
    sources = [
        {
            "name": spec.name,
            "type": spec.entry.source.type,
            "load_pattern": spec.load_pattern,
            "model": spec.model,
            "stateful": spec.stateful,
            "bronze_asset": "/".join(spec.key_path("bronze")),
            "silver_asset": "/".join(spec.key_path("silver")),
            "start_date": spec.start_date.isoformat(),
            "job": spec.job_name,
        }
        for spec in lake.specs.values()
    ]
    if as_json:
        click.echo(json.dumps(sources, indent=2))
        return
    columns = ("name", "type", "load_pattern", "model", "bronze_asset", "silver_asset", "start_date")
    header = ("source", "type", "load", "model", "bronze asset", "silver asset", "start")
    _table([header, *[tuple(str(s[c]) for c in columns) for s in sources]])


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
        fail(f"{failures} check(s) failed")


def _range(start: Any, end: Any) -> tuple[date, date]:
    first, last = start.date(), (end or start).date()
    if last < first:
        fail("error: --end-date is before --date")
    return first, last


def _outside(spec: SourceSpec, first: date, last: date, verb: str = "run") -> str:
    """Why no day of ``first..last`` is a partition of the source."""
    from medallion_assets.plan import last_partition

    span = str(first) if first == last else f"{first}..{last}"
    if last < spec.start_date:
        return f"error: {spec.name}: nothing to {verb}, {span} is before its start date {spec.start_date}"
    if spec.start_date > last_partition(spec):
        return (
            f"error: {spec.name}: nothing to {verb}, {span} is not over yet: the source starts on "
            f"{spec.start_date}, its first partition exists once that day is over in "
            f"{spec.partitions.timezone}"
        )
    return (
        f"error: {spec.name}: nothing to {verb}, {span} is after its last partition {last_partition(spec)} "
        f"(a day's partition exists once the day is over in {spec.partitions.timezone}; "
        "partitions.end_offset: 1 adds today's)"
    )


@main.command()
@click.argument("name")
@click.option("--date", "start", required=True, type=DATE, help="First run date of the range.")
@click.option("--end-date", "end", type=DATE, help="Last run date of the range (inclusive).")
@click.option("--layer", type=click.Choice(LAYERS), help="Only this layer (default: Bronze then Silver).")
@json_option
@click.pass_obj
@handle_errors
def plan(state: CliState, name: str, start: Any, end: Any, layer: str | None, as_json: bool) -> None:
    """Show what a run (or a UI backfill) of NAME over a range would do, without running anything."""
    from medallion_assets.plan import plan_range

    lake = state.lake()
    spec = lake.spec(name)
    first, last = _range(start, end)
    result = plan_range(lake, spec, first, last, (layer,) if layer else LAYERS)
    if result is None:
        fail(_outside(spec, first, last))
        return
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
    else:
        from medallion_assets.cli_display import print_plan

        print_plan(result, click.echo)


@main.command(cls=GreedyCommand)
@click.option("--date", "start", required=True, type=DATE, help="Run date (partition).")
@click.option("--end-date", "end", type=DATE, help="Last run date of a range (inclusive).")
@click.option(
    "--select",
    "select",
    multiple=True,
    help="Source names or patterns: --select a b c, a,b or 'retail_*' (default: all sources).",
)
@click.option("--layer", type=click.Choice(LAYERS), help="Only this layer (default: Bronze then Silver).")
@click.pass_obj
@handle_errors
def run(state: CliState, start: Any, end: Any, select: tuple[str, ...], layer: str | None) -> None:
    """Materialize sources for a date or a date range through Dagster, showing progress.

    One Dagster run of <source>_job per source per up to 31 days, each day committed on its own.
    """
    from medallion_assets.plan import clip_to_partitions

    lake = state.lake()
    specs, named = _selected(lake, select)
    first, last = _range(start, end)
    layers = (layer,) if layer else LAYERS
    ranges: dict[str, tuple[date, date]] = {}
    not_started = []  # not selected by name, and starting after the range: nothing of it is due
    for spec in specs:
        clipped = clip_to_partitions(spec, first, last)
        if clipped is None and spec.name not in named and last < spec.start_date:
            click.echo(f"{spec.name}: starts on {spec.start_date}, after {last}: left out")
            not_started.append(spec.name)
            continue
        if clipped is None:
            click.secho(_outside(spec, first, last), fg="red", err=True)
            continue
        ranges[spec.name] = clipped
        if clipped[0] > first:
            click.echo(f"{spec.name}: partitions start {spec.start_date}; the days before it are left out")
        if clipped[1] < last:
            click.echo(
                f"{spec.name}: its last partition is {clipped[1]}; the days after it are left out (not over "
                f"yet in {spec.partitions.timezone})"
            )
    if not ranges:
        sys.exit(1)
    _warn_stale_state(lake, [s for s in specs if s.name in ranges], ranges, layers)
    outcomes, interrupted = _run_sources(lake, [s for s in specs if s.name in ranges], ranges, layers)
    from medallion_assets.cli_display import summary_rows

    click.echo("")
    _table(summary_rows(outcomes, layers))
    failed = sum(not o.ok for _, o in outcomes)
    committed = sum(len(o.committed) for _, o in outcomes)
    if interrupted:
        click.secho(
            f"interrupted: {committed} layer partition(s) committed, {failed} partition run(s) failed; "
            "the days and sources after it were not run",
            fg="red",
            err=True,
        )
        sys.exit(130)  # the shell's code for a command stopped by SIGINT
    if failed:
        fail(f"{failed} partition run(s) failed; {committed} layer partition(s) committed")
    if len(ranges) + len(not_started) < len(specs):
        fail(f"{len(specs) - len(ranges) - len(not_started)} source(s) had nothing to run in {first}..{last}")


def _selected(lake: Lake, select: Sequence[str]) -> tuple[list[SourceSpec], set[str]]:
    """The sources ``--select`` picks, in the order given, and those it names (not by a pattern).

    Each value is a name, several separated by commas (``a,b``, Dagster's form), or a shell-style pattern
    (``retail_*``, ``s?ap``); none: every source. A name no source has, or a pattern no source matches, is
    an error naming the sources."""
    from fnmatch import fnmatchcase

    if not select:
        return list(lake.specs.values()), set()
    picked: dict[str, SourceSpec] = {}
    named: set[str] = set()
    for value in (part.strip() for arg in select for part in arg.split(",") if part.strip()):
        if not any(c in value for c in "*?["):
            picked.setdefault(value, lake.spec(value))
            named.add(value)
            continue
        matched = [spec for name, spec in sorted(lake.specs.items()) if fnmatchcase(name, value)]
        if not matched:
            known = ", ".join(sorted(lake.specs)) or "none"
            raise KeyError(f"no source matches '{value}' (sources: {known})")
        for spec in matched:
            picked.setdefault(spec.name, spec)
    return list(picked.values()), named


def _warn_stale_state(
    lake: Lake, specs: list[SourceSpec], ranges: dict[str, tuple[date, date]], layers: tuple[str, ...]
) -> None:
    """Say so (as ``plan`` does) when a stateful source's range builds on a stale Silver day, or when the
    range replaces committed days that later committed Silver days were built on. The run goes on: what
    it leaves stale ``status`` lists, and the command printed here (``status``'s repair) rebuilds it."""
    from medallion_assets.plan import plan_range, replaces_committed

    for spec in specs:
        if not spec.stateful and (
            "silver" in layers or not replaces_committed(lake, spec, *ranges[spec.name], layers)
        ):
            continue  # a model reading Bronze D only goes stale only when Bronze D is committed again alone
        try:
            planned = plan_range(lake, spec, *ranges[spec.name], layers)
        except MedallionError as exc:  # a damaged commit: the run (which may be its repair) goes on
            click.secho(f"{spec.name}: not checked for stale days: {exc}", fg="yellow", err=True)
            continue
        if planned is not None and planned.stale:  # the stale state is the first problem plan lists
            click.secho(f"{spec.name}: {planned.problems[0]}", fg="yellow", err=True)
            click.secho(f"  repair: {planned.repair}", fg="yellow", err=True)
        if planned is not None and planned.afterwards:
            click.secho(f"{spec.name}: {planned.afterwards}", fg="yellow", err=True)
            click.secho(f"  then: {planned.follow_up}", fg="yellow", err=True)


def _run_sources(
    lake: Lake, specs: list[SourceSpec], ranges: dict[str, tuple[date, date]], layers: tuple[str, ...]
) -> tuple[list[tuple[SourceSpec, DayOutcome]], bool]:
    """Every source's days through Dagster, on one instance in this process, with live progress; and
    whether Ctrl-C stopped it (the run it reached failed, and nothing after it ran)."""
    from medallion_assets.cli_display import RunDisplay
    from medallion_assets.instance import get_instance
    from medallion_assets.runner import SourceRunner

    instance = get_instance()
    startup_done()  # Dagster's storage stack is imported now too
    runner = SourceRunner(lake, instance, layers)
    display = RunDisplay({name: (b - a).days + 1 for name, (a, b) in ranges.items()}, layers)
    interrupted = False
    try:
        with display:
            for spec in specs:
                runner.run(spec, *ranges[spec.name], display)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        display.close()
    click.echo(f"{len(runner.run_ids)} Dagster run(s) on {instance.root_directory}")
    return display.outcomes, interrupted


@main.command()
@click.argument("name")
@click.option("--start", type=DATE, help="First day (default: the start date).")
@click.option("--end", type=DATE, help="Last day (default: the last one seen).")
@json_option
@click.pass_obj
@handle_errors
def status(state: CliState, name: str, start: Any, end: Any, as_json: bool) -> None:
    """Per day: Bronze and Silver committed, stale or failed; exit 1 if a day is stale, failed or a gap."""
    from medallion_assets.instance import get_instance
    from medallion_assets.plan import clip_to_partitions, last_partition
    from medallion_assets.status import day_statuses, repair_range

    lake = state.lake()
    spec = lake.spec(name)
    first, last = (start.date() if start else None), (end.date() if end else None)
    if first and last and last < first:
        fail("error: --end is before --start")
    if first or last:  # a range asked for: its days that are partitions (over, from the start date on)
        asked = (first or spec.start_date, last or max(first or spec.start_date, last_partition(spec)))
        clipped = clip_to_partitions(spec, *asked)
        if clipped is None:
            fail(_outside(spec, *asked, verb="list"))
            return
        if last and clipped[1] < last:
            click.echo(
                f"{spec.name}: its last partition is {clipped[1]}; the days after it are left out (not over "
                f"yet in {spec.partitions.timezone})"
            )
            last = clipped[1]
    days = day_statuses(spec, lake.bronze, lake.silver, get_instance(), first, last)
    problems = [d for d in days if d.problem]
    repair = None
    span = repair_range(days, stateful=spec.stateful)
    if problems and first is not None and first > spec.start_date and spec.stateful:
        # The repair of a stateful model may have to start before --start (the Silver days it builds on).
        every_day = day_statuses(spec, lake.bronze, lake.silver, get_instance(), None, days[-1].day)
        span = repair_range(every_day, stateful=True, since=first)
    if span is not None:
        repair_first, repair_last, silver_only = span
        repair = f"medallion run --date {repair_first} --end-date {repair_last} --select {spec.name}"
        repair += " --layer silver" if silver_only else ""
    if as_json:
        rows = [{"date": str(d.day), "bronze": d.bronze, "silver": d.silver, "notes": d.notes} for d in days]
        listing = {"source": spec.name, "start_date": str(spec.start_date), "days": rows}
        click.echo(json.dumps({**listing, "problems": len(problems), "repair": repair}))
    elif not days and spec.start_date > last_partition(spec):
        click.echo(f"{spec.name} starts on {spec.start_date}: no day is due yet")
    else:
        _table(
            [
                ("date", "bronze", "silver", "note"),
                *[(str(d.day), d.bronze, d.silver, "; ".join(d.notes)) for d in days],
            ]
        )
        if repair:
            click.echo(f"\nrepair: {repair}")
    if lake.translation is None:
        _runs_elsewhere(spec, get_instance())
    if problems:
        fail(f"{len(problems)} day(s) stale, failed or never loaded (a gap)")


def _runs_elsewhere(spec: SourceSpec, instance: Any) -> None:
    """Say so when the instance holds the source's assets under other keys (a dg component's prefix)."""
    from medallion_assets.status import keys_elsewhere

    others = keys_elsewhere(instance, spec)
    if others:
        names = ", ".join(key.to_user_string() for key in others)
        click.secho(
            f"note: the instance also has {names}, the same source under a dg component's translation; "
            f"these days are of {'/'.join(spec.key_path('bronze'))} and {'/'.join(spec.key_path('silver'))} "
            f"only: run `medallion --component PATH/defs.yaml status {spec.name}` to see the runs under it",
            fg="yellow",
            err=True,
        )


@main.command()
@partition_options
def inspect(state: CliState, name: str, run_date: Any, layer: str | None, as_json: bool) -> None:
    """Show a partition's manifest, metadata and row counts."""
    from medallion_resources.io_managers import artifact_row_counts
    from medallion_resources.lake.layout import ERRORS_ARTIFACT
    from medallion_resources.lake.leftovers import find_leftovers
    from medallion_resources.lake.read import size_problem

    lake = state.lake()
    spec = lake.spec(name)
    day = run_date.date()
    found: list[dict[str, Any]] = []
    for lyr in (layer,) if layer else LAYERS:
        part = lake.committed(spec, lyr, day)
        entry: dict[str, Any] = {
            "layer": lyr,
            "source": spec.name,
            "date": str(day),
            "uri": lake.partition_uri(spec, lyr, day),
            "committed": part is not None,
        }
        found.append(entry)
        io = lake.io(lyr)
        prefix = io.partition_prefix(lake.dataset_path(spec, lyr), str(day))
        # Temp files of killed writers of this dataset: the next commit removes them.
        leftovers = find_leftovers(io.backend, prefix, older_than=part.committed_time if part else None)
        entry["leftovers"] = [leftover.describe() for leftover in leftovers]
        if part is None:
            continue
        m = part.manifest
        counts = artifact_row_counts(m)
        main_artifact = lake.main_artifact(spec, lyr)
        # The same figures as the materialization's dagster/partition_row_count, row_count/*, quarantined.
        entry |= {
            "committed_at": m.committed_at,
            "run_id": m.run_id,
            "manifest_sha256": m.sha256,
            "main_artifact": main_artifact,
            "rows": counts.get(main_artifact, 0),
            "row_counts": {a: n for a, n in counts.items() if a != ERRORS_ARTIFACT},
            "quarantined": counts.get(ERRORS_ARTIFACT, 0),
            "files": [
                {
                    "artifact": f.artifact,
                    "path": f.path,
                    "rows": f.row_count,
                    "bytes": f.size_bytes,
                    "sha256": f.sha256,
                }
                for f in m.files
            ],
            "metadata": part.metadata,
            # Reads no data: each file there at its size (``verify`` re-hashes them).
            "problems": [p for p in (size_problem(part, f) for f in m.files) if p is not None],
        }
    if as_json:
        click.echo(json.dumps(found, indent=2, sort_keys=True, default=str))
        return
    for entry in found:
        click.secho(f"== {entry['layer']} {spec.name} {day} ({entry['uri']})", bold=True)
        if entry["leftovers"]:
            count = len(entry["leftovers"])
            click.echo(f"leftovers: {count} temp file(s) of killed runs, removed at the next commit")
            for leftover in entry["leftovers"]:
                click.echo(f"  {leftover}")
        if not entry["committed"]:
            click.echo("not committed")
            continue
        per_artifact = ", ".join(f"{a} {n}" for a, n in entry["row_counts"].items())
        click.echo(
            f"committed_at {entry['committed_at']}  run_id {entry['run_id']}  "
            f"manifest {entry['manifest_sha256'][:16]}\n"
            f"rows {entry['rows']} ({entry['main_artifact']})  per artifact: {per_artifact or 'none'}  "
            f"quarantined {entry['quarantined']}"
        )
        files = [
            (f["artifact"], f["path"], str(f["rows"]), str(f["bytes"]), f["sha256"][:16])
            for f in entry["files"]
        ]
        _table([("artifact", "file", "rows", "bytes", "sha256"), *files])
        if entry["problems"]:
            click.secho(
                f"{len(entry['problems'])} file(s) differ from the manifest: readers refuse them; run the "
                "day that wrote each again (its folder's date), then the repair `medallion status` prints "
                "(`medallion verify` re-hashes every file):",
                fg="red",
            )
            for problem in entry["problems"]:
                click.secho(f"  {problem}", fg="red")
        click.echo(json.dumps(entry["metadata"], indent=2, sort_keys=True, default=str))


@main.command()
@partition_options
def verify(state: CliState, name: str, run_date: Any, layer: str | None, as_json: bool) -> None:
    """Re-hash a partition's files against its manifest; exit 1 on any mismatch."""
    from medallion_resources.lake.read import verify_committed

    lake = state.lake()
    spec = lake.spec(name)
    day = run_date.date()
    results: list[dict[str, Any]] = []
    for lyr in (layer,) if layer else LAYERS:
        part = lake.committed(spec, lyr, day)
        problems = ["not committed"]
        if part is not None:  # a re-run committing meanwhile: its commit is verified
            part, found = verify_committed(part)
            problems = [str(i) for i in found]
        files = 0 if part is None else len(part.manifest.files)
        results.append({"layer": lyr, "committed": part is not None, "files": files, "problems": problems})
    count = sum(len(r["problems"]) for r in results)
    if as_json:
        click.echo(
            json.dumps({"source": spec.name, "date": str(day), "ok": not count, "layers": results}, indent=2)
        )
    else:
        for r in results:
            where = f"{r['layer']} {spec.name} {day}"
            for problem in r["problems"]:
                _status(False, f"{where}: {problem}")
            if not r["problems"]:
                _status(True, f"{where}: {r['files']} file(s) verified")
    if count:
        fail(f"{count} problem(s) found")


# --- helpers ----------------------------------------------------------------------------------------------


def _status(ok: bool, text: str) -> None:
    click.secho(("ok    " if ok else "FAIL  ") + text, fg=None if ok else "red", err=not ok)


def _table(rows: Sequence[tuple[str, ...]]) -> None:
    from medallion_assets.cli_display import print_table

    print_table(rows, click.echo)


if __name__ == "__main__":
    main()
