"""A brute-force reference of the version-chain models (DESIGN §6) for the property tests.

Plain Python over dicts, one event at a time, written to be read rather than to be fast. Per key it keeps
the list of chain entries (versions and deletes, in version order) and, each day, merges the day's events
into the chains of the keys they touch and walks every such chain from the start:

1. a delete right after a delete is dropped; a delete before any version is dropped, unless it is the
   state's own (a tombstone whose versions are not kept, as in ``cdc`` without history);
2. a version equal (tracked columns) to the version right before it is dropped;
3. a delete takes the values of the version it closes, except its own order value;
4. windows: from = own order value, to = next entry's, current = last and not a delete; a row is rewritten
   on D (``_silver_load_date = D``) when it is new or its window or currency changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

Key = tuple[Any, ...]


@dataclass
class Entry:
    order: Any
    is_delete: bool
    row: dict[str, Any]
    written: date | None = None
    old_to: Any = None
    old_current: bool | None = None
    source: int = 0  # 0 state, 1 today
    position: int = 0


@dataclass
class Day:
    load_date: date
    pattern: str  # full / incremental / cdc
    rows: list[dict[str, Any]]


@dataclass
class Reference:
    keys: list[str]
    order: str
    tracked: list[str] | None  # None: every column but keys, order and "_" columns
    delete_mode: str
    temporal: bool  # the order column holds datetimes (window ends are comparable)
    op_column: str | None = None  # cdc
    codes: tuple[str, str, str] = ("I", "U", "D")
    truncate: bool = False  # cdc without history: keep each chain from its last version on
    chains: dict[Key, list[Entry]] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    stats: list[dict[str, int]] = field(default_factory=list)

    def key(self, row: dict[str, Any]) -> Key:
        return tuple(row[k] for k in self.keys)

    def tracked_of(self, row: dict[str, Any]) -> tuple[Any, ...]:
        names = self.tracked
        if names is None:
            names = sorted(c for c in row if not c.startswith("_") and c not in self.keys and c != self.order)
        return tuple(row.get(c) for c in names)

    def live(self, k: Key) -> bool:
        chain = self.chains.get(k)
        return bool(chain) and not chain[-1].is_delete

    def apply(self, day: Day) -> None:
        stats = dict.fromkeys(
            ["inserted", "updated", "deleted", "unchanged", "duplicates_dropped", "versions_added"], 0
        )
        stats["deletes_applied"] = 0
        events: dict[Key, list[Entry]] = {}
        deletes_on = day.pattern in ("full", "cdc") and self.delete_mode != "ignore"
        for position, row in enumerate(day.rows):
            if row[self.order] is None:
                self.errors.append(row)
                continue
            is_delete = False
            if self.op_column is not None:
                op = row[self.op_column]
                if op not in self.codes:
                    self.errors.append(row)
                    continue
                is_delete = op == self.codes[2]
                if is_delete and self.delete_mode == "ignore":
                    stats["duplicates_dropped"] += 1
                    continue
                row = {c: v for c, v in row.items() if c != self.op_column}
            k = self.key(row)
            order = row[self.order]
            if day.pattern == "full" and deletes_on and self.chains.get(k) and self.chains[k][-1].is_delete:
                order = max(order, self.chains[k][-1].order)  # a resurrection comes after its delete
            events.setdefault(k, []).append(Entry(order, is_delete, dict(row), source=1, position=position))
        if day.pattern == "full" and deletes_on:
            window_end = datetime.combine(day.load_date + timedelta(days=1), datetime.min.time())
            for k in self.chains:
                if self.live(k) and k not in events:
                    last = self.chains[k][-1].order
                    at = max(last, window_end) if self.temporal else last
                    row = dict(zip(self.keys, k, strict=True)) | {self.order: at}
                    events[k] = [Entry(at, True, row, source=1, position=2**31)]
        for k, new in events.items():
            was_live = self.live(k)
            prior = [replace(e, source=0, position=i) for i, e in enumerate(self.chains.get(k, []))]
            merged = sorted(prior + new, key=lambda e: (e.order, e.source, e.position))
            chain: list[Entry] = []
            for e in merged:
                if e.is_delete:
                    redundant = (chain and chain[-1].is_delete) or (not chain and e.source == 1)
                    if redundant:
                        stats["duplicates_dropped"] += e.source
                        continue
                    if e.source:
                        stats["deletes_applied"] += 1
                elif (
                    chain
                    and not chain[-1].is_delete
                    and self.tracked_of(chain[-1].row) == self.tracked_of(e.row)
                ):
                    stats["duplicates_dropped"] += e.source
                    continue
                elif e.source:
                    stats["versions_added"] += 1
                chain.append(e)
            for i, e in enumerate(chain):
                if e.is_delete and i > 0:
                    e.row = chain[i - 1].row | {self.order: e.row[self.order]}
                to = chain[i + 1].order if i + 1 < len(chain) else None
                current = to is None and not e.is_delete
                if e.source or to != e.old_to or current != e.old_current:
                    e.written = day.load_date
                e.old_to, e.old_current = to, current
            if self.truncate:
                versions = [i for i, e in enumerate(chain) if not e.is_delete]
                chain = chain[versions[-1] :] if versions else chain
            self.chains[k] = chain
            now_live = self.live(k)
            if now_live and not was_live:
                stats["inserted"] += 1
            elif was_live and not now_live:
                stats["deleted"] += 1
            elif was_live and now_live:
                stats["updated" if chain[-1].source else "unchanged"] += 1
        self.stats.append(stats)

    # --- views -----------------------------------------------------------------------------------------

    def history(self) -> dict[Key, list[tuple[Any, ...]]]:
        """Per key: (row values, from, to, is_current, written, flag) of each history row."""
        out = {}
        for k, chain in self.chains.items():
            rows = []
            for i, e in enumerate(chain):
                if e.is_delete and self.delete_mode != "tombstone":
                    continue
                nxt = chain[i + 1] if i + 1 < len(chain) else None
                flag = e.is_delete if self.delete_mode == "tombstone" else bool(nxt and nxt.is_delete)
                rows.append((e.row, e.order, e.old_to, e.old_current, e.written, flag))
            out[k] = rows
        return out
