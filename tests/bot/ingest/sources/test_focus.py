"""Parsing FOCUS exports: tolerated oddities, rejected rows, file formats, discovery, chunking."""

from __future__ import annotations

import gzip
import itertools
import os
import re
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from bot.ingest.sources.focus import CHARGE_CATEGORIES, FocusFileError, discover_files, read_chunks
from tests.support.focus_files import (
    FOCUS_DEFAULTS,
    write_focus_csv,
    write_focus_gzip,
    write_focus_parquet,
)

UTC = "UTC"


def parse(path: Path, **options) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All parsed items and all rejected rows of one file."""
    chunks = list(read_chunks(path, **options))
    assert chunks, f"{path} yielded no chunk"
    items = pd.concat([c.items for c in chunks], ignore_index=True)
    rejected = pd.concat([c.rejected for c in chunks], ignore_index=True)
    assert sum(c.rows_read for c in chunks) == len(items) + len(rejected)
    return items, rejected


def reasons(rejected: pd.DataFrame) -> dict[int, str]:
    return dict(zip(rejected["row_number"].astype(int), rejected["reason"], strict=True))


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz=UTC)


# --- tolerated oddities ---------------------------------------------------------------------


def test_literal_null_and_empty_strings_are_read_as_nulls(tmp_path):
    path = write_focus_csv(
        tmp_path / "nulls.csv",
        [
            {"SubAccountName": "NULL", "Tags": "NULL", "BilledCost": "NULL", "EffectiveCost": "2"},
            {"SubAccountName": "", "ProviderName": "null", "ConsumedQuantity": "NULL"},
            {"BilledCost": "NULL", "EffectiveCost": ""},
        ],
    )
    items, rejected = parse(path)

    assert items["row_number"].tolist() == [2, 3]
    first, second = items.to_dict("records")
    assert first["sub_account_name"] == ""  # not the text "NULL"
    assert pd.isna(first["tags"])
    assert first["billed_cost"] == 2.0  # a null BilledCost falls back to EffectiveCost
    assert first["effective_cost"] == 2.0
    assert second["sub_account_name"] == ""
    assert second["provider"] == ""
    assert second["usage_quantity"] == 0.0
    # both costs null: nothing to count, so the row is refused rather than stored as 0
    assert reasons(rejected) == {4: "BilledCost and EffectiveCost are both empty"}


@pytest.mark.parametrize("writer", [write_focus_csv, write_focus_gzip], ids=["csv", "gzip"])
def test_utf8_byte_order_mark_before_the_header_is_ignored(tmp_path, writer):
    # the spec's example files start with a BOM, right before their first column BilledCost
    columns = ["BilledCost", *(c for c in FOCUS_DEFAULTS if c != "BilledCost")]
    suffix = ".csv" if writer is write_focus_csv else ".csv.gz"
    path = writer(tmp_path / f"bom{suffix}", [{"BilledCost": "7.5"}], columns=columns, bom=True)
    raw = path.read_bytes() if suffix == ".csv" else gzip.decompress(path.read_bytes())
    assert raw.startswith(b"\xef\xbb\xbfBilledCost,")

    items, rejected = parse(path)

    assert rejected.empty
    assert items["billed_cost"].tolist() == [7.5]


def test_column_names_in_other_casing_are_recognised(tmp_path):
    rename = {
        "ChargePeriodStart": "chargeperiodstart",
        "ChargePeriodEnd": "CHARGEPERIODEND",
        "BilledCost": "billedCost",
        "EffectiveCost": "EFFECTIVECOST",
        "ChargeCategory": "chargeCategory",
        "BillingCurrency": "billingcurrency",
        "ServiceName": "SERVICENAME",
        "BillingAccountId": "billingaccountid",
    }
    path = write_focus_csv(
        tmp_path / "casing.csv",
        [{"BilledCost": "3", "EffectiveCost": "2", "ChargeCategory": "Usage"}],
        rename=rename,
    )
    items, rejected = parse(path)

    assert rejected.empty
    row = items.iloc[0]
    assert (row["billed_cost"], row["effective_cost"]) == (3.0, 2.0)
    assert row["start"] == ts("2025-04-10 10:00")
    assert row["end"] == ts("2025-04-10 11:00")
    assert row["service_name"] == "Amazon Bedrock"
    assert row["billing_account_id"] == "ba-test"
    assert row["currency"] == "USD"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$10,000.00 ", 10_000.0),
        ("(1.50)", -1.5),
        ("1,234.5", 1234.5),
        ("-$5.00", -5.0),
        (" 3.25 ", 3.25),
        ("12", 12.0),
    ],
)
def test_money_strings_are_read_as_numbers(tmp_path, text, expected):
    # a plain number in the same column, so the file is not all-plain (no fast path)
    path = write_focus_csv(
        tmp_path / "money.csv",
        [{"BilledCost": text, "EffectiveCost": text}, {"BilledCost": "1", "EffectiveCost": "1"}],
    )
    items, rejected = parse(path)

    assert rejected.empty
    assert items["billed_cost"].tolist() == [expected, 1.0]
    assert items["effective_cost"].tolist() == [expected, 1.0]


def test_money_strings_mixed_in_one_column(tmp_path):
    path = write_focus_csv(
        tmp_path / "money.csv",
        [
            {"BilledCost": "$10,000.00 ", "EffectiveCost": "(1.50)"},
            {"BilledCost": "0.5", "EffectiveCost": "$2"},
            {"BilledCost": "abc", "EffectiveCost": "1"},
        ],
    )
    items, rejected = parse(path)

    assert items["billed_cost"].tolist() == [10_000.0, 0.5]
    assert items["effective_cost"].tolist() == [-1.5, 2.0]
    assert reasons(rejected) == {4: "BilledCost is not a number: 'abc'"}


@pytest.mark.parametrize(
    "text",
    [
        "4/1/25",  # the spec's example files
        "04/01/2025",
        "4/1/2025 00:00",
        "2025-04-01T00:00:00Z",
        "2025-04-01T00:00:00",  # no offset means UTC
        "2025-04-01 00:00:00",  # space separator
        "2025-04-01 00:00:00Z",
        "2025-04-01T00:00:00.000Z",
        "2025-04-01T02:00:00+02:00",  # an offset is converted to UTC
        "2025-03-31T20:00:00-04:00",
    ],
)
def test_dates_in_every_tolerated_form_are_read_as_utc(tmp_path, text):
    path = write_focus_csv(
        tmp_path / "dates.csv",
        [{"ChargePeriodStart": text, "ChargePeriodEnd": "2025-04-02T00:00:00Z"}],
    )
    items, rejected = parse(path)

    assert rejected.empty
    assert items["start"].tolist() == [ts("2025-04-01 00:00")]
    assert str(items["start"].dt.tz) == UTC


def test_date_forms_mixed_in_one_column(tmp_path):
    starts = ["4/1/25", "2025-04-01T01:00:00Z", "2025-04-01T02:00:00", "2025-04-01 03:00:00",
              "2025-04-01T06:00:00+02:00"]
    path = write_focus_csv(
        tmp_path / "dates.csv",
        [{"ChargePeriodStart": s, "ChargePeriodEnd": "5/1/25"} for s in starts],
    )
    items, rejected = parse(path)

    assert rejected.empty
    assert items["start"].tolist() == [ts(f"2025-04-01 0{h}:00") for h in range(5)]
    assert set(items["end"]) == {ts("2025-05-01")}


def test_focus_1_3_service_provider_name_is_the_provider(tmp_path):
    path = write_focus_csv(
        tmp_path / "focus13.csv",
        [{"ServiceProviderName": "Microsoft"}],
        drop=["ProviderName"],
    )
    items, rejected = parse(path)

    assert rejected.empty
    assert items["provider"].tolist() == ["Microsoft"]


def test_service_provider_name_is_coalesced_with_provider_name(tmp_path):
    path = write_focus_csv(
        tmp_path / "both.csv",
        [
            {"ServiceProviderName": "Microsoft", "ProviderName": "AWS"},
            {"ServiceProviderName": None, "ProviderName": "AWS"},
            {"ServiceProviderName": "NULL", "ProviderName": "Oracle"},
        ],
    )
    items, _ = parse(path)

    # ServiceProviderName wins when present; ProviderName fills the rows where it is null
    assert items["provider"].tolist() == ["Microsoft", "AWS", "Oracle"]


def test_charge_category_is_case_insensitive(tmp_path):
    given = ["usage", "PURCHASE", " Credit ", "tax", "aDjUsTmEnT", "Usage"]
    path = write_focus_csv(tmp_path / "cat.csv", [{"ChargeCategory": c} for c in given])
    items, rejected = parse(path)

    assert rejected.empty
    assert items["charge_category"].tolist() == [
        "Usage", "Purchase", "Credit", "Tax", "Adjustment", "Usage",
    ]


def test_unknown_charge_category_is_rejected_naming_the_allowed_values(tmp_path):
    path = write_focus_csv(
        tmp_path / "cat.csv",
        [{"ChargeCategory": "Usage"}, {"ChargeCategory": "Refund"}, {"ChargeCategory": ""}],
    )
    items, rejected = parse(path)

    assert items["row_number"].tolist() == [2]
    got = reasons(rejected)
    assert set(got) == {3, 4}
    assert "Refund" in got[3]
    for category in CHARGE_CATEGORIES:
        assert category in got[3]
    assert got[4] == "ChargeCategory is empty"


# --- rejected rows --------------------------------------------------------------------------


def test_bad_rows_are_rejected_with_their_line_number_and_good_rows_kept(tmp_path):
    rows = [
        {"BilledCost": "1"},  # line 2
        {"ChargePeriodStart": "yesterday"},  # line 3
        {"BilledCost": "2"},  # line 4
        {"BilledCost": "ten"},  # line 5
        {"EffectiveCost": "1.2.3"},  # line 6
        {"ChargePeriodEnd": "2025-04-10T09:00:00Z"},  # line 7: ends before it starts
        {"ChargePeriodEnd": "31/31/2025"},  # line 8
        {"ChargePeriodStart": ""},  # line 9
        {"BilledCost": "3"},  # line 10
    ]
    path = write_focus_csv(tmp_path / "bad.csv", rows)
    items, rejected = parse(path)

    assert items["row_number"].tolist() == [2, 4, 10]
    assert items["billed_cost"].tolist() == [1.0, 2.0, 3.0]
    assert reasons(rejected) == {
        3: "ChargePeriodStart is not a date: 'yesterday'",
        5: "BilledCost is not a number: 'ten'",
        6: "EffectiveCost is not a number: '1.2.3'",
        7: "ChargePeriodEnd is before ChargePeriodStart",
        8: "ChargePeriodEnd is not a date: '31/31/2025'",
        9: "ChargePeriodStart is empty",
    }
    # the raw values travel with the rejected row, for the quarantine file
    assert rejected.set_index("row_number").loc[5, "billed_cost"] == "ten"


def test_each_rejected_row_line_matches_the_file(tmp_path):
    """Read the file back as text: the line a rejected row names holds that row's bad value."""
    rows = [{"BilledCost": f"{i}.5"} for i in range(20)]
    rows[6]["BilledCost"] = "oops-6"
    rows[13]["ChargePeriodStart"] = "not-a-date-13"
    path = write_focus_csv(tmp_path / "lines.csv", rows)
    _, rejected = parse(path)

    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("BilledCost,")  # line 1 is the header
    found = reasons(rejected)
    assert set(found) == {8, 15}
    assert "oops-6" in lines[8 - 1]
    assert "not-a-date-13" in lines[15 - 1]


