"""The backend contract, run against the local and the memory backend; then what only local does."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from medallion_assets.errors import StorageError
from medallion_resources.storage import FsspecBackend, LocalBackend, StorageBackend, join_relpath


class TestBackendContract:
    def test_put_bytes_then_read(self, backend: StorageBackend) -> None:
        backend.put_bytes("a/b/c.json", b"{}")
        assert backend.read_bytes("a/b/c.json") == b"{}"
        assert backend.exists("a/b/c.json")
        assert backend.size("a/b/c.json") == 2
        with backend.open_read("a/b/c.json") as stream:
            assert stream.read() == b"{}"

    def test_put_bytes_replaces(self, backend: StorageBackend) -> None:
        backend.put_bytes("x.txt", b"old")
        backend.put_bytes("x.txt", b"new and longer")
        assert backend.read_bytes("x.txt") == b"new and longer"

    def test_put_file_moves_the_local_file(self, backend: StorageBackend, tmp_path: Path) -> None:
        local = tmp_path / "part.bin"
        local.write_bytes(b"parquet bytes")
        backend.put_file(local, "d/part.bin")
        assert backend.read_bytes("d/part.bin") == b"parquet bytes"
        assert not local.exists()

    @pytest.mark.parametrize("operation", ["read_bytes", "open_read", "size"])
    def test_missing_file_is_file_not_found(self, backend: StorageBackend, operation: str) -> None:
        with pytest.raises(FileNotFoundError, match="nope"):
            getattr(backend, operation)("nope/missing.bin")

    def test_modified_is_the_stores_time_of_the_last_write(self, backend: StorageBackend) -> None:
        """The commit judges a killed writer by two of these stamps (``lake.commit``), so every store gives
        one, in UTC, that moves forward when the object is written again."""
        before = datetime.now(UTC) - timedelta(minutes=5)  # the store's clock and ours: about alike here
        backend.put_bytes("clock/a.json", b"one")
        first = backend.modified("clock/a.json")
        assert first is not None and first.utcoffset() == timedelta(0)
        assert before < first < datetime.now(UTC) + timedelta(minutes=5)
        time.sleep(1.1)  # object stores stamp to the second
        backend.put_bytes("clock/a.json", b"two")
        second = backend.modified("clock/a.json")
        assert second is not None and second > first
        with pytest.raises(FileNotFoundError):
            backend.modified("clock/never.json")

    def test_exists_is_false_for_missing_and_folders(self, backend: StorageBackend) -> None:
        backend.put_bytes("folder/file", b"1")
        assert not backend.exists("folder/other")
        assert not backend.exists("folder")

    def test_list_files_is_recursive_and_sorted(self, backend: StorageBackend) -> None:
        for path in ["p/b.txt", "p/a.txt", "p/_errors/e.txt", "q/z.txt"]:
            backend.put_bytes(path, b"x")
        assert backend.list_files("p") == ["p/_errors/e.txt", "p/a.txt", "p/b.txt"]
        assert backend.list_files("") == ["p/_errors/e.txt", "p/a.txt", "p/b.txt", "q/z.txt"]
        assert backend.list_files("missing") == []

    def test_list_dirs_gives_immediate_child_folder_names(self, backend: StorageBackend) -> None:
        for path in ["t/dt=2026-01-02/x", "t/dt=2026-01-01/x", "t/dt=2026-01-01/sub/y", "t/file"]:
            backend.put_bytes(path, b"x")
        assert backend.list_dirs("t") == ["dt=2026-01-01", "dt=2026-01-02"]
        assert backend.list_dirs("missing") == []

    def test_delete_ignores_missing_files(self, backend: StorageBackend) -> None:
        backend.put_bytes("k/1", b"1")
        backend.put_bytes("k/2", b"2")
        backend.delete(["k/1", "k/never-there"])
        assert backend.list_files("k") == ["k/2"]

    def test_check_round_trips_a_scratch_object(self, backend: StorageBackend) -> None:
        result = backend.check()
        assert result.ok, result.detail
        assert backend.list_files("_medallion_check") == []

    def test_relpaths_cannot_escape_the_root(self, backend: StorageBackend) -> None:
        with pytest.raises(StorageError, match=r"must stay under the backend root"):
            backend.put_bytes("../outside.txt", b"x")

    def test_join_relpath(self) -> None:
        assert join_relpath("a/", "", "/b/c", "d") == "a/b/c/d"


class TestLocalBackend:
    def test_uri_is_a_file_uri(self, local_backend: LocalBackend, tmp_path: Path) -> None:
        assert local_backend.uri("x/y.parquet") == (tmp_path / "lake" / "x" / "y.parquet").as_uri()

    def test_relative_root_resolves_against_cwd(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.chdir(tmp_path)
        assert LocalBackend("lake/bronze").root == str(tmp_path / "lake" / "bronze")

    def test_put_bytes_leaves_no_temp_files(self, local_backend: LocalBackend, tmp_path: Path) -> None:
        local_backend.put_bytes("p/_checksums.json", b"{}")
        assert sorted(os.listdir(tmp_path / "lake" / "p")) == ["_checksums.json"]

    def test_failed_put_bytes_keeps_the_old_object(
        self, local_backend: LocalBackend, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        local_backend.put_bytes("p/m.json", b"old")

        def broken_replace(src: str, dst: str) -> None:
            raise OSError(errno.EIO, "disk on fire")

        monkeypatch.setattr(os, "replace", broken_replace)
        with pytest.raises(StorageError, match=r"put_bytes .*m\.json failed.*disk on fire"):
            local_backend.put_bytes("p/m.json", b"new")
        monkeypatch.undo()
        assert local_backend.read_bytes("p/m.json") == b"old"
        assert os.listdir(tmp_path / "lake" / "p") == ["m.json"]

    def test_put_file_across_devices_copies(
        self, local_backend: LocalBackend, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        real_replace = os.replace
        calls: list[str] = []

        def cross_device_once(src: str, dst: str) -> None:
            if not calls:
                calls.append(src)
                raise OSError(errno.EXDEV, "Invalid cross-device link")
            real_replace(src, dst)

        monkeypatch.setattr(os, "replace", cross_device_once)
        local = tmp_path / "elsewhere.bin"
        local.write_bytes(b"payload" * 1000)
        local_backend.put_file(local, "p/part.bin")
        assert local_backend.read_bytes("p/part.bin") == b"payload" * 1000
        assert not local.exists()
        assert local_backend.list_files("p") == ["p/part.bin"]

    def test_staging_folder_is_hidden_from_listings(self, local_backend: LocalBackend) -> None:
        staging = Path(local_backend.staging_dir())
        (staging / "leftover.parquet").write_bytes(b"x")
        local_backend.put_bytes("t/dt=2026-01-01/f", b"x")
        assert local_backend.list_dirs("") == ["t"]
        assert local_backend.list_files("") == ["t/dt=2026-01-01/f"]

    def test_commit_lock_excludes_other_processes(self, local_backend: LocalBackend) -> None:
        pytest.importorskip("fcntl")
        probe = textwrap.dedent(
            """
            import fcntl, glob, sys
            (path,) = glob.glob(sys.argv[1] + "/*.lock")
            with open(path, "a+b") as handle:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    print("locked")
                else:
                    print("free")
            """
        )
        locks = os.path.join(local_backend.staging_dir(), "locks")
        with local_backend.lock("t/dt=2026-01-01"):
            inside = subprocess.run([sys.executable, "-c", probe, locks], capture_output=True, text=True)
        after = subprocess.run([sys.executable, "-c", probe, locks], capture_output=True, text=True)
        assert (inside.stdout.strip(), after.stdout.strip()) == ("locked", "free"), inside.stderr

    def test_check_reports_an_unwritable_root(self, tmp_path: Path) -> None:
        blocker = tmp_path / "not-a-folder"
        blocker.write_text("a file where the root should be")
        result = LocalBackend(blocker).check()
        assert not result.ok
        assert "not-a-folder" in result.detail


class TestFsspecBackend:
    def test_memory_uri(self, memory_backend: FsspecBackend) -> None:
        assert memory_backend.uri("a/b").startswith("memory://")
        assert memory_backend.uri("a/b").endswith(f"{memory_backend.root}/a/b")
