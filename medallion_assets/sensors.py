"""Sensors that load new data as it appears (DESIGN §8), selected by ``sensor.type``::

    sources:
      - name: retail_orders
        source: {type: file, file: {path: /landing/orders/orders_{run_date:%Y%m%d}_*.jsonl}, ...}
        sensor: {type: file_arrival, minimum_interval_seconds: 60, default_status: running}
      - name: erp_invoices
        source: {type: db, db: {url_env: ERP_URL, table: invoices, incremental: {cursor_column: updated_at}}}
        partitions: {end_offset: 1}          # today's partition exists, so the sensor can load into it
        sensor: {type: db_watermark, minimum_interval_seconds: 300}

``file_arrival`` lists the ``file.path`` glob (template fields become ``*``), reads each file's run date back
from its name (``templates.match``: the date the file extractor would read it for), and requests the
partitions whose set of files (path, size, modification time or ETag) is new or changed; with
``file.required: false`` also the days no file came for, between the latest committed Bronze day and the
last requested one (each an empty partition, which Silver's next day builds on); and, with a hole in the
week before that day (a day whose run failed while a later one committed, its files there), every day
from the hole on, at most once a day.
``db_watermark`` polls ``MAX(cursor_column)`` of the source's table or query and requests today's partition
when it is past the ``watermark_out`` of the latest committed Bronze partition, together with the days
between that partition and today that no change requested (Silver D builds on Bronze D-1: a quiet day must
not stay a gap) and, in ``window`` mode, the days from the one holding that watermark on (a row written
after a day's last run lies in that day's window only); with a hole in the week before that partition (a
day whose run failed while a later one committed), every day from the hole on, at most once a day. In
``watermark`` mode on PostgreSQL and MariaDB/MySQL the polled maximum is bounded by the commit horizon, as
the run's read is, so rows behind a transaction still open are requested once it ends.

Neither loses nor repeats a load across restarts: the JSON cursor remembers what was requested, every run
request carries a ``run_key`` derived from what it loads (Dagster never launches a run key twice for one
sensor), and without a cursor entry the lake itself is the reference (a partition whose committed Bronze
lists the same files, or whose watermark is already at the maximum, is not requested again). A source
outage is a skip reason on the tick, never an exception; credentials never appear in it.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import dagster as dg
import fsspec

from medallion_assets import templates
from medallion_assets.assets import partitions_def_for
from medallion_assets.errors import ExtractError
from medallion_assets.specs import SourceSpec
from medallion_assets.staleness import committed_records, days_between
from medallion_resources.io_managers import BronzeIOManager
from medallion_resources.redact import redact

if TYPE_CHECKING:  # the SQL stack (pyarrow.compute, ~35 ms) loads when a db_watermark sensor polls
    from medallion_resources.sql.connect import SqlTarget

__all__ = [
    "HOLE_LOOKBACK_DAYS",
    "build_sensors",
    "days_to_load",
    "file_partitions",
    "max_cursor_value",
    "text_after",
]

Clock = Callable[[], datetime]

# How far before the latest committed Bronze day the sensors look for a day not committed (its run failed
# while a later day committed) to request again: db_watermark with the next change, file_arrival with the
# next new file.
HOLE_LOOKBACK_DAYS = 7


def build_sensors(
    specs: Sequence[SourceSpec], bronze: BronzeIOManager, *, clock: Clock | None = None
) -> list[dg.SensorDefinition]:
    """One sensor per source with a ``sensor:`` section, targeting the source's job."""
    now = clock or (lambda: datetime.now(UTC))
    builders = {"file_arrival": _file_arrival_sensor, "db_watermark": _db_watermark_sensor}
    return [
        builders[spec.entry.sensor.type](spec, bronze, now) for spec in specs if spec.entry.sensor is not None
    ]


def _sensor(spec: SourceSpec, description: str) -> Callable[[Callable[..., Any]], dg.SensorDefinition]:
    sensor = spec.entry.sensor
    assert sensor is not None
    return dg.sensor(
        name=spec.sensor_name,
        job_name=spec.job_name,
        minimum_interval_seconds=sensor.minimum_interval_seconds,
        default_status=(
            dg.DefaultSensorStatus.RUNNING
            if sensor.default_status == "running"
            else dg.DefaultSensorStatus.STOPPED
        ),
        description=description,
    )


