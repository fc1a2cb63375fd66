"""Preparation of Bronze rows before a Silver model sees them: rename, normalize, type, quarantine, order.

The steps run in this order, as polars expressions over whole columns (no per-row Python):

1. ``schema.rename_map``: Bronze name -> Silver name. Renaming a column Bronze does not have is an error,
   unless Silver already has the column (``known``): see "Columns a day leaves out" below.
2. ``normalization``: ``trim_strings`` strips string columns, then ``empty_strings_as_null`` turns ``""`` into
   null. Only string columns, never the ``_``-prefixed columns Bronze adds.
3. ``schema.types``: casts with strict semantics: a value that is non-null before and null after the cast is a
   cast failure. Strings parse as follows: ``date`` accepts ``YYYY-MM-DD``; ``datetime``/``timestamp``
   accept ISO 8601 (``T`` or space separated, optional seconds fraction, optional ``Z``/``+hh:mm`` offset; a
   date alone means midnight) and become naive microsecond timestamps holding wall time in the source's
   ``partitions.timezone``: a value without an offset is kept as written, one with an offset or ``Z`` (and
   a value of a timezone-aware source column) becomes that instant's wall time there
   (``2025-03-01T09:30:00Z`` is ``2025-03-01 10:30`` with days in Europe/Paris; with UTC days, UTC);
   ``time`` accepts ``HH:MM[:SS[.f]]``; ``boolean`` accepts true/false, 1/0, yes/no in any case;
   ``decimal(p,s)`` rejects values with more than ``s`` significant fraction digits instead of truncating
   them.
4. Null primary keys (after normalization, so ``""`` with ``empty_strings_as_null`` counts as null).
5. ``schema.column_order``: the listed columns first, every other column after them in its order.

Columns a day leaves out: a column the config names (in ``schema.types``, ``schema.column_order``,
``scd2.track_columns``, or as a ``rename_map`` target) that Bronze D lacks is an error naming it (a typo, most
likely) unless Silver already has it (``known``: the columns of Silver D-1): then it is a column of nulls on
D, as a column a record leaves out is (a JSON producer that omits null fields, a day where every amount is
null). The primary keys and the order column are always required.

A row that fails any check goes to ``errors`` once, with its values as Bronze held them (renamed, not yet
normalized or cast) and every reason joined by ``"; "`` in ``_error_reason``. With ``primary_keys: [id]``
and ``types: {id: int64, amount: "decimal(18,2)"}``::

    Bronze                 clean                  errors
    id    amount           id  amount             id    amount  _error_reason
    "1"   "10.50"    ->    1   10.50              null  "x"     cast failed: column 'amount' value 'x' is
    null  "x"                                                   not decimal(18,2); null primary key: id

Thresholds (``silver.error_handling``): the asset fails when the quarantined rows exceed
``max_bad_records`` **and** exceed ``max_bad_percent`` percent of the rows in. Both default to 0, so by
default any bad row fails the asset; ``max_bad_records: 100`` alone allows up to 100 bad rows,
``max_bad_percent: 1`` alone allows up to 1 % of the rows. With ``enabled: false`` nothing is quarantined:
the first bad row fails the asset (:func:`prepare` raises).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

import polars as pl
import pyarrow as pa

from medallion_assets.config.models import ErrorHandlingConfig, SilverConfig
from medallion_assets.errors import DeleteThresholdError, QuarantineThresholdError, SilverInputError
from medallion_assets.silver.keys import require_columns
from medallion_resources.json_text import json_text_array

__all__ = ["ERROR_REASON", "Prepared", "enforce_thresholds", "parse_type", "prepare"]

ERROR_REASON = "_error_reason"
# How much of a bad value goes into its error reason.
MAX_VALUE_CHARS = 80

_SIMPLE_TYPES: dict[str, pl.DataType] = {
    "string": pl.String(),
    "utf8": pl.String(),
    "int8": pl.Int8(),
    "int16": pl.Int16(),
    "int32": pl.Int32(),
    "int64": pl.Int64(),
    "uint8": pl.UInt8(),
    "uint16": pl.UInt16(),
    "uint32": pl.UInt32(),
    "uint64": pl.UInt64(),
    "float32": pl.Float32(),
    "float64": pl.Float64(),
    "boolean": pl.Boolean(),
    "bool": pl.Boolean(),
    "date": pl.Date(),
    "datetime": pl.Datetime("us"),
    "timestamp": pl.Datetime("us"),
    "time": pl.Time(),
}
_DECIMAL_RE = re.compile(r"^decimal\(\s*(\d+)\s*,\s*(\d+)\s*\)$")

_NAIVE_DATETIME_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
)
_OFFSET_DATETIME_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%.f%#z")
_TIME_FORMATS = ("%H:%M:%S%.f", "%H:%M")
_BOOLEAN_WORDS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


@dataclass
class Prepared:
    """Bronze rows split into rows the model gets and rows that go to ``_errors/``.

    Attributes:
        clean: Renamed, normalized, typed, ordered rows; no null keys.
        errors: The rejected rows with their Bronze values (renamed) plus ``_error_reason``.
        reason_counts: How many rows failed each check, e.g. ``{"null primary key: order_id": 2}``.
        kept_as: Bronze columns of a name Silver writes, and the ``<name>_source`` name they keep.
        held_keys: The keys (typed as in ``clean``) of rejected rows whose keys are valid: Bronze holds
            those keys, so a full load does not delete them for lack of a clean row.
    """

    clean: pl.DataFrame
    errors: pl.DataFrame
    reason_counts: dict[str, int] = field(default_factory=dict)
    kept_as: dict[str, str] = field(default_factory=dict)
    held_keys: pl.DataFrame | None = None


def parse_type(name: str) -> pl.DataType:
    """The polars dtype of a ``schema.types`` value (``"int64"``, ``"decimal(18,2)"``, ...)."""
    text = name.strip().lower()
    if text in _SIMPLE_TYPES:
        return _SIMPLE_TYPES[text]
    match = _DECIMAL_RE.match(text)
    if match:
        return pl.Decimal(int(match.group(1)), int(match.group(2)))
    allowed = ", ".join(sorted(_SIMPLE_TYPES)) + ", decimal(p,s)"
    raise SilverInputError(f"unknown type '{name}' in silver.schema.types; use one of: {allowed}")


def prepare(
    frame: pl.DataFrame,
    config: SilverConfig,
    *,
    dataset: str = "",
    known: Collection[str] = (),
    reserved: Collection[str] = (),
    timezone: str = "UTC",
) -> Prepared:
    """Rename, normalize, type and order Bronze rows; quarantine rows with failed casts or null keys.

    Args:
        frame: Bronze rows in Bronze order.
        config: The source's ``silver`` section.
        dataset: Name used in error messages (the source name).
        known: The columns Silver already has (of D-1): a column the config names that Bronze lacks is null
            when it is one of them, an error otherwise.
        reserved: The columns the model writes (``SilverModel.writes``): a Bronze column of one of these
            names, or ``_error_reason``, keeps its values as ``<name>_source`` (``Prepared.kept_as``).
        timezone: The source's ``partitions.timezone``: a ``datetime`` typed column holds wall time there.

    Raises:
        SilverInputError: A column named in the config is not in Bronze.
        QuarantineThresholdError: A row is bad while ``error_handling.enabled`` is false.
    """
    schema = config.silver_schema
    if frame.width == 0:  # a day that read no records, so Bronze learned no columns: an empty day
        frame = pl.DataFrame(schema=dict.fromkeys(_named_columns(config), pl.Null))
    renamed, kept_as = _keep_source_columns(_rename(frame, schema.rename_map, known), reserved)
    require_columns(renamed, config.primary_keys, what="silver.primary_keys")
    require_columns(renamed, [config.order_column], what="silver.order_column")
    renamed = _with_left_out(renamed, config, known)
    require_columns(renamed, schema.types, what="silver.schema.types")
    require_columns(renamed, schema.column_order, what="silver.schema.column_order")
    targets = {column: parse_type(type_name) for column, type_name in schema.types.items()}

    normalized = renamed.with_columns(_normalize_exprs(renamed, config))
    casts = {c: _cast_expr(normalized.schema[c], c, t, timezone) for c, t in targets.items()}
    try:
        work = normalized.with_columns(cast.alias(_typed(c)) for c, cast in casts.items())
    except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError) as exc:
        _require_castable(normalized, casts, schema.types, dataset)
        raise exc
    checks = _cast_checks(schema.types, normalized.schema) + _null_key_checks(config.primary_keys)
    work = work.with_columns(check.failed.alias(_flag(i)) for i, check in enumerate(checks))
    flags = [pl.col(_flag(i)) for i in range(len(checks))]
    bad = work.select(pl.any_horizontal(flags) if flags else pl.repeat(False, pl.len())).to_series()
    totals = work.select(flag.sum() for flag in flags).row(0) if flags else ()
    reason_counts = {check.label: int(n) for check, n in zip(checks, totals, strict=True) if n}

    order = _column_order(renamed.columns, schema.column_order)
    clean = work.filter(~bad).select(pl.col(_typed(c)).alias(c) if c in targets else pl.col(c) for c in order)
    # Reasons are built for the bad rows only; their values are shown as Bronze held them.
    reasons = work.filter(bad).select(_reason(checks))
    errors = renamed.filter(bad).select(order).with_columns(reasons.to_series())
    if errors.height and not config.error_handling.enabled:
        enforce_thresholds(
            frame.height, errors.height, config.error_handling, dataset, reason_counts=reason_counts
        )
    return Prepared(
        clean=clean,
        errors=errors,
        reason_counts=reason_counts,
        kept_as=kept_as,
        held_keys=_held_keys(work, bad, config, targets),
    )


def _held_keys(
    work: pl.DataFrame, bad: pl.Series, config: SilverConfig, targets: Mapping[str, pl.DataType]
) -> pl.DataFrame | None:
    """The valid keys (not null, cast when typed) of the rejected rows, unique, typed as ``clean``'s."""
    keys = list(config.primary_keys)
    if not keys or not bad.any():
        return None
    typed = work.filter(bad).select(pl.col(_typed(k)).alias(k) if k in targets else pl.col(k) for k in keys)
    held = typed.drop_nulls().unique(maintain_order=True)
    return held if held.height else None


