"""spendwatch: hourly anomaly management of AI and cloud spend, in chat."""

__version__ = "0.1.0"
