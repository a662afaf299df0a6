"""Ingest: cost files and sources into hourly points, allocated to project, environment, owner."""