def _last_partition(partitions: dg.PartitionsDefinition, now: datetime) -> str | None:
    with dg.partition_loading_context(effective_dt=now):
        return partitions.get_last_partition_key()


def _today(spec: SourceSpec, now: datetime) -> str | None:
    """Today's partition: the day of ``now`` in the partitions' timezone (not the last partition, which is
    a later day with ``end_offset`` past 1); None before the start date."""
    day = now.astimezone(ZoneInfo(spec.partitions.timezone)).date()
    return None if day < spec.start_date else day.isoformat()


def _load_cursor(raw: str | None) -> dict[str, Any]:
    """A cursor that is not ours (or was edited) counts as none: the lake is the reference then."""
    try:
        value = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


# --- file_arrival -----------------------------------------------------------------------------------------


def _file_arrival_sensor(spec: SourceSpec, bronze: BronzeIOManager, now: Clock) -> dg.SensorDefinition:
    file = spec.entry.source.file
    assert file is not None
    partitions = partitions_def_for(spec)

    @_sensor(spec, f"Loads the partitions of new or changed files matching {redact(file.path)}.")
    def _file_arrival(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        cursor = _load_cursor(context.cursor)
        known = cursor.get("partitions")
        known = {k: v for k, v in known.items() if isinstance(v, str)} if isinstance(known, dict) else {}
        seen: dict[str, str] = dict(known)
        last = _last_partition(partitions, now())
        try:
            found = file_partitions(file.path, last_partition=last, timezone=spec.partitions.timezone)
        except Exception as exc:  # noqa: BLE001 - an outage is a skip reason, never a failed tick
            return dg.SensorResult(
                skip_reason=f"cannot list file.path '{redact(file.path)}': {redact(str(exc))}",
                cursor=context.cursor,
            )
        requests = []
        for key, files in sorted(found.items()):
            if last is None or key < spec.start_date.isoformat() or key > last:
                continue
            digest = _digest(files)
            if seen.get(key) == digest:
                continue
            seen[key] = digest
            if key not in known and _bronze_has_files(bronze, spec, key, files):
                continue  # loaded before this cursor existed
            requests.append(
                dg.RunRequest(run_key=f"{spec.name}:{key}:{digest}", partition_key=key, tags=spec.run_tags)
            )
        if requests and not file.required:
            requests = _with_quiet_days(spec, bronze, requests, found)
        if requests:  # a day whose run failed while a later one committed: with the next new file
            requests = _with_hole(spec, bronze, requests, found, file.required, now())
        new_cursor = json.dumps({"partitions": seen}, sort_keys=True)
        if not requests:
            return dg.SensorResult(
                skip_reason=f"no new or changed files matching '{redact(file.path)}' "
                f"({sum(len(f) for f in found.values())} file(s) seen)",
                cursor=new_cursor,
            )
        return dg.SensorResult(run_requests=requests, cursor=new_cursor)

    return _file_arrival


def _with_quiet_days(
    spec: SourceSpec,
    bronze: BronzeIOManager,
    requests: list[dg.RunRequest],
    found: dict[str, dict[str, str]],
) -> list[dg.RunRequest]:
    """``requests`` plus the days no file came for (``file.required: false``: an empty partition each)
    between the latest committed Bronze day and the last requested one, in date order: Silver D builds on
    Bronze D-1, so such a day must not stay a gap."""
    wanted, last = _by_day(requests)
    try:
        latest = bronze.latest_committed_before(spec.bronze_path, last)
    except Exception:  # noqa: BLE001 - an unreadable lake: the new files' days are still loaded
        return requests
    after = latest.manifest.run_date if latest is not None else min(wanted)
    for day in days_to_load(after, last, start=spec.start_date.isoformat()):
        if day not in wanted and day not in found:
            wanted[day] = dg.RunRequest(
                run_key=f"{spec.name}:{day}:no-file", partition_key=day, tags=spec.run_tags
            )
    return [wanted[day] for day in sorted(wanted)]


def _by_day(requests: list[dg.RunRequest]) -> tuple[dict[str, dg.RunRequest], str]:
    """The requests by partition key, and the last key."""
    wanted = {str(r.partition_key): r for r in requests}
    return wanted, max(wanted)


def _with_hole(
    spec: SourceSpec,
    bronze: BronzeIOManager,
    requests: list[dg.RunRequest],
    found: dict[str, dict[str, str]],
    required: bool,
    now: datetime,
) -> list[dg.RunRequest]:
    """``requests`` plus, from the first hole the run can fill (its files are there, or none are required)
    in the week before the latest committed Bronze day, every day up to the last requested one, in date
    order: the hole's run failed while a later day committed, and its files did not change since, so it
    was not requested again; the committed days after it are run again so that Silver builds on each."""
    wanted, last = _by_day(requests)
    try:
        latest = bronze.latest_committed_before(spec.bronze_path, last)
    except Exception:  # noqa: BLE001 - an unreadable lake: the new files' days are still loaded
        return requests
    if latest is None:
        return requests
    hole = _first_hole(bronze, spec, latest.manifest.run_date, lambda day: not required or day in found)
    if hole is None:
        return requests
    today = now.astimezone(ZoneInfo(spec.partitions.timezone)).date().isoformat()
    for day in days_to_load((date.fromisoformat(hole) - timedelta(days=1)).isoformat(), last, start=hole):
        if day not in wanted:  # at most once a day, whatever arrives: the run key names the day
            wanted[day] = dg.RunRequest(
                run_key=f"{spec.name}:{day}:hole:{today}", partition_key=day, tags=spec.run_tags
            )
    return [wanted[day] for day in sorted(wanted)]


def file_partitions(
    pattern: str, *, last_partition: str | None, timezone: str = "UTC"
) -> dict[str, dict[str, str]]:
    """Partition key -> {file path: fingerprint} for every file ``pattern`` matches now.

    A file's run date is ``templates.match`` of its path: the date whose filled ``pattern`` the file
    extractor would read it for (files that fit no date are left out). A pattern without a date field puts
    every file into ``last_partition``.
    """
    fs, path = fsspec.core.url_to_fs(pattern)
    glob = templates.to_glob(path)
    dated = templates.has_date_field(path)
    found: dict[str, dict[str, str]] = {}
    listing = fs.glob(glob, detail=True) if any(c in glob for c in "*?[") else _single(fs, glob)
    for name, info in listing.items():
        if info.get("type") != "file" or posixpath.basename(name).startswith(("_", ".")):
            continue
        if dated:
            day = templates.match(path, name, timezone=timezone)
            key = None if day is None else day.isoformat()
        else:
            key = last_partition
        if key is None:
            continue
        fingerprint = info.get("mtime") or info.get("ETag") or info.get("LastModified") or ""
        found.setdefault(key, {})[name] = f"{info.get('size') or 0}:{fingerprint}"
    return found


def _single(fs: fsspec.AbstractFileSystem, path: str) -> dict[str, dict[str, Any]]:
    return {path: fs.info(path)} if fs.exists(path) else {}


def _digest(files: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(sorted(files.items())).encode()).hexdigest()[:16]


def _bronze_has_files(bronze: BronzeIOManager, spec: SourceSpec, key: str, files: dict[str, str]) -> bool:
    """The committed Bronze partition read exactly these files (path and size)."""
    try:
        part = bronze.committed(spec.bronze_path, key)
    except Exception:  # noqa: BLE001 - an unreadable lake means: load it
        return False
    if part is None:
        return False
    landed = {
        (_strip_protocol(f.get("path", "")), int(f.get("size_bytes", -1)))
        for f in part.metadata.get("source_files") or []
    }
    now = {(_strip_protocol(path), int(fp.split(":", 1)[0])) for path, fp in files.items()}
    return landed == now


def _strip_protocol(path: str) -> str:
    return path.split("://", 1)[1] if "://" in path else path


# --- db_watermark -----------------------------------------------------------------------------------------


def _db_watermark_sensor(spec: SourceSpec, bronze: BronzeIOManager, now: Clock) -> dg.SensorDefinition:
    db = spec.entry.source.db
    assert db is not None and db.incremental is not None
    column = db.incremental.cursor_column
    window_mode = db.incremental.mode == "window"
    below_horizon = not window_mode and db.incremental.commit_horizon  # what a watermark run reads up to

    @_sensor(spec, f"Loads today's partition when MAX({column}) moves past the last loaded watermark.")
    def _db_watermark(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        key = _today(spec, now())
        if spec.partitions.end_offset < 1:
            return dg.SensorResult(skip_reason="no current partition (needs partitions.end_offset: 1)")
        if key is None:
            return dg.SensorResult(skip_reason=f"today is before the start date {spec.start_date}")
        from medallion_resources.sql.connect import SqlTarget

        try:
            target = SqlTarget.from_config(db.url, db.url_env, spec.name)
        except ExtractError as exc:  # the URL's variable is unset or holds no valid URL
            return dg.SensorResult(skip_reason=str(exc), cursor=context.cursor)
        next_day = (date.fromisoformat(key) + timedelta(days=1)).isoformat()
        state = bronze.watermark_state_before(spec.bronze_path, next_day)
        loaded = state.watermark
        rows = {"query": db.query, "table": db.table, "schema": db.db_schema}
        try:
            value = max_cursor_value(target, column, **rows, below_horizon=below_horizon)
            # a text cursor: past the watermark as the database orders it, as the extractor's read does
            after = text_after(target, column, value, loaded, **rows) if isinstance(value, str) else None
            if isinstance(value, datetime) and value.tzinfo is not None and loaded is not None:
                loaded = _upgraded_watermark(target, loaded)
        except Exception as exc:  # noqa: BLE001 - an outage is a skip reason, never a failed tick
            first_line = target.redact(str(exc)).splitlines()[0] if str(exc) else type(exc).__name__
            return dg.SensorResult(
                skip_reason=f"cannot poll MAX({column}) of source '{spec.name}': {first_line}",
                cursor=context.cursor,
            )
        if value is None:
            return dg.SensorResult(skip_reason=f"source '{spec.name}' has no rows yet", cursor=context.cursor)
        if after is None and loaded is not None:
            after = _is_after(value, loaded)
        if loaded is not None and not after:
            return dg.SensorResult(
                skip_reason=f"MAX({column}) = {value} is already loaded (watermark {loaded})",
                cursor=context.cursor,
            )
        cursor = _load_cursor(context.cursor)
        if cursor.get("requested") == str(value) and cursor.get("partition") == key:
            return dg.SensorResult(
                skip_reason=f"a run for MAX({column}) = {value} was already requested; "
                "waiting for it to commit",
                cursor=context.cursor,
            )
        reload_from = _day_of(loaded, spec.partitions.timezone) if window_mode else None
        if window_mode and reload_from is None:
            reload_from = state.run_date
        start = spec.start_date.isoformat()
        days = days_to_load(state.run_date, key, start=start, reload_from=reload_from)
        hole = _first_hole(bronze, spec, state.run_date) if state.run_date is not None else None
        if hole is not None:  # a day whose run failed while a later one committed: from it on, in order
            before = (date.fromisoformat(hole) - timedelta(days=1)).isoformat()
            again = days_to_load(before, key, start=start, reload_from=reload_from)
            # Those days are requested at most once a day (a hole that keeps failing does not queue a
            # week of runs at every move of the maximum): their run key is the day's, not the value's.
            keys = {day: f"{spec.name}:{day}:hole:{key}" for day in again if day not in days}
            days = again
        else:
            keys = {}
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    run_key=keys.get(day) or _load_key(spec.name, day, key, state.run_date, value),
                    partition_key=day,
                    tags=spec.run_tags,
                )
                for day in days
            ],
            cursor=json.dumps({"partition": key, "requested": str(value)}, sort_keys=True),
        )

    return _db_watermark


