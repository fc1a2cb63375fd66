"""Merge-on-read Silver (docs/architecture.md): a day written as a delta reads back as the whole state.

The same random scenarios as the chain properties (scd_type_2, cdc, and scd_type_1) run twice: through the
real pipeline on a real local lake (Bronze committed per day, Silver D from the committed Silver D-1 read by
key, written as references + deletes + changed keys, compacted at the threshold under test), and as the
plain fold of the model over the whole state in memory. Every day, every artifact read back through the one
read path must equal the fold's frame exactly (values, types and row order), the partition must verify,
and re-running a middle day must leave every later partition readable and verified.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medallion_assets.assets.silver import initial_state, silver_day
from medallion_assets.lake import Lake
from medallion_assets.silver import delta
from medallion_assets.silver.registry import create_silver_model
from medallion_resources.io_managers import BronzeInput, PartitionOutput
from medallion_resources.lake import touched
from medallion_resources.lake.parts import PartSettings
from medallion_resources.lake.read import read_artifact, scan_artifact, verify_partition

from .test_silver_chain_property import (
    START,
    Scenario,
    _bronze,
    _config,
    _run,
    arrivals,
    cdc_config,
    scenarios,
)

_PARTS = PartSettings(max_rows_per_file=3)  # several part files per artifact, so positions span files


def _lake(root: Path, s: Scenario) -> Lake:
    config = root / "configs"
    (config / "sources").mkdir(parents=True)
    platform = {
        "config_version": 1,
        "platform": {
            "bronze": {"storage_backend": "local", "local_path": str(root / "bronze")},
            "silver": {
                "storage_backend": "local",
                "local_path": str(root / "silver"),
                "output_defaults": {"max_rows_per_file": 3},
            },
            "defaults": {"partitions": {"start_date": START.isoformat(), "timezone": "UTC"}},
        },
    }
    silver = _config(s).model_dump(mode="json", exclude_none=True, by_alias=True)
    if s.model == "cdc":
        silver["cdc"] = cdc_config(s).model_dump(mode="json")
    silver["model"] = s.model
    silver["error_handling"] = {"max_bad_records": 1_000_000}  # null keys are quarantined, not fatal
    source = {
        "name": "t",
        "source": {
            "system": "s",
            "table": "t",
            "type": "file",
            "file": {"path": "/nonexistent/{run_date:%Y%m%d}.jsonl"},
            "run": {"load_pattern": s.pattern, **_deletes_allowed(s)},
        },
        "silver": {k: v for k, v in silver.items() if v not in ({}, [], None)},
    }
    (config / "platform.yaml").write_text(yaml.safe_dump(platform))
    (config / "sources" / "s.yaml").write_text(yaml.safe_dump({"config_version": 1, "sources": [source]}))
    return Lake.load(config)


def _land(lake: Lake, s: Scenario) -> None:
    spec = lake.spec("t")
    for number, rows in enumerate(s.days, start=1):
        frame = _bronze(s, number, rows)
        day = (START + timedelta(days=number - 1)).isoformat()
        output = PartitionOutput(
            artifacts={"data": [frame]},
            build_metadata=lambda w, n=frame.height: {"record_count": n},
            output=_PARTS,
        )
        lake.bronze.write_partition(spec.bronze_path, day, output, "test")


def _silver_days(lake: Lake, s: Scenario, first: int) -> None:
    """Silver of days ``first``.. (1-based), each from the committed day before it, as one-day runs do."""
    spec = lake.spec("t")
    model = create_silver_model(spec.model, spec.entry.silver)
    bronze = lake.bronze
    for number in range(first, len(s.days) + 1):
        day = START + timedelta(days=number - 1)
        previous = lake.committed(spec, "silver", day - timedelta(days=1))
        prior = initial_state(
            spec,
            model,
            BronzeInput(bronze, spec.bronze_path, day.isoformat()),
            previous,
            run_date=day,
            is_first_partition=number == 1,
        )
        assert number == 1 or prior.part is not None or prior.frames is not None
        current = lake.committed(spec, "bronze", day)
        assert current is not None
        result = silver_day(spec, model, prior, current, run_date=day, run_id="test")
        lake.silver.write_partition(spec.silver_path, day.isoformat(), result.output, "test")


def _compare(lake: Lake, s: Scenario, states: list[dict[str, pl.DataFrame]]) -> None:
    spec = lake.spec("t")
    for number, want in enumerate(states, start=1):
        part = lake.committed(spec, "silver", START + timedelta(days=number - 1))
        assert part is not None
        assert part.manifest.manifest_version == 2
        assert verify_partition(part) == []
        for name, frame in want.items():
            got = read_artifact(part, name)
            lazy = scan_artifact(part, name).collect()  # the lazy read path downstream readers use
            assert lazy.equals(got), (number, name, lazy, got)
            if not frame.height:
                assert got.height == 0, name
                continue
            assert got.equals(frame.select(got.columns)) and set(got.columns) == set(frame.columns), (
                number,
                name,
                got,
                frame,
            )


def _valid(s: Scenario) -> Scenario:
    """The scenario as config validation accepts it (the model tests call the models directly)."""
    if s.pattern == "incremental":
        s.delete_mode = "ignore"  # deletes need a full or cdc load
    if s.model == "cdc" and not s.keep_history:
        s.tracked = None  # scd2.track_columns needs history
    return s


def _check(tmp_path: Path, s: Scenario, threshold: tuple[float, int]) -> None:
    s = _valid(s)
    states = _run(s)[0]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(delta, "COMPACT_DEAD_RATIO", threshold[0])
        patch.setattr(delta, "COMPACT_MAX_FILES", threshold[1])
        lake = _lake(tmp_path, s)
        _land(lake, s)
        _silver_days(lake, s, 1)
        _compare(lake, s, states)
        middle = len(s.days) // 2
        if middle:
            _silver_days(lake, s, middle)  # re-run the middle day and the days after it
            _compare(lake, s, states)
            _silver_days(lake, s, middle + 1 if middle + 1 <= len(s.days) else middle)
            _compare(lake, s, states)


# (dead-row ratio, extra files) at which an artifact is folded: compact every day .. never, by either rule
NEVER = 10**9
RATIOS = st.sampled_from(
    [(0.0, NEVER), (0.5, NEVER), (1.0, NEVER), (1e9, NEVER), (1e9, 0), (1e9, 2), (1e9, 5)]
)
HEALTH = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]


@settings(max_examples=15, deadline=None, suppress_health_check=HEALTH)
@given(scenario=scenarios("scd_type_2"), ratio=RATIOS)
def test_scd2_delta_days_read_as_the_whole_state(
    tmp_path_factory: Any, scenario: Scenario, ratio: tuple[float, int]
) -> None:
    _check(tmp_path_factory.mktemp("lake"), scenario, ratio)


@settings(max_examples=12, deadline=None, suppress_health_check=HEALTH)
@given(scenario=arrivals("scd_type_2"), ratio=RATIOS)
def test_scd2_late_rows_delta_days(
    tmp_path_factory: Any, scenario: Scenario, ratio: tuple[float, int]
) -> None:
    _check(tmp_path_factory.mktemp("lake"), scenario, ratio)


@settings(max_examples=15, deadline=None, suppress_health_check=HEALTH)
@given(scenario=scenarios("cdc"), ratio=RATIOS)
def test_cdc_delta_days_read_as_the_whole_state(
    tmp_path_factory: Any, scenario: Scenario, ratio: tuple[float, int]
) -> None:
    _check(tmp_path_factory.mktemp("lake"), scenario, ratio)


@settings(max_examples=15, deadline=None, suppress_health_check=HEALTH)
@given(scenario=scenarios("scd_type_2"), ratio=RATIOS)
def test_scd1_delta_days_read_as_the_whole_state(
    tmp_path_factory: Any, scenario: Scenario, ratio: tuple[float, int]
) -> None:
    scenario.model = "scd_type_1"
    scenario.tracked = None
    _check(tmp_path_factory.mktemp("lake"), scenario, ratio)


def incremental(model: str, days: list[list[dict[str, Any]]]) -> Scenario:
    """A hand-written scenario: one key column, an incremental load, no deletes, every column tracked."""
    return Scenario(
        model=model,
        compound=False,
        temporal=False,
        pattern="incremental",
        delete_mode="ignore",
        tracked=None,
        keep_history=False,
        days=days,
    )


def test_prior_is_read_by_key(tmp_path: Path) -> None:
    """A keyed model's Silver D-1 is handed over unread: the day reads only the keys it touches."""
    s = incremental(
        "scd_type_2",
        [
            [{"k1": i, "k2": "a", "ts": 1, "v": "x", "w": 0} for i in range(4)],
            [{"k1": 1, "k2": "a", "ts": 2, "v": "y", "w": 0}],
            [{"k1": 1, "k2": "a", "ts": 3, "v": "z", "w": 0}],
        ],
    )
    lake = _lake(tmp_path, s)
    _land(lake, s)
    _silver_days(lake, s, 1)
    spec = lake.spec("t")
    day2 = lake.committed(spec, "silver", START + timedelta(days=1))
    assert day2 is not None
    own = [f for f in day2.manifest.files if f.path.startswith(f"load_date={START + timedelta(days=1)}/")]
    carried = [f for f in day2.manifest.files if f not in own]
    # Day 1's files are listed by reference; day 2 wrote one key's rows (history, current) and deletes.
    assert carried and all(f.path.startswith(f"load_date={START}/") for f in carried)
    assert sorted((f.artifact, f.kind, f.row_count) for f in own) == [
        ("current", "data", 1),
        ("current", "deletes", 1),
        ("history", "data", 2),
        ("history", "deletes", 1),
    ]
    # Day 3 appends to key 1's chain: only the re-closed version and the new one are written; the first
    # version stays in day 1's file, and the chain still reads back in order.
    day3 = lake.committed(spec, "silver", START + timedelta(days=2))
    assert day3 is not None
    own3 = [f for f in day3.manifest.files if f.path.startswith(f"load_date={START + timedelta(days=2)}/")]
    assert sorted((f.artifact, f.kind, f.row_count) for f in own3 if f.artifact == "history") == [
        ("history", "data", 2),
        ("history", "deletes", 1),
    ]
    chain = read_artifact(day3, "history").filter(pl.col("k1") == 1)
    assert chain.get_column("v").to_list() == ["x", "y", "z"]
    assert chain.get_column("effective_to").to_list() == [2, 3, None]


