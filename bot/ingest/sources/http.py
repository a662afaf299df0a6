"""Paged JSON over HTTP for the provider admin APIs, with retries and errors that say what to do.

Both admin APIs (OpenAI's organization usage and costs, Anthropic's usage and cost reports)
page the same way: a page carries ``data``, ``has_more`` and a cursor for the next page, either
an opaque ``next_page`` token or the ``last_id`` of the page (list endpoints). :class:`JsonApi`
gathers every page of a listing before returning any, so a read never yields half a window: a
page that is not JSON, or not the shape the endpoint publishes, fails the whole read with a
:class:`SourceError` naming the endpoint and the page.

Within one call, a 429 (honouring ``Retry-After``), a 5xx or a network error is tried again
with exponential backoff (tenacity); 401 and 403 are not, since only a new key fixes them.
The key travels in a header only and is redacted from every message.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from bot.ingest.sources.base import ReadStats, SourceError, redact
from bot.ingest.sources.config import AnthropicSourceSettings, OpenAISourceSettings

__all__ = ["JsonApi", "RetryPolicy", "read_key", "retry_policy"]

logger = logging.getLogger(__name__)

Params = Mapping[str, str | int | Sequence[str]]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard one call tries: ``attempts`` in all, waits from ``wait`` up to ``wait_max``."""

    attempts: int = 4
    wait: float = 1.0
    wait_max: float = 30.0
    # a Retry-After longer than this is not slept through: the read fails, retryable
    retry_after_max: float = 60.0
    sleep: Callable[[float], None] = time.sleep


class _Transient(Exception):
    """A failure worth another attempt; ``error`` is what to raise once attempts run out."""

    def __init__(self, error: SourceError) -> None:
        super().__init__(str(error))
        self.error = error


class JsonApi:
    """GETs of JSON from one provider's admin API (``provider`` names it in every message)."""

    def __init__(self, *, provider: str, base_url: str, headers: Mapping[str, str],
                 secret: str, auth_hint: str, retry: RetryPolicy = RetryPolicy(),
                 timeout: float = 30.0, transport: httpx.BaseTransport | None = None) -> None:
        self.provider = provider
        self._secret = secret
        self._auth_hint = auth_hint
        self._retry = retry
        self._client = httpx.Client(base_url=base_url.rstrip("/"), headers=dict(headers),
                                    timeout=timeout, transport=transport)

    def __enter__(self) -> JsonApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def _redact(self, text: str) -> str:
        return redact(text, [self._secret])

    def pages(self, path: str, params: Params, *, stats: ReadStats,
              cursor: str = "next_page", cursor_param: str = "page",
              max_pages: int = 10_000) -> list[dict[str, Any]]:
        """Every page of a listing, in order; raises before returning if any page is bad.

        The next page is asked for with ``cursor_param`` set to the page's ``cursor`` field
        (``next_page`` -> ``page`` for reports, ``last_id`` -> ``after``/``after_id`` for lists).
        """
        pages: list[dict[str, Any]] = []
        token: str | None = None
        seen: set[str] = set()
        while True:
            number = len(pages) + 1
            query = dict(params)
            if token is not None:
                query[cursor_param] = token
            page = self.get(path, query, stats=stats, page=number)
            if not isinstance(page.get("data"), list) or not isinstance(
                    page.get("has_more"), bool):
                raise self._malformed(path, number, "it has no 'data' list or no 'has_more' flag")
            pages.append(page)
            if not page["has_more"]:
                return pages
            token = page.get(cursor)
            if not isinstance(token, str) or not token:
                raise self._malformed(path, number, f"it says has_more but gives no {cursor}")
            if token in seen or number >= max_pages:
                raise self._malformed(path, number, f"its {cursor} repeats an earlier page's")
            seen.add(token)

    def get(self, path: str, params: Params, *, stats: ReadStats,
            page: int = 1) -> dict[str, Any]:
        """One JSON object from ``path``, retried on 429, 5xx and network errors."""
        policy = self._retry
        retrying = Retrying(
            stop=stop_after_attempt(policy.attempts),
            wait=self._wait,
            retry=retry_if_exception(lambda exc: isinstance(exc, _Transient)),
            sleep=policy.sleep,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._once(path, params, stats=stats, page=page)
        except _Transient as exc:
            raise exc.error from None
        raise AssertionError("unreachable: tenacity either returns or raises")

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Transient) and exc.error.retry_after is not None:
            return exc.error.retry_after
        return float(wait_exponential(multiplier=self._retry.wait,
                                      max=self._retry.wait_max)(state))

    def _once(self, path: str, params: Params, *, stats: ReadStats,
              page: int) -> dict[str, Any]:
        where = f"{self.provider} {path} (page {page})"
        stats.requests += 1
        try:
            response = self._client.get(path, params=params)
            body = response.content
        except httpx.HTTPError as exc:
            message = self._redact(f"{where}: {type(exc).__name__}: {exc}")
            logger.warning("%s; trying again", message)
            raise _Transient(SourceError(
                f"{message}. The network or the provider is down, or the response was cut "
                "short; the next poll tries again.", retryable=True)) from None
        status = response.status_code
        if status == 200:
            return self._decode(path, page, body)
        detail = self._redact(_error_detail(body))
        if status in (401, 403):
            raise SourceError(f"{where} answered {status} ({detail}): {self._auth_hint}")
        if status == 429 or status >= 500:
            retry_after = _retry_after(response.headers.get("retry-after"))
            error = SourceError(
                f"{where} answered {status} ({detail}); "
                + ("over the rate limit" if status == 429 else "a server error")
                + ", tried again and gave up; the next poll tries again.",
                retryable=True, retry_after=retry_after)
            if retry_after is not None and retry_after > self._retry.retry_after_max:
                raise error
            logger.warning("%s answered %s; trying again", where, status)
            raise _Transient(error)
        raise SourceError(f"{where} answered {status} ({detail}); check the source's "
                          "settings (base_url, the window asked for) and the provider's status.")

    def _decode(self, path: str, page: int, body: bytes) -> dict[str, Any]:
        try:
            value = json.loads(body)
        except ValueError as exc:
            raise self._malformed(path, page, f"it is not JSON ({exc})") from None
        if not isinstance(value, dict):
            raise self._malformed(path, page, "it is not a JSON object")
        return value

    def _malformed(self, path: str, page: int, why: str) -> SourceError:
        return SourceError(
            self._redact(f"{self.provider} {path} page {page} is malformed: {why}. Nothing "
                         "from this read was kept; the next poll tries again, and if it "
                         "persists the API changed: report it with this message."),
            retryable=True)


