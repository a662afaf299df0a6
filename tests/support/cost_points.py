"""Hourly points put straight into a store, for tests of the cost questions (no FOCUS file)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd
from sqlalchemy.engine import Engine

from storage.db import session_scope
from storage.models import SERIES_COLUMNS
from storage.queries import points as points_q
from storage.queries import runs

SERIES = {
    **{c: "" for c in SERIES_COLUMNS},
    "provider": "AWS", "billing_account_id": "ba-1", "sub_account_id": "111",
    "sub_account_name": "acct", "service_name": "Amazon EC2", "service_category": "Compute",
    "region": "us-east-1", "project": "web", "environment": "prod", "owner": "team-web",
    "phase": "run", "cost_center": "cc", "charge_category": "Usage", "currency": "USD",
    "usage_unit": "Hours",
}


def put_points(engine: Engine, rows: Iterable[Mapping[str, Any]]) -> None:
    """Store hourly points; each row is ``hour`` and ``cost`` (or ``effective_cost`` and
    ``billed_cost``, which defaults to it) and series columns over SERIES."""
    records = []
    for row in rows:
        record = {**SERIES, **row}
        effective = record.pop("cost", None)
        record.setdefault("effective_cost", effective)
        record.setdefault("billed_cost", record["effective_cost"])
        records.append(record)
    frame = pd.DataFrame(records)
    with session_scope(engine) as session:
        run = runs.create_ingest_run(db_session=session, delivery_id="test", source="test",
                                     file_path="test", checksum="", fingerprint="",
                                     file_size=0)
        run_id = run.id
    keys = list(frame[list(SERIES_COLUMNS)].itertuples(index=False, name=None))
    distinct = pd.DataFrame(list(dict.fromkeys(keys)), columns=list(SERIES_COLUMNS))
    hours = pd.to_datetime(frame["hour"], utc=True)
    with engine.begin() as connection:
        ids = points_q.resolve_series(connection=connection, series=distinct, cache={})
        by_key = dict(zip(dict.fromkeys(keys), ids, strict=True))
        points = pd.DataFrame({
            "series_id": [by_key[k] for k in keys], "hour": hours,
            "billing_period_start": hours.dt.tz_localize(None).dt.to_period("M")
            .dt.start_time.dt.tz_localize("UTC"),
            "billed_cost": frame["billed_cost"], "effective_cost": frame["effective_cost"],
            "usage_quantity": 0.0, "line_items": 1,
        })
        points_q.insert_points(connection=connection, run_id=run_id, points=points)
