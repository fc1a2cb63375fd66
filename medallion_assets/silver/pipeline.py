"""The Silver pipeline of one day: Silver D = model(Silver D-1, prepared Bronze D), or a rebuild (DESIGN §6).

Plain Python over committed partitions and in-memory state, so the same code serves a one-partition run, a
range run (a backfill: the days in order, each from the day before; :mod:`medallion_assets.assets.silver`
is the Dagster wiring of both) and tests:

- :func:`initial_state`: the state before a day (a :class:`Prior`): Silver D-1 as committed, or a fold of
  the model over every committed Bronze partition before it (failing, naming the days, when one is
  missing);
- :func:`silver_day`: prepare Bronze D, apply the model, enforce the quarantine thresholds, evaluate the
  pre-commit checks, and describe what to write (a ``PartitionOutput``) and the state for the next day.

A model with ``keyed_state`` on a committed Silver D-1 costs the day's changes, not the table: only the
rows of the keys Bronze D touches (and, for full-load deletes, the live keys it lacks, found from the key
columns of ``current``) are read from D-1, verified; the model runs on them; Silver D lists D-1's files by
reference and writes only the keys whose rows changed plus a deletes file of their D-1 rows
(:mod:`medallion_assets.silver.delta`), or folds an artifact into new base files once its dead rows pass
``COMPACT_DEAD_RATIO`` (docs/architecture.md, "Merge-on-read"). Pre-commit checks then see the rows of
the touched keys: the rows carried over were checked when they were written.
"""

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg
import polars as pl
import pyarrow as pa

from medallion_assets.assets.silver_checks import CheckOutcome, evaluate_checks
from medallion_assets.errors import SilverInputError
from medallion_assets.silver.base import SilverContext, SilverModel, SilverResult
from medallion_assets.silver.chain import EFFECTIVE_FROM, EFFECTIVE_TO, IS_CURRENT
from medallion_assets.silver.delta import KeyDiff, derived_diff, key_diff, needs_compaction, without_row_ids
from medallion_assets.silver.keys import DELETED, check_text_order, require_columns
from medallion_assets.silver.prepare import Prepared, enforce_delete_fraction, enforce_thresholds, prepare
from medallion_assets.silver.widen import widen_alike_in, widen_inputs
from medallion_assets.specs import SourceSpec
from medallion_resources.io_managers import ArtifactDelta, BronzeInput, PartitionOutput, WrittenArtifact
from medallion_resources.lake.layout import ERRORS_ARTIFACT
from medallion_resources.lake.manifest import commits_sha256
from medallion_resources.lake.read import (
    CommittedPartition,
    artifact_schema,
    iter_artifact_frames,
    read_artifact,
)
from medallion_resources.lake.touched import read_key_columns, read_touched

__all__ = ["Prior", "SilverDay", "initial_state", "next_prior", "silver_day"]


@dataclass(frozen=True)
class Prior:
    """The state before a day: Silver D-1 as committed (read by key when the day runs, for a model with
    ``keyed_state``), or frames in memory (a rebuild from Bronze; other stateful models), or nothing."""

    part: CommittedPartition | None = None
    frames: dict[str, pl.DataFrame] | None = None
    label: str | None = None  # ``previous_state`` in the metadata: the load date read, or a rebuild
    read_sha256: str | None = None  # which commit(s) of it: Silver D-1's manifest, or the Bronze days folded
    schema: dict[str, pl.DataType] | None = None  # of the main artifact, for the drift check
    # Each artifact's columns before the day, in their order, when ``frames`` cannot tell them: a rebuild
    # whose days had no rows (no state) still had columns, as D-1's files record them day by day.
    columns: dict[str, list[str]] | None = None


@dataclass
class SilverDay:
    """One computed Silver partition: what to write, the state for the next day, the check outcomes."""

    output: PartitionOutput
    state: dict[str, pl.DataFrame] | None  # for the next day of a range run (models without keyed_state)
    schema: dict[str, pl.DataType] | None  # of the main artifact, for the next day's drift check
    checks: list[CheckOutcome]

    @property
    def blocking_failures(self) -> list[CheckOutcome]:
        return [c for c in self.checks if c.blocking and not c.passed]


