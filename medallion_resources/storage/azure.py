"""The Azure backend (Blob Storage and ADLS Gen2 accounts) through adlfs.

YAML::

    platform:
      silver:
        storage_backend: azure
        azure_container: lake
        azure_prefix: silver              # optional blob prefix
        options: {upload_concurrency: 4, retry: {max_attempts: 6}}
      azure_connection:                   # one way to authenticate, tried in this order:
        connection_string_env: AZURE_STORAGE_CONNECTION_STRING   # 1. a connection string
        account_name_env: AZURE_STORAGE_ACCOUNT                   #    the account (2-5; or account_url's)
        account_key_env: AZURE_STORAGE_KEY                        # 2. an account key
        sas_token_env: AZURE_STORAGE_SAS_TOKEN                    # 3. a SAS token
        tenant_id_env: AZURE_TENANT_ID                            # 4. a service principal
        client_id_env: AZURE_CLIENT_ID
        client_secret_env: AZURE_CLIENT_SECRET
        use_default_credential: true                              # 5. DefaultAzureCredential
        account_url: https://myaccount.blob.core.windows.net      # optional: another host or cloud

``account_url`` is ``https://<host>`` (adlfs connects to that host, over HTTPS); when its host is the
account's blob endpoint, ``https://<account>.blob.core.<cloud suffix>``, it names the account and
``account_name_env`` may be left out. An account key needs such a host: the Azure SDK signs with the account
it reads from it.

Blob and ADLS Gen2 accounts both speak the blob API, which is what the backend uses (``abfs://`` and
``az://`` URLs name the same objects). A single ``upload_blob`` is atomic, so ``put_bytes`` is; part files
go up as block blobs in blocks (``max_concurrency`` of them in parallel). The manifest commit uses ETag
conditions (``If-None-Match: *`` to create, ``If-Match`` to replace), atomic in the service.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, ClassVar, cast
from urllib.parse import SplitResult, urlparse, urlsplit

import fsspec.asyn

from medallion_resources.errors import StorageError
from medallion_resources.redact import redact
from medallion_resources.retry import exception_chain
from medallion_resources.storage.base import FsspecBackend, StorageBackend
from medallion_resources.storage.retry import check_options, policy_from_options
from medallion_resources.storage.settings import AzureConnectionSettings, LayerSettings, PlatformSettings

__all__ = ["AzureBackend", "AzureSettings", "account_of_url", "account_url_problem", "make_azure_backend"]

_KEY = "platform.azure_connection"
_log = logging.getLogger("medallion.storage")


def _env(conn: AzureConnectionSettings | None, attr: str) -> str | None:
    name = getattr(conn, attr, None) if conn is not None else None
    return (os.environ.get(name) or None) if name else None


# The hosts the Azure SDK reads an account name from, as azure-storage-blob's base client does:
# <account>[-secondary][-ipv6|-dualstack].<service>.core.<cloud suffix>, e.g. acct.blob.core.windows.net.
_ACCOUNT_HOST_RE = re.compile(
    r"(?P<account>[a-z0-9]{3,24})(?:-secondary)?(?:-ipv6|-dualstack)?\.(?P<service>blob|dfs)\.core\."
    r"[a-z0-9-]+(?:\.[a-z0-9-]+)+(?::\d+)?"
)


def _split(url: str) -> SplitResult | None:
    try:
        return urlsplit(url)
    except ValueError:  # e.g. an unclosed '[' of an IPv6 host
        return None


def account_of_url(url: str) -> str | None:
    """The account an ``https://<account>.blob.core.<cloud suffix>`` URL names; None for any other host."""
    parts = _split(url)
    found = _ACCOUNT_HOST_RE.fullmatch(parts.netloc.lower()) if parts else None
    return found["account"] if found and found["service"] == "blob" else None


