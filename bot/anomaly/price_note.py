"""The note on an alert whose spend rose because the price per unit did, not the usage.

The detector (``bot.detection.unit_cost``) stores, in the anomaly's evidence, the line whose
price per consumed unit rose, the usual and the new price and how the usage moved. This turns
them into what a responder needs to read first: it was the price, not the traffic, and the
usual suspects for that. Prices per token are tiny, so the unit is scaled (1k, 1M) until the
price reads in cents.
"""

from __future__ import annotations

from sqlmodel import Session

from bot.anomaly.views import AlertNote
from storage.models import Anomaly

__all__ = ["per_unit", "unit_cost_note"]

# usage within this share of what is usual for the hour reads as "steady"
STEADY = 0.15
SUSPECTS = "a price change, a prompt cache turned off or a pricier tier"


def per_unit(price: float, unit: str) -> tuple[float, str]:
    """The price per 1, 1k or 1M units, whichever first reads at least a cent, and its unit
    as a reader says it ("1k tokens", "hour", "GB")."""
    name = unit.strip() or "unit"
    single = name[:-1].lower() if name.lower().endswith("s") and len(name) > 3 else name
    single = single.lower() if single.isalpha() and not single.isupper() else single
    scales = ((1, ""), (1_000, "1k "), (1_000_000, "1M "))
    scale, prefix = next((s for s in scales if price * s[0] >= 0.01), scales[-1])
    return price * scale, f"{prefix}{_plural(single) if prefix else single}"


def _plural(name: str) -> str:
    return f"{name}s" if name.isalpha() and not name.isupper() and not name.endswith("s") else name


def _money(value: float) -> str:
    return f"${value:,.2f}" if value >= 0.1 else f"${value:.3f}"


def unit_cost_note(session: Session, anomaly: Anomaly) -> AlertNote | None:
    """What the price per unit did, when the detector saw it rise; None otherwise."""
    evidence = anomaly.evidence or {}
    before, after = evidence.get("unit_cost_before"), evidence.get("unit_cost_after")
    if not isinstance(before, int | float) or not isinstance(after, int | float):
        return None
    unit = str(evidence.get("unit_cost_unit") or "")
    scaled_before, label = per_unit(float(before), unit)
    scaled_after = float(after) * scaled_before / float(before) if before else float(after)
    rise = (f"price per {label} rose from {_money(scaled_before)} to "
            f"{_money(scaled_after)}")
    change = evidence.get("usage_change")
    if not isinstance(change, int | float):
        text, heading = f"{rise}; the usage change is not known", "The price per unit rose"
    elif abs(change) <= STEADY:
        text = (f"{rise} on steady usage ({change * 100:+.0f} %): {SUSPECTS}, not more "
                "traffic")
        heading = "The price per unit rose, not the traffic"
    else:
        text = (f"{rise}, and usage moved too ({change * 100:+.0f} %): part of the rise is "
                f"the price ({SUSPECTS})")
        heading = "The price per unit rose"
    service = str(evidence.get("unit_cost_service") or "")
    sku = str(evidence.get("unit_cost_sku") or "")
    where = f"{service} ({sku})" if service and sku else service
    line = f"{where}: {text}." if where else f"{text[0].upper()}{text[1:]}."
    return AlertNote(heading=heading, lines=(line,))