def enforce_thresholds(
    rows_in: int,
    quarantined: int,
    config: ErrorHandlingConfig,
    dataset: str,
    *,
    reason_counts: Mapping[str, int] | None = None,
) -> None:
    """Fail when more rows were quarantined than ``silver.error_handling`` allows.

    The limit is exceeded when ``quarantined > max_bad_records`` and ``quarantined`` is more than
    ``max_bad_percent`` percent of ``rows_in``; with ``enabled: false`` any quarantined row fails.

    Raises:
        QuarantineThresholdError: Naming the dataset, the counts, the limits and the reason counts.
    """
    if quarantined <= 0:
        return
    percent = 100.0 * quarantined / rows_in if rows_in else 100.0
    if config.enabled and (quarantined <= config.max_bad_records or percent <= config.max_bad_percent):
        return
    where = f"{dataset}: " if dataset else ""
    if config.enabled:
        limits = (
            f"above the limits max_bad_records={config.max_bad_records} and "
            f"max_bad_percent={config.max_bad_percent:g}%"
        )
    else:
        limits = "and silver.error_handling.enabled is false, so no row may be quarantined"
    reasons = "; ".join(f"{label}: {n}" for label, n in (reason_counts or {}).items())
    raise QuarantineThresholdError(
        f"{where}{quarantined} of {rows_in} rows ({percent:.2f}%) failed the Silver checks, {limits}"
        + (f"; reasons: {reasons}" if reasons else "")
    )


