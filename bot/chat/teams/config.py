"""The Teams adapter's settings: Microsoft's endpoints (``teams:``) and where alerts go in
Teams (``routing.teams``). They live beside the adapter, as each source's settings live beside
its reader (``bot.ingest.sources.config``); ``bot.settings`` composes them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["TeamsRouting", "TeamsSettings"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TeamsRouting(_Model):
    """Where alerts go in Microsoft Teams: ``owners`` maps an owner to a conversation id (a
    channel's ``19:...@thread.tacv2``, a group chat's or a personal chat's id), ``default``
    takes the owners mapped nowhere (FinOps), and ``escalation`` the escalation posts
    (default: ``default``)."""

    owners: dict[str, str] = Field(default_factory=dict)
    default: str | None = None
    escalation: str | None = None



class TeamsSettings(_Model):
    """Microsoft's endpoints for the Teams adapter (``bot.chat.teams``); the credentials come
    from ``TEAMS_CLIENT_ID``, ``TEAMS_CLIENT_SECRET`` and ``TEAMS_TENANT_ID``.

    ``openid_metadata_url``: where inbound tokens' issuer is described; the signing keys are
    read from the same URL with ``/keys`` in place of its last part ``/openidconfiguration``.
    ``token_url``: the token endpoint the bot's own tokens come from (``{tenant}`` is replaced
    by ``TEAMS_TENANT_ID``). Both default to Microsoft's; a test points them at a stand-in.
    """

    openid_metadata_url: str = "https://login.botframework.com/v1/.well-known/openidconfiguration"
    token_url: str = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"
    # at most one message per conversation this often (Teams allows about one per second)
    pace_seconds: float = Field(default=1.0, ge=0, le=60)

    @field_validator("openid_metadata_url")
    @classmethod
    def _keys_beside(cls, value: str) -> str:
        if not value.rstrip("/").endswith("/openidconfiguration"):
            raise ValueError("must end in /openidconfiguration (the keys are read from the "
                             "same URL with /keys in its place)")
        return value.rstrip("/")

    @field_validator("openid_metadata_url", "token_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s):// URL")
        return value