def test_row_numbers_count_records_not_blank_lines(tmp_path):
    # the spec's commitment_discount_flexibility examples separate their rows with blank lines;
    # row numbers are record numbers (header = 1), as a spreadsheet shows them
    path = write_focus_csv(tmp_path / "spaced.csv", [{}, {}, {"BilledCost": "bad"}])
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\r\n\r\n".join(lines) + "\r\n", encoding="utf-8", newline="")

    items, rejected = parse(path)

    assert len(items) == 2
    assert reasons(rejected) == {4: "BilledCost is not a number: 'bad'"}


@pytest.mark.parametrize(
    ("column", "hint"),
    [
        ("ChargePeriodStart", "every mandatory column"),
        ("ChargePeriodEnd", "every mandatory column"),
        ("ChargeCategory", "every mandatory column"),
        ("EffectiveCost", "effective (amortised) cost"),
        ("BillingAccountId", "--billing-account"),
        ("BillingPeriodStart", "re-delivery replaces"),
        ("BillingPeriodEnd", "re-delivery replaces"),
        ("BillingCurrency", "--currency"),
    ],
)
@pytest.mark.parametrize("writer", [write_focus_csv, write_focus_parquet], ids=["csv", "parquet"])
def test_a_file_missing_a_column_it_cannot_do_without_is_refused_naming_it(
    tmp_path, writer, column, hint
):
    suffix = ".csv" if writer is write_focus_csv else ".parquet"
    path = writer(tmp_path / f"missing{suffix}", [{}, {}, {}], drop=[column])

    with pytest.raises(FocusFileError) as caught:
        list(read_chunks(path, delivery=True))

    message = str(caught.value)
    assert message.startswith(f"{path}: missing column {column} (FOCUS mandatory); ")
    assert hint in message  # and what to do about it