def enforce_delete_fraction(
    live_before: int, deleted: int, max_fraction: float, dataset: str, *, previous: str | None
) -> None:
    """Fail a full load that would delete more than ``run.max_delete_fraction`` of Silver D-1's live keys.

    An empty or truncated snapshot (a file with only its header, a table emptied by mistake) would otherwise
    delete every key silently. Only full loads with deletes on call this; 1.0 turns it off.

    Raises:
        DeleteThresholdError: Naming the counts, the fraction, the limit and how to allow it.
    """
    if deleted <= 0 or live_before <= 0 or max_fraction >= 1.0:
        return
    fraction = deleted / live_before
    if fraction <= max_fraction:
        return
    where = f"{dataset}: " if dataset else ""
    state = f"Silver {previous}" if previous and previous != "rebuilt_from_bronze" else "the Silver state"
    raise DeleteThresholdError(
        f"{where}this full load would delete {deleted} of the {live_before} live keys of {state} "
        f"({fraction:.1%}), more than source.run.max_delete_fraction {max_fraction:g} allows; nothing was "
        "committed and the previous commit stays in place. If the source really lost those rows, raise "
        "source.run.max_delete_fraction (1.0 turns the guard off) and run the day again"
    )


# --- steps ------------------------------------------------------------------------------------------------


