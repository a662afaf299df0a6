"""Ingest FOCUS exports into hourly cost points.

One call of :func:`ingest_path` is one *delivery*, written in one transaction. For every
(billing account, billing period) that a delivery contains, the points of earlier deliveries
are replaced, because cloud exports are snapshots re-written several times a day: ingesting the
same or a restated file twice never double-counts. A re-delivery much smaller than what it
would replace is held back instead (``bot.ingest.guard``). Files of the same delivery add up
(multi-part exports); a file byte-identical to another of the delivery is counted once. Point a
source at the current export (overwrite-style delivery, or the newest delivery folder), not at
a folder that keeps every historical version side by side.

An export on an object store (``ingest_source`` with an ``s3://``, ``gs://`` or ``az://``
path) is read where it lies, in the provider's layout (``sources.objects``): each billing
period that a manifest describes is a delivery of its own, so a restated period replaces that
period alone. An object is unchanged when its URL, change token (ETag, version, generation),
size and modification time are those of a current run; a local file when its path, size and
modification time are.

Each file is streamed chunk by chunk inside a savepoint: a file that fails leaves nothing of
itself and the others go on; a crash leaves the previous snapshot in place. Rows that cannot be
used are written to a quarantine CSV with their row number and the reason; the summary counts
each reason, and the rows kept that are worth a word (identical rows, negative usage).
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from bot.ingest.allocation import Allocator
from bot.ingest.checksums import FileChecksums, content_hasher, name_of, stored, token_checksum
from bot.ingest.enums import FileStatus, RunStatus
from bot.ingest.guard import Settlement, settle
from bot.ingest.hourly import aggregate, convert_currency, spread_hours
from bot.ingest.report import FileReport, HeldScope, IngestReport, ScopeTotals
from bot.ingest.sources.base import redact
from bot.ingest.sources.config import FocusSourceSettings
from bot.ingest.sources.focus import FocusFileError, discover_files, read_chunks
from bot.ingest.sources.objects import ExportFile, RemoteObject, discover_deliveries
from bot.ingest.writer import PointWriter, Scope
from bot.settings import Settings
from storage import queries
from storage.models import IngestRun

__all__ = ["FileReport", "HeldScope", "IngestReport", "aggregate", "convert_currency",
           "ingest_path", "ingest_source", "spread_hours"]

logger = logging.getLogger(__name__)

ProgressHook = Callable[[str, int, int], None]  # (file name, bytes done, bytes total)


def ingest_path(
    *,
    engine: Engine,
    settings: Settings,
    path: Path,
    source_label: str | None = None,
    default_currency: str | None = None,
    default_account: str | None = None,
    force: bool = False,
    progress: ProgressHook | None = None,
) -> IngestReport:
    """Ingest every export file at ``path`` as one delivery.

    ``default_currency`` and ``default_account`` stand in for the BillingCurrency and
    BillingAccountId of files that have none. ``force`` re-reads files seen before and accepts
    a re-delivery much smaller than the one it replaces.
    """
    files = discover_files(Path(path))
    return _ingest_delivery(engine=engine, settings=settings, files=files,
                            source=source_label or f"focus:{path}",
                            defaults=(default_currency, default_account), force=force,
                            progress=progress)


def ingest_source(
    *,
    engine: Engine,
    settings: Settings,
    source: FocusSourceSettings,
    force: bool = False,
    progress: ProgressHook | None = None,
) -> IngestReport:
    """Ingest a configured FOCUS source: a local file or folder, or an object-store prefix.

    A local path is one delivery (:func:`ingest_path`). On an object store, each delivery of
    the source's layout (a billing period of an AWS or Azure export, or every file of
    ``layout: files``) is ingested on its own; a period that cannot be read (its manifest
    lists a file that is missing, or one of its files fails) is reported as failed, nothing of
    it applied, and the others go on. Raises
    :class:`FocusFileError` when the path cannot be listed at all.
    """
    if source.local_path is not None:
        return ingest_path(engine=engine, settings=settings, path=source.local_path,
                           source_label=source.label, default_currency=source.currency,
                           force=force, progress=progress)
    reports: list[IngestReport] = []
    for found in discover_deliveries(source):
        if found.error is not None:
            failed = FileReport(path=found.manifest or found.name, status=FileStatus.FAILED,
                                message=found.error)
            reports.append(IngestReport(delivery_id="", files=[failed]))
            continue
        reports.append(_ingest_delivery(
            engine=engine, settings=settings, files=found.files, source=source.label,
            defaults=(source.currency, None), force=force, progress=progress,
            whole=found.manifest is not None))
    return IngestReport(
        delivery_id=" ".join(r.delivery_id for r in reports if r.delivery_id),
        files=[f for r in reports for f in r.files],
        held=[h for r in reports for h in r.held],
    )


def _ingest_delivery(
    *,
    engine: Engine,
    settings: Settings,
    files: Sequence[ExportFile],
    source: str,
    defaults: tuple[str | None, str | None],
    force: bool,
    progress: ProgressHook | None,
    whole: bool = False,
) -> IngestReport:
    """One delivery in one transaction. ``whole``: the files a manifest lists are one
    snapshot, so when one of them fails none of them is applied."""
    delivery = _Delivery(settings=settings, source=source, defaults=defaults, force=force,
                         progress=progress)
    try:
        with engine.begin() as connection:
            reports = [delivery.ingest(connection, file) for file in files]
            failed = [r for r in reports if r.status == FileStatus.FAILED]
            if whole and failed:
                raise _Abandoned(failed[0].path)
            settlement = settle(
                connection=connection, delivery_id=delivery.id, new_runs=delivery.scopes,
                kept_runs=delivery.kept, file_of=delivery.file_of,
                min_share=settings.redelivery_min_share, force=force,
                currency=settings.currency.base,
            )
            _record_settlement(connection, reports, settlement)
    except _Abandoned as abandoned:
        for report in reports:
            report.run_id = None  # rolled back with the rest
            if report.status not in (FileStatus.FAILED, FileStatus.UNCHANGED):
                report.status, report.points_written = FileStatus.FAILED, 0
                report.message = (f"not applied: {abandoned} of the same delivery failed, so "
                                  f"none of it is; what is stored for its period stays")
        return IngestReport(delivery_id=delivery.id, files=reports)
    return IngestReport(delivery_id=delivery.id, files=reports, held=settlement.held)


class _Abandoned(Exception):
    """A whole delivery is rolled back: one of its files failed."""


def _identity(file: ExportFile) -> tuple[int, dict[str, object]]:
    """(size, what identifies this version of the file); raises OSError for a local file
    that cannot be read."""
    if isinstance(file, RemoteObject):
        return file.size, file.identity()
    stat = file.stat()
    return stat.st_size, {"path": str(file.resolve()), "size": stat.st_size,
                          "mtime_ns": stat.st_mtime_ns}


def _fingerprint(identity: dict[str, object], settings: Settings,
                 defaults: tuple[str | None, str | None]) -> str:
    """The file as last written, plus every setting that changes what its rows become.

    A file is "unchanged" when its path, size and modification time are those of a run that is
    still current, with the same settings (the test rsync and make use). Content changes
    rewrite the file and so its modification time. An object in a store is identified by its
    URL, size, modification time and change token (ETag, version id or generation). After a
    user follows a rejection message (a currency rate, --currency, --billing-account, an
    allocation rule), the same file is read again. The content checksum itself is computed
    while the file is read, at no extra pass.
    """
    currency, account = defaults
    relevant = {
        **identity,
        "allocation": settings.allocation.model_dump(mode="json"),
        "currency": settings.currency.model_dump(mode="json"),
        "default_currency": (currency or "").strip().upper(),
    }
    if account:
        relevant["default_account"] = account.strip()
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()


@contextmanager
def _session(connection: Connection) -> Iterator[Session]:
    """A session on the delivery's connection: its work joins the delivery's transaction."""
    with Session(bind=connection, expire_on_commit=False) as session:
        yield session
        session.commit()


class _Delivery:
    """The files of one delivery, read one by one on the delivery's connection."""

    def __init__(self, *, settings: Settings, source: str,
                 defaults: tuple[str | None, str | None], force: bool,
                 progress: ProgressHook | None) -> None:
        self.id = str(uuid.uuid4())
        self.settings = settings
        self.allocator = Allocator(settings.allocation)
        self.source = source
        self.defaults = defaults
        self.force = force
        self.progress = progress
        self.scopes: dict[int, dict[Scope, ScopeTotals]] = {}  # new runs: what each wrote
        self.kept: set[int] = set()  # earlier runs of unchanged files, part of this delivery
        self.file_of: dict[int, str] = {}
        self._seen: dict[int, list[tuple[str, str]]] = {}  # size -> (checksum, path) read

    def ingest(self, connection: Connection, file: ExportFile) -> FileReport:
        try:
            size, identity = _identity(file)
        except OSError as exc:
            return FileReport(path=str(file), status=FileStatus.FAILED,
                              message=f"{file}: cannot be read ({exc.strerror or exc})")
        fingerprint = _fingerprint(identity, self.settings, self.defaults)
        with _session(connection) as session:
            previous = queries.runs.current_run_for_fingerprint(db_session=session,
                                                                fingerprint=fingerprint)
        if previous is not None and not self.force:
            twin = self._twin(previous.file_size, FileChecksums(file, previous.checksum))
            if twin is None:
                return self._unchanged(connection, file, previous)
        else:
            twin = self._twin(size, FileChecksums(file))
        if twin is not None:
            return self._duplicate(connection, file, size, fingerprint, *twin)
        return self._read(connection, file, size, fingerprint)

    def _twin(self, size: int, checksums: FileChecksums) -> tuple[str, str] | None:
        """(path, checksum) of the file of this delivery with the same content, if any.

        Only a file of the same size as one read before is hashed beforehand, in the form of
        the checksum it is compared with (``bot.ingest.checksums``).
        """
        for seen, path in self._seen.get(size, []):
            if checksums.like(seen) == seen:
                return path, seen
        return None

    def _remember(self, size: int, checksum: str, file: ExportFile) -> None:
        self._seen.setdefault(size, []).append((checksum, str(file)))

    def _unchanged(self, connection: Connection, file: ExportFile, previous: IngestRun
                   ) -> FileReport:
        # still current: it joins this delivery, so a changed sibling file of the same
        # billing period (a multi-part export) does not replace it
        assert previous.id is not None
        with _session(connection) as session:
            queries.runs.adopt_run(db_session=session, run_id=previous.id, delivery_id=self.id)
        self.kept.add(previous.id)
        self._remember(previous.file_size, previous.checksum, file)
        return FileReport(
            path=str(file), status=FileStatus.UNCHANGED, run_id=previous.id,
            rows_kept=previous.rows_kept, points_written=previous.points_written,
            billing_periods=list(previous.billing_periods or []),
            message=f"unchanged since ingest run {previous.id}; nothing to do",
        )

    def _duplicate(self, connection: Connection, file: ExportFile, size: int,
                   fingerprint: str, twin: str, checksum: str) -> FileReport:
        message = (f"byte-identical to {twin} (same {name_of(checksum)}) in this delivery: "
                   f"counted once; remove one of the two if the export wrote it twice")
        with _session(connection) as session:
            run = queries.runs.create_ingest_run(
                db_session=session, delivery_id=self.id, source=self.source,
                file_path=str(file), checksum=checksum, fingerprint=fingerprint,
                file_size=size)
            assert run.id is not None  # flushed: the database has given it its id
            queries.runs.finish_ingest_run(db_session=session, run_id=run.id,
                                           status=RunStatus.DUPLICATE,
                                           message=message)
            run_id = run.id
        return FileReport(path=str(file), status=FileStatus.DUPLICATE, run_id=run_id,
                          message=message)

    def _read(self, connection: Connection, file: ExportFile, size: int,
              fingerprint: str) -> FileReport:
        with _session(connection) as session:
            run_id = queries.runs.create_ingest_run(
                db_session=session, delivery_id=self.id, source=self.source,
                file_path=str(file), checksum="", fingerprint=fingerprint,
                file_size=size).id
        assert run_id is not None
        report = FileReport(path=str(file), status=FileStatus.INGESTED, run_id=run_id)
        writer = PointWriter(settings=self.settings, allocator=self.allocator, report=report,
                             file=Path(file.name) if isinstance(file, RemoteObject) else file,
                             run_id=run_id, connection=connection)
        hasher = content_hasher()
        token = token_checksum(file)
        savepoint = connection.begin_nested()
        try:
            currency, account = self.defaults
            for chunk in read_chunks(file, default_currency=currency, default_account=account,
                                     delivery=True, hasher=None if token else hasher,
                                     on_bytes=self._on_bytes(file, size)):
                writer.add(chunk)
            writer.flush()
            savepoint.commit()
        except FocusFileError as exc:
            savepoint.rollback()
            return self._fail(connection, report, str(exc))
        except Exception as exc:  # one file's failure must not stop the others of the delivery
            logger.exception("ingesting %s failed", file)
            savepoint.rollback()
            return self._fail(connection, report, redact(
                f"{file}: {type(exc).__name__}: {exc}".splitlines()[0]))
        finally:
            writer.close()
        checksum = token or stored(hasher)
        with _session(connection) as session:
            queries.runs.finish_ingest_run(db_session=session, run_id=run_id,
                                           checksum=checksum, **writer.run_fields())
        self.scopes[run_id] = writer.scopes
        self.file_of[run_id] = str(file)
        self._remember(size, checksum, file)
        return report

    def _on_bytes(self, file: ExportFile, size: int) -> Callable[[int], None]:
        done = 0
        # the parts of every billing period of a provider's export have the same file name
        name = str(file) if isinstance(file, RemoteObject) else file.name

        def on_bytes(n: int) -> None:
            nonlocal done
            done += n
            if self.progress:
                self.progress(name, min(done, size), size)

        return on_bytes

    @staticmethod
    def _fail(connection: Connection, report: FileReport, message: str) -> FileReport:
        report.status = FileStatus.FAILED
        report.message = message
        assert report.run_id is not None
        with _session(connection) as session:
            queries.runs.finish_ingest_run(db_session=session, run_id=report.run_id,
                                           status=RunStatus.FAILED,
                                           message=message)
        return report


def _record_settlement(connection: Connection, reports: list[FileReport],
                       settlement: Settlement) -> None:
    """What the end of the delivery did to each file: replaced, or held back."""
    with _session(connection) as session:
        for report in reports:
            if report.run_id is None or report.status != FileStatus.INGESTED:
                continue
            report.points_replaced = settlement.replaced.get(report.run_id, 0)
            if report.run_id not in settlement.held_runs:
                continue
            report.status = FileStatus.HELD
            report.points_written -= settlement.withdrawn.get(report.run_id, 0)
            report.message = "; ".join(h.message for h in settlement.held
                                       if report.path in h.files)
            queries.runs.finish_ingest_run(db_session=session, run_id=report.run_id,
                                           status=RunStatus.HELD,
                                           points_written=report.points_written,
                                           message=report.message)
