"""The queries, a module per table (or group of tables): ``queries.anomalies.get_anomaly(...)``.

Keyword-only, session (or connection) first, no business rules.
"""

from storage.queries import (
    anomalies,
    audit,
    budgets,
    changes,
    conversations,
    costs,
    outbox,
    points,
    runbooks,
    runs,
    series,
    sources,
    state,
)

__all__ = ["anomalies", "audit", "budgets", "changes", "conversations", "costs", "outbox", "points",
           "runbooks", "runs", "series", "sources", "state"]
