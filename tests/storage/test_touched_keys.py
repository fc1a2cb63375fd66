"""``read_touched`` gives exactly the live rows of the touched keys, with their row ids, however grouped;
``read_key_columns`` the key columns of every live row.

The files of an artifact are scanned a group at a time, the row index running on across a group's files;
these tests compare it with a plain reference that reads each listed file and each deletes file on its own
with pyarrow and keeps, row by row, the live rows whose key is touched: same rows, same file and position,
same order, over random histories (replacements, inserts, removals over several days, a column added on
the way, one-column integer and text keys and a two-column key), with groups of one file and of all.
"""

from __future__ import annotations

import random
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from medallion_resources.lake import touched
from medallion_resources.lake.commit import PartitionWriter
from medallion_resources.lake.parts import PartSettings
from medallion_resources.lake.read import ROW_FILE, ROW_POS, CommittedPartition, read_committed
from medallion_resources.lake.touched import read_key_columns
from medallion_resources.storage import StorageBackend

ROOT = "domain=d/entity=e/v1"


def _key(kind: str, n: int) -> dict[str, Any]:
    if kind == "int":
        return {"id": n - 40}
    if kind == "str":
        return {"id": f"k{n:03d}é"}
    return {"id": n % 7, "k2": f"g{n // 7}"}


def _commit(
    backend: StorageBackend,
    day: int,
    rows: list[dict[str, Any]],
    prior: CommittedPartition | None,
    gone: pl.DataFrame | None,
    schema: dict[str, pl.DataType],
) -> CommittedPartition:
    prefix = f"{ROOT}/load_date=2026-01-{day:02d}"
    writer = PartitionWriter(
        backend,
        prefix,
        layer="silver",
        dataset=ROOT,
        run_date=prefix[-10:],
        run_id="r",
        output=PartSettings(max_rows_per_file=3),
        shared=True,
    )
    if prior is not None:
        writer.reference(prior.rooted(f) for f in prior.manifest.files)
    if gone is not None and gone.height:
        writer.write_deletes(
            "current", gone.select(pl.col(ROW_FILE).alias("path"), pl.col(ROW_POS).alias("pos"))
        )
    writer.write_artifact("current", [pl.DataFrame(rows, schema=schema)])
    writer.set_keyed("current", [c for c in schema if c in ("id", "k2")], sorted_=prior is None)
    writer.commit({"day": day})
    part = read_committed(backend, prefix)
    assert part is not None
    return part


def _history(backend: StorageBackend, kind: str, rng: random.Random) -> CommittedPartition:
    """Day 1 writes 12 keys; each later day replaces, inserts and removes a few (removing a key's row
    through a deletes file, found by ``read_touched`` itself) and, from some day on, adds a column."""
    key_schema: dict[str, pl.DataType] = {"id": pl.Int64} if kind == "int" else {"id": pl.String}
    if kind == "pair":
        key_schema = {"id": pl.Int64, "k2": pl.String}
    schema: dict[str, pl.DataType] = {**key_schema, "v": pl.String}
    live = {n: f"v{n}" for n in range(12)}
    part = _commit(backend, 1, [{**_key(kind, n), "v": v} for n, v in live.items()], None, None, schema)
    drift_day = rng.randrange(2, 7)
    for day in range(2, 7):
        if day == drift_day:
            schema = {**schema, "w": pl.Int64}
        changed = rng.sample(range(20), rng.randrange(1, 6))
        removed = [n for n in changed if n in live and rng.random() < 0.3]
        keys = pl.DataFrame([_key(kind, n) for n in changed], schema=key_schema)
        gone = touched.read_touched(part, "current", keys, list(key_schema))
        for n in changed:
            live[n] = f"v{n}d{day}"
        for n in removed:
            del live[n]
        rows = [
            {**_key(kind, n), "v": live[n], **({"w": day} if "w" in schema else {})}
            for n in changed
            if n in live
        ]
        part = _commit(backend, day, rows, part, gone, schema)
    return part