def initial_state(
    spec: SourceSpec,
    model: SilverModel,
    bronze: BronzeInput,
    previous: CommittedPartition | None,
    *,
    run_date: date,
    is_first_partition: bool,
    log: Any = None,
) -> Prior:
    """The state before ``run_date``: Silver D-1, or rebuilt from Bronze."""
    main = model.artifacts[0]
    schema = None
    if previous is not None:
        recorded = artifact_schema(previous, main)
        if recorded is not None:
            schema = dict(pl.DataFrame(pl.from_arrow(recorded.empty_table())).schema)
    if not model.stateful:
        return Prior(schema=schema)
    if previous is not None and _other_configuration(model, previous):
        if log is not None:
            log.info(
                f"Silver {spec.name} {previous.manifest.run_date} was computed with another silver.model, "
                f"primary_keys, order_column or {model.name} option: rebuilding {run_date} from Bronze"
            )
        previous = None
    if previous is not None:
        label, read = previous.manifest.run_date, previous.manifest.sha256
        legacy = [a for a in model.legacy_artifacts if artifact_schema(previous, a) is not None]
        if model.keyed_state and not legacy:
            return Prior(part=previous, label=label, schema=schema, read_sha256=read)  # read by key later
        # A keyed model's state in an earlier layout is read whole, once; the day writes the new one.
        present = [a for a in model.artifacts if not legacy or artifact_schema(previous, a) is not None]
        return Prior(
            frames=_non_empty({a: read_artifact(previous, a) for a in [*present, *legacy]}),
            label=label,
            schema=schema,
            read_sha256=read,
        )
    if is_first_partition:
        return Prior()
    if log is not None:
        log.info(
            f"Silver {spec.name} has no committed {run_date - timedelta(days=1)}: rebuilding from Bronze"
        )
    frames, read, columns = _rebuild_state(spec, model, bronze, run_date)
    return Prior(frames=frames, label="rebuilt_from_bronze", read_sha256=read, columns=columns)


def _other_configuration(model: SilverModel, previous: CommittedPartition) -> bool:
    """Silver D-1 was computed by another model, with other primary keys or another order column, or holds
    the state of another configuration of this model (:attr:`SilverModel.other_layouts`): its state is none
    of this configuration's. Read as such it kept only what the day touched (``cdc`` turning
    ``keep_history`` on: a history of the day's versions alone), lost keys (``primary_keys`` gaining a
    column) or failed on a column it lacks (``event_log``). DESIGN §6: Silver D must equal a rebuild from
    Bronze, which a rebuild is."""
    meta, config = previous.metadata, model.config
    recorded = {
        "model": model.name,
        "primary_keys": list(config.primary_keys),
        "order_column": config.order_column,
    }
    if any(name in meta and meta[name] != value for name, value in recorded.items()):
        return True
    return any(artifact_schema(previous, a) is not None for a in model.other_layouts)


def next_prior(model: SilverModel, day: SilverDay, committed: CommittedPartition | None, key: str) -> Prior:
    """The state a range run carries to the day after ``key``: the partition just committed (read by key
    again), or the frames in memory for a model without keyed state."""
    read = committed.manifest.sha256 if committed is not None else None
    if model.keyed_state:
        return Prior(part=committed, label=key, schema=day.schema, read_sha256=read)
    return Prior(frames=day.state, label=key, schema=day.schema, read_sha256=read)


