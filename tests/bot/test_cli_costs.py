"""`spendwatch costs` as people run it: the real CLI on stores filled by the real ingest.

Totals are checked against the ``cost_point`` table itself, so a total that depends on which
rows a breakdown shows cannot pass.
"""

from __future__ import annotations

import csv
import io
import json
import random
import re
import sqlite3
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine
from typer.testing import CliRunner, Result

from bot import cli
from bot.costs.command import ProjectCostAnswer, Scope, TopAnswer, respond
from bot.costs.service import BREAKDOWNS
from bot.costs.views import format_plain
from bot.demodata import write_demo_data
from tests.support.focus_files import write_focus_csv

APRIL = datetime(2025, 4, 1, tzinfo=UTC)  # the small store: April 1 to 21, 2025
FIELDS = ["charge_category", "cost", "previous_cost", "change", "change_pct", "metric"]
MONEY = r"-?\$[\d,]+\.\d\d"


# --- running the CLI, reading what it prints --------------------------------------------------


def run(config: Path, *args: str) -> Result:
    result = CliRunner().invoke(cli.app, ["costs", "--config", str(config), *args],
                                env={"COLUMNS": "220"}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def run_main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
             *args: str) -> tuple[int, str, str]:
    """The installed entry point (``spendwatch``) in-process: exit status, stdout, stderr."""
    monkeypatch.setattr(sys, "argv", ["spendwatch", *args])
    monkeypatch.setenv("COLUMNS", "200")  # as wide as a terminal: rich wraps at 80 otherwise
    with pytest.raises(SystemExit) as exited:
        cli.main()
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def money(text: str) -> float:
    return -float(text[2:].replace(",", "")) if text.startswith("-") else float(
        text[1:].replace(",", ""))


def table(text: str) -> list[tuple[str, list[str]]]:
    """(first cell, other cells) of every body row of the printed table, in order."""
    rows = []
    for line in text.splitlines():
        if line.startswith("│"):
            cells = [c.strip() for c in line.strip().strip("│").split("│")]
            rows.append((cells[0], cells[1:]))
    return rows


def cell(text: str, label: str, column: int = 0) -> float:
    """An amount of the row called ``label`` (column 0: cost, 1: previous)."""
    found = [cells for first, cells in table(text) if first == label]
    assert len(found) == 1, f"no single {label!r} row in:\n{text}"
    return money(found[0][column])


def stored_sum(db: Path, start: datetime, end: datetime, *, metric: str = "effective",
               project: str | None = None, environment: str | None = None,
               category: str | None = None) -> float:
    """The sum the store holds, straight from ``cost_point``."""
    sql = (f"SELECT COALESCE(SUM(p.{metric}_cost), 0) FROM cost_point p "
           "JOIN cost_series s ON s.id = p.series_id WHERE p.hour >= ? AND p.hour < ?")
    params: list[str] = [_stamp(start), _stamp(end)]
    for column, value in (("project", project), ("environment", environment),
                          ("charge_category", category)):
        if value is not None:
            sql += f" AND s.{column} = ?"
            params.append(value)
    with sqlite3.connect(db) as connection:
        return float(connection.execute(sql, params).fetchone()[0])


def newest_end(db: Path) -> datetime:
    with sqlite3.connect(db) as connection:
        newest = connection.execute("SELECT MAX(hour) FROM cost_point").fetchone()[0]
    return datetime.fromisoformat(newest).replace(tzinfo=UTC) + timedelta(hours=1)


def _stamp(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S}.000000"  # how SQLite holds the hours