def _load_key(name: str, day: str, today: str, latest: str | None, value: Any) -> str:
    """The run key of loading ``day``: today's partition, and a committed day loaded again (window mode),
    for the maximum they read up to; a day between the latest committed one (``latest``) and today for that
    alone. Its window ends before today's changes, so the ticks that ask for it again while the maximum
    moves (its run still queued) ask for the same run, which Dagster launches once: with the maximum in
    its key, a week's catch-up ran again at every tick until it committed."""
    if day != today and latest is not None and day > latest:
        return f"{name}:{day}:after:{latest}"
    return f"{name}:{day}:{value}"


def _first_hole(
    bronze: BronzeIOManager, spec: SourceSpec, latest: str, loadable: Callable[[str], bool] = lambda _: True
) -> str | None:
    """The first day of the ``HOLE_LOOKBACK_DAYS`` before ``latest`` (the latest committed Bronze day) whose
    Bronze is not committed though an earlier day of that week is, and that a run can load (``loadable``):
    a day whose run failed while a later one committed. Days before the week's first commit are history
    never loaded (backfilled by hand), and an older hole is left to ``medallion status``, which names it,
    with its repair."""
    end = date.fromisoformat(latest)
    first = max(spec.start_date, end - timedelta(days=HOLE_LOOKBACK_DAYS))
    try:
        committed = {day for day, _ in committed_records(bronze, spec.bronze_path, first, end)}
    except Exception:  # noqa: BLE001 - an unreadable lake: the days after the latest commit are still loaded
        return None
    seen = False
    for day in days_between(first, end):
        if day in committed:
            seen = True
        elif seen and loadable(day.isoformat()):
            return day.isoformat()
    return None


