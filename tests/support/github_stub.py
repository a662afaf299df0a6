"""A local stand-in for GitHub's REST API (deployments and releases), over real HTTP.

One ``ThreadingHTTPServer`` on a free port of 127.0.0.1 serves, per repository
(:class:`Repo`), the shapes GitHub publishes for API version 2022-11-28:

- ``GET /repos/{owner}/{repo}/deployments`` and ``.../releases``: a JSON array, newest first
  (by ``created_at``, then id), ``per_page`` (at most 100, default 30) and ``page``, a ``Link``
  header with ``rel="next"`` and ``rel="last"`` while more pages follow, an ``ETag`` on every
  200 and ``304 Not Modified`` (no body) when ``If-None-Match`` names the current one;
- ``GET /repos/{owner}/{repo}/deployments/{id}/statuses``: the deployment's statuses, newest
  first;
- an unknown repository is ``404 {"message": "Not Found"}``; with ``token`` set, a request
  without ``Authorization: Bearer <token>`` is ``401 {"message": "Bad credentials"}``.

:meth:`GithubStub.fail` queues faults: a status with headers (403 with
``x-ratelimit-remaining: 0`` and ``x-ratelimit-reset``, 429 with ``retry-after``, 500).
Every request is recorded in ``calls``. :func:`deployment` and :func:`release` build items
with GitHub's fields.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

__all__ = ["Call", "GithubStub", "Repo", "deployment", "release", "status"]

Json = dict[str, Any]


def _stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def deployment(id: int, at: datetime, *, environment: str = "production", ref: str = "main",
               sha: str = "a84d88e7554fc1fa21bcbc4efae3c782a70d2b9d", creator: str = "octocat",
               description: str | None = None, task: str = "deploy") -> Json:
    return {"url": f"https://api.github.com/repos/o/r/deployments/{id}", "id": id,
            "node_id": f"MDEwOkRlcGxveW1lbnQ{id}", "sha": sha, "ref": ref, "task": task,
            "payload": {}, "original_environment": environment, "environment": environment,
            "description": description, "creator": {"login": creator, "id": 1,
                                                     "type": "User"},
            "created_at": _stamp(at), "updated_at": _stamp(at),
            "statuses_url": f"https://api.github.com/repos/o/r/deployments/{id}/statuses",
            "repository_url": "https://api.github.com/repos/o/r",
            "transient_environment": False, "production_environment": True}


def status(id: int, at: datetime, state: str = "success", *,
           log_url: str = "https://ci.example.com/deploy/1") -> Json:
    return {"id": id, "state": state, "creator": {"login": "octocat"}, "description": "",
            "environment": "production", "target_url": log_url, "log_url": log_url,
            "environment_url": "", "created_at": _stamp(at), "updated_at": _stamp(at)}


def release(id: int, at: datetime, *, tag: str = "v1.0.0", name: str | None = None,
            author: str = "octocat", draft: bool = False, prerelease: bool = False) -> Json:
    return {"url": f"https://api.github.com/repos/o/r/releases/{id}",
            "html_url": f"https://github.com/o/r/releases/{tag}", "id": id,
            "tag_name": tag, "target_commitish": "main", "name": name, "body": "",
            "draft": draft, "prerelease": prerelease, "created_at": _stamp(at),
            "published_at": None if draft else _stamp(at),
            "author": {"login": author, "id": 1, "type": "User"}, "assets": []}


@dataclass
class Repo:
    deployments: list[Json] = field(default_factory=list)
    releases: list[Json] = field(default_factory=list)
    statuses: dict[int, list[Json]] = field(default_factory=dict)  # oldest first, as created


@dataclass(frozen=True)
class Call:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    status: int


class GithubStub:
    def __init__(self, *, token: str | None = None) -> None:
        self.repos: dict[str, Repo] = {}
        self.token = token
        self.calls: list[Call] = []
        self._faults: deque[tuple[int, dict[str, str]]] = deque()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> GithubStub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def fail(self, status: int, headers: dict[str, str] | None = None, times: int = 1) -> None:
        """The next ``times`` requests answer ``status`` with ``headers``."""
        for _ in range(times):
            self._faults.append((status, headers or {}))

    def paths(self) -> list[str]:
        return [call.path for call in self.calls]

    def _answer(self, path: str, query: dict[str, list[str]], headers: dict[str, str]
                ) -> tuple[int, dict[str, str], Any]:
        if self._faults:
            code, extra = self._faults.popleft()
            return code, extra, {"message": "API rate limit exceeded" if code in (403, 429)
                                 else "Server Error"}
        if self.token and headers.get("authorization") != f"Bearer {self.token}":
            return 401, {}, {"message": "Bad credentials"}
        parts = path.strip("/").split("/")
        if len(parts) < 4 or parts[0] != "repos" or f"{parts[1]}/{parts[2]}" not in self.repos:
            return 404, {}, {"message": "Not Found"}
        repo = self.repos[f"{parts[1]}/{parts[2]}"]
        rest = parts[3:]
        if rest == ["deployments"]:
            return self._page(path, query, headers, repo.deployments)
        if rest == ["releases"]:
            return self._page(path, query, headers, repo.releases)
        if len(rest) == 3 and rest[0] == "deployments" and rest[2] == "statuses":
            found = list(reversed(repo.statuses.get(int(rest[1]), [])))
            return self._page(path, query, headers, found, ordered=True)
        return 404, {}, {"message": "Not Found"}

    def _page(self, path: str, query: dict[str, list[str]], headers: dict[str, str],
              items: list[Json], *, ordered: bool = False) -> tuple[int, dict[str, str], Any]:
        per_page = min(int(query.get("per_page", ["30"])[0]), 100)
        page = int(query.get("page", ["1"])[0])
        listed = items if ordered else sorted(items, key=lambda i: (i["created_at"], i["id"]),
                                              reverse=True)
        chunk = listed[(page - 1) * per_page: page * per_page]
        etag = 'W/"' + hashlib.sha256(json.dumps(chunk, sort_keys=True).encode()
                                      ).hexdigest()[:32] + '"'
        if headers.get("if-none-match") == etag:
            return 304, {"ETag": etag}, None
        out = {"ETag": etag}
        last = max(1, -(-len(listed) // per_page))
        if page < last:
            link = lambda n: f'<{self.url}{path}?{urlencode({"per_page": per_page, "page": n})}>'  # noqa: E731
            out["Link"] = f'{link(page + 1)}; rel="next", {link(last)}; rel="last"'
        return 200, out, chunk

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                split = urlsplit(self.path)
                query = parse_qs(split.query)
                headers = {k.lower(): v for k, v in self.headers.items()}
                with stub._lock:
                    code, extra, body = stub._answer(split.path, query, headers)
                    stub.calls.append(Call(split.path, query, headers, code))
                payload = b"" if body is None else json.dumps(body).encode()
                self.send_response(code)
                for name, value in extra.items():
                    self.send_header(name, value)
                if body is not None:
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
