"""A medallion project on local disk for tests that run the CLI or ``Lake`` on it: one home for the set-up."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml


def write_local_project(root: Path, sources: list[dict[str, Any]], start_date: str, data: Path) -> Path:
    """``root/configs``: a platform with local Bronze and Silver under ``root/lake``, days from
    ``start_date`` in UTC, and ``sources`` (``{data}`` in them replaced by ``data``); returns the folder."""
    config = root / "configs"
    (config / "sources").mkdir(parents=True)
    platform = {
        "config_version": 1,
        "platform": {
            "bronze": {"storage_backend": "local", "local_path": str(root / "lake" / "bronze")},
            "silver": {"storage_backend": "local", "local_path": str(root / "lake" / "silver")},
            "defaults": {"partitions": {"start_date": start_date, "timezone": "UTC"}},
        },
    }
    (config / "platform.yaml").write_text(yaml.safe_dump(platform))
    filled = json.loads(json.dumps(sources).replace("{data}", str(data)))
    (config / "sources" / "s.yaml").write_text(yaml.safe_dump({"config_version": 1, "sources": filled}))
    return config
