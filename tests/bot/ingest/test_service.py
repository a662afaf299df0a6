"""Ingesting FOCUS exports end to end, on SQLite and on a real PostgreSQL.

Everything is read back from the database (``load_points`` or SQL), the way the costs report
and the detector see it.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from pathlib import Path

import blake3
import pandas as pd
import pyarrow as pa
import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from bot.ingest.service import IngestReport, ingest_path
from bot.settings import CurrencySettings
from storage.models import CostPoint, CostSeries, IngestRun
from storage.queries import points as points_q
from tests.support.focus_files import (
    write_focus,
    write_focus_csv,
    write_focus_gzip,
    write_focus_parquet,
)

APRIL = "2025-04-01T00:00:00Z"
MAY = "2025-05-01T00:00:00Z"
JUNE = "2025-06-01T00:00:00Z"


def ingest(engine, settings, path: Path, **options) -> IngestReport:
    return ingest_path(engine=engine, settings=settings, path=path, **options)


def hourly(day: int, hour: int, *, month: int = 4, **fields) -> dict:
    """One hourly Usage row of ``2025-<month>-<day> <hour>:00``, in the billing period of month."""
    start = pd.Timestamp(2025, month, day, hour, tz="UTC")
    period = pd.Timestamp(2025, month, 1, tz="UTC")
    return {
        "ChargePeriodStart": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "ChargePeriodEnd": (start + pd.Timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "BillingPeriodStart": period.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "BillingPeriodEnd": (period + pd.offsets.MonthBegin()).strftime("%Y-%m-%dT%H:%M:%SZ"),
        **fields,
    }


def points(engine, columns=("charge_category",)) -> pd.DataFrame:
    with engine.connect() as connection:
        return points_q.load_points(connection=connection, columns=columns)


def total(engine, column: str = "effective_cost") -> float:
    frame = points(engine)
    return float(frame[column].sum()) if not frame.empty else 0.0


def totals_by_scope(engine) -> dict[tuple[str, str], float]:
    """Effective cost per (billing account, billing period as YYYY-MM)."""
    statement = (
        select(
            CostSeries.billing_account_id,
            CostPoint.billing_period_start,
            func.sum(CostPoint.effective_cost),
        )
        .join(CostSeries, CostSeries.id == CostPoint.series_id)
        .group_by(CostSeries.billing_account_id, CostPoint.billing_period_start)
    )
    with engine.connect() as connection:
        rows = connection.execute(statement).all()
    return {
        (account, pd.Timestamp(period).strftime("%Y-%m")): round(float(cost), 9)
        for account, period, cost in rows
    }


def point_count(engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(CostPoint)).scalar_one())


def ingest_runs(engine) -> list[IngestRun]:
    with Session(engine) as session:
        return list(session.exec(select(IngestRun).order_by(IngestRun.id)).scalars())


def input_sum(rows: list[dict], column: str = "EffectiveCost") -> float:
    return sum(float(r[column]) for r in rows)


# --- totals and snapshots -------------------------------------------------------------------


def test_stored_totals_equal_the_sum_of_the_input_rows(engine, settings, tmp_path):
    rows = [
        hourly(day, hour, BilledCost=f"{day + hour / 10:.2f}", EffectiveCost=f"{day * 0.37:.4f}",
               BillingAccountId=account, ServiceName=service)
        for day in (1, 2, 15, 30)
        for hour in (0, 5, 23)
        for account, service in (("ba-1", "Amazon Bedrock"), ("ba-2", "Amazon SageMaker"))
    ]
    path = write_focus_csv(tmp_path / "export.csv", rows)

    report = ingest(engine, settings, path)

    (file,) = report.files
    assert file.status == "ingested", file.message
    assert (file.rows_read, file.rows_kept, file.rows_rejected) == (len(rows), len(rows), 0)
    assert file.billing_periods == ["2025-04"]
    assert total(engine) == pytest.approx(input_sum(rows), rel=1e-12)
    assert total(engine, "billed_cost") == pytest.approx(input_sum(rows, "BilledCost"), rel=1e-12)
    by_service = points(engine, ("service_name",)).groupby("service_name")["effective_cost"].sum()
    assert by_service.to_dict() == pytest.approx({
        "Amazon Bedrock": input_sum([r for r in rows if r["BillingAccountId"] == "ba-1"]),
        "Amazon SageMaker": input_sum([r for r in rows if r["BillingAccountId"] == "ba-2"]),
    })
    (run,) = ingest_runs(engine)
    assert run.status == "succeeded"
    assert (run.rows_read, run.rows_kept, run.rows_rejected) == (len(rows), len(rows), 0)
    assert run.points_written == point_count(engine) == len(rows)  # one hour, one series each


def test_hours_of_the_stored_points_are_the_charge_hours(engine, settings, tmp_path):
    rows = [hourly(3, 7, EffectiveCost="2"), hourly(3, 8, EffectiveCost="5"),
            hourly(3, 8, EffectiveCost="1", ResourceId="another resource, same series")]
    ingest(engine, settings, write_focus_csv(tmp_path / "export.csv", rows))

    frame = points(engine).sort_values("hour")
    assert frame["hour"].tolist() == [pd.Timestamp("2025-04-03 07:00", tz="UTC"),
                                      pd.Timestamp("2025-04-03 08:00", tz="UTC")]
    assert frame["effective_cost"].tolist() == pytest.approx([2.0, 6.0])


def test_the_same_file_twice_never_double_counts(engine, settings, tmp_path):
    rows = [hourly(1, h, EffectiveCost=str(h + 1)) for h in range(10)]
    path = write_focus_csv(tmp_path / "export.csv", rows)
    expected = input_sum(rows)

    first = ingest(engine, settings, path)
    assert first.files[0].status == "ingested"
    points_after_first = point_count(engine)

    second = ingest(engine, settings, path)
    assert second.files[0].status == "unchanged"
    assert second.files[0].rows_read == 0  # not read again
    assert total(engine) == pytest.approx(expected)

    forced = ingest(engine, settings, path, force=True)
    (file,) = forced.files
    assert file.status == "ingested"
    assert file.rows_read == len(rows)  # re-read ...
    assert file.points_replaced == points_after_first  # ... and replaced what was there
    assert total(engine) == pytest.approx(expected)  # never doubled
    assert point_count(engine) == points_after_first


def test_a_copy_of_the_same_file_under_another_name_is_not_counted_twice(
    engine, settings, tmp_path
):
    rows = [hourly(1, h, EffectiveCost="3") for h in range(4)]
    write_focus_csv(tmp_path / "a" / "export.csv", rows)
    write_focus_csv(tmp_path / "b" / "export-copy.csv", rows)

    ingest(engine, settings, tmp_path / "a")
    ingest(engine, settings, tmp_path / "b")

    assert total(engine) == pytest.approx(12.0)


def test_a_restated_export_replaces_its_account_and_period_only(engine, settings, tmp_path):
    original = [
        *[hourly(2, h, BillingAccountId="ba-1", EffectiveCost="1") for h in range(5)],  # 5
        *[hourly(2, h, month=5, BillingAccountId="ba-1", EffectiveCost="10") for h in range(2)],
        *[hourly(2, h, BillingAccountId="ba-2", EffectiveCost="100") for h in range(3)],  # 300
    ]
    ingest(engine, settings, write_focus_csv(tmp_path / "monday" / "export-v1.csv", original))
    assert totals_by_scope(engine) == {
        ("ba-1", "2025-04"): 5.0, ("ba-1", "2025-05"): 20.0, ("ba-2", "2025-04"): 300.0,
    }

    # the same account and period, re-delivered later with different numbers and fewer rows
    # (no less than half of the rows and the spend: a restatement, not an export cut short)
    restated = [hourly(2, h, BillingAccountId="ba-1", EffectiveCost="0.9") for h in range(3)]
    report = ingest(
        engine, settings, write_focus_csv(tmp_path / "tuesday" / "export-v2.csv", restated)
    )

    assert report.files[0].status == "ingested"
    assert report.files[0].points_replaced == 5
    assert totals_by_scope(engine) == {
        ("ba-1", "2025-04"): 2.7,  # replaced, not 7.7
        ("ba-1", "2025-05"): 20.0,  # another period: untouched
        ("ba-2", "2025-04"): 300.0,  # another account: untouched
    }
    hours = points(engine, ("charge_category",))["hour"]
    assert hours.max() == pd.Timestamp("2025-05-02 01:00", tz="UTC")  # May points kept


@pytest.mark.parametrize("column", ["BillingAccountId", "BillingPeriodStart", "BillingPeriodEnd"])
def test_a_file_without_what_identifies_its_delivery_is_refused_and_changes_nothing(
    engine, settings, tmp_path, column
):
    # without them, the same export became a second delivery next to the first: doubled
    rows = [hourly(9, h, EffectiveCost="2") for h in range(3)]
    ingest(engine, settings, write_focus_csv(tmp_path / "one" / "e.csv", rows))

    report = ingest(engine, settings, write_focus_csv(tmp_path / "two" / "e.csv", rows,
                                                      drop=[column]))

    (file,) = report.files
    assert file.status == "failed"
    assert f"missing column {column} (FOCUS mandatory)" in file.message
    assert not report.ok
    assert totals_by_scope(engine) == {("ba-test", "2025-04"): 6.0}  # actual: 12.0
    assert ingest_runs(engine)[-1].status == "failed"


def test_a_declared_billing_account_lets_a_file_without_one_replace_its_delivery(
    engine, settings, tmp_path
):
    rows = [hourly(9, h, EffectiveCost="2", BillingAccountId="ba-7") for h in range(3)]
    ingest(engine, settings, write_focus_csv(tmp_path / "one" / "e.csv", rows))
    restated = [hourly(9, h, EffectiveCost="3") for h in range(3)]
    path = write_focus_csv(tmp_path / "two" / "e.csv", restated, drop=["BillingAccountId"])

    report = ingest(engine, settings, path, default_account="ba-7")

    assert report.files[0].status == "ingested"
    assert totals_by_scope(engine) == {("ba-7", "2025-04"): 9.0}


def test_files_of_one_delivery_add_up(engine, settings, tmp_path):
    part1 = [hourly(1, h, EffectiveCost="1") for h in range(24)]
    part2 = [hourly(2, h, EffectiveCost="2") for h in range(24)]
    part3 = [hourly(2, h, EffectiveCost="0.25") for h in range(24)]  # same hours as part 2
    delivery = tmp_path / "delivery-1"
    write_focus_csv(delivery / "part-00001.csv", part1)
    write_focus_gzip(delivery / "part-00002.csv.gz", part2)
    write_focus_parquet(delivery / "part-00003.parquet", part3)

    report = ingest(engine, settings, delivery)

    assert [f.status for f in report.files] == ["ingested"] * 3
    assert len({r.delivery_id for r in ingest_runs(engine)}) == 1
    assert total(engine) == pytest.approx(24 + 48 + 6)

    # the next delivery of the same account and period replaces all three parts
    again = tmp_path / "delivery-2"
    for part, (day, cost) in enumerate([(1, "1.5"), (2, "2.5")], start=1):
        rows = [hourly(day, h, EffectiveCost=cost) for h in range(24)]
        write_focus_csv(again / f"part-0000{part}.csv", rows)
    ingest(engine, settings, again)

    assert total(engine) == pytest.approx(24 * 1.5 + 24 * 2.5)


def test_redelivery_where_only_one_part_changed_keeps_the_unchanged_part(
    engine, settings, tmp_path
):
    folder = tmp_path / "export"  # overwrite-style delivery: the same folder, re-written
    part1 = [hourly(1, h, EffectiveCost="1") for h in range(24)]  # 24
    write_focus_csv(folder / "part-1.csv", part1)
    write_focus_csv(folder / "part-2.csv", [hourly(2, h, EffectiveCost="2") for h in range(24)])
    ingest(engine, settings, folder)
    assert total(engine) == pytest.approx(72.0)

    # later that day the provider re-writes part 2 only (part 1 is byte-for-byte the same)
    write_focus_csv(folder / "part-2.csv", [hourly(2, h, EffectiveCost="3") for h in range(24)])
    report = ingest(engine, settings, folder)

    assert [f.status for f in report.files] == ["unchanged", "ingested"]
    assert total(engine) == pytest.approx(24.0 + 72.0)  # actual: 72.0, part 1 is gone


# --- what the points mean -------------------------------------------------------------------


def test_one_time_charges_are_stored_under_their_category_never_as_usage(
    engine, settings, tmp_path
):
    rows = [
        hourly(5, 1, EffectiveCost="10", BilledCost="10"),
        hourly(5, 1, EffectiveCost="100", BilledCost="100", ChargeCategory="Purchase"),
        hourly(5, 1, EffectiveCost="-4", BilledCost="-4", ChargeCategory="credit"),
        hourly(5, 1, EffectiveCost="2.5", BilledCost="2.5", ChargeCategory="TAX"),
        hourly(5, 1, EffectiveCost="0.5", BilledCost="0.5", ChargeCategory="Adjustment"),
    ]
    ingest(engine, settings, write_focus_csv(tmp_path / "export.csv", rows))

    by_category = points(engine).groupby("charge_category")["effective_cost"].sum().to_dict()
    assert by_category == pytest.approx(
        {"Usage": 10.0, "Purchase": 100.0, "Credit": -4.0, "Tax": 2.5, "Adjustment": 0.5}
    )


def test_daily_usage_is_spread_over_24_hours_and_one_time_charges_stay_on_their_first_hour(
    engine, settings, tmp_path
):
    rows = [
        {**hourly(10, 0), "ChargePeriodEnd": "2025-04-11T00:00:00Z",
         "EffectiveCost": "48", "BilledCost": "48", "ConsumedQuantity": "240"},
        {**hourly(1, 0), "ChargePeriodEnd": "2026-04-01T00:00:00Z", "ConsumedQuantity": None,
         "ChargeCategory": "Purchase", "EffectiveCost": "8760", "BilledCost": "8760"},
        # one-time charges over a day or a month are not spread either
        {**hourly(10, 0), "ChargePeriodEnd": "2025-04-11T00:00:00Z", "ConsumedQuantity": None,
         "ChargeCategory": "Tax", "EffectiveCost": "4.8", "BilledCost": "4.8"},
        {**hourly(1, 0), "ChargePeriodEnd": MAY, "ConsumedQuantity": None,
         "ChargeCategory": "Credit", "EffectiveCost": "-30", "BilledCost": "-30"},
    ]
    ingest(engine, settings, write_focus_csv(tmp_path / "export.csv", rows))

    frame = points(engine)
    usage = frame[frame["charge_category"] == "Usage"].sort_values("hour")
    assert usage["hour"].tolist() == list(
        pd.date_range("2025-04-10", periods=24, freq="h", tz="UTC")
    )
    assert usage["effective_cost"].tolist() == pytest.approx([2.0] * 24)
    assert usage["billed_cost"].sum() == pytest.approx(48.0)

    purchase = frame[frame["charge_category"] == "Purchase"]
    assert purchase["hour"].tolist() == [pd.Timestamp("2025-04-01", tz="UTC")]
    assert purchase["effective_cost"].tolist() == pytest.approx([8760.0])
    tax = frame[frame["charge_category"] == "Tax"]
    assert tax["hour"].tolist() == [pd.Timestamp("2025-04-10", tz="UTC")]
    assert tax["effective_cost"].tolist() == pytest.approx([4.8])
    credit = frame[frame["charge_category"] == "Credit"]
    assert credit["hour"].tolist() == [pd.Timestamp("2025-04-01", tz="UTC")]
    assert credit["effective_cost"].tolist() == pytest.approx([-30.0])

    with engine.connect() as connection:
        quantity, line_items = connection.execute(
            select(func.sum(CostPoint.usage_quantity), func.sum(CostPoint.line_items))
        ).one()
    assert quantity == pytest.approx(240.0)  # the quantity is spread too, not multiplied
    assert line_items == 4  # one line item each, however many hours it covers


def test_monthly_usage_row_is_spread_over_every_hour_of_the_month(engine, settings, tmp_path):
    row = {**hourly(1, 0), "ChargePeriodEnd": MAY, "EffectiveCost": "720", "BilledCost": "720"}
    ingest(engine, settings, write_focus_csv(tmp_path / "saas.csv", [row]))

    frame = points(engine)
    assert len(frame) == 30 * 24
    assert frame["effective_cost"].tolist() == pytest.approx([1.0] * 720)


def test_other_currencies_are_converted_with_the_configured_rate(engine, settings, tmp_path):
    settings = settings.model_copy(update={"currency": CurrencySettings(rates={"EUR": 1.1})})
    rows = [
        hourly(1, 0, EffectiveCost="10", BilledCost="20", BillingCurrency="EUR"),
        hourly(1, 0, EffectiveCost="5", BilledCost="5", BillingCurrency="USD"),
    ]
    report = ingest(engine, settings, write_focus_csv(tmp_path / "export.csv", rows))

    assert report.files[0].rows_rejected == 0
    assert total(engine) == pytest.approx(10 * 1.1 + 5)
    assert total(engine, "billed_cost") == pytest.approx(20 * 1.1 + 5)
    with engine.connect() as connection:
        currencies = set(connection.execute(select(CostSeries.currency)).scalars())
    assert currencies == {"USD"}  # stored in the base currency only


def test_a_currency_without_a_rate_is_refused_and_other_rows_are_kept(engine, settings, tmp_path):
    rows = [
        hourly(1, 0, EffectiveCost="10", BillingCurrency="EUR"),
        hourly(1, 1, EffectiveCost="5", BillingCurrency="USD"),
        hourly(1, 2, EffectiveCost="7", BillingCurrency="eur"),
        hourly(1, 3, EffectiveCost="1", BillingCurrency="USD"),
    ]
    report = ingest(engine, settings, write_focus_csv(tmp_path / "export.csv", rows))

    (file,) = report.files
    assert file.status == "ingested"
    assert (file.rows_kept, file.rows_rejected) == (2, 2)
    assert total(engine) == pytest.approx(6.0)  # never summed as if EUR were USD
    assert file.rejected_reasons == {
        "BillingCurrency EUR has no exchange rate; add currency.rates.EUR (1 EUR = how many USD) "
        "to the config, or export in USD": 2}
    with open(file.quarantine_path, newline="", encoding="utf-8") as handle:
        quarantined = list(csv.DictReader(handle))
    assert [int(r["row_number"]) for r in quarantined] == [2, 4]
    for row in quarantined:  # the message says what to add to the config
        assert "currency.rates.EUR" in row["reason"]
        assert row["reason"].startswith("BillingCurrency EUR has no exchange rate; add ")


# --- quarantine -----------------------------------------------------------------------------


def test_bad_rows_go_to_the_quarantine_file_and_are_counted_by_reason(engine, settings, tmp_path):
    rows = [hourly(1, h, EffectiveCost="1") for h in range(12)]
    rows[1]["BilledCost"] = "n/a"  # line 3
    rows[4]["ChargePeriodStart"] = "someday"  # line 6
    rows[5]["BilledCost"] = "twelve"  # line 7
    rows[8]["ChargeCategory"] = "Refund"  # line 10
    rows[10]["BillingCurrency"] = "GBP"  # line 12: no rate configured
    path = write_focus_csv(tmp_path / "export.csv", rows)

    report = ingest(engine, settings, path)

    (file,) = report.files
    assert file.status == "ingested"
    assert (file.rows_read, file.rows_kept, file.rows_rejected) == (12, 7, 5)
    assert total(engine) == pytest.approx(7.0)
    quarantine = Path(file.quarantine_path)
    assert quarantine.is_file()
    assert quarantine.parent == settings.quarantine_dir
    with open(quarantine, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert {"row_number", "reason"} <= set(reader.fieldnames or [])
        quarantined = {int(r["row_number"]): r["reason"] for r in reader}
    assert sorted(quarantined) == [3, 6, 7, 10, 12]
    assert quarantined[3] == "BilledCost is not a number: 'n/a'"
    assert quarantined[6] == "ChargePeriodStart is not a date: 'someday'"
    assert quarantined[7] == "BilledCost is not a number: 'twelve'"
    assert "Refund" in quarantined[10]
    assert "currency.rates.GBP" in quarantined[12]

    expected_counts = {
        "BilledCost is not a number": 2,
        "ChargePeriodStart is not a date": 1,
        "ChargeCategory is not one of Usage, Purchase, Tax, Credit, Adjustment": 1,
        "BillingCurrency GBP has no exchange rate; add currency.rates.GBP (1 GBP = how many USD) "
        "to the config, or export in USD": 1,
    }
    assert file.rejected_reasons == expected_counts
    (run,) = ingest_runs(engine)
    assert run.status == "succeeded"
    assert (run.rows_read, run.rows_kept, run.rows_rejected) == (12, 7, 5)
    assert run.rejected_reasons == expected_counts
    assert run.quarantine_path == str(quarantine)


def test_a_clean_file_writes_no_quarantine_file(engine, settings, tmp_path):
    report = ingest(engine, settings, write_focus_csv(tmp_path / "ok.csv", [hourly(1, 1)]))

    assert report.files[0].quarantine_path is None
    assert not settings.quarantine_dir.exists() or not any(settings.quarantine_dir.iterdir())


def test_a_file_missing_a_mandatory_column_is_refused_naming_it(engine, settings, tmp_path):
    rows = [hourly(1, h) for h in range(3)]
    path = write_focus_csv(tmp_path / "export.csv", rows, drop=["ChargePeriodStart"])

    report = ingest(engine, settings, path)

    (file,) = report.files
    assert file.status == "failed"  # actual: "ingested", every row quarantined, exit 0
    assert file.message.startswith(
        f"{path}: missing column ChargePeriodStart (FOCUS mandatory); export a FOCUS")
    assert point_count(engine) == 0
    (run,) = ingest_runs(engine)
    assert (run.status, run.message) == ("failed", file.message)


def test_a_file_without_effective_cost_is_refused_not_read_as_billed_cost(
    engine, settings, tmp_path
):
    rows = [hourly(1, h, BilledCost="5", EffectiveCost="3") for h in range(3)]
    path = write_focus_csv(tmp_path / "export.csv", rows, drop=["EffectiveCost"])

    report = ingest(engine, settings, path)

    assert report.files[0].status == "failed"
    assert "missing column EffectiveCost" in report.files[0].message
    assert point_count(engine) == 0  # actual: 15.0 of billed cost, as effective, silently


def test_the_summary_says_which_cost_column_the_points_hold(engine, settings, tmp_path):
    both = ingest(engine, settings, write_focus_csv(tmp_path / "a" / "both.csv", [hourly(1, 1)]))
    effective_only = ingest(engine, settings, write_focus_csv(
        tmp_path / "b" / "effective.csv", [hourly(1, 2)], drop=["BilledCost"]))

    assert both.files[0].cost_basis == (
        "EffectiveCost (amortised); BilledCost is kept for --metric billed")
    assert effective_only.files[0].cost_basis == (
        "EffectiveCost (amortised); the file has no BilledCost column, so billed cost is taken "
        "to be the effective cost")


def test_default_currency_is_used_for_files_without_billing_currency(engine, settings, tmp_path):
    settings = settings.model_copy(update={"currency": CurrencySettings(rates={"EUR": 2.0})})
    rows = [hourly(1, h, EffectiveCost="1") for h in range(3)]
    path = write_focus_csv(tmp_path / "export.csv", rows, drop=["BillingCurrency"])

    refused = ingest(engine, settings, path)
    assert refused.files[0].status == "failed"
    assert "missing column BillingCurrency" in refused.files[0].message

    report = ingest(engine, settings, path, default_currency="EUR", force=True)
    assert report.files[0].rows_kept == 3
    assert total(engine) == pytest.approx(6.0)


def test_following_the_refusal_message_without_force_ingests_the_rows(
    engine, settings, tmp_path
):
    rows = [hourly(1, h, EffectiveCost="1") for h in range(3)]
    path = write_focus_csv(tmp_path / "export.csv", rows, drop=["BillingCurrency"])
    refused = ingest(engine, settings, path)
    assert "--currency" in refused.files[0].message

    # the user does what the message says: declares the currency, and runs the same command
    report = ingest(engine, settings, path, default_currency="USD")

    assert report.files[0].status == "ingested"  # actual: "unchanged", nothing to do
    assert total(engine) == pytest.approx(3.0)


# --- rows and files worth a word ------------------------------------------------------------


def test_usage_of_31_days_is_spread_and_of_32_days_refused_never_put_in_one_hour(
    engine, settings, tmp_path
):
    rows = [
        {**hourly(1, 0), "ChargePeriodEnd": "2025-05-02T00:00:00Z", "EffectiveCost": "744"},
        {**hourly(1, 0), "ChargePeriodEnd": "2025-05-03T00:00:00Z", "EffectiveCost": "768",
         "SkuId": "32-days"},
    ]
    report = ingest(engine, settings, write_focus_csv(tmp_path / "long.csv", rows))

    (file,) = report.files
    assert (file.rows_kept, file.rows_rejected) == (1, 1)
    frame = points(engine)
    assert len(frame) == 744 and frame["effective_cost"].tolist() == pytest.approx([1.0] * 744)
    assert total(engine) == pytest.approx(744.0)  # actual: 1,512, 768 of it in one hour
    assert file.rejected_reasons == {
        "Usage longer than 31 days cannot be spread over its hours; check ChargePeriodStart "
        "and ChargePeriodEnd": 1}
    with open(file.quarantine_path, newline="", encoding="utf-8") as handle:
        (row,) = csv.DictReader(handle)
    assert (row["row_number"], row["sku_id"]) == ("3", "32-days")
    assert row["reason"].endswith(": 32.0 days")


def test_negative_usage_is_kept_and_said(engine, settings, tmp_path):
    rows = [hourly(1, 0, EffectiveCost="10"), hourly(1, 1, EffectiveCost="-2.5", BilledCost="-2.5")]

    report = ingest(engine, settings, write_focus_csv(tmp_path / "refund.csv", rows))

    assert total(engine) == pytest.approx(7.5)  # kept: the invoice has it too
    note = "of Usage with a negative cost: kept, they lower the spend (refunds or corrections)"
    assert report.files[0].notes == {note: 1}  # actual: not a word
    assert ingest_runs(engine)[0].warnings == {note: 1}


def test_identical_rows_are_all_counted_and_said(engine, settings, tmp_path):
    row = hourly(1, 0, EffectiveCost="4", ResourceId="i-1")
    rows = [row, row, row, hourly(1, 0, EffectiveCost="4", ResourceId="i-2")]

    report = ingest(engine, settings, write_focus_csv(tmp_path / "repeats.csv", rows))

    assert total(engine) == pytest.approx(16.0)  # kept: a provider may bill a line twice
    note = ("identical to an earlier row in every column: kept, each one counted (check the "
            "export if the provider did not bill them twice)")
    assert report.files[0].notes == {note: 2}  # actual: summed without a word
    assert ingest_runs(engine)[0].warnings == {note: 2}


def test_byte_identical_files_of_one_delivery_are_counted_once_naming_both(
    engine, settings, tmp_path
):
    folder = tmp_path / "drop"
    original = write_focus_csv(folder / "export.csv", [hourly(1, h, EffectiveCost="2")
                                                       for h in range(5)])
    copy = folder / "export (1).csv"
    copy.write_bytes(original.read_bytes())

    report = ingest(engine, settings, folder)

    assert total(engine) == pytest.approx(10.0)  # actual: 20.0
    statuses = {Path(f.path).name: f.status for f in report.files}
    assert statuses == {"export (1).csv": "ingested", "export.csv": "duplicate"}
    duplicate = next(f for f in report.files if f.status == "duplicate")
    assert duplicate.message.startswith(f"byte-identical to {copy} (same BLAKE3)")
    assert report.ok  # counted once: said, not an error
    runs = {Path(r.file_path).name: r for r in ingest_runs(engine)}
    assert runs["export.csv"].status == "duplicate"
    assert runs["export.csv"].checksum == runs["export (1).csv"].checksum


def test_a_copy_next_to_an_unchanged_file_is_still_counted_once(engine, settings, tmp_path):
    folder = tmp_path / "drop"
    original = write_focus_csv(folder / "b.csv", [hourly(1, h, EffectiveCost="3")
                                                  for h in range(4)])
    ingest(engine, settings, folder)
    for name in ("a.csv", "c.csv"):  # one read before the unchanged original, one after
        (folder / name).write_bytes(original.read_bytes())

    report = ingest(engine, settings, folder)

    assert [f.status for f in report.files] == ["ingested", "duplicate", "duplicate"]
    assert total(engine) == pytest.approx(12.0)
    again = ingest(engine, settings, folder)
    assert [f.status for f in again.files] == ["unchanged", "duplicate", "duplicate"]
    assert total(engine) == pytest.approx(12.0)


def test_a_copy_of_a_file_stored_with_a_sha256_is_still_counted_once(engine, settings, tmp_path):
    # runs stored before BLAKE3 carry a bare SHA-256: a copy is hashed that way to compare
    folder = tmp_path / "drop"
    original = write_focus_csv(folder / "b.csv", [hourly(1, h, EffectiveCost="3")
                                                  for h in range(4)])
    ingest(engine, settings, folder)
    sha256 = hashlib.sha256(original.read_bytes()).hexdigest()
    with Session(engine) as session:
        run = session.exec(select(IngestRun)).scalars().one()
        run.checksum = sha256
        session.add(run)
        session.commit()
    (folder / "c.csv").write_bytes(original.read_bytes())

    report = ingest(engine, settings, folder)

    assert [f.status for f in report.files] == ["unchanged", "duplicate"]
    assert report.files[1].message.startswith(
        f"byte-identical to {original} (same SHA-256) in this delivery")
    assert total(engine) == pytest.approx(12.0)
    assert ingest_runs(engine)[-1].checksum == sha256


# --- allocation -----------------------------------------------------------------------------


def test_tag_key_variants_end_up_in_the_same_project_environment_and_owner(
    engine, settings, tmp_path
):
    tags = [
        {"project": "docs-copilot", "environment": "prod", "owner": "team-docs"},
        {"Project": "docs-copilot", "Environment": "prod", "Owner": "team-docs"},
        {"project": "docs-copilot", "env": "prod", "team": "team-docs"},
        {"user:Project": "docs-copilot", "user:env": "Production", "user:team": "team-docs"},
    ]
    rows = [hourly(1, i, EffectiveCost="1", Tags=json.dumps(t)) for i, t in enumerate(tags)]
    rows.append(hourly(1, 9, EffectiveCost="5", Tags="NULL"))  # untagged
    ingest(engine, settings, write_focus_csv(tmp_path / "export.csv", rows))

    frame = points(engine, ("project", "environment", "owner", "phase"))
    grouped = frame.groupby(["project", "environment", "owner", "phase"])["effective_cost"].sum()
    assert grouped.to_dict() == pytest.approx({
        ("docs-copilot", "prod", "team-docs", "run"): 4.0,
        ("unallocated", "unallocated", "unallocated", "unallocated"): 5.0,
    })


def test_a_tag_value_as_long_as_cloud_providers_allow_is_stored(
    engine, settings, tmp_path, request
):
    # AWS and Azure accept tag values of up to 256 characters
    long_project = "p" * 256
    rows = [hourly(1, 1, EffectiveCost="2", Tags=json.dumps({"project": long_project}))]

    report = ingest(engine, settings, write_focus_csv(tmp_path / "export.csv", rows))

    assert report.files[0].status == "ingested"
    frame = points(engine, ("project",))
    assert frame["project"].tolist() == [long_project]


# --- progress and failures ------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz"])
def test_progress_is_reported_in_growing_byte_counts_up_to_the_file_size(
    engine, settings, tmp_path, suffix
):
    writer = write_focus_csv if suffix == ".csv" else write_focus_gzip
    path = writer(tmp_path / f"export{suffix}", [hourly(1, h % 24) for h in range(300)])
    calls: list[tuple[str, int, int]] = []

    ingest(engine, settings, path, progress=lambda *args: calls.append(args))

    size = path.stat().st_size
    assert calls
    assert {name for name, _, _ in calls} == {path.name}
    assert {total_ for _, _, total_ in calls} == {size}
    done = [d for _, d, _ in calls]
    assert done == sorted(done)
    assert done[-1] == size


def test_progress_of_a_parquet_file_with_several_row_groups_ends_at_the_file_size(
    engine, settings, tmp_path
):
    path = write_focus_parquet(
        tmp_path / "export.parquet", [hourly(1, h % 24) for h in range(60)], row_group_size=20
    )
    calls: list[int] = []

    ingest(engine, settings, path, progress=lambda _name, done, _total: calls.append(done))

    assert calls
    assert calls == sorted(calls)
    assert calls[-1] == path.stat().st_size


def test_a_garbage_file_fails_alone_and_the_rest_of_the_folder_is_ingested(
    engine, settings, tmp_path
):
    folder = tmp_path / "drop"
    write_focus_csv(folder / "a-good.csv", [hourly(1, h, EffectiveCost="1") for h in range(5)])
    (folder / "b-junk.parquet").write_bytes(b"PAR1 but not really")
    (folder / "c-image.csv").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00\x00IHDR")
    (folder / "d-sales.csv").write_text("customer,amount\nacme,10\n")
    truncated = write_focus_gzip(folder / "e-truncated.csv.gz", [hourly(2, 1)] * 400)
    truncated.write_bytes(truncated.read_bytes()[:300])
    write_focus_gzip(folder / "f-good.csv.gz", [hourly(3, h, EffectiveCost="2") for h in range(5)])

    report = ingest(engine, settings, folder)

    statuses = {Path(f.path).name: f.status for f in report.files}
    assert statuses == {
        "a-good.csv": "ingested",
        "b-junk.parquet": "failed",
        "c-image.csv": "failed",
        "d-sales.csv": "failed",
        "e-truncated.csv.gz": "failed",
        "f-good.csv.gz": "ingested",
    }
    assert len(report.failed) == 4
    assert all(f.message for f in report.failed)
    assert "FOCUS" in next(f for f in report.failed if f.path.endswith("d-sales.csv")).message
    assert total(engine) == pytest.approx(15.0)
    assert point_count(engine) == 10  # nothing at all from the truncated file
    runs = {Path(r.file_path).name: r for r in ingest_runs(engine)}
    assert {name for name, r in runs.items() if r.status == "failed"} == {
        "b-junk.parquet", "c-image.csv", "d-sales.csv", "e-truncated.csv.gz"
    }
    assert all(r.message for r in runs.values() if r.status == "failed")


def test_a_file_that_vanishes_during_ingestion_fails_alone(engine, settings, tmp_path):
    folder = tmp_path / "drop"
    write_focus_csv(folder / "a.csv", [hourly(1, 1, EffectiveCost="1")])
    doomed = write_focus_csv(folder / "b.csv", [hourly(1, 2, EffectiveCost="2")])
    write_focus_csv(folder / "c.csv", [hourly(1, 3, EffectiveCost="4")])

    def rotate_exports(name: str, _done: int, _total: int) -> None:
        # the exporter replaces its files while a.csv is being read (overwrite-style delivery)
        if name == "a.csv":
            doomed.unlink(missing_ok=True)

    report = ingest(engine, settings, folder, progress=rotate_exports)

    assert [f.status for f in report.files] == ["ingested", "failed", "ingested"]
    assert total(engine) == pytest.approx(5.0)


def test_a_parquet_file_with_an_empty_region_id_column_does_not_stop_the_folder(
    engine, settings, tmp_path
):
    folder = tmp_path / "drop"
    write_focus_parquet(
        folder / "a-saas.parquet", [hourly(1, 1, EffectiveCost="3", RegionId=None)],
        schema={"RegionId": pa.null()},
    )
    write_focus_csv(folder / "b-cloud.csv", [hourly(1, 2, EffectiveCost="4")])

    report = ingest(engine, settings, folder)  # actual: raises out of ingest_path

    assert [f.status for f in report.files] == ["ingested", "ingested"]
    assert total(engine) == pytest.approx(7.0)


# --- the shared data sets -------------------------------------------------------------------


def _data_rows(path: Path) -> int:
    """Data rows of a CSV file (the spec's examples have blank lines between rows)."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        return sum(1 for row in csv.reader(handle) if row) - 1


@pytest.mark.shared
def test_every_shared_focus_file_ingests_once_its_account_is_declared(
    engine, settings, shared_dir
):
    folder = shared_dir / "data" / "focus"
    files = sorted(folder.rglob("*.csv"))
    assert len(files) >= 20

    # most spec examples have no BillingCurrency column, and the commitment examples no
    # BillingAccountId either: refused, naming it, until declared as the message says
    first = ingest(engine, settings, folder, default_currency="USD")
    refused = {Path(f.path).parent.name for f in first.failed}
    assert refused == {"commitment_discount_flexibility", "commitment_discount_scenarios"}
    assert len(first.failed) == 11
    assert all("missing column BillingAccountId" in f.message for f in first.failed)

    report = ingest(engine, settings, folder, default_currency="USD",
                    default_account="spec-examples")

    assert report.ok
    assert sorted(Path(f.path) for f in report.files) == files
    assert all(f.status == "ingested" for f in report.files)
    for file in report.files:
        assert file.rows_read == _data_rows(Path(file.path)), file.path
        assert file.rows_kept + file.rows_rejected == file.rows_read, file.path
    sample = next(f for f in report.files if f.path.endswith("focus_sample.csv"))
    assert (sample.rows_read, sample.rows_kept, sample.rows_rejected) == (1000, 1000, 0)
    # the only rows refused: two spec examples with an impossible hour (T30:00:00Z), and the
    # year-long "End of contract unused fee" Usage row of the four spend agreement examples
    assert report.rows_rejected == 6
    rejected = {Path(f.path).name: f.rejected_reasons for f in report.files if f.rows_rejected}
    bad_hour = {"ChargePeriodEnd is not a date": 1}
    too_long = {"Usage longer than 31 days cannot be spread over its hours; check "
                "ChargePeriodStart and ChargePeriodEnd": 1}
    assert rejected == {
        "commitment_discount_purchase_scenario_2.csv": bad_hour,
        "commitment_discount_purchase_scenario_3.csv": bad_hour,
        **{f"saas_spend_agreements_{v}.csv": too_long for v in ("a1", "a2", "b1", "b2")},
    }
    assert report.rows_kept == sum(_data_rows(f) for f in files) - 6
    assert point_count(engine) > 0


@pytest.mark.shared
def test_the_dev_cost_scenario_ingests_completely_with_the_right_total(
    engine, settings, shared_dir
):
    path = shared_dir / "data" / "scenarios" / "dev-costs.csv.gz"
    expected = pd.read_csv(path, usecols=["EffectiveCost", "BilledCost"])
    calls: list[int] = []

    report = ingest(engine, settings, path, progress=lambda _n, done, _t: calls.append(done))

    (file,) = report.files
    assert file.status == "ingested", file.message
    assert (file.rows_read, file.rows_kept, file.rows_rejected) == (101_330, 101_330, 0)
    assert math.isclose(total(engine), expected["EffectiveCost"].sum(), rel_tol=1e-6)
    assert math.isclose(
        total(engine, "billed_cost"), expected["BilledCost"].sum(), rel_tol=1e-6
    )
    assert calls[-1] == path.stat().st_size
    # every workload's tags were understood: nothing is unallocated in the scenario data
    frame = points(engine, ("project", "owner"))
    assert "unallocated" not in set(frame["project"]) | set(frame["owner"])


def test_parquet_with_typed_columns_ingests_like_csv(engine, settings, tmp_path):
    rows = [hourly(4, h, EffectiveCost=f"{h}.25", BilledCost=f"{h}.5") for h in range(6)]
    path = write_focus_parquet(
        tmp_path / "typed.parquet",
        rows,
        schema={
            "BilledCost": pa.float64(),
            "EffectiveCost": pa.float64(),
            "ChargePeriodStart": pa.timestamp("us", tz="UTC"),
            "ChargePeriodEnd": pa.timestamp("us", tz="UTC"),
            "BillingPeriodStart": pa.timestamp("us", tz="UTC"),
        },
    )

    report = ingest(engine, settings, path)

    assert report.files[0].rows_kept == 6
    assert total(engine) == pytest.approx(input_sum(rows))
    assert totals_by_scope(engine) == {("ba-test", "2025-04"): pytest.approx(input_sum(rows))}


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".parquet"])
def test_the_run_records_the_blake3_of_the_file_it_read(engine, settings, tmp_path, suffix):
    path = write_focus(tmp_path / f"export{suffix}", [{"BilledCost": str(i)} for i in range(50)])

    ingest(engine, settings, path)

    with Session(engine) as session:
        run = session.exec(select(IngestRun)).scalars().one()
    assert run.checksum == "blake3:" + blake3.blake3(path.read_bytes()).hexdigest(length=28)


def test_each_sku_of_a_service_is_its_own_line_and_a_missing_sku_is_empty(
    engine, settings, tmp_path
):
    rows = [
        hourly(1, 0, EffectiveCost="3", SkuId="claude-haiku"),
        hourly(1, 0, EffectiveCost="7", SkuId="claude-opus"),
        hourly(1, 1, EffectiveCost="2", SkuId="claude-opus"),
        hourly(1, 2, EffectiveCost="1", SkuId="NULL"),
    ]
    ingest(engine, settings, write_focus_csv(tmp_path / "export.csv", rows))

    with Session(engine) as session:
        skus = sorted(session.exec(select(CostSeries.sku_id)).scalars().all())
    assert skus == ["", "claude-haiku", "claude-opus"]
    frame = points(engine, ("sku_id",))
    assert frame.groupby("sku_id")["effective_cost"].sum().to_dict() == pytest.approx(
        {"": 1.0, "claude-haiku": 3.0, "claude-opus": 9.0})
