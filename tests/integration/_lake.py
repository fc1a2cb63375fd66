"""A local lake for integration tests: a platform on local disk under ``root`` and the given sources."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from medallion_assets.lake import Lake


def local_lake(
    root: Path, sources: list[dict[str, Any]], start: date, timezone: str = "UTC", data: Path | None = None
) -> Lake:
    """Write ``root/configs`` (Bronze and Silver under ``root/lake``, daily partitions from ``start`` in
    ``timezone``; ``{data}`` in the sources replaced by ``data`` when given)."""
    config = root / "configs"
    (config / "sources").mkdir(parents=True, exist_ok=True)
    platform = {
        "config_version": 1,
        "platform": {
            "bronze": {"storage_backend": "local", "local_path": str(root / "lake" / "bronze")},
            "silver": {"storage_backend": "local", "local_path": str(root / "lake" / "silver")},
            "defaults": {"partitions": {"start_date": start.isoformat(), "timezone": timezone}},
        },
    }
    (config / "platform.yaml").write_text(yaml.safe_dump(platform))
    if data is not None:
        sources = json.loads(json.dumps(sources).replace("{data}", str(data)))
    (config / "sources" / "s.yaml").write_text(yaml.safe_dump({"config_version": 1, "sources": sources}))
    return Lake.load(config)
