"""``medallion status`` and ``medallion plan`` on a real lake written by ``medallion run``: what is due, what
is missing, and the smallest repair.

The CLI runs in this process (click's runner) on a persistent ``DAGSTER_HOME`` of the test, as a user's
shell would; each source is a one-row JSON-lines file per day, so a day's run is a fraction of a second.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from medallion_assets.cli import main

DAYS = [f"2025-01-0{i}" for i in range(1, 6)]


@dataclass
class Result:
    code: int
    out: str
    err: str


Cli = Callable[..., Result]


def source(name: str, model: str, **extra: Any) -> dict[str, Any]:
    silver: dict[str, Any] = {"model": model, "primary_keys": ["id"], "schema": {"types": {"ts": "datetime"}}}
    if model != "periodic_snapshot":
        silver["order_column"] = "ts"
    return {
        "name": name,
        "source": {
            "system": "t",
            "table": name,
            "type": "file",
            "file": {"path": "{data}/day_{run_date:%Y%m%d}.jsonl"},
            "run": {"load_pattern": "full"},
        },
        "silver": silver,
        **extra,
    }


SOURCES = [
    source("hist", "scd_type_2"),
    source("snap", "periodic_snapshot"),
    source("later", "scd_type_1", partitions={"start_date": "2999-01-01"}),
]


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """``cli("status", "hist")``: the command on a fresh lake and Dagster home of this test."""
    data = tmp_path / "data"
    data.mkdir()
    for day in DAYS:
        row = {"id": 1, "v": f"v{day}", "ts": f"{day}T10:00:00"}
        (data / f"day_{day.replace('-', '')}.jsonl").write_text(json.dumps(row) + "\n")
    config = tmp_path / "configs"
    (config / "sources").mkdir(parents=True)
    platform = {
        "config_version": 1,
        "platform": {
            "bronze": {"storage_backend": "local", "local_path": str(tmp_path / "lake" / "bronze")},
            "silver": {"storage_backend": "local", "local_path": str(tmp_path / "lake" / "silver")},
            "defaults": {"partitions": {"start_date": DAYS[0], "timezone": "UTC"}},
        },
    }
    (config / "platform.yaml").write_text(yaml.safe_dump(platform))
    sources = json.loads(json.dumps(SOURCES).replace("{data}", str(data)))
    (config / "sources" / "s.yaml").write_text(yaml.safe_dump({"config_version": 1, "sources": sources}))
    (tmp_path / "dagster_home").mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("MEDALLION_CONFIG_DIR", str(config))

    def run(*args: str) -> Result:
        result = CliRunner().invoke(main, list(args), catch_exceptions=False, standalone_mode=False)
        return Result(result.exit_code, result.stdout, result.stderr)

    return run


def ok(cli: Cli, *args: str) -> str:
    result = cli(*args)
    assert result.code == 0, result.out + result.err
    return result.out


def rows(out: str) -> dict[str, list[str]]:
    """``medallion status`` table rows by date: [bronze, silver, note words...]."""
    return {
        cells[0]: cells[1:]
        for cells in (line.split() for line in out.splitlines())
        if cells[:1] > [""] and cells[0][:2] in ("20", "29")
    }


def repair_of(out: str) -> list[str]:
    (line,) = [line for line in out.splitlines() if line.startswith("repair: medallion ")]
    return line.removeprefix("repair: medallion ").split()


# --- a source whose start date is ahead ---------------------------------------------------------------------


def test_status_of_a_source_that_has_not_started_says_when_it_starts(cli: Cli) -> None:
    result = cli("status", "later")
    assert result.code == 0, result.err
    assert "missing" not in result.out, result.out
    assert "later starts on 2999-01-01: no day is due yet" in result.out
    listed = json.loads(ok(cli, "status", "later", "--json"))
    assert listed["days"] == [] and listed["problems"] == 0 and listed["repair"] is None
    assert listed["start_date"] == "2999-01-01"


def test_plan_of_a_source_that_has_not_started_says_when_it_starts(cli: Cli) -> None:
    result = cli("plan", "later", "--date", "2999-01-01")
    assert result.code == 1
    assert "later: nothing to run, 2999-01-01 is not over yet: the source starts on 2999-01-01" in result.err
