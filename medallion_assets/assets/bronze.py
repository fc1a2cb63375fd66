"""The Bronze asset: run the source's extractor and hand its stream to the Bronze IO manager.

The compute function only wires things: it picks the window and the incoming watermark, wraps the
extractor's batches with the Bronze columns (DESIGN §4) and describes the ``_metadata.json`` to write once
the stream is drained. Writing, committing and metadata reporting are the IO manager's job; in a range
run the asset hands it one day at a time (``medallion_assets.assets.backfill.commit_range``).
"""

import functools
import warnings
from collections.abc import Generator, Iterable, Iterator, Mapping
from datetime import UTC, date, datetime
from typing import Any

import dagster as dg
import pyarrow as pa
from dagster import AssetExecutionContext

from medallion_assets.assets.backfill import BACKFILL_POLICY, commit_range, selected_check_outputs
from medallion_assets.assets.bronze_checks import bronze_check_specs, evaluate_bronze_checks
from medallion_assets.config.base import CHANGE_PATTERNS
from medallion_assets.config.models import PlatformConfig
from medallion_assets.extractors import ExtractContext, Extractor, create_extractor
from medallion_assets.extractors.names import unique_names
from medallion_assets.specs import BRONZE_IO_MANAGER, SourceSpec, asset_args
from medallion_resources.arrow_types import with_child_types
from medallion_resources.io_managers import (
    BOUNDARY_HASHES_KEY,
    BronzeIOManager,
    PartitionOutput,
    WatermarkState,
    WrittenArtifact,
)
from medallion_resources.lake.constant_columns import ConstantColumns

__all__ = ["build_bronze_asset", "with_bronze_columns", "BRONZE_COLUMNS"]

BRONZE_COLUMNS = ("_load_date", "_extracted_at", "_source_system", "_source_table")


def with_bronze_columns(
    batches: Iterable[pa.RecordBatch],
    *,
    run_date: date,
    extracted_at: datetime,
    system: str,
    table: str,
    log: Any = None,
) -> Iterator[pa.RecordBatch]:
    """Append the Bronze lineage columns on every batch that has columns.

    An empty batch with columns goes through too: it carries the columns of an empty snapshot into Bronze's
    schema. A source column of one of these names keeps its values as ``<name>_source`` (``log`` warns).
    Columns of one name, or named ``""`` (a DB query's ``SELECT o.id, c.id``, a plugin's batches), get
    names Bronze can hold by ``unique_names``, the CSV header's rule (Silver could not read them). A column
    of a type Bronze's readers cannot read gets one they can (``readable_schema``).
    """
    columns = ConstantColumns(
        {
            "_load_date": pa.scalar(run_date, pa.date32()),
            "_extracted_at": pa.scalar(extracted_at, pa.timestamp("us", tz="UTC")),
            "_source_system": pa.scalar(system, pa.string()),
            "_source_table": pa.scalar(table, pa.string()),
        }
    )
    for batch in batches:
        if batch.num_rows == 0 and batch.num_columns == 0:
            continue  # an empty batch with columns still says which columns the source has
        names = batch.schema.names
        unique = unique_names(names)
        if unique != names:
            batch = pa.RecordBatch.from_arrays(batch.columns, names=unique)
        schema = batch.schema
        readable = readable_schema(schema)
        if readable is not schema:
            batch = readable_batch(batch, readable)
        yield columns.apply(batch)
    if columns.renamed and log is not None:
        kept = ", ".join(f"'{old}' as '{new}'" for old, new in columns.renamed.items())
        log.warning(f"source '{system}.{table}': its own columns of names Bronze adds are kept as: {kept}")