def _plain(
    part: CommittedPartition, keys: pl.DataFrame | None, columns: list[str] | None
) -> list[dict[str, Any]]:
    """Each listed file read on its own by pyarrow, row by row: the live rows whose key is in ``keys``
    (every live row when None)."""
    dead = set()
    for file in part.manifest.delete_files("current"):
        table = pq.ParquetFile(pa.BufferReader(part.backend.read_bytes(part.relpath(file)))).read()
        dead |= {(r["path"], r["pos"]) for r in table.to_pylist()}
    on = list(keys.columns) if keys is not None else []
    wanted_keys = {tuple(r) for r in keys.iter_rows()} if keys is not None else None
    out = []
    for file in part.files("current"):
        path = part.rooted(file).path
        table = pq.ParquetFile(pa.BufferReader(part.backend.read_bytes(part.relpath(file)))).read()
        for pos, row in enumerate(table.to_pylist()):
            if (path, pos) in dead or (
                wanted_keys is not None and tuple(row[c] for c in on) not in wanted_keys
            ):
                continue
            kept = row if columns is None else {c: row[c] for c in dict.fromkeys([*on, *columns])}
            out.append({ROW_POS: pos, **kept, ROW_FILE: path})
    return out


@pytest.mark.parametrize("kind", ["int", "str", "pair"])
@pytest.mark.parametrize("seed", range(4))
def test_touched_rows_are_those_a_plain_reading_keeps(
    backend: StorageBackend, monkeypatch: pytest.MonkeyPatch, kind: str, seed: int
) -> None:
    rng = random.Random(seed)
    part = _history(backend, kind, rng)
    every = _plain(part, None, None)  # the history is what the test needs: files, deletes, a drifted schema
    assert len(part.files("current")) > 4 and part.manifest.delete_files("current")
    assert any("w" in row for row in every) and any("w" not in row for row in every)
    key_names = ["id", "k2"] if kind == "pair" else ["id"]
    key_schema = {"id": pl.Int64 if kind != "str" else pl.String, "k2": pl.String}
    for group_bytes in (1, 1 << 30):  # every file its own scan; all files in one
        monkeypatch.setattr(touched, "GROUP_BYTES", group_bytes)
        for _ in range(4):
            picked = rng.sample(range(24), rng.randrange(1, 12))
            keys = pl.DataFrame([_key(kind, n) for n in picked], schema={k: key_schema[k] for k in key_names})
            for columns in (None, key_names, ["v", *key_names]):
                got = touched.read_touched(part, "current", keys, columns)
                want = _plain(part, keys, columns)
                assert got is not None and set(got.columns) >= {ROW_POS, ROW_FILE, *key_names}
                # a file written before the column was added has none: the reading gives it as null
                assert all(set(row) <= set(got.columns) for row in want)
                assert got.to_dicts() == [{c: row.get(c) for c in got.columns} for row in want]
                assert got.schema[ROW_POS] == pl.Int64 and got.schema[ROW_FILE] == pl.String
        live_keys = [{k: r[k] for k in key_names} for r in _plain(part, None, key_names)]
        assert read_key_columns(part, "current", key_names).to_dicts() == live_keys


def test_a_run_polars_cannot_scan_is_decoded_file_by_file(
    backend: StorageBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fallback (a type polars' scan refuses) gives the same rows and row ids as the scan."""
    part = _history(backend, "int", random.Random(7))
    keys = pl.DataFrame({"id": [n - 40 for n in range(0, 24, 2)]})
    scanned = touched.read_touched(part, "current", keys)

    def refuse(*args: Any, **kwargs: Any) -> pl.LazyFrame:
        raise pl.exceptions.ComputeError("not this type")

    monkeypatch.setattr(touched.pl, "scan_parquet", refuse)
    decoded = touched.read_touched(part, "current", keys)
    assert scanned is not None and decoded is not None and scanned.height > 0
    assert decoded.equals(scanned)
    assert decoded.to_dicts() == [{c: r.get(c) for c in decoded.columns} for r in _plain(part, keys, None)]


def test_a_deleted_position_past_its_file_removes_no_row_of_the_next(backend: StorageBackend) -> None:
    """Shifted onto the run's row index, position 3 of a 3-row file would be the next file's first row.
    Like every other reading, a position no row has removes nothing (``medallion verify`` reports it)."""
    schema: dict[str, pl.DataType] = {"id": pl.Int64, "v": pl.String}
    day1 = _commit(backend, 1, [{"id": n, "v": f"v{n}"} for n in range(6)], None, None, schema)
    first, second = (day1.rooted(f).path for f in day1.files("current"))
    bad = pl.DataFrame({ROW_FILE: [first, first], ROW_POS: [3, -1]})
    day2 = _commit(backend, 2, [], day1, bad, schema)
    keys = pl.DataFrame({"id": list(range(6))})
    got = touched.read_touched(day2, "current", keys)
    assert got is not None
    assert got.select("id", ROW_FILE, ROW_POS).rows() == [
        (n, first if n < 3 else second, n % 3) for n in range(6)
    ]
    assert read_key_columns(day2, "current", ["id"]).get_column("id").to_list() == list(range(6))
