"""Storage retries do not stack on the libraries' own: one failing call costs ``max_attempts`` requests.

botocore retries each request up to 5 times, s3fs a call on connection errors and SlowDown, the Azure SDK
each request 3 times after 15 s or more. Under medallion's ``RetryingBackend`` those multiplied the
configured budget, so the backends are built with the libraries' retries off (docs/storage.md). A real HTTP
server on 127.0.0.1 that always answers 503 counts the requests that reach it. Streams opened for reading
are retried by medallion instead: a broken read re-opens the object at its offset.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import BinaryIO

import fsspec
import pytest
from object_stores import AZURITE_KEY

from medallion_assets.errors import StorageError
from medallion_resources.lake.parts import hash_stream
from medallion_resources.retry import RetryPolicy
from medallion_resources.storage import FsspecBackend
from medallion_resources.storage.azure import AzureBackend, AzureSettings
from medallion_resources.storage.s3 import S3Backend, S3Settings
from medallion_resources.storage.wrappers import RetryingBackend

ATTEMPTS = 3
POLICY = RetryPolicy(max_attempts=ATTEMPTS, base_delay_seconds=0.001, max_delay_seconds=0.01)


class _Busy(BaseHTTPRequestHandler):
    """Every request: 503 with the S3 (SlowDown) and Azure (ServerBusy) error bodies' essentials."""

    hits = 0
    lock = threading.Lock()

    def _answer(self) -> None:
        with _Busy.lock:
            _Busy.hits += 1
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        body = b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
        self.send_response(503)
        self.send_header("content-type", "application/xml")
        self.send_header("x-ms-error-code", "ServerBusy")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def busy_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Busy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Busy.hits = 0
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_s3_one_failing_read_costs_max_attempts_requests(busy_server: str) -> None:
    settings = S3Settings(endpoint_url=busy_server, key="test", secret="test", region="us-east-1")
    backend = RetryingBackend(S3Backend("lake", "", settings), POLICY)
    with pytest.raises(StorageError, match=rf"read_bytes s3://lake/x failed after {ATTEMPTS} attempt"):
        backend.read_bytes("x")
    assert _Busy.hits == ATTEMPTS


def test_azure_one_failing_read_costs_max_attempts_requests(busy_server: str) -> None:
    settings = AzureSettings(
        connection_string=(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
            f"AccountKey={AZURITE_KEY};BlobEndpoint={busy_server}/devstoreaccount1;"
        )
    )
    backend = RetryingBackend(AzureBackend("lake", "", settings), POLICY, secrets=settings.secrets)
    with pytest.raises(StorageError, match=rf"failed after {ATTEMPTS} attempt") as info:
        backend.read_bytes("x")
    assert AZURITE_KEY not in str(info.value)
    assert _Busy.hits == ATTEMPTS


class _BreaksMidStream(FsspecBackend):
    """A memory-filesystem backend whose streams drop the connection past ``good`` bytes, ``breaks`` times."""

    def __init__(self, root: str, breaks: int, good: int) -> None:
        super().__init__(fsspec.filesystem("memory"), root)
        self.breaks, self.good, self.opened = breaks, good, 0

    def open_read(self, relpath: str) -> BinaryIO:
        self.opened += 1
        stream = super().open_read(relpath)
        backend = self
        original = stream.read

        def read(size: int = -1) -> bytes:
            if backend.breaks and stream.tell() + max(size, 0) > backend.good:
                backend.breaks -= 1
                raise ConnectionResetError(104, "Connection reset by peer")
            return original(size)

        stream.read = read  # type: ignore[method-assign]
        return stream


@pytest.mark.parametrize("breaks", [1, 2])
def test_a_stream_that_breaks_is_reopened_at_its_offset(breaks: int) -> None:
    data = bytes(range(256)) * 40_000  # 10 MB: several chunks of hash_stream
    inner = _BreaksMidStream(f"/one-retry-layer-{uuid.uuid4().hex}", breaks=breaks, good=3 * 1024 * 1024)
    inner.put_bytes("part.parquet", data)
    backend = RetryingBackend(inner, POLICY)
    with backend.open_read("part.parquet") as stream:
        assert hash_stream(stream) == (len(data), hashlib.sha256(data).hexdigest())
    assert inner.opened == 1 + breaks


def test_a_stream_that_keeps_breaking_spends_the_budget() -> None:
    inner = _BreaksMidStream(f"/one-retry-layer-{uuid.uuid4().hex}", breaks=100, good=10)
    inner.put_bytes("part.parquet", b"x" * 100)
    backend = RetryingBackend(inner, POLICY)
    with (
        backend.open_read("part.parquet") as stream,
        pytest.raises(
            StorageError,
            match=rf"read memory:///one-retry-layer-.*/part.parquet failed after {ATTEMPTS} attempt",
        ),
    ):
        stream.read(50)