def readable_schema(schema: pa.Schema) -> pa.Schema:
    """``schema`` with every type polars (so Silver and ``medallion_assets.read``) can read: an Arrow
    ``decimal256`` (a Parquet file's or a plugin's decimal of more than 38 digits) becomes ``string``, its
    exact decimal text (every digit, the scale's zeros kept: ``-0.50``), as a database's ``numeric(40, 2)``
    lands (``medallion_resources.sql.types``); a ``list_view`` (``large_list_view``) becomes a ``list``
    (``large_list``) of the same values, which polars panics on; a timestamp of a time zone polars does not
    take (an offset, ``+05:30``; ``Z``; a name not in its database) the same instants in UTC; also inside
    lists, structs and maps.
    A dictionary inside them becomes its values, as the part writer stores a column's (``stored_schema``);
    an extension type (``arrow.json``, ``arrow.uuid``) its storage type (``string``, ``fixed_size_binary``):
    polars kept it as an extension of its own, which its casts and string functions refuse.
    ``schema`` itself when nothing changes."""
    types = [_readable_type(f.type) for f in schema]
    if all(t is None for t in types):
        return schema
    return pa.schema(
        [f if t is None else f.with_type(t) for f, t in zip(schema, types, strict=True)],
        metadata=schema.metadata,
    )


def _readable_type(data_type: pa.DataType, nested: bool = False) -> pa.DataType | None:
    """The type polars reads instead of ``data_type`` (``readable_schema``), or None: it reads that one.
    ``nested``: ``data_type`` is a child's, where a dictionary becomes its values."""
    if nested and pa.types.is_dictionary(data_type):
        return _readable_type(data_type.value_type, nested) or data_type.value_type
    if isinstance(data_type, pa.BaseExtensionType):  # arrow.json, arrow.uuid, ...: their stored values
        return _readable_type(data_type.storage_type, nested) or data_type.storage_type
    if pa.types.is_decimal256(data_type):
        return pa.string()
    if pa.types.is_timestamp(data_type) and data_type.tz and _offset_or_unknown(data_type.tz):
        return pa.timestamp(data_type.unit, "UTC")
    if data_type.num_fields == 0:
        return None
    if pa.types.is_list_view(data_type) or pa.types.is_large_list_view(data_type):
        item = _readable_type(data_type.value_type, nested=True)
        value_field = data_type.value_field if item is None else data_type.value_field.with_type(item)
        return pa.list_(value_field) if pa.types.is_list_view(data_type) else pa.large_list(value_field)
    return with_child_types(data_type, functools.partial(_readable_type, nested=True))


@functools.cache
def _offset_or_unknown(tz: str) -> bool:
    """``tz`` is an offset (``+05:30``, ``-03:00``) or a zone polars does not know (``Z``): Arrow allows
    them, and polars panicked on ``+05:30`` and ``Z`` (an offset lands as UTC whether polars takes it or not,
    one rule for all of them)."""
    if tz[0] in "+-":
        return True
    import polars as pl  # here: only a batch with a time zone asks

    try:
        pl.Series([0], dtype=pl.Datetime("us")).dt.replace_time_zone(tz)
    except pl.exceptions.ComputeError:
        return True
    return False


def readable_batch(batch: pa.RecordBatch, readable: pa.Schema) -> pa.RecordBatch:
    """``batch`` in the types of ``readable_schema(batch.schema)``."""
    arrays = [_readable_array(a, f.type) for a, f in zip(batch.columns, readable, strict=True)]
    return pa.RecordBatch.from_arrays(arrays, schema=readable)