def test_every_missing_column_is_named_at_once(tmp_path):
    path = write_focus_csv(tmp_path / "nocost.csv", [{}], drop=["BilledCost", "EffectiveCost",
                                                                 "BillingAccountId"])
    with pytest.raises(FocusFileError, match="missing columns EffectiveCost, BillingAccountId "):
        list(read_chunks(path, delivery=True))


def test_what_identifies_a_delivery_is_needed_to_store_it_not_to_replay_it(tmp_path):
    path = write_focus_csv(
        tmp_path / "replayed.csv", [{"ChargePeriodStart": "2025-04-10T10:00:00Z"}],
        drop=["BillingAccountId", "BillingPeriodStart", "BillingPeriodEnd"])

    (chunk,) = read_chunks(path)

    assert chunk.rejected.empty
    assert "billing_period_start" not in chunk.items  # the charge's month stands in for it
    assert chunk.items["billing_account_id"].tolist() == [""]


def test_billed_cost_alone_is_not_taken_for_effective_cost(tmp_path):
    # a billed-only file used to be read as effective cost without a word
    path = write_focus_csv(tmp_path / "billed.csv", [{"BilledCost": "4"}], drop=["EffectiveCost"])

    with pytest.raises(FocusFileError, match="missing column EffectiveCost"):
        list(read_chunks(path))