def days_to_load(latest: str | None, today: str, *, start: str, reload_from: str | None = None) -> list[str]:
    """The partitions a moved ``MAX(cursor_column)`` requests, in date order: today's, and every day after
    ``latest`` (the latest committed Bronze day) before it, which no change requested: Silver D builds on
    Bronze D-1, so a quiet day must not stay a gap. ``reload_from`` (window mode, where a day reads only
    its own window: the day of the loaded watermark) loads again from that day on, since the rows past the
    watermark lie in its window or later ones."""
    if latest is None:
        return [today]
    first = date.fromisoformat(latest) + timedelta(days=1)
    if reload_from is not None:
        first = min(first, date.fromisoformat(reload_from))
    first = max(first, date.fromisoformat(start))
    count = (date.fromisoformat(today) - first).days + 1
    return [(first + timedelta(days=i)).isoformat() for i in range(count)] if count > 0 else [today]


def _day_of(watermark: str | None, timezone: str) -> str | None:
    """The partition day of a window-mode watermark: a naive timestamp is the partitions' wall clock, an
    aware one an instant (as ``window_bound`` compares them); None when it is not a date or time."""
    if watermark is None:
        return None
    try:
        moment = datetime.fromisoformat(watermark)
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(ZoneInfo(timezone))
    return moment.date().isoformat()


