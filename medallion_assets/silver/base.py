"""The Silver model contract: pure polars in, polars out, no I/O.

A model turns the previous Silver state (the artifacts of Silver D-1, or ``None`` for the first
partition) and the prepared Bronze rows of day D into the artifacts of Silver D. Silver D is a pure
function of the committed Bronze partitions up to D (DESIGN §6), so a rebuild is just a fold of ``apply``
over the days.

Conventions every model relies on:

- ``incoming`` rows are in Bronze order (part file order, then row order), all from ``ctx.load_date``;
  state rows all come from earlier load dates. Ties on ``order_column`` are therefore broken by "later
  wins": incoming beats state, a later incoming row beats an earlier one.
- ``incoming`` is already normalized, renamed and typed; rows with null keys or failed casts were
  quarantined before the model sees them.
- Every output row carries ``_silver_load_date``: the load date at which that row version was written
  (rows carried over unchanged from the state keep theirs).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import ClassVar, get_args

import polars as pl

from medallion_assets.config.models import LoadPattern, ModelOption, RequiredSilverKey, SilverConfig

__all__ = ["SILVER_LOAD_DATE", "SilverContext", "SilverModel", "SilverResult"]

SILVER_LOAD_DATE = "_silver_load_date"


@dataclass(frozen=True)
class SilverContext:
    load_date: date
    window_end: datetime  # end of the partition's day: when a key missing from a full snapshot is deleted
    load_pattern: LoadPattern
    # Keys Bronze D holds only in rows quarantined on D (typed and widened as ``incoming``'s keys): they
    # are in the snapshot, so a full load never deletes them; their state stays as it was.
    held_keys: pl.DataFrame | None = None


@dataclass
class SilverResult:
    """The artifacts of Silver D plus the counters that go into ``_metadata.json``."""

    artifacts: dict[str, pl.DataFrame]
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    duplicates_dropped: int = 0
    # Rows the model itself rejects (e.g. unknown CDC op codes), with an ``_error_reason`` column.
    errors: pl.DataFrame | None = None
    extra: dict[str, int] = field(default_factory=dict)
    # Per artifact (optional), the keys whose rows differ from the state's: every other key of the state
    # has exactly the rows it had (same columns, types and values). Given, a keyed day replaces those keys
    # whole instead of comparing every touched key's rows with the state's (medallion_assets.silver.delta).
    changed: dict[str, pl.DataFrame] = field(default_factory=dict)

    def stats(self) -> dict[str, int]:
        return {
            "inserted": self.inserted,
            "updated": self.updated,
            "deleted": self.deleted,
            "unchanged": self.unchanged,
            "duplicates_dropped": self.duplicates_dropped,
            **self.extra,
        }


class SilverModel(ABC):
    """Base of every Silver model; one subclass per ``silver.model`` value.

    The class attributes are the model's contract: config validation reads them from the registry, so a
    registered plugin is selectable from YAML with the same checks and messages as a built-in model.
    """

    name: ClassVar[str] = ""
    artifacts: ClassVar[tuple[str, ...]] = ()
    # Stateful models read Silver D-1; the asset factory adds the self-dependency for them.
    stateful: ClassVar[bool] = True
    # The source.run.load_pattern values whose Bronze the model makes sense of.
    load_patterns: ClassVar[frozenset[LoadPattern]] = frozenset(get_args(LoadPattern))
    # silver.* keys that must be set: primary_keys, order_column, cdc.
    requires: ClassVar[frozenset[RequiredSilverKey]] = frozenset()
    # Model-specific silver.* keys the model reads (delete_mode, cdc, scd2, dedupe_lookback_days); setting
    # one the model does not read is a config error rather than a silently ignored key.
    options: ClassVar[frozenset[ModelOption]] = frozenset()
    # The counters of SilverResult.stats() that, with the quarantined rows, add up to the rows read from
    # Bronze: the blocking ``reconciliation`` check holds the model to it.
    reconciled: ClassVar[tuple[str, ...]] = ("inserted", "duplicates_dropped")
    # Every artifact is state *by key* (``primary_keys``): applying the model to the state of some keys
    # only gives exactly those keys' rows of what the whole state would give, and leaves every other key's
    # rows as they were. The pipeline then reads from Silver D-1 only the keys a day touches and writes
    # only the keys whose rows changed (merge-on-read, docs/architecture.md). Artifacts are sorted by key.
    keyed_state: ClassVar[bool] = False
    # Artifacts whose rows per key are a function of another artifact's rows of that key (``current`` of
    # ``history``): the model does not read them, and a key whose source rows did not change did not
    # change there either, so the day reads only their key columns (keyed_state models).
    derived: ClassVar[Mapping[str, str]] = {}
    # Artifacts a day reads for some of the touched keys only: the keys :meth:`keys_to_read` names once
    # the other artifacts' rows of the touched keys are read (``cdc``: the earlier rows of each chain, which
    # only a late or tied op needs). ``apply`` gets their rows of at least those keys (of every key when the
    # state is in memory) and must leave the rows of the other keys as they are (keyed_state models).
    read_on_demand: ClassVar[frozenset[str]] = frozenset()
    # State artifacts of an earlier layout of the model. A Silver D-1 that holds one is read whole, once,
    # and ``apply`` converts it; that day then writes the current layout as new base files.
    legacy_artifacts: ClassVar[frozenset[str]] = frozenset()
    # State artifacts the model writes under another configuration of it (``cdc``: ``history`` with
    # ``keep_history``, ``chain_last``/``chain_rest`` without). A Silver D-1 that holds one (the option was
    # changed between the days) is no state of this configuration: Silver D is rebuilt from Bronze.
    other_layouts: frozenset[str] = frozenset()
    # The columns the model adds to its artifacts. A Bronze column of one of these names (after
    # ``rename_map``) keeps its values as ``<name>_source``, as Bronze keeps a source's own ``_source_file``;
    # config that names one of them as a key, order, typed or tracked column is refused.
    writes: ClassVar[frozenset[str]] = frozenset({SILVER_LOAD_DATE})

    def keys_to_read(
        self, artifact: str, state: Mapping[str, pl.DataFrame], incoming: pl.DataFrame
    ) -> pl.DataFrame:
        """The keys whose rows of ``artifact`` (one of :attr:`read_on_demand`) the day needs, given the
        state's rows of the touched keys in the other artifacts and Bronze D (prepared, not yet checked
        by the model: naming more keys than needed is safe, fewer is not)."""
        raise NotImplementedError(f"{type(self).__name__} reads {artifact} on demand but names no keys")

    def touches_absent_keys(self, ctx: SilverContext) -> bool:
        """Whether day ``ctx`` also touches the live keys of Silver D-1 that Bronze D lacks (full-load
        deletes). Live keys are those of ``current`` whose ``_deleted`` is not true."""
        return False

    def __init__(self, config: SilverConfig) -> None:
        self.config = config

    @abstractmethod
    def apply(
        self, state: Mapping[str, pl.DataFrame] | None, incoming: pl.DataFrame, ctx: SilverContext
    ) -> SilverResult:
        """Compute Silver D from Silver D-1 (``state``; None for the first day) and Bronze D."""