def silver_day(
    spec: SourceSpec,
    model: SilverModel,
    prior: Prior,
    current: CommittedPartition,
    *,
    run_date: date,
    run_id: str,
) -> SilverDay:
    """Silver for ``run_date`` from the state before it and the committed Bronze partition of the day."""
    started_at = datetime.now(UTC)
    silver_cfg = spec.entry.silver
    zone = spec.partitions.timezone
    previous_state, previous_schema = prior.label, prior.schema
    raw = read_artifact(current, "data", widen=partial(widen_alike_in, timezone=zone))
    prepared = prepare(
        raw,
        silver_cfg,
        dataset=spec.name,
        known=_known_columns(prior),
        reserved=model.writes,
        timezone=spec.partitions.timezone,
    )
    ctx = _context(spec, run_date)
    by_key = model.keyed_state and prior.part is not None
    old: dict[str, pl.DataFrame | None] = {}
    live_keys: int | None = None
    if by_key:
        assert prior.part is not None
        old, live_keys = _touched(model, prior.part, prepared.clean, ctx, zone)
        incoming, old = _widened(prepared.clean, old, silver_cfg.order_column, zone)
        state: Mapping[str, pl.DataFrame] | None = _state_of(model, old)
    else:
        incoming, state = _widened_state(prepared.clean, prior.frames, silver_cfg.order_column, zone)
        live_keys = _live_keys(state, silver_cfg.primary_keys)
    check_text_order([incoming, *(state or {}).values()], silver_cfg.order_column)
    ctx = _holding(ctx, prepared.held_keys, incoming, zone)
    result = model.apply(state, incoming, ctx)
    result.artifacts = _in_first_seen_order(result.artifacts, _columns_before(model, prior))
    errors = [e for e in (prepared.errors, result.errors) if e is not None and e.height]
    error_frame = pl.concat(errors, how="diagonal_relaxed") if errors else None
    quarantined = error_frame.height if error_frame is not None else 0
    # Checked before anything is written: past the thresholds the previous commit stays in place.
    _enforce_limits(spec, raw.height, prepared, result, live_keys, dataset=spec.name, previous=previous_state)

    artifacts: dict[str, Any] = {name: [frame] for name, frame in result.artifacts.items()}
    deltas: dict[str, ArtifactDelta] = {}
    if by_key:
        assert prior.part is not None
        artifacts, deltas = _deltas(
            model,
            prior.part,
            old,
            result.artifacts,
            result.changed,
            spec.silver_output.max_rows_per_file,
            zone,
        )
    compacted = frozenset(a for a in result.artifacts if by_key and a not in deltas)
    if error_frame is not None:
        artifacts[ERRORS_ARTIFACT] = [error_frame]
    main_artifact = model.artifacts[0]
    stats = result.stats()

    def build_metadata(written: Mapping[str, WrittenArtifact]) -> dict[str, Any]:
        return {
            "run_date": run_date.isoformat(),
            "load_date": run_date.isoformat(),
            "domain": spec.domain,
            "entity": spec.entity,
            "version": spec.version,
            "source_name": spec.name,
            "model": spec.model,
            "load_pattern": spec.load_pattern,
            "primary_keys": list(silver_cfg.primary_keys),
            "order_column": silver_cfg.order_column,
            "delete_mode": silver_cfg.delete_mode,
            "bronze_manifest_sha256": current.manifest.sha256,
            "previous_state": previous_state,
            "previous_state_sha256": prior.read_sha256,
            "rows_in": raw.height,
            "rows_out": {name: w.row_count for name, w in written.items() if name != ERRORS_ARTIFACT},
            **stats,
            "quarantined": quarantined,
            **({"source_columns_kept_as": prepared.kept_as} if prepared.kept_as else {}),
            "schema": written[main_artifact].schema_json() if main_artifact in written else [],
            "started_at": started_at.isoformat(),
            "finished_at": datetime.now(UTC).isoformat(),
            "dagster_run_id": run_id,
        }

    main = result.artifacts.get(main_artifact)
    lineage = _column_lineage(spec, main.columns if main is not None else [], raw.columns)
    checks = evaluate_checks(
        spec,
        result.artifacts,
        stats,
        rows_in=raw.height,
        quarantined=quarantined,
        main_artifact=main_artifact,
        previous_schema=previous_schema,
    )
    output = PartitionOutput(
        artifacts=artifacts,
        build_metadata=build_metadata,
        output=spec.silver_output,
        dagster_metadata={"dagster/column_lineage": lineage} if lineage else {},
        main_artifact=main_artifact,
        shared=True,
        keyed={a: tuple(silver_cfg.primary_keys) for a in model.artifacts} if model.keyed_state else {},
        deltas=deltas,
        unsorted=compacted,
        secrets=spec.secret_values,
    )
    next_state = _non_empty(result.artifacts) if model.stateful and not model.keyed_state else None
    schema = dict(main.schema) if main is not None else None
    return SilverDay(output=output, state=next_state, schema=schema, checks=checks)


def _in_first_seen_order(
    artifacts: Mapping[str, pl.DataFrame], before: Mapping[str, Sequence[str]]
) -> dict[str, pl.DataFrame]:
    """The artifacts with their columns in the order Silver first had them: the columns of the artifact
    before the day in their order, then the day's new ones in the model's order. Day by day, a day's files
    add their new columns after D-1's (the writer's first-appearance rule); a rebuild folds in memory,
    where the model would put a column that appeared on a later day among its own (before
    ``_silver_load_date``): both now give one order (docs/silver_patterns.md, "Column order")."""
    out = {}
    for name, frame in artifacts.items():
        kept = [c for c in before.get(name, ()) if c in frame.columns]
        order = list(dict.fromkeys([*kept, *frame.columns]))
        out[name] = frame if order == frame.columns else frame.select(order)
    return out


