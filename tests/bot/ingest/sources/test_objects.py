"""Finding export objects in a bucket by layout, and reading them without downloading them whole.

Against moto's S3 server: the listing, range requests and errors are those of s3fs and botocore.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace

import pytest
from pydantic import ValidationError

from bot.ingest.sources.config import FocusSourceSettings
from bot.ingest.sources.focus import FocusFileError, read_chunks
from bot.ingest.sources.objects import discover_deliveries, open_filesystem
from tests.support import moto_s3 as moto
from tests.support.focus_files import FOCUS_DEFAULTS, write_focus_csv
from tests.support.moto_s3 import S3Env

moto_s3, s3_env = moto.moto_s3, moto.s3_env  # the fixtures

AWS_DATA = "cur/focus/data/BILLING_PERIOD={}/focus-00001.csv.gz"
AWS_MANIFEST = "cur/focus/metadata/BILLING_PERIOD={}/focus-Manifest.json"


def settings_for(s3: S3Env, prefix: str, **options) -> FocusSourceSettings:
    return FocusSourceSettings(path=f"s3://{s3.bucket}/{prefix}", **options)


def put_aws(s3: S3Env, period: str, listed: list[str] | None = None) -> str:
    data = s3.put(AWS_DATA.format(period), b"not read by discovery")
    s3.put(AWS_MANIFEST.format(period), json.dumps({"dataFiles": listed or [data]}).encode())
    return data


def test_files_layout_finds_every_export_file_with_its_change_token(s3_env):
    for key in ("drop/b.parquet", "drop/a.csv", "drop/sub/c.CSV.GZ", "drop/notes.txt",
                "drop/manifest.json", "other/d.csv"):
        s3_env.put(key, b"x" * 10)

    (delivery,) = discover_deliveries(settings_for(s3_env, "drop/", layout="files"))

    assert [f.url for f in delivery.files] == [f"s3://{s3_env.bucket}/drop/{n}" for n in
                                               ("a.csv", "b.parquet", "sub/c.CSV.GZ")]
    assert all(f.size == 10 and len(f.token) == 32 for f in delivery.files)  # the ETag (MD5)


def test_auto_tells_the_layouts_apart_by_their_manifests(s3_env):
    put_aws(s3_env, "2025-04")
    put_aws(s3_env, "2025-05")
    blob = "az/focus/20250401-20250430/run-1/part_0_0001.parquet"
    s3_env.put(blob, b"p")
    s3_env.put("az/focus/20250401-20250430/run-1/manifest.json",
               json.dumps({"blobs": [{"blobName": blob}]}).encode())
    s3_env.put("plain/x.csv", b"x")

    aws = discover_deliveries(settings_for(s3_env, "cur"))
    azure = discover_deliveries(settings_for(s3_env, "az"))
    plain = discover_deliveries(settings_for(s3_env, "plain"))

    assert [d.name for d in aws] == [f"s3://{s3_env.bucket}/cur/focus/BILLING_PERIOD=2025-04",
                                     f"s3://{s3_env.bucket}/cur/focus/BILLING_PERIOD=2025-05"]
    assert [[f.name for f in d.files] for d in aws] == [["focus-00001.csv.gz"]] * 2
    assert [[f.url for f in d.files] for d in azure] == [[f"s3://{s3_env.bucket}/{blob}"]]
    assert [[f.name for f in d.files] for d in plain] == [["x.csv"]]


def test_a_layout_without_its_manifests_says_how_to_read_the_files_instead(s3_env):
    s3_env.put("plain/x.csv", b"x")

    with pytest.raises(FocusFileError, match="no aws-data-exports manifest found.*layout: files"):
        discover_deliveries(settings_for(s3_env, "plain", layout="aws-data-exports"))


def test_a_broken_manifest_fails_its_period_alone(s3_env):
    put_aws(s3_env, "2025-04")
    s3_env.put(AWS_MANIFEST.format("2025-05"), b"{not json")
    s3_env.put(AWS_MANIFEST.format("2025-06"), json.dumps({"files": []}).encode())

    april, may, june = discover_deliveries(settings_for(s3_env, "cur"))

    assert april.error is None and len(april.files) == 1
    assert may.files == [] and "not a JSON manifest" in (may.error or "")
    assert june.files == [] and "has no dataFiles list" in (june.error or "")


def test_an_azure_blob_of_another_size_than_its_manifest_says_fails_the_period(s3_env):
    blob = "az/focus/20250401-20250430/run-1/part_0_0001.csv.gz"
    s3_env.put(blob, b"12345")
    s3_env.put("az/focus/20250401-20250430/run-1/manifest.json", json.dumps(
        {"blobs": [{"blobName": blob, "byteCount": 9}]}).encode())

    (delivery,) = discover_deliveries(settings_for(s3_env, "az", layout="azure-cost-exports"))

    assert delivery.files == []
    assert "with 9 bytes but it has 5" in (delivery.error or "")


def test_a_large_csv_is_read_in_bounded_range_requests_as_it_is_parsed(s3_env, tmp_path):
    one = write_focus_csv(tmp_path / "one.csv", [{}]).read_text().splitlines()
    line = one[1]
    cost = FOCUS_DEFAULTS["EffectiveCost"]
    body = "\n".join([one[0], *(line.replace(cost, f"{i % 97}.5", 1) for i in range(12_000))])
    data = body.encode() + b"\n"
    assert len(data) > 2 << 20
    s3_env.put("big/export.csv", data)
    (delivery,) = discover_deliveries(settings_for(s3_env, "big"))
    remote = replace(delivery.files[0], block_size=64 << 10)
    s3_env.server.clear()

    chunks = read_chunks(remote, chunk_bytes=128 << 10, chunk_rows=5000)
    first = next(chunks)
    before_first = _requested(s3_env.server.gets("big/export.csv"))
    rows = len(first.items) + sum(len(c.items) for c in chunks)

    assert rows == 12_000
    assert before_first < len(data) // 2  # parsing began long before the object was all read
    gets = s3_env.server.gets("big/export.csv")
    assert all(g.range for g in gets) and len(gets) >= 5
    assert max(_span(g.range) for g in gets) <= (128 << 10) + 2 * (64 << 10)  # each bounded
    assert _requested(gets) <= len(data) + (512 << 10)  # and nothing read twice over


def test_a_missing_optional_backend_says_which_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "gcsfs", None)  # as if not installed

    with pytest.raises(FocusFileError, match=r"pip install 'spendwatch\[gcs\]'"):
        open_filesystem("gs://bucket/exports", {})


def test_an_unknown_scheme_is_named():
    with pytest.raises(FocusFileError, match="unknown object store"):
        open_filesystem("ftp://host/exports", {})


def test_the_endpoint_comes_from_aws_endpoint_url_s3_too(s3_env, monkeypatch):
    s3_env.put("plain/x.csv", b"x")
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_env.server.endpoint)

    (delivery,) = discover_deliveries(settings_for(s3_env, "plain"))

    assert [f.name for f in delivery.files] == ["x.csv"]


@pytest.mark.parametrize("options", [{"secret": "s3cr3t-value"}, {"key": "AKIA0000"},
                                     {"connection_string": "AccountKey=s3cr3t-value"},
                                     {"token": "ya29.s3cr3t-value"}, {"sas_token": "sv=1"}])
def test_credentials_in_storage_options_are_refused_without_echoing_them(options):
    with pytest.raises(ValidationError) as refused:
        FocusSourceSettings(path="s3://bucket/exports", storage_options=options)

    message = str(refused.value)
    assert "must not hold credentials" in message and "environment" in message
    assert all(str(v) not in message for v in options.values())


def test_object_store_options_are_kept_and_refused_on_a_local_path():
    options = {"region_name": "eu-west-1", "anon": False, "requester_pays": True}
    remote = FocusSourceSettings(path="gs://bucket/x", storage_options={"token": "anon"},
                                 layout="files")
    assert remote.is_remote and remote.local_path is None
    assert FocusSourceSettings(path="s3://b/x", storage_options=options).storage_options == options
    with pytest.raises(ValidationError, match="apply to object-store paths"):
        FocusSourceSettings(path="/data/exports", layout="aws-data-exports")


def _span(header: str | None) -> int:
    start, end = (header or "bytes=0-0").removeprefix("bytes=").split("-")
    return int(end) - int(start) + 1


def _requested(gets: list[moto.Request]) -> int:
    return sum(_span(g.range) for g in gets)
