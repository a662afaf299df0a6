"""Finance: budgets and their alerts, forecasts, showback, the weekly digest and the report.

- ``config``: the ``budgets:``, ``finance:`` and ``showback:`` settings.
- ``budgets``: which budgets apply, their spend, forecast and burn rate as of the newest data,
  and the thresholds crossed (stored once per period); ``alerting`` sends that news.
- ``forecast``: period-end spend per series with an interval (seasonal naive or ETS).
- ``burn``: hours until a budget runs out at the last day's rate, and the thresholds crossed.
- ``showback``: shared spend split across the projects that use it, to the cent.
- ``chat``, ``views``: ``/cost budget`` and ``/cost budget set``.
- ``digest``, ``digest_view``, ``digest_send``: the weekly finance digest.
- ``register``, ``report*``: the anomaly register and the month's board report.
- ``replay``: the budget lines of ``spendwatch replay``.
"""