def _columns_before(model: SilverModel, prior: Prior) -> dict[str, list[str]]:
    """The columns of each artifact of the state before the day, in their stored order."""
    if prior.frames is not None:
        return {a: frame.columns for a, frame in prior.frames.items()}
    if prior.columns is not None:
        return prior.columns
    if prior.part is None:
        return {}
    schemas = {a: artifact_schema(prior.part, a) for a in model.artifacts}
    return {a: schema.names for a, schema in schemas.items() if schema is not None}


def _known_columns(prior: Prior) -> set[str]:
    """The columns Silver has before the day (D-1's main artifact, or the state in memory)."""
    in_memory = [*(frame.columns for frame in (prior.frames or {}).values()), *(prior.columns or {}).values()]
    return {*(prior.schema or {}), *(c for names in in_memory for c in names)}


def _enforce_limits(
    spec: SourceSpec,
    rows_in: int,
    prepared: Prepared,
    result: SilverResult,
    live_keys: int | None,
    *,
    dataset: str,
    previous: str | None,
) -> None:
    """Fail a day past ``silver.error_handling``'s thresholds, or (a full load with deletes) past
    ``run.max_delete_fraction``: a day committed on its own, and each day a rebuild folds in."""
    silver_cfg = spec.entry.silver
    reasons = dict(prepared.reason_counts)
    rejected = result.errors.height if result.errors is not None else 0
    if rejected:
        reasons["rejected by the model"] = rejected
    quarantined = prepared.errors.height + rejected
    enforce_thresholds(
        rows_in, quarantined, silver_cfg.error_handling, dataset=dataset, reason_counts=reasons
    )
    if spec.load_pattern == "full" and silver_cfg.delete_mode != "ignore":  # an empty snapshot deletes all
        enforce_delete_fraction(
            live_keys or 0,
            result.deleted,
            spec.entry.source.run.max_delete_fraction,
            dataset=dataset,
            previous=previous,
        )


def _touched(
    model: SilverModel, part: CommittedPartition, incoming: pl.DataFrame, ctx: SilverContext, zone: str
) -> tuple[dict[str, pl.DataFrame | None], int | None]:
    """The rows of Silver D-1 (with row ids) of the keys the day touches, per artifact, and (when the
    model deletes absent keys) how many keys D-1 has live, for ``run.max_delete_fraction``.

    Touched: the keys of Bronze D and, when the model deletes absent keys, the live keys of ``current``
    (``_deleted`` not true) that Bronze D lacks, found from the key columns alone. An artifact that D-1
    did not write (or wrote without rows) is an empty frame of its recorded schema, or None.
    """
    keys = list(model.config.primary_keys)
    live_keys: int | None = None
    require_columns(incoming, keys, what="silver.primary_keys")
    touched = _keys_like(incoming.select(keys).unique(), part, model.artifacts[0], zone)
    if model.touches_absent_keys(ctx):
        schema = artifact_schema(part, "current")
        flag = [DELETED] if schema is not None and DELETED in schema.names else []
        live = read_key_columns(part, "current", [*keys, *flag])
        if flag:
            live = live.filter(~pl.col(DELETED).fill_null(False))
        live_keys = live.height
        live, touched = widen_alike_in([live.select(keys), touched], zone)
        absent = live.join(touched, on=keys, how="anti", nulls_equal=True)
        touched = pl.concat([touched, absent.cast(dict(touched.schema))])  # type: ignore[arg-type]
    old: dict[str, pl.DataFrame | None] = {}
    on_demand = [a for a in model.artifacts if a in model.read_on_demand]
    for artifact in model.artifacts:
        if artifact not in on_demand:
            columns = keys if artifact in model.derived else None  # keys and row ids only
            old[artifact] = _rows_of(part, artifact, touched, zone, columns)
    for artifact in on_demand:  # the keys the model names once it sees the others' rows
        widened, read = _widened(incoming, old, model.config.order_column, zone)
        needed = model.keys_to_read(artifact, _state_of(model, read), widened)
        old[artifact] = _rows_of(part, artifact, _keys_like(needed, part, model.artifacts[0], zone), zone)
    return old, live_keys


