"""GitHub deployments and releases, polled and recorded as changes of the configured workloads.

For each repository under ``changes.github`` the poller reads, with GitHub's REST API (version
``2022-11-28``), ``GET /repos/{owner}/{repo}/deployments`` and ``.../releases``: both are
listed newest first, 100 to a page, the next page named by the ``Link`` header
(``rel="next"``). So that a poll every ten minutes does not re-read everything:

* the first page is asked for with the ``ETag`` of the last answer (``If-None-Match``); an
  unchanged listing answers ``304 Not Modified``, which GitHub does not count against the
  rate limit;
* pages are followed only until one holds the newest item recorded last time (the id
  watermark, kept in ``detector_state``), and on the first poll of a repository only as far
  back as ``changes.lookback_days``.

Each new deployment (the newest :data:`MAX_STATUS_LOOKUPS` of a poll: the first poll of a busy
repository must not cost hundreds of requests) also costs one
``GET .../deployments/{id}/statuses?per_page=1`` for its latest state and the link to its log.
Each item is stored once (:func:`bot.changes.events.record_change`, source ``github``,
external id ``deployment:<id>`` / ``release:<id>``); draft releases are skipped (only pushers
see them, and they change nothing yet).

A failure is one log line that says what to do, never a stop of the other repositories or of
the bot's other jobs: 401 (the token), 403/404 (what the token may see), the rate limit (403
or 429 with ``x-ratelimit-remaining: 0``: no request to GitHub until ``x-ratelimit-reset``,
or ``retry-after``), a network error or an answer not shaped as GitHub documents. The token
(``GITHUB_TOKEN``) travels in the ``Authorization`` header only and is never logged.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.changes.config import ChangeSettings, GithubRepo
from bot.changes.events import ChangeIn, ChangeProblem, record_change
from bot.settings import AllocationSettings
from storage import queries
from storage.db import session_scope
from storage.timeutil import as_utc

__all__ = ["API_VERSION", "GithubError", "GithubPoll", "poll_github"]

log = logging.getLogger(__name__)
API_VERSION = "2022-11-28"
PER_PAGE = 100
MAX_PAGES = 10  # per listing and poll; the rest waits for the next poll
MAX_STATUS_LOOKUPS = 20  # the newest new deployments get their state; older ones go without
STATE_PREFIX = "changes.github"
Json = dict[str, Any]


class GithubError(Exception):
    """A read that failed; the message says what to fix."""


class _RateLimited(GithubError):
    def __init__(self, message: str, until: datetime) -> None:
        super().__init__(message)
        self.until = until


@dataclass
class GithubPoll:
    """What one poll did: changes recorded, listings unchanged (304), problems by repository,
    and when polling may resume if GitHub's rate limit was reached."""

    recorded: int = 0
    unchanged: int = 0
    problems: dict[str, str] = field(default_factory=dict)
    paused_until: datetime | None = None


def poll_github(*, engine: Engine, settings: ChangeSettings,
                allocation: AllocationSettings | None = None,
                environ: Mapping[str, str] | None = None, now: datetime | None = None,
                transport: httpx.BaseTransport | None = None) -> GithubPoll:
    """Read every configured repository once; never raises for GitHub's or the network's
    failures (they are logged and returned)."""
    now = as_utc(now or datetime.now(UTC))
    result = GithubPoll()
    if not settings.github:
        return result
    paused = _paused_until(engine)
    if paused is not None and paused > now:
        result.paused_until = paused
        log.info("GitHub's rate limit resets at %s; no poll until then", paused.isoformat())
        return result
    environ = os.environ if environ is None else environ
    token = environ.get(settings.github_token_env, "").strip() or None
    if token is None:
        log.warning("%s is not set: GitHub is read without a token (public repositories only, "
                    "60 requests an hour); set it to a token that may read deployments and "
                    "contents", settings.github_token_env)
    with _client(settings.base_url, token, transport) as client:
        for repo in settings.github:
            try:
                result.recorded += _poll_repo(client, engine, repo, settings, allocation, now,
                                              result)
            except _RateLimited as limited:
                result.problems[repo.repo] = str(limited)
                result.paused_until = limited.until
                _pause(engine, limited.until)
                log.warning("%s", limited)
                break
            except GithubError as error:
                result.problems[repo.repo] = str(error)
                log.warning("GitHub changes of %s not read: %s", repo.repo, error)
    return result


