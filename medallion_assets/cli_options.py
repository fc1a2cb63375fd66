"""The options and error handling the ``medallion`` verbs share (click only: nothing here loads Dagster)."""

from __future__ import annotations

import gc
import logging
import os
import platform
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import click

from medallion_resources.errors import ConfigError, MedallionError
from medallion_resources.lake.layout import LAYERS

__all__ = [
    "DATE",
    "GreedyCommand",
    "MedallionGroup",
    "expand_greedy",
    "fail",
    "handle_errors",
    "json_option",
    "partition_options",
    "print_version",
]

DATE = click.DateTime(["%Y-%m-%d"])


def fail(message: str) -> None:
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
                fail(str(exc))
            except (MedallionError, KeyError) as exc:
                fail(f"error: {exc.args[0] if isinstance(exc, KeyError) else exc}")
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


class GreedyCommand(click.Command):
    """A command whose ``--select`` takes every value up to the next option: ``--select a b c``.

    ``--select a --select b`` (repeated) works as well; the values are rewritten into that form before
    click parses them.
    """

    greedy = ("--select",)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, expand_greedy(args, self.greedy))


def expand_greedy(args: Sequence[str], names: Sequence[str]) -> list[str]:
    out: list[str] = []
    option: str | None = None
    taken = 0
    for arg in args:
        if arg in names:
            if option and not taken:
                out.append(option)  # an option without a value: click reports it
            option, taken = arg, 0
            continue
        if option and not arg.startswith("-"):
            out += [option, arg]
            taken += 1
            continue
        if option and not taken:
            out.append(option)
        option = None
        out.append(arg)
    if option and not taken:
        out.append(option)
    return out


def json_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts).")(fn)


def partition_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """NAME --date D [--layer] [--json]: the arguments of the verbs that look at one source partition."""
    fn = handle_errors(fn)
    fn = click.pass_obj(fn)
    fn = json_option(fn)
    fn = click.option("--layer", type=click.Choice(LAYERS), help="Default: both layers.")(fn)
    fn = click.option("--date", "run_date", required=True, type=DATE)(fn)
    return click.argument("name")(fn)


def print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from importlib.metadata import PackageNotFoundError, version

    def of(package: str) -> str:
        try:
            return version(package)
        except PackageNotFoundError:
            return "not installed"

    click.echo(f"medallion {of('medallion')} (dagster {of('dagster')}, python {platform.python_version()})")
    ctx.exit()


class MedallionGroup(click.Group):
    """The ``medallion`` group: run as the console script, it skips the interpreter's teardown once Dagster
    was loaded.

    Tearing down Dagster, polars, SQLAlchemy and their threads takes the interpreter seconds on a loaded
    machine, after every byte is committed and printed. So the command disposes the instance (closing the
    event log's connections), flushes its output and leaves with ``os._exit``. It also holds garbage
    collection until the verb's imports are done (:func:`startup_done`). Called in-process
    (``standalone_mode=False``) it returns as click does and leaves the collector alone.
    """

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        run: Any = super().main  # click's overloads do not cover passing the flag through
        if not standalone_mode:
            return run(*args, standalone_mode=False, **kwargs)
        _hold_gc()
        try:
            run(*args, standalone_mode=True, **kwargs)
        except SystemExit as exc:
            _leave(exc.code)
        _leave(0)


_gc_held = False


def _hold_gc() -> None:
    """No garbage collection while the console script imports and loads its config (see
    :func:`startup_done`)."""
    global _gc_held
    _gc_held = True
    gc.disable()


def startup_done() -> None:
    """Imports done: what start-up made goes to the permanent generation, and collection resumes.

    Importing Dagster, its SQLite storage, polars and the project creates ~1M long-lived objects and almost
    no garbage, yet CPython ran three full collections over them (0.13 s of a 2 s ``medallion run``, each
    freeing a few dozen objects) and, in a bigger project, more during the run, each scanning all of them
    again. So the console script holds collection from its start (``MedallionGroup.main``) until each verb
    has its imports: ``CliState.lake``, and ``run`` again once its instance is made. ``gc.freeze`` keeps
    those objects out of every later collection. In-process callers' collectors are left alone.
    """
    if _gc_held:
        gc.freeze()
        gc.enable()


def _leave(code: Any) -> None:
    if "dagster" not in sys.modules:
        raise SystemExit(code)
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    from medallion_assets.instance import dispose_instance

    dispose_instance()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    logging.shutdown()
    os._exit(int(code or 0))