def account_url_problem(url: str) -> str | None:
    """Why adlfs cannot use ``url`` as ``azure_connection.account_url`` (with the fix), or None.

    adlfs connects to ``https://<the URL's host>``, dropping the scheme, path and query, and speaks the blob
    API, which an account's ``dfs`` (Data Lake) endpoint does not serve.
    """
    parts = _split(url)
    if parts is not None and (parts.query or parts.username is not None):  # maybe a SAS token, a password
        return (
            f"account_url '{parts.scheme}://{parts.hostname}/...' holds a query or credentials; write "
            "https://<host> only, and put a SAS token in the variable named by sas_token_env"
        )
    if (
        parts is None
        or parts.scheme.lower() != "https"
        or not parts.hostname
        or parts.path not in ("", "/")
        or parts.fragment
    ):
        return (
            f"account_url '{url}' is not an https://<host> URL, and the backend connects to "
            "https://<its host> only; write https://<account>.blob.core.windows.net (or the blob host of "
            "another cloud or of a private endpoint); for Azurite or another emulator use "
            "connection_string_env"
        )
    found = _ACCOUNT_HOST_RE.fullmatch(parts.netloc.lower())
    if found and found["service"] == "dfs":
        blob = parts.netloc.lower().replace(".dfs.core.", ".blob.core.", 1)
        return (
            f"account_url '{url}' is the Data Lake (dfs) endpoint, but the backend speaks the blob API, "
            f"which ADLS Gen2 accounts serve on their blob endpoint: write https://{blob}"
        )
    return None


@dataclass(frozen=True)
class AzureSettings:
    """Resolved Azure connection settings (secrets included, never printed)."""

    connection_string: str | None = field(default=None, repr=False)
    account_name: str | None = None
    account_key: str | None = field(default=None, repr=False)
    sas_token: str | None = field(default=None, repr=False)
    account_host: str | None = None
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    use_default_credential: bool = False

    @classmethod
    def from_config(cls, conn: AzureConnectionSettings | None) -> AzureSettings:
        """Read the variables ``conn`` names; a clear error when no way to authenticate is complete."""
        url = conn.account_url if conn is not None else None
        named, url_account = _env(conn, "account_name_env"), account_of_url(url) if url else None
        settings = cls(
            connection_string=_env(conn, "connection_string_env"),
            account_name=named or url_account,
            account_key=_env(conn, "account_key_env"),
            sas_token=_env(conn, "sas_token_env"),
            account_host=urlparse(conn.account_url).netloc or None if conn and conn.account_url else None,
            tenant_id=_env(conn, "tenant_id_env"),
            client_id=_env(conn, "client_id_env"),
            client_secret=_env(conn, "client_secret_env"),
            use_default_credential=bool(conn and conn.use_default_credential),
        )
        if settings.connection_string:
            return settings
        if not settings.account_name:
            names = ", ".join(
                f"{a}={getattr(conn, a)}"
                for a in ("connection_string_env", "account_name_env")
                if conn and getattr(conn, a)
            )
            raise StorageError(
                f"{_KEY}: no connection string and no account name is set"
                f"{' (' + names + ' are unset)' if names else ''}; set the variable named by "
                "connection_string_env, or account_name_env or an account_url https://<account>.blob.core."
                "<cloud suffix> (plus a key, SAS token, service principal or use_default_credential: true)"
            )
        if named and url_account and named.lower() != url_account:
            raise StorageError(
                f"{_KEY}: the variable named by account_name_env holds the account '{named}', but "
                f"account_url names the account '{url_account}'; write https://{named.lower()}.blob.core."
                "<cloud suffix>, or leave account_name_env out"
            )
        if settings.account_key and settings.account_host and not url_account:
            raise StorageError(
                f"{_KEY}: an account key signs each request with the account the Azure SDK reads from "
                f"account_url's host, and account_url's host names no account ('{settings.account_host}'); "
                f"write https://{settings.account_name}.blob.core.<cloud suffix>, or use a SAS token, a "
                "service principal or use_default_credential: true"
            )
        principal = (settings.tenant_id, settings.client_id, settings.client_secret)
        if any(principal) and not all(principal):
            raise StorageError(
                f"{_KEY}: a service principal needs tenant_id_env, client_id_env and client_secret_env, all "
                "set; some are missing"
            )
        if not (
            settings.account_key or settings.sas_token or all(principal) or settings.use_default_credential
        ):
            raise StorageError(
                f"{_KEY}: account '{settings.account_name}' has no credential: set the variable named by "
                "account_key_env or sas_token_env, a service principal, or use_default_credential: true"
            )
        return settings

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(
            s for s in (self.connection_string, self.account_key, self.sas_token, self.client_secret) if s
        )

    def fsspec_options(self) -> dict[str, Any]:
        """``adlfs.AzureBlobFileSystem`` keyword arguments (also for ``abfs://``/``az://`` file sources)."""
        if self.connection_string:
            return {"connection_string": self.connection_string}
        options: dict[str, Any] = {"account_name": self.account_name}
        if self.account_host:
            options["account_host"] = self.account_host
        if self.account_key:
            options["account_key"] = self.account_key
        elif self.sas_token:
            options["sas_token"] = self.sas_token
        elif self.client_secret:
            options.update(
                tenant_id=self.tenant_id, client_id=self.client_id, client_secret=self.client_secret
            )
        else:
            options["anon"] = False  # adlfs then uses DefaultAzureCredential
        return {k: v for k, v in options.items() if v is not None}


