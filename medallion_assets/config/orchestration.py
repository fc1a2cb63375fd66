"""Cross-source rules of schedules and sensors (DESIGN §8), checked when a config directory loads.

They need more than one source entry (schedule groups) or the platform defaults (a source's resolved
partitions), so they cannot live in a single model's validator. Like every loader step they return
``ConfigIssue``s with the file, key path and a hint instead of raising.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from medallion_assets.config.models import PartitionsConfig, PlatformConfig, ScheduleConfig, SourceEntry
from medallion_assets.errors import ConfigIssue

__all__ = ["check_orchestration", "resolved_partitions", "resolved_schedule", "schedule_name"]

# (file label, index in that file's `sources:`, entry)
LocatedEntry = tuple[str, int, SourceEntry]


def resolved_partitions(entry: SourceEntry, platform: PlatformConfig) -> PartitionsConfig:
    """``platform.defaults.partitions`` with the source's own ``partitions:`` keys on top."""
    partitions = platform.defaults.partitions
    if entry.partitions is not None:
        partitions = partitions.model_copy(update=entry.partitions.model_dump(exclude_none=True))
    return partitions


def resolved_schedule(entry: SourceEntry, platform: PlatformConfig) -> ScheduleConfig | None:
    """The source's ``schedule:``, else ``platform.defaults.schedule``; None means no schedule."""
    return entry.schedule if entry.schedule is not None else platform.defaults.schedule


def schedule_name(source_name: str, group: str | None) -> str:
    """The schedule's name: ``<group>_group_schedule`` of a group, else ``<source>_schedule``."""
    return f"{group}_group_schedule" if group else f"{source_name}_schedule"


def check_orchestration(platform: PlatformConfig, entries: Sequence[LocatedEntry]) -> list[ConfigIssue]:
    issues = [issue for located in entries for issue in _check_sensor(platform, *located)]
    issues.extend(issue for located in entries for issue in _check_deadline(platform, *located))
    issues.extend(_check_schedule_groups(platform, entries))
    issues.extend(_check_schedule_names(platform, entries))
    return issues


def _check_schedule_names(platform: PlatformConfig, entries: Sequence[LocatedEntry]) -> list[ConfigIssue]:
    """A group's schedule and a source's own schedule of the same name would become one schedule."""
    owners: dict[str, tuple[LocatedEntry, str | None]] = {}
    issues = []
    for located in entries:
        label, index, entry = located
        schedule = resolved_schedule(entry, platform)
        if schedule is None:
            continue
        name = schedule_name(entry.source_name, schedule.group)
        if name not in owners:
            owners[name] = (located, schedule.group)
            continue
        (first_label, first_index, first_entry), first_group = owners[name]
        if first_group == schedule.group:
            continue  # members of one group share its schedule
        where = f"sources[{index}].schedule" + (".group" if schedule.group else "")
        issues.append(
            ConfigIssue(
                label,
                where,
                f"schedule '{name}' of source '{entry.source_name}' is also the schedule of source "
                f"'{first_entry.source_name}' ({first_label} sources[{first_index}]): "
                + ("its group's" if schedule.group else "its own")
                + " and "
                + ("a group's" if first_group else "a source's own")
                + " schedule cannot share a name",
                "rename the schedule group (or the source)",
            )
        )
    return issues


