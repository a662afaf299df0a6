"""Costs: spend for a period against the previous one, for the CLI and for chat (``/cost``)."""