def _rows_of(
    part: CommittedPartition, artifact: str, keys: pl.DataFrame, zone: str, columns: list[str] | None = None
) -> pl.DataFrame | None:
    """D-1's rows of ``keys`` in ``artifact`` with their row ids; an empty frame of its recorded schema
    when it has none of them (no file is read for no keys), None when D-1 did not write it. Stored keys
    typed otherwise than ``keys`` meet them by Silver's rule (:func:`widen_alike_in`)."""
    widen = partial(widen_alike_in, timezone=zone)
    frame = read_touched(part, artifact, keys, columns, widen) if keys.height else None
    if frame is None:
        schema = artifact_schema(part, artifact)
        if schema is None:
            return None
        frame = pl.DataFrame(pl.from_arrow(schema.empty_table()))
    return frame


def _state_of(model: SilverModel, old: Mapping[str, pl.DataFrame | None]) -> dict[str, pl.DataFrame]:
    """The rows read from D-1 as the model's state: without row ids, without the derived artifacts."""
    return {a: without_row_ids(f) for a, f in old.items() if f is not None and a not in model.derived}


def _keys_like(keys: pl.DataFrame, part: CommittedPartition, artifact: str, zone: str) -> pl.DataFrame:
    """Incoming key values in the type D-1 stores them in, widened with it when they differ (``1`` stored,
    ``"x"`` arriving: both as text), so the key joins match (``read_touched`` widens older files alike)."""
    stored = _stored(part, artifact)
    if stored is None:
        return keys
    return widen_alike_in([keys, stored.select(c for c in keys.columns if c in stored.columns)], zone)[0]


def _stored(part: CommittedPartition, artifact: str) -> pl.DataFrame | None:
    """No rows, the columns and types D-1 stores ``artifact`` in; None when D-1 has no such artifact."""
    schema = artifact_schema(part, artifact)
    return None if schema is None else pl.DataFrame(pl.from_arrow(schema.empty_table()))


def _deltas(
    model: SilverModel,
    part: CommittedPartition,
    old: Mapping[str, pl.DataFrame | None],
    new: Mapping[str, pl.DataFrame],
    changed: Mapping[str, pl.DataFrame],
    rows_per_file: int,
    zone: str,
) -> tuple[dict[str, Any], dict[str, ArtifactDelta]]:
    """What to write per artifact: the changed keys' rows plus a delta on D-1's files, or (past a
    compaction threshold: dead rows or files) the whole artifact as new base files. Keys are found changed
    by comparing their rows with D-1's, or taken from the model when it names them
    (``SilverResult.changed``)."""
    keys = list(model.config.primary_keys)
    artifacts: dict[str, Any] = {}
    deltas: dict[str, ArtifactDelta] = {}
    diffs: dict[str, KeyDiff] = {}
    manifest = part.manifest
    ordered = sorted(new, key=lambda a: a in model.derived)  # sources before what derives from them
    for artifact in ordered:
        frame = new[artifact]
        source = diffs.get(model.derived.get(artifact, ""))
        named = changed.get(artifact)
        if named is None and source is not None:
            named = source.changed
        if named is not None:
            diff = derived_diff(old.get(artifact), frame, named, keys)
        else:
            diff = key_diff(old.get(artifact), frame, keys)
        diffs[artifact] = diff
        dead = sum(f.row_count for f in manifest.delete_files(artifact))
        stored = sum(f.row_count for f in manifest.data_files(artifact))
        files = sum(1 for f in manifest.files if f.artifact == artifact)
        retired = _retired(model, part, artifact, frame)
        if (
            needs_compaction(files, stored, dead, diff, rows_per_file)
            or _widens(part, artifact, frame, zone)
            or retired
        ):
            artifacts[artifact] = _compacted(part, artifact, diff.deletes, diff.rows, zone, retired)
            continue
        artifacts[artifact] = [diff.rows]
        carried = tuple(part.rooted(f) for f in manifest.files if f.artifact == artifact)
        deltas[artifact] = ArtifactDelta(carried, diff.deletes, artifact_schema(part, artifact))
    return {a: artifacts[a] for a in new}, deltas


