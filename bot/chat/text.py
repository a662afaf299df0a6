"""Text every chat surface shares: money, Slack mrkdwn escaping, and times.

Money is always in cents (``$0.42``, ``$412.50``, ``$1,234.56``), never rounded to whole
dollars: an alert, ``/cost`` and the CLI table must print the same figure for the same amount,
and the table's rows have to add up to its total to the cent, so the finest form everyone can
read wins. An amount that is not zero but rounds to no cent reads ``<$0.01``, so a small token
spend does not look like nothing, and nothing reads ``-$0.00``. Amounts are in the store's base
currency (``currency.base`` in the settings; ingestion converts every line to it):
:func:`use_currency` sets it once at start-up; USD, EUR and GBP print a symbol, any other code
follows the amount (``1,234.56 CHF``).

:func:`escape_mrkdwn` escapes the three characters Slack reads as markup in mrkdwn (``&``,
``<``, ``>``), so a project called ``<!channel>`` or a note holding ``<@U123>`` prints as text
and pings nobody. Rich markup in the terminal is another medium with its own escaper
(``rich.markup.escape``).

Times in chat are UTC, in one short form: ``Sep 1 09:00 UTC`` (:func:`when`; :func:`span` for
a period). A naive datetime means UTC (``storage.timeutil.as_utc``, the layer everyone can
import).
"""

from __future__ import annotations

from datetime import datetime

from storage.timeutil import as_utc

# as_utc is storage.timeutil's, offered here so that bot/chat takes the rule from one module
__all__ = ["as_utc", "escape_mrkdwn", "money", "signed", "span", "use_currency", "when"]

SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£"}
_currency = ["USD"]  # the base currency of the running bot (see use_currency)


def use_currency(code: str) -> None:
    """Print amounts in ``code`` (the settings' ``currency.base``) from now on."""
    _currency[0] = code.strip().upper()


def money(amount: float, *, decimals: int = 2, currency: str | None = None) -> str:
    """``$0.42``, ``$1,234.56``, ``-$12.00``, ``<$0.01``. Only a chart axis, whose ticks are
    whole amounts (or finer than cents), asks for other ``decimals``."""
    code = currency or _currency[0]
    size = abs(amount)
    if 0 < size < 0.5 * 10.0**-decimals:
        return _with_unit("<", f"{10.0**-decimals:.{decimals}f}", code)
    text = f"{size:,.{decimals}f}"
    sign = "-" if amount < 0 and text.strip("0.,") else ""
    return _with_unit(sign, text, code)


def _with_unit(prefix: str, number: str, code: str) -> str:
    symbol = SYMBOLS.get(code)
    return f"{prefix}{symbol}{number}" if symbol else f"{prefix}{number} {code}"


def signed(amount: float) -> str:
    """A change: ``+$80.00``, ``-$12.00``."""
    return money(amount) if amount < 0 else "+" + money(amount)


def escape_mrkdwn(text: str) -> str:
    """Escape the three characters Slack reads as markup (links, mentions, ``<!channel>``)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def when(moment: datetime, *, zone: bool = True) -> str:
    """``Sep 1 09:00 UTC``: a moment in UTC (naive means UTC); ``zone=False`` leaves off "UTC"."""
    utc = as_utc(moment)
    return f"{utc:%b} {utc.day} {utc:%H:%M}" + (" UTC" if zone else "")


def span(start: datetime, end: datetime) -> str:
    """``Apr 8 00:00 – Apr 15 00:00 UTC``: a period, UTC said once."""
    return f"{when(start, zone=False)} – {when(end)}"
