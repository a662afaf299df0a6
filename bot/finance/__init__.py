"""Budgets, forecasts, showback, digest and report."""
