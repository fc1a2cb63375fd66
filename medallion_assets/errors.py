"""The one exception hierarchy of medallion.

Every error says where (file and key path, or dataset and partition), what (the value received, secrets
masked) and what is allowed. Messages are built here so that the CLI, the Dagster UI and the logs all show
the same text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import dagster as dg

__all__ = [
    "ApiError",
    "ConfigError",
    "ConfigIssue",
    "ExtractError",
    "IntegrityError",
    "MedallionDeprecationWarning",
    "MedallionError",
    "NotCommittedError",
    "QuarantineThresholdError",
    "RangeRunError",
    "SilverCheckError",
    "SilverInputError",
    "StorageError",
]


class MedallionError(Exception):
    """Base class of every error medallion raises on purpose."""


class MedallionDeprecationWarning(DeprecationWarning):
    """A deprecated config spelling that still works; ``code`` is one of CFG001-CFG004."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"[{code}] {message}")
        self.code = code


@dataclass(frozen=True)
class ConfigIssue:
    """One problem found in a config: the file, the dotted key path, what is wrong and how to fix it."""

    file: str
    path: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        where = f"{self.file}: {self.path}" if self.path else self.file
        text = f"{where}: {self.message}"
        return f"{text} (hint: {self.hint})" if self.hint else text


class ConfigError(MedallionError):
    """A config failed to load; carries every issue found, not just the first."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = list(issues)
        count = len(self.issues)
        lines = "\n".join(f"  - {issue}" for issue in self.issues)
        super().__init__(f"{count} config error{'s' if count != 1 else ''}:\n{lines}")


class ExtractError(MedallionError):
    """A source could not be read (missing file, bad format, unreachable server)."""


class ApiError(ExtractError):
    """An HTTP API request or its pagination failed.

    ``url`` is already redacted (no credentials, no secret query values); ``status`` is the last HTTP
    status received, or None when no response came (timeout, connection error).
    """

    def __init__(self, message: str, *, url: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.status = status


class StorageError(MedallionError):
    """A storage operation failed (after any retries); names the operation and the object."""


class IntegrityError(StorageError):
    """A committed file does not match its manifest (size, SHA-256, missing file)."""


class NotCommittedError(StorageError):
    """A partition has no committed manifest."""


class SilverInputError(MedallionError):
    """Silver cannot be computed from what Bronze holds (missing partitions, missing columns)."""


class SilverCheckError(MedallionError):
    """A blocking Silver asset check failed; the partition was not committed."""


class QuarantineThresholdError(MedallionError):
    """More rows were quarantined than ``silver.error_handling`` allows; nothing was committed."""


class RangeRunError(MedallionError, dg.Failure):
    """Days of a range run failed; the days that committed were reported as materialized.

    A ``dagster.Failure``, so Dagster shows it as the step's error as is rather than under its own wrapper
    (``DagsterExecutionStepExecutionError``): the message starts with the root cause of the first failing
    day, then says which days committed, failed and were not run. That root cause is the ``__cause__``.
    """

    def __init__(
        self,
        what: str,
        failures: Sequence[tuple[str, BaseException]],
        *,
        committed: list[str],
        not_run: list[str],
    ) -> None:
        failed = [key for key, _ in failures]
        first_key, first = failures[0]
        root = str(first).strip() or type(first).__name__
        lines = [root if first_key in root else f"{root} (partition {first_key})"]
        lines += [f"{key}: {_first_line(exc)}" for key, exc in failures[1:]]
        summary = (
            f"{what}: {len(failed)} partition(s) failed ({_days(failed)}); "
            f"{len(committed)} committed and materialized ({_days(committed)})"
        )
        if not_run:
            summary += f"; {len(not_run)} not run, they build on a failed day ({_days(not_run)})"
        lines.append(summary)
        dg.Failure.__init__(
            self,
            description="\n".join(lines),
            metadata={
                "failed_partitions": failed,
                "committed_partitions": committed,
                "not_run_partitions": not_run,
            },
        )
        self.failed, self.committed, self.not_run = failed, committed, not_run


def _days(keys: Sequence[str]) -> str:
    return ", ".join(keys) if keys else "none"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
