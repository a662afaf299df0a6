"""A local stand-in for the OpenAI and Anthropic admin APIs, over real HTTP on 127.0.0.1.

One ``ThreadingHTTPServer`` on a free port serves both providers' published shapes from an
in-memory dataset per provider (:class:`Org`), so the sources run their real httpx client,
pagination and retries against it:

- OpenAI: ``/v1/organization/projects``, ``/v1/organization/usage/{kind}`` (1m/1h/1d buckets,
  ``group_by`` project_id/model), ``/v1/organization/costs`` (1d, ``group_by`` project_id/
  line_item, ``amount.value`` in dollars), unix-second times, cursor ``page``/``next_page``;
  ``Authorization: Bearer <key>``.
- Anthropic: ``/v1/organizations/workspaces``, ``/v1/organizations/usage_report/messages``
  and ``/v1/organizations/cost_report`` (``amount`` a decimal string in cents), RFC 3339
  times, ``group_by[]``; ``x-api-key`` and ``anthropic-version`` headers.

Limits are the published ones (a ``limit`` above them is a 400), and ``max_buckets`` caps a
page further so a test sees many pages. :meth:`AdminApiStub.fail` queues faults: an HTTP
status with headers (429 + Retry-After, 500, 401), a malformed body, or a response cut short.
Every request is recorded in ``calls``.

Building a dataset from an hourly spend table
---------------------------------------------
:func:`org_from_spend` turns rows ``(hour, project, model, dollars)`` into what the provider
would report: token counts that, priced with the given ``prices`` (the same table the source
is configured with), come back to the dollars (to a token's price), and a daily cost report
of exactly those dollars per project and model for each day that ended by ``billed_until``
(``bill_factor`` scales the bill, for a list price that differs from what was billed)::

    spend = [(datetime(2026, 11, 2, 14, tzinfo=UTC), "search", "gpt-4o", 3.20), ...]
    stub.openai = org_from_spend(spend, PRICES, provider="openai", billed_until=now)
    source = OpenAISource(OpenAISourceSettings(base_url=stub.url, prices=PRICES),
                          environ={"OPENAI_ADMIN_KEY": stub.openai_key})

``project`` is the name the rows carry in ``Tags`` (``{"project": name}``); the stub gives it
an id (``proj_<name>`` / ``wrkspc_<name>``) and lists it under that name. So the same spend
table written as a FOCUS file with a ``project`` tag should make the same detection.
"""

from __future__ import annotations

import base64
import json
import threading
from collections import defaultdict, deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from bot.ingest.sources.config import ModelPrice
from bot.ingest.sources.pricing import PriceBook

__all__ = ["AdminApiStub", "Call", "Cost", "Org", "Usage", "org_from_spend"]

Provider = Literal["openai", "anthropic"]
JsonDict = dict[str, Any]
WIDTHS = {"1m": timedelta(minutes=1), "1h": timedelta(hours=1), "1d": timedelta(days=1)}
USAGE_LIMITS = {"1m": (60, 1440), "1h": (24, 168), "1d": (7, 31)}  # (default, maximum)
OPENAI_USAGE_KINDS = ("completions", "embeddings", "moderations", "images", "audio_speeches",
                      "audio_transcriptions", "vector_stores", "code_interpreter_sessions")


@dataclass(frozen=True)
class Usage:
    """Usage of one model by one project (workspace) in one hour (or minute)."""

    hour: datetime
    project: str | None  # the project/workspace id; None: the default one
    model: str
    input_tokens: int = 0  # OpenAI: all input, cached included; Anthropic: uncached only
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_5m: int = 0
    cache_write_1h: int = 0
    units: int = 0  # images, characters or seconds, by kind
    requests: int = 1
    kind: str = "completions"  # the OpenAI usage endpoint


@dataclass(frozen=True)
class Cost:
    """One line of one day's bill; ``item`` the OpenAI line_item or Anthropic description."""

    day: datetime
    project: str | None
    item: str | None
    dollars: Decimal
    model: str | None = None
    cost_type: str = "tokens"
    token_type: str | None = None


@dataclass
class Org:
    """One provider's organization: projects (id -> name), usage and costs."""

    projects: dict[str, str] = field(default_factory=dict)
    usage: list[Usage] = field(default_factory=list)
    costs: list[Cost] = field(default_factory=list)


