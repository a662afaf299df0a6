"""What ingestion is configured with: allocation (tags to project, environment, owner, phase)
and currencies. Part of the one config file (``bot.settings.Settings``); here beside the code
that uses it, so a reader of ``bot/ingest`` finds its options in its own package."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from bot.config_base import ConfigModel
from bot.ingest.tags import DEFAULT_TAG_KEYS, Phase, TagField

__all__ = ["AllocationRule", "AllocationSettings", "CurrencySettings"]


class AllocationRule(ConfigModel):
    """Fill (or with ``override``, replace) allocation fields for spend that matches.

    ``match`` keys are shell-style patterns (``fnmatch``, case-insensitive) on the row's
    ``provider``, ``billing_account``, ``sub_account``, ``sub_account_name``, ``service`` or
    ``region``; every pattern given must match.
    """

    match: dict[Literal[
        "provider", "billing_account", "sub_account", "sub_account_name", "service", "region"
    ], str]
    set: dict[Literal["project", "environment", "owner", "phase", "cost_center"], str]
    override: bool = False

    @field_validator("match", "set")
    @classmethod
    def _not_empty(cls, value: dict[str, str]) -> dict[str, str]:
        if not value:
            raise ValueError("must name at least one field")
        return value


class AllocationSettings(ConfigModel):
    tag_keys: dict[TagField, list[str]] = Field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_TAG_KEYS.items()})
    environment_aliases: dict[str, list[str]] = Field(
        default_factory=lambda: {
            "prod": ["production", "prd", "live"],
            "staging": ["stage", "stg", "preprod"],
            "dev": ["development", "develop"],
            "test": ["testing", "qa"],
            "sandbox": ["sbx", "playground"],
        }
    )
    phase_by_environment: dict[str, Phase] = Field(
        default_factory=lambda: dict[str, Phase]({
            "prod": "run",
            "staging": "build",
            "dev": "build",
            "test": "build",
            "sandbox": "build",
        })
    )
    rules: list[AllocationRule] = Field(default_factory=list)

    @field_validator("tag_keys")
    @classmethod
    def _merge_defaults(cls, value: dict[TagField, list[str]]) -> dict[TagField, list[str]]:
        merged = {k: list(v) for k, v in DEFAULT_TAG_KEYS.items()}
        for key, aliases in value.items():
            if not aliases:
                raise ValueError(f"{key}: give at least one tag key")
            merged[key] = list(aliases)
        return merged


class CurrencySettings(ConfigModel):
    """Stored costs are in ``base``; other billing currencies need a rate (1 unit = rate base)."""

    base: str = "USD"
    rates: dict[str, float] = Field(default_factory=dict)

    @field_validator("base")
    @classmethod
    def _iso_code(cls, value: str) -> str:
        value = value.strip().upper()
        if len(value) != 3 or not value.isalpha():
            raise ValueError("must be a three-letter ISO 4217 code such as USD or EUR")
        return value

    @field_validator("rates")
    @classmethod
    def _positive_rates(cls, value: dict[str, float]) -> dict[str, float]:
        out = {}
        for code, rate in value.items():
            if rate <= 0:
                raise ValueError(f"{code}: rate must be greater than 0, got {rate}")
            out[code.strip().upper()] = float(rate)
        return out
