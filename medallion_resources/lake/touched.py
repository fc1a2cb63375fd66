"""Reading the rows of some keys of a committed Silver partition: what a day touches (merge-on-read).

A day reads from Silver D-1 only the live rows of the keys it touches, each file verified, with their row ids
(the data file and the row's position in it: what a deletes file names) (:func:`read_touched`); and, for
full-load deletes, the key columns alone of the live rows (:func:`read_key_columns`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from medallion_resources.lake.manifest import ManifestFile
from medallion_resources.lake.read import (
    ROW_FILE,
    ROW_POS,
    CommittedPartition,
    _as_frame,
    _decode,
    _empty,
    deleted_positions,
    read_verified,
    widen_alike,
)
from medallion_resources.threads import parallel

__all__ = ["read_key_columns", "read_touched"]

GROUP_BYTES = 32 << 20  # the files one scan reads (at least one); memory: three groups at most (read ahead)
_FETCHES = 2  # files of a group fetched and hashed at once (hashlib and the stores' clients release the GIL)


def read_key_columns(part: CommittedPartition, artifact: str, columns: Sequence[str]) -> pl.DataFrame:
    """Only ``columns`` of the live rows of ``artifact`` (each file verified; the others not decoded)."""
    frame = _live_rows(part, artifact, list(columns), lambda scan: scan, row_ids=False)
    if frame is None:
        empty = _empty(part, artifact)
        return empty.select([c for c in columns if c in empty.columns])
    return frame


_Verified = list[tuple[str, bytes]]
"""A group of files: each path as deletes files name it (rooted at the dataset), and its verified bytes."""


def _verified_groups(part: CommittedPartition, files: Sequence[ManifestFile]) -> Iterator[_Verified]:
    """The files in order, verified, in groups of about :data:`GROUP_BYTES` (by their listed sizes)."""
    groups: list[list[ManifestFile]] = [[]]
    size = 0
    for file in files:
        if size >= GROUP_BYTES:
            groups.append([])
            size = 0
        groups[-1].append(file)
        size += file.size_bytes
    with ThreadPoolExecutor(_FETCHES, thread_name_prefix="medallion-read") as pool:
        for group in groups:
            data = pool.map(lambda f: read_verified(part, f), group)
            yield [(part.rooted(f).path, d) for f, d in zip(group, data, strict=True)]


def _footer(data: bytes) -> tuple[int, pa.Schema] | None:
    """A part file's row count and Arrow schema from its footer (None when it cannot be read: the decoding
    path then says why)."""
    try:
        metadata = pq.ParquetFile(pa.BufferReader(data)).metadata
        return metadata.num_rows, metadata.schema.to_arrow_schema()
    except (pa.ArrowException, OSError, ValueError):
        return None


def _runs(group: _Verified) -> Iterator[tuple[_Verified, list[int] | None]]:
    """Consecutive files of one Arrow schema, with each file's row count (None for a file whose footer
    cannot be read: alone, for the decoding path)."""
    run: _Verified = []
    rows: list[int] = []
    schema: pa.Schema | None = None
    for path, data in group:
        footer = _footer(data)
        if run and (footer is None or not footer[1].equals(schema)):
            yield run, rows
            run, rows, schema = [], [], None
        if footer is None:
            yield [(path, data)], None
            continue
        run.append((path, data))
        rows.append(footer[0])
        schema = footer[1]
    if run:
        yield run, rows


def read_touched(
    part: CommittedPartition,
    artifact: str,
    keys: pl.DataFrame,
    columns: Sequence[str] | None = None,
    widen: Callable[[Sequence[pl.DataFrame]], list[pl.DataFrame]] = widen_alike,
) -> pl.DataFrame | None:
    """The live rows of ``artifact`` whose key (the columns of ``keys``) is in ``keys``, with row ids.

    Each row carries :data:`ROW_FILE` (the data file's path relative to the dataset root) and
    :data:`ROW_POS` (its position in that file): what a deletes file names. ``columns`` limits what is
    decoded (the key columns are always read). None when the artifact has no data files.

    The verified files are scanned by polars a group at a time (:data:`GROUP_BYTES`, the next group
    fetched and hashed meanwhile), the key test pushed into the scan: the other columns are materialized
    for matching rows only, and one scan of many files keeps both cores busy where one scan per file left
    them waiting (1M-row ``current`` of 18 files, 100k touched keys: 0.08-0.14 -> 0.055-0.07 s). Memory holds
    a few groups of file bytes plus the touched rows, never the table.

    Files whose key columns are typed otherwise than ``keys`` are widened with them by ``widen`` (the
    readers' rule, :func:`widen_alike`; Silver passes its own, which reads naive date-times meeting ones
    with a time zone as wall time in ``partitions.timezone``).
    """
    on = list(keys.columns)
    wanted = None if columns is None else list(dict.fromkeys([*on, *columns]))

    def matching(scan: pl.LazyFrame) -> pl.LazyFrame:
        stored = scan.collect_schema()
        if all(stored[k] == keys.schema[k] for k in on):
            return _of_keys(scan, keys)
        # Files of a day whose key column had another type (``1`` then ``"x"``): their rows are widened
        # with the keys by the readers' rule before they are matched, so key 1 is found as "1".
        rows, widened = widen([scan.collect(), keys])
        return _of_keys(rows.lazy(), widened)

    return _live_rows(part, artifact, wanted, matching)


def _of_keys(scan: pl.LazyFrame, keys: pl.DataFrame) -> pl.LazyFrame:
    """The rows of ``scan`` whose key (the columns of ``keys``, of the same types) is in ``keys``."""
    on = list(keys.columns)
    if len(on) == 1:
        return scan.filter(pl.col(on[0]).is_in(keys.get_column(on[0]).implode()))
    return scan.join(keys.lazy(), on=on, how="semi", nulls_equal=True, maintain_order="left")


def _live_rows(
    part: CommittedPartition,
    artifact: str,
    wanted: list[str] | None,
    matching: Callable[[pl.LazyFrame], pl.LazyFrame],
    *,
    row_ids: bool = True,
) -> pl.DataFrame | None:
    """The live rows of ``artifact`` that ``matching`` keeps (``wanted`` columns only, when given), with
    their row ids unless ``row_ids`` is false (every live row's file path would be made only to be
    dropped); None when it has no data files. See :func:`read_touched`."""
    files = part.files(artifact)
    if not files:
        return None
    with ThreadPoolExecutor(1, thread_name_prefix="medallion-deletes") as pool:
        # The deletes files are decoded while the first group is fetched and hashed.
        deleted = pool.submit(deleted_positions, part, artifact)
        with closing(parallel([lambda: _verified_groups(part, files)], depth=1)) as groups:
            return _as_frame(
                [
                    _rows_of(run, counts, deleted.result(), wanted, matching, row_ids)
                    for group in groups
                    for run, counts in _runs(group)
                ]
            )


def _rows_of(
    run: _Verified,
    counts: list[int] | None,
    deleted: dict[str, pl.Series],
    wanted: list[str] | None,
    matching: Callable[[pl.LazyFrame], pl.LazyFrame],
    row_ids: bool,
) -> pl.DataFrame:
    """The live rows ``matching`` keeps of a run of files of one schema: one scan (``counts``: the files'
    row counts), or each file decoded on its own when the scan cannot read them."""
    paths = [path for path, _ in run]
    if counts is not None:
        try:
            return _scanned(run, paths, counts, deleted, wanted, matching, row_ids)
        except (pl.exceptions.PolarsError, pa.ArrowException, OSError, ValueError, NotImplementedError):
            pass  # a type polars' scan cannot read: each file decoded on its own
    frames = []
    for path, data in run:
        frame = matching(_decode(data, wanted).with_row_index(ROW_POS).lazy()).collect()
        frame = frame.with_columns(pl.col(ROW_POS).cast(pl.Int64), pl.lit(path, pl.String).alias(ROW_FILE))
        if path in deleted:
            frame = frame.filter(~pl.col(ROW_POS).is_in(deleted[path].implode()))
        frames.append(frame if row_ids else frame.drop(ROW_POS, ROW_FILE))
    return pl.concat(frames)


def _scanned(
    run: _Verified,
    paths: list[str],
    counts: list[int],
    deleted: dict[str, pl.Series],
    wanted: list[str] | None,
    matching: Callable[[pl.LazyFrame], pl.LazyFrame],
    row_ids: bool,
) -> pl.DataFrame:
    scan = pl.scan_parquet([data for _, data in run], row_index_name=ROW_POS, hive_partitioning=False)
    if wanted is not None:
        scan = scan.select(ROW_POS, *wanted)
    frame = matching(scan).collect().with_columns(pl.col(ROW_POS).cast(pl.Int64))
    starts = pl.Series([0, *counts[:-1]], dtype=pl.Int64).cum_sum()
    gone = [
        _within(deleted[p], count) + start
        for p, count, start in zip(paths, counts, starts, strict=True)
        if p in deleted
    ]
    if gone:  # the row index runs on across the run's files: deleted positions are shifted to it
        frame = frame.filter(~_dead(pl.concat(gone), sum(counts)).gather(frame.get_column(ROW_POS)))
    if not row_ids:
        return frame.drop(ROW_POS)
    index = starts.search_sorted(frame.get_column(ROW_POS), side="right") - 1
    return frame.with_columns(
        pl.col(ROW_POS) - starts.gather(index), pl.Series(ROW_FILE, paths, dtype=pl.String).gather(index)
    )


def _within(positions: pl.Series, rows: int) -> pl.Series:
    """The positions that name a row of a file of ``rows`` rows. Shifted, one past the end would name the
    next file's first row; like every other reading, a position no row has removes nothing
    (``medallion verify`` reports it)."""
    return positions.filter((positions >= 0) & (positions < rows))


def _dead(positions: pl.Series, rows: int) -> pl.Series:
    """A flag per row of ``rows``, set at ``positions``: tested by gathering at the kept rows' positions
    (no hash set of the deleted positions, which outnumber the touched rows late in a fold cycle)."""
    return pl.repeat(False, rows, eager=True).scatter(positions, True)
