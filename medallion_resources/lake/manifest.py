"""The manifest (``_checksums.json``): what a partition's commit consists of (DESIGN §4).

``Manifest`` lists every committed file (``ManifestFile``: path, artifact, kind, size, SHA-256, rows), the
partition's ``record_count`` and the SHA-256 of its ``_metadata.json``. Writing it is the commit
(:mod:`medallion_resources.lake.commit`); readers trust only what it lists
(:mod:`medallion_resources.lake.read`).

Two versions are read:

- ``manifest_version`` 1 (Bronze, and Silver written before merge-on-read): every file lives in the
  partition's folder and ``path`` is relative to it; every file is a ``data`` file.
- ``manifest_version`` 2 (Silver): ``path`` is relative to the *dataset root* (the folder holding the
  ``load_date=`` folders), so a partition can list files an earlier partition wrote (shared, immutable,
  carried by reference). A file's ``kind`` is ``data`` (rows) or ``deletes`` (positions of rows of earlier
  data files of the same artifact that no longer belong to the artifact: ``path``, ``pos``). ``keyed``
  names, per artifact written by key, its key columns and whether its files are already in key order:
  readers put the live rows in key order (stable: a key's rows keep their order). See
  docs/architecture.md, "Merge-on-read".
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from medallion_resources.lake.layout import sha256_hex

__all__ = [
    "DATA",
    "DELETES",
    "MANIFEST_VERSION",
    "SHARED_MANIFEST_VERSION",
    "Keyed",
    "Manifest",
    "ManifestFile",
    "commits_sha256",
]

MANIFEST_VERSION = 2  # the newest version this reader understands
SHARED_MANIFEST_VERSION = 2  # paths relative to the dataset root; data and deletes files; ``keyed``
DATA, DELETES = "data", "deletes"


@dataclass(frozen=True)
class Keyed:
    """How an artifact written by key is put in order by readers: its key columns, and whether its files
    already are (one write, in key order) so readers need not sort."""

    keys: tuple[str, ...]
    sorted: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"keys": list(self.keys), "sorted": self.sorted}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Keyed:
        return cls(keys=tuple(str(k) for k in data["keys"]), sorted=bool(data.get("sorted", False)))


@dataclass(frozen=True)
class ManifestFile:
    """One committed file as the manifest lists it.

    ``path`` is relative to the partition folder (version 1) or to the dataset root (version 2);
    ``kind`` is ``data`` or ``deletes`` (version 2 only); ``row_count`` counts rows of the file (for a
    deletes file: the positions it deletes).
    """

    path: str
    artifact: str
    size_bytes: int
    sha256: str
    row_count: int
    kind: str = DATA

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "path": self.path,
            "artifact": self.artifact,
            "size_bytes": self.size_bytes,
            "sha256": self.sha256,
            "row_count": self.row_count,
        }
        if self.kind != DATA:
            data["kind"] = self.kind
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ManifestFile:
        kind = str(data.get("kind", DATA))
        if kind not in (DATA, DELETES):
            raise ValueError(f"file {data.get('path')!r} has kind {kind!r}; known kinds: {DATA}, {DELETES}")
        return cls(
            path=str(data["path"]),
            artifact=str(data["artifact"]),
            size_bytes=int(data["size_bytes"]),
            sha256=str(data["sha256"]),
            row_count=int(data["row_count"]),
            kind=kind,
        )

    def moved_under(self, folder: str) -> ManifestFile:
        """The same file with ``path`` prefixed by ``folder`` (partition-relative to root-relative)."""
        return replace(self, path=f"{folder}/{self.path}" if folder else self.path)


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
    # Version 2: artifacts written by key (readers order their live rows by key).
    keyed: dict[str, Keyed] = field(default_factory=dict)
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
        } | ({"keyed": {a: k.to_dict() for a, k in self.keyed.items()}} if self.manifest_version >= 2 else {})

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
                keyed={str(a): Keyed.from_dict(k) for a, k in (data.get("keyed") or {}).items()},
                raw_sha256=sha256_hex(raw),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            detail = f"missing key {exc}" if isinstance(exc, KeyError) else str(exc)
            raise ValueError(f"not a valid manifest: {detail}") from exc

    @property
    def sha256(self) -> str:
        """SHA-256 of the manifest's bytes: the partition's data version."""
        return self.raw_sha256 or sha256_hex(self.to_json().encode())

    @property
    def shared(self) -> bool:
        """Paths are relative to the dataset root (version 2), not to the partition folder."""
        return self.manifest_version >= SHARED_MANIFEST_VERSION

    def data_files(self, artifact: str | None = None) -> list[ManifestFile]:
        return [f for f in self.files if f.kind == DATA and (artifact is None or f.artifact == artifact)]

    def delete_files(self, artifact: str | None = None) -> list[ManifestFile]:
        return [f for f in self.files if f.kind == DELETES and (artifact is None or f.artifact == artifact)]

    def live_rows(self, artifact: str) -> int:
        """Rows of ``artifact`` once deletes are applied (each deleted position is listed once)."""
        stored = sum(f.row_count for f in self.data_files(artifact))
        return stored - sum(f.row_count for f in self.delete_files(artifact))

    def artifacts(self) -> list[str]:
        return list(dict.fromkeys(f.artifact for f in self.files))

    def describe(self) -> str:
        return f"{self.layer} {self.dataset} run_date {self.run_date}"


def commits_sha256(commits: Iterable[tuple[str, str]]) -> str:
    """One digest of several partitions' commits (``(partition key, manifest SHA-256)``, in key order).

    What a fold over many partitions read (a Silver day rebuilt from every Bronze day before it), in one
    metadata value: it changes when any of them is committed again, whatever the writers' clocks said.
    """
    return sha256_hex("".join(f"{key} {sha}\n" for key, sha in commits).encode())