def org_from_spend(spend: Iterable[tuple[datetime, str, str, float]],
                   prices: Mapping[str, ModelPrice], *, provider: Provider,
                   billed_until: datetime | None = None, output_share: float = 0.25,
                   bill_factor: float = 1.0) -> Org:
    """The organization whose usage, priced with ``prices``, is the hourly ``spend``.

    Each row's dollars are split ``1 - output_share`` to input tokens and ``output_share``
    to output tokens at the model's price (a model without an input or output price puts
    everything on the other side). Days ending by ``billed_until`` get a cost report of the
    row dollars times ``bill_factor``, per project and model, split into input and output
    line items the way each provider names them.
    """
    book = PriceBook(prices)
    prefix = "proj_" if provider == "openai" else "wrkspc_"
    org = Org()
    billed: dict[tuple[datetime, str, str], Decimal] = defaultdict(Decimal)
    for when, project, model, amount in spend:
        # pandas Timestamps and numpy floats (a DataFrame's itertuples) are welcome too
        hour, dollars = datetime.fromtimestamp(when.timestamp(), UTC), float(amount)
        price = book.lookup(model)
        if price is None or price.input <= 0 and price.output <= 0:
            raise ValueError(f"no token price for {model!r}: add input/output to the prices")
        share = output_share if price.input > 0 else 1.0
        share = share if price.output > 0 else 0.0
        pid = prefix + project
        org.projects[pid] = project
        org.usage.append(Usage(
            hour=hour, project=pid, model=model,
            input_tokens=round(dollars * (1 - share) / price.input * 1e6) if share < 1 else 0,
            output_tokens=round(dollars * share / price.output * 1e6) if share > 0 else 0))
        day = hour.replace(hour=0, minute=0, second=0, microsecond=0)
        if billed_until is not None and day + timedelta(days=1) <= billed_until:
            billed[(day, pid, model)] += Decimal(str(dollars)) * Decimal(str(bill_factor))
    for (day, pid, model), total in sorted(billed.items()):
        output = (total * Decimal(str(output_share))).quantize(Decimal("1e-9"))
        for kind, amount in (("input", total - output), ("output", output)):
            item = (f"{model}, {kind}" if provider == "openai"
                    else f"{model}, {kind} tokens")
            token_type = "uncached_input_tokens" if kind == "input" else "output_tokens"
            org.costs.append(Cost(day=day, project=pid, item=item, dollars=amount, model=model,
                                  token_type=token_type))
    return org


@dataclass(frozen=True)
class Call:
    """One request the stub received: path, query (name -> values), lower-case headers."""

    path: str
    params: dict[str, list[str]]
    headers: dict[str, str]
    status: int | None


@dataclass
class _Fault:
    path: str
    status: int | None
    body: bytes
    headers: dict[str, str]
    truncate: bool
    with_cursor: bool | None


class AdminApiStub:
    """The server; use as a context manager, or ``start()`` / ``stop()``."""

    def __init__(self, *, openai_key: str = "sk-admin-stubKEY0123456789abcdef",
                 anthropic_key: str = "sk-ant-admin01-stubKEY0123456789abcdef") -> None:
        self.openai_key = openai_key
        self.anthropic_key = anthropic_key
        self.openai = Org()
        self.anthropic = Org()
        self.calls: list[Call] = []
        self.max_buckets: int | None = None  # cap buckets per page below the asked limit
        self._faults: deque[_Fault] = deque()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start the stub first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> AdminApiStub:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        stub = self

        class Handler(_Handler):
            owner = stub

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,),
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def fail(self, path: str, *, status: int | None = 200, body: bytes | JsonDict = b"",
             headers: Mapping[str, str] | None = None, times: int = 1,
             truncate: bool = False, with_cursor: bool | None = None) -> None:
        """Answer the next ``times`` requests whose path contains ``path`` this way.

        ``truncate`` announces a longer body than it sends and closes the connection;
        ``with_cursor`` True/False limits the fault to requests for a later/the first page.
        """
        raw = json.dumps(body).encode() if isinstance(body, dict) else body
        with self._lock:
            self._faults.extend(_Fault(path, status, raw, dict(headers or {}), truncate,
                                       with_cursor) for _ in range(times))

    def calls_to(self, path: str) -> list[Call]:
        return [call for call in self.calls if path in call.path]

    def _take_fault(self, path: str, params: Mapping[str, list[str]]) -> _Fault | None:
        has_cursor = any(name in params for name in ("page", "after", "after_id"))
        with self._lock:
            for fault in self._faults:
                if fault.path in path and fault.with_cursor in (None, has_cursor):
                    self._faults.remove(fault)
                    return fault
        return None


