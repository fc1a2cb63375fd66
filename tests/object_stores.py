"""Real object-store servers for the tests: moto's S3 server in a thread and Azurite in a subprocess.

``s3_endpoint`` starts ``moto.server.ThreadedMotoServer`` on a free port (one per test worker);
``s3_auth_endpoint`` is a second moto server, in a subprocess, that checks credentials (a wrong key is
HTTP 403). ``azurite_endpoint`` installs ``azurite@3.35.0`` with npm into ``tests/.azurite/`` (once, under
a file lock, ~20 s) and starts ``azurite-blob`` on a free port. When moto or node/npm are missing, the
tests that need them are skipped (failed in CI) through ``require_service``. ``new_bucket``/``new_container``
give each test its own bucket or container.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from service_gate import require_service

AZURITE_VERSION = "3.35.0"


AZURITE_DIR = Path(__file__).resolve().parent / ".azurite"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


_CLIENTS: dict[str, Any] = {}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class S3Endpoint:
    url: str
    key: str = "test"
    secret: str = "test"
    region: str = "us-east-1"

    def env(self) -> dict[str, str]:
        return {
            "MEDALLION_S3_ENDPOINT": self.url,
            "AWS_ACCESS_KEY_ID": self.key,
            "AWS_SECRET_ACCESS_KEY": self.secret,
        }

    @staticmethod
    def connection_config() -> dict[str, str]:
        """``platform.s3_connection`` naming the variables of :meth:`env` (path-style, as moto serves)."""
        return {
            "endpoint_url_env": "MEDALLION_S3_ENDPOINT",
            "access_key_env": "AWS_ACCESS_KEY_ID",
            "secret_key_env": "AWS_SECRET_ACCESS_KEY",
            "region": "us-east-1",
            "addressing_style": "path",
        }

    def client(self) -> Any:
        """A boto3 S3 client of the server (made once: building one takes about a second)."""
        if self.url not in _CLIENTS:
            import boto3

            _CLIENTS[self.url] = boto3.client(
                "s3",
                endpoint_url=self.url,
                aws_access_key_id=self.key,
                aws_secret_access_key=self.secret,
                region_name=self.region,
            )
        return _CLIENTS[self.url]

    def create_bucket(self, name: str | None = None) -> str:
        name = name or f"b-{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(Bucket=name)
        return name


@dataclass(frozen=True)
class AzureEndpoint:
    blob_url: str

    @property
    def connection_string(self) -> str:
        return (
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
            f"AccountKey={AZURITE_KEY};BlobEndpoint={self.blob_url};"
        )

    def env(self) -> dict[str, str]:
        return {"AZURE_STORAGE_CONNECTION_STRING": self.connection_string}

    def create_container(self, name: str | None = None) -> str:
        from azure.storage.blob import BlobServiceClient

        name = name or f"c-{uuid.uuid4().hex[:16]}"
        with BlobServiceClient.from_connection_string(self.connection_string) as client:
            client.create_container(name)
        return name


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[S3Endpoint]:
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        require_service(False, "moto[server] is missing: pip install -e '.[dev]'")
        raise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield S3Endpoint(url=f"http://{host}:{port}")
    finally:
        server.stop()


@dataclass(frozen=True)
class S3AuthEndpoint:
    """A moto S3 server that checks credentials: ``endpoint`` holds the key pair of a user allowed
    everything, ``bucket`` a bucket of it; any other key pair is refused with HTTP 403."""

    endpoint: S3Endpoint
    bucket: str


@pytest.fixture(scope="session")
def s3_auth_endpoint() -> Iterator[S3AuthEndpoint]:
    """moto's server in a subprocess with IAM checks on (``INITIAL_NO_AUTH_ACTION_COUNT``: the first four
    requests, which make the user, its policy, its key and the bucket, go unchecked)."""
    try:
        import boto3
        import moto.server  # noqa: F401
    except ImportError:
        require_service(False, "moto[server] is missing: pip install -e '.[dev]'")
        raise
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env={**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "4"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        require_service(_wait_for_port(port, proc), f"moto.server did not start on port {port}")
        url = f"http://127.0.0.1:{port}"
        anyone = {"endpoint_url": url, "region_name": "us-east-1"}
        anyone.update(aws_access_key_id="unchecked", aws_secret_access_key="unchecked")
        iam = boto3.client("iam", **anyone)
        iam.create_user(UserName="lake")
        iam.put_user_policy(
            UserName="lake",
            PolicyName="everything",
            PolicyDocument='{"Version": "2012-10-17", "Statement": '
            '[{"Effect": "Allow", "Action": "*", "Resource": "*"}]}',
        )
        key = iam.create_access_key(UserName="lake")["AccessKey"]
        bucket = f"b-{uuid.uuid4().hex[:16]}"
        boto3.client("s3", **anyone).create_bucket(Bucket=bucket)
        yield S3AuthEndpoint(S3Endpoint(url, key["AccessKeyId"], key["SecretAccessKey"]), bucket)
    finally:
        _stop(proc)


def _install_azurite() -> Path | None:
    """``tests/.azurite/node_modules/.bin/azurite-blob``, installed once (None when npm is missing)."""
    if shutil.which("npm") is None or shutil.which("node") is None:
        return None
    binary = AZURITE_DIR / "node_modules" / ".bin" / "azurite-blob"
    AZURITE_DIR.mkdir(exist_ok=True)
    with open(AZURITE_DIR / ".install.lock", "w") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        if not binary.exists():
            result = subprocess.run(
                [
                    "npm",
                    "install",
                    "--no-audit",
                    "--no-fund",
                    "--prefix",
                    str(AZURITE_DIR),
                    f"azurite@{AZURITE_VERSION}",
                ],
                capture_output=True,
                text=True,
                timeout=300,
            )
            if result.returncode != 0:
                return None
    return binary if binary.exists() else None


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
        time.sleep(0.1)
    return False


@pytest.fixture(scope="session")
def azurite_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzureEndpoint]:
    binary = _install_azurite()
    require_service(
        binary is not None,
        f"Azurite needs node and npm (npm install azurite@{AZURITE_VERSION} into tests/.azurite failed "
        "or npm is missing); install Node.js 20 and npm",
    )
    assert binary is not None
    location = tmp_path_factory.mktemp("azurite")
    port = free_port()
    proc = subprocess.Popen(
        [
            str(binary),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(port),
            "--location",
            str(location),
            "--disableTelemetry",
            "--skipApiVersionCheck",
            "--loose",
            "--silent",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ},
    )
    try:
        require_service(_wait_for_port(port, proc), f"azurite-blob did not start on port {port}")
        yield AzureEndpoint(blob_url=f"http://127.0.0.1:{port}/devstoreaccount1")
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """A test server's process ended: asked to, then killed after 10 s."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