def _named_columns(config: SilverConfig) -> list[str]:
    """The Bronze columns the config names, by their Bronze names (before ``rename_map``).

    A Bronze day without records and columns (an empty file allowed, an API answering ``[]``) stands for
    an empty frame of these, untyped: every model then sees a day without rows (no change for an
    incremental load; an empty snapshot for a full one), as with an empty file that has a header, instead
    of failing on the columns it names.
    """
    schema = config.silver_schema
    named = [*config.primary_keys, config.order_column, *schema.types, *schema.column_order]
    if config.cdc is not None:
        named.append(config.cdc.operation_column)
    bronze_name = {new: old for old, new in schema.rename_map.items()}
    return list(dict.fromkeys([*schema.rename_map, *(bronze_name.get(c, c) for c in named if c)]))


def _with_left_out(frame: pl.DataFrame, config: SilverConfig, known: Collection[str]) -> pl.DataFrame:
    """``frame`` with a column of nulls for each column the config names that it lacks and Silver has."""
    schema = config.silver_schema
    named = [
        *schema.types,
        *schema.column_order,
        *schema.rename_map.values(),
        *(config.scd2.track_columns or [] if config.scd2 else []),
    ]
    left_out = [c for c in dict.fromkeys(named) if c not in frame.columns and c in known]
    return frame.with_columns(pl.lit(None).alias(c) for c in left_out) if left_out else frame


def _keep_source_columns(
    frame: pl.DataFrame, reserved: Collection[str]
) -> tuple[pl.DataFrame, dict[str, str]]:
    """``frame`` with its columns of a name Silver writes itself (``reserved``, ``_error_reason``, the
    models' ``__medallion_`` working columns) renamed ``<name>_source`` (``_2``, ... if taken), and which.

    Silver's own column would replace the source's values without a word (or fail the next day, a text
    ``is_current`` where a boolean belongs); kept so, they are data like any other column, as Bronze keeps a
    source's own ``_source_file``."""
    own = {*reserved, ERROR_REASON}
    clash = [c for c in frame.columns if c in own or c.startswith("__medallion")]
    if not clash:
        return frame, {}
    taken = {*frame.columns, *own}
    kept: dict[str, str] = {}
    for name in clash:
        candidate, suffix = f"{name}_source", 2
        while candidate in taken:
            candidate, suffix = f"{name}_source_{suffix}", suffix + 1
        taken.add(candidate)
        kept[name] = candidate
    return frame.rename(kept), kept


def _rename(frame: pl.DataFrame, rename_map: Mapping[str, str], known: Collection[str] = ()) -> pl.DataFrame:
    # A column Bronze D left out whose Silver name Silver has is not renamed: it is null on D.
    rename_map = {old: new for old, new in rename_map.items() if old in frame.columns or new not in known}
    if not rename_map:
        return frame
    require_columns(frame, rename_map, what="silver.schema.rename_map")
    after = [rename_map.get(c, c) for c in frame.columns]
    clashes = sorted({c for c in after if after.count(c) > 1})
    if clashes:
        raise SilverInputError(
            f"silver.schema.rename_map would give several columns the name(s) {', '.join(clashes)}; "
            f"present columns: {', '.join(frame.columns)}"
        )
    return frame.rename(dict(rename_map))


def _normalize_exprs(frame: pl.DataFrame, config: SilverConfig) -> list[pl.Expr]:
    norm = config.normalization
    if not (norm.trim_strings or norm.empty_strings_as_null):
        return []
    exprs = []
    for name, dtype in frame.schema.items():
        if name.startswith("_") or dtype != pl.String:
            continue
        expr = pl.col(name)
        if norm.trim_strings:
            expr = expr.str.strip_chars()
        if norm.empty_strings_as_null:
            expr = pl.when(expr == "").then(None).otherwise(expr)
        exprs.append(expr.alias(name))
    return exprs


