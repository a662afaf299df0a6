"""Lines of spend (``cost_series``) as the anomaly side reads them: what kind of spend a
service of a workload is (its FOCUS category, unit and SKUs), for choosing a playbook."""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from storage.models import CostSeries

__all__ = ["service_kinds"]


def service_kinds(*, db_session: Session, project: str, environment: str,
                  service_name: str) -> list[tuple[str, str, str]]:
    """(service_category, usage_unit, sku_id) of the workload's lines of one service, oldest
    line first; empty when the store holds none (data pruned, or a hand-made anomaly)."""
    rows = db_session.exec(_kinds_statement(), params={
        "project": project, "environment": environment, "service_name": service_name})
    return [(category, unit, sku) for category, unit, sku in rows]


@cache
def _kinds_statement() -> Any:
    """Built once: an alert card without a walk reads it to choose the playbook."""
    return (
        select(CostSeries.service_category, CostSeries.usage_unit, CostSeries.sku_id)
        .where(CostSeries.project == bindparam("project"),
               CostSeries.environment == bindparam("environment"),
               CostSeries.service_name == bindparam("service_name"))
        .order_by(col(CostSeries.id))
    )
