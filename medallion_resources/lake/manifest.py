"""The manifest (``_checksums.json``): what a partition's commit consists of (DESIGN §4).

``Manifest`` lists every committed file (``ManifestFile``: path relative to the partition, artifact, size,
SHA-256, rows), the partition's ``record_count`` and the SHA-256 of its ``_metadata.json``. Writing it is
the commit (:mod:`medallion_resources.lake.commit`); readers trust only what it lists
(:mod:`medallion_resources.lake.read`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from medallion_resources.lake.layout import sha256_hex

__all__ = ["MANIFEST_VERSION", "Manifest", "ManifestFile"]

MANIFEST_VERSION = 1


@dataclass(frozen=True)
class ManifestFile:
    """One committed file as the manifest lists it; ``path`` is relative to the partition folder."""

    path: str
    artifact: str
    size_bytes: int
    sha256: str
    row_count: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "artifact": self.artifact,
            "size_bytes": self.size_bytes,
            "sha256": self.sha256,
            "row_count": self.row_count,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ManifestFile:
        return cls(
            path=str(data["path"]),
            artifact=str(data["artifact"]),
            size_bytes=int(data["size_bytes"]),
            sha256=str(data["sha256"]),
            row_count=int(data["row_count"]),
        )


@dataclass(frozen=True)
class Manifest:
    """The content of ``_checksums.json``: what a partition's commit consists of."""

    manifest_version: int
    layer: str
    dataset: str
    run_date: str
    run_id: str
    committed_at: str
    record_count: int
    files: tuple[ManifestFile, ...]
    metadata_sha256: str
    attempt: str
    # SHA-256 of the bytes this manifest was read from (empty when built in memory).
    raw_sha256: str = field(default="", repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "manifest_version": self.manifest_version,
            "layer": self.layer,
            "dataset": self.dataset,
            "run_date": self.run_date,
            "run_id": self.run_id,
            "committed_at": self.committed_at,
            "record_count": self.record_count,
            "files": [f.to_dict() for f in self.files],
            "metadata_sha256": self.metadata_sha256,
            "attempt": self.attempt,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> Manifest:
        """Parse ``_checksums.json``; ``ValueError`` saying what is wrong when it is not a manifest."""
        raw = text.encode() if isinstance(text, str) else text
        try:
            data = json.loads(raw)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            version = int(data["manifest_version"])
            if version > MANIFEST_VERSION:
                raise ValueError(f"manifest_version {version} is newer than this reader ({MANIFEST_VERSION})")
            return cls(
                manifest_version=version,
                layer=str(data["layer"]),
                dataset=str(data["dataset"]),
                run_date=str(data["run_date"]),
                run_id=str(data["run_id"]),
                committed_at=str(data["committed_at"]),
                record_count=int(data["record_count"]),
                files=tuple(ManifestFile.from_dict(f) for f in data["files"]),
                metadata_sha256=str(data["metadata_sha256"]),
                attempt=str(data.get("attempt", "")),
                raw_sha256=sha256_hex(raw),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            detail = f"missing key {exc}" if isinstance(exc, KeyError) else str(exc)
            raise ValueError(f"not a valid manifest: {detail}") from exc

    @property
    def sha256(self) -> str:
        """SHA-256 of the manifest's bytes: the partition's data version."""
        return self.raw_sha256 or sha256_hex(self.to_json().encode())

    def describe(self) -> str:
        return f"{self.layer} {self.dataset} run_date {self.run_date}"