def _cast_expr(source: pl.DataType, column: str, target: pl.DataType, timezone: str = "UTC") -> pl.Expr:
    """Cast ``column`` to ``target`` without raising: a value that cannot be cast becomes null, and so does
    a decimal whose digits ``target``'s scale cannot hold, a float or decimal that an integer type holds
    only cut (``1.5`` as ``int64``: the cast read back is not the value), or a nanosecond timestamp whose
    digits a microsecond ``datetime`` cannot (quarantined, not kept cut short). A float typed decimal is
    rounded to the scale, as databases cast it (a float has no exact digits to keep).

    A naive ``target`` datetime holds wall time in ``timezone``: an instant (a value with an offset, a
    column with a time zone) becomes its wall time there, a ``date`` its day and a ``time`` its time of day
    there."""
    col = pl.col(column)
    if isinstance(target, pl.Datetime) and isinstance(source, pl.Datetime) and source.time_unit == "ns":
        cast = _cast_expr(pl.Datetime("us", source.time_zone), column, target, timezone)
        return pl.when(col.dt.nanosecond() % 1000 != 0).then(None).otherwise(cast)  # (digits polars drops)
    if _is_naive_datetime(target) and isinstance(source, pl.Datetime) and source.time_zone is not None:
        return _wall_time(col, timezone).cast(target, strict=False)
    if target in (pl.Date, pl.Time) and isinstance(source, pl.Datetime) and source.time_zone is not None:
        wall = _wall_time(col, timezone)  # (polars' cast gives the day and the time of day in UTC)
        return wall.dt.date() if target == pl.Date else wall.dt.time()
    if source == pl.Time and target == pl.String:  # (polars' cast drops the fraction of a second)
        return col.dt.to_string("%H:%M:%S%.f")
    if source == pl.Binary and target == pl.String:  # UTF-8 text; other bytes are bad values
        return col.map_batches(_utf8_or_null, return_dtype=pl.String)
    nested = isinstance(source, pl.List | pl.Array | pl.Struct | pl.Map)
    if nested and target == pl.String:  # (polars has no such cast)
        return col.map_batches(_json_text, return_dtype=pl.String)
    if isinstance(source, pl.Duration) and target == pl.String:
        return col.dt.to_string("iso")
    if source.is_float() and isinstance(target, pl.Decimal):
        # As PostgreSQL and Spark cast a float: its shortest decimal text (0.35000000000000003 for 35 * 0.01,
        # 2.675), rounded half away from zero to the scale (0.35, 2.68); polars' own cast rounded the binary
        # value (1.005 -> 1.00, -0.125 -> -0.12). A value too big for 17 fraction digits has none to round.
        text = col.cast(pl.String)
        fine = text.cast(pl.Decimal(38, 17), strict=False).round(target.scale, mode="half_away_from_zero")
        whole = text.cast(pl.Decimal(38, target.scale), strict=False)
        return pl.coalesce(fine, whole).cast(target, strict=False)
    fractional = source.is_float() or isinstance(source, pl.Decimal)
    if fractional and (target.is_integer() or isinstance(target, pl.Decimal)):
        # Kept only when the cast reads back as the value: polars cuts 1.5 (a float or a decimal) to 1 and
        # drops the digits a smaller scale has no room for.
        cast = col.cast(target, strict=False)
        return pl.when(cast.cast(source, strict=False) != col).then(None).otherwise(cast)
    if source != pl.String or target == pl.String:
        return col.cast(target, strict=False)
    if target == pl.Boolean:
        return col.str.to_lowercase().replace_strict(_BOOLEAN_WORDS, default=None, return_dtype=pl.Boolean)
    if target == pl.Date:
        return col.str.to_date("%Y-%m-%d", strict=False, exact=True)
    if isinstance(target, pl.Datetime):
        naive = [
            col.str.to_datetime(f, time_unit="us", strict=False, exact=True) for f in _NAIVE_DATETIME_FORMATS
        ]
        offset = [
            _wall_time(col.str.to_datetime(f, time_unit="us", strict=False, exact=True), timezone)
            for f in _OFFSET_DATETIME_FORMATS
        ]
        return pl.coalesce(*naive, *offset)
    if target == pl.Time:
        return pl.coalesce(*(col.str.to_time(f, strict=False) for f in _TIME_FORMATS))
    if isinstance(target, pl.Decimal):
        return _exact_decimal(col, target)
    return col.cast(target, strict=False)


def _utf8_or_null(values: pl.Series) -> pl.Series:
    """Each value decoded as UTF-8, null where it is not UTF-8 (polars' cast failed the whole column)."""

    def decode(value: bytes | None) -> str | None:
        try:
            return None if value is None else value.decode("utf-8")
        except UnicodeDecodeError:
            return None

    return pl.Series(values.name, [decode(v) for v in values.to_list()], dtype=pl.String)


