"""FOCUS exports in object stores (S3, GCS, Azure Blob), found by the providers' layouts.

An export on an object store is read where it lies, through fsspec: CSV in bounded range
requests, Parquet row group by row group; nothing is downloaded whole first. One listing of the
prefix finds every object with its size, modification time and change token (ETag, version id,
generation), so an object that has not changed since it was last ingested is known without a
request more, and never read again.

The providers deliver in their own layouts, and each billing period is its own delivery:

* ``aws-data-exports``: ``<prefix>/<export>/data/BILLING_PERIOD=YYYY-MM/...`` with a manifest
  under ``<prefix>/<export>/metadata/BILLING_PERIOD=YYYY-MM/.../<export>-Manifest.json`` whose
  ``dataFiles`` lists the S3 URIs of that execution. The newest manifest of a period says what
  the period is: files left over from older executions are not read.
* ``azure-cost-exports``: ``<dir>/<export>/<YYYYMMDD-YYYYMMDD>/<run id>/part_*`` with a
  ``manifest.json`` in the run folder listing ``blobs[].blobName``; the newest run of a period
  (``runInfo.submittedTime``) is read.
* ``files``: every ``.csv``, ``.csv.gz`` and ``.parquet`` under the prefix, one delivery.
* ``auto``: the AWS or Azure layout when its manifests are there, ``files`` otherwise.

A period whose manifest lists a file that is not there fails alone, with nothing of it read;
the other periods go on. Credentials come from the environment and the providers' chains only.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, TypeVar

import pyarrow.parquet as pq

from bot.ingest.sources.base import redact
from bot.ingest.sources.config import FocusSourceSettings
from bot.ingest.sources.focus_parse import FocusFileError

__all__ = [
    "Delivery",
    "ExportFile",
    "RemoteObject",
    "discover_deliveries",
    "file_size",
    "open_binary",
    "open_filesystem",
    "open_parquet",
]

SUFFIXES = (".csv", ".csv.gz", ".parquet")
CSV_BLOCK_BYTES = 4 << 20  # one range request of a CSV read
_T = TypeVar("_T")

# protocol -> (fsspec backend module, the extra that installs it)
_BACKENDS = {
    "s3": ("s3fs", None), "s3a": ("s3fs", None),
    "gs": ("gcsfs", "gcs"), "gcs": ("gcsfs", "gcs"),
    "az": ("adlfs", "azure"), "abfs": ("adlfs", "azure"), "abfss": ("adlfs", "azure"),
}
# keys of an fsspec listing entry that change whenever the object's content does, best first
_TOKEN_KEYS = ("VersionId", "version_id", "generation", "ETag", "etag", "md5Hash",
               "content_md5", "crc32c")
_MODIFIED_KEYS = ("LastModified", "last_modified", "updated", "mtime", "creation_time")
_SECRET_ENV = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AZURE_STORAGE_KEY",
               "AZURE_STORAGE_ACCOUNT_KEY", "AZURE_STORAGE_CONNECTION_STRING",
               "AZURE_STORAGE_SAS_TOKEN", "AZURE_CLIENT_SECRET")
_PERMISSIONS = {
    "s3fs": "s3:ListBucket on the bucket and s3:GetObject on the objects",
    "gcsfs": "roles/storage.objectViewer (storage.objects.list and storage.objects.get)",
    "adlfs": "the Storage Blob Data Reader role on the container",
}
_CREDENTIALS = {
    "s3fs": "AWS credentials in the environment (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "AWS_PROFILE) or give the machine a role (instance profile, IRSA)",
    "gcsfs": "GOOGLE_APPLICATION_CREDENTIALS, or run with a service account "
             "(application default credentials)",
    "adlfs": "AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT_NAME with a managed "
             "identity or AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET",
}
_AWS_PERIOD = re.compile(r"^(?P<export>.*)/metadata/BILLING_PERIOD=(?P<period>\d{4}-\d{2})/")
_AZURE_RUN = re.compile(r"^(?P<period>.*/\d{8}-\d{8})/[^/]+/manifest\.json$", re.IGNORECASE)


@dataclass(frozen=True)
class RemoteObject:
    """One object of a listing: where it is and what version of it the listing saw."""

    url: str  # protocol://bucket/key
    size: int
    token: str  # ETag, version id or generation: changes with the content
    modified: str
    fs: Any = field(compare=False, repr=False)
    block_size: int = field(default=CSV_BLOCK_BYTES, compare=False)  # per range request

    @property
    def name(self) -> str:
        return self.url.rsplit("/", 1)[-1]

    def __str__(self) -> str:
        return self.url

    def identity(self) -> dict[str, object]:
        """What says this object is the one ingested before (with the ingest's settings)."""
        return {"url": self.url, "token": self.token, "size": self.size,
                "modified": self.modified}

    def checksum(self) -> str | None:
        """The store's word for the content, standing in for a hash where reading every
        byte just to hash it would cost a whole download (Parquet)."""
        return f"{_scheme(self.url)}-token:{self.token}" if self.token else None

    def open(self, *, block_size: int | None = None, cache_type: str = "readahead"
             ) -> IO[bytes]:
        return self.fs.open(_bare(self.url), "rb", block_size=block_size or self.block_size,
                            cache_type=cache_type)


ExportFile = Path | RemoteObject


@dataclass
class Delivery:
    """The files of one delivery (a billing period of a layout, or all of ``files``)."""

    name: str
    files: list[RemoteObject]
    manifest: str | None = None
    error: str | None = None  # the period cannot be read: nothing of it is


def open_binary(file: ExportFile) -> IO[bytes]:
    if isinstance(file, RemoteObject):
        return _remote(file, lambda: file.open())
    return open(file, "rb")  # noqa: SIM115 (closed by the caller)


def open_parquet(file: ExportFile, **options: Any) -> pq.ParquetFile:
    """A Parquet file read by range requests on an object store; close it with ``force``."""
    if isinstance(file, RemoteObject):
        handle = _remote(file, lambda: file.open(block_size=1 << 20, cache_type="none"))
        return pq.ParquetFile(handle, pre_buffer=True, **options)
    return pq.ParquetFile(file, **options)


def file_size(file: ExportFile) -> int:
    return file.size if isinstance(file, RemoteObject) else file.stat().st_size


def open_filesystem(url: str, storage_options: Mapping[str, Any]) -> Any:
    """The fsspec filesystem for ``url``, new for each call (a listing is never stale).

    The backends take endpoints and credentials from the environment themselves: botocore
    ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_S3`` and its credential chain, gcsfs
    ``STORAGE_EMULATOR_HOST`` and application default credentials, adlfs
    ``AZURE_STORAGE_CONNECTION_STRING`` / ``AZURE_STORAGE_ACCOUNT_NAME`` and azure-identity.
    """
    import fsspec  # type: ignore[import-untyped]

    protocol = url.split("://", 1)[0].lower()
    module, extra = _BACKENDS.get(protocol, (None, None))
    if module is None:
        raise FocusFileError(f"{url}: unknown object store; use s3://, gs:// or az://")
    try:
        __import__(module)
    except ImportError:
        raise FocusFileError(
            f"{url}: reading {protocol}:// needs the {module} package; "
            f"install it with pip install 'spendwatch[{extra}]'"
        ) from None
    return _remote_call(url, lambda: fsspec.filesystem(protocol, skip_instance_cache=True,
                                                       **storage_options))


def discover_deliveries(source: FocusSourceSettings) -> list[Delivery]:
    """The deliveries under ``source.path``, after one listing of it."""
    url = source.path
    fs = open_filesystem(url, source.storage_options)
    protocol = url.split("://", 1)[0].lower()
    listing = _listing(fs, protocol, url)
    layout = source.layout
    if layout == "auto":
        layout = ("aws-data-exports" if _aws_manifests(listing)
                  else "azure-cost-exports" if _azure_manifests(listing) else "files")
    if layout == "files":
        files = [o for k, o in sorted(listing.items()) if k.lower().endswith(SUFFIXES)]
        return [Delivery(name=url, files=files)]
    manifests = (_aws_manifests(listing) if layout == "aws-data-exports"
                 else _azure_manifests(listing))
    if not manifests:
        raise FocusFileError(
            f"{url}: no {layout} manifest found under it; point the source at the export's "
            f"folder, or set layout: files to read every export file there"
        )
    reader = _aws_delivery if layout == "aws-data-exports" else _azure_delivery
    return [reader(fs, protocol, listing, period, found)
            for period, found in sorted(manifests.items())]


def _listing(fs: Any, protocol: str, url: str) -> dict[str, RemoteObject]:
    bare = _bare(url).rstrip("/")
    found = _remote_call(url, lambda: fs.find(bare, detail=True))
    if not found:
        info = _remote_call(url, lambda: _info_or_none(fs, bare))
        if info is None or info.get("type") != "file":
            raise FocusFileError(
                f"{url}: nothing there (no such object or prefix); check the bucket and path"
            )
        found = {bare: info}
    return {key: _object(fs, protocol, key, info) for key, info in found.items()
            if info.get("type", "file") == "file"}


def _info_or_none(fs: Any, path: str) -> dict[str, Any] | None:
    try:
        return fs.info(path)
    except FileNotFoundError:
        return None


def _object(fs: Any, protocol: str, key: str, info: Mapping[str, Any]) -> RemoteObject:
    token = next((str(info[k]).strip('"') for k in _TOKEN_KEYS if info.get(k)), "")
    modified = next((info[k] for k in _MODIFIED_KEYS if info.get(k)), "")
    if isinstance(modified, datetime):
        modified = modified.isoformat()
    return RemoteObject(url=f"{protocol}://{key}", size=int(info.get("size") or 0),
                        token=token, modified=str(modified), fs=fs)


def _aws_manifests(listing: Mapping[str, RemoteObject]) -> dict[str, list[RemoteObject]]:
    """(export, billing period) -> its manifests (each execution may leave one)."""
    found: dict[str, list[RemoteObject]] = {}
    for key, obj in listing.items():
        match = _AWS_PERIOD.match(key)
        if match and key.lower().endswith("manifest.json"):
            period = f"{match['export']}/BILLING_PERIOD={match['period']}"
            found.setdefault(period, []).append(obj)
    return found


def _azure_manifests(listing: Mapping[str, RemoteObject]) -> dict[str, list[RemoteObject]]:
    found: dict[str, list[RemoteObject]] = {}
    for key, obj in listing.items():
        match = _AZURE_RUN.match(key)
        if match:
            found.setdefault(match["period"], []).append(obj)
    return found


def _aws_delivery(fs: Any, protocol: str, listing: Mapping[str, RemoteObject], period: str,
                  manifests: list[RemoteObject]) -> Delivery:
    manifest = max(manifests, key=lambda m: (m.modified, m.url))
    name = f"{protocol}://{period}"
    try:
        listed = _read_manifest(manifest).get("dataFiles")
        if not isinstance(listed, list) or not all(isinstance(u, str) for u in listed):
            raise FocusFileError(f"{manifest}: has no dataFiles list of S3 URIs; is it an "
                                 f"AWS Data Exports manifest?")
        keys = [_bare(u) for u in listed]
    except FocusFileError as exc:
        return Delivery(name=name, files=[], manifest=manifest.url, error=str(exc))
    return _listed(name, manifest, listing, keys, protocol)


def _azure_delivery(fs: Any, protocol: str, listing: Mapping[str, RemoteObject], period: str,
                    manifests: list[RemoteObject]) -> Delivery:
    name = f"{protocol}://{period}"
    try:
        read = [(m, _read_manifest(m)) for m in manifests]
        manifest, body = max(read, key=lambda mb: (_submitted(mb[1]), mb[0].modified,
                                                   mb[0].url))
        blobs = body.get("blobs")
        if not isinstance(blobs, list) or not all(isinstance(b, dict) and b.get("blobName")
                                                  for b in blobs):
            raise FocusFileError(f"{manifest}: has no blobs[].blobName list; is it a Cost "
                                 f"Management export manifest?")
    except FocusFileError as exc:
        return Delivery(name=name, files=[], manifest=manifests[0].url, error=str(exc))
    container = _bare(manifest.url).split("/", 1)[0]
    sizes = {_blob_key(container, str(b["blobName"]), listing): b.get("byteCount")
             for b in blobs}
    delivery = _listed(name, manifest, listing, list(sizes), protocol)
    for obj in delivery.files:
        expected = sizes.get(_bare(obj.url))
        if isinstance(expected, int) and expected != obj.size:
            delivery.files, delivery.error = [], (
                f"{manifest}: lists {obj.url} with {expected:,} bytes but it has {obj.size:,} "
                f"(being rewritten?); the period is left as it was until the next run")
            break
    return delivery


def _blob_key(container: str, blob_name: str, listing: Mapping[str, RemoteObject]) -> str:
    """The listing key of a manifest's blob name (relative to the container; a name that
    already starts with the container is taken as it is when that is what exists)."""
    blob_name = blob_name.lstrip("/")
    key = f"{container}/{blob_name}"
    if key not in listing and blob_name.startswith(f"{container}/") and blob_name in listing:
        return blob_name
    return key


def _listed(name: str, manifest: RemoteObject, listing: Mapping[str, RemoteObject],
            keys: Iterable[str], protocol: str) -> Delivery:
    keys = list(dict.fromkeys(keys))
    missing = [k for k in keys if k not in listing]
    if missing:
        shown = ", ".join(f"{protocol}://{k}" for k in missing[:3])
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        return Delivery(name=name, files=[], manifest=manifest.url, error=(
            f"{manifest}: lists {shown}{more}, not found under the source's path; nothing of "
            f"this period was read and what is stored for it stays (an export still being "
            f"written, or files deleted by hand?)"))
    return Delivery(name=name, files=[listing[k] for k in keys], manifest=manifest.url)


def _read_manifest(manifest: RemoteObject) -> dict[str, Any]:
    raw = _remote(manifest, lambda: manifest.fs.cat_file(_bare(manifest.url)))
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise FocusFileError(f"{manifest}: not a JSON manifest ({exc})") from None
    if not isinstance(body, dict):
        raise FocusFileError(f"{manifest}: not a JSON object")
    return body


def _submitted(body: Mapping[str, Any]) -> str:
    info = body.get("runInfo")
    return str(info.get("submittedTime") or "") if isinstance(info, dict) else ""


def _remote(obj: RemoteObject, call: Callable[[], _T]) -> _T:
    return _remote_call(obj.url, call)


def _remote_call(url: str, call: Callable[[], _T]) -> _T:
    """``call()``, its failure said in words a user can act on, without a secret."""
    try:
        return call()
    except FocusFileError:
        raise
    except FileNotFoundError as exc:
        raise FocusFileError(_clean(f"{url}: not found ({_reason(exc)}); check the bucket "
                                    f"(container) and path")) from None
    except PermissionError as exc:
        raise FocusFileError(_clean(
            f"{url}: access denied ({_reason(exc)}); the credentials in the environment need "
            f"{_PERMISSIONS[_BACKENDS.get(_scheme(url), ('s3fs', None))[0]]} on it")) from None
    except Exception as exc:  # botocore, google-auth and azure errors have no common base
        kind = type(exc).__name__
        hint = (f"; set {_CREDENTIALS[_BACKENDS.get(_scheme(url), ('s3fs', None))[0]]}"
                if "credential" in f"{kind} {exc}".lower() else "")
        raise FocusFileError(_clean(f"{url}: {kind}: {_reason(exc)}{hint}")) from None


def _reason(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:300]


def _clean(text: str) -> str:
    return redact(text, [os.environ.get(name) for name in _SECRET_ENV])


def _bare(url: str) -> str:
    return url.split("://", 1)[-1]


def _scheme(url: str) -> str:
    return url.split("://", 1)[0].lower()
