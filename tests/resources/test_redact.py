"""The one redactor (``medallion_resources.redact``): every credential form, in one table, and what stays."""

from __future__ import annotations

import fsspec
import pytest

from medallion_assets.errors import StorageError
from medallion_resources.redact import MASK, Redactor, redact
from medallion_resources.storage import FsspecBackend

KNOWN = ("S3cr@t Pw/+=", "SuperSecretKey123")

# (text, secrets that must be gone, text that must stay)
CASES = [
    # URL user-info, in a URL and inside a message; an "@" in the password; the query keeps its '@'
    ("postgresql+psycopg://alice:pw@db:5432/w", ["alice:pw"], ["://***@db:5432/w"]),
    ("cannot list 'ftp://loader:s3cr3t@127.0.0.1:21/in/*.csv': refused", ["s3cr3t"], ["ftp://***@127.0.0.1"]),
    ("https://u:p@ss@host/k", ["p@ss", "u:p"], ["https://***@host/k"]),
    ("https://host/x?email=a@b.example&page=2", [], ["https://host/x?email=a@b.example&page=2"]),
    # query-string tokens: SAS, pre-signed S3, API keys; other parameters stay for debugging
    (
        "GET https://a.blob.core.windows.net/c/b?sv=2022-11-02&se=2026&sig=zzz%3D",
        ["zzz"],
        ["sv=2022-11-02&se=2026"],
    ),
    (
        "https://b.s3.amazonaws.com/k?X-Amz-Credential=AKIA1&X-Amz-Signature=abc&X-Amz-Security-Token=tok",
        ["AKIA1", "=abc", "=tok"],
        ["https://b.s3.amazonaws.com/k?"],
    ),
    (
        "http://127.0.0.1:9/items?offset=0&api_key=k3y&limit=5",
        ["k3y"],
        ["offset=0", "limit=5", f"api_key={MASK}"],
    ),
    ("https://fn.azurewebsites.net/api/x?code=funckey&name=a", ["funckey"], ["name=a"]),
    ("http://127.0.0.1:9/items?custom=v4lue", ["v4lue"], []),  # named by the client (secret_params)
    # Key=secret pairs of connection strings
    (
        "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=abc123==;BlobEndpoint=x",
        ["abc123"],
        ["AccountName=a;", "BlobEndpoint=x"],
    ),
    ("Server=db;Database=w;User Id=u;Password=hunter2;", ["hunter2"], ["Server=db;", "User Id=u;"]),
    ("Driver={x};PWD=hunter3;UID=u", ["hunter3"], ["UID=u"]),
    (
        "SharedAccessSignature=sv=1&sig=q; aws_secret_access_key=wJalr db_password=pw9",
        ["sig=q", "wJalr", "pw9"],
        [],
    ),
    # bearer and basic credentials of an Authorization header
    (
        "401 with Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig",
        ["eyJhbGci"],
        ["Authorization: Bearer ***"],
    ),
    ("Authorization: Basic YWxpY2U6cHc=", ["YWxpY2U6cHc"], ["Basic ***"]),
    # known secret values (resolved from the environment), raw and URL-encoded both ways
    ("key SuperSecretKey123 rejected", ["SuperSecretKey123"], ["key *** rejected"]),
    ("echo: S3cr%40t%20Pw%2F%2B%3D and S3cr%40t+Pw%2F%2B%3D", ["S3cr"], ["echo: "]),
    # nothing secret: the text stays exactly as it was
    (
        "read s3://lake/bronze/dt=2025-01-01/part-1.parquet: 404? yes",
        [],
        ["read s3://lake/bronze/dt=2025-01-01/part-1.parquet: 404? yes"],
    ),
]


@pytest.mark.parametrize(("text", "gone", "kept"), CASES)
def test_every_form_is_masked_and_the_rest_kept(text: str, gone: list[str], kept: list[str]) -> None:
    out = Redactor(KNOWN, secret_params=["custom"]).text(text)
    for secret in gone:
        assert secret not in out, out
    for part in kept:
        assert part in out, out


def test_short_known_values_are_not_masked_as_free_text() -> None:
    assert Redactor(["ab"]).text("tab stab") == "tab stab"


def test_the_function_form_adds_known_values_to_the_same_rules() -> None:
    assert redact("x https://u:p@h/?sig=1 tok3n", ("tok3n",)) == "x https://***@h/?sig=*** ***"


def test_a_backend_error_never_carries_the_backends_resolved_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    class _Keyed(FsspecBackend):
        secrets = ("AccountKeyValue0123456789",)

    fs = fsspec.filesystem("memory")
    backend = _Keyed(fs, "/redact-probe")

    def refuse(path: str, *args: object, **kwargs: object) -> bytes:
        raise OSError(f"cannot sign request for {path} with key AccountKeyValue0123456789")

    monkeypatch.setattr(fs, "cat_file", refuse)
    with pytest.raises(StorageError, match="read_bytes memory:///redact-probe/x failed") as info:
        backend.read_bytes("x")
    assert "AccountKeyValue0123456789" not in str(info.value)
