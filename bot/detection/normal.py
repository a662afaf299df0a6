"""Normal widened by people: a floor under a line's expected spend.

When someone says an alert was "not an anomaly", the spend of each line it was about is
recorded as normal for that line (``LineFeedback``, :mod:`bot.anomaly.feedback`). The detector
then judges the line against a raised bound, by this rule:

* the line's **floor** is the hourly level people called normal (the largest, when several
  pieces of feedback name the same service line);
* the line's *expected* spend counts as at least its floor: ``expected' = max(expected,
  floor)``. Everything else is judged as always from ``expected'``: the line is *anomalous*
  only once it is its relative margin (``Thresholds.relative``, narrowed for big steady lines)
  above ``floor`` and passes the dollar and spread tests, and *elevated* (an open incident goes
  on) only once it is half its margin above it. At or below ``floor × (1 + margin / 2)`` the
  line is quiet; a rise to the same level as the one people called normal never alerts, a
  bigger one still does;
* the workload's total expected rises by what its lines were raised (``expected' -
  expected``), so the same dollars are not flagged one level up; a service line that is split
  into SKUs raises the SKU the feedback named by as much. Other lines of the workload keep
  their own baselines: a rise elsewhere alerts as before.

A floor below the line's own expected spend changes nothing, so feedback stops mattering once
the line's history has caught up with it. The floors are a pure input to
:func:`bot.detection.engine.detect_hour`, a mapping from the finest line key (project,
environment, service, region, SKU) to dollars per hour; the detection pass loads it from the
store each poll, so feedback applies from the next hour judged and an undo likewise.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from bot.detection._baseline import Baseline

if TYPE_CHECKING:
    from bot.detection.engine import SpendMatrix

__all__ = ["LineKey", "NormalFloors", "Widening"]

# project, environment, service_name, region, sku_id ("" when the data has none)
LineKey = tuple[str, str, str, str, str]
NormalFloors = Mapping[LineKey, float]


class Widening:
    """The floors of one matrix, applied to the baselines of one hour, level by level.

    Service lines are lifted first (:meth:`services`); the totals and the SKU lines then add
    what their service lines were raised by, so call the three in that order.
    """

    def __init__(self, matrix: SpendMatrix, floors: NormalFloors) -> None:
        self._matrix = matrix
        self._floor = np.zeros(len(matrix.services))
        named = np.zeros(len(matrix.lines), dtype=bool)
        services, lines = matrix.services, matrix.lines
        for key, floor in floors.items():
            project, environment, service, region, sku = key
            rows = np.flatnonzero(
                (services["project"] == project).to_numpy()
                & (services["environment"] == environment).to_numpy()
                & (services["service_name"] == service).to_numpy()
                & (services["region"] == region).to_numpy())
            if not len(rows):
                continue
            self._floor[rows] = np.maximum(self._floor[rows], float(floor))
            named |= np.isin(matrix.service_of_line, rows) & (lines["sku_id"] == sku).to_numpy()
        self._named = named
        self._raised = np.zeros(len(matrix.services))

    @classmethod
    def of(cls, matrix: SpendMatrix, floors: NormalFloors | None) -> Widening | None:
        """None when there is nothing to widen (the detector's usual path, untouched)."""
        return cls(matrix, floors) if floors else None

    def services(self, baseline: Baseline) -> Baseline:
        raised = np.clip(self._floor - np.nan_to_num(baseline.expected, nan=0.0), 0.0, None)
        self._raised = np.where(self._floor > 0, raised, 0.0)
        return _lift(baseline, self._raised)

    def totals(self, baseline: Baseline) -> Baseline:
        by_workload = np.bincount(self._matrix.workload_of_service, weights=self._raised,
                                  minlength=len(self._matrix.workloads))
        return _lift(baseline, by_workload)

    def skus(self, baseline: Baseline, rows: np.ndarray) -> Baseline:
        parent = self._matrix.service_of_line[rows]
        return _lift(baseline, np.where(self._named[rows], self._raised[parent], 0.0))


def _lift(baseline: Baseline, by: np.ndarray) -> Baseline:
    if not np.any(by > 0):
        return baseline
    return dataclasses.replace(baseline, expected=baseline.expected + by)
