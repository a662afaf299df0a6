"""`spendwatch ingest` with no path reads every configured source; `spendwatch sources` tells
where each one stands. In-process through typer's runner, on a SQLite store."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from bot.cli import app
from tests.support import moto_s3 as moto
from tests.support.focus_files import write_focus_csv
from tests.support.moto_s3 import S3Env

moto_s3, s3_env = moto.moto_s3, moto.s3_env  # the fixtures

ROWS = [{"BillingAccountId": "acct-1", "ChargePeriodStart": f"2026-11-02T{h:02d}:00:00Z",
         "ChargePeriodEnd": f"2026-11-02T{h + 1:02d}:00:00Z",
         "BillingPeriodStart": "2026-11-01T00:00:00Z", "BillingPeriodEnd": "2026-12-01T00:00:00Z",
         "EffectiveCost": "2.5", "BilledCost": "2.5", "BillingCurrency": "USD",
         "ChargeCategory": "Usage", "ServiceName": "Amazon EC2",
         "Tags": '{"project": "search", "environment": "prod"}'} for h in range(10)]


def write_config(tmp_path: Path, sources: list[dict]) -> Path:
    config = tmp_path / "spendwatch.yml"
    config.write_text(yaml.safe_dump({"database_url": "sqlite:///sw.db",
                                      "quarantine_dir": "quarantine", "sources": sources}))
    return config


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    return result.exit_code, result.output


def test_ingest_without_a_path_reads_every_source_once_then_nothing_new(tmp_path: Path) -> None:
    write_focus_csv(tmp_path / "exports" / "e.csv", ROWS)
    config = write_config(tmp_path, [{"type": "focus", "path": "exports", "name": "aws-cur"}])
    code, out = run("ingest", "--config", str(config))
    assert code == 0, out
    assert "aws-cur" in out and "10" in out
    code, out = run("ingest", "--config", str(config))
    assert code == 0, out
    code, out = run("sources", "--config", str(config), "--format", "json")
    assert code == 0, out
    [status] = json.loads(out)
    assert status["label"] == "aws-cur" and status["kind"] == "focus"
    assert status["rows_total"] == 10  # the second read added nothing
    assert status["rows_last"] == 0
    assert status["newest_hour"] == "2026-11-02T09:00:00+00:00"
    assert status["healthy"] and status["last_error"] is None


def test_a_failing_source_is_reported_and_the_others_are_read(tmp_path: Path) -> None:
    write_focus_csv(tmp_path / "exports" / "e.csv", ROWS)
    config = write_config(tmp_path, [{"type": "focus", "path": "gone", "name": "old-drop"},
                                     {"type": "focus", "path": "exports", "name": "aws-cur"}])
    code, out = run("ingest", "--config", str(config))
    assert code == 1
    assert "old-drop" in out and "no such file or folder" in out
    code, out = run("sources", "--config", str(config))
    assert code == 0, out
    assert "old-drop" in out and "no such file or folder" in out and "next try" in out
    assert "aws-cur" in out and "2026-11-02 10:00" in out  # data as of the end of hour 09


def test_ingest_without_sources_says_what_to_do(tmp_path: Path) -> None:
    config = write_config(tmp_path, [])
    result = CliRunner().invoke(app, ["ingest", "--config", str(config)])
    assert result.exit_code != 0
    assert "no sources are configured" in str(result.exception)


# -- an export bucket (moto's S3 server) -------------------------------------------------------



def upload(s3_env: S3Env, tmp_path: Path, key: str) -> None:
    write_focus_csv(tmp_path / "upload.csv", ROWS)
    s3_env.client.put_object(Bucket=s3_env.bucket, Key=key,
                             Body=(tmp_path / "upload.csv").read_bytes())


def test_a_bucket_source_is_read_then_left_alone_until_it_changes(
        tmp_path: Path, s3_env: S3Env) -> None:
    upload(s3_env, tmp_path, "focus/2026-11/part-1.csv")
    config = write_config(tmp_path, [{"type": "focus", "name": "bucket",
                                      "path": f"s3://{s3_env.bucket}/focus/"}])
    code, out = run("ingest", "--config", str(config))
    assert code == 0, out
    s3_env.server.clear()
    code, out = run("ingest", "--config", str(config))
    assert code == 0, out
    data_gets = [r for r in s3_env.server.requests
                 if r.method == "GET" and r.path.endswith(".csv")]
    assert data_gets == []  # unchanged by its ETag: not downloaded again
    code, out = run("sources", "--config", str(config), "--format", "json")
    [status] = json.loads(out)
    assert status["rows_total"] == 10 and status["healthy"]


def test_ingest_takes_a_bucket_path_on_the_command_line(tmp_path: Path, s3_env: S3Env) -> None:
    upload(s3_env, tmp_path, "drop/e.csv")
    config = write_config(tmp_path, [])
    code, out = run("ingest", f"s3://{s3_env.bucket}/drop/", "--config", str(config))
    assert code == 0, out
    assert "e.csv" in out
    code, out = run("costs", "--config", str(config), "--format", "json", "--start",
                    "2026-11-02", "--end", "2026-11-03", "--by", "project")
    assert code == 0, out
    assert sum(row["cost"] for row in json.loads(out)) == 25.0
