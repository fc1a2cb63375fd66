"""Auth strategies: one class per ``api.auth.type``, selected through ``AUTH_TYPES`` / ``create_auth``.

Each strategy reads its secrets from the environment variables the config names (never from YAML) when it
is built, and has a three-method contract:

- ``apply(request)``: a flow (see ``flow.py``) that puts the credentials on the request; OAuth2 may send
  a token request first.
- ``refresh()``: called once on a 401; returns True when a new attempt can succeed (a new token).
- ``secrets``: the values to mask in every message.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Mapping
from typing import ClassVar

import httpx

from medallion_resources.errors import ApiError
from medallion_resources.http.flow import Flow, Send, Sleep
from medallion_resources.http.retry import NO_RESPONSE
from medallion_resources.http.settings import AuthSettings

__all__ = [
    "AUTH_TYPES",
    "ApiKeyAuth",
    "Auth",
    "BasicAuth",
    "BearerAuth",
    "NoAuth",
    "OAuth2ClientCredentials",
    "create_auth",
]


class Auth:
    """No credentials (``auth: {type: none}``); the base of every strategy."""

    type_name: ClassVar[str] = "none"
    secret_params: tuple[str, ...] = ()

    def __init__(self, cfg: AuthSettings, env: Mapping[str, str]) -> None:
        self.cfg = cfg
        self.secrets: list[str] = []
        self._env = env

    def _secret(self, key: str) -> str:
        """The value of the env var named by config key ``key`` (e.g. ``token_env``)."""
        name = getattr(self.cfg, key)
        value = self._env.get(name)
        if not value:
            raise ApiError(
                f"api.auth.{key} names environment variable '{name}', which is not set or empty; "
                f"export it with the {self.type_name} credential"
            )
        self.secrets.append(value)
        return value

    def apply(self, request: httpx.Request) -> Flow[None]:
        """Put the credentials on ``request`` (a flow: it may send requests of its own)."""
        return
        yield  # a generator that sends nothing

    def refresh(self) -> bool:
        """A 401 came back: drop cached credentials; True if retrying can help."""
        return False


NoAuth = Auth


class BearerAuth(Auth):
    """``Authorization: Bearer <token>``::

    auth: {type: bearer, token_env: CRM_TOKEN}
    """

    type_name = "bearer"

    def __init__(self, cfg: AuthSettings, env: Mapping[str, str]) -> None:
        super().__init__(cfg, env)
        self._header = f"Bearer {self._secret('token_env')}"

    def apply(self, request: httpx.Request) -> Flow[None]:
        request.headers["Authorization"] = self._header
        return
        yield


class BasicAuth(Auth):
    """HTTP Basic::

    auth: {type: basic, username_env: CRM_USER, password_env: CRM_PASSWORD}
    """

    type_name = "basic"

    def __init__(self, cfg: AuthSettings, env: Mapping[str, str]) -> None:
        super().__init__(cfg, env)
        pair = f"{self._secret('username_env')}:{self._secret('password_env')}"
        token = base64.b64encode(pair.encode()).decode()
        self.secrets.append(token)
        self._header = f"Basic {token}"

    def apply(self, request: httpx.Request) -> Flow[None]:
        request.headers["Authorization"] = self._header
        return
        yield


class ApiKeyAuth(Auth):
    """An API key in a header or a query parameter::

    auth: {type: api_key, key_env: CRM_KEY, key_header: X-API-Key}   # or key_param: api_key
    """

    type_name = "api_key"

    def __init__(self, cfg: AuthSettings, env: Mapping[str, str]) -> None:
        super().__init__(cfg, env)
        self._key = self._secret("key_env")
        self.secret_params = (cfg.key_param,) if cfg.key_param else ()

    def apply(self, request: httpx.Request) -> Flow[None]:
        if self.cfg.key_header:
            request.headers[self.cfg.key_header] = self._key
        if self.cfg.key_param:
            request.url = request.url.copy_set_param(self.cfg.key_param, self._key)
        return
        yield


class OAuth2ClientCredentials(Auth):
    """OAuth2 client credentials: a token from ``token_url``, cached until it expires, refreshed on 401::

    auth:
      type: oauth2_client_credentials
      token_url: https://auth.example.com/oauth/token
      client_id_env: CRM_CLIENT_ID
      client_secret_env: CRM_CLIENT_SECRET
      scope: read:orders            # optional

    The client authenticates with HTTP Basic (RFC 6749 §2.3.1). A token is renewed ``expiry_margin``
    seconds before its ``expires_in`` runs out; one without ``expires_in`` lives until a 401. The session
    retries the token request like a data request (``ApiSession._retried``); what reaches this flow is the
    last outcome.
    """

    type_name = "oauth2_client_credentials"
    expiry_margin: ClassVar[float] = 30.0

    def __init__(self, cfg: AuthSettings, env: Mapping[str, str]) -> None:
        super().__init__(cfg, env)
        client_id, client_secret = self._secret("client_id_env"), self._secret("client_secret_env")
        basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        self.secrets.append(basic)
        self._client_auth = f"Basic {basic}"
        self._token: str | None = None
        self._expires_at = 0.0
        self._fetching = False
        self.token_requests = 0

    def apply(self, request: httpx.Request) -> Flow[None]:
        # Pages fetched ahead (``use_async``) start together: they wait for the token request in flight
        # rather than each sending one (the flows share one event loop, so a flag is enough).
        while self._fetching:
            yield Sleep(_TOKEN_WAIT_SECONDS)
        if self._token is None or time.monotonic() >= self._expires_at:
            self._fetching = True
            try:
                yield from self._fetch_token(request)
            finally:
                self._fetching = False
        request.headers["Authorization"] = f"Bearer {self._token}"

    def refresh(self) -> bool:
        self._token = None
        return True

    def _fetch_token(self, request: httpx.Request) -> Flow[None]:
        form = {"grant_type": "client_credentials"}
        if self.cfg.scope:
            form["scope"] = self.cfg.scope
        token_request = httpx.Request(
            "POST",
            str(self.cfg.token_url),
            data=form,
            headers={"Authorization": self._client_auth, "Accept": "application/json"},
            extensions=request.extensions,
        )
        self.token_requests += 1
        try:
            # Bounded as a whole like every request (``Send.timeout``), by the request's own timeout.
            timeouts = [t for t in request.extensions.get("timeout", {}).values() if t]
            response: httpx.Response = yield Send(token_request, max(timeouts, default=None))
        except NO_RESPONSE as exc:
            raise ApiError(
                f"OAuth2 token request to {self.cfg.token_url} failed: {type(exc).__name__}",
                url=self.cfg.token_url,
            ) from None
        try:
            payload = response.json() if response.status_code == 200 else None
        except ValueError:
            payload = None
        token = payload.get("access_token") if isinstance(payload, dict) else None
        if not isinstance(token, str) or not token:
            raise ApiError(
                f"OAuth2 token request to {self.cfg.token_url} returned HTTP {response.status_code} "
                "without an access_token; check client_id_env/client_secret_env, scope and token_url",
                url=self.cfg.token_url,
                status=response.status_code,
            )
        self.secrets.append(token)
        expires_in = payload.get("expires_in") if isinstance(payload, dict) else None
        lifetime = float(expires_in) if isinstance(expires_in, int | float) else float("inf")
        self._token = token
        self._expires_at = time.monotonic() + max(0.0, lifetime - min(self.expiry_margin, lifetime / 2))


_TOKEN_WAIT_SECONDS = 0.01
"""How often a request waiting for the OAuth2 token request in flight looks again."""


AUTH_TYPES: dict[str, type[Auth]] = {
    cls.type_name: cls for cls in (Auth, BearerAuth, BasicAuth, ApiKeyAuth, OAuth2ClientCredentials)
}


def create_auth(cfg: AuthSettings, env: Mapping[str, str] | None = None) -> Auth:
    """The strategy for ``cfg.type``, its secrets read from ``env`` (default: ``os.environ``)."""
    return AUTH_TYPES[cfg.type](cfg, os.environ if env is None else env)