def test_only_effective_cost_is_enough_and_the_chunk_says_which_columns_it_has(tmp_path):
    path = write_focus_csv(
        tmp_path / "effective.csv", [{"EffectiveCost": "4"}], drop=["BilledCost"]
    )
    (chunk,) = read_chunks(path)

    assert chunk.rejected.empty
    assert (chunk.items.loc[0, "billed_cost"], chunk.items.loc[0, "effective_cost"]) == (4.0, 4.0)
    assert chunk.cost_columns == ("EffectiveCost",)
    assert next(read_chunks(write_focus_csv(tmp_path / "both.csv", [{}]))).cost_columns == (
        "EffectiveCost", "BilledCost")


def test_an_empty_cost_cell_takes_the_other_column_and_is_counted(tmp_path):
    path = write_focus_csv(tmp_path / "cells.csv", [
        {"BilledCost": "3", "EffectiveCost": None},
        {"BilledCost": None, "EffectiveCost": "2"},
        {"BilledCost": None, "EffectiveCost": "5"},
        {},
    ])
    (chunk,) = read_chunks(path)

    assert chunk.items["effective_cost"].tolist() == [3.0, 2.0, 5.0, 1.0]
    assert chunk.items["billed_cost"].tolist() == [3.0, 2.0, 5.0, 1.25]
    assert chunk.notes == {"effective_empty": 1, "billed_empty": 2}


def test_a_declared_currency_stands_in_for_a_missing_billing_currency_column(tmp_path):
    path = write_focus_csv(tmp_path / "nocurrency.csv", [{}, {}], drop=["BillingCurrency"])

    with pytest.raises(FocusFileError, match="missing column BillingCurrency"):
        list(read_chunks(path))
    items, rejected = parse(path, default_currency="EUR")
    assert rejected.empty
    assert items["currency"].tolist() == ["EUR", "EUR"]


