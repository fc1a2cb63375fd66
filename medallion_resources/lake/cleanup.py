"""Reference-aware clean-up after a commit: the files of older attempts that no committed manifest lists.

Step 5 of the commit protocol (:mod:`medallion_resources.lake.commit`). A file is stale when its name carries
an attempt id older than the commit's (or that of the commit it replaced) and no committed manifest lists it:
the partition's own, or any later partition's (Silver shares files forward, docs/architecture.md
"Merge-on-read"; only a partition at or after a folder can list that folder's files). Files of *newer*
attempts stay: they may belong to a writer still running. Besides the partition's own folder, the folders
whose files the replaced manifest referenced are swept too, since a replaced commit can leave a re-run day's
older files unreferenced there. Unfinished uploads of older attempts in the partition's folder (S3 multipart
uploads of killed writers, which no listing shows) are aborted by the same rule.
"""

from __future__ import annotations

from medallion_resources.lake.layout import CHECKSUMS_NAME, attempt_of, staged_metadata_name
from medallion_resources.lake.manifest import Manifest
from medallion_resources.storage.base import StorageBackend, join_relpath

__all__ = ["listed_paths", "stale_files", "stale_uploads"]


def listed_paths(prefix: str, manifest: Manifest | None) -> list[str]:
    """Where the files a manifest of the partition at ``prefix`` lists are, relative to the backend root."""
    if manifest is None:
        return []
    base = prefix.rpartition("/")[0] if manifest.shared else prefix
    return [join_relpath(base, f.path) for f in manifest.files]


def stale_files(
    backend: StorageBackend, prefix: str, current: Manifest, previous: Manifest | None
) -> list[str]:
    """The files to delete now that ``current``, the partition's manifest, has replaced ``previous``."""
    replaced = previous.attempt if previous else None
    others = sorted(
        {p.rpartition("/")[0] for p in listed_paths(prefix, previous)} - {prefix}
        if previous is not None and previous.shared
        else set()
    )
    # One set for every folder swept: a folder's files can only be listed by manifests at or after it, so
    # the files listed by every manifest from the first swept folder on are, within each folder, exactly
    # those of the manifests at or after it (one set per folder made a re-run of a year-old day quadratic).
    referenced = _referenced(prefix, _later_manifests(backend, prefix, current, min([prefix, *others])))
    stale = _stale_in(backend, prefix, current.attempt, replaced, referenced)
    for folder in others:
        owner = _manifest_at(backend, folder)
        if owner is not None:
            stale += _stale_in(backend, folder, owner.attempt, None, referenced)
    return stale


def _stale_in(
    backend: StorageBackend, folder: str, attempt: str, replaced: str | None, referenced: set[str]
) -> list[str]:
    """Files under ``folder`` of attempts older than ``attempt`` (or the replaced one) that no committed
    manifest lists; a file of a newer attempt may belong to a writer still running."""
    stale = []
    staged = join_relpath(folder, staged_metadata_name(attempt))
    for relpath in backend.list_files(folder):
        name = relpath[len(folder) + 1 :] if folder else relpath
        file_attempt = attempt_of(name)
        if relpath in referenced or relpath == staged or file_attempt is None:
            continue
        if file_attempt < attempt or file_attempt == replaced:
            stale.append(relpath)
    return stale


def _manifest_at(backend: StorageBackend, folder: str) -> Manifest | None:
    try:
        return Manifest.from_json(backend.read_bytes(join_relpath(folder, CHECKSUMS_NAME)))
    except (FileNotFoundError, ValueError):
        return None


def _later_manifests(
    backend: StorageBackend, prefix: str, current: Manifest, first: str
) -> dict[str, Manifest]:
    """Committed manifests of the partitions from ``first`` on (by folder), read once per clean-up.

    Only a partition at or after a folder can list that folder's files (a day carries the day before
    forward), so cleaning up the newest day reads no other partition's manifest.
    """
    found: dict[str, Manifest] = {}
    if current.shared:
        root, _, folder = prefix.rpartition("/")
        kind = folder.split("=")[0] + "="
        start = first.rpartition("/")[2]
        for name in backend.list_dirs(root):
            if name.startswith(kind) and name >= start and name != folder:
                manifest = _manifest_at(backend, join_relpath(root, name))
                if manifest is not None:
                    found[join_relpath(root, name)] = manifest
    found[prefix] = current
    return found


def _referenced(prefix: str, manifests: dict[str, Manifest]) -> set[str]:
    """Files listed by ``manifests`` (by partition folder), relative to the backend root."""
    referenced: set[str] = set()
    root = prefix.rpartition("/")[0]
    for where, manifest in manifests.items():
        base = root if manifest.shared else where
        referenced.update(join_relpath(base, f.path) for f in manifest.files)
    return referenced


def stale_uploads(
    backend: StorageBackend, prefix: str, current: Manifest, previous: Manifest | None
) -> list[tuple[str, str]]:
    """Unfinished uploads under the partition's folder (an S3 multipart upload of a killed writer) of
    attempts older than ``current``'s or of the replaced one: by the rule of :func:`stale_files`, a newer
    attempt's may be a writer still uploading."""
    replaced = previous.attempt if previous else None
    stale = []
    for relpath, upload in backend.unfinished_uploads(prefix):
        file_attempt = attempt_of(relpath)
        if file_attempt is not None and (file_attempt < current.attempt or file_attempt == replaced):
            stale.append((relpath, upload))
    return stale
