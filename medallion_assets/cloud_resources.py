"""Dagster resources for the lake's object stores, built from the same ``platform`` settings.

When a layer lives on S3 (or ``s3_connection`` is set) the Definitions carry ``s3``, a ``dagster_aws``
``S3Resource``; when a layer lives on Azure (or ``azure_connection`` is set), ``adls2``, a ``dagster_azure``
``ADLS2Resource``. Users' own assets and ops can then ask for them by name and reach the lake with the
credentials the platform team configured once::

    @dg.asset
    def export(s3: S3Resource) -> None:
        s3.get_client().upload_file("report.csv", "acme-lake", "exports/report.csv")

Secrets are passed as ``dg.EnvVar`` (the variable *names* from ``*_env`` keys), so the Dagster UI and run
config show the names, never the values.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlparse

import dagster as dg

from medallion_assets.config.models import PlatformConfig

__all__ = ["cloud_resources"]


def _env_var(name: str | None) -> Any:
    """An EnvVar for a set variable; None when unnamed or unset (the SDK's default chain then applies)."""
    return dg.EnvVar(name) if name and os.environ.get(name) else None


def _uses(platform: PlatformConfig, backend: str) -> bool:
    return backend in (platform.bronze.storage_backend, platform.silver.storage_backend)


def _s3_resource(platform: PlatformConfig) -> dg.ConfigurableResource:
    from dagster_aws.s3 import S3Resource

    conn = platform.s3_connection
    fields: dict[str, Any] = {}
    if conn is not None:
        fields = {
            "region_name": conn.region,
            "profile_name": conn.profile,
            "endpoint_url": _env_var(conn.endpoint_url_env),
            "aws_access_key_id": _env_var(conn.access_key_env),
            "aws_secret_access_key": _env_var(conn.secret_key_env),
            "aws_session_token": _env_var(conn.session_token_env),
            "verify": conn.verify_ssl,
        }
    return S3Resource(**{k: v for k, v in fields.items() if v is not None})


def _adls2_resource(platform: PlatformConfig) -> dg.ConfigurableResource | None:
    from dagster_azure.adls2 import ADLS2DefaultAzureCredential, ADLS2Key, ADLS2Resource, ADLS2SASToken

    from medallion_resources.storage.azure import account_of_url

    conn = platform.azure_connection
    if conn is None:
        return None
    account = os.environ.get(conn.account_name_env or "") if conn.account_name_env else None
    account = account or (account_of_url(conn.account_url) if conn.account_url else None)
    if not account:
        return None  # connection-string-only set-ups (e.g. Azurite) have no ADLS2 resource
    credential: Any
    if conn.account_key_env and os.environ.get(conn.account_key_env):
        credential = ADLS2Key(key=dg.EnvVar(conn.account_key_env))
    elif conn.sas_token_env and os.environ.get(conn.sas_token_env):
        credential = ADLS2SASToken(token=dg.EnvVar(conn.sas_token_env))
    elif conn.use_default_credential:
        credential = ADLS2DefaultAzureCredential(kwargs={})
    else:
        return None
    fields: dict[str, Any] = {"storage_account": account, "credential": credential}
    if conn.account_url:
        host = urlparse(conn.account_url).netloc
        if host.startswith(f"{account}.dfs.") or host.startswith(f"{account}.blob."):
            fields["endpoint_suffix"] = host.split(".", 2)[2]
    return ADLS2Resource(**fields)


def cloud_resources(platform: PlatformConfig) -> dict[str, dg.ConfigurableResource]:
    """``{"s3": S3Resource, "adls2": ADLS2Resource}`` for the stores the platform uses (maybe empty)."""
    resources: dict[str, dg.ConfigurableResource] = {}
    if _uses(platform, "s3") or platform.s3_connection is not None:
        resources["s3"] = _s3_resource(platform)
    if _uses(platform, "azure") or platform.azure_connection is not None:
        adls2 = _adls2_resource(platform)
        if adls2 is not None:
            resources["adls2"] = adls2
    return resources
