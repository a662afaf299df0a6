"""AWS Cost Explorer as a window source: ``GetCostAndUsage`` by service and project tag.

Every request is billed ($0.01), so a read makes as few as it can: one ``HOURLY`` range for
the part of the window Cost Explorer keeps hours for (the last 14 days, when the account has
opted in), one ``DAILY`` range for anything older, and the pages each needs; nothing is asked
twice. Requests are counted in ``stats`` and their cost logged once per read. An account
without hourly data is read daily instead, with a note on how to opt in, and is not asked for
hours again for a day (remembered by label for the life of the process).

Rows are one per service, tag value and period. A day is clipped to the window and its cost
taken in proportion to the hours kept (the runner spreads days evenly over their hours), so a
window starting mid-day never counts the hours before it twice. Buckets Cost Explorer flags
``Estimated`` make the read provisional from their first hour.

botocore's own retries are off: tenacity retries throttling (``LimitExceededException``), 5xx
and network errors here, so every request sent is counted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

import boto3
import pyarrow as pa
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential
from tenacity.nap import sleep as nap_sleep

from bot.ingest.sources.base import ReadStats, SourceError, Window, focus_table
from bot.ingest.sources.config import CostExplorerSourceSettings

if TYPE_CHECKING:
    from mypy_boto3_ce.client import CostExplorerClient
    from mypy_boto3_ce.type_defs import (
        GetCostAndUsageRequestTypeDef,
        GetCostAndUsageResponseTypeDef,
        ResultByTimeTypeDef,
    )

__all__ = ["PRICE_PER_REQUEST", "CostExplorerSource"]

logger = logging.getLogger(__name__)

PRICE_PER_REQUEST = 0.01  # US dollars, every GetCostAndUsage request (and page)
HOURLY_DAYS = 14  # Cost Explorer keeps hourly data this many days back
# an account that refused hourly data is read daily for this long before asking again
HOURLY_RETRY_AFTER = timedelta(days=1)
IAM_ACTION = "ce:GetCostAndUsage"
HOURLY_HOW_TO = (
    "turn on hourly granularity in the AWS console (Billing and Cost Management > Cost "
    "Management preferences > Cost Explorer > 'Hourly granularity', paid per usage record, "
    "last 14 days) or set `hourly: false` on this source to read days only"
)
_THROTTLED = {"LimitExceededException", "ThrottlingException", "Throttling",
              "TooManyRequestsException", "RequestLimitExceeded"}
_DENIED = {"AccessDeniedException", "AccessDenied"}
_BAD_CREDENTIALS = {"UnrecognizedClientException", "InvalidClientTokenId",
                    "ExpiredTokenException", "ExpiredToken", "InvalidSignatureException",
                    "SignatureDoesNotMatch"}
_NETWORK = (EndpointConnectionError, ConnectionClosedError, ConnectTimeoutError,
            ReadTimeoutError)
_HOUR = timedelta(hours=1)
# label -> when Cost Explorer last refused hours to that source; kept for the process, since
# the poller builds a new reader for every read
_HOURLY_REFUSED: dict[str, datetime] = {}


class _HourlyUnavailable(Exception):
    """The account has no hourly data (not opted in): read the window daily instead."""


@dataclass(frozen=True, slots=True)
class _Range:
    granularity: str  # HOURLY or DAILY
    start: datetime
    end: datetime

    def time_period(self) -> dict[str, str]:
        if self.granularity == "HOURLY":
            return {"Start": _hour_text(self.start), "End": _hour_text(self.end)}
        return {"Start": self.start.date().isoformat(),
                "End": _ceil_day(self.end).date().isoformat()}


class CostExplorerSource:
    """Cost by service and ``tag_key`` from Cost Explorer, hourly where it has hours."""

    def __init__(self, settings: CostExplorerSourceSettings,
                 session: boto3.Session | None = None, *,
                 sleep: Callable[[float], None] | None = None) -> None:
        self.settings = settings
        self._session = session
        self._client: CostExplorerClient | None = None
        self._sleep = sleep or nap_sleep

    @property
    def label(self) -> str:
        return self.settings.label

    @property
    def client(self) -> CostExplorerClient:
        """The boto3 ``ce`` client (credential chain and ``AWS_ENDPOINT_URL`` as botocore has
        them), made on first use; botocore does not retry, this source does."""
        if self._client is None:
            session = self._session or boto3.Session()
            self._client = session.client(
                "ce", region_name=self.settings.region,
                config=Config(retries={"mode": "standard", "max_attempts": 1},
                              connect_timeout=10, read_timeout=60),
            )
        return self._client

    def read(self, window: Window, stats: ReadStats) -> Iterator[pa.Table]:
        paid_before = stats.paid_requests
        try:
            for piece in self._plan(window, stats):
                try:
                    yield from self._read_range(piece, window, stats)
                except _HourlyUnavailable as exc:
                    _HOURLY_REFUSED[self.label] = window.now
                    stats.notes.append(
                        f"{self.label}: Cost Explorer has no hourly data for this account "
                        f"({exc}); read daily instead. To get hours, {HOURLY_HOW_TO}."
                    )
                    yield from self._read_range(_Range("DAILY", window.start, window.end),
                                                window, stats)
                    return
        finally:
            paid = stats.paid_requests - paid_before
            logger.info("Cost Explorer: %d paid requests ($%.2f) for %s",
                        paid, paid * PRICE_PER_REQUEST, self.label)

    def _plan(self, window: Window, stats: ReadStats) -> list[_Range]:
        """Hourly for the hours Cost Explorer keeps, then daily for what is older.

        Hourly comes first: an account without hours refuses it before anything is read, and
        the whole window is then read daily in one range instead of two."""
        start, end = window.start, window.end
        if start >= end:
            return []
        if not self.settings.hourly:
            return [_Range("DAILY", start, end)]
        refused = _HOURLY_REFUSED.get(self.label)
        if refused is not None and window.now - refused < HOURLY_RETRY_AFTER:
            stats.notes.append(
                f"{self.label}: read daily; Cost Explorer refused hourly data at "
                f"{refused:%Y-%m-%d %H:%M} UTC and is asked again a day after that. To get "
                f"hours, {HOURLY_HOW_TO}.")
            return [_Range("DAILY", start, end)]
        hourly_from = max(start, _ceil_day(window.now - timedelta(days=HOURLY_DAYS)))
        ranges = []
        if hourly_from < end:
            ranges.append(_Range("HOURLY", hourly_from, end))
        if start < min(hourly_from, end):
            ranges.append(_Range("DAILY", start, min(hourly_from, end)))
        return ranges

    def _read_range(self, piece: _Range, window: Window, stats: ReadStats
                    ) -> Iterator[pa.Table]:
        request: GetCostAndUsageRequestTypeDef = {
            "TimePeriod": piece.time_period(),  # type: ignore[typeddict-item]
            "Granularity": piece.granularity,  # type: ignore[typeddict-item]
            "Metrics": [self.settings.metric, "UsageQuantity"],
            "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"},
                        {"Type": "TAG", "Key": self.settings.tag_key}],
        }
        token: str | None = None
        while True:
            page = dict(request, NextPageToken=token) if token else request
            try:
                response = self._call(page, piece.granularity, stats)  # type: ignore[arg-type]
            except _HourlyUnavailable as exc:
                if token is None:
                    raise
                raise SourceError(f"{self.label}: Cost Explorer stopped answering hourly "
                                  f"mid-way ({exc}); will try again", retryable=True) from exc
            rows = [row for result in response.get("ResultsByTime", [])
                    for row in self._rows(result, piece, window, stats)]
            if rows:
                yield focus_table(rows)
            token = response.get("NextPageToken") or None
            if token is None:
                return

    def _rows(self, result: ResultByTimeTypeDef, piece: _Range, window: Window,
              stats: ReadStats) -> Iterator[dict[str, Any]]:
        period_start = _parse_time(result["TimePeriod"]["Start"])
        period_end = _parse_time(result["TimePeriod"]["End"])
        start = max(period_start, piece.start, window.start)
        end = min(period_end, piece.end, window.end)
        if end <= start:
            return
        if result.get("Estimated"):
            stats.provisional(start)
        # a period's cost, even over the hours of it that have passed, in the share kept
        accrued_end = min(period_end, max(end, _ceil_hour(window.now)))
        share = (end - start) / (accrued_end - period_start)
        month = datetime(start.year, start.month, 1, tzinfo=UTC)
        for group in result.get("Groups", []):
            yield self._row(group.get("Keys", []), group.get("Metrics", {}), share,
                            start, end, month)

    def _row(self, keys: Sequence[str], metrics: Mapping[str, Any], share: float,
             start: datetime, end: datetime, month: datetime) -> dict[str, Any]:
        service = keys[0] if keys else ""
        tag = keys[1] if len(keys) > 1 else ""
        value = tag.split("$", 1)[1] if "$" in tag else ""
        cost = metrics.get(self.settings.metric, {})
        usage = metrics.get("UsageQuantity", {})
        amount = _amount(cost) * share
        return {
            "ChargePeriodStart": start,
            "ChargePeriodEnd": end,
            "BillingPeriodStart": month,
            "BillingPeriodEnd": _next_month(month),
            "ChargeCategory": "Tax" if service == "Tax" else "Usage",
            "BilledCost": amount,
            "EffectiveCost": amount,
            "BillingCurrency": cost.get("Unit") or "USD",
            "ServiceProviderName": "AWS",
            "BillingAccountId": self.settings.account,
            "ServiceName": service,
            "RegionId": "",
            "SkuId": "",
            "ConsumedQuantity": _amount(usage) * share if usage else None,
            "ConsumedUnit": usage.get("Unit") if usage else None,
            "Tags": {self.settings.tag_key: value} if value else {},
        }

    def _call(self, request: GetCostAndUsageRequestTypeDef, granularity: str,
              stats: ReadStats) -> GetCostAndUsageResponseTypeDef:
        s = self.settings
        retrying = Retrying(
            stop=stop_after_attempt(s.retry_attempts),
            wait=wait_exponential(multiplier=s.retry_wait_seconds,
                                  max=s.retry_wait_max_seconds),
            retry=retry_if_exception(
                lambda exc: isinstance(exc, SourceError) and exc.retryable),
            reraise=True,
            sleep=self._sleep,
        )
        for attempt in retrying:
            with attempt:
                stats.requests += 1
                response = self._send(request, granularity)
                stats.paid_requests += 1
                return response
        raise AssertionError("unreachable: tenacity re-raises the last error")

    def _send(self, request: GetCostAndUsageRequestTypeDef, granularity: str
              ) -> GetCostAndUsageResponseTypeDef:
        try:
            return self.client.get_cost_and_usage(**request)
        except ClientError as exc:
            raise self._client_error(exc, granularity) from exc
        except NoCredentialsError as exc:
            raise SourceError(
                f"{self.label}: no AWS credentials found; give spendwatch credentials the "
                f"usual way (AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, an instance "
                f"or task role) allowed {IAM_ACTION}"
            ) from exc
        except _NETWORK as exc:
            raise SourceError(f"{self.label}: could not reach Cost Explorer ({exc}); "
                              f"will try again", retryable=True) from exc
        except BotoCoreError as exc:
            raise SourceError(f"{self.label}: Cost Explorer request failed: {exc}") from exc

    def _client_error(self, exc: ClientError, granularity: str) -> Exception:
        error = exc.response.get("Error", {})
        code = error.get("Code", "Unknown")
        message = error.get("Message", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if granularity == "HOURLY" and (
            code == "DataUnavailableException"
            or (code in {"ValidationException", *_DENIED} and "hourly" in message.lower())
        ):
            return _HourlyUnavailable(f"{code}: {message}")
        what = f"{code}: {message}" if message else code
        if code in _DENIED:
            return SourceError(
                f"{self.label}: AWS denied the Cost Explorer request ({what}); allow the IAM "
                f"action {IAM_ACTION} for the role or user spendwatch runs as"
            )
        if code in _BAD_CREDENTIALS:
            return SourceError(f"{self.label}: AWS refused the credentials ({what}); check the "
                               f"profile, keys or role spendwatch runs with")
        if code in _THROTTLED:
            return SourceError(f"{self.label}: Cost Explorer is throttling requests ({what}); "
                               f"will try again later", retryable=True)
        if status >= 500:
            return SourceError(f"{self.label}: Cost Explorer failed on its side ({what}); "
                               f"will try again", retryable=True)
        if code == "DataUnavailableException":
            return SourceError(
                f"{self.label}: Cost Explorer has no data for this period ({what}); it is "
                f"available about 24 hours after Cost Explorer is first opened in the console"
            )
        return SourceError(f"{self.label}: Cost Explorer answered {what}")


def _amount(metric: Mapping[str, Any]) -> float:
    try:
        return float(metric.get("Amount") or 0.0)
    except ValueError:
        raise SourceError(
            f"Cost Explorer returned an amount that is not a number: {metric.get('Amount')!r}"
        ) from None


def _parse_time(text: str) -> datetime:
    """A TimePeriod bound: ``YYYY-MM-DD`` (daily) or ``YYYY-MM-DDThh:mm:ssZ`` (hourly)."""
    if "T" in text:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    return datetime.combine(date.fromisoformat(text), time(), tzinfo=UTC)


def _hour_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ceil_day(moment: datetime) -> datetime:
    day = datetime.combine(moment.astimezone(UTC).date(), time(), tzinfo=UTC)
    return day if day == moment else day + timedelta(days=1)


def _ceil_hour(moment: datetime) -> datetime:
    hour = moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return hour if hour == moment else hour + _HOUR


def _next_month(month: datetime) -> datetime:
    return month.replace(year=month.year + month.month // 12, month=month.month % 12 + 1)
