"""How each kind of cost source is configured (``sources:`` in the YAML file).

One model per ``type``, discriminated on it. Credentials are never part of a source's
settings: they come from the environment (``OPENAI_ADMIN_KEY``, ``ANTHROPIC_ADMIN_KEY``, the
password of a SQL URL through ``password_env``) or from the provider's usual chain (boto3 for
AWS, the fsspec backends for object stores). Only pydantic here, so ``bot.settings`` can import
it without pulling in the readers.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "AnthropicSourceSettings",
    "CostExplorerSourceSettings",
    "FocusSourceSettings",
    "ModelPrice",
    "OpenAISourceSettings",
    "SourceSettings",
    "SqlSourceSettings",
    "WindowSourceSettings",
]

OBJECT_STORE_SCHEMES = ("s3://", "gs://", "gcs://", "az://", "abfs://", "abfss://")
# storage_options keys that carry a credential (fsspec backends accept them, spendwatch does not)
_SECRET_OPTION = re.compile(r"(?i)secret|token|password|key$|_key|connection_string|sas|"
                            r"credential")
_NO_SECRET = ("anon", "google_default", "cloud")  # gcsfs token values that name a method


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _SourceBase(_Model):
    # shown in logs, `spendwatch sources` and alerts; also the key of the source's watermark,
    # so renaming a source starts its backfill again
    name: str | None = None
    # the first read goes this many days back, so detection has a baseline from day one
    backfill_days: int = Field(default=30, ge=0, le=400)

    @property
    def label(self) -> str:
        return self.name or self.default_label()

    def default_label(self) -> str:
        raise NotImplementedError


class FocusSourceSettings(_SourceBase):
    """A FOCUS export: a local file or folder, or an object-store prefix (s3://, gs://, az://).

    ``layout`` says how the export is delivered: ``files`` reads every export file under the
    path; ``aws-data-exports`` and ``azure-cost-exports`` read what each billing period's
    manifest lists; ``auto`` tells them apart by the manifests it finds.
    """

    # a rejected storage_options may hold a credential: errors never echo what was given
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    type: Literal["focus"] = "focus"
    path: str
    currency: str | None = Field(
        default=None,
        description="Currency to assume for files that have no BillingCurrency column.",
    )
    layout: Literal["auto", "files", "aws-data-exports", "azure-cost-exports"] = "auto"
    # passed to the fsspec filesystem (endpoint_url, region, anon, ...); never secrets
    storage_options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("path", mode="before")
    @classmethod
    def _text(cls, value: object) -> object:
        return str(value) if isinstance(value, Path) else value

    @field_validator("storage_options")
    @classmethod
    def _no_secrets(cls, value: dict[str, Any]) -> dict[str, Any]:
        secret = sorted(k for k, v in value.items()
                        if _SECRET_OPTION.search(k) and not (k == "token" and v in _NO_SECRET))
        if secret:
            raise ValueError(
                f"storage_options must not hold credentials ({', '.join(secret)}); set them in "
                f"the environment instead (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
                f"GOOGLE_APPLICATION_CREDENTIALS, AZURE_STORAGE_CONNECTION_STRING) or use the "
                f"provider's role or managed identity"
            )
        return value

    @model_validator(mode="after")
    def _remote_only_options(self) -> FocusSourceSettings:
        if not self.is_remote and (self.storage_options or self.layout not in ("auto", "files")):
            raise ValueError(
                f"{self.path}: layout and storage_options apply to object-store paths "
                f"(s3://, gs://, az://); a local path is read as files: drop them"
            )
        return self

    @property
    def is_remote(self) -> bool:
        return self.path.lower().startswith(OBJECT_STORE_SCHEMES)

    @property
    def local_path(self) -> Path | None:
        return None if self.is_remote else Path(self.path)

    def default_label(self) -> str:
        return f"focus:{self.path}"


class _WindowBase(_SourceBase):
    # each read goes back this far behind the watermark, for late and restated data
    overlap_hours: int = Field(default=48, ge=0, le=24 * 60)


class ModelPrice(_Model):
    """US dollars per million tokens (or per unit, for the usage kinds that count units).

    ``cached_input`` prices cache reads (None: the input price); ``cache_write`` prices
    Anthropic's 5-minute cache writes and ``cache_write_1h`` its 1-hour ones (None: the
    5-minute price, then the input price); ``per_unit`` prices images, seconds of audio or
    characters, whichever the usage kind counts.
    """

    input: float = Field(default=0.0, ge=0)
    output: float = Field(default=0.0, ge=0)
    cached_input: float | None = Field(default=None, ge=0)
    cache_write: float | None = Field(default=None, ge=0)
    cache_write_1h: float | None = Field(default=None, ge=0)
    per_unit: float | None = Field(default=None, ge=0)


class _AdminApiBase(_WindowBase):
    # the key, read from this environment variable at each read (never from the config)
    api_key_env: str
    # shown as BillingAccountId; a fixed label unless set (the APIs do not name the org)
    organization: str | None = None
    # model name (or fnmatch pattern, longest wins) -> price; usage of a model without a
    # price is counted at zero, and reported, until its day's cost replaces it
    prices: dict[str, ModelPrice] = Field(default_factory=dict)
    # retries inside one read, for 429 (Retry-After honoured), 5xx and network errors
    retry_attempts: int = Field(default=4, ge=1, le=10)
    retry_wait_seconds: float = Field(default=1.0, ge=0)
    retry_wait_max_seconds: float = Field(default=30.0, ge=0)
    # a Retry-After longer than this ends the read (retryable); the runner tries later
    retry_after_max_seconds: float = Field(default=60.0, ge=0)
    timeout_seconds: float = Field(default=30.0, gt=0)


class OpenAISourceSettings(_AdminApiBase):
    """The OpenAI organization Costs API (the daily bill) and Usage API (hourly, priced)."""

    type: Literal["openai"] = "openai"
    base_url: str = "https://api.openai.com"
    api_key_env: str = "OPENAI_ADMIN_KEY"
    # the Usage API endpoints read and priced hourly (the rest shows up with the daily bill)
    usage_kinds: tuple[Literal["completions", "embeddings", "images", "audio_speeches",
                               "audio_transcriptions", "moderations"], ...] = (
        "completions", "embeddings", "images", "audio_speeches", "audio_transcriptions")

    def default_label(self) -> str:
        return "openai"


class AnthropicSourceSettings(_AdminApiBase):
    """The Anthropic Admin API cost report (daily, cents) and messages usage report (hourly)."""

    type: Literal["anthropic"] = "anthropic"
    base_url: str = "https://api.anthropic.com"
    api_key_env: str = "ANTHROPIC_ADMIN_KEY"

    def default_label(self) -> str:
        return "anthropic"


class CostExplorerSourceSettings(_WindowBase):
    """AWS Cost Explorer ``GetCostAndUsage`` through boto3's credential chain.

    Each request costs $0.01; a poll makes one request per granularity (hourly for the last
    14 days, daily before that) plus one per extra page.
    """

    type: Literal["aws_cost_explorer"] = "aws_cost_explorer"
    # hourly granularity needs the account's opt-in (and covers the last 14 days only)
    hourly: bool = True
    # the cost-allocation tag grouped by (with the service): it carries the project
    tag_key: str = Field(default="project", min_length=1)
    metric: Literal["AmortizedCost", "UnblendedCost", "NetAmortizedCost",
                    "NetUnblendedCost", "BlendedCost"] = "AmortizedCost"
    region: str = "us-east-1"
    # the BillingAccountId of the rows (Cost Explorer answers for the caller's account or
    # organization)
    account: str = Field(default="aws", min_length=1)
    overlap_hours: int = Field(default=72, ge=0, le=24 * 60)
    # throttling (LimitExceededException), 5xx and network errors are tried this many times
    retry_attempts: int = Field(default=4, ge=1, le=10)
    retry_wait_seconds: float = Field(default=1.0, ge=0)
    retry_wait_max_seconds: float = Field(default=30.0, ge=0)

    def default_label(self) -> str:
        return "aws_cost_explorer"


class SqlSourceSettings(_WindowBase):
    """Any SQLAlchemy URL and a query returning FOCUS columns aggregated by hour.

    The query takes ``:start`` and ``:end`` (the window, UTC) as bound parameters, so the
    aggregation runs in the warehouse.
    """

    type: Literal["sql"] = "sql"
    url: str = Field(min_length=1)
    query: str = Field(min_length=1)
    # the URL's password, from this environment variable (never written in the config)
    password_env: str | None = None
    currency: str | None = None  # for a query that returns no BillingCurrency
    account: str | None = None  # for a query that returns no BillingAccountId
    # rows per Arrow table handed on; bounds the memory a read holds at once
    batch_rows: int = Field(default=100_000, ge=1_000, le=5_000_000)
    # connecting (and a connection lost before the first row) is tried this many times
    retry_attempts: int = Field(default=3, ge=1, le=10)
    retry_wait_seconds: float = Field(default=1.0, ge=0)
    retry_wait_max_seconds: float = Field(default=30.0, ge=0)

    def default_label(self) -> str:
        return "sql"


WindowSourceSettings = (OpenAISourceSettings | AnthropicSourceSettings
                        | CostExplorerSourceSettings | SqlSourceSettings)
SourceSettings = Annotated[
    FocusSourceSettings | OpenAISourceSettings | AnthropicSourceSettings
    | CostExplorerSourceSettings | SqlSourceSettings,
    Field(discriminator="type"),
]
