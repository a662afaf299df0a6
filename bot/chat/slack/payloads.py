"""The shapes of Slack's requests, checked before Bolt reads them.

A request that is signed but not shaped as Slack sends it (``actions`` a number, no ``user``,
``view`` a string...) would otherwise make Bolt fail inside its routing and answer 500 with a
traceback in the log. :func:`shape_problem` checks the fields Bolt's routing and this app's
listeners read, with the types Slack gives them, so such a request is refused with 400 before
Bolt sees it; a bug in a listener still fails as a bug (500, logged).

Every payload is checked as an :class:`Envelope` (the fields Bolt reads from any request, each
optional, typed when present); the kinds of request this app handles must also carry what
their listeners need: ``block_actions`` (a user and at least one action), ``view_submission``
(a user and the view's state), slash commands, ``event_callback`` (an event; App Home's names
the user) and ``url_verification``. Other fields are not looked at.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = ["shape_problem"]


class _Shape(BaseModel):
    # strict: a number is not a string; extra fields are Slack's business, not refused
    model_config = ConfigDict(strict=True, extra="allow")


class _Id(_Shape):
    id: str


class _OptionalId(_Shape):
    id: str | None = None


class _ResponseUrl(_Shape):
    response_url: str | None = None


class _Container(_Shape):
    channel_id: str | None = None
    message_ts: str | None = None


class _Selected(_Shape):
    value: str


class _Action(_Shape):
    action_id: str
    block_id: str | None = None
    value: str | None = None
    selected_option: _Selected | None = None


class _State(_Shape):
    values: dict[str, dict[str, dict[str, Any]]]


class _View(_Shape):
    type: str
    callback_id: str
    private_metadata: str | None = None
    state: _State | None = None
    team_id: str | None = None
    app_installed_team_id: str | None = None


class _Event(_Shape):
    type: str
    user: str | dict[str, Any] | None = None
    channel: str | dict[str, Any] | None = None


class Envelope(_Shape):
    """What Bolt reads from any request, whatever its type."""

    type: str | None = None
    user: _Id | str | None = None
    user_id: str | None = None
    team: _OptionalId | str | None = None
    team_id: str | None = None
    enterprise: _OptionalId | str | None = None
    enterprise_id: str | None = None
    channel: _Id | str | None = None
    channel_id: str | None = None
    authorizations: list[dict[str, Any]] | None = None
    response_url: str | None = None
    response_urls: list[_ResponseUrl] | None = None
    thread_ts: str | None = None
    trigger_id: str | None = None
    container: _Container | None = None
    actions: list[_Action] | None = None
    view: _View | None = None
    event: _Event | None = None


class _BlockActions(Envelope):
    user: _Id
    channel: _Id | None = None
    actions: list[_Action] = Field(min_length=1)
    trigger_id: str


class _ViewState(_View):
    state: _State


class _ViewSubmission(Envelope):
    user: _Id
    view: _ViewState


class _Command(Envelope):
    command: str
    text: str
    user_id: str
    channel_id: str
    response_url: str


class _EventCallback(Envelope):
    event: _Event


class _HomeEvent(_Event):
    user: str = Field(min_length=1)  # whose App Home to draw: Slack always says


class _HomeOpened(Envelope):
    event: _HomeEvent


class _UrlVerification(Envelope):
    challenge: str


_BY_TYPE: dict[str, type[Envelope]] = {
    "block_actions": _BlockActions,
    "view_submission": _ViewSubmission,
    "event_callback": _EventCallback,
    "url_verification": _UrlVerification,
}


def shape_problem(body: dict[str, Any]) -> str | None:
    """None when ``body`` (a parsed request) has the shape Slack sends; else what is wrong,
    naming fields and expected types only (never a value)."""
    try:
        _model_for(body).model_validate(body)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])[:100] or "the body"
        more = f" and {error.error_count() - 1} more" if error.error_count() > 1 else ""
        return f"{_kind(body)}: {where}: {first['msg'].lower()}{more}"
    return None


def _model_for(body: dict[str, Any]) -> type[Envelope]:
    if "command" in body:  # a slash command has no type; Bolt routes it by this field
        return _Command
    kind = body.get("type")
    if kind == "event_callback" and _event_type(body) == "app_home_opened":
        return _HomeOpened
    return _BY_TYPE.get(kind, Envelope) if isinstance(kind, str) else Envelope


def _event_type(body: dict[str, Any]) -> object:
    event = body.get("event")
    return event.get("type") if isinstance(event, dict) else None


def _kind(body: dict[str, Any]) -> str:
    if "command" in body:
        return "a slash command"
    kind = body.get("type")
    return f"a {kind} payload" if isinstance(kind, str) and kind.isidentifier() else "a payload"
