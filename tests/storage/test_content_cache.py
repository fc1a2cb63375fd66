"""The process's cache of what it decoded from verified files: by content, bounded, keeps no failure."""

from __future__ import annotations

import pytest

from medallion_resources.errors import IntegrityError
from medallion_resources.lake.content_cache import ContentCache
from medallion_resources.lake.manifest import ManifestFile


def _file(sha: str, size: int = 10, path: str = "f.parquet") -> ManifestFile:
    return ManifestFile(path=path, artifact="current", size_bytes=size, sha256=sha, row_count=1)


def test_the_same_content_is_computed_once_whatever_the_path() -> None:
    cache: ContentCache[str] = ContentCache(100, len)
    calls: list[str] = []

    def compute(value: str) -> str:
        calls.append(value)
        return value

    assert cache.get(_file("a", path="x/1.parquet"), lambda: compute("one")) == "one"
    assert cache.get(_file("a", path="y/2.parquet"), lambda: compute("two")) == "one"  # same bytes
    assert cache.get(_file("a", size=11), lambda: compute("three")) == "three"  # other size: other key
    assert calls == ["one", "three"]


def test_the_least_recently_used_go_beyond_the_budget() -> None:
    cache: ContentCache[str] = ContentCache(10, len)
    cache.get(_file("a"), lambda: "aaaa")
    cache.get(_file("b"), lambda: "bbbb")
    cache.get(_file("a"), lambda: "never")  # a is now the most recent
    cache.get(_file("c"), lambda: "cccc")  # 12 bytes > 10: b goes
    assert cache.held_bytes == 8
    assert cache.get(_file("a"), lambda: "new a") == "aaaa"
    assert cache.get(_file("b"), lambda: "new b") == "new b"
    assert cache.get(_file("big"), lambda: "x" * 11) == "x" * 11  # larger than the budget: not kept
    assert cache.get(_file("big"), lambda: "again") == "again"


def test_a_failed_read_keeps_nothing() -> None:
    cache: ContentCache[str] = ContentCache(100, len)

    def corrupt() -> str:
        raise IntegrityError("f.parquet has SHA-256 ..., the manifest says a")

    with pytest.raises(IntegrityError):
        cache.get(_file("a"), corrupt)
    assert cache.held_bytes == 0
    assert cache.get(_file("a"), lambda: "good") == "good"
