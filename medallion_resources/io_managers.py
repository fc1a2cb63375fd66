"""The Bronze and Silver IO managers: Dagster's door to the lake (DESIGN §4, §7).

An asset returns a ``PartitionOutput``: named artifacts as *streams* (Arrow batches or polars frames) and a
callback that builds ``_metadata.json`` once the streams are drained. ``handle_output`` writes the streams
as part files as they arrive, commits the partition through its manifest and reports the materialization
metadata. On any failure the attempt's files are removed and the previous commit stays in place, and the
step fails with the error's own message first (``root_cause_failure``). A range run (a backfill of several
days in one run) calls ``write_partition`` once per day from the asset body and returns a
``CommittedRange``; ``dagster/partition_row_count`` is the rows of the main artifact in both cases.

``load_input`` serves the readers downstream (a user's Gold asset): a ``polars.LazyFrame`` over the
committed, verified files of one artifact (input metadata ``artifact``) of the partitions it maps to, or of
the latest committed partition when it is not partitioned (docs/reading.md,
:mod:`medallion_resources.downstream`). The Silver asset itself loads no inputs: Bronze D and its own D-1
are ``deps`` it reads through these IO managers as resources (``BronzeInput``, ``committed``). Where an
asset lives is read from its definition metadata (``medallion/dataset_path``), decided once in
``medallion_assets.specs``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import dagster as dg
import polars as pl
import pyarrow as pa

from medallion_resources.downstream import ARTIFACT_KEY, VERIFY_KEY, downstream_input
from medallion_resources.errors import NotCommittedError
from medallion_resources.lake.commit import PartitionWriter
from medallion_resources.lake.committed_cache import CommitRecord, CommittedCache
from medallion_resources.lake.layout import DEFAULT_ARTIFACT, ERRORS_ARTIFACT, partition_folder, run_dates
from medallion_resources.lake.manifest import DELETES, Manifest, ManifestFile
from medallion_resources.lake.parts import PartSettings, Writable
from medallion_resources.lake.read import CommittedPartition, read_committed
from medallion_resources.lake.schema import widen_schema
from medallion_resources.materialization import (
    HeadTap,
    files_table,
    preview_table,
    safely,
    watermark_lag_seconds,
)
from medallion_resources.redact import Redactor
from medallion_resources.storage.base import StorageBackend

__all__ = [
    "ARTIFACT_KEY",
    "BOUNDARY_HASHES_KEY",
    "VERIFY_KEY",
    "ArtifactDelta",
    "BronzeIOManager",
    "BronzeInput",
    "CommittedRange",
    "LakeIOManager",
    "PartitionOutput",
    "SilverIOManager",
    "WatermarkState",
    "WrittenArtifact",
    "artifact_row_counts",
    "definition_facts",
    "root_cause_failure",
]

_log = logging.getLogger(__name__)

DATASET_PATH_KEY = "medallion/dataset_path"
# _metadata.json key of the content hashes committed with ``watermark_out`` (db ``watermark`` mode).
BOUNDARY_HASHES_KEY = "boundary_hashes"
SILVER_DEFAULT_ARTIFACT = "current"


@dataclass(frozen=True)
class ArtifactDelta:
    """How an artifact of a shared (merge-on-read) partition is made from the partition before it.

    The artifact lists ``carried`` (files of earlier partitions, data and deletes, paths relative to the
    dataset root) by reference, adds the rows its stream writes, and a deletes file with ``deletes``
    (``path``, ``pos``: the carried rows it no longer holds). ``schema`` is the carried rows' schema.
    """

    carried: tuple[ManifestFile, ...]
    deletes: pl.DataFrame
    schema: pa.Schema | None = None


@dataclass(frozen=True)
class WrittenArtifact:
    """What was written for one artifact: its files and the widened schema of its rows.

    ``files`` are the files this commit wrote, ``carried`` those it lists by reference; ``row_count`` is
    the artifact's live rows (data rows less deleted ones).
    """

    files: tuple[ManifestFile, ...]
    schema: pa.Schema | None
    carried: tuple[ManifestFile, ...] = ()

    @property
    def row_count(self) -> int:
        rows = 0
        for f in (*self.carried, *self.files):
            rows += -f.row_count if f.kind == DELETES else f.row_count
        return rows

    def schema_json(self) -> list[dict[str, str]]:
        return [{"name": f.name, "type": str(f.type)} for f in self.schema] if self.schema else []


@dataclass
class PartitionOutput:
    """What a medallion asset returns for one partition."""

    artifacts: Mapping[str, Iterable[Writable]]
    # Called after every stream is drained with what was written per artifact; returns _metadata.json.
    build_metadata: Callable[[Mapping[str, WrittenArtifact]], dict[str, Any]]
    output: PartSettings
    # Extra Dagster metadata computed by the asset (e.g. column lineage); never written to the lake.
    dagster_metadata: dict[str, Any] = field(default_factory=dict)
    # The artifact ``dagster/partition_row_count`` counts (a Silver model's first); None: the first one.
    main_artifact: str | None = None
    # Shared (merge-on-read) partition, manifest version 2: paths relative to the dataset root.
    shared: bool = False
    # Artifacts written by key (their key columns): readers put their live rows in key order.
    keyed: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # Artifacts made from the partition before (the others are written whole).
    deltas: Mapping[str, ArtifactDelta] = field(default_factory=dict)
    # Keyed artifacts written whole but not in key order (a compaction): readers sort them too.
    unsorted: frozenset[str] = frozenset()
    # Set by the IO manager once committed: the manifest of *this* attempt (what its checks verify).
    committed: Manifest | None = None
    # Secret values of the source (resolved ``*_env`` settings): masked in the rows previewed in the UI.
    secrets: tuple[str, ...] = ()


@dataclass(frozen=True)
class CommittedRange:
    """What an asset returns from a run over several partitions (a range backfill) once every day committed.

    In a range run the asset commits each day itself, in date order, through ``write_partition`` (own
    manifest, own ``_metadata.json``) and records each day's metadata for that partition's materialization
    (see ``medallion_assets.assets.backfill``): only the asset body can report the days that did commit when
    a later one fails. The IO manager has nothing left to write; it checks the range is the run's.
    """

    partitions: tuple[str, ...]


class LakeIOManager(dg.IOManager):
    """Shared mechanism of both layers; subclasses only differ in what ``load_input`` returns."""

    layer: str = ""

    def __init__(self, backend: StorageBackend) -> None:
        self.backend = backend
        self._committed = CommittedCache(backend)

    # --- paths ---
    def partition_prefix(self, dataset_path: str, run_date: str) -> str:
        return f"{dataset_path}/{partition_folder(self.layer, run_date)}"

    def committed(self, dataset_path: str, run_date: str | date) -> CommittedPartition | None:
        return read_committed(self.backend, self.partition_prefix(dataset_path, str(run_date)))

    def commits(
        self, dataset_path: str, run_dates: Sequence[str], metadata_keys: Sequence[str] = ()
    ) -> list[CommitRecord | None]:
        """Which commit each day holds (and the ``metadata_keys`` of its metadata), None where none: on an
        object store one listing, and only the partitions this IO manager has not read at their current
        version are read (``lake.committed_cache``)."""
        prefixes = [self.partition_prefix(dataset_path, str(d)) for d in run_dates]
        return self._committed.read(dataset_path, prefixes, metadata_keys)

    def partition_dates(self, dataset_path: str) -> list[str]:
        """Run dates that have a folder (committed or not), sorted."""
        return run_dates(self.layer, self.backend.list_dirs(dataset_path))

    # --- writing ---
    def handle_output(self, context: dg.OutputContext, obj: PartitionOutput | CommittedRange) -> None:
        if isinstance(obj, CommittedRange):
            missing = sorted(set(context.asset_partition_keys) - set(obj.partitions))
            if missing:
                raise ValueError(f"the range run did not commit partition(s) {', '.join(missing)}")
            context.add_output_metadata({"range_partitions_committed": len(obj.partitions)})
            return
        if not isinstance(obj, PartitionOutput):
            raise TypeError(f"{self.layer} assets must return a PartitionOutput, got {type(obj).__name__}")
        dataset_path = _dataset_path(context.definition_metadata, context.asset_key)
        try:
            manifest, metadata = self.write_partition(
                dataset_path, context.partition_key, obj, context.run_id
            )
        except dg.Failure:
            raise
        except Exception as exc:
            raise root_cause_failure(exc) from exc
        context.add_output_metadata({**metadata, **definition_facts(context.definition_metadata)})
        _set_data_version(context, manifest)

    def write_partition(
        self, dataset_path: str, run_date: str, obj: PartitionOutput, run_id: str
    ) -> tuple[Manifest, dict[str, Any]]:
        """Write and commit one partition; returns its manifest and its Dagster materialization metadata."""
        prefix = self.partition_prefix(dataset_path, run_date)
        writer = PartitionWriter(
            self.backend,
            prefix,
            layer=self.layer,
            dataset=dataset_path,
            run_date=run_date,
            run_id=run_id,
            output=obj.output,
            shared=obj.shared,
        )
        taps = {artifact: HeadTap(stream) for artifact, stream in obj.artifacts.items()}
        try:
            written: dict[str, WrittenArtifact] = {}
            for artifact, stream in taps.items():
                delta = obj.deltas.get(artifact)
                files = []
                if delta is not None:
                    writer.reference(delta.carried)
                    files += writer.write_deletes(artifact, delta.deletes)
                files += writer.write_artifact(artifact, stream)  # errors land under _errors/
                if artifact in obj.keyed:
                    writer.set_keyed(
                        artifact, obj.keyed[artifact], sorted_=delta is None and artifact not in obj.unsorted
                    )
                schema = writer.schemas.get(artifact)
                if delta is not None and delta.schema is not None:
                    schema = delta.schema if schema is None else widen_schema(delta.schema, schema)
                carried = delta.carried if delta is not None else ()
                written[artifact] = WrittenArtifact(tuple(files), schema, carried)
            metadata = obj.build_metadata(written)
            # Every artifact's schema, so an artifact without rows still reads back typed.
            metadata.setdefault(
                "schemas", {name: w.schema_json() for name, w in written.items() if w.schema is not None}
            )
            manifest = writer.commit(metadata)
        except BaseException:
            try:
                writer.abort()
            finally:
                secrets = (*obj.secrets, *getattr(self.backend, "secrets", ()))
                _close_streams(obj.artifacts.values(), Redactor(secrets))
            raise
        obj.committed = manifest
        main = obj.main_artifact or next(iter(obj.artifacts), "")
        counts = {name: 0 for name in obj.artifacts} | artifact_row_counts(manifest)
        # The data is committed: from here on nothing may fail the materialization.
        collected = safely(
            "partition", lambda: self._dagster_metadata(prefix, manifest, metadata), _log.warning
        )
        schemas = {name: w.schema for name, w in written.items()}
        previews = safely("preview", lambda: self._previews(taps, main, obj.secrets, schemas), _log.warning)
        return manifest, {
            "manifest_sha256": manifest.sha256,
            **(collected or {}),
            **(previews or {}),
            **_row_count_metadata(counts, main),
            **obj.dagster_metadata,
        }

    def _dagster_metadata(self, prefix: str, manifest: Manifest, metadata: dict[str, Any]) -> dict[str, Any]:
        # The files this commit wrote; the ones a Silver partition shares with earlier days are counted
        # (their checksums are in the manifest, and in the metadata of the day that wrote them).
        folder = prefix.rpartition("/")[2] + "/"
        own = [f for f in manifest.files if not manifest.shared or f.path.startswith(folder)]
        result: dict[str, Any] = {
            "dagster/uri": dg.MetadataValue.path(self.backend.uri(prefix)),
            "files": files_table(own),
            "sha256": dg.MetadataValue.json({f.path: f.sha256 for f in own}),
            "bytes": sum(f.size_bytes for f in manifest.files),
            "bytes_written": sum(f.size_bytes for f in own),
            "shared_files": len(manifest.files) - len(own),
            "manifest_sha256": manifest.sha256,
            "attempt": manifest.attempt,
        }
        schema = metadata.get("schema")
        if schema:
            result["dagster/column_schema"] = dg.TableSchema(
                columns=[dg.TableColumn(name=c["name"], type=c["type"]) for c in schema]
            )
        for key in _SCALAR_METADATA:
            value = metadata.get(key)
            if isinstance(value, (int, float, str)) and not isinstance(value, bool):
                result[key] = value
        if self.layer == "bronze" and isinstance(metadata.get("record_count"), int):
            result["rows_in"] = metadata["record_count"]  # the rows landed, the figure Silver's rows_in reads
        if metadata.get("watermark_out") is not None:
            result["watermark_out"] = str(metadata["watermark_out"])
            lag = watermark_lag_seconds(metadata)
            if lag is not None:
                result["watermark_lag_seconds"] = lag
        if isinstance(metadata.get("rows_out"), dict):
            result["rows_out"] = dg.MetadataValue.json(metadata["rows_out"])
        return result

    def _previews(
        self,
        taps: Mapping[str, HeadTap],
        main: str,
        secrets: tuple[str, ...],
        schemas: Mapping[str, pa.Schema | None],
    ) -> dict[str, Any]:
        """The first rows of the main artifact, and of the quarantined rows with their reasons, each typed
        as its artifact is stored (``schemas``: the widened schema of everything written)."""
        redactor = Redactor((*secrets, *getattr(self.backend, "secrets", ())))
        result: dict[str, Any] = {}
        head = taps[main].head(schemas.get(main)) if main in taps else None
        if head is not None:
            result["preview"] = preview_table(head, redactor)
        errors = taps[ERRORS_ARTIFACT].head(schemas.get(ERRORS_ARTIFACT)) if ERRORS_ARTIFACT in taps else None
        if errors is not None:
            first = [c for c in ("_error_reason",) if c in errors.column_names]
            errors = errors.select([*first, *(c for c in errors.column_names if c not in first)])
            result["quarantined_preview"] = preview_table(errors, redactor)
        return result


def artifact_row_counts(manifest: Manifest) -> dict[str, int]:
    """Live rows per artifact of a committed partition (``errors`` holds the quarantined rows)."""
    return {artifact: manifest.live_rows(artifact) for artifact in manifest.artifacts()}


def _row_count_metadata(counts: Mapping[str, int], main: str) -> dict[str, int]:
    """``dagster/partition_row_count`` is the main artifact's rows, so the figure means the same on every
    model (an SCD2 history, not history + current); each artifact and the quarantine have their own key."""
    rows = counts.get(main, 0)
    result = {"dagster/partition_row_count": rows, "dagster/row_count": rows}
    result |= {f"row_count/{name}": rows for name, rows in counts.items() if name != ERRORS_ARTIFACT}
    result["quarantined"] = counts.get(ERRORS_ARTIFACT, 0)
    return result


_SCALAR_METADATA = (
    "record_count",
    "chunk_count",
    "load_pattern",
    "watermark_in",
    "previous_state",
    "rows_in",
    "inserted",
    "updated",
    "deleted",
    "unchanged",
    "duplicates_dropped",
    "pages",
    "requests",
    "retries",
    "throttled_seconds",
    "endpoint",
    "batches",
    "commit_horizon",
    "boundary_rows_dropped",
    "source_snapshot_seconds",
    "source_snapshots",
)


def definition_facts(definition_metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    """What a materialization repeats of its asset's definition metadata (``dagster/table_name``)."""
    value = (definition_metadata or {}).get(TABLE_NAME_KEY)
    if value is None:
        return {}
    return {TABLE_NAME_KEY: value.value if isinstance(value, dg.TextMetadataValue) else str(value)}


