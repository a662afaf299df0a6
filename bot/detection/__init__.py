"""Detection: baselines, verdicts and findings. Pure functions of arrays; no I/O, no chat.

Public surface: :class:`SpendMatrix` and :func:`detect_hour` for the engine (many lines, one
hour), :class:`Thresholds`, and :class:`SeasonalDetector` for any pandas Series.
"""

from bot.detection._rules import Thresholds
from bot.detection.engine import SpendMatrix, detect_hour
from bot.detection.findings import Contributor, Finding
from bot.detection.series import SeasonalDetector

__all__ = ["Contributor", "Finding", "SeasonalDetector", "SpendMatrix", "Thresholds",
           "detect_hour"]