@pytest.mark.parametrize("writer", [write_focus_csv, write_focus_parquet], ids=["csv", "parquet"])
def test_a_declared_billing_account_stands_in_for_a_missing_or_empty_one(tmp_path, writer):
    suffix = ".csv" if writer is write_focus_csv else ".parquet"
    path = writer(tmp_path / f"noaccount{suffix}", [{}, {}], drop=["BillingAccountId"])
    items, rejected = parse(path, default_account=" acct-7 ")
    assert rejected.empty
    assert items["billing_account_id"].tolist() == ["acct-7", "acct-7"]

    some = writer(tmp_path / f"someaccount{suffix}",
                  [{"BillingAccountId": None}, {"BillingAccountId": "ba-9"}])
    items, rejected = parse(some, default_account="acct-7")
    assert items["billing_account_id"].tolist() == ["acct-7", "ba-9"]


def test_rows_without_a_billing_account_or_period_are_refused(tmp_path):
    # they name the delivery a re-delivery replaces: under an empty account it would add up
    path = write_focus_csv(tmp_path / "blanks.csv", [
        {"BillingAccountId": None},
        {"BillingAccountId": "  "},
        {"BillingPeriodStart": None},
        {"BillingPeriodStart": "April"},
        {},
    ])
    items, rejected = parse(path)

    assert items["row_number"].tolist() == [6]
    assert reasons(rejected) == {
        2: "BillingAccountId is empty",
        3: "BillingAccountId is empty",
        4: "BillingPeriodStart is empty",
        5: "BillingPeriodStart is not a date: 'April'",
    }


def test_default_currency_fills_empty_billing_currency_cells(tmp_path):
    path = write_focus_csv(
        tmp_path / "somecurrency.csv", [{"BillingCurrency": None}, {"BillingCurrency": "eur"}]
    )
    items, rejected = parse(path)
    assert reasons(rejected) == {2: "BillingCurrency is empty"}

    items, rejected = parse(path, default_currency="USD")
    assert rejected.empty
    assert items["currency"].tolist() == ["USD", "EUR"]  # upper-cased


def test_default_currency_is_upper_cased_like_the_column(tmp_path):
    # `spendwatch ingest --currency eur` or `sources[].currency: eur`; the column's own values
    # are upper-cased, and currency.rates keys are too, so 'eur' would match no rate
    path = write_focus_csv(tmp_path / "nocurrency.csv", [{}], drop=["BillingCurrency"])
    items, rejected = parse(path, default_currency="eur")

    assert rejected.empty
    assert items["currency"].tolist() == ["EUR"]


# --- formats and files ----------------------------------------------------------------------

ROWS = [
    {"BilledCost": "1.25", "EffectiveCost": "1.00", "Tags": None},
    {"BilledCost": "10", "EffectiveCost": "9.5", "ChargeCategory": "Purchase",
     "ChargePeriodStart": "2025-04-01T00:00:00Z", "ChargePeriodEnd": "2026-04-01T00:00:00Z"},
    {"BilledCost": "-2", "EffectiveCost": "-2", "ChargeCategory": "Credit",
     "ServiceName": "Azure OpenAI", "ProviderName": "Microsoft", "RegionId": None,
     "RegionName": "westeurope"},
    {"BilledCost": "0.1", "EffectiveCost": "0.1", "ChargeCategory": "Tax", "BillingCurrency": "EUR",
     "ConsumedQuantity": None, "ConsumedUnit": None, "SubAccountName": None},
    {"BilledCost": "x", "EffectiveCost": "1"},  # rejected in every format
]
TYPED = {
    "BilledCost": pa.float64(),
    "EffectiveCost": pa.float64(),
    "ConsumedQuantity": pa.float64(),
    "ChargePeriodStart": pa.timestamp("us", tz="UTC"),
    "ChargePeriodEnd": pa.timestamp("us", tz="UTC"),
    "BillingPeriodStart": pa.timestamp("us", tz="UTC"),
}


def comparable(items: pd.DataFrame) -> pd.DataFrame:
    """Same values regardless of dtype details (categorical vs object, ns vs us)."""
    out = items.copy()
    for column in out.columns:
        if isinstance(out[column].dtype, pd.CategoricalDtype) or out[column].dtype == object:
            out[column] = out[column].astype(object).where(out[column].notna(), None)
        elif isinstance(out[column].dtype, pd.DatetimeTZDtype):
            out[column] = out[column].dt.tz_convert(UTC).astype("datetime64[ns, UTC]")
    return out.reset_index(drop=True)


