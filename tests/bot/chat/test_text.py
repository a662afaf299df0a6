"""Money, mrkdwn escaping and times: one formatter each for every chat surface and the CLI."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.chat import text
from bot.chat.text import escape_mrkdwn, money, signed, span, use_currency, when
from storage.timeutil import as_utc, stored_utc


@pytest.fixture
def euro() -> Iterator[None]:
    use_currency("eur")
    try:
        yield
    finally:
        use_currency("USD")


@pytest.mark.parametrize(("amount", "shown"), [
    (0, "$0.00"), (0.001, "<$0.01"), (0.42, "$0.42"), (9.999, "$10.00"), (412.5, "$412.50"),
    (999.99, "$999.99"), (999.996, "$1,000.00"), (1234.56, "$1,234.56"),
    (2_500_000, "$2,500,000.00"), (-12, "-$12.00"), (-0.001, "<$0.01"), (-0.004, "<$0.01"),
    (-0.005, "-$0.01"), (-1234.5, "-$1,234.50"),
])
def test_money_is_always_in_cents(amount: float, shown: str) -> None:
    assert money(amount) == shown


def test_money_never_reads_minus_zero_and_axes_may_ask_for_other_decimals() -> None:
    assert money(-0.0) == "$0.00"
    assert money(1234.56, decimals=0) == "$1,235"
    assert money(-0.4, decimals=0) == "<$1"
    assert money(0.0025, decimals=3) == "$0.003"


def test_money_in_the_base_currency(euro: None) -> None:
    assert money(1234.5) == "€1,234.50"
    assert money(-3) == "-€3.00"
    assert money(7, currency="CHF") == "7.00 CHF"
    assert money(0.001, currency="CHF") == "<0.01 CHF"


def test_the_currency_is_usd_unless_set() -> None:
    assert text._currency == ["USD"]


def test_signed() -> None:
    assert (signed(80), signed(0), signed(-12)) == ("+$80.00", "+$0.00", "-$12.00")


def test_escape_mrkdwn() -> None:
    assert escape_mrkdwn("a & <b> &amp;") == "a &amp; &lt;b&gt; &amp;amp;"
    assert escape_mrkdwn("<!channel> <@U123|bob> <#C1>") == (
        "&lt;!channel&gt; &lt;@U123|bob&gt; &lt;#C1&gt;")


@given(st.text(alphabet=st.sampled_from("<>&!@#|;amp ltgUC1x"), max_size=60) | st.text())
def test_no_mention_or_link_survives_escaping(raw: str) -> None:
    escaped = escape_mrkdwn(raw)
    assert "<" not in escaped and ">" not in escaped
    for token in ("<!", "<@", "<#"):
        assert token not in escaped
    # every & starts an entity we wrote, and unescaping gives the text back
    assert re.fullmatch(r"([^&]|&(amp|lt|gt);)*", escaped, flags=re.DOTALL)
    assert escaped.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&") == raw


def test_when_is_utc_in_one_short_form() -> None:
    moment = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)
    assert when(moment) == "Sep 1 09:00 UTC"
    assert when(moment.replace(tzinfo=None)) == "Sep 1 09:00 UTC"  # naive means UTC
    assert when(moment.astimezone(timezone(timedelta(hours=2)))) == "Sep 1 09:00 UTC"
    assert when(moment, zone=False) == "Sep 1 09:00"
    assert span(moment, moment + timedelta(days=7)) == "Sep 1 09:00 – Sep 8 09:00 UTC"


def test_naive_means_utc_and_stored_text_reads_back() -> None:
    naive = datetime(2025, 4, 1, 12)
    assert as_utc(naive) == datetime(2025, 4, 1, 12, tzinfo=UTC)
    paris = datetime(2025, 4, 1, 14, tzinfo=timezone(timedelta(hours=2)))
    assert as_utc(paris).tzinfo is UTC and as_utc(paris) == as_utc(naive)
    assert stored_utc("2025-04-01 12:00:00.000000") == as_utc(naive)
    assert stored_utc(naive) == as_utc(naive)
    assert stored_utc(None) is None
