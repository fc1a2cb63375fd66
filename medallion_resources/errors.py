"""The one exception hierarchy of medallion.

Every error says where (file and key path, or dataset and partition), what (the value received, secrets
masked) and what is allowed. Messages are built here so that the CLI, the Dagster UI and the logs all show
the same text.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "ApiError",
    "ConfigError",
    "ConfigIssue",
    "DeleteThresholdError",
    "ExtractError",
    "IntegrityError",
    "MedallionDeprecationWarning",
    "MedallionError",
    "NotCommittedError",
    "PartitionReplacedError",
    "PluginError",
    "QuarantineThresholdError",
    "SilverCheckError",
    "SilverInputError",
    "StorageError",
    "UnknownNameError",
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


class UnknownNameError(MedallionError, ValueError):
    """A config names a member no registry knows; carries the allowed names, for "did you mean" hints."""

    def __init__(self, key: str, value: str, allowed: Iterable[str], *, known: str = "known") -> None:
        self.key, self.value, self.allowed = key, value, sorted(allowed)
        super().__init__(f"unknown {key} '{value}'; {known}: {', '.join(self.allowed) or 'none'}")


class PluginError(MedallionError):
    """A plugin cannot be loaded, or the class it provides breaks its family's contract."""


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


class PartitionReplacedError(IntegrityError):
    """A listed file is gone because the partition was committed again while it was read: nothing is
    damaged, and reading the commit in place gives its rows (``Dataset.scan`` does so itself)."""


class NotCommittedError(StorageError):
    """A partition has no committed manifest."""


class SilverInputError(MedallionError):
    """Silver cannot be computed from what Bronze holds (missing partitions, missing columns)."""


class SilverCheckError(MedallionError):
    """A blocking Silver asset check failed; the partition was not committed."""


class QuarantineThresholdError(MedallionError):
    """More rows were quarantined than ``silver.error_handling`` allows; nothing was committed."""


class DeleteThresholdError(MedallionError):
    """A full load would delete more of Silver's keys than ``run.max_delete_fraction`` allows (an empty or
    truncated snapshot); nothing was committed."""
