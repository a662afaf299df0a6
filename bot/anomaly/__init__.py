"""Anomalies: an incident's lifecycle, the detection pass, what people do, what alerts say."""
