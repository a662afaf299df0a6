"""Runbooks as Markdown: one file per workload, to keep in a repository or paste in a wiki.

A workload is a (project, environment, service); its file lists what the team learned from
each incident on it, newest first: root cause, fix, prevention, who filed it and when, the
entry's number and version (``v3 · edited by X on date``, for ``spendwatch runbook edit`` and
``history``), its earlier versions, and every answer of the playbook walk with who gave it.
Text people typed is written as they typed it, except ``<`` and ``>`` (a wiki that renders
HTML must not run a tag someone typed) and line breaks inside a field (a field stays one
paragraph).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from itertools import groupby
from pathlib import Path

from sqlmodel import Session

from bot.playbook.answers import from_records
from storage import queries
from storage.models import RunbookEntry, RunbookRevision
from storage.timeutil import as_utc

__all__ = ["export_runbooks", "file_name", "workload_markdown"]


def _text(value: str) -> str:
    flat = " ".join(value.split())
    return flat.replace("<", "&lt;").replace(">", "&gt;")


def _when(moment: datetime) -> str:
    return f"{as_utc(moment):%Y-%m-%d %H:%M} UTC"


def file_name(project: str, environment: str, service: str) -> str:
    """``support-agent--prod--amazoncloudwatch.md``: lower case, safe on every file system."""
    parts = [re.sub(r"[^a-z0-9._-]+", "-", part.lower()).strip("-.") or "none"
             for part in (project, environment, service)]
    return "--".join(parts)[:200] + ".md"


def workload_markdown(entries: Sequence[RunbookEntry], *, exported: datetime,
                      revisions: Mapping[int, Sequence[RunbookRevision]] | None = None) -> str:
    """The runbook of one workload (its entries, any order) as a Markdown document;
    ``revisions`` are each entry's earlier versions, newest first."""
    first = entries[0]
    newest = sorted(entries, key=lambda e: (as_utc(e.created_at), e.id or 0), reverse=True)
    lines = [f"# Runbook: {_text(first.project)} · {_text(first.environment)} · "
             f"{_text(first.service_name)}", "",
             f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}, newest first. "
             f"Exported {_when(exported)} by spendwatch.", ""]
    for entry in newest:
        anomaly = f" · anomaly #{entry.anomaly_id}" if entry.anomaly_id else ""
        lines += [f"## {_when(entry.created_at)}{anomaly} · by {_text(entry.author)}", "",
                  f"*Entry {entry.id} · {_version(entry)}*", "",
                  f"**Root cause.** {_text(entry.root_cause)}", "",
                  f"**Fix.** {_text(entry.fix)}", ""]
        if entry.prevention.strip():
            lines += [f"**Prevention.** {_text(entry.prevention)}", ""]
        earlier = (revisions or {}).get(entry.id or 0, [])
        if earlier:
            lines += ["### Earlier versions", ""]
            for old in earlier:
                lines.append(f"- **v{old.version}** (by {_text(old.author)}, "
                             f"{_when(old.written_at)}): root cause: {_text(old.root_cause)}; "
                             f"fix: {_text(old.fix)}"
                             + (f"; prevention: {_text(old.prevention)}"
                                if old.prevention.strip() else ""))
            lines.append("")
        try:
            answered = from_records(entry.answers)
        except (TypeError, ValueError):
            answered = []
        if answered:
            lines += ["### The playbook's answers", ""]
            for step in answered:
                texts = "; ".join(f"{_text(f.label)}: {_text(f.text)}" for f in step.fields
                                  if f.text.strip())
                lines.append(f"- **{_text(step.title)}** (by {_text(step.by)}, "
                             f"{_when(step.at)}){': ' + texts if texts else ''}")
            lines.append("")
    return "\n".join(lines)


def _version(entry: RunbookEntry) -> str:
    version = entry.version or 1
    if version > 1 and entry.updated_by and entry.updated_at is not None:
        return (f"v{version} · edited by {_text(entry.updated_by)} on "
                f"{as_utc(entry.updated_at):%Y-%m-%d}")
    return f"v{version}"


def export_runbooks(*, db_session: Session, out: Path, exported: datetime,
                    project: str | None = None) -> list[Path]:
    """Write one file per workload into ``out`` (created if missing); the files written."""
    entries = queries.runbooks.all_entries(db_session=db_session, project=project)
    revisions = queries.runbooks.revisions_of(
        db_session=db_session, entry_ids=[e.id for e in entries if e.id is not None])
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    taken: set[str] = set()
    for _, group in groupby(entries, key=lambda e: (e.project, e.environment, e.service_name)):
        workload = list(group)
        name = file_name(workload[0].project, workload[0].environment,
                         workload[0].service_name)
        stem, number = name.removesuffix(".md"), 2
        while name in taken:  # two workloads whose names differ only in unsafe characters
            name, number = f"{stem}-{number}.md", number + 1
        taken.add(name)
        path = out / name
        path.write_text(workload_markdown(workload, exported=exported, revisions=revisions)
                        + "\n", encoding="utf-8")
        written.append(path)
    return written