TABLE_NAME_KEY = "dagster/table_name"


@dataclass(frozen=True)
class BronzeInput:
    """Silver's view of Bronze: the run date's committed partition, and earlier ones for rebuilds."""

    io: BronzeIOManager
    dataset_path: str
    run_date: str

    def current(self) -> CommittedPartition:
        part = self.io.committed(self.dataset_path, self.run_date)
        if part is None:
            raise NotCommittedError(
                f"Bronze {self.dataset_path} has no committed partition for {self.run_date}; "
                "materialize the Bronze asset for that date first"
            )
        return part

    def committed(self, run_date: str | date) -> CommittedPartition | None:
        return self.io.committed(self.dataset_path, run_date)

    def for_date(self, run_date: str | date) -> BronzeInput:
        """The same Bronze dataset seen from another run date (the days of a range run)."""
        return BronzeInput(self.io, self.dataset_path, str(run_date))

    def dates_before(self) -> list[str]:
        return [d for d in self.io.partition_dates(self.dataset_path) if d < self.run_date]


class BronzeIOManager(LakeIOManager):
    layer = "bronze"

    def load_input(self, context: dg.InputContext) -> Any:
        """A LazyFrame (or what the input's annotation asks for) of an asset downstream of Bronze."""
        return _downstream_input(self, context, DEFAULT_ARTIFACT)

    def watermark_before(self, dataset_path: str, run_date: str) -> str | None:
        """``watermark_out`` of the latest committed partition before ``run_date`` (never its own)."""
        return self.watermark_state_before(dataset_path, run_date).watermark

    def watermark_state_before(self, dataset_path: str, run_date: str) -> WatermarkState:
        """The watermark and boundary hashes of the latest committed partition before ``run_date``.

        Both come from the same committed ``_metadata.json`` (covered by the manifest), so they advance only
        with data that landed, and always together.
        """
        dates = self.partition_dates(dataset_path)
        later = self._latest_committed(dataset_path, [d for d in dates if d > run_date], first=True)
        following = later.metadata.get("watermark_in") if later is not None else None
        part = self._latest_committed(dataset_path, [d for d in dates if d < run_date])
        if part is None:
            return WatermarkState(
                None,
                (),
                next_watermark_in=None if following is None else str(following),
                later_read_from_start=later is not None and following is None,
            )
        value = part.metadata.get("watermark_out")
        hashes = part.metadata.get(BOUNDARY_HASHES_KEY) or ()
        watermark = None if value is None else str(value)
        return WatermarkState(
            watermark,
            tuple(str(h) for h in hashes),
            part.manifest.run_date,
            None if following is None else str(following),
        )

    def latest_committed_before(self, dataset_path: str, run_date: str) -> CommittedPartition | None:
        """The latest committed partition before ``run_date`` (never its own)."""
        return self._latest_committed(
            dataset_path, [d for d in self.partition_dates(dataset_path) if d < run_date]
        )

    def _latest_committed(
        self, dataset_path: str, dates: list[str], *, first: bool = False
    ) -> CommittedPartition | None:
        """The committed partition of ``dates`` (sorted) latest, or with ``first`` earliest."""
        for candidate in dates if first else reversed(dates):
            part = self.committed(dataset_path, candidate)
            if part is not None:
                return part
        return None


