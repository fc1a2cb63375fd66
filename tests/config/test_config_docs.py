"""The docs: every YAML example loads, and the committed reference equals the generated one."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

from medallion_assets.config.loader import load_config
from medallion_assets.config.reference import DOC_PATH, render_reference

from ._support import MINIMAL, write_config

REPO = Path(__file__).resolve().parents[2]
SKIP_MARKER = "<!-- not-a-config -->"
_BLOCK_RE = re.compile(r"```ya?ml[^\n]*\n(.*?)```", re.DOTALL)


def _doc_files() -> list[Path]:
    files = sorted((REPO / "docs").glob("*.md")) if (REPO / "docs").is_dir() else []
    readme = REPO / "README.md"
    return files + ([readme] if readme.exists() else [])


def _config_examples() -> list[tuple[str, str]]:
    examples = []
    for path in _doc_files():
        text = path.read_text(encoding="utf-8")
        for number, match in enumerate(_BLOCK_RE.finditer(text), start=1):
            block = match.group(1)
            before = text[: match.start()].rstrip().rsplit("\n", 1)[-1]
            if SKIP_MARKER in before or not re.search(r"^\s*(platform|sources):", block, re.MULTILINE):
                continue
            examples.append((f"{path.relative_to(REPO)}#{number}", block))
    return examples


EXAMPLES = _config_examples()


def test_reference_examples_are_found() -> None:
    assert sum(1 for name, _ in EXAMPLES if name.startswith("docs/CONFIG_REFERENCE.md")) >= 3


@pytest.mark.parametrize(("name", "block"), EXAMPLES, ids=[name for name, _ in EXAMPLES])
def test_doc_example_loads(name: str, block: str, tmp_path: Path) -> None:
    if block.startswith("type: medallion_assets.MedallionSources"):
        _component_example_loads(block, tmp_path)
        return
    files: dict[str, object] = {"example.yaml": block}
    if not re.search(r"^platform:", block, re.MULTILINE):
        files["platform.yaml"] = (MINIMAL / "platform.yaml").read_text(encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # examples of deprecated spellings are fine: they must still load
        load_config(write_config(tmp_path, files), environ={})


def test_committed_reference_is_up_to_date() -> None:
    assert DOC_PATH.exists(), "run: python -m medallion_assets.config.reference --write"
    assert DOC_PATH.read_text(encoding="utf-8") == render_reference(), (
        "docs/CONFIG_REFERENCE.md is stale; run: python -m medallion_assets.config.reference --write"
    )


def test_reference_lists_every_key_in_yaml_spelling() -> None:
    text = render_reference()
    for key in ("`sources[].silver.schema`", "| `schema` |", "`sources[].source.db`", "`primary_keys`"):
        assert key in text
    assert "silver_schema" not in text and "db_schema" not in text


def _component_example_loads(block: str, tmp_path: Path) -> None:
    """A ``defs.yaml`` example: its attributes resolve (translation included) and build Definitions."""
    import dagster as dg
    import yaml

    from medallion_assets.component import MedallionSources

    attributes = yaml.safe_load(block)["attributes"]
    if "config_dir" in attributes:  # the example's directory: a minimal platform
        attributes["config_dir"] = str(
            write_config(tmp_path, {"platform.yaml": (MINIMAL / "platform.yaml").read_text()})
        )
    component = MedallionSources.resolve_from_yaml(yaml.safe_dump(attributes))
    defs = dg.components.testing.utils.component_defs(component=component)
    assert defs.resolve_asset_graph().materializable_asset_keys
