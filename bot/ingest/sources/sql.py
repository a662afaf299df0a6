"""Any SQL warehouse as a window source: a query returning FOCUS columns, run by SQLAlchemy.

The query does the aggregation where the data is (``GROUP BY`` hour and line of spend) and
takes the window as ``:start`` and ``:end``, bound as aware UTC datetimes. The session's time
zone is set to UTC where the dialect has one (DuckDB, PostgreSQL, Snowflake), so comparing a
``timestamp`` column without a zone to the window means UTC there too, and ``timestamptz``
values come back in UTC.

Nothing is fetched whole. DuckDB hands over Arrow record batches straight from its streaming
result (no Python objects per row); other databases stream through SQLAlchemy's server-side
cursors (``stream_results``) a partition of ``batch_rows`` rows at a time. Either way each
batch is coerced to :data:`FOCUS_FIELDS` (columns matched case-insensitively, timestamps to
UTC) and yielded as one table.

The password comes from ``password_env`` and is put into the URL here; error messages show
the URL with the password hidden, and are passed through :func:`redact` as well. No pool:
a read's connection is closed when the read ends, so a source polled hourly holds nothing open
in between. Errors while
connecting (or a connection lost) are retryable; SQL errors (syntax, a missing table) are not
and carry the database's own message.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import NullPool
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential
from tenacity.nap import sleep as nap_sleep

from bot.ingest.sources.base import FOCUS_FIELDS, ReadStats, SourceError, Window, redact
from bot.ingest.sources.config import SqlSourceSettings

__all__ = ["REQUIRED_COLUMNS", "SqlSource"]

REQUIRED_COLUMNS = ("ChargePeriodStart", "ChargePeriodEnd", "ChargeCategory", "EffectiveCost",
                    "BillingCurrency", "BillingAccountId")
# what a session is set up with, per dialect: its clock in UTC; on DuckDB also no insertion
# order kept for results without an ORDER BY, so it streams them without holding them back
_UTC_SESSION = {
    "duckdb": "SET TimeZone = 'UTC'; SET preserve_insertion_order = false",
    "postgresql": "SET TIME ZONE 'UTC'",
    "snowflake": "ALTER SESSION SET TIMEZONE = 'UTC'",
}
_AUTH_WORDS = ("password authentication", "authentication failed", "access denied",
               "invalid password", "incorrect username or password")
_UTC = pa.timestamp("us", tz="UTC")
_MONTH_AND_MORE = pa.scalar(timedelta(days=31), pa.duration("us"))
_DB_ERRORS = (SQLAlchemyError, duckdb.Error)


@dataclass(slots=True)
class _Stream:
    """An executed query: its column names and its rows as Arrow record batches."""

    columns: list[str]
    batches: Iterator[pa.RecordBatch | pa.Table]
    connection: Connection
    reader: pa.RecordBatchReader | None = None  # DuckDB's, closed before its connection

    def close(self) -> None:
        try:
            if self.reader is not None:
                self.reader.close()
        finally:
            self.connection.close()


class SqlSource:
    """FOCUS rows from ``settings.query`` over ``settings.url``, window bound as parameters."""

    def __init__(self, settings: SqlSourceSettings,
                 environ: Mapping[str, str] = os.environ, *,
                 sleep: Callable[[float], None] | None = None) -> None:
        self.settings = settings
        self._environ = environ
        self._sleep = sleep or nap_sleep
        self._engine: Engine | None = None
        self._password: str | None = None

    @property
    def label(self) -> str:
        return self.settings.label

    @property
    def shown_url(self) -> str:
        """The URL as it may be shown: without its password."""
        if self._engine is not None:
            return self._engine.url.render_as_string(hide_password=True)
        try:
            return make_url(self.settings.url).render_as_string(hide_password=True)
        except ArgumentError:
            return redact(self.settings.url)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def read(self, window: Window, stats: ReadStats) -> Iterator[pa.Table]:
        params = {"start": window.start, "end": window.end}
        stream = self._open(params, stats)
        try:
            names = self._resolve(stream.columns)
            for batch in stream.batches:
                if batch.num_rows:
                    yield self._focus(batch, names)
        except (*_DB_ERRORS, pa.ArrowException, OSError) as exc:
            # DuckDB's errors while its Arrow stream is read arrive as OSError
            raise self._error(exc, while_reading=True) from exc
        finally:
            stream.close()

    def _engine_for_read(self) -> Engine:
        if self._engine is None:
            try:
                self._engine = create_engine(self._url(), poolclass=NullPool)
            except NoSuchModuleError as exc:
                raise SourceError(
                    f"{self.label}: no SQLAlchemy dialect or driver for {self.shown_url} "
                    f"({exc}); install the package that provides it (see docs/sources/sql.md)"
                ) from exc
            except (ArgumentError, ImportError) as exc:
                raise SourceError(self._secret_free(
                    f"{self.label}: cannot use the URL {self.shown_url}: {exc}")) from exc
        return self._engine

    def _url(self) -> URL:
        try:
            url = make_url(self.settings.url)
        except ArgumentError as exc:
            raise SourceError(
                f"{self.label}: `url` is not a SQLAlchemy URL ({redact(str(exc))}); write it as "
                f"dialect+driver://user@host:port/database"
            ) from exc
        name = self.settings.password_env
        if name:
            password = self._environ.get(name)
            if not password:
                raise SourceError(f"{self.label}: the environment variable {name} (the "
                                  f"password of {self.shown_url}) is not set; set it")
            self._password = password
            url = url.set(password=password)
        return url

    def _open(self, params: dict[str, Any], stats: ReadStats) -> _Stream:
        """Connect and execute, trying again while the failure is the connection's."""
        s = self.settings
        retrying = Retrying(
            stop=stop_after_attempt(s.retry_attempts),
            wait=wait_exponential(multiplier=s.retry_wait_seconds, max=s.retry_wait_max_seconds),
            retry=retry_if_exception(lambda exc: isinstance(exc, SourceError) and exc.retryable),
            reraise=True,
            sleep=self._sleep,
        )
        for attempt in retrying:
            with attempt:
                stats.requests += 1
                return self._execute(self._engine_for_read(), params)
        raise AssertionError("unreachable: tenacity re-raises the last error")

    def _execute(self, engine: Engine, params: dict[str, Any]) -> _Stream:
        try:
            connection = engine.connect()
        except _DB_ERRORS as exc:
            raise self._error(exc, connecting=True) from exc
        try:
            utc = _UTC_SESSION.get(engine.dialect.name)
            if utc:
                connection.exec_driver_sql(utc)
            if engine.dialect.name == "duckdb":
                return self._duckdb_stream(connection, params)
            return self._cursor_stream(connection, params)
        except _DB_ERRORS as exc:
            connection.close()
            raise self._error(exc) from exc
        except BaseException:
            connection.close()
            raise

    def _duckdb_stream(self, connection: Connection, params: dict[str, Any]) -> _Stream:
        compiled = text(self.settings.query).compile(dialect=connection.dialect)
        wanted = compiled.positiontup or []
        unknown = sorted({name for name in wanted if name not in params})
        if unknown:
            raise self._unknown_parameters(unknown)
        duck = connection.connection.driver_connection
        if duck is None:
            raise SourceError(f"{self.label}: the DuckDB connection to {self.shown_url} is "
                              f"closed; will try again", retryable=True)
        relation = duck.sql(compiled.string, params=[params[name] for name in wanted])
        if relation is None:
            raise SourceError(f"{self.label}: the query returns no rows at all (is it a "
                              f"SELECT?); it must return FOCUS columns, see docs/sources/sql.md")
        to_reader = getattr(relation, "to_arrow_reader", None) or relation.fetch_arrow_reader
        reader = to_reader(self.settings.batch_rows)
        return _Stream(list(relation.columns), iter(reader), connection, reader)

    def _cursor_stream(self, connection: Connection, params: dict[str, Any]) -> _Stream:
        statement = text(self.settings.query)
        unknown = sorted(set(statement.compile().params) - set(params))
        if unknown:
            raise self._unknown_parameters(unknown)
        result = connection.execution_options(
            stream_results=True, yield_per=self.settings.batch_rows).execute(statement, params)
        columns = list(result.keys())

        def batches() -> Iterator[pa.Table]:
            for rows in result.partitions():
                values = list(zip(*rows, strict=True))
                yield pa.table({name: _python_array(name, list(column))
                                for name, column in zip(columns, values, strict=True)})

        return _Stream(columns, batches(), connection)

    def _resolve(self, columns: Sequence[str]) -> dict[str, str]:
        """FOCUS name -> the result's column name; refuses a result without what is needed."""
        by_key = {str(c).strip().lower(): str(c) for c in columns}
        names = {f: by_key[f.lower()] for f in FOCUS_FIELDS if f.lower() in by_key}
        declared = {"BillingCurrency": self.settings.currency,
                    "BillingAccountId": self.settings.account}
        needed = [c for c in REQUIRED_COLUMNS if not declared.get(c)]
        missing = [c for c in needed if c not in names]
        if missing:
            raise SourceError(
                f"{self.label}: the query returns no {', '.join(missing)} column"
                f"{'s' if len(missing) > 1 else ''} (it returns {', '.join(map(str, columns))}); "
                f"it must return FOCUS columns aggregated by hour: at least "
                f"{', '.join(REQUIRED_COLUMNS[:-2])}, BillingCurrency (or set `currency` on the "
                f"source) and BillingAccountId (or set `account`), named as FOCUS names them, "
                f"e.g. `date_trunc('hour', usage_start) AS ChargePeriodStart`"
            )
        return names

    def _focus(self, batch: pa.RecordBatch | pa.Table, names: Mapping[str, str]) -> pa.Table:
        table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
        n = table.num_rows
        columns: dict[str, pa.Array | pa.ChunkedArray] = {}
        for field, kind in FOCUS_FIELDS.items():
            if field in names:
                columns[field] = self._coerce(field, table.column(names[field]), kind)
            else:
                columns[field] = pa.nulls(n, kind)
        for field, value in (("BillingCurrency", self.settings.currency),
                             ("BillingAccountId", self.settings.account)):
            if value:
                columns[field] = pc.fill_null(columns[field], value)
        if "BillingPeriodStart" not in names:
            columns["BillingPeriodStart"] = pc.floor_temporal(columns["ChargePeriodStart"],
                                                              unit="month")
        if "BillingPeriodEnd" not in names:
            columns["BillingPeriodEnd"] = pc.floor_temporal(
                pc.add(pc.floor_temporal(columns["ChargePeriodStart"], unit="month"),
                       _MONTH_AND_MORE), unit="month")
        return pa.table(columns)

    def _coerce(self, field: str, values: pa.ChunkedArray, kind: pa.DataType
                ) -> pa.ChunkedArray:
        try:
            if values.type == kind:
                return values
            if pa.types.is_timestamp(kind):
                return _timestamps(values)
            if field == "Tags" and not pa.types.is_string(values.type):
                return pa.chunked_array([_json_texts(values)], pa.string())
            return values.cast(kind)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, TypeError) as exc:
            raise SourceError(
                f"{self.label}: the query's {field} column ({values.type}) cannot be read as "
                f"{kind}: {exc}; return it as {_kind_hint(kind)}"
            ) from exc

    def _error(self, exc: BaseException, *, connecting: bool = False,
               while_reading: bool = False) -> SourceError:
        message = _database_message(exc)
        lost = isinstance(exc, DBAPIError) and exc.connection_invalidated
        duck_connection = type(exc).__name__ == "ConnectionException"
        if connecting or lost or duck_connection:
            if any(word in message.lower() for word in _AUTH_WORDS):
                where = self.settings.password_env or "the variable `password_env` names"
                return SourceError(self._secret_free(
                    f"{self.label}: {self.shown_url} refused the login: {message}; check the "
                    f"user in `url` and the password in {where}"))
            return SourceError(self._secret_free(
                f"{self.label}: could not connect to {self.shown_url}: {message}; "
                f"will try again"), retryable=True)
        if type(exc).__name__ == "OperationalError" and not while_reading:
            return SourceError(self._secret_free(
                f"{self.label}: {self.shown_url} could not run the query now: {message}; "
                f"will try again"), retryable=True)
        return SourceError(self._secret_free(
            f"{self.label}: the query failed on {self.shown_url}: {message}; fix `query` in "
            f"the source's settings"))

    def _unknown_parameters(self, unknown: Sequence[str]) -> SourceError:
        return SourceError(
            f"{self.label}: the query uses {', '.join(':' + u for u in unknown)}; only :start "
            f"and :end (the window, UTC) are bound; write other values into the query"
        )

    def _secret_free(self, message: str) -> str:
        return redact(message, [self._password])


