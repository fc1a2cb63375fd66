"""Keep secrets out of every message: URLs lose credentials and secret query values, known secret values
are masked wherever they appear."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["MASK", "Redactor"]

MASK = "***"
_SECRET_PARAM = re.compile(r"(token|key|secret|password|passwd|signature|sig|auth|credential)", re.I)


class Redactor:
    """Masks the given secret values, and query parameters that look secret or are named explicitly."""

    def __init__(self, secrets: Iterable[str] = (), secret_params: Iterable[str] = ()) -> None:
        self.secrets = sorted({s for s in secrets if s and len(s) >= 3}, key=len, reverse=True)
        self.secret_params = {p.lower() for p in secret_params if p}

    def text(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text

    def url(self, url: str) -> str:
        parts = urlsplit(str(url))
        netloc = parts.netloc.rsplit("@", 1)[-1]
        if "@" in parts.netloc:
            netloc = f"{MASK}@{netloc}"
        query = urlencode(
            [
                (k, MASK if (k.lower() in self.secret_params or _SECRET_PARAM.search(k)) else v)
                for k, v in parse_qsl(parts.query, keep_blank_values=True)
            ],
            safe="*:,",
        )
        return self.text(urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)))
