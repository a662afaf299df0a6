"""moto's S3 server on a free local port, for reading exports from a bucket as a user would.

The server is the real HTTP server moto ships (``ThreadedMotoServer``), so s3fs, aiobotocore
and botocore run their whole path: endpoint from ``AWS_ENDPOINT_URL``, signing, listing, range
reads. The app is wrapped to record each request (method, path, ``Range`` header), which lets a
test see how an object was read: in bounded range requests, or whole.

Use the ``moto_s3`` fixture (one server for the session) and ``s3_env`` (the environment a
test needs: endpoint, fake credentials, a fresh bucket, fsspec's caches emptied)::

    from tests.support import moto_s3 as moto

    moto_s3, s3_env = moto.moto_s3, moto.s3_env  # the fixtures
"""

from __future__ import annotations

import threading
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

__all__ = ["MotoS3", "S3Env", "moto_s3", "s3_env"]

FAKE_KEY_ID = "AKIAFAKEKEYFORTESTS00"
FAKE_SECRET = "fake/Secret+Key/for+tests/only/0123456789"  # noqa: S105 (not a secret)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    range: str | None


@dataclass
class MotoS3:
    """The running server and what it was asked."""

    endpoint: str
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def gets(self, key_suffix: str) -> list[Request]:
        """GET requests for objects whose path ends with ``key_suffix``."""
        with self.lock:
            return [r for r in self.requests if r.method == "GET" and r.path.endswith(key_suffix)]

    def clear(self) -> None:
        with self.lock:
            self.requests.clear()

    @contextmanager
    def checking_credentials(self) -> Iterator[None]:
        """Within: requests are authenticated, so unknown keys are refused as on AWS."""
        self._auth("0")
        try:
            yield
        finally:
            self._auth("inf")

    def _auth(self, count: str) -> None:
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset-auth",
                                         data=count.encode(), method="POST",
                                         headers={"Content-Type": "text/plain"})
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 (local)
            answer.read()


class _QuietHandler(MotoRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


class _RecordingServer(ThreadedMotoServer):
    def __init__(self, record: Callable[[Request], None]) -> None:
        super().__init__(ip_address="127.0.0.1", port=0, verbose=False)
        self._record = record

    def _server_entry(self) -> None:
        app = DomainDispatcherApplication(create_backend_app)
        record = self._record

        def recording(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
            record(Request(environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""),
                           environ.get("HTTP_RANGE")))
            return app(environ, start_response)  # type: ignore[no-any-return]

        self._server = make_server(self._ip_address, self._port, recording, True,
                                   request_handler=_QuietHandler)
        self._server_ready_event.set()
        self._server.serve_forever()


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoS3]:
    state = MotoS3(endpoint="")

    def record(request: Request) -> None:
        with state.lock:
            state.requests.append(request)

    server = _RecordingServer(record)
    server.start()
    host, port = server.get_host_and_port()
    state.endpoint = f"http://{host}:{port}"
    try:
        yield state
    finally:
        server.stop()


@dataclass
class S3Env:
    """A bucket of its own for one test, and a boto3 client to fill it."""

    server: MotoS3
    bucket: str
    client: Any

    def put(self, key: str, body: bytes) -> str:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=body)
        return f"s3://{self.bucket}/{key}"

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)


@pytest.fixture
def s3_env(moto_s3: MotoS3, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Env]:
    import boto3
    import fsspec

    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3",
                 "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_s3.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", FAKE_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    fsspec.AbstractFileSystem.clear_instance_cache()
    bucket = f"exports-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=moto_s3.endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=bucket)
    moto_s3.clear()
    try:
        yield S3Env(server=moto_s3, bucket=bucket, client=client)
    finally:
        fsspec.AbstractFileSystem.clear_instance_cache()
