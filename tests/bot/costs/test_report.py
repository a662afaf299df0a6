"""`spendwatch costs` as JSON or CSV: every row, adding up to the totals; bad options refused."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from bot.costs.periods import ReportError, period_for
from bot.costs.report import check_options, fields, load, records, write
from bot.costs.service import CostSummary, summarise
from bot.ingest.service import ingest_path
from tests.support.cost_points import put_points
from tests.support.focus_files import write_focus_csv

AS_OF = datetime(2025, 4, 15, tzinfo=UTC)


def point(days_ago: float, project: str, cost: float, category: str = "Usage") -> dict:
    return {"hour": AS_OF - timedelta(days=days_ago), "project": project, "environment": "prod",
            "owner": "team", "service_name": "Amazon EC2", "region": "us-east-1",
            "charge_category": category, "sub_account_name": "acct", "billed_cost": cost,
            "effective_cost": cost}


@pytest.fixture
def summary(engine: Engine) -> CostSummary:
    put_points(engine, [
        point(1, "web", 30.0), point(2, "web", 10.0), point(8, "web", 20.0),
        point(1, "batch", 5.0),                       # new this week
        point(9, "legacy", 7.0),                      # gone this week
        point(1, "web", -4.0, "Credit"), point(3, "batch", 1.5, "Tax"),
    ])
    with engine.connect() as connection:
        return summarise(connection, period=period_for("7d", as_of=AS_OF), by="project")


@pytest.mark.parametrize(("options", "message"), [
    ({"fmt": "xml"}, "--format 'xml' is unknown"),
    ({"top": 0}, "--top 0 shows nothing"),
    ({"unallocated": True, "project": "web"}, "leave out --project"),
])
def test_options_that_cannot_work_are_refused_before_anything_is_read(options, message):
    given = {"fmt": "table", "top": 10, "unallocated": False, "project": None, **options}
    with pytest.raises(ReportError, match=message):
        check_options(**given)


def test_the_rows_add_up_to_both_periods_totals(summary):
    rows = records(summary)
    assert sum(r["cost"] for r in rows) == pytest.approx(summary.total)
    assert sum(r["previous_cost"] for r in rows) == pytest.approx(summary.previous_total)
    usage = [(r["project"], r["cost"], r["previous_cost"], r["change_pct"]) for r in rows
             if r["charge_category"] == "Usage"]
    assert usage == [("web", 40.0, 20.0, 100.0), ("batch", 5.0, 0.0, None),
                     ("legacy", 0.0, 7.0, -100.0)]
    others = {(r["project"], r["charge_category"]): r["cost"] for r in rows
              if r["charge_category"] != "Usage"}
    assert others == {("web", "Credit"): -4.0, ("batch", "Tax"): 1.5}
    assert {r["metric"] for r in rows} == {"effective"}


def test_json_is_a_list_of_the_rows_and_nothing_else(summary):
    out = io.StringIO()
    write(summary, fmt="json", stream=out)
    assert json.loads(out.getvalue()) == records(summary)


def test_csv_has_a_header_then_the_same_rows(summary):
    out = io.StringIO()
    write(summary, fmt="csv", stream=out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert list(rows[0]) == fields(summary) == [
        "project", "charge_category", "cost", "previous_cost", "change", "change_pct",
        "metric"]
    assert [r["project"] for r in rows] == [r["project"] for r in records(summary)]
    assert rows[1]["change_pct"] == ""  # "new": no percentage
    assert sum(float(r["cost"]) for r in rows) == pytest.approx(summary.total)


def test_an_empty_store_says_to_ingest_first(engine):
    with engine.connect() as connection, pytest.raises(ReportError, match="spendwatch ingest"):
        load(connection=connection, by="project", metric="effective", unallocated=False,
             project=None, environment=None, last=None, start=None, end=None, as_of=None)


def test_the_default_period_ends_with_the_newest_data(engine, settings, tmp_path):
    hours = [{"ChargePeriodStart": f"2025-04-{day:02d}T10:00:00Z",
              "ChargePeriodEnd": f"2025-04-{day:02d}T11:00:00Z"} for day in (1, 5, 10)]
    ingest_path(engine=engine, settings=settings,
                path=write_focus_csv(tmp_path / "april.csv", hours))
    with engine.connect() as connection:
        report = load(connection=connection, by="project", metric="billed", unallocated=False,
                      project=None, environment=None, last=None, start=None, end=None,
                      as_of=None)
        period = report.summary.period
        assert period.end == datetime(2025, 4, 10, 11, tzinfo=UTC)
        assert period.start == period.end - timedelta(days=7)
        # the previous period is summed too, for the comparison: April 5 and 10, then April 1
        assert (report.summary.total, report.summary.previous_total) == (2.5, 1.25)
        other = load(connection=connection, by="project", metric="effective",
                     unallocated=False, project="nobody", environment=None, last="24h",
                     start=None, end=None, as_of=None)
        assert other.summary.rows.empty and other.summary.total == 0.0
