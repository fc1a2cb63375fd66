"""Version ordering shared by the Silver models: required columns, positions, latest row per key.

DESIGN §6 orders the versions of a key by (``order_column``, Bronze load date, position in the Bronze
partition), the last one winning a tie. Every model builds that order the same way:

- a hidden :data:`POSITION` column numbers the rows of a frame in Bronze order (:func:`with_position`);
- the load date is stood in for by a hidden :data:`SOURCE` column (0 = Silver D-1 state, 1 = Bronze D), since
  state rows always come from earlier load dates than incoming rows;
- nulls in ``order_column`` sort first, i.e. a version without an order value is the oldest.

:func:`latest_per_key` keeps the last version per key under that order; the stateful models (SCD1 now, SCD2
and CDC later) reuse it and :func:`order_wins` for "does the incoming version beat the state's".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import polars as pl

from medallion_assets.errors import SilverInputError

__all__ = [
    "DELETED",
    "HIDDEN",
    "check_text_order",
    "POSITION",
    "SOURCE",
    "drop_hidden",
    "latest_per_key",
    "rows_of_keys",
    "order_wins",
    "require_columns",
    "with_position",
]

# Hidden working columns; never written. The double underscore keeps them clear of Bronze's ``_`` columns.
POSITION = "__medallion_position"
SOURCE = "__medallion_source"
HIDDEN = (POSITION, SOURCE)

DELETED = "_deleted"


# A number written as text: what text order sorts wrongly once the lengths differ ("10" < "9").
_NUMBER_TEXT = r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$"
_PLAIN_DIGITS = r"^\d+$"
# An ISO 8601 date-time (or date) as ``silver.schema.types: datetime`` reads it; group 1 is its UTC offset.
_DATE_TIME_TEXT = (
    r"^\s*\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*([Zz]|[+-]\d{2}(?::?\d{2})?)?)?\s*$"
)


def check_text_order(frames: Iterable[pl.DataFrame | None], order_column: str | None) -> None:
    """Raise :class:`SilverInputError` when ``order_column`` is text holding numbers that text order sorts
    differently from their values.

    Versions are ordered by the column's values as the frames type them; Bronze of a CSV is all text, and a
    JSON producer may quote a number one day (``9``, then ``"10"``: widened to text). Text puts ``"10"``
    before ``"9"``, so a newer version would be taken for an older one and dropped without a word. Only a
    column whose every value (of the rows being ordered together: the state's and the day's) reads as a
    number is judged, and digits of one length (``"0042"``, ``"0100"``) sort alike either way.

    ISO date-times as text order as their instants only when they share one UTC offset:
    ``2025-03-01T10:00:00+02:00`` (08:00 UTC) sorts after ``2025-03-01T09:00:00Z``, and a value without an
    offset (wall time in ``partitions.timezone``) has no offset to compare with one that has. A column whose
    every value is an ISO date-time fails when the values do not all have the same offset (``Z``,
    ``+00:00`` and ``+0000`` are one; no offset is another). Any other text (names) orders as text.
    """
    if order_column is None:
        return
    columns = [
        f.get_column(order_column).drop_nulls()
        for f in frames
        if f is not None and order_column in f.columns and f.schema[order_column] == pl.String
    ]
    if not columns:
        return
    if all(c.str.contains(_DATE_TIME_TEXT).all() for c in columns):
        _check_offsets(pl.concat(columns), order_column)
        return
    if any(not c.str.contains(_NUMBER_TEXT).all() for c in columns):
        return  # the day's rows first: any other text ends the check before the state's rows are read
    values = pl.concat(columns)
    if values.is_empty():
        return
    if values.str.contains(_PLAIN_DIGITS).all() and values.str.len_bytes().n_unique() == 1:
        return
    shown = ", ".join(repr(v) for v in values.unique(maintain_order=True).head(3).to_list())
    raise SilverInputError(
        f"silver.order_column '{order_column}' holds numbers as text ({shown}): text order puts '10' before "
        "'9', so versions would be ordered wrongly; declare its type, e.g. "
        f"silver.schema.types: {{{order_column}: int64}} (or decimal(p,s), float64)"
    )


def _check_offsets(values: pl.Series, order_column: str) -> None:
    """Raise when the ISO date-times ``values`` do not all have the same UTC offset (none counts as one)."""
    offsets = (
        values.str.extract(_DATE_TIME_TEXT, 1)
        .str.replace(r"^[Zz]$", "+00:00")
        .str.replace(r"^([+-]\d{2})$", "${1}:00")
        .str.replace(r"^([+-]\d{2})(\d{2})$", "${1}:${2}")
        .str.replace(r"^-00:00$", "+00:00")
        .fill_null("")
    )
    if offsets.n_unique() < 2:
        return
    examples = pl.DataFrame({"value": values, "offset": offsets}).unique(
        "offset", keep="first", maintain_order=True
    )
    shown = ", ".join(repr(v.strip()) for v in examples.get_column("value").head(3).to_list())
    raise SilverInputError(
        f"silver.order_column '{order_column}' holds date-times as text with differing UTC offsets "
        f"({shown}): text order puts '2025-03-01T10:00:00+02:00' after '2025-03-01T09:00:00Z' though it "
        "is earlier, and a time without an offset is not comparable with one that has, so versions would be "
        "ordered wrongly; "
        f"declare its type, silver.schema.types: {{{order_column}: datetime}} (every value then becomes "
        "wall time in partitions.timezone)"
    )


def require_columns(frame: pl.DataFrame, columns: Iterable[str | None], *, what: str) -> None:
    """Raise :class:`SilverInputError` naming every column of ``columns`` that ``frame`` lacks.

    Args:
        frame: The rows to check.
        columns: Column names; ``None`` entries (an unset ``order_column``) are skipped.
        what: Where the names come from, e.g. ``"silver.primary_keys"``, for the message.
    """
    missing = [c for c in columns if c is not None and c not in frame.columns]
    if missing:
        present = ", ".join(frame.columns) or "(none)"
        raise SilverInputError(
            f"{what} names column(s) {', '.join(repr(c) for c in missing)} that Bronze does not have; "
            f"present columns: {present}"
        )


def with_position(frame: pl.DataFrame) -> pl.DataFrame:
    """Number the rows 0..n-1 in their current (Bronze) order in the hidden :data:`POSITION` column."""
    return frame.with_row_index(POSITION)


def drop_hidden(frame: pl.DataFrame) -> pl.DataFrame:
    """Drop the hidden working columns, whichever are present."""
    return frame.drop([c for c in HIDDEN if c in frame.columns])


def latest_per_key(
    frame: pl.DataFrame,
    keys: Sequence[str],
    order_column: str | None,
    tiebreak: Sequence[str] = (POSITION,),
) -> pl.DataFrame:
    """Keep the last version of every key, ordered by ``order_column`` (nulls first), then ``tiebreak``.

    ``frame`` must carry the ``tiebreak`` columns (by default :data:`POSITION`, see :func:`with_position`).
    The winners come back in the order of their ``tiebreak`` values, i.e. in Bronze order.

    Example (keys ``[id]``, order ``ts``)::

        id ts  pos            id ts  pos
        1  5   0              2  7   2
        1  9   1      ->      1  9   3   (ts 9 ties with pos 1; the later position wins)
        2  7   2
        1  9   3
    """
    if _unique_in_order(frame, keys, tiebreak):
        return frame  # one version per key, already in tiebreak order: what the sorts below would give
    by = [order_column, *tiebreak] if order_column else list(tiebreak)
    return (
        frame.sort(by, nulls_last=False, maintain_order=True)
        .unique(subset=list(keys), keep="last", maintain_order=True)
        .sort(list(tiebreak))
    )


def _unique_in_order(frame: pl.DataFrame, keys: Sequence[str], tiebreak: Sequence[str]) -> bool:
    """Every key once and the rows in strictly increasing tiebreak order (the usual Bronze day): then the
    latest version per key is every row, in the order they are. One tiebreak column only, so its values
    are totally ordered and "strictly increasing" settles the order of every pair of rows."""
    if len(tiebreak) != 1 or not frame.height:
        return False
    column = frame.get_column(tiebreak[0])
    if column.null_count() or not column.is_sorted() or (column.diff() == 0).any():
        return False
    return frame.select(list(keys)).n_unique() == frame.height


def rows_of_keys(
    frame: pl.DataFrame, keys_frame: pl.DataFrame, keys: Sequence[str], *, anti: bool = False
) -> pl.DataFrame:
    """The rows of ``frame`` whose key is (``anti``: is not) in ``keys_frame``, in ``frame``'s order; null
    keys equal. A semi (anti) join; with one key column of one type a hash-set membership filter, several
    times faster on the large frames a day's touched keys meet."""
    keys = list(keys)
    if len(keys) == 1 and frame.schema[keys[0]] == keys_frame.schema[keys[0]]:
        inside = pl.col(keys[0]).is_in(keys_frame.get_column(keys[0]).implode(), nulls_equal=True)
        return frame.filter(~inside if anti else inside)
    how: Any = "anti" if anti else "semi"
    return frame.join(keys_frame, on=keys, how=how, nulls_equal=True, maintain_order="left")


def order_wins(incoming: str, state: str) -> pl.Expr:
    """True where a newer-loaded value of ``incoming`` beats an older-loaded value of ``state``.

    The incoming version comes from a later load date, so it wins every tie: it loses only when its order
    value is strictly older, and a null order value is older than any value.
    """
    inc, old = pl.col(incoming), pl.col(state)
    return old.is_null() | (inc.is_not_null() & (inc >= old))
