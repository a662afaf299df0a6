"""Cost sources: each yields FOCUS-shaped rows (see ``focus.py``)."""
