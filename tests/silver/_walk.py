"""A plain reference of DESIGN §6 for the property tests: the walk over every Bronze observation of a key.

Written from the DESIGN text, per key, in plain Python, and deliberately unlike the engine: it keeps every
observation it was ever given and recomputes each key's history from all of them, from scratch, every day.
It knows nothing of the engine's state artifacts (``absorbed``, ``chain_last``/``chain_rest``), positions
or classes beyond what the DESIGN says:

- observations are sorted by (order value, Bronze load date, position); of those with the same order value
  only the last is kept (a tie is a correction); when the ones right before it are exact re-deliveries of
  it (same non-``_`` values), the first of those is kept, so landing a row again rewrites nothing;
- the walk: a version equal (tracked columns) to the live version is absorbed; any other version closes
  the live one (or the tombstone) and opens a new one; a delete closes the live version (a tombstone opens
  with ``tombstone``); a delete with nothing live changes nothing;
- full loads: a key live after day D-1 and absent from Bronze D is deleted at the window end of D (never
  before its last observation), unless its rows of D were all quarantined (it is not absent then); a key
  that is deleted and comes back is placed at max(its order value, the delete's); that version and the
  delete never cancel each other as a tie.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

Key = tuple[Any, ...]
FLAG_DELETED, FLAG_CLOSED = "_deleted", "_closed_by_delete"


@dataclass
class Obs:
    order: Any  # where the walk places it (a revived version: max(own, delete's))
    load: date
    position: float  # in its Bronze partition; a detected delete comes after every row of its day
    delete: bool
    row: dict[str, Any]
    kind: str = "row"  # "row" | "detected" (full-load delete) | "revived" (placed at its delete)


@dataclass
class Row:
    """One history row."""

    values: dict[str, Any]
    start: Any
    end: Any = None
    current: bool = False
    deleted: bool = False
    closed_by_delete: bool = False


@dataclass
class Walk:
    keys: list[str]
    order: str
    tracked: list[str] | None  # None: every column but keys, order and "_" columns
    delete_mode: str  # ignore | hard_delete | tombstone
    pattern: str  # full | incremental | cdc
    temporal: bool
    op_column: str | None = None
    codes: tuple[str, str, str] = ("I", "U", "D")
    observations: dict[Key, list[Obs]] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    # Per key: the history rows as of the end of each day (load date -> rows).
    written: dict[Key, dict[Any, date]] = field(default_factory=dict)

    # --- input ----------------------------------------------------------------------------------------

    def add_day(self, load_date: date, rows: list[dict[str, Any]]) -> dict[str, int]:
        """Add the (null-key-free) Bronze rows of ``load_date``; returns that day's counters."""
        before = {k: self.history(k) for k in self.observations}
        new: dict[Key, list[Obs]] = {}
        held: set[Key] = set()  # keys in Bronze D in quarantined rows
        dropped_ops = 0
        deletes_on = self.delete_mode != "ignore"
        for position, row in enumerate(rows):
            if row[self.order] is None or (self.op_column and row[self.op_column] not in self.codes):
                self.errors.append(row)
                held.add(self.key(row))
                continue
            delete = False
            if self.op_column is not None:
                delete = row[self.op_column] == self.codes[2]
                row = {c: v for c, v in row.items() if c != self.op_column}
                if delete and not deletes_on:
                    dropped_ops += 1
                    continue
            k = self.key(row)
            order, kind = row[self.order], "row"
            deleted_at = self._deleted_at(before.get(k, []))
            if self.pattern == "full" and deletes_on and deleted_at is not None:
                order, kind = max(order, deleted_at), ("revived" if order <= deleted_at else "row")
            new.setdefault(k, []).append(Obs(order, load_date, position, delete, dict(row), kind))
        if self.pattern == "full" and deletes_on:
            end = datetime.combine(load_date + timedelta(days=1), datetime.min.time())
            for k, rows_of_k in before.items():
                if rows_of_k and rows_of_k[-1].current and k not in new and k not in held:
                    last = max(o.order for o in self.observations[k])
                    at = max(last, end) if self.temporal else last
                    row = dict(zip(self.keys, k, strict=True)) | {self.order: at}
                    new[k] = [Obs(at, load_date, math.inf, True, row, "detected")]
        for k, obs in new.items():
            self.observations.setdefault(k, []).extend(obs)
        return self._stats(load_date, before, new, dropped_ops)

    # --- the walk -------------------------------------------------------------------------------------

    def key(self, row: dict[str, Any]) -> Key:
        return tuple(row[k] for k in self.keys)

    def tracked_values(self, row: dict[str, Any]) -> tuple[Any, ...]:
        names = self.tracked
        if names is None:
            names = sorted(c for c in row if not c.startswith("_") and c not in self.keys and c != self.order)
        return tuple(row.get(c) for c in names)

    def survivors(self, k: Key) -> list[Obs]:
        """The observations of ``k`` after the tie rule, in walk order."""
        groups: dict[tuple[Any, bool], list[Obs]] = {}
        for o in sorted(self.observations.get(k, []), key=lambda o: (o.order, o.load, o.position)):
            # Tie classes: a detected delete and a version revived at it never tie with each other.
            cls = {"row": 0, "detected": 1, "revived": 2}[o.kind]
            groups.setdefault((o.order, cls), []).append(o)
        kept = []
        for (_, _), tied in sorted(groups.items(), key=lambda item: item[0]):
            # The last wins; when the ones right before it are exact re-deliveries of it, the first of
            # those is kept (landing the same row again rewrites nothing).
            i = len(tied) - 1
            while i and self._same_delivery(tied[i - 1], tied[-1]):
                i -= 1
            kept.append(tied[i])
        return kept

    def _same_delivery(self, a: Obs, b: Obs) -> bool:
        if a.delete or b.delete:
            return a.delete == b.delete
        public = {c for c in (*a.row, *b.row) if not c.startswith("_")}
        return all(a.row.get(c) == b.row.get(c) for c in public)

    def walk(self, k: Key) -> tuple[list[Row], list[Obs]]:
        """History rows of ``k`` (before applying ``hard_delete``) and the observations that opened them."""
        rows: list[Row] = []
        openers: list[Obs] = []
        live: dict[str, Any] | None = None
        for o in self.survivors(k):
            if o.delete:
                if live is None:
                    continue  # nothing to close
                rows.append(Row(live | {self.order: o.row[self.order]}, o.order, deleted=True))
                openers.append(o)
                live = None
            else:
                if live is not None and self.tracked_values(live) == self.tracked_values(o.row):
                    continue  # absorbed
                rows.append(Row(dict(o.row), o.order))
                openers.append(o)
                live = o.row
        for i, row in enumerate(rows):
            nxt = rows[i + 1] if i + 1 < len(rows) else None
            row.end = nxt.start if nxt else None
            row.current = nxt is None and not row.deleted
            row.closed_by_delete = bool(nxt and nxt.deleted)
        return rows, openers

    def history(self, k: Key) -> list[Row]:
        rows, _ = self.walk(k)
        if self.delete_mode == "tombstone":
            return rows
        return [r for r in rows if not r.deleted]

    def current(self, k: Key) -> Row | None:
        rows = self.history(k)
        return rows[-1] if rows and rows[-1].end is None else None

    @staticmethod
    def _deleted_at(history: list[Row]) -> Any:
        """The order value of the delete that left the key deleted, if it is deleted."""
        if not history:
            return None
        last = history[-1]
        if last.deleted:
            return last.start
        return last.end if last.closed_by_delete else None

    # --- counters -------------------------------------------------------------------------------------

    def _stats(
        self, load_date: date, before: dict[Key, list[Row]], new: dict[Key, list[Obs]], dropped_ops: int
    ) -> dict[str, int]:
        stats = dict.fromkeys(
            ["inserted", "updated", "deleted", "unchanged", "duplicates_dropped", "versions_added"], 0
        )
        stats["deletes_applied"] = 0
        stats["duplicates_dropped"] = dropped_ops
        for k, obs in new.items():
            _, openers = self.walk(k)
            for o in obs:
                opened = any(o is x for x in openers)
                if opened:
                    stats["deletes_applied" if o.delete else "versions_added"] += 1
                elif o.kind != "detected":
                    stats["duplicates_dropped"] += 1
            old, now = _live(before.get(k, [])), _live(self.history(k))
            if now is not None and old is None:
                stats["inserted"] += 1
            elif old is not None and now is None:
                stats["deleted"] += 1
            elif old is not None and now is not None:
                same = old.values == now.values and old.start == now.start
                stats["unchanged" if same else "updated"] += 1
        self._stamp(load_date, before)
        return stats

    def _stamp(self, load_date: date, before: dict[Key, list[Row]]) -> None:
        """Remember on which day each row (as it is now) was first written."""
        for k in self.observations:
            old = {self._signature(r): self.written[k][self._signature(r)] for r in before.get(k, [])}
            self.written[k] = {
                self._signature(r): old.get(self._signature(r), load_date) for r in self.history(k)
            }

    def written_on(self, k: Key, row: Row) -> date:
        return self.written[k][self._signature(row)]

    def _signature(self, row: Row) -> tuple[Any, ...]:
        """What a published history row consists of (``_closed_by_delete`` only exists with hard_delete)."""
        return _signature(row) + ((row.closed_by_delete,) if self.delete_mode == "hard_delete" else ())


def _live(rows: list[Row]) -> Row | None:
    return rows[-1] if rows and rows[-1].current else None


def _signature(row: Row) -> tuple[Any, ...]:
    return (
        tuple(sorted(row.values.items(), key=lambda kv: kv[0])),
        row.start,
        row.end,
        row.current,
        row.deleted,
    )