def _cdc_op(k: int, ts: int, v: str | None, op: str) -> dict[str, Any]:
    return {"k1": k, "k2": "a", "ts": ts, "v": v, "w": 0, "op": op}


def _cdc(days: list[list[dict[str, Any]]]) -> Scenario:
    """A hand-written cdc scenario without history (its state is ``chain_last`` + ``chain_rest``)."""
    return replace(incremental("cdc", days), pattern="cdc", delete_mode="tombstone")


def _own(lake: Lake, number: int) -> list[tuple[str, str, int]]:
    """The files Silver day ``number`` wrote itself (artifact, kind, rows), its errors aside."""
    day = START + timedelta(days=number - 1)
    part = lake.committed(lake.spec("t"), "silver", day)
    assert part is not None
    own = [f for f in part.manifest.files if f.path.startswith(f"load_date={day}/")]
    return sorted((f.artifact, f.kind, f.row_count) for f in own)


def test_cdc_reads_the_earlier_rows_of_a_chain_only_for_a_late_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An in-order cdc day reads one row per touched key (``chain_last``) and none of ``chain_rest``: the
    version it closes is appended there. A day with a late op reads that key's whole chain, and the
    chain comes out exactly as if every op had arrived in order."""
    s = _cdc(
        [
            [_cdc_op(k, 1, "x", "I") for k in range(4)],
            [_cdc_op(1, 5, "y", "U")],  # in order
            [_cdc_op(1, 9, "z", "U"), _cdc_op(2, 2, None, "D")],  # in order
            [_cdc_op(1, 3, "late", "U"), _cdc_op(3, 7, "w", "U")],  # key 1 late (3 < 9), key 3 in order
            [_cdc_op(2, 2, "back", "U")],  # ties with key 2's delete: a correction, the delete never was
        ]
    )
    lake = _lake(tmp_path, s)
    _land(lake, s)
    read: list[str] = []
    real = touched.read_verified

    def spy(part: Any, file: Any) -> bytes:
        read.append(file.artifact)
        return real(part, file)

    monkeypatch.setattr(touched, "read_verified", spy)
    reads = []
    for number in range(1, len(s.days) + 1):
        read.clear()
        _silver_days(lake, Scenario(**{**s.__dict__, "days": s.days[:number]}), number)
        reads.append(set(read))
    _compare(lake, s, _run(s)[0])
    assert [("chain_rest" in r, "chain_last" in r) for r in reads] == [
        (False, False),  # day 1: no D-1
        (False, True),
        (False, True),
        (True, True),  # key 1's late op
        (True, True),  # key 2's tie with its last observation
    ]
    # Day 2 closed key 1's first version: it moved to chain_rest; chain_last holds the new one.
    assert _own(lake, 2) == [
        ("chain_last", "data", 1),
        ("chain_last", "deletes", 1),
        ("chain_rest", "data", 1),
        ("current", "data", 1),
        ("current", "deletes", 1),
    ]
    part = lake.committed(lake.spec("t"), "silver", START + timedelta(days=len(s.days) - 1))
    assert part is not None
    rest, last = (read_artifact(part, a).filter(pl.col("k1") == 1) for a in ("chain_rest", "chain_last"))
    chain = pl.concat([rest, last]).select("v", "effective_from", "effective_to")
    assert chain.rows() == [("x", 1, 3), ("late", 3, 5), ("y", 5, 9), ("z", 9, None)]
    assert read_artifact(part, "current").sort("k1").select("k1", "v", "_deleted").rows() == [
        (0, "x", False),
        (1, "z", False),
        (2, "back", False),
        (3, "w", False),
    ]


def test_a_cdc_state_of_the_earlier_layout_is_split_once(tmp_path: Path) -> None:
    """A Silver D-1 written before ``chain_tail`` was split (every key's whole chain in one artifact) is
    read whole by the next day, which writes ``chain_last`` and ``chain_rest``; the day after reads by
    key again. Every artifact equals the fold's."""
    s = _cdc(
        [
            [
                _cdc_op(1, 1, "a", "I"),
                _cdc_op(1, 4, "b", "U"),
                _cdc_op(2, 1, "p", "I"),
                _cdc_op(3, 2, None, "D"),
            ],
            [_cdc_op(1, 2, "late", "U"), _cdc_op(2, 6, "q", "U")],
            [_cdc_op(2, 8, "r", "U")],
        ]
    )
    lake = _lake(tmp_path, s)
    _land(lake, s)
    states = _run(s)[0]
    spec = lake.spec("t")
    first = states[0]
    tail = pl.concat([first["chain_rest"], first["chain_last"]]).sort("k1", maintain_order=True)
    legacy = {"current": first["current"], "chain_tail": tail, "absorbed": first["absorbed"]}
    assert first["absorbed"].height == 1  # key 3's delete, which closed nothing
    output = PartitionOutput(
        artifacts={a: [f] for a, f in legacy.items()},
        build_metadata=lambda w: {"run_date": START.isoformat()},
        output=_PARTS,
        shared=True,
        keyed={a: ("k1",) for a in legacy},
    )
    lake.silver.write_partition(spec.silver_path, START.isoformat(), output, "test")
    model = create_silver_model(spec.model, spec.entry.silver)
    previous = lake.committed(spec, "silver", START)
    bronze = BronzeInput(lake.bronze, spec.bronze_path, (START + timedelta(days=1)).isoformat())
    prior = initial_state(
        spec, model, bronze, previous, run_date=START + timedelta(days=1), is_first_partition=False
    )
    assert prior.part is None and prior.frames is not None and "chain_tail" in prior.frames
    _silver_days(lake, s, 2)
    for number in (2, 3):
        part = lake.committed(spec, "silver", START + timedelta(days=number - 1))
        assert part is not None and verify_partition(part) == []
        assert set(part.manifest.artifacts()) == {"current", "chain_last", "chain_rest", "absorbed"}
        for name, want in states[number - 1].items():
            got = read_artifact(part, name)
            assert got.equals(want.select(got.columns)), (number, name, got, want)
    day2 = lake.committed(spec, "silver", START + timedelta(days=1))
    assert day2 is not None
    assert all(f.path.startswith(f"load_date={START + timedelta(days=1)}/") for f in day2.manifest.files)
    prior3 = initial_state(
        spec,
        model,
        BronzeInput(lake.bronze, spec.bronze_path, (START + timedelta(days=2)).isoformat()),
        day2,
        run_date=START + timedelta(days=2),
        is_first_partition=False,
    )
    assert prior3.part is not None  # read by key again


def test_a_current_written_with_closed_by_delete_loses_the_column_once(tmp_path: Path) -> None:
    """``current`` of an older Silver carries ``_closed_by_delete`` (always false: only closed versions
    have it true). It still reads, and the next day writes ``current`` whole without it (carried by
    reference, the old files kept the column for good, null in the rows written since)."""
    s = replace(
        _cdc(
            [
                [_cdc_op(1, 1, "a", "I"), _cdc_op(2, 1, "p", "I"), _cdc_op(2, 2, None, "D")],
                [_cdc_op(1, 3, "b", "U")],
                [_cdc_op(3, 4, "q", "I")],
            ]
        ),
        delete_mode="hard_delete",
    )
    lake = _lake(tmp_path, s)
    _land(lake, s)
    first = _run(s)[0][0]
    spec = lake.spec("t")
    legacy = {**first, "current": first["current"].with_columns(pl.lit(False).alias("_closed_by_delete"))}
    output = PartitionOutput(
        artifacts={a: [f] for a, f in legacy.items()},
        build_metadata=lambda w: {"run_date": START.isoformat()},
        output=_PARTS,
        shared=True,
        keyed={a: ("k1",) for a in legacy},
    )
    lake.silver.write_partition(spec.silver_path, START.isoformat(), output, "test")
    _silver_days(lake, s, 2)
    old = lake.committed(spec, "silver", START)
    assert old is not None
    assert read_artifact(old, "current").select("k1", "v", "_closed_by_delete").rows() == [(1, "a", False)]
    for number, want in ((2, [(1, "b")]), (3, [(1, "b"), (3, "q")])):
        part = lake.committed(spec, "silver", START + timedelta(days=number - 1))
        assert part is not None and verify_partition(part) == []
        current = read_artifact(part, "current")
        assert "_closed_by_delete" not in current.columns, number
        assert current.select("k1", "v").rows() == want


def test_a_history_compacted_over_files_of_two_schemas_reads_in_chain_order(tmp_path: Path) -> None:
    """``x`` comes on days 3 to 5 only, so day 6's compaction of ``history`` streams D-1's files of two
    schemas (parts of 3 rows): a part joining both was encoded on the writer's pool, the next one inline,
    and the manifest listed the later part first. Key 1's versions then read out of chain order (its open
    version first), and the next day's chain engine takes a key's rows in read order."""
    s = incremental("scd_type_2", [[]] * 6)
    lake = _lake(tmp_path, s)
    spec = lake.spec("t")
    days = [  # (k1, v, w, ts, x); "-": the day has no column x
        [(4, "b", 2, 5, "-"), (2, "a", 1, 4, "-"), (5, "b", 1, 2, "-"), (5, "c", 2, 7, "-")],
        [(0, "a", 1, 5, "-"), (0, "a", 2, 7, "-"), (3, "c", 2, 8, "-"), (1, "b", 1, 6, "-")],
        [(2, "c", 2, 7, "p"), (2, "a", 2, 4, "p")],
        [(0, "a", 2, 4, None), (4, "a", 2, 4, None), (2, "b", 1, 7, "q")],
        [
            (5, "a", 2, 8, None),
            (5, "a", 1, 7, None),
            (0, "a", 2, 7, None),
            (3, "a", 1, 5, "p"),
            (1, "a", 2, 3, "p"),
        ],
        [
            (3, "c", 1, 4, "-"),
            (4, "a", 2, 1, "-"),
            (0, "b", 1, 3, "-"),
            (2, "c", 2, 4, "-"),
            (1, "a", 2, 6, "-"),
        ],
    ]
    for number, rows in enumerate(days, start=1):
        day = START + timedelta(days=number - 1)
        frame = pl.DataFrame(
            [{"k1": k, "k2": "a", "ts": ts, "v": v, "w": w, "x": x} for k, v, w, ts, x in rows],
            schema={
                "k1": pl.Int64,
                "k2": pl.String,
                "ts": pl.Int64,
                "v": pl.String,
                "w": pl.Int64,
                "x": pl.String,
            },
        )
        if rows[0][4] == "-":
            frame = frame.drop("x")
        out = PartitionOutput(
            artifacts={"data": [frame.with_columns(pl.lit(day).alias("_load_date"))]},
            build_metadata=lambda w, n=frame.height: {"record_count": n},
            output=_PARTS,
        )
        lake.bronze.write_partition(spec.bronze_path, day.isoformat(), out, "test")
    _silver_days(lake, s, 1)
    part = lake.committed(spec, "silver", START + timedelta(days=5))
    assert part is not None
    history = read_artifact(part, "history").filter(pl.col("k1") == 1)
    # Day 2: b@6; day 5: a@3 (late, x p) before it; day 6: a@6 (no x) ties with b@6 and corrects it.
    assert history.select("v", "x", "effective_from", "effective_to").rows() == [
        ("a", "p", 3, 6),
        ("a", None, 6, None),
    ]


def test_files_per_partition_stay_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Days that change a few rows each still fold their artifact once its files pile up, so a day's
    manifest, and what the next day reads, stays bounded whatever the lake's age (dead rows alone never
    pass live rows here: before the file bound, a year of such days listed ~700 files in every manifest).
    The bound is lowered so that 24 days pass it."""
    monkeypatch.setattr(delta, "COMPACT_MAX_FILES", 8)
    days = [[{"k1": i, "k2": "a", "ts": 1, "v": "x", "w": 0} for i in range(4)]]
    for n in range(1, 24):
        days.append(
            [
                {"k1": n % 4, "k2": "a", "ts": n + 1, "v": f"u{n}", "w": 0},  # an update
                {"k1": 100 + n, "k2": "a", "ts": n + 1, "v": "new", "w": 0},  # a new key
            ]
        )
    s = incremental("scd_type_1", days)
    lake = _lake(tmp_path, s)
    _land(lake, s)
    _silver_days(lake, s, 1)
    _compare(lake, s, _run(s)[0])
    spec = lake.spec("t")
    counts, folded = [], []
    for number in range(1, len(days) + 1):
        day = START + timedelta(days=number - 1)
        part = lake.committed(spec, "silver", day)
        assert part is not None
        files = part.manifest.files
        counts.append(len(files))
        if number > 1 and all(f.path.startswith(f"load_date={day}/") for f in files):
            folded.append(number)
        stored = sum(f.row_count for f in part.manifest.data_files("current"))
        assert len(files) <= delta.COMPACT_MAX_FILES + -(-stored // 3), (number, len(files), stored)
    assert folded, f"no day folded its files: {counts}"
    assert counts[-1] < counts[folded[0] - 2], counts  # the fold started a new, short list


def _diff(deleted: int, written: int) -> delta.KeyDiff:
    return delta.KeyDiff(
        pl.DataFrame({"path": ["x"] * deleted, "pos": list(range(deleted))}),
        pl.DataFrame({"id": list(range(written))}),
        written,
    )


def test_the_file_bound_counts_small_files_only() -> None:
    """Full parts are not what the file bound is for: a table of 500 full parts whose days each rewrite
    50 full parts' worth of rows is folded by its dead rows, never by its file count; days of a few rows
    are folded once their small files pass the bound."""
    per_file, files, stored, dead = 1000, 500, 500_000, 0
    folds_by_files = 0
    for _ in range(12):
        day = _diff(deleted=50_000, written=50_000)
        fold = delta.needs_compaction(files, stored, dead, day, per_file)
        dead_rule = dead + 50_000 > delta.COMPACT_DEAD_RATIO * (stored + 50_000 - dead - 50_000)
        folds_by_files += fold and not dead_rule
        if fold:
            files, stored, dead = 500, 500_000, 0
        else:
            files, stored, dead = files + 51, stored + 50_000, dead + 50_000
    assert folds_by_files == 0
    files, stored, dead, days = 1, 1_000, 0, 0
    while not delta.needs_compaction(files, stored, dead, _diff(deleted=1, written=2), per_file):
        files, stored, dead, days = files + 2, stored + 2, dead + 1, days + 1
    assert files + 2 > delta.COMPACT_MAX_FILES + 1 and days < delta.COMPACT_MAX_FILES


def _deletes_allowed(s: Scenario) -> dict[str, float]:
    """Random days may delete any share of the keys: the run.max_delete_fraction guard is off here."""
    return {"max_delete_fraction": 1.0} if s.pattern == "full" and s.delete_mode != "ignore" else {}
