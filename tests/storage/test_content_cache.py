"""The process's cache of what it decoded from verified files: by content, bounded, keeps no failure."""

from __future__ import annotations

import pytest

from medallion_resources.errors import IntegrityError
from medallion_resources.lake.content_cache import ContentCache
from medallion_resources.lake.manifest import ManifestFile


def _file(sha: str, size: int = 10) -> ManifestFile:
    return ManifestFile(path="f.parquet", artifact="current", size_bytes=size, sha256=sha, row_count=1)


def test_a_file_is_computed_once_per_location_and_content() -> None:
    cache: ContentCache[str] = ContentCache(100, len)
    calls: list[str] = []

    def compute(value: str) -> str:
        calls.append(value)
        return value

    assert cache.get("s3://b/x/1.parquet", _file("a"), lambda: compute("one")) == "one"
    assert cache.get("s3://b/x/1.parquet", _file("a"), lambda: compute("two")) == "one"
    # The same bytes elsewhere are read on their own (damage there is that file's to report).
    assert cache.get("s3://b/y/2.parquet", _file("a"), lambda: compute("three")) == "three"
    # The same place listed with another content (a re-run's new attempt): read again.
    assert cache.get("s3://b/x/1.parquet", _file("b"), lambda: compute("four")) == "four"
    assert cache.get("s3://b/x/1.parquet", _file("a", size=11), lambda: compute("five")) == "five"
    assert calls == ["one", "three", "four", "five"]


def test_the_least_recently_used_go_beyond_the_budget() -> None:
    cache: ContentCache[str] = ContentCache(10, len)
    cache.get("f", _file("a"), lambda: "aaaa")
    cache.get("f", _file("b"), lambda: "bbbb")
    cache.get("f", _file("a"), lambda: "never")  # a is now the most recent
    cache.get("f", _file("c"), lambda: "cccc")  # 12 bytes > 10: b goes
    assert cache.held_bytes == 8
    assert cache.get("f", _file("a"), lambda: "new a") == "aaaa"
    assert cache.get("f", _file("b"), lambda: "new b") == "new b"
    assert cache.get("f", _file("big"), lambda: "x" * 11) == "x" * 11  # larger than the budget: not kept
    assert cache.get("f", _file("big"), lambda: "again") == "again"


def test_a_failed_read_keeps_nothing() -> None:
    cache: ContentCache[str] = ContentCache(100, len)

    def corrupt() -> str:
        raise IntegrityError("f.parquet has SHA-256 ..., the manifest says a")

    with pytest.raises(IntegrityError):
        cache.get("f", _file("a"), corrupt)
    assert cache.held_bytes == 0
    assert cache.get("f", _file("a"), lambda: "good") == "good"