def test_gzip_and_parquet_give_the_same_items_as_plain_csv(tmp_path):
    good = ROWS[:-1]
    csv_items, csv_rejected = parse(write_focus_csv(tmp_path / "a.csv", ROWS))
    assert len(csv_items) == 4
    assert csv_rejected["row_number"].tolist() == [6]

    gz_items, gz_rejected = parse(write_focus_gzip(tmp_path / "a.csv.gz", ROWS))
    pq_items, _ = parse(write_focus_parquet(tmp_path / "a.parquet", good))
    typed_items, _ = parse(
        write_focus_parquet(tmp_path / "typed.parquet", good, schema=TYPED)
    )

    expected = comparable(csv_items)
    pd.testing.assert_frame_equal(comparable(gz_items), expected)
    assert gz_rejected["row_number"].tolist() == [6]
    pd.testing.assert_frame_equal(comparable(pq_items), expected, check_dtype=False)
    pd.testing.assert_frame_equal(comparable(typed_items), expected, check_dtype=False)


def test_parquet_rejects_bad_rows_with_their_row_number(tmp_path):
    path = write_focus_parquet(tmp_path / "bad.parquet", ROWS)
    items, rejected = parse(path)

    assert items["row_number"].tolist() == [2, 3, 4, 5]
    assert reasons(rejected) == {6: "BilledCost is not a number: 'x'"}


def test_parquet_all_null_text_column_is_a_null_column(tmp_path):
    # a column with no value at all is typed `null` by pandas/pyarrow writers; Tags is common
    path = write_focus_parquet(
        tmp_path / "notags.parquet", [{"Tags": None}, {"Tags": None}], schema={"Tags": pa.null()}
    )
    items, rejected = parse(path)

    assert rejected.empty
    assert len(items) == 2
    assert items["tags"].isna().all()


@pytest.mark.parametrize(
    ("column", "field", "expected"),
    [("RegionId", "region", "US East (N. Virginia)"), ("ServiceProviderName", "provider", "AWS")],
)
def test_parquet_all_null_column_with_an_alternative_falls_back_to_it(
    tmp_path, column, field, expected
):
    # e.g. a SaaS provider's FOCUS Parquet with an empty RegionId but a RegionName
    path = write_focus_parquet(
        tmp_path / "nullcolumn.parquet", [{column: None}, {column: None}],
        schema={column: pa.null()},
    )
    items, rejected = parse(path)

    assert rejected.empty
    assert items[field].tolist() == [expected, expected]


def test_parquet_all_null_billing_currency_takes_the_default_currency(tmp_path):
    path = write_focus_parquet(
        tmp_path / "nocurrency.parquet", [{"BillingCurrency": None}],
        schema={"BillingCurrency": pa.null()},
    )
    items, rejected = parse(path, default_currency="USD")

    assert rejected.empty
    assert items["currency"].tolist() == ["USD"]


def test_discover_files_finds_csv_gzip_and_parquet_only(tmp_path):
    folder = tmp_path / "exports"
    wanted = ["a.csv", "b.csv.gz", "c.parquet", "2025-04/part-0001.csv.gz", "UPPER.CSV"]
    ignored = ["notes.txt", "manifest.json", "d.gz", "e.csv.bak", "f.parquet.tmp", "g.zip",
               "csv", "h.tsv"]
    for name in [*wanted, *ignored]:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("x")

    found = discover_files(folder)

    assert [p.relative_to(folder).as_posix() for p in found] == sorted(wanted)