def max_cursor_value(
    target: SqlTarget,
    column: str,
    *,
    query: str | None = None,
    table: str | None = None,
    schema: str | None = None,
    below_horizon: bool = False,
) -> Any:
    """``MAX(column)`` over the source's rows, selected exactly as the db extractor selects them.

    ``below_horizon`` (a ``watermark`` source): where a run reads up to the commit horizon (PostgreSQL,
    MariaDB/MySQL: ``medallion_resources.sql.horizon``), a date or timestamp cursor's maximum at or below
    it, the most a run started now reads, so rows stamped after the start of a transaction still open are
    polled for again once it ends.
    """
    import sqlalchemy as sa

    from medallion_resources.sql.connect import create_sa_engine
    from medallion_resources.sql.horizon import HORIZON_DIALECTS, commit_horizon
    from medallion_resources.sql.query import SOURCE_ALIAS, base_select, validate_identifier

    engine = create_sa_engine(target)
    try:
        cursor = engine.dialect.identifier_preparer.quote_identifier(
            validate_identifier(column, "incremental.cursor_column")
        )
        rows = base_select(engine.dialect, table=table, schema=schema, query=query)
        select = f"SELECT MAX({cursor}) FROM ({rows}) AS {SOURCE_ALIAS}"
        with engine.connect() as conn:
            result = conn.execute(sa.text(select))
            mysql_timestamp = target.dialect in ("mysql", "mariadb") and result.cursor.description[0][1] == 7
            value = _instant(result.scalar(), mysql_timestamp)
        if not below_horizon or target.dialect not in HORIZON_DIALECTS or not isinstance(value, date):
            return value  # the run's horizon bounds date and timestamp cursors of these databases only
        horizon = commit_horizon(target)
        if isinstance(value, datetime):
            bound: Any = horizon.instant if value.tzinfo is not None else horizon.local
        else:
            bound = horizon.local.date()
        with engine.connect() as conn:
            below = conn.execute(sa.text(f"{select} WHERE {cursor} <= :horizon"), {"horizon": bound}).scalar()
            return _instant(below, mysql_timestamp)
    finally:
        engine.dispose()


