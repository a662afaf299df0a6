"""Finance: what spend will be, how long a budget lasts, and who pays for shared spend.

- ``forecast``: month-end spend per series with an interval (seasonal naive or ETS).
- ``burn``: hours until a budget runs out at the last day's rate, and the thresholds crossed.
- ``showback``: shared spend split across the projects that use it, to the cent.
"""