def test_discover_files_on_one_file_and_on_a_wrong_path(tmp_path):
    export = write_focus_csv(tmp_path / "one.csv", [{}])
    assert discover_files(export) == [export]

    other = tmp_path / "report.xlsx"
    other.write_bytes(b"PK\x03\x04")
    with pytest.raises(FocusFileError, match=r"report\.xlsx.*\.csv, \.csv\.gz or \.parquet"):
        discover_files(other)
    with pytest.raises(FocusFileError, match="no such file or folder"):
        discover_files(tmp_path / "missing")


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("sales.csv", b"name,amount\nwidget,3\n", "is this a FOCUS export"),
        ("empty.csv", b"", "empty file"),
        ("image.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe\xe8\x00", "cannot be read"),
        ("plain.csv.gz", b"BilledCost,ChargePeriodStart\n1,4/1/25\n", "cannot be read"),
        ("junk.parquet", b"definitely not parquet", "not a readable Parquet file"),
    ],
)
def test_a_file_that_is_not_focus_raises_a_clear_error(tmp_path, name, data, message):
    path = _write(tmp_path / name, data)

    with pytest.raises(FocusFileError) as caught:
        list(read_chunks(path))

    text = str(caught.value)
    assert str(path) in text  # names the file
    assert message in text


def test_random_bytes_named_csv_raise_focus_file_error(tmp_path):
    path = _write(tmp_path / "noise.csv", b"\xff\xfe" + os.urandom(4000))

    with pytest.raises(FocusFileError, match=re.escape(str(path))):
        list(read_chunks(path))


# --- chunking -------------------------------------------------------------------------------


@pytest.mark.parametrize("writer", [write_focus_csv, write_focus_gzip], ids=["csv", "gzip"])
def test_small_chunks_keep_row_numbers_right_across_chunks(tmp_path, writer):
    rows = [{"BilledCost": str(i), "EffectiveCost": str(i)} for i in range(1, 121)]
    for i in range(6, 120, 13):
        rows[i]["BilledCost"] = f"bad-{i}"
    suffix = ".csv" if writer is write_focus_csv else ".csv.gz"
    path = writer(tmp_path / f"many{suffix}", rows)

    # small pyarrow blocks, gathered into small parsed chunks: many boundaries to get wrong
    chunks = list(read_chunks(path, chunk_bytes=2048, chunk_rows=10))
    items = pd.concat([c.items for c in chunks], ignore_index=True)
    rejected = pd.concat([c.rejected for c in chunks], ignore_index=True)

    assert len(chunks) > 5  # the file really was read in several chunks
    bad_lines = [i + 2 for i in range(6, 120, 13)]
    assert rejected["row_number"].tolist() == bad_lines
    for line, reason in reasons(rejected).items():
        assert reason == f"BilledCost is not a number: 'bad-{line - 2}'"
    # every kept row: its value was written on row (value + 1), so the number is its line
    assert (items["row_number"] == items["effective_cost"] + 1).all()
    assert len(items) == 120 - len(bad_lines)


def test_parquet_chunks_keep_row_numbers_right_across_row_groups(tmp_path):
    rows = [{"BilledCost": str(i), "EffectiveCost": str(i)} for i in range(1, 101)]
    rows[0]["BilledCost"] = "bad-first"
    rows[57]["BilledCost"] = "bad-middle"
    rows[99]["BilledCost"] = "bad-last"
    path = write_focus_parquet(tmp_path / "groups.parquet", rows, row_group_size=16)

    chunks = list(read_chunks(path, chunk_rows=7))
    items = pd.concat([c.items for c in chunks], ignore_index=True)
    rejected = pd.concat([c.rejected for c in chunks], ignore_index=True)

    assert len(chunks) > 5
    assert rejected["row_number"].tolist() == [2, 59, 101]
    assert (items["row_number"] == items["effective_cost"] + 1).all()
    assert len(items) == 97


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".parquet"])
def test_bytes_consumed_add_up_to_the_file_size(tmp_path, suffix):
    writer = {".csv": write_focus_csv, ".csv.gz": write_focus_gzip,
              ".parquet": write_focus_parquet}[suffix]
    options = {"row_group_size": 30} if suffix == ".parquet" else {}
    path = writer(
        tmp_path / f"many{suffix}", [{"BilledCost": str(i)} for i in range(200)], **options
    )
    told: list[int] = []

    chunks = list(read_chunks(path, chunk_bytes=4096, chunk_rows=25, on_bytes=told.append))

    assert len(chunks) > 1
    assert len(told) == len(chunks)  # told after every chunk
    assert all(n >= 0 for n in told)
    assert sum(told) == path.stat().st_size


