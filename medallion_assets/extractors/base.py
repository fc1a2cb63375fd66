"""The extractor contract: a source becomes a stream of Arrow record batches.

An extractor is created for one run of one source and streams its rows as ``pyarrow.RecordBatch``es; the
Bronze IO manager writes them to part files as they arrive, so memory stays bounded by a few batches.
While streaming, the extractor fills ``stats`` (extractor-specific counters such as ``source_files``,
``pages`` or ``batches``) and, for incremental sources, ``watermark_out`` (and, where the extractor dedupes
its boundary, ``boundary_hashes_out``). All are read once the stream is exhausted and land in the committed
``_metadata.json``; the next partition gets them back as ``ExtractContext.watermark_in``/``boundary_hashes``.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, ClassVar, get_args

import pyarrow as pa
from pydantic import BaseModel

from medallion_assets.config.models import ExtractorSection, LoadPattern, PlatformConfig, SourceEntry
from medallion_resources.checks import CheckResult

__all__ = ["CheckResult", "ExtractContext", "Extractor"]


@dataclass(frozen=True)
class ExtractContext:
    """Everything an extractor may know about the run it serves."""

    run_date: date
    window_start: datetime  # tz-aware, inclusive: start of the partition's day
    window_end: datetime  # tz-aware, exclusive: start of the next day
    watermark_in: str | None = None  # watermark_out of the latest committed Bronze partition before run_date
    # Content hashes committed with watermark_in: the row versions at the boundary that partition landed or
    # re-read (``watermark`` mode drops them when it reads them again, so each version lands once).
    boundary_hashes: tuple[str, ...] = ()
    # watermark_in of the first committed Bronze partition after run_date (a re-run or a backfill of an
    # earlier day): that partition read from there on, so a cursor without a date bound stops there.
    watermark_next: str | None = None
    # No committed partition before run_date, and the first one after it read from the start (a backfill
    # before the first load of a ``watermark`` source): that partition holds this day's rows already.
    later_read_from_start: bool = False
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("medallion.extract"))


class Extractor(ABC):
    """Base of every extractor. Subclasses set ``type_name`` and implement ``extract``.

    Selected in YAML by ``source.type`` (``file``, ``api``, ``db``, a registered plugin type) or, for
    ``custom``, by ``custom_extractor.module``/``class_name`` or an entry point in the
    ``medallion.extractors`` group. The class attributes are the type's contract: config validation reads
    them from the registry, so a registered type is selectable from YAML with the same checks as a built-in.
    """

    type_name: ClassVar[str] = ""
    # The key under ``source:`` that holds the settings; plugin types read theirs from ``source.options``.
    section: ClassVar[ExtractorSection] = "options"
    # A plugin type's pydantic model of ``source.options``: checked when the config loads (None: any mapping).
    options_model: ClassVar[type[BaseModel] | None] = None
    # The source.run.load_pattern values the extractor can serve.
    load_patterns: ClassVar[frozenset[LoadPattern]] = frozenset(get_args(LoadPattern))

    @classmethod
    def resolve(cls, entry: SourceEntry) -> type[Extractor]:
        """The class that serves ``entry``: this one (``custom`` answers with the class its config names)."""
        return cls

    def __init__(self, entry: SourceEntry, platform: PlatformConfig) -> None:
        self.entry = entry
        self.platform = platform
        self.stats: dict[str, Any] = {}
        self.watermark_out: str | None = None
        # Hashes of the row versions read at the boundary of watermark_out (None: the extractor keeps none).
        self.boundary_hashes_out: list[str] | None = None

    @abstractmethod
    def extract(self, ctx: ExtractContext) -> Iterator[pa.RecordBatch]:
        """Yield the source's rows for the run as Arrow record batches (any schema; it may vary)."""

    @property
    def quarantines(self) -> bool:
        """Whether the source may set rows aside (``rejected``) rather than fail on them."""
        return False

    def rejected(self) -> Iterator[pa.RecordBatch]:
        """Rows read but not landed (malformed lines), once ``extract`` is drained: Bronze's ``_errors/``."""
        return iter(())

    def check(self) -> CheckResult:
        """Connect to the source without reading data; the default says nothing is checked."""
        return CheckResult(ok=True, detail="no check implemented for this extractor")