def _precondition_failed(exc: BaseException) -> bool:
    for current in exception_chain(exc, limit=5):
        if type(current).__name__ in {"ResourceModifiedError", "ResourceExistsError"}:
            return True
        if getattr(current, "status_code", None) in {409, 412}:
            return True
    return False


def _without_sdk_retries(client: Any) -> None:
    """One retry layer: medallion's RetryingBackend. The Azure SDK's own policy (3 retries per request after
    about 15 s, 18 s, 24 s) would multiply its budget; adlfs passes no retry settings to the clients it
    builds, so the policy object in ``client``'s pipeline (shared by the container and blob clients made
    from it) is told to stop."""
    policy = getattr(getattr(client, "_config", None), "retry_policy", None)
    if policy is None or not hasattr(policy, "total_retries"):
        _log.warning(
            "azure: cannot switch off the Azure SDK's own retries (azure-storage-blob changed its client "
            "configuration); they now multiply options.retry"
        )
        return
    policy.total_retries = 0


class AzureBackend(FsspecBackend):
    """Blobs under ``abfs://<container>/<prefix>``; see the module docstring for the YAML."""

    name: ClassVar[str] = "azure"
    atomic_conditional_put: ClassVar[bool] = True
    version_field: ClassVar[str | None] = "etag"

    def __init__(
        self, container: str, prefix: str = "", settings: AzureSettings | None = None, *, concurrency: int = 4
    ) -> None:
        import adlfs

        self.settings = settings or AzureSettings()
        self.secrets = self.settings.secrets
        self.container = container
        self.concurrency = max(1, concurrency)
        self.upload_concurrency = self.concurrency  # parts in parallel, and blocks of one part in parallel
        try:
            fs = adlfs.AzureBlobFileSystem(
                skip_instance_cache=True,
                use_listings_cache=False,
                max_concurrency=self.concurrency,
                **self.settings.fsspec_options(),
            )
        except ValueError as exc:  # adlfs and the Azure SDK refuse settings they cannot connect with
            raise StorageError(
                f"{_KEY}: adlfs cannot set up a client with these settings: {redact(str(exc), self.secrets)}"
            ) from exc
        _without_sdk_retries(fs.service_client)
        super().__init__(fs, f"{container}/{prefix.strip('/')}".rstrip("/"))

    credentials_hint: ClassVar[str] = (
        "check the credentials of azure_connection (the account key or SAS token its variable holds, or the "
        "role of the identity on the container)"
    )

    def _ensure_parent(self, full: str) -> None:
        """Blob storage has no folders to create."""

    def _root_problem(self) -> str | None:
        """The container does not exist (404 ``ContainerNotFound``); None when it does, or when the answer
        says nothing (403: a SAS token or role that may not read container properties; a transient fault)."""

        async def properties() -> None:
            async with self.fs.service_client.get_container_client(self.container) as client:
                await client.get_container_properties()

        try:
            fsspec.asyn.sync(self.fs.loop, properties)
        except Exception as exc:  # noqa: BLE001 - only a definite "not found" says the container is missing
            if getattr(exc, "status_code", None) == 404:
                return (
                    f"the container '{self.container}' of the storage account does not exist "
                    "(azure_container): create it, or set azure_container to a container that exists"
                )
            return None
        return None

    def _blob_client(self, relpath: str) -> Any:
        container, _, blob = self.full_path(relpath).partition("/")
        return self.fs.service_client.get_blob_client(container=container, blob=blob)

    @contextlib.contextmanager
    def _op(self, operation: str, relpath: str) -> Iterator[None]:
        """As the base's, and the Azure SDK's own errors too: adlfs lets many through as they are (a 403 for
        a wrong key is an ``HttpResponseError``, not an ``OSError``), and their text quotes the response."""
        from azure.core.exceptions import AzureError

        try:
            with super()._op(operation, relpath):
                yield
        except AzureError as exc:
            status = getattr(exc, "status_code", None)
            code = getattr(exc, "error_code", None)
            code = getattr(code, "value", code)  # azure-storage-blob's StorageErrorCode enum: its text
            first = (str(getattr(exc, "reason", None) or exc).strip().splitlines() or [""])[0]
            said = ", ".join(str(x) for x in (f"HTTP {status}" if status else None, code) if x)
            detail = redact(f"{type(exc).__name__}{f' ({said})' if said else ''}: {first}", self.secrets)
            if status in (401, 403):  # the setting to fix, not only what the service said
                detail += f"; {self.credentials_hint}"
            raise StorageError(f"{operation} {self.uri(relpath)} failed: {detail}") from exc

    def put_file(self, local_path: str | Path, relpath: str) -> None:
        full = self.full_path(relpath)
        with self._op("put_file", relpath):
            self.fs.put_file(str(local_path), full, overwrite=True)
        Path(local_path).unlink(missing_ok=True)

    def open_read(self, relpath: str) -> BinaryIO:
        stream = super().open_read(relpath)
        client = getattr(stream, "container_client", None)  # adlfs builds one client per open file
        if client is not None:
            _without_sdk_retries(client)
        return stream

    def read_versioned(self, relpath: str) -> tuple[bytes, str]:
        async def get() -> tuple[bytes, str]:
            from azure.core.exceptions import ResourceNotFoundError

            async with self._blob_client(relpath) as client:
                try:
                    stream = await client.download_blob()
                except ResourceNotFoundError as exc:
                    raise FileNotFoundError(self.uri(relpath)) from exc
                return bytes(await stream.readall()), str(stream.properties.etag)

        with self._op("read_versioned", relpath):
            return cast(tuple[bytes, str], fsspec.asyn.sync(self.fs.loop, get))

    def put_bytes_if(self, relpath: str, data: bytes, expected_version: str | None) -> bool:
        async def put() -> None:
            from azure.core import MatchConditions

            async with self._blob_client(relpath) as client:
                if expected_version is None:
                    await client.upload_blob(data, overwrite=False)
                else:
                    await client.upload_blob(
                        data,
                        overwrite=True,
                        etag=expected_version,
                        match_condition=MatchConditions.IfNotModified,
                    )

        try:
            with self._op("put_bytes_if", relpath):
                fsspec.asyn.sync(self.fs.loop, put)
        except Exception as exc:
            if _precondition_failed(exc):
                return False
            if isinstance(exc, StorageError | OSError):
                raise
            raise StorageError(
                f"put_bytes_if {self.uri(relpath)} failed: {type(exc).__name__}: {exc}"
            ) from exc
        return True


def make_azure_backend(layer: LayerSettings, platform: PlatformSettings) -> StorageBackend:
    """The registry factory of ``storage_backend: azure``: an ``AzureBackend`` behind retries."""
    from medallion_resources.storage.wrappers import RetryingBackend

    if not layer.azure_container:
        raise StorageError("storage_backend 'azure' needs 'azure_container'")
    check_options("azure", layer.options, {"upload_concurrency", "retry"})
    settings = AzureSettings.from_config(platform.azure_connection)
    backend = AzureBackend(
        layer.azure_container,
        layer.azure_prefix,
        settings,
        concurrency=int(layer.options.get("upload_concurrency", 4)),
    )
    return RetryingBackend(backend, policy_from_options(layer.options), secrets=settings.secrets)
