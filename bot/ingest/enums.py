"""The states of an ingest: of each stored run (one file of a delivery) and of each file's report.

``ingest_run.status`` is a plain text column holding :class:`RunStatus` values as they read
here, so a member's value must never change; add a member instead.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["FileStatus", "RunStatus"]


class RunStatus(StrEnum):
    """What became of one file's ingest run (``ingest_run.status``)."""

    RUNNING = "running"  # being read now (or the process stopped while reading it)
    SUCCEEDED = "succeeded"  # read; its points are stored (until a later delivery replaces them)
    DUPLICATE = "duplicate"  # byte-identical to another file of the delivery: counted once
    FAILED = "failed"  # could not be read; nothing of it is stored
    HELD = "held"  # read, but its re-delivery was held back: the current points stay


class FileStatus(StrEnum):
    """What an ingest did with one file, as ``spendwatch ingest`` reports it."""

    INGESTED = "ingested"  # read and stored
    UNCHANGED = "unchanged"  # the same file as a current run, with the same settings: skipped
    DUPLICATE = "duplicate"  # byte-identical to another file of the delivery: counted once
    HELD = "held"  # read, but held back: much smaller than the delivery it would replace
    FAILED = "failed"  # could not be read; the message says why
