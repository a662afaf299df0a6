"""A change as senders describe it, checked, and stored once.

:class:`ChangeIn` is the body of ``POST /events/change`` (and what the GitHub poller builds):
every problem is reported with the key and what is allowed, because the person reading it is
writing a deploy script. :func:`record_change` stores it under the sender's own id (or, when
the sender gives none, a hash of what it sent), so a resent event is stored once, with its
environment folded through ``allocation.environment_aliases`` (``production`` is ``prod``),
so a change is found on the workload whatever the deploy tool calls the environment.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError, field_validator
from sqlmodel import Session

from bot.ingest.allocation import Allocator
from bot.settings import AllocationSettings
from storage import queries
from storage.models import ChangeEvent
from storage.timeutil import as_utc

__all__ = ["ChangeIn", "ChangeProblem", "Recorded", "parse_change", "record_change"]

FUTURE_SLACK = timedelta(minutes=10)  # senders' clocks drift; a change days ahead is a mistake
_KIND = re.compile(r"^[a-z][a-z0-9_-]*$")

Short = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class ChangeProblem(ValueError):
    """A change that cannot be stored as sent; the message says what to fix."""


class ChangeIn(BaseModel):
    """One deploy, release or config change, as sent (see the README's "What changed")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1,
                                           max_length=30)]
    project: Short
    environment: Short | None = None
    service: Short | None = None
    summary: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                              max_length=1000)]
    url: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] | None = None
    actor: Short | None = None
    at: datetime | None = None
    id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                         max_length=300)] | None = None

    @field_validator("kind")
    @classmethod
    def _kind_word(cls, value: str) -> str:
        if not _KIND.match(value):
            raise ValueError("must be one word such as deploy, release or config "
                             "(letters, digits, - and _)")
        return value

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) link to the deploy, release or change")
        return value

    @field_validator("at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return as_utc(value) if value is not None else None


def parse_change(body: bytes) -> ChangeIn:
    """The change in a webhook body, or :class:`ChangeProblem` naming each bad key."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ChangeProblem(f"the body is not JSON ({exc}); send one JSON object") from None
    if not isinstance(data, dict):
        raise ChangeProblem(f"the body is a JSON {type(data).__name__}; send one JSON object "
                            "with kind, project and summary")
    try:
        change = ChangeIn.model_validate(data)
    except ValidationError as exc:
        raise ChangeProblem("; ".join(_describe(error) for error in exc.errors())) from None
    if change.id is None:
        digest = hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":"),
                                           ensure_ascii=False).encode()).hexdigest()
        change = change.model_copy(update={"id": f"sha256:{digest}"})
    return change


def _describe(error: Any) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "(body)"
    if error["type"] == "missing":
        return f"{key} is required"
    if error["type"] == "extra_forbidden":
        return (f"{key} is not a known key; use kind, project, environment, service, summary, "
                f"url, actor, at, id")
    if key == "at":
        return f"at must be an ISO 8601 time such as 2026-11-30T14:05:00Z ({error['msg']})"
    return f"{key}: {error['msg']}"


class Recorded(BaseModel):
    """What storing a change did: its row id, whether it is new, and a warning for the
    sender (a project with no spend on record) or None."""

    id: int
    new: bool
    warning: str | None = None


def record_change(*, db_session: Session, change: ChangeIn, source: str, now: datetime,
                  allocation: AllocationSettings | None = None,
                  detail: dict[str, Any] | None = None) -> Recorded:
    """Store ``change`` from ``source`` (``webhook``, ``github``) once; raise
    :class:`ChangeProblem` for a time too far ahead."""
    at = change.at or as_utc(now)
    if at > as_utc(now) + FUTURE_SLACK:
        raise ChangeProblem(f"at is {at.isoformat()}, after now ({as_utc(now).isoformat()}); "
                            "send the time the change happened, in UTC or with an offset")
    environment = ""
    if change.environment:
        environment = Allocator(allocation or AllocationSettings()).environment(
            change.environment)
    row = ChangeEvent(
        source=source, external_id=change.id or "", kind=change.kind, project=change.project,
        environment=environment, service_name=change.service or "", summary=change.summary,
        url=change.url, actor=change.actor, at=at, recorded_at=as_utc(now).astimezone(UTC),
        detail=detail or {})
    stored, new = queries.changes.add_change(db_session=db_session, event=row)
    warning = None
    if not queries.changes.project_known(db_session=db_session, project=change.project):
        warning = (f"no spend of project {change.project!r} is on record yet; the change is "
                   "kept, but an alert only lists it if the project name matches the "
                   "project tag on the spend")
    assert stored.id is not None
    return Recorded(id=stored.id, new=new, warning=warning)