def _widens(part: CommittedPartition, artifact: str, frame: pl.DataFrame, zone: str) -> bool:
    """Whether the day's rows give a column of ``artifact`` a wider type than D-1 stores it in (``amount``
    a number until D-1, text on D). Then the artifact is written whole (:func:`_compacted`), its carried
    rows converted by the widening rule, as a rebuild writes them: carried by reference, the rows of the
    keys the day left alone would keep the old type (or, when every touched key came out unchanged, the
    whole artifact would, against the schema the partition records)."""
    stored = _stored(part, artifact)
    if stored is None or not frame.width:
        return False
    shared = [c for c in frame.columns if c in stored.columns]
    widened = widen_alike_in([stored.select(shared), frame.head(0).select(shared)], zone)[0]
    return widened.schema != stored.select(shared).schema


def _retired(model: SilverModel, part: CommittedPartition, artifact: str, frame: pl.DataFrame) -> list[str]:
    """The columns D-1 stores in a derived artifact that the model no longer derives (``_closed_by_delete``
    in ``current``, written by earlier versions, always false there). Carried by reference, D-1's files
    would keep them for good, null in the rows written since; the artifact is written whole without them,
    once. A derived artifact is a function of its source's rows, which the day reads whole, so a column it
    lacks is one the model dropped, never one the day's Bronze left out."""
    stored = _stored(part, artifact)
    if artifact not in model.derived or stored is None or not frame.width:
        return []
    return [c for c in stored.columns if c not in frame.columns]


def _compacted(
    part: CommittedPartition,
    artifact: str,
    deletes: pl.DataFrame,
    rows: pl.DataFrame,
    zone: str,
    retired: Sequence[str] = (),
) -> Iterator[pa.Table | pl.DataFrame]:
    """The artifact's live rows after the day, streamed file by file: new base files (no deletes). The
    carried rows take the types the day's rows widen them to (the writer widens only the rows it is given),
    without the ``retired`` columns."""
    template = rows.head(0)
    for frame in iter_artifact_frames(part, artifact, also_deleted=deletes):
        yield widen_alike_in([frame.drop(retired, strict=False), template], zone)[0]
    yield rows


def _widened(
    incoming: pl.DataFrame, old: Mapping[str, pl.DataFrame | None], order_column: str | None, zone: str
) -> tuple[pl.DataFrame, dict[str, pl.DataFrame | None]]:
    """Bronze D and the state's rows with every column they type differently widened alike, by the rule
    the lake reads with (:func:`widen_inputs`): a column Bronze could not type (``null``: an empty result of
    a SQLite query) takes the state's type, a key or value that drifted (``1`` then ``"x"``) is text on
    both sides, so the model joins and compares them as a rebuild and a later read see them; naive
    date-times meeting ones with a time zone are wall time in ``zone`` (``partitions.timezone``)."""
    names = [a for a, frame in old.items() if frame is not None]
    frames = widen_inputs(
        [incoming, *(frame for frame in old.values() if frame is not None)], order_column, zone
    )
    return frames[0], {**old, **dict(zip(names, frames[1:], strict=True))}


def _widened_state(
    incoming: pl.DataFrame, state: Mapping[str, pl.DataFrame] | None, order_column: str | None, zone: str
) -> tuple[pl.DataFrame, dict[str, pl.DataFrame] | None]:
    """:func:`_widened` for a state in memory (a rebuild, a model without keyed state)."""
    if state is None:
        return incoming, None
    incoming, widened = _widened(incoming, state, order_column, zone)
    return incoming, {a: frame for a, frame in widened.items() if frame is not None}


def _live_keys(state: Mapping[str, pl.DataFrame] | None, keys: Sequence[str]) -> int:
    """Keys live in the state before the day: rows of its ``current`` that are current and not tombstones."""
    current = (state or {}).get("current")
    if current is None or not keys:
        return 0
    if DELETED in current.columns:
        current = current.filter(~pl.col(DELETED).fill_null(False))
    if IS_CURRENT in current.columns:
        current = current.filter(pl.col(IS_CURRENT).fill_null(True))
    return current.select(list(keys)).unique().height