class _ApiError(Exception):
    def __init__(self, status: int, body: JsonDict) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


class _Handler(BaseHTTPRequestHandler):
    owner: AdminApiStub
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:  # noqa: N802
        stub = self.owner
        parts = urlsplit(self.path)
        params = parse_qs(parts.query, keep_blank_values=True)
        headers = {name.lower(): value for name, value in self.headers.items()}
        fault = stub._take_fault(parts.path, params)
        if fault is not None:
            stub.calls.append(Call(parts.path, params, headers, fault.status))
            self._send_raw(fault.status, fault.body, fault.headers, truncate=fault.truncate)
            return
        try:
            body = _route(stub, parts.path, params, headers)
            status = 200
        except _ApiError as exc:
            status, body = exc.status, exc.body
        stub.calls.append(Call(parts.path, params, headers, status))
        self._send_raw(status, json.dumps(body).encode(), {})

    def _send_raw(self, status: int | None, body: bytes, headers: Mapping[str, str], *,
                  truncate: bool = False) -> None:
        self.close_connection = True
        if status is None:
            return
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body) + (500 if truncate else 0)))
        self.send_header("Connection", "close")
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()


def _route(stub: AdminApiStub, path: str, params: Mapping[str, list[str]],
           headers: Mapping[str, str]) -> JsonDict:
    if path.startswith("/v1/organization/"):
        from tests.support.admin_api_openai import route_openai

        return route_openai(stub, path, params, headers)
    if path.startswith("/v1/organizations/"):
        from tests.support.admin_api_anthropic import route_anthropic

        return route_anthropic(stub, path, params, headers)
    raise _ApiError(404, {"error": {"message": f"no route {path}", "type": "not_found"}})


# -- shared by both providers' routes ------------------------------------------------------

def api_error(status: int, body: JsonDict) -> _ApiError:
    return _ApiError(status, body)


def one(params: Mapping[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    return values[-1] if values else None


def limit_of(params: Mapping[str, list[str]], default: int, maximum: int,
             error: Any) -> int:
    raw = one(params, "limit")
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise error(f"limit must be an integer from 1 to {maximum}, got {raw}")
    return int(raw)


def bucket_pages(stub: AdminApiStub, start: datetime, end: datetime, width: timedelta,
                 limit: int, page: str | None) -> tuple[list[datetime], str | None]:
    """The bucket starts of one page and the next page's token (None: the last page)."""
    first = start
    if page is not None:
        first = datetime.fromtimestamp(int(base64.urlsafe_b64decode(page).decode()), UTC)
    per_page = min(limit, stub.max_buckets or limit)
    starts: list[datetime] = []
    moment = first
    while moment < end and len(starts) < per_page:
        starts.append(moment)
        moment += width
    token = None
    if moment < end:
        token = base64.urlsafe_b64encode(str(int(moment.timestamp())).encode()).decode()
    return starts, token


def floor_to(moment: datetime, width: timedelta) -> datetime:
    seconds = int(width.total_seconds())
    return datetime.fromtimestamp(int(moment.timestamp()) // seconds * seconds, UTC)


def grouped(records: Iterable[Any], key_fields: Mapping[str, str],
            groups: Iterable[str]) -> Iterator[tuple[dict[str, Any], list[Any]]]:
    """``records`` grouped by the requested fields (API name -> record attribute)."""
    chosen = [name for name in key_fields if name in set(groups)]
    buckets: dict[tuple[Any, ...], list[Any]] = defaultdict(list)
    for record in records:
        buckets[tuple(getattr(record, key_fields[name]) for name in chosen)].append(record)
    for values, members in sorted(buckets.items(), key=lambda item: repr(item[0])):
        yield {name: None for name in key_fields} | dict(zip(chosen, values, strict=True)), \
            members
