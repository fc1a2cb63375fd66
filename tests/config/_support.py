"""Helpers of the config tests: the fixture folders and a writer for ad-hoc config dirs."""

from __future__ import annotations

from pathlib import Path

import yaml

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "configs"
MINIMAL = FIXTURES / "minimal"


def write_config(root: Path, files: dict[str, object]) -> Path:
    """Write ``{relative path: data or YAML text}`` under ``root/configs`` and return that config dir."""
    config_dir = root / "configs"
    for rel, content in files.items():
        path = config_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        text = content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False)
        path.write_text(text, encoding="utf-8")
    return config_dir
