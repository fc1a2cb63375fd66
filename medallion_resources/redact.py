"""The one redactor: secrets out of every message, log line, metadata value and exception medallion writes.

One rule set for every client (HTTP, storage, SQL, the file extractor, the sensors):

* URL user-info: ``scheme://user:password@host`` → ``scheme://***@host``;
* query parameters whose name looks secret (``token``, ``key``, ``secret``, ``password``, ``sig``,
  ``signature``, ``credential``, ``auth``, ``code``, ...) or that a client names explicitly, wherever a URL
  appears in the text: SAS tokens keep ``sv=...&se=...`` but lose ``sig``, pre-signed S3 URLs lose
  ``X-Amz-Signature``/``X-Amz-Credential``/``X-Amz-Security-Token``;
* ``Key=secret`` pairs of connection strings (``AccountKey=...;``, ``Password=...;``, ``pwd=...``,
  ``SharedAccessSignature=...``, ``aws_secret_access_key=...``);
* ``Bearer``/``Basic`` credentials of an ``Authorization`` header;
* the known secret values a client resolved from the environment (``Redactor(secrets=...)``), raw and in
  both URL-encoded forms, so a password that only appears percent-encoded in a URL is masked too. A
  client also counts as known the values it sends under a secret-looking name (``secret_name``: a query
  parameter ``apikey``, a header ``X-Auth-Token``), so a server echoing one in a body is masked too.

Cut a text only after redacting it: a secret cut in two is no longer recognised.

SQLAlchemy URLs keep their own rendering for display (``URL.render_as_string(hide_password=True)``); this
module is for free text, where the library cannot help.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from urllib.parse import quote, quote_plus

__all__ = ["MASK", "Redactor", "redact", "redacting_logs", "secret_name"]

MASK = "***"
MIN_SECRET_LENGTH = 3
"""Shorter known values are not masked as free text (they would shred the message); URL user-info and
``Key=value`` pairs are masked by position whatever their length."""

_SECRET_PARAM = re.compile(
    r"token|key|secret|password|passwd|pwd|signature|sig|auth|credential|^code$|^sas$", re.IGNORECASE
)
_USERINFO = re.compile(r"(?<=://)[^/?#\s'\"]*@")
_QUERY_PARAM = re.compile(r"(?<=[?&])([^=&#\s'\"]+)=([^&#\s'\"]*)")
_URL_QUERY = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^?\s'\"]*\?[^\s'\"]*")
_PAIR = re.compile(
    r"(?i)\b((?:[\w-]*[_-])?"  # a prefix: db_password=, x-api_key=
    r"(?:AccountKey|SharedAccessKey|SharedAccessSignature|sig|SecretAccessKey|aws_secret_access_key|"
    r"aws_session_token|client_secret|password|passwd|pwd|token|access_token|refresh_token|api_key|apikey|"
    r"X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token))=[^;&\s'\"]+"
)
_AUTH_HEADER = re.compile(r"(?i)\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}")


def secret_name(name: str) -> bool:
    """Whether a query parameter or header called ``name`` likely carries a credential (``api_key``,
    ``access_token``, ``X-Auth-Token``, ``sig``, ...): the name rule of the query-parameter masking."""
    return bool(_SECRET_PARAM.search(name))


class Redactor:
    """Masks the given secret values, secret-looking URL parts and ``Key=secret`` pairs; see the module."""

    def __init__(self, secrets: Iterable[str] = (), secret_params: Iterable[str] = ()) -> None:
        self._raw = tuple(s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH)
        forms = {form for s in self._raw for form in (s, quote(s, safe=""), quote_plus(s))}
        self.secrets = sorted(forms, key=len, reverse=True)
        self.secret_params = frozenset(p.lower() for p in secret_params if p)

    def with_secrets(self, secrets: Iterable[str]) -> Redactor:
        """This redactor plus more known values (e.g. a backend's resolved keys)."""
        return Redactor((*self._raw, *secrets), self.secret_params)

    def text(self, text: str) -> str:
        """``text`` (a URL, an exception message, a log line) with every form of the module docstring
        masked; everything else is left exactly as it was."""
        text = str(text)
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        text = _USERINFO.sub(f"{MASK}@", text)
        text = _URL_QUERY.sub(lambda m: _QUERY_PARAM.sub(self._param, m.group(0)), text)
        text = _PAIR.sub(rf"\1={MASK}", text)
        return _AUTH_HEADER.sub(rf"\1 {MASK}", text)

    url = text
    __call__ = text

    def _param(self, match: re.Match[str]) -> str:
        name = match.group(1)
        if name.lower() in self.secret_params or secret_name(name):
            return f"{name}={MASK}"
        return match.group(0)


_DEFAULT = Redactor()


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` without credentials (the rules of the module docstring) and without ``secrets``."""
    redactor = _DEFAULT.with_secrets(secrets) if secrets else _DEFAULT
    return redactor.text(text)


class _RedactingFilter(logging.Filter):
    def __init__(self, mask: Callable[[str], str]) -> None:
        super().__init__()
        self._mask = mask

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = self._mask(record.getMessage()), ()
        return True


@contextlib.contextmanager
def redacting_logs(logger_name: str, mask: Callable[[str], str]) -> Iterator[None]:
    """While inside, every record of the library logger ``logger_name`` is passed through ``mask``.

    A library's own log lines are out of medallion's hands: httpx logs each request's full URL, query
    included, at INFO, which a user who lets that logger through (Dagster's ``managed_python_loggers``, a
    root logger at INFO) would see with an API key in it.
    """
    logger = logging.getLogger(logger_name)
    masking = _RedactingFilter(mask)
    logger.addFilter(masking)
    try:
        yield
    finally:
        logger.removeFilter(masking)
