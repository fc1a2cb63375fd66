"""The Silver model registry and factory."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import polars as pl
import pytest

from medallion_assets.config.models import SilverConfig
from medallion_assets.silver.base import SilverContext, SilverModel, SilverResult
from medallion_assets.silver.cdc import Cdc
from medallion_assets.silver.event_log import EventLog
from medallion_assets.silver.registry import (
    SILVER_MODELS,
    create_silver_model,
    is_stateful,
    register_silver_model,
)
from medallion_assets.silver.scd1 import ScdType1
from medallion_assets.silver.scd2 import ScdType2
from medallion_assets.silver.snapshot import PeriodicSnapshot


class Custom(SilverModel):
    name = "custom_model"
    artifacts = ("current",)

    def apply(
        self, state: Mapping[str, pl.DataFrame] | None, incoming: pl.DataFrame, ctx: SilverContext
    ) -> SilverResult:
        return SilverResult(artifacts={"current": incoming})


@pytest.fixture
def clean_registry() -> Iterator[None]:
    models = dict(SILVER_MODELS)
    yield
    SILVER_MODELS.clear()
    SILVER_MODELS.update(models)


class TestRegistry:
    def test_shipped_models(self) -> None:
        assert SILVER_MODELS == {
            "periodic_snapshot": PeriodicSnapshot,
            "scd_type_1": ScdType1,
            "scd_type_2": ScdType2,
            "cdc": Cdc,
            "event_log": EventLog,
        }

    @pytest.mark.parametrize("name", ["periodic_snapshot", "scd_type_1", "scd_type_2", "cdc", "event_log"])
    def test_create(self, name: str) -> None:
        config = SilverConfig(primary_keys=["id"])
        model = create_silver_model(name, config)
        assert model.name == name
        assert model.config is config

    def test_unknown_model_lists_the_known_ones(self) -> None:
        with pytest.raises(ValueError, match=r"unknown silver.model 'scd3'; known models: cdc, event_log, "):
            create_silver_model("scd3", SilverConfig())

    @pytest.mark.parametrize(
        ("name", "stateful"),
        [
            ("periodic_snapshot", False),
            ("scd_type_1", True),
            ("scd_type_2", True),
            ("cdc", True),
            ("event_log", True),
        ],
    )
    def test_is_stateful(self, name: str, stateful: bool) -> None:
        assert is_stateful(name) is stateful

    def test_is_stateful_unknown(self) -> None:
        with pytest.raises(ValueError, match="unknown silver.model 'nope'"):
            is_stateful("nope")

    def test_register_a_plugin_model(self, clean_registry: None) -> None:
        register_silver_model(Custom)
        assert isinstance(create_silver_model("custom_model", SilverConfig()), Custom)
        assert is_stateful("custom_model") is True

    def test_register_rejects_a_taken_name(self, clean_registry: None) -> None:
        class Impostor(Custom):
            name = "scd_type_1"

        with pytest.raises(
            ValueError, match="'scd_type_1' is already taken by medallion_assets.silver.scd1.ScdType1"
        ):
            register_silver_model(Impostor)