def _json_text(values: pl.Series) -> pl.Series:
    """Each nested value as its JSON text, by the one rule Bronze widens nested values to text with."""
    return pl.Series(values.name, json_text_array(values.to_arrow(), pa.large_string()), dtype=pl.String)


def _is_naive_datetime(dtype: pl.DataType) -> bool:
    return isinstance(dtype, pl.Datetime) and dtype.time_zone is None


def _wall_time(instants: pl.Expr, timezone: str) -> pl.Expr:
    """Timezone-aware ``instants`` as naive wall time in ``timezone``."""
    return instants.dt.convert_time_zone(timezone).dt.replace_time_zone(None)


def _exact_decimal(col: pl.Expr, target: pl.Decimal) -> pl.Expr:
    """Parse decimal text, null when it has more fraction digits than the scale (polars would truncate)."""
    wide = pl.Decimal(38, 18)
    cast = col.cast(target, strict=False)
    exact = col.cast(wide, strict=False)
    truncated = exact.is_not_null() & (cast.cast(wide) != exact)
    return pl.when(truncated).then(None).otherwise(cast)


@dataclass(frozen=True)
class _Check:
    label: str  # the reason without the row's value, for the counts
    failed: pl.Expr  # true on the rows that fail
    message: pl.Expr  # the reason, with the row's value


def _typed(column: str) -> str:
    return f"__typed_{column}"


def _flag(index: int) -> str:
    return f"__failed_{index}"


def _reason(checks: list[_Check]) -> pl.Expr:
    """Every failed check's message, joined by "; " (an empty string when there are no checks)."""
    if not checks:
        return pl.repeat("", pl.len()).alias(ERROR_REASON)
    messages = [pl.when(pl.col(_flag(i))).then(check.message) for i, check in enumerate(checks)]
    return pl.concat_str(messages, separator="; ", ignore_nulls=True).alias(ERROR_REASON)


def _require_castable(
    frame: pl.DataFrame, casts: Mapping[str, pl.Expr], type_names: Mapping[str, str], dataset: str
) -> None:
    """After the casts failed: a ``SilverInputError`` naming the column whose cast polars cannot do from
    its Bronze type (a list or a duration has no ``string`` form, for one), both types and the fix; polars'
    own error named neither the config key nor the column."""
    for column, cast in casts.items():
        try:
            frame.select(cast)
        except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError) as exc:
            raise SilverInputError(
                f"{dataset + ': ' if dataset else ''}silver.schema.types gives column '{column}' the type "
                f"'{type_names[column]}', which its Bronze type {frame.schema[column]} cannot be cast to "
                f"({str(exc).splitlines()[0]}): leave the column out of silver.schema.types to keep Bronze's "
                "type, or derive the value you need in a model or Gold"
            ) from exc


def _value_text(column: str, source: pl.DataType | None) -> pl.Expr:
    """A value as the text a quarantine reason quotes (bytes as hex: they need not be UTF-8)."""
    if source == pl.Binary:
        return pl.concat_str(pl.lit("0x"), pl.col(column).bin.encode("hex"))
    return pl.col(column).cast(pl.String, strict=False)


def _cast_checks(type_names: Mapping[str, str], schema: Mapping[str, pl.DataType]) -> list[_Check]:
    """One check per typed column: non-null before the cast, null after it."""
    checks = []
    for column, type_name in type_names.items():
        type_text = type_name.strip().lower()
        value = _value_text(column, schema[column]).str.slice(0, MAX_VALUE_CHARS).fill_null("?")
        message = pl.concat_str(
            pl.lit(f"cast failed: column '{column}' value '"), value, pl.lit(f"' is not {type_text}")
        )
        checks.append(
            _Check(
                label=f"cast failed: column '{column}' is not {type_text}",
                failed=pl.col(column).is_not_null() & pl.col(_typed(column)).is_null(),
                message=message,
            )
        )
    return checks


def _null_key_checks(keys: list[str]) -> list[_Check]:
    return [
        _Check(f"null primary key: {k}", pl.col(k).is_null(), pl.lit(f"null primary key: {k}")) for k in keys
    ]


def _column_order(columns: list[str], first: list[str]) -> list[str]:
    return [*first, *(c for c in columns if c not in first)]
