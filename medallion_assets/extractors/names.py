"""Column names as Bronze can hold them: the one rule for the names a source's data gives its columns.

Bronze's Parquet files, polars, Silver's SQL and the UI need every column to have a name, and a name of its
own. A CSV header (``file.csv_reader``) and the keys of JSON records (``extractors.records``: JSON files and
API pages) name columns, and either can hold an empty or a repeated name, so both go through
``unique_names``; so do a Parquet source's column names (``file.parquet_reader``, before ``columns:``
projects by them), and every batch Bronze takes from any extractor (``assets.bronze.with_bronze_columns``:
a DB query's ``SELECT o.id, c.id``, a plugin's batches).
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["EMPTY_KEY", "unique_names"]

EMPTY_KEY = "empty_key"
"""The column of the JSON key ``""``: a key has no stable position (each record, page or chunk may order
its keys differently), so it cannot be named by position as an empty CSV header is."""


def unique_names(names: Sequence[str], empty: str | None = None) -> list[str]:
    """``names`` as Bronze can hold them (one column per name, none empty).

    A name that is neither empty nor repeated is kept. An empty name becomes ``empty`` when given (the JSON
    rule: ``EMPTY_KEY``), else ``column_<position>`` (a CSV header: as in a file without one); a repeated
    one ``<name>_<position>`` (the first keeps the name). A generated name that is already one of
    ``names`` gets ``_2``, ``_3``, ...: a name the data gives is never taken from it. Example:
    ``id,name,name,`` gives ``id, name, name_3, column_4``.
    """
    taken = set(names)
    if "" not in taken and len(taken) == len(names):
        return list(names)
    result: list[str] = []
    used: set[str] = set()
    for position, name in enumerate(names, start=1):
        if name and name not in used:
            result.append(name)
            used.add(name)
            continue
        base = f"{name}_{position}" if name else (empty if empty is not None else f"column_{position}")
        candidate, suffix = base, 2
        while candidate in taken or candidate in used:
            candidate, suffix = f"{base}_{suffix}", suffix + 1
        result.append(candidate)
        used.add(candidate)
    return result