def _readable_array(array: pa.Array, target: pa.DataType) -> pa.Array:
    """``array`` as ``target`` (its ``_readable_type``). Arrow's cast does it, except where a list view is
    in the type: pyarrow 26 casts a view to a list as an invalid array (its offsets buffer one short), so
    such a list is rebuilt from its logical values and lengths, and the lists and structs holding one
    from their children."""
    if array.type == target:
        return array
    if not _holds_view(array.type):
        return array.cast(target)
    mask = array.is_null() if array.null_count else None
    if pa.types.is_struct(target):
        children = [_readable_array(array.field(i), target.field(i).type) for i in range(target.num_fields)]
        return pa.StructArray.from_arrays(children, fields=list(target), mask=mask)
    if pa.types.is_fixed_size_list(target):
        size = target.list_size
        values = array.values.slice(array.offset * size, len(array) * size)
        return pa.FixedSizeListArray.from_arrays(
            _readable_array(values, target.value_type), type=target, mask=mask
        )
    import pyarrow.compute as pc  # here: ~20 ms of every run's start, for a rare type

    if pa.types.is_map(target):  # its entries between its first and last offsets, the offsets from 0
        first, last = array.offsets[0], array.offsets[-1]
        entries = array.values.slice(first.as_py(), (last.as_py() - first.as_py()))
        keys = _readable_array(entries.field(0), target.key_type)
        items = _readable_array(entries.field(1), target.item_type)
        return pa.MapArray.from_arrays(pc.subtract(array.offsets, first), keys, items, type=target, mask=mask)
    # list, large_list, list_view or large_list_view: offsets from the lengths of the logical rows
    large = pa.types.is_large_list(target)
    lengths = array.value_lengths().fill_null(0).cast(pa.int64() if large else pa.int32())
    offsets = pa.concat_arrays([pa.array([0], lengths.type), pc.cumulative_sum(lengths)])
    values = array.flatten()  # the logical rows' values, in row order (a null row's left out)
    cls = pa.LargeListArray if large else pa.ListArray
    return cls.from_arrays(offsets, _readable_array(values, target.value_type), type=target, mask=mask)


def _holds_view(data_type: pa.DataType) -> bool:
    if pa.types.is_list_view(data_type) or pa.types.is_large_list_view(data_type):
        return True
    if pa.types.is_map(data_type):
        return _holds_view(data_type.key_type) or _holds_view(data_type.item_type)
    return any(_holds_view(data_type.field(i).type) for i in range(data_type.num_fields))


def run_bronze(
    spec: SourceSpec,
    platform: PlatformConfig,
    *,
    run_date: date,
    window_start: datetime,
    window_end: datetime,
    watermark_in: str | None,
    run_id: str,
    log: Any,
    boundary_hashes: tuple[str, ...] = (),
    watermark_next: str | None = None,
    later_read_from_start: bool = False,
) -> PartitionOutput:
    """Build the PartitionOutput of one Bronze partition (the stream is consumed by the IO manager)."""
    extractor = create_extractor(spec.entry, platform)
    ctx = ExtractContext(
        run_date=run_date,
        window_start=window_start,
        window_end=window_end,
        watermark_in=watermark_in,
        boundary_hashes=boundary_hashes,
        watermark_next=watermark_next,
        later_read_from_start=later_read_from_start,
        log=log,
    )
    started_at = datetime.now(UTC)
    stream = with_bronze_columns(
        extractor.extract(ctx),
        run_date=run_date,
        extracted_at=started_at,
        system=spec.system,
        table=spec.table,
        log=log,
    )

    def build_metadata(written: Mapping[str, WrittenArtifact]) -> dict[str, Any]:
        data = written["data"]
        # The boundary hashes travel with the watermark they belong to: a run that read nothing keeps both.
        watermark_out: str | None = extractor.watermark_out
        if watermark_out is not None:
            hashes = extractor.boundary_hashes_out or []
        else:
            watermark_out, hashes = watermark_in, list(boundary_hashes)
        return {
            "record_count": data.row_count,
            "chunk_count": len(data.files),
            "run_date": run_date.isoformat(),
            "window_start": window_start.isoformat(),
            "window_end": window_end.isoformat(),
            "system": spec.system,
            "table": spec.table,
            "source_name": spec.name,
            "source_type": spec.entry.source.type,
            "load_pattern": spec.load_pattern,
            "watermark_in": watermark_in,
            "watermark_out": watermark_out,
            "schema": data.schema_json(),
            "started_at": started_at.isoformat(),
            "finished_at": datetime.now(UTC).isoformat(),
            "dagster_run_id": run_id,
            **extractor.stats,
            **({BOUNDARY_HASHES_KEY: sorted(hashes)} if hashes else {}),
        }

    artifacts: dict[str, Iterable[pa.RecordBatch]] = {"data": stream}
    if extractor.quarantines:
        artifacts["errors"] = _drained_after(extractor)  # written after "data": the stream is read by then
    return PartitionOutput(
        artifacts=artifacts,
        build_metadata=build_metadata,
        output=spec.bronze_output,
        secrets=spec.secret_values,
    )