def _instant(value: Any, mysql_timestamp: bool) -> Any:
    """A MySQL/MariaDB ``TIMESTAMP``'s maximum, read in a UTC session (``sql.zones``), as the aware
    instant it is; any other value as it is."""
    if mysql_timestamp and isinstance(value, datetime):
        return value.replace(tzinfo=UTC)
    return value


def text_after(
    target: SqlTarget,
    column: str,
    value: str,
    loaded: str | None,
    *,
    query: str | None = None,
    table: str | None = None,
    schema: str | None = None,
) -> bool | None:
    """Whether the text ``value`` is past the watermark ``loaded`` as the database orders the cursor column
    (``MAX`` and the extractor's ``cursor >= watermark`` use its collation: under a case-insensitive one
    ``'C'`` is past ``'b'``, though not by code point); None where that is Python's order, or nothing is
    loaded."""
    if loaded is None:
        return None
    from medallion_resources.sql import SqlQuery, describe_query
    from medallion_resources.sql.collations import text_order
    from medallion_resources.sql.connect import create_sa_engine
    from medallion_resources.sql.query import base_select, find_column

    engine = create_sa_engine(target)
    try:
        base = base_select(engine.dialect, table=table, schema=schema, query=query)
    finally:
        engine.dispose()
    cursor = find_column(describe_query(target, SqlQuery(base)), column)
    order = text_order(target, base, cursor)
    return None if order is None else bool(order.holding([value], ">", loaded))


def _upgraded_watermark(target: SqlTarget, loaded: str) -> str:
    """A naive watermark an earlier release committed for a MySQL/MariaDB ``TIMESTAMP`` cursor (the server
    zone's wall time) as the UTC instant it named, as the next run reads it (``sql.zones``); any other
    watermark as it is."""
    if target.dialect not in ("mysql", "mariadb"):
        return loaded
    try:
        wall = datetime.fromisoformat(loaded)
    except ValueError:
        return loaded
    if wall.tzinfo is not None:
        return loaded
    from medallion_resources.sql.connect import create_sa_engine
    from medallion_resources.sql.zones import upgraded_watermark

    engine = create_sa_engine(target)
    try:
        with engine.connect() as conn:
            return upgraded_watermark(conn, wall).isoformat()
    finally:
        engine.dispose()


def _is_after(value: Any, loaded: str) -> bool:
    """``value`` (as the database returns it) > ``loaded`` (the watermark text in ``_metadata.json``)."""
    try:
        if isinstance(value, datetime):
            other = datetime.fromisoformat(loaded)
            if (value.tzinfo is None) != (other.tzinfo is None):
                value, other = (v if v.tzinfo else v.replace(tzinfo=UTC) for v in (value, other))
            return value > other
        if isinstance(value, date):
            return value > date.fromisoformat(loaded[:10])
        if isinstance(value, bool):
            return str(value) != loaded
        if isinstance(value, int):
            return value > int(loaded)
        if isinstance(value, (float, Decimal)):
            return Decimal(str(value)) > Decimal(loaded)
    except (ValueError, ArithmeticError):
        pass
    return str(value) > loaded
