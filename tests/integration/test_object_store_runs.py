"""``medallion run`` on S3 (moto) and Azure (Azurite), killed, raced, refused: what the lake holds after.

Every run is a real ``medallion`` subprocess against the real servers of ``tests/object_stores.py``. A run is
stopped at a chosen storage call by ``tests/fixtures/storage_hook`` (SIGKILL of its process group, or a
pause); the lake is read back with ``medallion_assets.read`` and ``medallion verify``. Expected rows are
written out by hand below.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

import medallion_assets
from medallion_assets.lake import Lake
from medallion_resources.lake.read import verify_partition

pytestmark = [pytest.mark.slow, pytest.mark.services]
REPO = Path(__file__).resolve().parents[2]
HOOK = REPO / "tests" / "fixtures" / "storage_hook"
MEDALLION = str(Path(sys.executable).parent / "medallion")
D1, D2, D3 = "2025-01-01", "2025-01-02", "2025-01-03"

# The rows of the orders file of each day; D2 has a first version and the one a re-run reads.
DAY1 = [{"id": 1, "v": "a1"}, {"id": 2, "v": "b1"}]
DAY2_FIRST = [{"id": 3, "v": "c1"}, {"id": 4, "v": "d1"}, {"id": 5, "v": "e1"}]
DAY2_RERUN = [
    {"id": 2, "v": "b2"},
    {"id": 6, "v": "f2"},
    {"id": 7, "v": "g2"},
    {"id": 8, "v": "h2"},
    {"id": 9, "v": "i2"},
]
# Silver (scd_type_1 over an incremental feed): the latest row of every id seen up to the day.
SILVER1 = [(1, "a1"), (2, "b1")]
SILVER2_FIRST = [(1, "a1"), (2, "b1"), (3, "c1"), (4, "d1"), (5, "e1")]
SILVER2_RERUN = [(1, "a1"), (2, "b2"), (6, "f2"), (7, "g2"), (8, "h2"), (9, "i2")]

SOURCE = {
    "name": "orders",
    "source": {
        "system": "shop",
        "table": "orders",
        "type": "file",
        "file": {"path": "${ORDERS_DIR}/orders_{run_date:%Y%m%d}.jsonl"},
        "run": {"load_pattern": "incremental"},
    },
    "silver": {"domain": "shop", "entity": "orders", "model": "scd_type_1", "primary_keys": ["id"]},
}


def write_rows(folder: Path, day: str, rows: list[dict[str, Any]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"orders_{day.replace('-', '')}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


class Project:
    """A config folder whose lake lives on one object store, the env of its CLI runs, and its orders files."""

    def __init__(self, root: Path, layer: dict[str, Any], env: dict[str, str], prefix: str = "lake") -> None:
        self.root = root
        self.config = root / "configs"
        self.orders = root / "orders"
        (self.config / "sources").mkdir(parents=True)
        prefix_key = "s3_prefix" if layer["storage_backend"] == "s3" else "azure_prefix"
        from object_stores import S3Endpoint

        platform = {
            "bronze": {**layer, prefix_key: f"{prefix}/bronze", "output_defaults": {"max_rows_per_file": 2}},
            "silver": {**layer, prefix_key: f"{prefix}/silver", "output_defaults": {"max_rows_per_file": 2}},
            "s3_connection": S3Endpoint.connection_config(),
            "azure_connection": {"connection_string_env": "AZURE_STORAGE_CONNECTION_STRING"},
            "defaults": {"partitions": {"start_date": D1, "timezone": "UTC"}},
        }
        (self.config / "platform.yaml").write_text(
            yaml.safe_dump({"config_version": 1, "platform": platform})
        )
        (self.config / "sources" / "orders.yaml").write_text(
            yaml.safe_dump({"config_version": 1, "sources": [SOURCE]})
        )
        (root / "home").mkdir()
        path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
        self.env = {
            **os.environ,
            **env,
            "PYTHONPATH": path,
            "MEDALLION_CONFIG_DIR": str(self.config),
            "DAGSTER_HOME": str(root / "home"),
            "ORDERS_DIR": str(self.orders),
        }

    def start(
        self,
        *args: str,
        hook: str | None = None,
        env: dict[str, str] | None = None,
        program: str = MEDALLION,
    ) -> subprocess.Popen[str]:
        """Start the CLI (or ``program``); with ``hook`` (``MEDALLION_TEST_STORAGE_HOOK``) in its own
        process group."""
        run_env = {**self.env, **(env or {})}
        if hook:
            run_env["MEDALLION_TEST_STORAGE_HOOK"] = hook
            run_env["PYTHONPATH"] = os.pathsep.join((str(HOOK), run_env["PYTHONPATH"]))
        return subprocess.Popen(
            [program, *args],
            env=run_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=hook is not None,
        )

    def medallion(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return finish(self.start(*args, **kwargs))

    def run(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return self.medallion(*self.run_args(*args), **kwargs)

    @staticmethod
    def run_args(*args: str) -> tuple[str, ...]:
        return ("run", *args, "--select", "orders")

    def read(self, layer: str, day: str) -> list[tuple[int, str]]:
        """The committed rows of ``layer`` as of ``day``, read in a fresh process's way (new backends)."""
        frame = medallion_assets.read("orders", layer=layer, as_of=day, config_dir=self.config).collect()
        return sorted(frame.select("id", "v").iter_rows())

    def lake(self) -> Lake:
        return Lake.load(self.config)

    def assert_clean(self, layer: str, day: str) -> None:
        """The partition verifies and its folder holds its listed files, the manifest and the metadata, and
        besides them only files another committed day lists (Silver days share files): no part file of a
        killed or replaced attempt, no staged metadata."""
        lake = self.lake()
        spec = lake.spec("orders")
        part = lake.committed(spec, layer, date.fromisoformat(day))
        assert part is not None, (layer, day)
        assert verify_partition(part) == []
        own = {part.relpath(f) for f in part.manifest.files if part.relpath(f).startswith(part.prefix + "/")}
        others = {
            other.relpath(f)
            for other_day in (D1, D2, D3)
            if other_day != day and (other := lake.committed(spec, layer, date.fromisoformat(other_day)))
            for f in other.manifest.files
        }
        found = set(part.backend.list_files(part.prefix))
        commit = {f"{part.prefix}/_checksums.json", f"{part.prefix}/_metadata.json"}
        assert own | commit <= found
        assert found - own - commit <= others, found - own - commit


