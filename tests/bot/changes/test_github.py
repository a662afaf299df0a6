"""The GitHub poller against a local stand-in for GitHub's REST API, over real HTTP."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.changes.config import ChangeSettings, GithubRepo
from bot.changes.github import poll_github
from bot.scheduler import build_scheduler, poll_changes
from bot.settings import Settings
from bot.wiring import Services
from storage.models import ChangeEvent
from tests.support.github_stub import GithubStub, Repo, deployment, release, status

TOKEN = "ghp_stubtoken0123456789abcdef"
ENV = {"GITHUB_TOKEN": TOKEN}
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def github() -> Iterator[GithubStub]:
    with GithubStub(token=TOKEN) as stub:
        stub.repos["acme/search"] = Repo(
            deployments=[deployment(101, NOW - timedelta(hours=5), creator="alice",
                                    description="Bigger embedding model"),
                         deployment(102, NOW - timedelta(hours=2), environment="staging",
                                    ref="feature-x")],
            releases=[release(7, NOW - timedelta(hours=3), tag="v2.4.0", name="Search 2.4"),
                      release(8, NOW - timedelta(hours=1), tag="v2.5.0-rc1", draft=True)],
            statuses={101: [status(1, NOW - timedelta(hours=5), "in_progress"),
                            status(2, NOW - timedelta(hours=5), "success",
                                   log_url="https://ci.example.com/deploy/101")]})
        yield stub


def settings_for(stub: GithubStub, *repos: GithubRepo) -> ChangeSettings:
    return ChangeSettings(base_url=stub.url, github=list(repos) or [
        GithubRepo(repo="acme/search", project="search", service="embeddings")])


def stored(engine: Engine) -> list[ChangeEvent]:
    with Session(engine) as session:
        return list(session.exec(select(ChangeEvent).order_by(col(ChangeEvent.at))).all())


def test_deployments_and_published_releases_become_changes_of_the_workload(engine, github):
    result = poll_github(engine=engine, settings=settings_for(github), environ=ENV, now=NOW)

    assert result.recorded == 3 and result.problems == {}
    rows = {row.external_id: row for row in stored(engine)}
    assert set(rows) == {"deployment:101", "deployment:102", "release:7"}  # no draft
    first = rows["deployment:101"]
    assert (first.source, first.kind, first.project, first.service_name) == (
        "github", "deploy", "search", "embeddings")
    assert first.environment == "prod"  # GitHub's "production", as the spend names it
    assert first.summary == "acme/search: Bigger embedding model [success]"
    assert (first.actor, first.url) == ("alice", "https://ci.example.com/deploy/101")
    assert rows["deployment:102"].environment == "staging"
    assert "deploy of feature-x (a84d88e)" in rows["deployment:102"].summary
    assert rows["release:7"].summary == "acme/search: released Search 2.4"
    assert rows["release:7"].environment == ""  # a release is on no environment by itself
    assert rows["release:7"].url == "https://github.com/o/r/releases/v2.4.0"


def test_the_configured_environment_wins_over_the_deployments_own(engine, github):
    repo = GithubRepo(repo="acme/search", project="search", environment="prod")
    poll_github(engine=engine, settings=settings_for(github, repo), environ=ENV, now=NOW)

    assert {row.environment for row in stored(engine)} == {"prod"}


def test_an_unchanged_repository_costs_two_not_modified_answers(engine, github):
    poll_github(engine=engine, settings=settings_for(github), environ=ENV, now=NOW)
    github.calls.clear()

    again = poll_github(engine=engine, settings=settings_for(github), environ=ENV, now=NOW)

    assert again.recorded == 0 and again.unchanged == 2
    assert [call.status for call in github.calls] == [304, 304]
    assert all(call.headers.get("if-none-match") for call in github.calls)
    assert len(stored(engine)) == 3


def test_only_what_is_new_is_read_and_stored(engine, github):
    poll_github(engine=engine, settings=settings_for(github), environ=ENV, now=NOW)
    github.repos["acme/search"].deployments.append(
        deployment(103, NOW - timedelta(minutes=5), description="Roll back the model"))
    github.calls.clear()

    result = poll_github(engine=engine, settings=settings_for(github), environ=ENV, now=NOW)

    assert result.recorded == 1
    assert stored(engine)[-1].external_id == "deployment:103"
    assert "/repos/acme/search/deployments/103/statuses" in github.paths()
    assert "/repos/acme/search/deployments/101/statuses" not in github.paths()


def test_pages_are_followed_by_the_link_header_and_stop_at_the_lookback(engine, github):
    github.repos["acme/search"] = Repo(deployments=[
        deployment(1000 + n, NOW - timedelta(hours=n)) for n in range(1, 251)])  # 250 h back
    settings = settings_for(github).model_copy(update={"lookback_days": 9})  # 216 h

    result = poll_github(engine=engine, settings=settings, environ=ENV, now=NOW)

    pages = [call for call in github.calls if call.path.endswith("/deployments")]
    assert [call.query.get("page", ["1"])[0] for call in pages] == ["1", "2", "3"]
    assert result.recorded == 216  # 1 .. 216 hours ago; older ones are past the lookback
    statuses = [call for call in github.calls if call.path.endswith("/statuses")]
    assert len(statuses) == 20  # only the newest new deployments are asked for their state


def test_a_wrong_token_says_what_to_set_and_never_shows_the_token(engine, github, caplog):
    caplog.set_level(logging.DEBUG)
    result = poll_github(engine=engine, settings=settings_for(github),
                         environ={"GITHUB_TOKEN": "ghp_wrong_token_value"}, now=NOW)

    assert "set GITHUB_TOKEN" in result.problems["acme/search"]
    assert "ghp_wrong_token_value" not in caplog.text and TOKEN not in caplog.text
    assert stored(engine) == []


def test_one_missing_repository_does_not_stop_the_others(engine, github):
    settings = settings_for(github, GithubRepo(repo="acme/gone", project="x"),
                            GithubRepo(repo="acme/search", project="search"))

    result = poll_github(engine=engine, settings=settings, environ=ENV, now=NOW)

    assert "HTTP 404" in result.problems["acme/gone"]
    assert "check changes.github[].repo" in result.problems["acme/gone"]
    assert result.recorded == 3


def test_the_rate_limit_pauses_polling_until_github_resets_it(engine, github):
    reset = NOW + timedelta(minutes=20)
    github.fail(403, {"x-ratelimit-remaining": "0",
                      "x-ratelimit-reset": str(int(reset.timestamp()))})

    limited = poll_github(engine=engine, settings=settings_for(github), environ=ENV, now=NOW)
    assert limited.paused_until == reset
    assert "rate limit" in limited.problems["acme/search"]
    github.calls.clear()

    during = poll_github(engine=engine, settings=settings_for(github), environ=ENV,
                         now=NOW + timedelta(minutes=10))
    assert github.calls == [] and during.paused_until == reset

    after = poll_github(engine=engine, settings=settings_for(github), environ=ENV,
                        now=reset + timedelta(minutes=1))
    assert after.recorded == 3 and after.problems == {}


def test_a_secondary_limit_waits_for_retry_after(engine, github):
    github.fail(429, {"retry-after": "120"})

    result = poll_github(engine=engine, settings=settings_for(github), environ=ENV, now=NOW)

    assert result.paused_until is not None
    assert timedelta(seconds=60) < result.paused_until - datetime.now(UTC) \
        <= timedelta(seconds=120)


def test_github_out_of_reach_is_a_problem_for_this_poll_only(engine):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once the block ends: nothing listens
    settings = ChangeSettings(base_url=f"http://127.0.0.1:{port}",
                              github=[GithubRepo(repo="acme/search", project="search")])

    result = poll_github(engine=engine, settings=settings, environ=ENV, now=NOW)

    assert "could not reach" in result.problems["acme/search"]


def test_the_scheduler_polls_github_beside_the_other_jobs(settings: Settings, engine, github,
                                                          monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    configured = settings.model_copy(update={"changes": settings_for(github)})
    services = Services(settings=configured, engine=engine)

    scheduler = build_scheduler(services, platforms=("slack",))
    assert scheduler.get_job("changes").trigger.interval == timedelta(minutes=10)
    assert scheduler.get_job("poll") is not None

    assert poll_changes(services).recorded == 3
    github.fail(500)
    assert poll_changes(services).problems  # reported, not raised


def test_no_repositories_no_job(settings: Settings, engine):
    scheduler = build_scheduler(Services(settings=settings, engine=engine), platforms=())
    assert scheduler.get_job("changes") is None
