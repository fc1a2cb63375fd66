"""What ``medallion`` prints: live progress of a run (rich bars or plain lines), tables, plans.

While a Dagster run executes in the CLI's process, Dagster captures file descriptors 1 and 2 into the run's
compute logs (and tails them back with a delay). Progress is not part of a run's logs, so the display writes
to duplicates of the two descriptors taken before the first run: it reaches the terminal at once and stays
out of the UI's stdout/stderr views.

On a terminal, one bar per source and layer (days committed of the days requested) with the partition being
written, its rows and bytes so far; each settled day's line prints above the bars. Not on a terminal (CI
logs, pipes): the same day lines, and within a long partition a line with its rows and bytes so far every
``MEDALLION_PROGRESS_SECONDS`` seconds (default 10).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Sequence
from datetime import date
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from medallion_assets.plan import Plan
    from medallion_assets.runner import DayOutcome
    from medallion_assets.specs import SourceSpec

__all__ = [
    "HEARTBEAT_SECONDS",
    "PROGRESS_SECONDS_ENV",
    "RunDisplay",
    "day_line",
    "human_bytes",
    "print_table",
]

HEARTBEAT_SECONDS = 10.0
PROGRESS_SECONDS_ENV = "MEDALLION_PROGRESS_SECONDS"


class RunDisplay:
    """The ``RunObserver`` of ``medallion run``: prints as days settle, shows progress within them."""

    def __init__(
        self, days_per_source: dict[str, int], layers: Sequence[str], *, live: bool | None = None
    ) -> None:
        from rich.console import Console

        self.layers = tuple(layers)
        self.days_per_source = days_per_source
        self.total = sum(days_per_source.values())
        self.out = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8", errors="replace")
        self.err = os.fdopen(os.dup(2), "w", buffering=1, encoding="utf-8", errors="replace")
        self.console = Console(file=self.err, highlight=False)
        self.live = self.console.is_terminal if live is None else live
        self.heartbeat = float(os.environ.get(PROGRESS_SECONDS_ENV) or HEARTBEAT_SECONDS)
        self.done = 0
        self.outcomes: list[tuple[SourceSpec, DayOutcome]] = []
        self._tasks: dict[tuple[str, str], Any] = {}
        self._current: dict[tuple[str, str], list[int]] = {}  # rows, bytes of the partition being written
        self._last_line = time.monotonic()
        self._progress: Any = None

    # --- context ---
    def __enter__(self) -> RunDisplay:
        if self.live:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("days"),
                TimeElapsedColumn(),
                TextColumn("{task.fields[current]}"),
                console=self.console,
                transient=True,
            )
            self._progress.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.stop()
        self.out.flush()
        self.err.flush()

    def close(self) -> None:
        self.out.close()
        self.err.close()

    # --- RunObserver ---
    def run_started(self, spec: SourceSpec, days: Sequence[date], layers: Sequence[str], run_id: str) -> None:
        if self._progress is None:
            return
        for layer in self.layers:
            if (spec.name, layer) not in self._tasks:
                self._tasks[(spec.name, layer)] = self._progress.add_task(
                    f"{spec.name} {layer}", total=self.days_per_source.get(spec.name, len(days)), current=""
                )

    def partition_started(self, spec: SourceSpec, layer: str, day: date) -> None:
        self._current[(spec.name, layer)] = [0, 0]
        self._show(spec, layer, f"{day}")

    def rows_written(self, spec: SourceSpec, layer: str, day: date, rows: int, nbytes: int) -> None:
        current = self._current.setdefault((spec.name, layer), [0, 0])
        current[0] += rows
        current[1] += nbytes
        text = f"{day}: {current[0]:,} rows, {human_bytes(current[1])}"
        self._show(spec, layer, text)
        if not self.live and time.monotonic() - self._last_line >= self.heartbeat:
            self._line(f"  ... {spec.name} {layer} {text} so far", error=False)

    def partition_committed(self, spec: SourceSpec, layer: str, day: date, rows: int, nbytes: int) -> None:
        self._current.pop((spec.name, layer), None)
        if self._progress is not None and (spec.name, layer) in self._tasks:
            self._progress.update(self._tasks[(spec.name, layer)], advance=1, current="")

    def day_done(self, spec: SourceSpec, outcome: DayOutcome) -> None:
        self.done += 1
        self.outcomes.append((spec, outcome))
        if self._progress is not None:
            for layer in self.layers:
                if layer not in outcome.committed and (spec.name, layer) in self._tasks:
                    self._progress.update(self._tasks[(spec.name, layer)], advance=1)
        self._line(
            day_line(f"[{self.done}/{self.total}]", spec.name, outcome, self.layers), error=not outcome.ok
        )

    # --- output ---
    def _show(self, spec: SourceSpec, layer: str, text: str) -> None:
        if self._progress is not None and (spec.name, layer) in self._tasks:
            self._progress.update(self._tasks[(spec.name, layer)], current=text)

    def _line(self, text: str, *, error: bool) -> None:
        self._last_line = time.monotonic()
        if self._progress is not None:
            self._progress.console.print(text, style="red" if error else None, markup=False, soft_wrap=True)
        else:
            print(text, file=self.err if error else self.out, flush=True)


def day_line(prefix: str, name: str, outcome: DayOutcome, layers: Sequence[str]) -> str:
    """``[3/30] orders 2025-01-03: bronze 66 rows/1 files, silver 43 rows/1 files (0.4s)``, or its failure."""
    from medallion_assets.runner import NOT_RUN  # a run's outcome: Dagster is loaded by now

    parts = ", ".join(
        f"{layer} {i.rows} rows/{i.files} files" + (f"/{i.quarantined} quarantined" if i.quarantined else "")
        for layer, i in outcome.committed.items()
    )
    head = f"{prefix} {name} {outcome.day}:"
    if outcome.ok:
        return f"{head} {parts} ({outcome.seconds:.1f}s)"
    done = f" {parts} committed;" if parts else ""
    if outcome.failed:
        # the day's own failure first (a later range marks Silver "not run" before its run fails Bronze)
        layer, error = min(outcome.failed.items(), key=lambda item: item[1].startswith(NOT_RUN))
        if error.startswith(NOT_RUN):  # nothing of its own failed: why it did not run
            return f"{head}{done} {layer} {error}"
        not_run = [x for x in layers if x not in outcome.committed and x != layer]
        skipped = f"; {', '.join(not_run)} not run" if not_run else ""
        return f"{head}{done} {layer} FAILED ({outcome.seconds:.1f}s): {error}{skipped}"
    return f"{head}{done} {', '.join(outcome.not_run)} not run"


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def print_table(rows: Sequence[tuple[str, ...]], echo: Callable[[str], Any] = print) -> None:
    """Left-aligned columns with a dashed line under the header. The last column's dashes end where the
    terminal's line does (80 columns when it is not a terminal), never short of its header: a long cell
    there (``status``'s notes) wraps, the line under the header would have wrapped with it."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    left = sum(widths[:-1]) + 2 * (len(widths) - 1)
    last = max(len(rows[0][-1]), min(widths[-1], shutil.get_terminal_size().columns - left))
    for index, row in enumerate(rows):
        echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
        if index == 0:
            echo("  ".join("-" * w for w in [*widths[:-1], last]))


def print_plan(p: Plan, echo: Callable[[str], Any] = print) -> None:
    """``medallion plan``'s text: the range, its runs, each layer's days and Silver's state."""
    days = (p.last - p.first).days + 1
    kind = "stateful" if p.stateful else "stateless"
    echo(f"plan: {p.source} {p.first}..{p.last} ({days} day(s)), {' + '.join(p.layers)}, {p.model} ({kind})")
    if p.skipped_before_start:
        echo(f"  {p.skipped_before_start} day(s) before the start date {p.first} are left out")
    if p.skipped_after_end:
        echo(f"  {p.skipped_after_end} day(s) after the last partition {p.last} are left out (not over yet)")
    echo(f"runs: {len(p.runs)} Dagster run(s) of {p.job} (up to 31 days each)")
    for index, r in enumerate(p.runs, start=1):
        echo(f"  run {index}: {r.first}..{r.last} ({r.days} day(s))")
    if "bronze" in p.layers:
        echo(
            f"bronze: {len(p.bronze_missing)} day(s) to extract, {len(p.bronze_committed)} already committed "
            "(extracted again and replaced)"
        )
        if p.load_pattern != "full":
            origin = f"Bronze {p.watermark_from}" if p.watermark_from else "none: no Bronze day before it"
            echo(f"  {p.load_pattern} load: the watermark before {p.first} comes from {origin}")
    else:
        missing = ", ".join(str(d) for d in p.bronze_missing) or "none"
        echo(f"bronze: not run; days missing in Bronze: {missing}")
    if "silver" in p.layers:
        echo(f"silver: {len(p.silver_committed)} of {days} day(s) already committed (replaced)")
        echo(f"  state before {p.first}: {p.state}")
    for problem in p.problems:
        echo(f"problem: {problem}")
    if p.repair:
        echo(f"  repair: {p.repair}")
    if p.afterwards:
        echo(f"afterwards: {p.afterwards}")
        echo(f"  then: {p.follow_up}")
    echo("nothing was run (plan only)")


def summary_rows(
    outcomes: Sequence[tuple[SourceSpec, DayOutcome]], layers: Sequence[str]
) -> list[tuple[str, ...]]:
    """``medallion run``'s closing table: one row per source, day and layer."""
    from medallion_assets.runner import NOT_RUN

    rows: list[tuple[str, ...]] = [("source", "date", "layer", "rows", "files", "status")]
    for spec, o in sorted(outcomes, key=lambda item: (item[0].name, item[1].day)):
        for layer in layers:
            if layer in o.committed:
                i = o.committed[layer]
                rows.append((spec.name, str(o.day), layer, str(i.rows), str(i.files), "ok"))
            else:
                status = "not run" if o.failed.get(layer, NOT_RUN).startswith(NOT_RUN) else "FAILED"
                rows.append((spec.name, str(o.day), layer, "-", "-", status))
    return rows
