"""Finance: what spend will be and how long a budget lasts, for budgets, digests and reports.

- ``forecast``: month-end spend per series with an interval (seasonal naive or ETS).
- ``burn``: hours until a budget runs out at the last day's rate, and the thresholds crossed.
"""