def _rebuild_state(
    spec: SourceSpec, model: Any, bronze: BronzeInput, run_date: date
) -> tuple[dict[str, pl.DataFrame] | None, str, dict[str, list[str]]]:
    """Fold the model over every committed Bronze partition before ``run_date``; the state, one digest
    of the Bronze commits folded (``previous_state_sha256``, what staleness is judged by), and each
    artifact's columns (in their order, kept through days without rows, which leave no state).

    Only stateful models get here, and each of them (scd_type_1/2, cdc, event_log) folds over every day:
    whatever the load pattern, a missing Bronze day would silently be left out of Silver D (a full snapshot
    of D+1 cannot restore the history of the missing day), so a gap fails, naming the days (DESIGN §6).
    """
    expected = _days(spec.start_date, run_date)
    committed: dict[str, CommittedPartition] = {}
    for day in bronze.dates_before():
        part = bronze.committed(day) if day >= spec.start_date.isoformat() else None
        if part is not None:
            committed[day] = part
    missing = [d for d in expected if d not in committed]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise SilverInputError(
            f"Silver {spec.name} for {run_date} must be rebuilt from Bronze "
            f"(Silver {run_date - timedelta(days=1)} is not committed), but the Bronze partitions "
            f"{shown} are missing ({spec.model} reads every day from {spec.start_date}); "
            "materialize Bronze for those dates first"
        )
    state: dict[str, pl.DataFrame] | None = None
    columns: dict[str, list[str]] = {}
    for day in sorted(committed):
        raw = read_artifact(
            committed[day], "data", widen=partial(widen_alike_in, timezone=spec.partitions.timezone)
        )
        where = f"{spec.name}: Silver {run_date} is rebuilt from Bronze, and Bronze {day}"
        known = {c for names in columns.values() for c in names}
        prepared = prepare(
            raw,
            spec.entry.silver,
            dataset=where,
            known=known,
            reserved=model.writes,
            timezone=spec.partitions.timezone,
        )
        zone = spec.partitions.timezone
        frame, state = _widened_state(prepared.clean, state, spec.entry.silver.order_column, zone)
        try:
            check_text_order([frame, *(state or {}).values()], spec.entry.silver.order_column)
        except SilverInputError as exc:
            raise SilverInputError(f"{where}: {exc}") from exc
        live_keys = _live_keys(state, spec.entry.silver.primary_keys)
        ctx = _holding(_context(spec, date.fromisoformat(day)), prepared.held_keys, frame, zone)
        result = model.apply(state, frame, ctx)
        result.artifacts = _in_first_seen_order(result.artifacts, columns)
        columns = {a: frame.columns for a, frame in result.artifacts.items()}
        # A day that fails on its own fails the rebuild too, rather than be folded in past its limits.
        _enforce_limits(spec, raw.height, prepared, result, live_keys, dataset=where, previous=None)
        state = _non_empty(result.artifacts)
    read = commits_sha256((day, committed[day].manifest.sha256) for day in sorted(committed))
    return state, read, columns


def _context(spec: SourceSpec, run_date: date) -> SilverContext:
    tz = ZoneInfo(spec.partitions.timezone)
    window_end = datetime.combine(run_date + timedelta(days=1), datetime.min.time(), tzinfo=tz)
    return SilverContext(load_date=run_date, window_end=window_end, load_pattern=spec.load_pattern)


def _holding(
    ctx: SilverContext, held: pl.DataFrame | None, incoming: pl.DataFrame, zone: str
) -> SilverContext:
    """``ctx`` with the keys of the day's quarantined rows, in the types of ``incoming``'s keys (widened
    with the state's), so the models match them against the state's keys."""
    if held is None or not all(k in incoming.columns for k in held.columns):
        return ctx
    return replace(ctx, held_keys=widen_alike_in([incoming.select(held.columns), held], zone)[1])


def _days(start: date, end: date) -> list[str]:
    return [(start + timedelta(days=i)).isoformat() for i in range((end - start).days)]


def _non_empty(artifacts: Mapping[str, pl.DataFrame]) -> dict[str, pl.DataFrame] | None:
    """An empty state (no rows) is the same as no state; models then need not handle column-less frames."""
    if all(frame.height == 0 for frame in artifacts.values()):
        return None
    return dict(artifacts)


def _column_lineage(
    spec: SourceSpec, silver_columns: list[str], bronze_columns: list[str]
) -> dg.TableColumnLineage | None:
    renamed_from = {new: old for old, new in spec.entry.silver.silver_schema.rename_map.items()}
    order = spec.entry.silver.order_column
    deps: dict[str, list[dg.TableColumnDep]] = {}
    for column in silver_columns:
        # effective_from / effective_to (scd_type_2, cdc) are values of the order column.
        derived = order if order and column in (EFFECTIVE_FROM, EFFECTIVE_TO) else column
        origin = renamed_from.get(derived, derived)
        if origin in bronze_columns:
            deps[column] = [dg.TableColumnDep(asset_key=spec.bronze_key, column_name=origin)]
    return dg.TableColumnLineage(deps_by_column=deps) if deps else None