def _client(base_url: str, token: str | None,
            transport: httpx.BaseTransport | None) -> httpx.Client:
    headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": API_VERSION,
               "User-Agent": "spendwatch"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.Client(base_url=base_url, headers=headers, timeout=30.0, transport=transport,
                        follow_redirects=True)


def _poll_repo(client: httpx.Client, engine: Engine, repo: GithubRepo,
               settings: ChangeSettings, allocation: AllocationSettings | None,
               now: datetime, result: GithubPoll) -> int:
    recorded = 0
    oldest = now - timedelta(days=settings.lookback_days)
    for listing, wanted in (("deployments", repo.deployments), ("releases", repo.releases)):
        if not wanted:
            continue
        name = f"{STATE_PREFIX}:{repo.repo}:{listing}"
        with session_scope(engine) as session:
            state = queries.state.get_state(db_session=session, name=name) or {}
        newest = int(state.get("newest_id") or 0)
        read = _read_listing(client, f"/repos/{repo.repo}/{listing}", etag=state.get("etag"),
                             newest=newest, oldest=oldest)
        if read is None:
            result.unchanged += 1
            continue
        items, etag = read
        fresh = [item for item in items if int(item["id"]) > newest]
        looked_up = {int(item["id"]) for item in fresh[:MAX_STATUS_LOOKUPS]}
        with session_scope(engine) as session:
            for item in reversed(fresh):  # oldest first, so a failure part-way loses no order
                change = (_deployment(client, repo, item, int(item["id"]) in looked_up)
                          if listing == "deployments" else _release(repo, item))
                if change is not None:
                    recorded += _store(session, change, item, allocation, now)
            top = max([newest, *(int(item["id"]) for item in items)])
            queries.state.set_state(db_session=session, name=name,
                                    value={"etag": etag, "newest_id": top})
    return recorded


def _store(session: Session, change: ChangeIn, item: Json,
           allocation: AllocationSettings | None, now: datetime) -> int:
    try:
        recorded = record_change(db_session=session, change=change, source="github", now=now,
                                 allocation=allocation, detail=_detail(item))
    except ChangeProblem as problem:
        log.warning("a GitHub change was not recorded: %s", problem)
        return 0
    return int(recorded.new)


def _read_listing(client: httpx.Client, path: str, *, etag: str | None, newest: int,
                  oldest: datetime) -> tuple[list[Json], str | None] | None:
    """The listing's items down to the watermark (None: unchanged since ``etag``)."""
    headers = {"If-None-Match": etag} if etag and newest else {}
    response = _get(client, path, params={"per_page": PER_PAGE}, headers=headers)
    if response.status_code == 304:
        return None
    first_etag = response.headers.get("etag")
    items: list[Json] = []
    for page_number in range(1, MAX_PAGES + 1):
        page = _items(response, path)
        items += page
        if any(int(item["id"]) <= newest for item in page) or any(
                _created(item) < oldest for item in page):
            break
        following = response.links.get("next", {}).get("url")
        if not following or page_number == MAX_PAGES:
            break
        response = _get(client, following)
    return [item for item in items if _created(item) >= oldest], first_etag


def _get(client: httpx.Client, url: str, *, params: Mapping[str, Any] | None = None,
         headers: Mapping[str, str] | None = None) -> httpx.Response:
    try:
        response = client.get(url, params=params, headers=headers)
    except httpx.HTTPError as exc:
        raise GithubError(f"could not reach {client.base_url} ({type(exc).__name__}); "
                          "check changes.base_url and the network; the next poll tries "
                          "again") from None
    if response.status_code in (200, 304):
        return response
    _raise_for(response, url)
    raise AssertionError("unreachable")


def _raise_for(response: httpx.Response, url: str) -> None:
    status, headers = response.status_code, response.headers
    path = httpx.URL(url).path if url.startswith("http") else url
    if status in (403, 429) and (headers.get("x-ratelimit-remaining") == "0"
                                 or "retry-after" in headers):
        until = _reset_time(headers)
        raise _RateLimited(f"GitHub's rate limit is reached (HTTP {status} on {path}); no "
                           f"request until {until:%Y-%m-%d %H:%M:%S} UTC. Set GITHUB_TOKEN if "
                           "it is not set (5,000 requests an hour instead of 60), or poll less "
                           "often (changes.poll_minutes)", until)
    if status == 401:
        raise GithubError("GitHub refused the token (HTTP 401); set GITHUB_TOKEN to a valid "
                          "token (fine-grained: Deployments and Contents, read)")
    if status in (403, 404):
        raise GithubError(f"HTTP {status} on {path}: the repository does not exist or the "
                          "token may not read it; check changes.github[].repo and give the "
                          "token read access to Deployments and Contents")
    raise GithubError(f"HTTP {status} on {path}; the next poll tries again")


