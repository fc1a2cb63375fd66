"""Whatever passes ``medallion validate`` builds Dagster Definitions: a config that validates never takes the
code location down (every source's assets, schedules and sensors vanishing from the UI).

Every valid config of the config tests is built: the fixture folders, the accepted model × pattern table,
every YAML example of the docs, and random configs (with random cron expressions). For each, either
``Lake.validated`` (what ``medallion validate`` runs) refuses it, or the Definitions build and load.
"""

from __future__ import annotations

import re
import tempfile
import warnings
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from medallion_assets.config.cron import check_cron
from medallion_assets.config.models import MedallionConfig
from medallion_assets.errors import ConfigError
from medallion_assets.factory import build_definitions
from medallion_assets.lake import Lake

from ._support import FIXTURES, MINIMAL, write_config
from .test_config_docs import EXAMPLES, _component_example_loads
from .test_config_model_patterns import ACCEPTED, entry
from .test_config_properties import SETTINGS, configs


def validate(config_dir: Path) -> MedallionConfig:
    """What ``medallion validate`` checks (deprecated spellings load with a warning: fine here)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Lake.validated(config_dir).config


def build(config: MedallionConfig) -> None:
    """Build the Definitions and resolve every definition in them, as the code location does on load."""
    dg.Definitions.validate_loadable(build_definitions(config))


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDALLION_TEST_SECRET", "hunter2-very-secret")


@pytest.mark.parametrize("folder", ["minimal", "full", "legacy"])
def test_every_fixture_config_builds(folder: str) -> None:
    build(validate(FIXTURES / folder))


@pytest.mark.parametrize(("pattern", "silver"), ACCEPTED)
def test_every_accepted_model_pattern_builds(pattern: str, silver: dict[str, Any], tmp_path: Path) -> None:
    platform = (MINIMAL / "platform.yaml").read_text(encoding="utf-8")
    sources = {"sources": [entry(pattern, **silver)]}
    build(validate(write_config(tmp_path, {"platform.yaml": platform, "s.yaml": sources})))


@pytest.mark.parametrize(("name", "block"), EXAMPLES, ids=[name for name, _ in EXAMPLES])
def test_every_doc_example_validates_and_builds_or_fails_validate(
    name: str, block: str, tmp_path: Path
) -> None:
    if block.startswith("type: medallion_assets.MedallionSources"):  # a dg defs.yaml: built by the component
        _component_example_loads(block, tmp_path)
        return
    files: dict[str, object] = {"example.yaml": block}
    if not re.search(r"^platform:", block, re.MULTILINE):
        files["platform.yaml"] = (MINIMAL / "platform.yaml").read_text(encoding="utf-8")
    try:
        config = validate(write_config(tmp_path, files))
    except ConfigError as exc:  # e.g. a plugin backend that is not installed here, or unset credentials
        assert "platform." in str(exc), exc
        return
    build(config)


def _in_range(low: int, high: int) -> st.SearchStrategy[str]:
    """A cron field of values, ranges and steps inside ``low..high``: valid by construction."""
    number = st.integers(low, high)
    item = st.one_of(
        number.map(str),
        st.tuples(number, number)
        .filter(lambda pair: pair[0] != pair[1])
        .map(lambda pair: f"{min(pair)}-{max(pair)}"),
        st.integers(1, high - low).map(lambda step: f"*/{step}"),
    )
    return st.one_of(st.just("*"), st.lists(item, min_size=1, max_size=3).map(",".join))


# Generated within each field's range (filtering the near-miss crons of test_config_cron tripped
# Hypothesis's filter_too_much health check now and then); the test still asserts check_cron accepts them.
valid_crons = st.tuples(*(_in_range(lo, hi) for lo, hi in [(0, 59), (0, 23), (1, 28), (1, 12), (0, 6)])).map(
    " ".join
)


@settings(SETTINGS, max_examples=15)
@given(config=configs, cron=valid_crons)
def test_any_valid_config_builds(config: MedallionConfig, cron: str) -> None:
    """Random sources (every extractor, model and pattern) with a random valid cron, on local storage (the
    storage checks have their own examples above)."""
    check_cron(cron)
    with tempfile.TemporaryDirectory() as tmp:
        local = {"storage_backend": "local", "local_path": tmp}
        dumped = config.model_dump(by_alias=True, mode="json", exclude_none=True)
        dumped["platform"].update(bronze=local, silver=local)
        for source in dumped["sources"]:
            source["schedule"] = {"cron": cron}
        build(validate(write_config(Path(tmp), {"platform.yaml": {"config_version": 1, **dumped}})))


@pytest.mark.parametrize(
    "owner",
    [  # validate accepted every one; the Definitions then failed on the refused ones with "Invalid owner
        # 'data@acme.consulting' for asset ... Owner must be an email address or a team name"
        "data@acme.consulting",  # a top-level domain longer than 7 letters: refused
        "j\u00fcrgen@m\u00fcller.de",  # not ASCII: refused
        "ops@example.c",  # a one-letter top-level domain: refused
        ".ops@example.com",  # starts with a dot: refused
        "first.last@corp.example.co.uk",
        "ops+alerts@example.com",
        "team:data platform",
    ],
)
def test_an_owner_validate_accepts_builds(owner: str, tmp_path: Path) -> None:
    source = {
        "source": {"system": "shop", "table": "orders", "type": "file", "file": {"path": "./o.csv"}},
        "owners": [owner],
    }
    platform = (MINIMAL / "platform.yaml").read_text(encoding="utf-8")
    config_dir = write_config(tmp_path, {"platform.yaml": platform, "s.yaml": {"sources": [source]}})
    try:
        config = validate(config_dir)
    except ConfigError as exc:
        assert f"configs/s.yaml: sources[0].owners: owner '{owner}'" in str(exc), exc
        return
    build(config)