def _database_message(exc: BaseException) -> str:
    original = exc.orig if isinstance(exc, DBAPIError) else exc
    return " ".join(str(original).split()) or type(original).__name__


def _python_array(name: str, values: list[Any]) -> pa.Array:
    if name.strip().lower() == "tags":
        values = [json.dumps(v, sort_keys=True) if isinstance(v, Mapping) else v
                  for v in values]
    return pa.array(values)


def _timestamps(values: pa.ChunkedArray) -> pa.ChunkedArray:
    kind = values.type
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind) or pa.types.is_null(kind):
        # a timestamp without a zone is UTC (the session's zone is UTC where it has one)
        return values.cast(pa.timestamp("us", tz=kind.tz if pa.types.is_timestamp(kind)
                                         else None), safe=False).cast(_UTC)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        try:
            return values.cast(_UTC)
        except pa.ArrowInvalid:
            return values.cast(pa.timestamp("us")).cast(_UTC)
    return values.cast(_UTC)


def _json_texts(values: pa.ChunkedArray) -> pa.Array:
    texts = []
    for value in values.to_pylist():
        if value is None or isinstance(value, str):
            texts.append(value)
        elif isinstance(value, list):  # a MAP arrives as a list of (key, value) pairs
            texts.append(json.dumps(dict(value), sort_keys=True, default=str))
        else:
            texts.append(json.dumps(value, sort_keys=True, default=str))
    return pa.array(texts, pa.string())


def _kind_hint(kind: pa.DataType) -> str:
    if pa.types.is_timestamp(kind):
        return "a timestamp (UTC, or with a zone)"
    if pa.types.is_floating(kind):
        return "a number"
    return "text"
