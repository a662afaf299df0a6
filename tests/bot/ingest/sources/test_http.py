"""The admin-API client against a local server: pages, retries, errors that say what to do."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.ingest.sources.base import ReadStats, SourceError
from bot.ingest.sources.http import JsonApi, RetryPolicy, read_key
from tests.support.admin_api_stub import AdminApiStub, Usage

DAY = datetime(2026, 11, 1, tzinfo=UTC)
USAGE = "/v1/organization/usage/completions"
HINT = "put an admin key in OPENAI_ADMIN_KEY"


@pytest.fixture
def stub() -> Iterator[AdminApiStub]:
    with AdminApiStub() as server:
        server.openai.usage = [Usage(hour=DAY + timedelta(hours=h), project="proj_a",
                                     model="gpt-4o", input_tokens=1000 + h)
                               for h in range(48)]
        yield server


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client(stub: AdminApiStub, sleeps: Sleeps | None = None, *, key: str | None = None,
           **retry: float) -> JsonApi:
    key = key or stub.openai_key
    policy = RetryPolicy(**({"wait": 0.01, "wait_max": 0.05} | retry),  # type: ignore[arg-type]
                         sleep=sleeps if sleeps is not None else Sleeps())
    return JsonApi(provider="openai", base_url=stub.url,
                   headers={"Authorization": f"Bearer {key}"}, secret=key, auth_hint=HINT,
                   retry=policy)


def usage_pages(api: JsonApi, stats: ReadStats) -> list[dict]:
    return api.pages(USAGE, {"start_time": int(DAY.timestamp()),
                             "end_time": int((DAY + timedelta(days=2)).timestamp()),
                             "bucket_width": "1h", "group_by": ["project_id", "model"],
                             "limit": 168}, stats=stats)


def test_every_page_is_read_following_next_page_to_the_end(stub):
    stub.max_buckets = 10
    stats = ReadStats()

    with client(stub) as api:
        pages = usage_pages(api, stats)

    buckets = [bucket for page in pages for bucket in page["data"]]
    assert len(pages) == 5 and stats.requests == 5
    assert [b["results"][0]["input_tokens"] for b in buckets] == [1000 + h for h in range(48)]
    assert [c.params.get("page") is not None for c in stub.calls_to(USAGE)] == [
        False, True, True, True, True]


def test_a_list_endpoint_is_paged_by_its_last_id(stub):
    stub.openai.projects = {f"proj_{n:03}": f"project {n}" for n in range(250)}

    with client(stub) as api:
        pages = api.pages("/v1/organization/projects", {"limit": 100}, stats=ReadStats(),
                          cursor="last_id", cursor_param="after")

    assert [len(page["data"]) for page in pages] == [100, 100, 50]
    assert {p["id"] for page in pages for p in page["data"]} == set(stub.openai.projects)


def test_a_429_waits_as_long_as_retry_after_says_then_reads_on(stub):
    stub.fail(USAGE, status=429, headers={"Retry-After": "7"},
              body={"error": {"message": "Rate limit reached"}})
    sleeps = Sleeps()
    stats = ReadStats()

    with client(stub, sleeps) as api:
        pages = usage_pages(api, stats)

    assert sleeps == [7.0]
    assert len(pages[0]["data"]) == 48
    assert [c.status for c in stub.calls_to(USAGE)] == [429, 200]
    assert stats.requests == 2


def test_server_errors_are_tried_again_with_growing_waits(stub):
    stub.fail(USAGE, status=500, times=2)
    sleeps = Sleeps()

    with client(stub, sleeps) as api:
        usage_pages(api, ReadStats())

    assert len(sleeps) == 2 and sleeps[0] < sleeps[1]


def test_a_server_that_keeps_failing_gives_a_retryable_error_naming_the_endpoint(stub):
    stub.fail(USAGE, status=503, times=4)

    with client(stub, attempts=3) as api, pytest.raises(SourceError) as caught:
        usage_pages(api, ReadStats())

    assert caught.value.retryable
    assert USAGE in str(caught.value) and "503" in str(caught.value)
    assert len(stub.calls_to(USAGE)) == 3


def test_a_retry_after_too_long_to_wait_ends_the_read_for_the_runner_to_retry(stub):
    stub.fail(USAGE, status=429, headers={"Retry-After": "3600"})
    sleeps = Sleeps()

    with client(stub, sleeps) as api, pytest.raises(SourceError) as caught:
        usage_pages(api, ReadStats())

    assert caught.value.retryable and caught.value.retry_after == 3600
    assert sleeps == []


def test_a_rejected_key_is_not_retried_and_the_error_says_what_to_fix(stub, caplog):
    wrong = "sk-admin-WRONGwrongWRONG0123456789"
    caplog.set_level(logging.DEBUG)

    with client(stub, key=wrong) as api, pytest.raises(SourceError) as caught:
        usage_pages(api, ReadStats())

    message = str(caught.value)
    assert not caught.value.retryable
    assert "401" in message and HINT in message
    assert len(stub.calls_to(USAGE)) == 1
    # the stub echoes the key it was given; neither the error nor the log repeats it
    assert wrong not in message and wrong not in caplog.text


def test_a_page_that_is_not_json_fails_the_listing_naming_endpoint_and_page(stub):
    stub.max_buckets = 10
    stub.fail(USAGE, body=b'{"object": "page", "data": [', with_cursor=True)

    with client(stub) as api, pytest.raises(SourceError) as caught:
        usage_pages(api, ReadStats())

    assert f"{USAGE} page 2 is malformed" in str(caught.value)


def test_a_page_without_the_published_fields_is_malformed(stub):
    stub.fail(USAGE, body={"object": "page", "data": "none"})

    with client(stub) as api, pytest.raises(SourceError, match="page 1 is malformed"):
        usage_pages(api, ReadStats())


def test_has_more_without_a_cursor_is_malformed_not_an_endless_loop(stub):
    stub.fail(USAGE, body={"object": "page", "data": [], "has_more": True, "next_page": None})

    with client(stub) as api, pytest.raises(SourceError, match="gives no next_page"):
        usage_pages(api, ReadStats())


def test_a_response_cut_short_is_retried_then_named(stub):
    stub.fail(USAGE, body=b'{"object": "page", "data": [{"obj', truncate=True, times=4)

    with client(stub, attempts=2) as api, pytest.raises(SourceError) as caught:
        usage_pages(api, ReadStats())

    assert f"{USAGE} (page 1)" in str(caught.value) and caught.value.retryable
    assert len(stub.calls_to(USAGE)) == 2


def test_an_unreachable_server_is_a_retryable_error(stub):
    url = stub.url
    stub.stop()
    api = JsonApi(provider="openai", base_url=url, headers={}, secret="x" * 8,
                  auth_hint=HINT, retry=RetryPolicy(attempts=2, wait=0, sleep=Sleeps()))

    with api, pytest.raises(SourceError) as caught:
        api.get(USAGE, {}, stats=ReadStats())

    assert caught.value.retryable and "ConnectError" in str(caught.value)


def test_a_missing_key_names_the_variable_to_set():
    with pytest.raises(SourceError, match="set the environment variable OPENAI_ADMIN_KEY"):
        read_key({"OPENAI_ADMIN_KEY": "  "}, "OPENAI_ADMIN_KEY", provider="openai",
                 hint="an admin key")
