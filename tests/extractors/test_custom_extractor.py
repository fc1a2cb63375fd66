"""``type: custom``: classes found by module + class name, or by a real installed entry point."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from medallion_assets.config.models import PlatformConfig, SourceEntry
from medallion_assets.errors import ExtractError
from medallion_assets.extractors import ExtractContext, create_extractor
from medallion_assets.extractors.custom import ENTRY_POINT_GROUP, resolve_custom_class

PLUGIN_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "custom_extractor_pkg"


@pytest.fixture
def plugins_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fixture plugin package importable, as if installed."""
    monkeypatch.syspath_prepend(str(PLUGIN_DIR))


@pytest.fixture
def custom(make_entry: Callable[..., SourceEntry]) -> Callable[..., SourceEntry]:
    def make(**section: Any) -> SourceEntry:
        return make_entry("custom", section)

    return make


@pytest.fixture
def installed_entry_points(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plugins_on_path: None) -> None:
    """A real distribution on sys.path whose entry_points.txt registers into the medallion group."""
    dist = tmp_path / "site" / "acme_medallion_ext-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-medallion-ext\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\n"
        "greetings = acme_medallion_ext:GreetingExtractor\n"
        "not_a_class = acme_medallion_ext:make_extractor\n"
        "broken = acme_medallion_ext:DoesNotExist\n"
        "\n[some.other.group]\n"
        "elsewhere = acme_medallion_ext:GreetingExtractor\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))


class TestModuleAndClass:
    def test_builds_and_runs_the_class_with_its_options(
        self,
        plugins_on_path: None,
        custom: Callable[..., SourceEntry],
        platform: PlatformConfig,
        make_context: Callable[[date], ExtractContext],
    ) -> None:
        entry = custom(module="acme_medallion_ext", class_name="GreetingExtractor", options={"count": 3})
        extractor = create_extractor(entry, platform)
        assert type(extractor).__name__ == "GreetingExtractor"
        assert extractor.entry is entry and extractor.platform is platform
        [batch] = list(extractor.extract(make_context(date(2025, 1, 2))))
        assert batch.column("greeting").to_pylist() == ["hello 2025-01-02"] * 3
        assert extractor.stats == {"batches": 1}
        assert extractor.check().detail == "greetings available"

    @pytest.mark.parametrize(
        ("section", "message"),
        [
            (
                {"module": "acme_not_installed", "class_name": "X"},
                r"source 'shop_orders': custom_extractor\.module 'acme_not_installed' cannot be imported: "
                r"No module named 'acme_not_installed' \(hint: install",
            ),
            (
                {"module": "acme_broken", "class_name": "X"},
                r"module 'acme_broken' cannot be imported: No module named "
                r"'acme_dependency_that_is_not_installed'",
            ),
            (
                {"module": "acme_medallion_ext", "class_name": "Greeting"},
                r"class_name 'Greeting' not found in module 'acme_medallion_ext'; "
                r"Extractor subclasses there: GreetingExtractor, HalfDoneExtractor$",
            ),
            (
                {"module": "acme_no_extractors", "class_name": "Reader"},
                r"not found in module 'acme_no_extractors'; it has no Extractor subclass; "
                r"public classes there: Helper, Settings$",
            ),
            (
                {"module": "acme_medallion_ext", "class_name": "NotAnExtractor"},
                r"acme_medallion_ext\.NotAnExtractor is a class, not a subclass of "
                r"medallion_assets\.extractors\.Extractor",
            ),
            (
                {"module": "acme_medallion_ext", "class_name": "make_extractor"},
                r"acme_medallion_ext\.make_extractor is a function, not a subclass",
            ),
            (
                {"module": "acme_medallion_ext", "class_name": "HalfDoneExtractor"},
                r"acme_medallion_ext\.HalfDoneExtractor is abstract; it must implement extract\(\)",
            ),
        ],
        ids=[
            "no-module",
            "module-import-fails",
            "no-class",
            "no-extractor-at-all",
            "not-subclass",
            "function",
            "abstract",
        ],
    )
    def test_errors_say_what_was_found(
        self,
        plugins_on_path: None,
        custom: Callable[..., SourceEntry],
        section: dict[str, str],
        message: str,
    ) -> None:
        with pytest.raises(ExtractError, match=message):
            resolve_custom_class(custom(**section))


class TestEntryPoint:
    def test_resolves_an_installed_entry_point(
        self,
        installed_entry_points: None,
        custom: Callable[..., SourceEntry],
        platform: PlatformConfig,
        make_context: Callable[[date], ExtractContext],
    ) -> None:
        extractor = create_extractor(custom(entry_point="greetings", options={"count": 2}), platform)
        [batch] = list(extractor.extract(make_context(date(2025, 1, 3))))
        assert batch.num_rows == 2

    def test_unknown_name_lists_the_available_ones(
        self, installed_entry_points: None, custom: Callable[..., SourceEntry]
    ) -> None:
        with pytest.raises(
            ExtractError,
            match=r"entry_point 'greeting' is not registered in the 'medallion\.extractors' entry point "
            r"group; available: (.*, )?broken, greetings, not_a_class",
        ):
            resolve_custom_class(custom(entry_point="greeting"))

    def test_name_from_another_group_is_not_found(
        self, installed_entry_points: None, custom: Callable[..., SourceEntry]
    ) -> None:
        with pytest.raises(ExtractError, match=r"entry_point 'elsewhere' is not registered"):
            resolve_custom_class(custom(entry_point="elsewhere"))

    def test_entry_point_that_cannot_load(
        self, installed_entry_points: None, custom: Callable[..., SourceEntry]
    ) -> None:
        with pytest.raises(
            ExtractError,
            match=r"entry_point 'broken' \(acme_medallion_ext:DoesNotExist\) cannot be loaded: "
            r".*DoesNotExist",
        ):
            resolve_custom_class(custom(entry_point="broken"))

    def test_entry_point_to_a_function(
        self, installed_entry_points: None, custom: Callable[..., SourceEntry]
    ) -> None:
        with pytest.raises(ExtractError, match=r"entry point 'not_a_class' .* is a function, not a subclass"):
            resolve_custom_class(custom(entry_point="not_a_class"))