@dataclass(frozen=True)
class WatermarkState:
    """What an incremental partition starts from: the previous ``watermark_out`` and its boundary hashes,
    and the run date of the committed partition they come from (None: no partition before); and, when a
    later partition is committed (a re-run, a backfill), the ``watermark_in`` it started from, or that it
    read from the start."""

    watermark: str | None
    boundary_hashes: tuple[str, ...]
    run_date: str | None = None
    next_watermark_in: str | None = None
    # The first committed partition after the run date read from the start (its watermark_in is null): with
    # no partition before, the run date's rows are all in it already (a backfill before the first load).
    later_read_from_start: bool = False


class SilverIOManager(LakeIOManager):
    layer = "silver"

    def load_input(self, context: dg.InputContext) -> Any:
        """A LazyFrame (or what the input's annotation asks for) of an asset downstream of Silver."""
        return _downstream_input(self, context, SILVER_DEFAULT_ARTIFACT)


def _downstream_input(io: LakeIOManager, context: dg.InputContext, default_artifact: str) -> Any:
    """What an asset downstream reads (``medallion_resources.downstream``), its error as the step's own."""
    upstream = context.upstream_output
    try:
        path = _dataset_path(upstream.definition_metadata if upstream is not None else {}, context.asset_key)
        return downstream_input(io.backend, io.layer, path, context, default_artifact)
    except Exception as exc:
        raise root_cause_failure(exc) from exc


