"""Ingesting FOCUS exports straight from an S3 bucket (moto's S3 server), as the scheduler does.

What is stored is read back from the database, and compared with ingesting the same files from
a local folder: a bucket must give exactly the points a folder gives.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from bot.ingest.service import ingest_path, ingest_source
from bot.ingest.sources.config import FocusSourceSettings
from bot.ingest.sources.focus import FocusFileError
from bot.settings import Settings
from storage.db import make_engine, upgrade
from storage.queries import points as points_q
from tests.support import moto_s3 as moto
from tests.support.focus_files import write_focus_gzip, write_focus_parquet
from tests.support.moto_s3 import FAKE_SECRET, S3Env

moto_s3, s3_env = moto.moto_s3, moto.s3_env  # the fixtures

EXPORT = "focus-export"


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url  # the store's SQL is covered on PostgreSQL by test_service


def hourly(day: int, hour: int, *, month: int = 4, cost: float = 1.0, **fields) -> dict:
    start = pd.Timestamp(2025, month, day, hour, tz="UTC")
    period = pd.Timestamp(2025, month, 1, tz="UTC")
    return {
        "ChargePeriodStart": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "ChargePeriodEnd": (start + pd.Timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "BillingPeriodStart": period.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "BillingPeriodEnd": (period + pd.offsets.MonthBegin()).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "EffectiveCost": str(cost),
        "BilledCost": str(cost),
        **fields,
    }


def month(month_: int, cost: float, hours: int = 24) -> list[dict]:
    return [hourly(2, h, month=month_, cost=cost) for h in range(hours)]


def points(engine) -> pd.DataFrame:
    with engine.connect() as connection:
        frame = points_q.load_points(connection=connection,
                                     columns=("charge_category", "service_name"))
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


def by_month(engine) -> dict[str, float]:
    frame = points(engine)
    months = pd.to_datetime(frame["hour"], utc=True).dt.strftime("%Y-%m")
    return {k: round(float(v), 6) for k, v in frame.groupby(months)["effective_cost"].sum()
            .items()}


def source(s3: S3Env, prefix: str, **options) -> FocusSourceSettings:
    return FocusSourceSettings(path=f"s3://{s3.bucket}/{prefix}", name="aws", **options)


def put_file(s3: S3Env, key: str, local: Path) -> str:
    return s3.put(key, local.read_bytes())


def put_aws_period(s3: S3Env, tmp_path: Path, period: str, rows: list[dict],
                   extra_listed: tuple[str, ...] = ()) -> str:
    """One execution of an AWS Data Export for ``period``: its data file and its manifest."""
    name = f"{EXPORT}-00001.snappy.parquet"
    local = write_focus_parquet(tmp_path / period / name, rows)
    data = put_file(s3, f"exports/{EXPORT}/data/BILLING_PERIOD={period}/{name}", local)
    manifest = {
        "executionId": f"exec-{period}",
        "exportArn": f"arn:aws:bcm-data-exports:us-east-1:123456789012:export/{EXPORT}-1",
        "columns": [{"name": "BilledCost", "type": "decimal"}],
        "dataFiles": [data, *extra_listed],
        "additionalOutputFiles": [],
    }
    s3.put(f"exports/{EXPORT}/metadata/BILLING_PERIOD={period}/{EXPORT}-Manifest.json",
           json.dumps(manifest).encode())
    return data


def test_a_bucket_gives_the_same_points_as_the_same_files_in_a_folder(
        engine, settings, s3_env, tmp_path):
    folder = tmp_path / "local"
    gz = write_focus_gzip(folder / "april.csv.gz", month(4, 1.5))
    parquet = write_focus_parquet(folder / "may.parquet", month(5, 2.25))
    put_file(s3_env, "plain/april.csv.gz", gz)
    put_file(s3_env, "plain/may.parquet", parquet)

    s3_env.server.clear()

    report = ingest_source(engine=engine, settings=settings, source=source(s3_env, "plain/"))

    assert report.ok, [f.message for f in report.files]
    # read in range requests where the objects lie; Parquet never fetched whole to hash it
    gets = s3_env.server.gets("may.parquet") + s3_env.server.gets("april.csv.gz")
    assert gets and all(g.range for g in gets)
    assert sorted(f.path for f in report.files) == [
        f"s3://{s3_env.bucket}/plain/april.csv.gz", f"s3://{s3_env.bucket}/plain/may.parquet"]
    local_settings = Settings(database_url=f"sqlite:///{tmp_path / 'local.db'}",
                              quarantine_dir=tmp_path / "q")
    local_engine = make_engine(local_settings.database_url)
    upgrade(local_engine)
    try:
        ingest_path(engine=local_engine, settings=local_settings, path=folder)
        pd.testing.assert_frame_equal(points(engine), points(local_engine))
    finally:
        local_engine.dispose()
    assert by_month(engine) == {"2025-04": 36.0, "2025-05": 54.0}


def put_layout(s3: S3Env, layout: str, april: Path, may: Path) -> str:
    """April's CSV.gz and May's Parquet, delivered as ``layout`` delivers; the source prefix."""
    if layout == "files":
        put_file(s3, "drop/2025-04/export.csv.gz", april)
        put_file(s3, "drop/2025-05/export.parquet", may)
        return "drop"
    for local, period, name in ((april, "2025-04", "00001.csv.gz"),
                                (may, "2025-05", "00001.snappy.parquet")):
        if layout == "aws-data-exports":
            data = put_file(s3, f"exports/{EXPORT}/data/BILLING_PERIOD={period}/{EXPORT}-{name}",
                            local)
            s3.put(f"exports/{EXPORT}/metadata/BILLING_PERIOD={period}/{EXPORT}-Manifest.json",
                   json.dumps({"executionId": "e1", "dataFiles": [data]}).encode())
        else:
            folder = f"focus/daily/{period.replace('-', '')}01-{period.replace('-', '')}28/run-1"
            blob = f"{folder}/part_0_{name.split('.', 1)[1]}"
            put_file(s3, blob, local)
            s3.put(f"{folder}/manifest.json", json.dumps({
                "runInfo": {"submittedTime": "2025-05-03T00:00:00Z"},
                "blobs": [{"blobName": blob,
                           "byteCount": local.stat().st_size}]}).encode())
    return "exports" if layout == "aws-data-exports" else "focus"


@pytest.mark.parametrize("layout", ["files", "aws-data-exports", "azure-cost-exports"])
def test_each_layout_gives_the_points_of_the_same_files_ingested_locally(
        engine, settings, s3_env, tmp_path, layout):
    folder = tmp_path / "local"
    april = write_focus_gzip(folder / "april.csv.gz", month(4, 1.5))
    may = write_focus_parquet(folder / "may.parquet", month(5, 2.25))
    prefix = put_layout(s3_env, layout, april, may)
    told: dict[str, tuple[int, int]] = {}

    report = ingest_source(engine=engine, settings=settings, source=source(s3_env, prefix),
                           progress=lambda name, done, size: told.update({name: (done, size)}))

    assert report.ok, [f.message for f in report.files]
    assert [f.status for f in report.files] == ["ingested", "ingested"]
    assert {name: done == size for name, (done, size) in told.items()} == {
        f.path: True for f in report.files}  # one bar per object, by URL, run to the end
    local_settings = Settings(database_url=f"sqlite:///{tmp_path / 'local.db'}",
                              quarantine_dir=tmp_path / "q")
    local_engine = make_engine(local_settings.database_url)
    upgrade(local_engine)
    try:
        ingest_path(engine=local_engine, settings=local_settings, path=folder)
        pd.testing.assert_frame_equal(points(engine), points(local_engine))
    finally:
        local_engine.dispose()


def test_a_second_poll_reads_no_unchanged_object(engine, settings, s3_env, tmp_path):
    put_file(s3_env, "plain/april.csv.gz", write_focus_gzip(tmp_path / "a.csv.gz", month(4, 1)))
    put_file(s3_env, "plain/may.parquet", write_focus_parquet(tmp_path / "m.parquet",
                                                              month(5, 2)))
    ingest_source(engine=engine, settings=settings, source=source(s3_env, "plain"))
    s3_env.server.clear()

    again = ingest_source(engine=engine, settings=settings, source=source(s3_env, "plain"))

    assert [f.status for f in again.files] == ["unchanged", "unchanged"]
    assert s3_env.server.gets(".csv.gz") == [] and s3_env.server.gets(".parquet") == []
    assert by_month(engine) == {"2025-04": 24.0, "2025-05": 48.0}


def test_an_object_rewritten_with_new_content_is_read_again(engine, settings, s3_env, tmp_path):
    key = "plain/april.csv.gz"
    put_file(s3_env, key, write_focus_gzip(tmp_path / "a.csv.gz", month(4, 1)))
    ingest_source(engine=engine, settings=settings, source=source(s3_env, "plain"))
    put_file(s3_env, key, write_focus_gzip(tmp_path / "b.csv.gz", month(4, 3)))

    report = ingest_source(engine=engine, settings=settings, source=source(s3_env, "plain"))

    assert [f.status for f in report.files] == ["ingested"]
    assert by_month(engine) == {"2025-04": 72.0}  # replaced, not added


def test_aws_data_exports_restating_one_period_replaces_that_period_only(
        engine, settings, s3_env, tmp_path):
    put_aws_period(s3_env, tmp_path / "1", "2025-04", month(4, 1))
    put_aws_period(s3_env, tmp_path / "1", "2025-05", month(5, 2))
    first = ingest_source(engine=engine, settings=settings, source=source(s3_env, "exports/"))
    assert first.ok and by_month(engine) == {"2025-04": 24.0, "2025-05": 48.0}
    # the May execution overwrites its folder; an older part is left behind in it
    put_aws_period(s3_env, tmp_path / "2", "2025-05", month(5, 2.5))
    stale = write_focus_parquet(tmp_path / "stale.parquet", month(5, 100))
    put_file(s3_env, f"exports/{EXPORT}/data/BILLING_PERIOD=2025-05/{EXPORT}-00002.snappy."
                     f"parquet", stale)
    s3_env.server.clear()

    report = ingest_source(engine=engine, settings=settings, source=source(s3_env, "exports/"))

    assert report.ok, [f.message for f in report.files]
    statuses = {f.path.split("BILLING_PERIOD=")[1]: f.status for f in report.files}
    assert statuses == {f"2025-04/{EXPORT}-00001.snappy.parquet": "unchanged",
                        f"2025-05/{EXPORT}-00001.snappy.parquet": "ingested"}
    assert by_month(engine) == {"2025-04": 24.0, "2025-05": 60.0}
    assert s3_env.server.gets("00002.snappy.parquet") == []  # not in the manifest: not read
    assert s3_env.server.gets("BILLING_PERIOD=2025-04/" + f"{EXPORT}-00001.snappy.parquet") == []


def test_a_manifest_listing_a_missing_file_fails_that_period_and_keeps_the_others(
        engine, settings, s3_env, tmp_path):
    put_aws_period(s3_env, tmp_path / "1", "2025-04", month(4, 1))
    put_aws_period(s3_env, tmp_path / "1", "2025-05", month(5, 2))
    ingest_source(engine=engine, settings=settings, source=source(s3_env, "exports/"))
    missing = f"s3://{s3_env.bucket}/exports/{EXPORT}/data/BILLING_PERIOD=2025-05/gone.parquet"
    put_aws_period(s3_env, tmp_path / "2", "2025-05", month(5, 9), extra_listed=(missing,))
    put_aws_period(s3_env, tmp_path / "2", "2025-04", month(4, 3))

    report = ingest_source(engine=engine, settings=settings, source=source(s3_env, "exports/"))

    assert not report.ok
    (failed,) = report.failed
    assert failed.path.endswith(f"metadata/BILLING_PERIOD=2025-05/{EXPORT}-Manifest.json")
    assert f"lists {missing}, not found" in failed.message
    assert "nothing of this period was read" in failed.message
    # April's restatement went in; May stays as it was, not half of the new delivery
    assert by_month(engine) == {"2025-04": 72.0, "2025-05": 48.0}


def test_a_period_with_an_unreadable_part_is_not_applied_at_all(engine, settings, s3_env,
                                                                 tmp_path):
    put_aws_period(s3_env, tmp_path / "1", "2025-04", month(4, 1))
    put_aws_period(s3_env, tmp_path / "1", "2025-05", month(5, 2))
    ingest_source(engine=engine, settings=settings, source=source(s3_env, "exports/"))
    broken = s3_env.put(f"exports/{EXPORT}/data/BILLING_PERIOD=2025-05/{EXPORT}-00002.snappy."
                        f"parquet", b"PAR1 this is not parquet")
    put_aws_period(s3_env, tmp_path / "2", "2025-05", month(5, 5), extra_listed=(broken,))

    report = ingest_source(engine=engine, settings=settings, source=source(s3_env, "exports/"))

    may = {f.path.rsplit("-", 1)[1]: f for f in report.files if "2025-05" in f.path}
    assert may["00002.snappy.parquet"].status == "failed"
    assert "not a readable Parquet file" in (may["00002.snappy.parquet"].message or "")
    assert may["00001.snappy.parquet"].status == "failed"
    assert (may["00001.snappy.parquet"].message or "").startswith(f"not applied: {broken}")
    assert by_month(engine) == {"2025-04": 24.0, "2025-05": 48.0}  # May as it was, not half
    put_aws_period(s3_env, tmp_path / "3", "2025-05", month(5, 5))  # the next execution
    again = ingest_source(engine=engine, settings=settings, source=source(s3_env, "exports/"))
    assert again.ok and by_month(engine) == {"2025-04": 24.0, "2025-05": 120.0}


def test_azure_cost_exports_read_the_newest_run_of_each_period(
        engine, settings, s3_env, tmp_path):
    base = "costs/focus-daily/20250401-20250430"

    def run(run_id: str, submitted: str, cost: float) -> None:
        local = write_focus_gzip(tmp_path / run_id / "part_0_0001.csv.gz", month(4, cost))
        blob = f"{base}/{run_id}/part_0_0001.csv.gz"
        put_file(s3_env, blob, local)
        manifest = {
            "manifestVersion": "2024-04-01", "blobCount": 1, "byteCount": local.stat().st_size,
            "dataRowCount": 24,
            "exportConfig": {"exportName": "focus-daily", "type": "FocusCost"},
            "runInfo": {"executionType": "Scheduled", "submittedTime": submitted,
                        "runId": run_id},
            "blobs": [{"blobName": blob, "byteCount": local.stat().st_size,
                       "dataRowCount": 24}],
        }
        s3_env.put(f"{base}/{run_id}/manifest.json", json.dumps(manifest).encode())

    run("run-b", "2025-04-03T06:00:00.0000000Z", 2)
    run("run-a", "2025-04-02T06:00:00.0000000Z", 1)

    report = ingest_source(engine=engine, settings=settings, source=source(s3_env, "costs"))

    assert report.ok, [f.message for f in report.files]
    assert [f.path.rsplit("/", 2)[1] for f in report.files] == ["run-b"]
    assert by_month(engine) == {"2025-04": 48.0}


def test_a_path_with_nothing_there_is_refused_clearly(engine, settings, s3_env):
    with pytest.raises(FocusFileError, match="nothing there .* check the bucket and path"):
        ingest_source(engine=engine, settings=settings, source=source(s3_env, "no/such/"))
    with pytest.raises(FocusFileError, match="not found .*check the bucket"):
        ingest_source(engine=engine, settings=settings, source=FocusSourceSettings(
            path="s3://no-such-bucket-for-spendwatch/exports/"))


def test_refused_credentials_are_said_without_the_secret(engine, settings, s3_env, tmp_path):
    put_file(s3_env, "plain/a.csv.gz", write_focus_gzip(tmp_path / "a.csv.gz", month(4, 1)))

    with s3_env.server.checking_credentials(), pytest.raises(FocusFileError) as refused:
        ingest_source(engine=engine, settings=settings, source=source(s3_env, "plain"))

    message = str(refused.value)
    assert f"s3://{s3_env.bucket}/plain" in message
    assert "access denied" in message and "s3:ListBucket" in message
    assert FAKE_SECRET not in message


def test_missing_credentials_say_where_they_come_from(engine, settings, s3_env, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")

    with pytest.raises(FocusFileError, match="AWS credentials in the environment"):
        ingest_source(engine=engine, settings=settings, source=source(s3_env, "plain"))


def test_byte_identical_objects_are_counted_once_and_bad_rows_quarantined_by_name(
        engine, settings, s3_env, tmp_path):
    parquet = write_focus_parquet(tmp_path / "may.parquet", month(5, 2))
    put_file(s3_env, "plain/a/may.parquet", parquet)
    put_file(s3_env, "plain/b/may.parquet", parquet)  # the export wrote it twice
    rows = [*month(4, 1, hours=3), hourly(3, 1, EffectiveCost="lots")]
    put_file(s3_env, "plain/april.csv.gz", write_focus_gzip(tmp_path / "a.csv.gz", rows))

    report = ingest_source(engine=engine, settings=settings, source=source(s3_env, "plain"))

    statuses = {f.path.split("/plain/")[1]: f.status for f in report.files}
    assert statuses == {"a/may.parquet": "ingested", "april.csv.gz": "ingested",
                        "b/may.parquet": "duplicate"}
    duplicate = next(f for f in report.files if f.status == "duplicate")
    assert "same ETag/version in the store" in (duplicate.message or "")
    assert by_month(engine) == {"2025-04": 3.0, "2025-05": 48.0}
    april = next(f for f in report.files if f.path.endswith("april.csv.gz"))
    assert april.rows_rejected == 1
    assert Path(april.quarantine_path or "").name.endswith("-april.csv.gz.rejected.csv")


def test_a_much_smaller_restatement_of_a_period_is_held_back(engine, settings, s3_env,
                                                             tmp_path):
    put_aws_period(s3_env, tmp_path / "1", "2025-04", month(4, 1))
    ingest_source(engine=engine, settings=settings, source=source(s3_env, "exports"))
    put_aws_period(s3_env, tmp_path / "2", "2025-04", month(4, 1, hours=3))  # cut short

    report = ingest_source(engine=engine, settings=settings, source=source(s3_env, "exports"))

    assert [f.status for f in report.files] == ["held"]
    assert by_month(engine) == {"2025-04": 24.0}
    forced = ingest_source(engine=engine, settings=settings,
                           source=source(s3_env, "exports"), force=True)
    assert forced.ok and by_month(engine) == {"2025-04": 3.0}