def _reset_time(headers: httpx.Headers) -> datetime:
    now = datetime.now(UTC)
    retry_after = headers.get("retry-after", "")
    if retry_after.isdigit():
        return now + timedelta(seconds=int(retry_after))
    reset = headers.get("x-ratelimit-reset", "")
    if reset.isdigit():
        return datetime.fromtimestamp(int(reset), UTC)
    return now + timedelta(minutes=1)


def _items(response: httpx.Response, path: str) -> list[Json]:
    try:
        data = response.json()
    except ValueError:
        raise GithubError(f"{path} answered something that is not JSON; is changes.base_url "
                          "GitHub's API (https://api.github.com, or https://HOST/api/v3)?"
                          ) from None
    if not isinstance(data, list) or not all(
            isinstance(item, dict) and isinstance(item.get("id"), int) and item.get("created_at")
            for item in data):
        raise GithubError(f"{path} answered a shape GitHub does not document (a list of "
                          "objects with id and created_at was expected); check "
                          "changes.base_url")
    return data


def _created(item: Json) -> datetime:
    return _time(str(item.get("created_at")))


def _time(text: str) -> datetime:
    try:
        return as_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        raise GithubError(f"a time GitHub sent, {text!r}, is not ISO 8601") from None


def _deployment(client: httpx.Client, repo: GithubRepo, item: Json,
                with_status: bool) -> ChangeIn:
    status = _latest_status(client, repo, item) if with_status else None
    ref, sha = str(item.get("ref") or ""), str(item.get("sha") or "")[:7]
    what = (item.get("description") or "").strip()
    if not what:
        what = f"{item.get('task') or 'deploy'} of {ref or 'a ref'}" + (f" ({sha})" if sha
                                                                          else "")
    state = (status or {}).get("state")
    summary = f"{what} [{state}]" if state else what
    status = status or {}
    url = status.get("log_url") or status.get("environment_url") or status.get("target_url")
    return _change(kind="deploy", repo=repo, summary=summary,
                   environment=repo.environment or item.get("environment"),
                   actor=(item.get("creator") or {}).get("login"), at=item["created_at"],
                   url=url or None, external_id=f"deployment:{item['id']}")


def _latest_status(client: httpx.Client, repo: GithubRepo, item: Json) -> Json | None:
    response = _get(client, f"/repos/{repo.repo}/deployments/{item['id']}/statuses",
                    params={"per_page": 1})
    try:
        data = response.json()
    except ValueError:
        return None
    return data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else None


def _release(repo: GithubRepo, item: Json) -> ChangeIn | None:
    if item.get("draft"):
        return None
    title = (item.get("name") or "").strip() or str(item.get("tag_name") or "a release")
    if item.get("prerelease"):
        title += " (pre-release)"
    return _change(kind="release", repo=repo, summary=f"released {title}",
                   environment=repo.environment, actor=(item.get("author") or {}).get("login"),
                   at=item.get("published_at") or item["created_at"], url=item.get("html_url"),
                   external_id=f"release:{item['id']}")


def _change(*, kind: str, repo: GithubRepo, summary: str, environment: str | None,
            actor: str | None, at: str, url: str | None, external_id: str) -> ChangeIn:
    return ChangeIn(kind=kind, project=repo.project, environment=environment or None,
                    service=repo.service, summary=f"{repo.repo}: {summary}"[:1000],
                    url=url, actor=actor, at=_time(at), id=external_id)


def _detail(item: Json) -> Json:
    keys = ("ref", "sha", "task", "tag_name", "environment", "prerelease")
    return {key: item[key] for key in keys if key in item and item[key] is not None}


def _paused_until(engine: Engine) -> datetime | None:
    with session_scope(engine) as session:
        state = queries.state.get_state(db_session=session, name=STATE_PREFIX) or {}
    until = state.get("paused_until")
    return as_utc(datetime.fromisoformat(until)) if until else None


def _pause(engine: Engine, until: datetime) -> None:
    with session_scope(engine) as session:
        queries.state.set_state(db_session=session, name=STATE_PREFIX,
                                value={"paused_until": until.isoformat()})