def _error_detail(body: bytes) -> str:
    """The provider's own error message, or the start of the body."""
    try:
        value = json.loads(body)
    except ValueError:
        return body[:200].decode("utf-8", "replace").strip() or "no body"
    error = value.get("error") if isinstance(value, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return error["message"][:300]
    if isinstance(error, str):
        return error[:300]
    return json.dumps(value)[:300]


def _retry_after(header: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds form; dates are rare here)."""
    if header is None:
        return None
    try:
        return max(0.0, float(header.strip()))
    except ValueError:
        return None


def read_key(environ: Mapping[str, str], variable: str, *, provider: str, hint: str) -> str:
    """The API key in ``environ[variable]``, or a SourceError saying which variable to set."""
    key = environ.get(variable, "").strip()
    if not key:
        raise SourceError(f"{provider}: no API key: set the environment variable {variable} "
                          f"to {hint}.")
    return key


def retry_policy(settings: OpenAISourceSettings | AnthropicSourceSettings,
                 sleep: Callable[[float], None] = time.sleep) -> RetryPolicy:
    """The retry settings of an admin-API source."""
    return RetryPolicy(attempts=settings.retry_attempts, wait=settings.retry_wait_seconds,
                       wait_max=settings.retry_wait_max_seconds,
                       retry_after_max=settings.retry_after_max_seconds, sleep=sleep)


def count_field(result: Mapping[str, Any], field: str) -> float:
    """A count in an API result: absent or null is 0; anything but a number is malformed."""
    value = result.get(field, 0)
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{field} is {value!r}, not a number")
    return float(value)


def malformed(where: str, exc: Exception) -> SourceError:
    """The error of a response page whose content is not what the API publishes."""
    return SourceError(f"{where} is malformed ({type(exc).__name__}: {exc}). Nothing from "
                       "this read was kept; if it persists the API changed: report it.",
                       retryable=True)
