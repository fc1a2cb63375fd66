"""The outcome of a connectivity check (``medallion check``), shared by extractors and storage backends."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CheckResult"]


@dataclass(frozen=True)
class CheckResult:
    """Outcome of ``Extractor.check`` / ``StorageBackend.check``: reachable or not, and what was seen."""

    ok: bool
    detail: str
