"""The bot's credentials for Teams, and the tokens it sends with every call.

Credentials come from ``TEAMS_CLIENT_ID``, ``TEAMS_CLIENT_SECRET`` and ``TEAMS_TENANT_ID``
(:func:`teams_credentials`), never from the config file. Outbound calls carry an access token
from the client-credentials grant, a form POST to ``teams.token_url`` with ``grant_type``,
``client_id``, ``client_secret`` and ``scope=https://api.botframework.com/.default``.

:class:`ClientCredentialsToken` does that grant itself and is handed to the Teams SDK as its
token provider, rather than letting the SDK run it through MSAL: MSAL accepts only Microsoft's
authorities, so a token endpoint of one's own (a proxy, a sovereign cloud's, a test's) would
be refused. Each token is reused until a minute before its ``expires_in`` runs out, so a busy
hour costs one token request, not one per message.

Inbound tokens are checked by :mod:`bot.chat.teams.inbound`.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

__all__ = ["BOT_SCOPE", "ClientCredentialsToken", "TeamsCredentials", "TeamsError",
           "teams_credentials"]

BOT_SCOPE = "https://api.botframework.com/.default"
REFRESH_MARGIN = 60.0  # seconds before expiry a token is renewed
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


class TeamsError(Exception):
    """Teams cannot be used as configured; the message names the setting and what to do."""


@dataclass(frozen=True)
class TeamsCredentials:
    client_id: str
    client_secret: str
    tenant_id: str

    def __repr__(self) -> str:  # the secret never reaches a log line
        return f"TeamsCredentials(client_id={self.client_id!r}, tenant_id={self.tenant_id!r})"


def teams_credentials(environ: Mapping[str, str]) -> TeamsCredentials | None:
    """The credentials in ``environ``; None when Teams is not configured at all, TeamsError
    when it half is."""
    names = ("TEAMS_CLIENT_ID", "TEAMS_CLIENT_SECRET", "TEAMS_TENANT_ID")
    values = {name: (environ.get(name) or "").strip() for name in names}
    if not any(values.values()):
        return None
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise TeamsError(f"{', '.join(missing)} not set; Teams needs all of {', '.join(names)} "
                         f"(the Azure Bot's app id, a client secret of that app registration, "
                         f"and its tenant id)")
    for name in ("TEAMS_CLIENT_ID", "TEAMS_TENANT_ID"):
        if not _GUID.match(values[name]):
            raise TeamsError(f"{name} must be a GUID like 00000000-0000-0000-0000-000000000000 "
                             f"(see the Azure Bot's Configuration page)")
    if environ.get("CLIENT_SECRET") or environ.get("CLIENT_ID"):
        # the Teams SDK reads these too and would take MSAL's path with them
        raise TeamsError("CLIENT_ID or CLIENT_SECRET is set in the environment; unset them and "
                         "use TEAMS_CLIENT_ID and TEAMS_CLIENT_SECRET")
    return TeamsCredentials(values["TEAMS_CLIENT_ID"], values["TEAMS_CLIENT_SECRET"],
                            values["TEAMS_TENANT_ID"])


class ClientCredentialsToken:
    """The SDK's token provider: ``await provider(scope, tenant_id)`` gives an access token."""

    def __init__(self, credentials: TeamsCredentials, *, token_url: str,
                 timeout: float = 10.0) -> None:
        self.credentials = credentials
        self.token_url = token_url.replace("{tenant}", credentials.tenant_id)
        self.timeout = timeout
        self.requests = 0  # token requests made (tests, metrics)
        self._token: str | None = None
        self._expires = 0.0  # monotonic
        self._lock: asyncio.Lock | None = None

    async def __call__(self, scope: str | list[str], tenant_id: str | None = None) -> str:
        wanted = scope if isinstance(scope, str) else " ".join(scope)
        if wanted != BOT_SCOPE:
            raise TeamsError(f"a token for {wanted} was asked for; spendwatch only calls the "
                             f"Bot Framework ({BOT_SCOPE})")
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._token is None or time.monotonic() >= self._expires - REFRESH_MARGIN:
                self._token, lifetime = await self._fetch()
                self._expires = time.monotonic() + lifetime
            return self._token

    async def _fetch(self) -> tuple[str, float]:
        form = {"grant_type": "client_credentials", "client_id": self.credentials.client_id,
                "client_secret": self.credentials.client_secret, "scope": BOT_SCOPE}
        self.requests += 1
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                response = await client.post(self.token_url, data=form)
        except httpx.HTTPError as exc:
            raise TeamsError(f"the token endpoint {self.token_url} could not be reached "
                             f"({type(exc).__name__}); check teams.token_url and the network"
                             ) from None
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200 or not body.get("access_token"):
            detail = str(body.get("error_description") or body.get("error")
                         or response.reason_phrase)[:300]
            hint = ("check TEAMS_CLIENT_ID and TEAMS_CLIENT_SECRET (a secret expires; create a "
                    "new one under the app registration's Certificates & secrets)"
                    if response.status_code in (400, 401) else "try again later")
            raise TeamsError(f"the token endpoint answered {response.status_code}: {detail}; "
                             f"{hint}")
        lifetime = float(body.get("expires_in") or 3600)
        return str(body["access_token"]), lifetime
