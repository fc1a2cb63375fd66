"""The S3 backend (AWS S3, MinIO and other S3-compatible stores) through s3fs.

YAML::

    platform:
      bronze:
        storage_backend: s3
        s3_bucket: my-lake
        s3_prefix: bronze                # optional key prefix
        options: {upload_concurrency: 4, multipart_chunksize_mb: 50, retry: {max_attempts: 6}}
      s3_connection:                     # optional; without it the default AWS chain is used
        endpoint_url_env: MEDALLION_S3_ENDPOINT   # MinIO, Ceph, moto ... (unset: AWS)
        access_key_env: AWS_ACCESS_KEY_ID
        secret_key_env: AWS_SECRET_ACCESS_KEY
        session_token_env: AWS_SESSION_TOKEN
        region: us-east-1
        profile: analytics               # a profile of ~/.aws/config instead of keys
        addressing_style: path           # auto | path | virtual (MinIO wants path)
        verify_ssl: true

Credentials are read from the environment variables *named* in ``s3_connection``; a named variable that is
unset falls back to the default AWS chain (environment, profile, instance or task role), so the same config
runs on a laptop and on EC2/EKS. Setting only one of the key pair is an error.

Guarantees: a single PUT is atomic in S3, so ``put_bytes`` (manifests, metadata) is; part files are uploaded
with s3fs, which switches to multipart uploads above ``multipart_chunksize_mb``. The manifest commit uses
S3's conditional writes (``If-None-Match: *`` to create, ``If-Match: <ETag>`` to replace; AWS since 2024,
MinIO, moto), so two writers on two machines cannot both replace the same manifest.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from typing import Any, ClassVar, cast

import fsspec.asyn

from medallion_resources.errors import StorageError
from medallion_resources.retry import exception_chain
from medallion_resources.storage.base import FsspecBackend, StorageBackend
from medallion_resources.storage.retry import check_options, policy_from_options
from medallion_resources.storage.settings import LayerSettings, PlatformSettings, S3ConnectionSettings

__all__ = ["S3Backend", "S3Settings", "make_s3_backend"]

_KEY = "platform.s3_connection"


def _env(conn: S3ConnectionSettings | None, attr: str) -> str | None:
    name = getattr(conn, attr, None) if conn is not None else None
    if not name:
        return None
    value = os.environ.get(name)
    return value or None


@dataclass(frozen=True)
class S3Settings:
    """Resolved S3 connection settings (secrets included, never printed)."""

    endpoint_url: str | None = None
    key: str | None = field(default=None, repr=False)
    secret: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    region: str | None = None
    profile: str | None = None
    addressing_style: str = "auto"
    verify_ssl: bool = True

    @classmethod
    def from_config(cls, conn: S3ConnectionSettings | None) -> S3Settings:
        """Read the variables ``conn`` names; a half-set key pair is an error naming key and variable."""
        key, secret = _env(conn, "access_key_env"), _env(conn, "secret_key_env")
        if bool(key) != bool(secret):
            have, missing = (
                ("access_key_env", "secret_key_env") if key else ("secret_key_env", "access_key_env")
            )
            raise StorageError(
                f"{_KEY}: the variable named by {have} is set but the one named by {missing} "
                f"({getattr(conn, missing, None) or 'not configured'}) is not; set both, or neither to use "
                "the default AWS credential chain"
            )
        return cls(
            endpoint_url=_env(conn, "endpoint_url_env"),
            key=key,
            secret=secret,
            token=_env(conn, "session_token_env"),
            region=conn.region if conn else None,
            profile=conn.profile if conn else None,
            addressing_style=conn.addressing_style if conn else "auto",
            verify_ssl=conn.verify_ssl if conn else True,
        )

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.key, self.secret, self.token) if s)

    def fsspec_options(self) -> dict[str, Any]:
        """``s3fs.S3FileSystem`` keyword arguments (also used by the file extractor for ``s3://`` sources)."""
        options: dict[str, Any] = {}
        if self.key:
            options.update(key=self.key, secret=self.secret)
            if self.token:
                options["token"] = self.token
        elif self.profile:
            options["profile"] = self.profile
        if self.endpoint_url:
            options["endpoint_url"] = self.endpoint_url
        client_kwargs: dict[str, Any] = {}
        if self.region:
            client_kwargs["region_name"] = self.region
        if not self.verify_ssl:
            client_kwargs["verify"] = False
        if client_kwargs:
            options["client_kwargs"] = client_kwargs
        if self.addressing_style != "auto":
            options["config_kwargs"] = {"s3": {"addressing_style": self.addressing_style}}
        return options


def _precondition_failed(exc: BaseException) -> bool:
    for current in exception_chain(exc, limit=5):
        response = getattr(current, "response", None)
        if isinstance(response, dict):
            code = str(response.get("Error", {}).get("Code", ""))
            status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in {"PreconditionFailed", "ConditionalRequestConflict"} or status in {409, 412}:
                return True
        if isinstance(current, FileExistsError):  # s3fs's translation of a failed If-None-Match
            return True
        text = str(current)
        if any(m in text for m in ("PreconditionFailed", "ConditionalRequestConflict", "pre-conditions")):
            return True
    return False


class S3Backend(FsspecBackend):
    """Objects under ``s3://<bucket>/<prefix>``; see the module docstring for the YAML."""

    name: ClassVar[str] = "s3"
    atomic_conditional_put: ClassVar[bool] = True
    version_field: ClassVar[str | None] = "ETag"

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        settings: S3Settings | None = None,
        *,
        chunksize_mb: float = 50,
        upload_concurrency: int = 4,
    ) -> None:
        import s3fs

        self.settings = settings or S3Settings()
        self.secrets = self.settings.secrets
        self.bucket = bucket
        self.upload_concurrency = max(1, upload_concurrency)
        options = self.settings.fsspec_options()
        # One retry layer: medallion's RetryingBackend. botocore (5 tries per request) and s3fs (5 tries per
        # call) would multiply its budget, so both are off here (file sources keep them: no wrapper there).
        options["config_kwargs"] = {**options.get("config_kwargs", {}), "retries": {"total_max_attempts": 1}}
        fs = s3fs.S3FileSystem(
            skip_instance_cache=True,
            use_listings_cache=False,
            default_block_size=int(chunksize_mb * 1024 * 1024),
            **options,
        )
        fs.retries = 1  # s3fs's own loop: one try (0 would never call)
        self.chunksize = max(5 * 1024 * 1024, int(chunksize_mb * 1024 * 1024))
        super().__init__(fs, f"{bucket}/{prefix.strip('/')}".rstrip("/"))

    credentials_hint: ClassVar[str] = (
        "check the credentials of s3_connection (the key pair its variables hold, the profile, or the role "
        "of the default chain) and that they may use the bucket (s3:ListBucket on it; s3:GetObject, "
        "s3:PutObject and s3:DeleteObject under the prefix)"
    )

    def _error_status(self, exc: BaseException) -> tuple[int | None, str | None]:
        """botocore's status and error code (s3fs keeps its ``ClientError`` as the cause, mostly)."""
        for current in exception_chain(exc, limit=5):
            response = getattr(current, "response", None)
            if isinstance(response, dict):
                status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                code = response.get("Error", {}).get("Code")
                return (status if isinstance(status, int) else None), (str(code) if code else None)
        return None, None

    def _ensure_parent(self, full: str) -> None:
        """Object stores have no folders (and s3fs would try to create a missing bucket)."""

    def _root_problem(self) -> str | None:
        """The bucket does not exist (HEAD bucket: 404); None when it does, or when the answer says nothing
        (403: a bucket of another account, or no ``s3:ListBucket``; a transient fault)."""

        async def head() -> None:
            await self.fs._call_s3("head_bucket", Bucket=self.bucket)

        try:
            fsspec.asyn.sync(self.fs.loop, head)
        except FileNotFoundError:  # s3fs's translation of 404 / NoSuchBucket
            endpoint = self.settings.endpoint_url  # shown redacted (``FsspecBackend._check_root``)
            where = f" at {endpoint}" if endpoint else ""
            return (
                f"the bucket '{self.bucket}'{where} does not exist (s3_bucket): create it, or set s3_bucket "
                "to a bucket that exists"
            )
        except Exception:  # noqa: BLE001 - cannot tell: the miss stays a miss
            return None
        return None

    def _bucket_key(self, relpath: str) -> tuple[str, str]:
        bucket, _, key = self.full_path(relpath).partition("/")
        return bucket, key

    def put_file(self, local_path: Any, relpath: str) -> None:
        from pathlib import Path

        full = self.full_path(relpath)
        with self._op("put_file", relpath):
            self.fs.put_file(str(local_path), full, chunksize=self.chunksize)
        Path(local_path).unlink(missing_ok=True)

    def unfinished_uploads(self, prefix: str) -> list[tuple[str, str]]:
        bucket, key = self._bucket_key(prefix)
        folder = f"{key}/" if key else ""

        async def listed() -> list[tuple[str, str]]:
            found: list[tuple[str, str]] = []
            markers: dict[str, str] = {}
            while True:
                page = await self.fs._call_s3(
                    "list_multipart_uploads", Bucket=bucket, Prefix=folder, **markers
                )
                found += [(str(u["Key"]), str(u["UploadId"])) for u in page.get("Uploads", [])]
                if not page.get("IsTruncated"):
                    return found
                markers = {"KeyMarker": page["NextKeyMarker"], "UploadIdMarker": page["NextUploadIdMarker"]}

        with self._op("unfinished_uploads", prefix):
            uploads = cast(list[tuple[str, str]], fsspec.asyn.sync(self.fs.loop, listed))
        return [(self._relpath(f"{bucket}/{k}"), upload) for k, upload in uploads]

    def abort_upload(self, relpath: str, upload_id: str) -> None:
        bucket, key = self._bucket_key(relpath)

        async def abort() -> None:
            await self.fs._call_s3("abort_multipart_upload", Bucket=bucket, Key=key, UploadId=upload_id)

        with contextlib.suppress(FileNotFoundError), self._op("abort_upload", relpath):  # NoSuchUpload
            fsspec.asyn.sync(self.fs.loop, abort)

    def read_versioned(self, relpath: str) -> tuple[bytes, str]:
        bucket, key = self._bucket_key(relpath)

        async def get() -> tuple[bytes, str]:
            resp = await self.fs._call_s3("get_object", Bucket=bucket, Key=key)
            body = resp["Body"]
            try:
                data = await body.read()
            finally:
                body.close()
            return bytes(data), str(resp["ETag"])

        with self._op("read_versioned", relpath):
            return cast(tuple[bytes, str], fsspec.asyn.sync(self.fs.loop, get))

    def put_bytes_if(self, relpath: str, data: bytes, expected_version: str | None) -> bool:
        bucket, key = self._bucket_key(relpath)
        condition = {"IfNoneMatch": "*"} if expected_version is None else {"IfMatch": expected_version}

        async def put() -> None:
            await self.fs._call_s3("put_object", Bucket=bucket, Key=key, Body=data, **condition)

        try:
            with self._op("put_bytes_if", relpath):
                fsspec.asyn.sync(self.fs.loop, put)
        except (StorageError, OSError) as exc:
            if _precondition_failed(exc):
                return False
            raise
        return True


def make_s3_backend(layer: LayerSettings, platform: PlatformSettings) -> StorageBackend:
    """The registry factory of ``storage_backend: s3``: an ``S3Backend`` behind retries."""
    from medallion_resources.storage.wrappers import RetryingBackend

    if not layer.s3_bucket:
        raise StorageError("storage_backend 's3' needs 's3_bucket'")
    options = layer.options
    check_options("s3", options, {"upload_concurrency", "multipart_chunksize_mb", "retry"})
    settings = S3Settings.from_config(platform.s3_connection)
    backend = S3Backend(
        layer.s3_bucket,
        layer.s3_prefix,
        settings,
        chunksize_mb=float(options.get("multipart_chunksize_mb", 50)),
        upload_concurrency=int(options.get("upload_concurrency", 4)),
    )
    return RetryingBackend(backend, policy_from_options(options), secrets=settings.secrets)