def finish(process: subprocess.Popen[str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    try:
        out, err = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def rows(records: list[dict[str, Any]]) -> list[tuple[int, str]]:
    return sorted((r["id"], r["v"]) for r in records)


@pytest.fixture
def s3_project(s3_endpoint, tmp_path: Path) -> Project:
    bucket = s3_endpoint.create_bucket()
    return Project(tmp_path, {"storage_backend": "s3", "s3_bucket": bucket}, s3_endpoint.env())


@pytest.fixture
def azure_project(azurite_endpoint, tmp_path: Path) -> Project:
    container = azurite_endpoint.create_container()
    return Project(
        tmp_path, {"storage_backend": "azure", "azure_container": container}, azurite_endpoint.env()
    )


def committed_first_version(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """D1 and the first version of D2 committed in both layers; the orders file of D2 then changes."""
    for name, value in project.env.items():
        if name.startswith(("AWS_", "MEDALLION_S3", "AZURE_", "ORDERS_DIR")):
            monkeypatch.setenv(name, value)
    write_rows(project.orders, D1, DAY1)
    write_rows(project.orders, D2, DAY2_FIRST)
    first = project.run("--date", D1, "--end-date", D2)
    assert first.returncode == 0, first.stdout + first.stderr
    assert project.read("bronze", D2) == rows(DAY2_FIRST)
    assert project.read("silver", D2) == SILVER2_FIRST
    write_rows(project.orders, D2, DAY2_RERUN)


# (store, layer the run is killed in, operation, its n-th call, before/after it took effect, what the layers
# hold until the next run: True where the killed run's commit stands)
# Each moment of a commit once, on one store or the other (the suite's time: each case is ~18 s of runs).
KILLS = [
    ("s3", "bronze", "put_file", 2, "after", (False, False)),  # between two part files
    ("s3", "bronze", "put_bytes_if", 1, "before", (False, False)),  # every part written, no manifest yet
    ("s3", "bronze", "put_bytes_if", 1, "after", (True, False)),  # the manifest landed, no _metadata.json
    ("s3", "bronze", "delete", 1, "before", (True, False)),  # committed, the old files not yet removed
    ("s3", "silver", "put_bytes_if", 1, "before", (True, False)),
    ("s3", "silver", "put_bytes_if", 1, "after", (True, True)),
    ("azure", "bronze", "put_file", 2, "after", (False, False)),
    ("azure", "silver", "put_bytes_if", 1, "after", (True, True)),
]


@pytest.mark.parametrize(("store", "layer", "operation", "nth", "when", "stands"), KILLS)
def test_a_killed_run_leaves_a_whole_commit_and_the_next_run_commits_exactly_its_rows(
    store: str,
    layer: str,
    operation: str,
    nth: int,
    when: str,
    stands: tuple[bool, bool],
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project: Project = request.getfixturevalue(f"{store}_project")
    committed_first_version(project, monkeypatch)
    folder = f"dt={D2}" if layer == "bronze" else f"load_date={D2}"
    killed = project.run("--date", D2, hook=f"{operation}|{folder}/|{nth}|{when}|kill")
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr

    # Readers see one whole commit of D2: the one before the killed run, or the killed run's own once its
    # manifest landed (its _metadata.json may not have: readers roll forward to the staged copy).
    bronze_stands, silver_stands = stands
    assert project.read("bronze", D2) == rows(DAY2_RERUN if bronze_stands else DAY2_FIRST)
    assert project.read("silver", D2) == (SILVER2_RERUN if silver_stands else SILVER2_FIRST)
    for checked_layer in ("bronze", "silver"):
        verify = project.medallion("verify", "orders", "--date", D2, "--layer", checked_layer)
        assert verify.returncode == 0, verify.stdout + verify.stderr

    again = project.run("--date", D2)
    assert again.returncode == 0, again.stdout + again.stderr
    assert project.read("bronze", D2) == rows(DAY2_RERUN)
    assert project.read("silver", D2) == SILVER2_RERUN
    assert project.read("silver", D1) == SILVER1
    project.assert_clean("bronze", D2)
    project.assert_clean("silver", D2)


WRONG_SECRET = "Wr0ngSecretValue/abcdefghijklmnopqrstuvwxyz0123456789AB=="  # base64, as an Azure key is


@pytest.mark.parametrize("store", ["s3", "azure"])
def test_a_refused_key_is_an_error_naming_the_store_and_the_setting_never_the_secret(
    store: str, s3_auth_endpoint, azurite_endpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """S3 answers a wrong secret with 403 SignatureDoesNotMatch, Azure with 403 AuthorizationFailure. The
    S3 error said ``PermissionError: Forbidden`` (or the service's sentence) and named no setting to fix."""
    if store == "s3":
        endpoint = s3_auth_endpoint.endpoint
        layer = {"storage_backend": "s3", "s3_bucket": s3_auth_endpoint.bucket}
        good, secret = endpoint.env(), endpoint.secret
        wrong = {**good, "AWS_SECRET_ACCESS_KEY": WRONG_SECRET}
        where, setting, code = (
            f"s3://{s3_auth_endpoint.bucket}/lake/",
            "s3_connection",
            "SignatureDoesNotMatch",
        )
    else:
        container = azurite_endpoint.create_container()
        layer = {"storage_backend": "azure", "azure_container": container}
        good = azurite_endpoint.env()
        secret = good["AZURE_STORAGE_CONNECTION_STRING"].split("AccountKey=")[1].split(";")[0]
        wrong = {
            "AZURE_STORAGE_CONNECTION_STRING": good["AZURE_STORAGE_CONNECTION_STRING"].replace(
                secret, WRONG_SECRET
            )
        }
        where, setting, code = f"abfs://{container}/lake/", "azure_connection", "AuthorizationFailure"
    project = Project(tmp_path, layer, good)
    write_rows(project.orders, D1, DAY1)
    committed = project.run("--date", D1)
    assert committed.returncode == 0, committed.stdout + committed.stderr

    outputs = []
    for args in (("check",), ("run", "--date", D1, "--select", "orders"), ("verify", "orders", "--date", D1)):
        result = project.medallion(*args, env=wrong)
        output = result.stdout + result.stderr
        outputs.append(output)
        assert result.returncode == 1, output
        assert where in output and "HTTP 403" in output, output
        assert code in output or args[0] != "check", output  # a HEAD's 403 has no body, so no code
        assert f"check the credentials of {setting}" in output, output
        assert "Traceback" not in output, output

    for name, value in {
        **wrong,
        "MEDALLION_CONFIG_DIR": str(project.config),
        "ORDERS_DIR": str(project.orders),
    }.items():
        monkeypatch.setenv(name, value)
    from medallion_resources.errors import StorageError

    with pytest.raises(
        StorageError, match=rf"{where}.*HTTP 403.*check the credentials of {setting}"
    ) as raised:
        medallion_assets.read("orders", layer="bronze")
    outputs.append(str(raised.value))

    # Neither secret anywhere: messages, the Dagster home (event logs, run records), the lake's metadata.
    stored = [p.read_bytes() for p in (tmp_path / "home").rglob("*") if p.is_file()]
    for name, value in good.items():
        monkeypatch.setenv(name, value)
    lake = project.lake()
    part = lake.committed(lake.spec("orders"), "bronze", date.fromisoformat(D1))
    assert part is not None
    stored.append(part.backend.read_bytes(f"{part.prefix}/_metadata.json"))
    for text in [*outputs, *(b.decode("utf-8", "replace") for b in stored)]:
        assert WRONG_SECRET not in text and secret not in text


RUN_A = [{"id": 10, "v": "A"}, {"id": 11, "v": "A"}, {"id": 12, "v": "A"}]
RUN_B = [{"id": 20, "v": "B"}, {"id": 21, "v": "B"}, {"id": 22, "v": "B"}, {"id": 23, "v": "B"}]


@pytest.mark.parametrize("store", ["s3", "azure"])
@pytest.mark.parametrize("paused", ["older", "newer"])
def test_two_runs_of_one_partition_at_once_end_with_one_whole_commit(
    store: str, paused: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two deployments (two Dagster homes, no shared lock) run D2 at once, reading different files. One run
    pauses with its parts written and its manifest not yet put, while the other runs whole: the older one
    (its attempt id is older) or the newer one. The lake ends with the rows of one run, never a mix, and
    holds no file of the other."""
    project: Project = request.getfixturevalue(f"{store}_project")
    committed_first_version(project, monkeypatch)
    for name, records in (("a", RUN_A), ("b", RUN_B)):
        write_rows(project.root / name, D2, records)
        (project.root / f"home-{name}").mkdir()

    def env_of(name: str, **extra: str) -> dict[str, str]:
        home = str(project.root / f"home-{name}")
        return {"ORDERS_DIR": str(project.root / name), "DAGSTER_HOME": home, **extra}

    marks = {name: project.root / f"at-hook-{name}" for name in ("a", "b")}
    go = project.root / "go"
    pause = f"put_bytes_if|dt={D2}/_checksums.json|1|before|wait:{go}"

    def start(name: str, hook: str | None) -> subprocess.Popen[str]:
        extra = {"MEDALLION_TEST_STORAGE_HOOK_MARK": str(marks[name])} if hook else {}
        return project.start(*Project.run_args("--date", D2), hook=hook, env=env_of(name, **extra))

    if paused == "older":  # A waits before its manifest while B runs whole, then finds B's newer commit
        a = start("a", pause)
        wait_for_file(marks["a"], a)
        b = start("b", None)
        done = {"b": finish(b)}
        go.touch()
        done["a"] = finish(a)
    else:  # B starts once A's attempt writes its parts, and waits before its manifest while A commits
        a = start("a", f"put_file|dt={D2}/|1|before|sleep:0")
        wait_for_file(marks["a"], a)
        b = start("b", pause)
        wait_for_file(marks["b"], b)
        done = {"a": finish(a)}
        go.touch()
        done["b"] = finish(b)
    outputs = {k: v.stdout + v.stderr for k, v in done.items()}
    assert done["b"].returncode == 0, outputs["b"]  # the newer attempt stands
    if paused == "older":  # A's parts were removed by B's clean-up: A must not commit over B
        assert done["a"].returncode == 1, outputs["a"]
        assert "superseded by a newer attempt" in outputs["a"] and "nothing committed" in outputs["a"]
    else:  # A committed first, and B replaced that commit whole
        assert done["a"].returncode == 0, outputs["a"]

    assert project.read("bronze", D2) == rows(RUN_B)
    assert project.read("silver", D2) == [(1, "a1"), (2, "b1"), *rows(RUN_B)]
    project.assert_clean("bronze", D2)
    project.assert_clean("silver", D2)


def wait_for_file(path: Path, process: subprocess.Popen[str], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"the run ended before reaching the hook ({process.returncode}): {out}{err}")
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.1)


@pytest.mark.parametrize("store", ["s3", "azure"])
def test_a_prefix_with_spaces_and_unicode_commits_reads_verifies_and_reruns(
    store: str, s3_endpoint, azurite_endpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if store == "s3":
        layer, env = {"storage_backend": "s3", "s3_bucket": s3_endpoint.create_bucket()}, s3_endpoint.env()
    else:
        layer = {"storage_backend": "azure", "azure_container": azurite_endpoint.create_container()}
        env = azurite_endpoint.env()
    project = Project(tmp_path, layer, env, prefix="Daten See/bronzé ü+%20&=ß 東京")
    committed_first_version(project, monkeypatch)
    assert project.read("bronze", D1) == rows(DAY1)
    assert project.read("silver", D1) == SILVER1
    for checked_layer in ("bronze", "silver"):
        verify = project.medallion("verify", "orders", "--date", D2, "--layer", checked_layer)
        assert verify.returncode == 0, verify.stdout + verify.stderr
    inspect = project.medallion("inspect", "orders", "--date", D2)
    assert inspect.returncode == 0 and "Daten See/bronzé ü+%20&=ß 東京" in inspect.stdout, inspect.stdout
    again = project.run("--date", D2)
    assert again.returncode == 0, again.stdout + again.stderr
    assert project.read("bronze", D2) == rows(DAY2_RERUN)
    assert project.read("silver", D2) == SILVER2_RERUN
    project.assert_clean("bronze", D2)
    project.assert_clean("silver", D2)


def test_a_rerun_with_fewer_parts_reads_only_its_own_even_before_the_old_ones_are_removed(
    s3_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = s3_project
    committed_first_version(project, monkeypatch)
    rerun = project.run("--date", D2)  # DAY2_RERUN: 5 rows, 3 part files
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    write_rows(project.orders, D2, [{"id": 2, "v": "b3"}])  # 1 row, 1 part file
    # Killed right after its commit, before its clean-up removed a file: the older parts are still there.
    killed = project.run("--date", D2, "--layer", "bronze", hook=f"delete|dt={D2}/|1|before|kill")
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    lake = project.lake()
    part = lake.committed(lake.spec("orders"), "bronze", date.fromisoformat(D2))
    assert part is not None and len(part.files("data")) == 1
    parts = [p for p in part.backend.list_files(part.prefix) if p.endswith(".parquet")]
    assert len(parts) == 4, parts
    assert project.read("bronze", D2) == [(2, "b3")]
    verify = project.medallion("verify", "orders", "--date", D2)
    assert verify.returncode == 0, verify.stdout + verify.stderr

    again = project.run("--date", D2)
    assert again.returncode == 0, again.stdout + again.stderr
    assert project.read("bronze", D2) == [(2, "b3")]
    assert project.read("silver", D2) == [(1, "a1"), (2, "b3")]
    project.assert_clean("bronze", D2)
    project.assert_clean("silver", D2)


@pytest.mark.parametrize("store", ["s3", "azure"])
@pytest.mark.parametrize("change", ["deleted", "replaced"])
def test_a_listed_file_deleted_or_replaced_out_of_band_is_refused_by_readers(
    store: str, change: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Someone deletes a part file a manifest lists, or puts other bytes there (a shorter file): read()
    (with and without hashing), verify, inspect and the next day's Silver refuse it, naming the file."""
    project: Project = request.getfixturevalue(f"{store}_project")
    committed_first_version(project, monkeypatch)
    lake = project.lake()
    part = lake.committed(lake.spec("orders"), "bronze", date.fromisoformat(D1))
    assert part is not None
    victim = part.relpath(part.files("data")[0])
    name = victim.rsplit("/", 1)[-1]
    if change == "deleted":
        part.backend.delete([victim])
    else:
        part.backend.put_bytes(victim, part.backend.read_bytes(victim)[:-20])
    from medallion_resources.errors import IntegrityError

    for verify_hashes in (True, False):
        with pytest.raises(IntegrityError, match=name):
            medallion_assets.read(
                "orders", layer="bronze", as_of=D1, config_dir=project.config, verify=verify_hashes
            ).collect()
    verify = project.medallion("verify", "orders", "--date", D1)
    assert verify.returncode == 1 and name in verify.stdout + verify.stderr, verify.stdout + verify.stderr
    # Silver D1 was built before: its own files are whole. A rebuild of Silver from Bronze D1 must refuse.
    rebuilt = project.run("--date", D1, "--layer", "silver")
    output = rebuilt.stdout + rebuilt.stderr
    assert rebuilt.returncode == 1 and name in output, output
    assert project.read("silver", D1) == SILVER1  # its previous commit stands


def test_a_range_run_commits_each_day_on_its_own_and_a_failing_day_keeps_its_previous_commit(
    s3_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One ``medallion run`` over three days on S3 (one Dagster run per asset, each day committed on its
    own): D2's file is empty (0 bytes, an error), so D2 fails and keeps its earlier commit in both layers,
    D1 commits its new rows, D3's Bronze commits, and D3's Silver (built on Silver D2) fails and keeps
    its earlier commit."""
    project = s3_project
    committed_first_version(project, monkeypatch)
    write_rows(project.orders, D2, DAY2_FIRST)
    write_rows(project.orders, D3, [{"id": 4, "v": "d3"}, {"id": 30, "v": "x3"}])
    third = project.run("--date", D3)
    assert third.returncode == 0, third.stdout + third.stderr
    silver3 = [(1, "a1"), (2, "b1"), (3, "c1"), (4, "d3"), (5, "e1"), (30, "x3")]
    assert project.read("silver", D3) == silver3

    write_rows(project.orders, D1, [{"id": 1, "v": "a9"}, {"id": 2, "v": "b1"}])
    (project.orders / f"orders_{D2.replace('-', '')}.jsonl").write_bytes(b"")
    write_rows(project.orders, D3, [{"id": 31, "v": "y3"}])
    ranged = project.run("--date", D1, "--end-date", D3)
    output = ranged.stdout + ranged.stderr
    assert ranged.returncode == 1, output
    assert "empty" in output and D2 in output, output

    assert project.read("bronze", D1) == [(1, "a9"), (2, "b1")]
    assert project.read("silver", D1) == [(1, "a9"), (2, "b1")]
    assert project.read("bronze", D2) == rows(DAY2_FIRST)  # the earlier commit of D2, whole
    assert project.read("silver", D2) == SILVER2_FIRST
    assert project.read("bronze", D3) == [(31, "y3")]
    assert project.read("silver", D3) == silver3
    for day in (D1, D2, D3):
        for layer in ("bronze", "silver"):
            project.assert_clean(layer, day)


@pytest.mark.parametrize("store", ["s3", "azure"])
def test_run_and_inspect_in_a_bucket_or_container_that_does_not_exist_name_it(
    store: str, s3_endpoint, azurite_endpoint, tmp_path: Path
) -> None:
    if store == "s3":
        missing = f"{s3_endpoint.create_bucket()}-typo"
        layer, env, said = {"storage_backend": "s3", "s3_bucket": missing}, s3_endpoint.env(), "(s3_bucket)"
        named = f"the bucket '{missing}'"
    else:
        missing = f"{azurite_endpoint.create_container()}-typo"
        layer, env = {"storage_backend": "azure", "azure_container": missing}, azurite_endpoint.env()
        said, named = "(azure_container)", f"the container '{missing}'"
    project = Project(tmp_path, layer, env)
    write_rows(project.orders, D1, DAY1)
    for args in (("run", "--date", D1, "--select", "orders"), ("inspect", "orders", "--date", D1)):
        result = project.medallion(*args)
        output = result.stdout + result.stderr
        assert result.returncode == 1, output
        assert named in output and said in output and "does not exist" in output, output
        assert "Traceback" not in output and "not committed" not in output, output


@pytest.mark.parametrize("store", ["s3", "azure"])
def test_a_newer_run_replacing_the_commit_while_its_bronze_check_hashes_it_fails_neither_run(
    store: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run A commits Bronze D2 and starts its ``manifest_verified`` check; run B (another deployment)
    commits D2 again before A's check reads A's part files, and B's clean-up removes them. A's data was
    committed whole, then replaced whole: A's blocking check failed ("missing (listed in the manifest)",
    "no metadata matches") and with it A's Silver, although the lake was never damaged."""
    project: Project = request.getfixturevalue(f"{store}_project")
    committed_first_version(project, monkeypatch)
    for name, records in (("a", RUN_A), ("b", RUN_B)):
        write_rows(project.root / name, D2, records)
        (project.root / f"home-{name}").mkdir()
    mark, go = project.root / "at-hook", project.root / "go"
    env_a = {"ORDERS_DIR": str(project.root / "a"), "DAGSTER_HOME": str(project.root / "home-a")}
    env_b = {"ORDERS_DIR": str(project.root / "b"), "DAGSTER_HOME": str(project.root / "home-b")}
    a = project.start(  # Bronze and Silver; held at the check's first look at a part file
        *Project.run_args("--date", D2),
        hook=f"size|dt={D2}/part-|1|before|wait:{go}",
        env={**env_a, "MEDALLION_TEST_STORAGE_HOOK_MARK": str(mark)},
    )
    wait_for_file(mark, a)
    b = project.run("--date", D2, "--layer", "bronze", env=env_b)
    assert b.returncode == 0, b.stdout + b.stderr
    go.touch()
    done = finish(a)
    assert done.returncode == 0, done.stdout + done.stderr
    [check] = check_evaluations(project.root / "home-a", "manifest_verified", "bronze")
    assert check.passed, check.description
    assert "has replaced it since, and that run's check verifies it" in (check.description or "")
    assert project.read("bronze", D2) == rows(RUN_B)
    assert project.read("silver", D2) == [(1, "a1"), (2, "b1"), *rows(RUN_B)]  # A's Silver read B's Bronze
    project.assert_clean("bronze", D2)
    project.assert_clean("silver", D2)


def check_evaluations(home: Path, name: str, layer: str) -> list[Any]:
    """The evaluations of the check ``name`` of ``layer``'s asset in the runs of the Dagster home."""
    import dagster as dg

    found = []
    with dg.DagsterInstance.from_config(str(home)) as instance:
        for run in instance.get_run_records():
            records = instance.get_records_for_run(
                run.dagster_run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
            ).records
            for record in records:
                data = record.event_log_entry.dagster_event.event_specific_data
                if data.check_name == name and layer in data.asset_key.path[0]:
                    found.append(data)
    return found


def test_verify_while_the_partition_is_committed_again_verifies_the_new_commit(
    s3_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``medallion verify`` reads D2's manifest, then a re-run commits D2 again and removes the files that
    manifest listed: verify must not report a whole lake as damaged ("missing (listed in the manifest)",
    exit 1); it verifies the commit in place."""
    project = s3_project
    committed_first_version(project, monkeypatch)
    mark, go = project.root / "at-hook", project.root / "go"
    verify = project.start(
        "verify",
        "orders",
        "--date",
        D2,
        "--layer",
        "bronze",
        hook=f"size|dt={D2}/part-|1|before|wait:{go}",
        env={"MEDALLION_TEST_STORAGE_HOOK_MARK": str(mark)},
    )
    wait_for_file(mark, verify)
    rerun = project.run("--date", D2, "--layer", "bronze")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    go.touch()
    done = finish(verify)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "missing" not in output and "3 file(s) verified" in output, output


READ_SCRIPT = """
import sys
import medallion_assets
frame = medallion_assets.read("orders", layer=sys.argv[1], as_of=sys.argv[2]).collect()
print(sorted(frame.select("id", "v").iter_rows()))
"""


@pytest.mark.parametrize("layer", ["bronze", "silver"])
def test_read_while_the_partition_is_committed_again_gives_the_new_commit(
    layer: str, s3_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``medallion_assets.read`` (a script) reads D2's manifest, then a re-run commits D2 again and removes
    the files that manifest listed before read() fetched them: read() gives the rows of the commit in
    place, never a mix, where it raised "... is gone: the partition was committed again while this read
    it ...; read it again"."""
    project = s3_project
    committed_first_version(project, monkeypatch)
    folder = f"dt={D2}/part-" if layer == "bronze" else f"load_date={D2}/current-part-"
    mark, go = project.root / "at-hook", project.root / "go"
    reader = project.start(
        "-c",
        READ_SCRIPT,
        layer,
        D2,
        program=sys.executable,
        hook=f"open_read|{folder}|1|before|wait:{go}",
        env={"MEDALLION_TEST_STORAGE_HOOK_MARK": str(mark)},
    )
    wait_for_file(mark, reader)
    rerun = project.run("--date", D2)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    go.touch()
    done = finish(reader)
    assert done.returncode == 0, done.stdout + done.stderr
    expected = rows(DAY2_RERUN) if layer == "bronze" else SILVER2_RERUN
    assert done.stdout.strip() == str(expected)


def test_a_range_run_killed_on_its_last_day_keeps_the_days_it_committed(
    s3_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A three-day range on S3 SIGKILLed while Bronze D3 writes its parts: Bronze D1 and D2 were committed
    (each on its own) and stay so, D3 keeps its earlier commit; the next run of the range completes it."""
    project = s3_project
    committed_first_version(project, monkeypatch)
    write_rows(project.orders, D3, [{"id": 30, "v": "x3"}])
    third = project.run("--date", D3)
    assert third.returncode == 0, third.stdout + third.stderr
    write_rows(project.orders, D1, [{"id": 1, "v": "a9"}])
    write_rows(project.orders, D3, [{"id": 31, "v": "y3"}])
    killed = project.run("--date", D1, "--end-date", D3, hook=f"put_file|dt={D3}/|1|before|kill")
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    assert project.read("bronze", D1) == [(1, "a9")]
    assert project.read("bronze", D2) == rows(DAY2_RERUN)
    assert project.read("bronze", D3) == [(30, "x3")]
    assert project.read("silver", D3) == [*SILVER2_FIRST, (30, "x3")]  # Silver had not started
    for day in (D1, D2, D3):
        verify = project.medallion("verify", "orders", "--date", day)
        assert verify.returncode == 0, verify.stdout + verify.stderr

    again = project.run("--date", D1, "--end-date", D3)
    assert again.returncode == 0, again.stdout + again.stderr
    assert project.read("bronze", D3) == [(31, "y3")]
    assert project.read("silver", D1) == [(1, "a9")]  # the first day: no earlier state
    assert project.read("silver", D2) == [(1, "a9"), (2, "b2"), (6, "f2"), (7, "g2"), (8, "h2"), (9, "i2")]
    assert project.read("silver", D3) == [
        (1, "a9"),
        (2, "b2"),
        (6, "f2"),
        (7, "g2"),
        (8, "h2"),
        (9, "i2"),
        (31, "y3"),
    ]
    for day in (D1, D2, D3):
        for layer in ("bronze", "silver"):
            project.assert_clean(layer, day)


def test_the_next_commit_aborts_the_unfinished_s3_uploads_of_older_attempts(
    s3_endpoint, s3_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer killed during a multipart upload (a part file above multipart_chunksize_mb) leaves the
    upload unfinished: invisible to listings, its parts kept and billed by S3 for ever. The next commit
    of the partition aborts those of older attempts, as it deletes their files; an upload of a newer
    attempt (a writer still running) stays."""
    project = s3_project
    committed_first_version(project, monkeypatch)
    client = s3_endpoint.client()
    bucket = yaml.safe_load((project.config / "platform.yaml").read_text())["platform"]["bronze"]["s3_bucket"]
    folder = f"lake/bronze/system=shop/table=orders/dt={D2}/"
    killed = f"{folder}part-00001-20250101T000000000000Z-dead00.parquet"  # as a killed writer's upload
    running = f"{folder}part-00001-29990101T000000000000Z-beef00.parquet"  # a writer still uploading
    for key in (killed, running):
        upload = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
        client.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=1, Body=b"x" * 1024)

    def unfinished() -> list[str]:
        found = client.list_multipart_uploads(Bucket=bucket, Prefix=folder).get("Uploads", [])
        return sorted(u["Key"] for u in found)

    assert unfinished() == [killed, running]
    again = project.run("--date", D2, "--layer", "bronze")
    assert again.returncode == 0, again.stdout + again.stderr
    assert unfinished() == [running]
    assert project.read("bronze", D2) == rows(DAY2_RERUN)
