"""Write small FOCUS exports (CSV, gzip CSV, Parquet) for tests.

Every row starts from :data:`FOCUS_DEFAULTS`, a valid FOCUS 1.2 hourly Usage row, and the caller
overrides only what the test is about::

    write_focus_csv(tmp_path / "export.csv", [{"BilledCost": "2.5"}, {"ChargeCategory": "Tax"}])

A value of ``None`` is written as an empty cell (Parquet: a null). Columns can be dropped
(``drop=``), renamed (``rename=``) or given in another order (``columns=``), which is how the
tests build files with missing or oddly cased columns.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

__all__ = [
    "FOCUS_DEFAULTS",
    "focus_rows",
    "write_focus",
    "write_focus_csv",
    "write_focus_gzip",
    "write_focus_parquet",
]

# One valid FOCUS 1.2 hourly Usage row (a subset of the 1.2 columns, all the ones spendwatch
# reads plus a few it ignores). Values are text, as in a CSV export.
FOCUS_DEFAULTS: dict[str, Any] = {
    "BilledCost": "1.25",
    "BillingAccountId": "ba-test",
    "BillingAccountName": "Test Billing Account",
    "BillingCurrency": "USD",
    "BillingPeriodStart": "2025-04-01T00:00:00Z",
    "BillingPeriodEnd": "2025-05-01T00:00:00Z",
    "ChargeCategory": "Usage",
    "ChargeClass": None,
    "ChargeDescription": "Model inference tokens",
    "ChargeFrequency": "Usage-Based",
    "ChargePeriodStart": "2025-04-10T10:00:00Z",
    "ChargePeriodEnd": "2025-04-10T11:00:00Z",
    "ConsumedQuantity": "1000",
    "ConsumedUnit": "Tokens",
    "ContractedCost": "1.25",
    "EffectiveCost": "1.00",
    "InvoiceIssuerName": "AWS",
    "ListCost": "1.50",
    "PricingCategory": "Standard",
    "PricingQuantity": "1000",
    "PricingUnit": "Tokens",
    "ProviderName": "AWS",
    "PublisherName": "AWS",
    "RegionId": "us-east-1",
    "RegionName": "US East (N. Virginia)",
    "ResourceId": "res-1",
    "ResourceName": "endpoint-1",
    "ResourceType": "endpoint",
    "ServiceCategory": "AI and Machine Learning",
    "ServiceName": "Amazon Bedrock",
    "SkuId": "sku-1",
    "SubAccountId": "111111111111",
    "SubAccountName": "ai-prod",
    "Tags": '{"project": "support-agent", "environment": "prod", "owner": "team-support"}',
}


def focus_rows(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each row merged over the defaults (a key the defaults lack becomes a new column)."""
    return [{**FOCUS_DEFAULTS, **row} for row in rows]


def _table_rows(
    rows: Iterable[Mapping[str, Any]],
    *,
    columns: Sequence[str] | None,
    drop: Iterable[str],
    rename: Mapping[str, str] | None,
) -> tuple[list[str], list[dict[str, Any]]]:
    full = focus_rows(rows)
    if columns is None:
        names: list[str] = list(FOCUS_DEFAULTS)
        for row in full:
            names.extend(k for k in row if k not in names)
    else:
        names = list(columns)
    dropped = set(drop)
    names = [n for n in names if n not in dropped]
    rename = dict(rename or {})
    out_names = [rename.get(n, n) for n in names]
    out_rows = [{rename.get(n, n): row.get(n) for n in names} for row in full]
    return out_names, out_rows


def _csv_text(
    rows: Iterable[Mapping[str, Any]],
    *,
    columns: Sequence[str] | None = None,
    drop: Iterable[str] = (),
    rename: Mapping[str, str] | None = None,
    bom: bool = False,
) -> str:
    names, table = _table_rows(rows, columns=columns, drop=drop, rename=rename)
    buffer = io.StringIO()
    if bom:
        buffer.write("\ufeff")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(names)
    for row in table:
        writer.writerow(["" if row[n] is None else row[n] for n in names])
    return buffer.getvalue()


def write_focus_csv(
    path: Path,
    rows: Iterable[Mapping[str, Any]],
    *,
    columns: Sequence[str] | None = None,
    drop: Iterable[str] = (),
    rename: Mapping[str, str] | None = None,
    bom: bool = False,
) -> Path:
    """A plain UTF-8 CSV export (header on line 1, one line per row)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = _csv_text(rows, columns=columns, drop=drop, rename=rename, bom=bom)
    path.write_text(text, encoding="utf-8", newline="")
    return path


def write_focus_gzip(
    path: Path,
    rows: Iterable[Mapping[str, Any]],
    *,
    columns: Sequence[str] | None = None,
    drop: Iterable[str] = (),
    rename: Mapping[str, str] | None = None,
    bom: bool = False,
) -> Path:
    """The same CSV, gzip-compressed (name it ``*.csv.gz``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = _csv_text(rows, columns=columns, drop=drop, rename=rename, bom=bom)
    path.write_bytes(gzip.compress(text.encode("utf-8")))
    return path


def write_focus_parquet(
    path: Path,
    rows: Iterable[Mapping[str, Any]],
    *,
    columns: Sequence[str] | None = None,
    drop: Iterable[str] = (),
    rename: Mapping[str, str] | None = None,
    schema: Mapping[str, pa.DataType] | None = None,
    row_group_size: int | None = None,
) -> Path:
    """A Parquet export; columns are strings unless ``schema`` types them (values are cast).

    ``schema`` maps (output) column names to Arrow types, for example
    ``{"BilledCost": pa.float64(), "ChargePeriodStart": pa.timestamp("us", tz="UTC")}``;
    text values are converted with Arrow's cast (ISO timestamps, plain numbers). ``pa.null()``
    gives the all-null column that pandas and pyarrow write for a column without any value.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    names, table = _table_rows(rows, columns=columns, drop=drop, rename=rename)
    schema = dict(schema or {})
    arrays = []
    for name in names:
        values = [row[name] for row in table]
        target = schema.get(name)
        if target is not None and (
            pa.types.is_null(target) or not all(v is None or isinstance(v, str) for v in values)
        ):
            array = pa.array(values, type=target)  # typed values given directly, or all null
        else:
            array = pa.array([None if v is None else str(v) for v in values], type=pa.string())
            if target is not None:
                array = array.cast(target)
        arrays.append(array)
    pq.write_table(pa.table(arrays, names=names), path, row_group_size=row_group_size)
    return path


def write_focus(path: Path, rows: Iterable[Mapping[str, Any]], **options: Any) -> Path:
    """Write by suffix: ``.csv``, ``.csv.gz`` or ``.parquet``."""
    name = Path(path).name.lower()
    if name.endswith(".csv.gz"):
        return write_focus_gzip(path, rows, **options)
    if name.endswith(".parquet"):
        return write_focus_parquet(path, rows, **options)
    if name.endswith(".csv"):
        return write_focus_csv(path, rows, **options)
    raise ValueError(f"{path}: give a .csv, .csv.gz or .parquet name")
