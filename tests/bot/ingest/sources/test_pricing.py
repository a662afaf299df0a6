"""Usage is priced with the configured table: exact names first, then the most specific pattern."""

from __future__ import annotations

import pytest

from bot.ingest.sources.config import ModelPrice
from bot.ingest.sources.pricing import PriceBook, Quantities, cost_of

BOOK = PriceBook({
    "gpt-4o": ModelPrice(input=2.5, output=10, cached_input=1.25),
    "gpt-4o*": ModelPrice(input=9, output=9),
    "gpt-4o-mini*": ModelPrice(input=0.15, output=0.6),
    "claude-*": ModelPrice(input=3, output=15),
    "claude-opus-4*": ModelPrice(input=5, output=25),
})


@pytest.mark.parametrize(("model", "input_price"), [
    ("gpt-4o", 2.5),  # the exact name wins over a pattern it also matches
    ("gpt-4o-2024-08-06", 9),
    ("gpt-4o-mini-2024-07-18", 0.15),  # the longer pattern wins
    ("claude-opus-4-5-20251101", 5),
    ("claude-sonnet-4-5-20250929", 3),
])
def test_a_model_gets_the_most_specific_price(model, input_price):
    price = BOOK.lookup(model)

    assert price is not None and price.input == input_price


def test_a_model_no_name_or_pattern_matches_has_no_price():
    assert BOOK.lookup("o3-pro") is None
    assert BOOK.cost("o3-pro", Quantities(input=1_000_000)) is None


def test_prices_are_dollars_per_million_tokens_and_per_unit():
    price = ModelPrice(input=3, output=15, cached_input=0.3, cache_write=3.75,
                       cache_write_1h=6, per_unit=0.04)
    used = Quantities(input=2_000_000, output=100_000, cached_input=1_000_000,
                      cache_write=1_000_000, cache_write_1h=500_000, units=10)

    assert cost_of(price, used) == pytest.approx(6 + 1.5 + 0.3 + 3.75 + 3 + 0.4)


def test_unset_cache_prices_fall_back_to_the_input_price():
    price = ModelPrice(input=2, output=8)
    used = Quantities(cached_input=1_000_000, cache_write=1_000_000, cache_write_1h=1_000_000)

    assert cost_of(price, used) == pytest.approx(6)