# gzip is left out: a file this small is one compressed read
@pytest.mark.parametrize("suffix", [".csv"])
def test_bytes_consumed_grow_with_each_chunk(tmp_path, suffix):
    writer = write_focus_csv if suffix == ".csv" else write_focus_gzip
    path = writer(tmp_path / f"many{suffix}", [{"BilledCost": str(i)} for i in range(400)])
    told: list[int] = []

    chunks = list(read_chunks(path, chunk_bytes=4096, chunk_rows=50, on_bytes=told.append))

    assert len(chunks) >= 8
    consumed = list(itertools.accumulate(told))
    # a progress bar fed from this moves with the rows: not at 100% after an eighth of them
    assert consumed[0] < path.stat().st_size / 2  # actual: the whole file size
    assert all(later > earlier for earlier, later in itertools.pairwise(consumed))


# --- rows kept or refused for what they would do to the totals ------------------------------


@pytest.mark.parametrize(
    ("end", "kept"),
    [
        ("2025-05-01T00:00:00Z", True),  # 30 days
        ("2025-05-02T00:00:00Z", True),  # 31 days: spread over its 744 hours
        ("2025-05-02T01:00:00Z", False),  # an hour more
        ("2025-05-03T00:00:00Z", False),  # 32 days: used to land in one hour
        ("2026-04-01T00:00:00Z", False),
    ],
)
def test_usage_longer_than_31_days_is_refused_with_its_length(tmp_path, end, kept):
    path = write_focus_csv(tmp_path / "long.csv", [
        {"ChargePeriodStart": "2025-04-01T00:00:00Z", "ChargePeriodEnd": end},
        {},
    ])
    items, rejected = parse(path)

    assert items["row_number"].tolist() == ([2, 3] if kept else [3])
    if not kept:
        (reason,) = rejected["reason"]
        assert reason.startswith("Usage longer than 31 days cannot be spread over its hours; "
                                 "check ChargePeriodStart and ChargePeriodEnd: ")
        days = (pd.Timestamp(end) - pd.Timestamp("2025-04-01T00:00:00Z")).days
        assert reason.endswith(f": {days:.1f} days")


def test_one_time_charges_of_any_length_are_kept(tmp_path):
    path = write_focus_csv(tmp_path / "purchase.csv", [
        {"ChargeCategory": category, "ChargePeriodStart": "2025-04-01T00:00:00Z",
         "ChargePeriodEnd": "2026-04-01T00:00:00Z"}
        for category in ("Purchase", "Tax", "Credit", "Adjustment")
    ])
    items, rejected = parse(path)

    assert rejected.empty
    assert len(items) == 4


def test_negative_usage_is_kept_and_counted(tmp_path):
    path = write_focus_csv(tmp_path / "negative.csv", [
        {"EffectiveCost": "-0.5", "BilledCost": "-0.5"},
        {"EffectiveCost": "0", "BilledCost": "-1"},
        {"EffectiveCost": "-3", "BilledCost": "-3", "ChargeCategory": "Credit"},  # as it should
        {"EffectiveCost": "2"},
    ])
    (chunk,) = read_chunks(path)

    assert chunk.rejected.empty
    assert chunk.items["effective_cost"].tolist() == [-0.5, 0.0, -3.0, 2.0]
    assert chunk.notes == {"negative_usage": 2}


def test_money_text_after_blocks_of_plain_numbers_is_still_read_as_money(tmp_path):
    rows = [{"EffectiveCost": str(i), "ChargePeriodStart": "2025-04-10T10:00:00Z"}
            for i in range(20)]
    rows += [{"EffectiveCost": "$1,000.50", "ChargePeriodStart": "4/10/25 10:00"},
             {"EffectiveCost": "(2)", "ChargePeriodStart": "2025-04-10 10:00:00"}]
    path = write_focus_csv(tmp_path / "late-money.csv", rows)

    items, rejected = parse(path, chunk_bytes=2048)  # many blocks: the first ones typed

    assert rejected.empty
    assert items["effective_cost"].tolist() == [float(i) for i in range(20)] + [1000.5, -2.0]
    assert set(items["start"]) == {ts("2025-04-10 10:00")}
    assert items["row_number"].tolist() == list(range(2, 24))