def ingest(tmp: Path, source: Path) -> tuple[Path, Path]:
    """A config with its own SQLite store, filled by ``spendwatch ingest``."""
    config = tmp / "spendwatch.yml"
    config.write_text(json.dumps({"database_url": f"sqlite:///{tmp / 'sw.db'}",
                                  "quarantine_dir": str(tmp / "quarantine")}))
    result = CliRunner().invoke(cli.app, ["ingest", str(source), "--config", str(config)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return config, tmp / "sw.db"


# --- stores -----------------------------------------------------------------------------------


def _day(day: int, cost: float, *, project: str | None, environment: str = "prod",
         service: str = "Amazon EC2", account: str = "ai-prod", category: str = "Usage",
         effective: float | None = None, hours: int = 24) -> dict[str, str | None]:
    start = APRIL + timedelta(days=day, hours=24 - hours)
    tags = None if project is None else json.dumps(
        {"project": project, "environment": environment, "owner": f"team-{project}"})
    return {"ChargePeriodStart": f"{start:%Y-%m-%dT%H:%M:%SZ}",
            "ChargePeriodEnd": f"{start + timedelta(hours=hours):%Y-%m-%dT%H:%M:%SZ}",
            "ChargeCategory": category, "BilledCost": str(cost),
            "EffectiveCost": str(cost if effective is None else effective),
            "ServiceName": service, "SubAccountName": account, "Tags": tags}


def _small_rows() -> list[dict[str, str | None]]:
    """Three weeks of usage, with credits, a purchase, tax, dust and a refund among it."""
    rng = random.Random(7)
    lines = [("web", "prod", "Amazon EC2", "web-prod"), ("web", "dev", "Amazon S3", "web-dev"),
             ("api", "prod", "Amazon Bedrock", "ai-prod"), (None, "prod", "Amazon RDS", "shared"),
             (None, "prod", "AWS Lambda", "sandbox")]
    rows = [_day(d, round(rng.uniform(1, 40), 4), project=p, environment=e, service=s,
                 account=a) for d in range(21) for p, e, s, a in lines]
    rows += [_day(d, 0.0004, project="api", service="Amazon CloudWatch") for d in range(21)]
    rows += [
        _day(9, -25.0, project="web", category="Credit", hours=1),
        _day(16, -3.0, project=None, service="Amazon RDS", account="shared", category="Credit",
             hours=1),
        _day(12, 500.0, project="api", service="Savings Plans", category="Purchase",
             effective=0.0, hours=1),
        _day(15, 4.2, project="web", service="Tax", category="Tax", hours=1),
        _day(17, -1.5, project="api", environment="dev", service="Amazon Bedrock"),  # a refund
    ]
    return rows


@pytest.fixture(scope="module")
def small_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("small")
    return ingest(tmp, write_focus_csv(tmp / "april.csv", _small_rows()))


@pytest.fixture(scope="module")
def sample_store(tmp_path_factory: pytest.TempPathFactory, shared_dir: Path) -> tuple[Path, Path]:
    """The FOCUS 1.0 sample: a month of AWS and Azure rows, zero-cost lines and a credit."""
    tmp = tmp_path_factory.mktemp("sample")
    return ingest(tmp, shared_dir / "data" / "focus" / "FOCUS-Sample-Data" / "FOCUS-1.0" /
                  "focus_sample.csv")


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The demo's four weeks (its credit falls in the week before the last)."""
    tmp = tmp_path_factory.mktemp("demo")
    write_demo_data(tmp / "data", days=28, start=datetime(2026, 3, 2, tzinfo=UTC))
    return ingest(tmp, tmp / "data")


# --- the total does not depend on the breakdown -----------------------------------------------


@pytest.mark.shared
def test_the_total_is_the_same_whatever_the_breakdown(sample_store: tuple[Path, Path]) -> None:
    config, db = sample_store
    end = newest_end(db)
    billed = stored_sum(db, end - timedelta(days=30), end, metric="billed")
    assert f"{billed:.2f}" == "20.52"
    for by in BREAKDOWNS:
        out = run(config, "--metric", "billed", "--last", "30d", "--by", by).stdout
        assert cell(out, "total") == pytest.approx(20.52), by
        rows = json.loads(run(config, "--metric", "billed", "--last", "30d", "--by", by,
                              "--format", "json").stdout)
        assert sum(r["cost"] for r in rows) == pytest.approx(billed, abs=1e-4), by


@pytest.mark.shared
def test_unallocated_shows_the_credit_and_what_the_list_leaves_out(
    sample_store: tuple[Path, Path],
) -> None:
    config, db = sample_store
    out = run(config, "--unallocated", "--last", "7d", "--top", "3").stdout
    end = newest_end(db)
    loose = stored_sum(db, end - timedelta(days=7), end, project="unallocated")
    everything = stored_sum(db, end - timedelta(days=7), end)
    assert f"${loose:.2f} of ${everything:.2f}" in out
    rows = table(out)
    assert ("Credit: Amazon Elastic Compute Cloud", ["-$3.00", "$0.00", "-$3.00", "new", ""]
            ) in rows
    labels = [label for label, _ in rows]
    more = next(label for label in labels if re.fullmatch(r"\d+ more", label))
    usage_rows = labels[:labels.index("usage")]
    assert len(usage_rows) == 4 and usage_rows[-1] == more  # three rows, then the rest summed
    assert int(more.split()[0]) >= 20  # the sample's many zero-cost lines are counted, not lost
    for column in (0, 1):  # this period and the one before
        shown = sum(cell(out, label, column) for label in usage_rows)
        assert shown == pytest.approx(cell(out, "usage", column), abs=0.03)
        listed = cell(out, "usage", column) + sum(
            cell(out, label, column) for label in labels[labels.index("usage") + 1:-1])
        assert listed == pytest.approx(cell(out, "total", column), abs=0.02)
    assert cell(out, "total") == pytest.approx(loose, abs=0.005)


# --- usage apart from credits and purchases ---------------------------------------------------


def test_the_biggest_mover_in_the_demo_is_usage_not_the_credit(
    demo_store: tuple[Path, Path],
) -> None:
    config, db = demo_store
    out = run(config, "--by", "project", "--last", "7d").stdout
    end = newest_end(db)
    week, before = (end - timedelta(days=7), end), (end - timedelta(days=14), end - timedelta(
        days=7))
    credit = stored_sum(db, *before, project="platform-core", category="Credit")
    assert credit <= -500  # the demo's credit, in the week before
    assert cell(out, "Credit: platform-core", 1) == pytest.approx(credit, abs=0.005)
    usage_now = stored_sum(db, *week, project="platform-core", category="Usage")
    usage_before = stored_sum(db, *before, project="platform-core", category="Usage")
    assert cell(out, "platform-core") == pytest.approx(usage_now, abs=0.005)
    assert cell(out, "platform-core", 1) == pytest.approx(usage_before, abs=0.005)
    assert abs(usage_now / usage_before - 1) < 0.2  # usage held steady: no +200 % here
    changes = {}
    for project in _projects(db):
        changes[project] = (stored_sum(db, *week, project=project, category="Usage")
                            - stored_sum(db, *before, project=project, category="Usage"))
    mover = max(changes, key=lambda p: abs(changes[p]))
    assert mover != "platform-core"
    assert f"Largest change in usage: {mover} " in out
    assert cell(out, "total") == pytest.approx(stored_sum(db, *week), abs=0.005)
    assert cell(out, "total", 1) == pytest.approx(stored_sum(db, *before), abs=0.005)


def _projects(db: Path) -> list[str]:
    with sqlite3.connect(db) as connection:
        return [p for (p,) in connection.execute("SELECT DISTINCT project FROM cost_series")]


def test_purchases_tax_and_credits_are_listed_apart(small_store: tuple[Path, Path]) -> None:
    config, _ = small_store
    out = run(config, "--by", "project", "--metric", "billed", "--last", "30d").stdout
    labels = [label for label, _ in table(out)]
    others = labels[labels.index("usage") + 1:labels.index("total")]
    assert set(others) == {"Purchase: api", "Credit: web", "Credit: unallocated", "Tax: web"}
    assert cell(out, "Purchase: api") == 500.0
    assert cell(out, "Credit: web") == -25.0


# --- headings ---------------------------------------------------------------------------------


@pytest.mark.parametrize("metric", ["effective", "billed"])
@pytest.mark.parametrize("extra", [[], ["--unallocated"], ["--project", "web", "--by", "region"]])
def test_every_table_heading_names_the_cost_column(small_store: tuple[Path, Path], metric: str,
                                                    extra: list[str]) -> None:
    config, _ = small_store
    out = run(config, "--metric", metric, *extra).stdout
    title = next(line for line in out.splitlines() if " UTC) by " in line)
    assert title.rstrip().endswith(f", {metric} cost")
    header = next(line for line in out.splitlines() if line.startswith("┃"))
    assert f"{metric} cost" in header


# --- --start / --end --------------------------------------------------------------------------


def test_start_and_end_report_that_window_and_the_one_before(
    small_store: tuple[Path, Path],
) -> None:
    config, db = small_store
    start, end = APRIL + timedelta(days=7), APRIL + timedelta(days=14)
    out = run(config, "--start", "2025-04-08", "--end", "2025-04-15T00:00Z").stdout
    assert "7 days (2025-04-08 00:00 to 2025-04-15 00:00 UTC)" in out
    assert cell(out, "total") == pytest.approx(stored_sum(db, start, end), abs=0.005)
    assert cell(out, "total", 1) == pytest.approx(stored_sum(db, APRIL, start), abs=0.005)
    hours = run(config, "--start", "2025-04-20T02:00+02:00").stdout  # to the newest data
    first, newest = datetime(2025, 4, 20, tzinfo=UTC), newest_end(db)
    assert "(2025-04-20 00:00 to 2025-04-22 00:00 UTC)" in hours
    assert cell(hours, "total") == pytest.approx(stored_sum(db, first, newest), abs=0.005)
    assert cell(hours, "total", 1) == pytest.approx(
        stored_sum(db, first - (newest - first), first), abs=0.005)


@pytest.mark.parametrize(("args", "message"), [
    (["--last", "fortnight"], "error: --last 'fortnight' is not a period; use 7d, 30d, 24h"),
    (["--start", "2025-04-10", "--end", "2025-04-03"],
     "error: --end 2025-04-03 00:00 must be after --start 2025-04-10 00:00 (UTC; --end is "
     "exclusive)"),
    (["--last", "7d", "--start", "2025-04-03"], "error: --last and --start cannot be combined"),
    (["--start", "April 3rd"], "error: --start 'April 3rd' is not an ISO 8601 date or time"),
    (["--start", "2025-04-03", "--end", "2025-04-31"], "error: --end '2025-04-31' is not an ISO"),
    (["--start", "2025-04-03T10:15"], "error: --start '2025-04-03T10:15' is not on the hour"),
    (["--end", "2025-04-10"], "error: --end needs --start"),
    (["--format", "xml"], "error: --format 'xml' is unknown; use table, json or csv"),
    (["--format", "json", "--by", "team"], "error: --by 'team' is not a breakdown"),
    (["--top", "0"], "error: --top 0 shows nothing; give 1 or more rows"),
    (["--unallocated", "--project", "web"], "error: --unallocated is the spend with no project"),
])
def test_mistakes_are_one_line_a_non_zero_exit_and_no_traceback(
    small_store: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], args: list[str], message: str,
) -> None:
    config, _ = small_store
    code, out, err = run_main(monkeypatch, capsys, "costs", "--config", str(config), *args)
    assert code == 2
    assert out == ""
    assert err.startswith(message), err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_start_end_appear_in_the_help(monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(monkeypatch, capsys, "costs", "--help")
    assert code == 0
    text = " ".join(out.split())
    assert "exclusive" in text and "--start 2024-09-01 --end 2024-10-01 is September" in text


# --- JSON and CSV -----------------------------------------------------------------------------


@pytest.mark.parametrize(("extra", "categories"), [
    (["--by", "service"], {"Usage", "Credit", "Purchase", "Tax"}),
    (["--unallocated", "--by", "account"], {"Usage", "Credit"}),
])
def test_json_and_csv_are_all_there_is_on_stdout_and_add_up_to_the_table(
    small_store: tuple[Path, Path], extra: list[str], categories: set[str],
) -> None:
    config, _ = small_store
    window = ["--start", "2025-04-08", "--end", "2025-04-22", "--top", "2", *extra]
    text = run(config, *window).stdout
    by = extra[-1]
    as_json = run(config, *window, "--format", "json")
    as_csv = run(config, *window, "--format", "csv")
    assert as_json.stderr == "" and as_csv.stderr == ""
    rows = json.loads(as_json.stdout)
    assert isinstance(rows, list) and all(list(r) == [by, *FIELDS] for r in rows)
    assert {r["charge_category"] for r in rows} == categories
    assert [r["charge_category"] for r in rows].count("Usage") == len(
        {r[by] for r in rows if r["charge_category"] == "Usage"})
    reader = csv.DictReader(io.StringIO(as_csv.stdout))
    assert reader.fieldnames == [by, *FIELDS]
    from_csv = list(reader)
    assert [r[by] for r in from_csv] == [r[by] for r in rows]
    for key, column in (("cost", 0), ("previous_cost", 1)):
        total = cell(text, "total", column)
        assert sum(r[key] for r in rows) == pytest.approx(total, abs=0.005)
        assert sum(float(r[key]) for r in from_csv) == pytest.approx(total, abs=0.005)
    labels = [label for label, _ in table(text)]
    usage = labels[:labels.index("usage" if "usage" in labels else "total")]
    more = [int(label.split()[0]) for label in usage if re.fullmatch(r"\d+ more", label)]
    in_table = len(usage) - len(more) + sum(more)
    assert len([r for r in rows if r["charge_category"] == "Usage"]) == in_table  # none cut off


def test_machine_output_of_an_empty_store_is_an_error_on_stderr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "spendwatch.yml"
    config.write_text(json.dumps({"database_url": f"sqlite:///{tmp_path / 'sw.db'}"}))
    code, out, err = run_main(monkeypatch, capsys, "costs", "--config", str(config),
                              "--format", "json")
    assert (code, out) == (2, "")
    assert err.startswith("error: no cost data yet; run `spendwatch ingest PATH` first")


# --- the CLI and /cost: one answer -----------------------------------------------------------


def test_the_cli_and_cost_command_give_the_same_figures(small_store: tuple[Path, Path]) -> None:
    """Same store, same 7 and 30 days: the same total, and per service the same usage (a credit
    on a service is a line of its own in both, never netted into that service's spend)."""
    config, db = small_store
    engine = create_engine(f"sqlite:///{db}")
    try:
        for period in ("7d", "30d"):
            rows = json.loads(run(config, "--project", "web", "--last", period, "--by",
                                  "service", "--format", "json").stdout)
            answer = respond(f"web {period}", connection_or_engine=engine,
                             scope=Scope.everything())
            assert isinstance(answer, ProjectCostAnswer)
            assert answer.total.cost == pytest.approx(sum(r["cost"] for r in rows), abs=1e-4)
            assert answer.total.previous == pytest.approx(
                sum(r["previous_cost"] for r in rows), abs=1e-4)
            usage = {r["service"]: r["cost"] for r in rows if r["charge_category"] == "Usage"}
            assert {s.name: round(s.cost, 4) for s in answer.services} == {
                k: round(v, 4) for k, v in usage.items() if abs(v) >= 0.005}
            other = sum(r["cost"] for r in rows if r["charge_category"] != "Usage")
            if period == "30d":  # the -25.00 credit and the 4.20 tax on web
                assert answer.other is not None
                assert answer.other.cost == pytest.approx(other) == pytest.approx(-20.8)
                assert "Credits and other charges (in the total): -$20.80" in format_plain(answer)
            top = respond(f"top 25 {period}", connection_or_engine=engine,
                          scope=Scope.everything())
            assert isinstance(top, TopAnswer)
            table_out = run(config, "--by", "project", "--last", period).stdout
            assert round(top.total.cost, 2) == cell(table_out, "total")
            assert {p.name: round(p.cost, 2) for p in top.projects} == {
                label: cell(table_out, label) for label in ("web", "api", "unallocated")
                if label in {p.name for p in top.projects}}
    finally:
        engine.dispose()


# --- the property: any breakdown, any filter, the total is what the store holds ---------------

SCOPES = [
    {}, {"project": "web"}, {"environment": "prod"}, {"project": "web", "environment": "dev"},
    {"project": "api"}, {"project": "nobody"}, {"unallocated": True},
    {"unallocated": True, "environment": "prod"},
]
PERIODS = st.one_of(
    st.sampled_from(["24h", "7d", "30d"]),
    st.tuples(st.integers(0, 21 * 24), st.integers(1, 10 * 24)),
)


@settings(max_examples=40, deadline=None)
@given(by=st.sampled_from(list(BREAKDOWNS)), scope=st.sampled_from(SCOPES),
       metric=st.sampled_from(["effective", "billed"]), period=PERIODS,
       fmt=st.sampled_from(["table", "json", "csv"]))
def test_the_costs_total_is_the_sum_of_the_stored_points(
    small_store: tuple[Path, Path], by: str, scope: dict, metric: str,
    period: str | tuple[int, int], fmt: str,
) -> None:
    config, db = small_store
    args = ["--by", by, "--metric", metric, "--format", fmt]
    if isinstance(period, str):
        end = newest_end(db)
        start = end - timedelta(days=int(period[:-1])) if period.endswith("d") else (
            end - timedelta(hours=int(period[:-1])))
        args += ["--last", period]
    else:
        start = APRIL + timedelta(hours=period[0])
        end = start + timedelta(hours=period[1])
        args += ["--start", f"{start:%Y-%m-%dT%H:%M}Z", "--end", f"{end:%Y-%m-%dT%H:%M}Z"]
    for option in ("project", "environment"):
        if option in scope:
            args += [f"--{option}", scope[option]]
    if scope.get("unallocated"):
        args.append("--unallocated")
    expected = stored_sum(db, start, end, metric=metric,
                          project="unallocated" if scope.get("unallocated") else scope.get(
                              "project"), environment=scope.get("environment"))
    out = run(config, *args).stdout
    if fmt == "json":
        total = sum(r["cost"] for r in json.loads(out))
    elif fmt == "csv":
        total = sum(float(r["cost"]) for r in csv.DictReader(io.StringIO(out)))
    elif scope.get("unallocated"):  # the share line states it, table or not
        found = re.search(rf"({MONEY}) of ({MONEY})", out)
        assert found, out
        total = money(found.group(1))
    else:
        total = cell(out, "total")
    assert total == pytest.approx(expected, abs=0.0051 if fmt == "table" else 1e-4)


# --- shared spend beside direct spend ---------------------------------------------------------


def test_by_project_shows_direct_and_shared_spend_side_by_side(
        small_store: tuple[Path, Path], tmp_path: Path) -> None:
    config, db = small_store
    pooled = tmp_path / "pooled.yml"
    pooled.write_text(json.dumps({**json.loads(config.read_text()), "showback": {"shared": [
        {"name": "shared-db", "match": {"sub_account_name": ["shared"]}, "split": "even",
         "projects": ["web", "api"]}]}}))
    out = run(pooled, "--by", "project", "--last", "7d").stdout
    assert "direct and shared spend per project" in out
    end = newest_end(db)
    with sqlite3.connect(db) as connection:  # the pool: every line of the "shared" account
        pool = connection.execute(
            "SELECT SUM(p.effective_cost) FROM cost_point p JOIN cost_series s ON "
            "s.id = p.series_id WHERE s.sub_account_name = 'shared' AND p.hour >= ? "
            "AND p.hour < ?", (f"{end - timedelta(days=7):%Y-%m-%d %H:%M:%S}",
                               f"{end:%Y-%m-%d %H:%M:%S}")).fetchone()[0]
    shown = out.split("direct and shared spend per project", 1)[1]
    shared = [cells for first, cells in table(shown) if first in ("web", "api")]
    assert len(shared) == 2
    # columns: direct, the pool's share, shared, total; the two shares make the pool
    assert sum(money(cells[1]) for cells in shared) == pytest.approx(pool, abs=0.005)
    plain = run(config, "--by", "project", "--last", "7d").stdout
    assert "direct and shared spend per project" not in plain  # no pools: the summary only