def _drained_after(extractor: Extractor) -> Iterator[pa.RecordBatch]:
    """The extractor's rejected rows, asked for only when this stream is read (after the data's)."""
    yield from extractor.rejected()


def build_bronze_asset(
    spec: SourceSpec, platform: PlatformConfig, partitions_def: dg.TimeWindowPartitionsDefinition
) -> dg.AssetsDefinition:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)  # backfill_policy is "beta" in dagster 1.13
        decorator = dg.asset(
            **asset_args(spec.bronze_asset_spec()),
            partitions_def=partitions_def,
            io_manager_key=BRONZE_IO_MANAGER,
            required_resource_keys={BRONZE_IO_MANAGER},
            backfill_policy=BACKFILL_POLICY,
            pool=spec.pool,
            check_specs=bronze_check_specs(spec, partitions_def),
        )

    @decorator
    def _bronze(context: AssetExecutionContext) -> Iterator[Any]:
        io: BronzeIOManager = context.resources.bronze_io_manager

        def one_day(window: dg.TimeWindow) -> PartitionOutput:
            run_date = window.start.date()
            state = WatermarkState(None, ())
            if spec.load_pattern in CHANGE_PATTERNS:  # current_history too: it lands changed rows
                # In a range run the previous day is committed before this one is computed.
                state = io.watermark_state_before(spec.bronze_path, run_date.isoformat())
            return run_bronze(
                spec,
                platform,
                run_date=run_date,
                window_start=window.start,
                window_end=window.end,
                watermark_in=state.watermark,
                boundary_hashes=state.boundary_hashes,
                watermark_next=state.next_watermark_in,
                later_read_from_start=state.later_read_from_start,
                run_id=context.run.run_id,
                log=context.log,
            )

        keys = context.partition_keys
        if len(keys) == 1:
            output = one_day(context.partition_time_window)
            yield dg.Output(output)  # the IO manager commits it here (and sets output.committed)
            part = io.committed(spec.bronze_path, keys[0])
            before = previous_schema(io, spec, keys[0])
            for outcome in evaluate_bronze_checks(spec, part, before, output.committed):
                yield outcome.result()
            return

        schema_before: list[Any] | None = previous_schema(io, spec, keys[0])

        def commit_day(key: str) -> Generator[Any, None, Mapping[str, Any]]:
            nonlocal schema_before
            window = partitions_def.time_window_for_partition_key(key)
            manifest, metadata = io.write_partition(
                spec.bronze_path, key, one_day(window), context.run.run_id
            )
            part = io.committed(spec.bronze_path, key)
            for outcome in evaluate_bronze_checks(spec, part, schema_before, manifest):
                yield outcome.evaluation(spec.bronze_key, key)
            if part is not None and part.metadata.get("schema"):
                schema_before = part.metadata["schema"]
            return metadata

        # Days do not build on each other (an incremental day reads the watermark of the latest committed
        # day before it, as a one-partition run would), so a failing day does not stop the range.
        yield from commit_range(
            context, spec.bronze_key, keys, commit_day, stop_at_failure=False, what=f"Bronze {spec.name}"
        )
        yield from selected_check_outputs(context)

    return _bronze


def previous_schema(io: BronzeIOManager, spec: SourceSpec, run_date: str) -> list[Any] | None:
    """The schema of the latest committed Bronze partition before ``run_date`` (schema_drift's reference)."""
    for candidate in reversed(io.partition_dates(spec.bronze_path)):
        if candidate < run_date:
            part = io.committed(spec.bronze_path, candidate)
            if part is not None:
                schema = part.metadata.get("schema")
                return list(schema) if schema else None
    return None
