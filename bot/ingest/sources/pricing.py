"""Price usage the provider reports in tokens (or units) with the prices in the settings.

The usage APIs are hourly but carry no money; the cost APIs carry money but only by day and
late. So an hour's spend is first an estimate, tokens times the configured list price, and is
replaced once the day's bill is out. Prices are looked up by exact model name first, then by
fnmatch pattern (``gpt-4o-mini*``), the longest pattern first, so a specific pattern wins over
a broad one (``claude-*``). Prices are US dollars per million tokens, or per unit (an image, a
second of audio, a character) for the kinds that count units.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase

from bot.ingest.sources.config import ModelPrice

__all__ = ["PriceBook", "Quantities", "cost_of"]

PER_MILLION = 1_000_000


@dataclass(frozen=True, slots=True)
class Quantities:
    """What one line used in one bucket; input excludes cached reads and cache writes."""

    input: float = 0
    output: float = 0
    cached_input: float = 0
    cache_write: float = 0  # 5-minute cache writes (Anthropic)
    cache_write_1h: float = 0
    units: float = 0  # images, seconds, characters

    @property
    def tokens(self) -> float:
        return (self.input + self.output + self.cached_input + self.cache_write
                + self.cache_write_1h)


def cost_of(price: ModelPrice, used: Quantities) -> float:
    """Dollars for ``used`` at ``price``."""
    cached = price.input if price.cached_input is None else price.cached_input
    write_5m = price.input if price.cache_write is None else price.cache_write
    write_1h = write_5m if price.cache_write_1h is None else price.cache_write_1h
    per_token = (used.input * price.input + used.output * price.output
                 + used.cached_input * cached + used.cache_write * write_5m
                 + used.cache_write_1h * write_1h) / PER_MILLION
    return per_token + used.units * (price.per_unit or 0.0)


class PriceBook:
    """The configured prices: exact model names, then fnmatch patterns, longest first."""

    def __init__(self, prices: Mapping[str, ModelPrice]) -> None:
        self._exact = {name: price for name, price in prices.items()
                       if not any(c in name for c in "*?[")}
        self._patterns = sorted(((name, price) for name, price in prices.items()
                                 if name not in self._exact),
                                key=lambda item: (-len(item[0]), item[0]))

    def lookup(self, model: str) -> ModelPrice | None:
        """The price of ``model``, or None when no name or pattern matches it."""
        if model in self._exact:
            return self._exact[model]
        for pattern, price in self._patterns:
            if fnmatchcase(model, pattern):
                return price
        return None

    def cost(self, model: str, used: Quantities) -> float | None:
        """Dollars for ``used`` of ``model``, or None when the model has no price."""
        price = self.lookup(model)
        return None if price is None else cost_of(price, used)