def root_cause_failure(exc: BaseException) -> dg.Failure:
    """A ``dagster.Failure`` whose message is ``exc``'s, to raise ``from exc`` in an asset or IO manager.

    Dagster shows an exception raised there under its own wrapper (``DagsterExecutionHandleOutputError``,
    ``DagsterExecutionStepExecutionError``: "Error occurred while ...") with the real error below it; a
    Failure it shows as it is, so the step's error starts with what went wrong. ``exc`` stays the cause.
    """
    return dg.Failure(description=str(exc).strip() or type(exc).__name__)


def _dataset_path(metadata: Mapping[str, Any] | None, asset_key: dg.AssetKey) -> str:
    value = (metadata or {}).get(DATASET_PATH_KEY)
    if value is None:
        raise KeyError(f"asset {asset_key.to_user_string()} has no '{DATASET_PATH_KEY}' definition metadata")
    return value.value if isinstance(value, dg.TextMetadataValue) else str(value)


def _set_data_version(context: dg.OutputContext, manifest: Manifest) -> None:
    """Use the manifest hash as the DataVersion; metadata must never fail a materialization."""
    try:
        step = context.step_context
        parents = step.job_def.asset_layer.asset_graph.get(context.asset_key).parent_keys
        if context.asset_key in parents:
            # A self-dependent (stateful Silver) asset reads its own D-1 in the same step; Dagster would
            # compare that input's version with ours and warn, so its logical data version is kept.
            return
        step.set_data_version(context.asset_key, dg.DataVersion(manifest.sha256))
    except Exception as exc:  # noqa: BLE001 - collecting metadata never fails a run
        context.log.warning(f"could not set data version: {exc}")


def _close_streams(streams: Iterable[Any], redactor: Redactor) -> None:
    """Close the artifacts' streams a failed write leaves behind. A stream left open holds its source (a
    reader thread, a connection, a transaction that holds back the database's vacuum) until a garbage
    collection finds it, and ``medallion run`` goes on with its next sources in the same process. A stream
    that fails to close is logged: the write's own error is the one raised."""
    for stream in streams:
        close = getattr(stream, "close", None)
        if callable(close):
            try:
                close()
            except Exception as exc:  # noqa: BLE001 - see the docstring
                detail = redactor.text(f"{type(exc).__name__}: {exc}")
                _log.warning("closing a stream after a failed write: %s", detail)