def _check_sensor(platform: PlatformConfig, label: str, index: int, entry: SourceEntry) -> list[ConfigIssue]:
    sensor = entry.sensor
    if sensor is None:
        return []
    where = f"sources[{index}].sensor.type"
    src = entry.source
    if sensor.type == "file_arrival" and src.type != "file":
        return [
            ConfigIssue(
                label,
                where,
                f"sensor type 'file_arrival' watches file.path, but source.type is '{src.type}'",
                "use 'db_watermark' for a db source, or remove the sensor",
            )
        ]
    if sensor.type != "db_watermark":
        return []
    if src.type != "db" or src.db is None:
        return [
            ConfigIssue(
                label,
                where,
                f"sensor type 'db_watermark' polls a database, but source.type is '{src.type}'",
                "use 'file_arrival' for a file source, or remove the sensor",
            )
        ]
    issues = []
    if src.db.incremental is None:
        issues.append(
            ConfigIssue(
                label,
                where,
                "sensor type 'db_watermark' polls MAX(cursor_column), but source.db.incremental is not set",
                "add source.db.incremental.cursor_column",
            )
        )
    if resolved_partitions(entry, platform).end_offset < 1:
        issues.append(
            ConfigIssue(
                label,
                where,
                "sensor type 'db_watermark' loads today's partition, which does not exist with "
                "partitions.end_offset 0",
                "set 'partitions: {end_offset: 1}' on this source",
            )
        )
    return issues


# Days a deadline is checked on: one in winter and one in summer time, so that a daylight saving shift
# between the deadline's and the partitions' timezones cannot hide an impossible deadline.
_SAMPLE_DAYS = (date(2025, 1, 15), date(2025, 7, 15))


def _check_deadline(
    platform: PlatformConfig, label: str, index: int, entry: SourceEntry
) -> list[ConfigIssue]:
    """A ``freshness.deadline`` that falls before its partition exists can never be met: no run commits
    partition D before the day D + 1 - ``end_offset`` starts in the partitions' timezone."""
    freshness = entry.freshness
    if freshness is None or freshness.deadline is None:
        return []
    partitions = resolved_partitions(entry, platform)
    hours, minutes = (int(part) for part in freshness.deadline.split(":"))
    deadline_zone = ZoneInfo(freshness.timezone or partitions.timezone)
    partition_zone = ZoneInfo(partitions.timezone)
    for day in _SAMPLE_DAYS:
        due = datetime.combine(
            day + timedelta(days=freshness.deadline_days), time(hours, minutes), deadline_zone
        )
        opens = day + timedelta(days=1 - min(partitions.end_offset, 1))
        exists = datetime.combine(opens, time(0, 0), partition_zone)
        if due <= exists:
            zone = freshness.timezone or partitions.timezone
            when = "D+1" if partitions.end_offset < 1 else "D"
            return [
                ConfigIssue(
                    label,
                    f"sources[{index}].freshness.deadline",
                    f"deadline '{freshness.deadline}' on day D+{freshness.deadline_days} ({zone}) comes "
                    f"before partition D exists (at the start of day {when} in {partitions.timezone}, "
                    f"partitions.end_offset {partitions.end_offset}): every day would be late",
                    "set a later deadline or more deadline_days, or partitions.end_offset: 1 to load each "
                    "day while it runs",
                )
            ]
    return []


def _check_schedule_groups(platform: PlatformConfig, entries: Sequence[LocatedEntry]) -> list[ConfigIssue]:
    """Sources of one schedule group run from one schedule: same tick, same partitions."""
    first: dict[str, tuple[LocatedEntry, tuple[object, ...]]] = {}
    issues = []
    for located in entries:
        label, index, entry = located
        schedule = resolved_schedule(entry, platform)
        if schedule is None or schedule.group is None:
            continue
        parts = resolved_partitions(entry, platform)
        shape = (schedule.cron, schedule.timezone, schedule.default_status, *parts.model_dump().values())
        if schedule.group not in first:
            first[schedule.group] = (located, shape)
            continue
        (first_label, first_index, first_entry), first_shape = first[schedule.group]
        if shape != first_shape:
            issues.append(
                ConfigIssue(
                    label,
                    f"sources[{index}].schedule.group",
                    f"source '{entry.source_name}' is in schedule group '{schedule.group}' with "
                    f"'{first_entry.source_name}' ({first_label} sources[{first_index}]) but their "
                    "schedule (cron, timezone, default_status) or partitions (start_date, timezone, "
                    "end_offset) differ",
                    "give every source of a group the same schedule and partitions, or another group",
                )
            )
    return issues
