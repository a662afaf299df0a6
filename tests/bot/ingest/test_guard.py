"""A re-delivery much smaller than the one it replaces is held back; --force accepts it.

On SQLite and a real PostgreSQL; totals are read back from the store.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from bot.ingest.service import IngestReport, ingest_path
from storage.models import CostPoint, CostSeries, IngestRun
from tests.support.focus_files import write_focus_csv

SAMPLE = Path("data/focus/FOCUS-Sample-Data/FOCUS-1.0/focus_sample.csv")


def ingest(engine, settings, path: Path, **options) -> IngestReport:
    return ingest_path(engine=engine, settings=settings, path=path, **options)


def hourly(hour: int, cost: float, *, account: str = "ba-1", month: int = 4, **fields) -> dict:
    start = pd.Timestamp(2025, month, 2, tz="UTC") + pd.Timedelta(hours=hour)
    return {
        "ChargePeriodStart": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "ChargePeriodEnd": (start + pd.Timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "BillingPeriodStart": f"2025-{month:02d}-01T00:00:00Z",
        "BillingPeriodEnd": f"2025-{month + 1:02d}-01T00:00:00Z",
        "BillingAccountId": account, "EffectiveCost": str(cost), "BilledCost": str(cost),
        **fields,
    }


def totals(engine) -> dict[tuple[str, str], float]:
    statement = (
        select(CostSeries.billing_account_id, CostPoint.billing_period_start,
               func.sum(CostPoint.effective_cost))
        .join(CostSeries, CostSeries.id == CostPoint.series_id)
        .group_by(CostSeries.billing_account_id, CostPoint.billing_period_start)
    )
    with engine.connect() as connection:
        rows = connection.execute(statement).all()
    return {(a, pd.Timestamp(p).strftime("%Y-%m")): round(float(c), 6) for a, p, c in rows}


def runs(engine) -> list[IngestRun]:
    with Session(engine) as session:
        return list(session.exec(select(IngestRun).order_by(IngestRun.id)).scalars())


def export(folder: Path, rows: list[dict], name: str = "export.csv") -> Path:
    return write_focus_csv(folder / name, rows)


# --- held back ------------------------------------------------------------------------------


def test_a_redelivery_with_under_half_the_rows_is_held_back(engine, settings, tmp_path):
    ingest(engine, settings, export(tmp_path / "v1", [hourly(h, 1.0) for h in range(10)]))

    report = ingest(engine, settings, export(tmp_path / "v2", [hourly(h, 2.0) for h in range(4)]))

    assert totals(engine) == {("ba-1", "2025-04"): 10.0}  # actual: 8.0
    (file,) = report.files
    assert file.status == "held" and file.points_written == 0
    assert not report.ok
    (held,) = report.held
    assert (held.account, held.period.strftime("%Y-%m")) == ("ba-1", "2025-04")
    assert (held.current.rows, held.new.rows) == (10, 4)
    assert held.message == (
        "billing account ba-1, period 2025-04: held back, the new export has 4 rows, 8.00 USD "
        "against 10 rows, 10.00 USD in the current one (under 50%); the current one stays. If "
        "the smaller export is right (restated, resources removed), run again with --force; if "
        "it is incomplete (cut short, still being written), wait for the complete export")
    assert file.message == held.message
    run = runs(engine)[-1]
    assert (run.status, run.message, run.points_written) == ("held", held.message, 0)
    assert runs(engine)[0].superseded_at is None  # the current delivery is still current


def test_a_redelivery_with_under_half_the_spend_is_held_back(engine, settings, tmp_path):
    ingest(engine, settings, export(tmp_path / "v1", [hourly(h, 1.0) for h in range(10)]))

    report = ingest(engine, settings, export(tmp_path / "v2", [hourly(h, 0.4) for h in range(10)]))

    assert [f.status for f in report.files] == ["held"]
    assert totals(engine) == {("ba-1", "2025-04"): 10.0}


def test_force_accepts_a_held_back_redelivery(engine, settings, tmp_path):
    ingest(engine, settings, export(tmp_path / "v1", [hourly(h, 1.0) for h in range(10)]))
    smaller = export(tmp_path / "v2", [hourly(h, 1.0) for h in range(3)])
    assert ingest(engine, settings, smaller).held

    # run again as it was: held again (a held file is not "unchanged")
    again = ingest(engine, settings, smaller)
    assert [f.status for f in again.files] == ["held"]
    forced = ingest(engine, settings, smaller, force=True)

    assert forced.ok and [f.status for f in forced.files] == ["ingested"]
    assert forced.files[0].points_replaced == 10
    assert totals(engine) == {("ba-1", "2025-04"): 3.0}
    assert ingest(engine, settings, smaller).files[0].status == "unchanged"


def test_only_the_billing_period_that_shrank_is_held_back(engine, settings, tmp_path):
    first = [*[hourly(h, 1.0) for h in range(10)],
             *[hourly(h, 2.0, month=5) for h in range(10)],
             *[hourly(h, 3.0, account="ba-2") for h in range(10)]]
    ingest(engine, settings, export(tmp_path / "v1", first))
    second = [*[hourly(h, 1.0) for h in range(2)],  # April of ba-1: cut short
              *[hourly(h, 2.2, month=5) for h in range(10)],  # May: restated
              *[hourly(h, 3.0, account="ba-2") for h in range(10)]]

    report = ingest(engine, settings, export(tmp_path / "v2", second))

    assert [(h.account, h.period.month) for h in report.held] == [("ba-1", 4)]
    assert report.files[0].status == "held"
    assert report.files[0].points_written == 20
    assert totals(engine) == {("ba-1", "2025-04"): 10.0, ("ba-1", "2025-05"): 22.0,
                              ("ba-2", "2025-04"): 30.0}


def test_the_threshold_is_a_setting_and_zero_turns_the_guard_off(engine, settings, tmp_path):
    ingest(engine, settings, export(tmp_path / "v1", [hourly(h, 1.0) for h in range(10)]))
    strict = settings.model_copy(update={"redelivery_min_share": 0.8})
    off = settings.model_copy(update={"redelivery_min_share": 0.0})

    assert ingest(engine, settings, export(tmp_path / "v2", [hourly(h, 1.0) for h in range(7)])
                  ).ok  # 70 % passes the default 50 %
    assert ingest(engine, strict, export(tmp_path / "v3", [hourly(h, 1.0) for h in range(5)])
                  ).held  # 5 of 7 is under 80 %
    assert ingest(engine, off, export(tmp_path / "v4", [hourly(0, 0.5)])).ok

    assert totals(engine) == {("ba-1", "2025-04"): 0.5}


# --- not held back --------------------------------------------------------------------------


def test_a_multi_part_redelivery_is_compared_as_a_whole(engine, settings, tmp_path):
    parts = {f"part-{n}.csv": [hourly(h + 10 * n, 1.0) for h in range(10)] for n in range(3)}
    for name, rows in parts.items():
        export(tmp_path / "v1", rows, name)
    ingest(engine, settings, tmp_path / "v1")
    for name, rows in parts.items():  # each part alone is a third of the current delivery
        export(tmp_path / "v2", [{**r, "EffectiveCost": "1.1"} for r in rows], name)

    report = ingest(engine, settings, tmp_path / "v2")

    assert report.ok and [f.status for f in report.files] == ["ingested"] * 3
    assert totals(engine) == {("ba-1", "2025-04"): 33.0}


def test_an_unchanged_part_counts_on_both_sides(engine, settings, tmp_path):
    folder = tmp_path / "export"
    export(folder, [hourly(h, 1.0) for h in range(30)], "part-1.csv")
    export(folder, [hourly(h + 30, 1.0) for h in range(10)], "part-2.csv")
    ingest(engine, settings, folder)

    # part 2 re-written much smaller: 31 rows of 40 remain, so the month is not held back
    export(folder, [hourly(30, 1.0)], "part-2.csv")
    report = ingest(engine, settings, folder)

    assert [f.status for f in report.files] == ["unchanged", "ingested"]
    assert totals(engine) == {("ba-1", "2025-04"): 31.0}


def test_the_first_delivery_of_a_period_is_never_held_back(engine, settings, tmp_path):
    report = ingest(engine, settings, export(tmp_path / "v1", [hourly(0, 0.01)]))

    assert report.ok and totals(engine) == {("ba-1", "2025-04"): 0.01}


# --- the FOCUS sample cut in half -----------------------------------------------------------


@pytest.mark.shared
def test_the_focus_sample_cut_in_half_does_not_replace_the_complete_one(
    engine, settings, tmp_path, shared_dir
):
    complete = Path(shutil.copy(shared_dir / SAMPLE, tmp_path / "focus_sample.csv"))
    ingest(engine, settings, complete)
    before = totals(engine)
    assert sum(before.values()) == pytest.approx(14.98, abs=0.005)
    half = tmp_path / "later" / "focus_sample.csv"
    half.parent.mkdir()
    data = complete.read_bytes()
    half.write_bytes(data[:len(data) // 2])

    report = ingest(engine, settings, half)

    assert totals(engine) == before  # actual: $3.98, the complete delivery replaced
    assert [f.status for f in report.files] == ["held"]
    assert [h.account for h in report.held] == ["1234567890123"]
    forced = ingest(engine, settings, half, force=True)
    assert forced.ok
    assert sum(totals(engine).values()) == pytest.approx(3.98, abs=0.005)
