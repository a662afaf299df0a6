"""The configuration: one YAML file, validated by pydantic, built once in ``main()``.

Secrets never live in the file; they come from the environment (``SLACK_BOT_TOKEN`` and
friends) and are read where they are used. Every validation error names the key, the bad value
and what is allowed, because the person reading it is editing a YAML file, not Python.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import (
    BaseModel,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from bot.changes.config import ChangeSettings
from bot.chat.enums import Platform
from bot.chat.teams.config import TeamsRouting, TeamsSettings
from bot.config_base import ConfigModel, named_twice
from bot.detection.config import DetectionSettings, ThresholdSettings
from bot.finance.config import (
    BudgetSettings,
    DigestSettings,
    FinanceSettings,
    SharedCost,
    SharedMatch,
    ShowbackSettings,
    check_budgets,
)
from bot.ingest.config import AllocationRule, AllocationSettings, CurrencySettings
from bot.ingest.sources.config import FocusSourceSettings, SourceSettings
from bot.ingest.tags import DEFAULT_TAG_KEYS
from bot.retention.config import RetentionSettings, check_hourly_days
from bot.yaml_limits import YamlTooLarge, load_yaml

__all__ = [
    "AllocationRule",
    "AllocationSettings",
    "BudgetSettings",
    "ConfigError",
    "CurrencySettings",
    "DEFAULT_TAG_KEYS",
    "DetectionSettings",
    "DigestSettings",
    "EscalationSettings",
    "FinanceSettings",
    "FocusSourceSettings",
    "RetentionSettings",
    "RoutingSettings",
    "ScheduleSettings",
    "Settings",
    "SharedCost",
    "SharedMatch",
    "ShowbackSettings",
    "TeamsRouting",
    "TeamsSettings",
    "ThresholdSettings",
    "check_sources",
    "load_settings",
]

CONFIG_ENV = "SPENDWATCH_CONFIG"



class ConfigError(Exception):
    """The configuration file is missing, unreadable or invalid; the message says how to fix it."""




class RoutingSettings(ConfigModel):
    """Where alerts go and who may act on them.

    ``owners`` maps an owner (the tag value, e.g. ``team-support``) to its Slack channel id;
    spend of an unmapped owner, and unallocated spend, goes to ``default_channel`` (FinOps).
    ``teams`` does the same for Microsoft Teams. An owner's alerts go where the owner lives:
    to each platform that maps the owner, or, when no running platform does, to the default
    of each. A channel (or conversation) mapped to an owner sees that owner's projects in
    ``/cost``; a default sees all. ``responders`` optionally lists the people who may act on
    an owner's anomalies (Slack user ids and Entra ID object ids side by side; else anyone
    may, from the owner's or the default channel); ``finops`` people may act on everything.
    The rules are in ``bot.anomaly.access``.
    """

    default_channel: str = "C0FINOPS"
    owners: dict[str, str] = Field(default_factory=dict)
    teams: TeamsRouting = Field(default_factory=TeamsRouting)
    responders: dict[str, list[str]] = Field(default_factory=dict)
    finops: list[str] = Field(default_factory=list)

    def channel_for(self, owner: str, platform: str = Platform.SLACK,
                    platforms: tuple[str, ...] = ()) -> str | None:
        """The channel of ``owner``'s alerts on ``platform``; None when the owner lives on
        another of the running ``platforms`` and not on this one."""
        if platform != Platform.TEAMS:
            mapped: str | None = self.owners.get(owner)
            default: str | None = self.default_channel
        else:
            mapped, default = self.teams.owners.get(owner), self.teams.default
        if mapped is not None:
            return mapped
        if any(self._maps(other, owner) for other in platforms if other != platform):
            return None
        return default

    def escalation_for(self, platform: str, configured: str | None) -> str | None:
        """Where escalations are posted on ``platform`` (``configured``: escalation.channel)."""
        if platform == Platform.TEAMS:
            return self.teams.escalation or self.teams.default
        return configured or self.default_channel

    def _maps(self, platform: str, owner: str) -> bool:
        return owner in (self.teams.owners if platform == Platform.TEAMS else self.owners)

    def owners_of(self, channel: str) -> set[str] | None:
        """Owners a channel (or Teams conversation) may see; None means all (a default)."""
        if channel in (self.default_channel, self.teams.default):
            return None
        return {owner for mapping in (self.owners, self.teams.owners)
                for owner, mapped in mapping.items() if mapped == channel}


class ScheduleSettings(ConfigModel):
    poll_minutes: int = Field(default=60, ge=1, le=24 * 60)
    deliver_seconds: float = Field(default=1.0, gt=0, le=60)
    # at most one message per channel this often (Slack allows about one per second)
    channel_pace_seconds: float = Field(default=1.0, ge=0, le=60)
    # a message being sent is not due for other replicas this long; after a crash, for the
    # restarted process either (longer than the slowest send: Slack's timeout is 10 s)
    lease_seconds: float = Field(default=60.0, ge=1, le=3600)
    escalation_check_minutes: int = Field(default=5, ge=1, le=60)


class EscalationSettings(ConfigModel):
    """Unacknowledged after ``ack_minutes``: a reminder naming the owner in the thread; after
    ``escalate_minutes``: a post in ``channel`` (default: routing.default_channel)."""

    ack_minutes: int = Field(default=30, ge=1)
    escalate_minutes: int = Field(default=120, ge=1)
    channel: str | None = None


class LimitSettings(ConfigModel):
    """Per-user rate limits in chat, a token bucket in memory per process: up to the given
    number at once, refilled evenly over a minute; beyond it, a polite "try again in N s"."""

    commands_per_minute: int = Field(default=20, ge=1, le=10_000)  # /cost
    actions_per_minute: int = Field(default=30, ge=1, le=10_000)  # buttons and forms


class Settings(ConfigModel):
    database_url: str = "sqlite:///spendwatch.db"
    sources: list[SourceSettings] = Field(default_factory=list)  # see bot.ingest.sources.config
    # A re-delivery of a (billing account, billing period) with fewer rows, or less spend, than
    # this share of the delivery it would replace is held back: the current one stays until
    # `spendwatch ingest --force` accepts it. 0 turns the guard off.
    redelivery_min_share: float = Field(default=0.5, ge=0, le=1)
    allocation: AllocationSettings = Field(default_factory=AllocationSettings)
    currency: CurrencySettings = Field(default_factory=CurrencySettings)
    routing: RoutingSettings = Field(default_factory=RoutingSettings)
    detection: DetectionSettings = Field(default_factory=DetectionSettings)
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)
    escalation: EscalationSettings = Field(default_factory=EscalationSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    teams: TeamsSettings = Field(default_factory=TeamsSettings)
    showback: ShowbackSettings = Field(default_factory=ShowbackSettings)
    budgets: list[BudgetSettings] = Field(default_factory=list)  # see bot.finance.config
    finance: FinanceSettings = Field(default_factory=FinanceSettings)
    changes: ChangeSettings = Field(default_factory=ChangeSettings)  # see bot.changes.config
    retention: RetentionSettings = Field(default_factory=RetentionSettings)  # bot.retention
    # folder of playbooks/*.yml; None: the playbooks shipped with the bot
    playbooks_dir: Path | None = None
    quarantine_dir: Path = Path("quarantine")

    @field_validator("sources", mode="before")
    @classmethod
    def _focus_by_default(cls, value: Any) -> Any:
        """A source without ``type`` is a FOCUS export (the only kind there once was)."""
        if isinstance(value, list):
            return [{"type": "focus", **item} if isinstance(item, dict) and "type" not in item
                    else item for item in value]
        return value

    @field_validator("sources")
    @classmethod
    def _distinct_labels(cls, value: list[Any]) -> list[Any]:
        twice = named_twice([source.label for source in value])
        if twice:
            raise ValueError(f"two sources are called {', '.join(twice)}; give each a "
                             f"different name (its watermark is kept under it)")
        return value

    @field_validator("budgets")
    @classmethod
    def _distinct_budgets(cls, value: list[BudgetSettings]) -> list[BudgetSettings]:
        return check_budgets(value)

    @model_validator(mode="after")
    def _retention_keeps_overlaps(self) -> Settings:
        if self.retention.hourly_days is not None:
            try:
                check_hourly_days(self.retention.hourly_days,
                                  overlaps_hours=self.window_overlaps_hours())
            except ValueError as exc:
                raise ValueError(f"retention.hourly_days: {exc}") from None
        return self

    def window_overlaps_hours(self) -> tuple[int, ...]:
        """How far back each window source re-reads behind its watermark."""
        return tuple(int(hours) for source in self.sources
                     if (hours := getattr(source, "overlap_hours", None)) is not None)

    def finance_channel(self, platform: str) -> str | None:
        """Where finance posts (budget thresholds, the weekly digest) go on ``platform``."""
        return self.finance.channel_for(platform, default=self.routing.default_channel,
                                        teams_default=self.routing.teams.default)

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://")):
            raise ValueError(
                "must start with sqlite:/// (a file) or postgresql+psycopg:// (a server)"
            )
        if value.startswith("postgresql://"):
            value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
        return value


def check_sources(settings: Settings, environ: Mapping[str, str] | None = None) -> None:
    """Refuse sources that cannot be read at all: a local path that does not exist, a key or
    password variable that is not set (checked when a command starts polling them: a typo in
    the config must not become a bot that quietly watches nothing)."""
    environ = os.environ if environ is None else environ
    problems = []
    for index, source in enumerate(settings.sources):
        if isinstance(source, FocusSourceSettings):
            if source.local_path is not None and not source.local_path.exists():
                problems.append(f"sources.{index}.path: {source.path}: no such file or folder; "
                                f"correct the path in the config (relative paths start at the "
                                f"config file's folder) or create it")
            continue
        variable = getattr(source, "api_key_env", None) or getattr(source, "password_env", None)
        if variable and not environ.get(variable):
            problems.append(f"sources.{index} ({source.label}): the environment variable "
                            f"{variable} is not set; export it (the key or password stays out "
                            f"of the config)")
    if problems:
        raise ConfigError("; ".join(problems) + "; then start again")


def _describe(error: ErrorDetails, model: type[BaseModel]) -> str:
    loc = _without_tags(error["loc"])
    key = ".".join(str(part) for part in loc) or "(top level)"
    value = error.get("input")
    if error["type"] == "extra_forbidden":
        allowed = _allowed_keys(model, error["loc"][:-1])
        hint = f"allowed keys here: {', '.join(allowed)}" if allowed else "remove it"
        return f"{key}: unknown key (value {value!r}); {hint}"
    if error["type"] == "missing":
        return f"{key}: required but missing"
    if error["type"] == "union_tag_invalid":
        context = error.get("ctx") or {}
        return (f"{key}.type: unknown source type {context.get('tag')!r}; use one of "
                f"{context.get('expected_tags')}")
    shown = repr(value) if not isinstance(value, dict) else "{...}"
    return f"{key}: {error['msg']} (got {shown})"


def _without_tags(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """The location as the YAML reads: without the discriminator tag pydantic inserts."""
    out: list[Any] = []
    for index, part in enumerate(loc):
        if index >= 2 and loc[index - 2] == "sources" and isinstance(loc[index - 1], int):
            continue  # sources.<n>.<type tag>
        out.append(part)
    return tuple(out)


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    if len(loc) == 3 and loc[0] == "sources" and isinstance(loc[1], int):
        member = _SOURCE_TYPES.get(str(loc[2]))
        return sorted(member.model_fields) if member else []
    current: Any = model
    for part in loc:
        if isinstance(part, int) or not (
            isinstance(current, type) and issubclass(current, BaseModel)
        ):
            continue
        field = current.model_fields.get(str(part))
        if field is None:
            return []
        annotation = field.annotation
        args = getattr(annotation, "__args__", ())
        candidates = [annotation, *args]
        current = next(
            (c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None
        )
        if current is None:
            for arg in args:
                inner = getattr(arg, "__args__", ())
                current = next(
                    (c for c in inner if isinstance(c, type) and issubclass(c, BaseModel)), None
                )
                if current:
                    break
    if isinstance(current, type) and issubclass(current, BaseModel):
        return sorted(current.model_fields)
    return []


_SOURCE_TYPES: dict[str, type[BaseModel]] = {
    str(member.model_fields["type"].default): member
    for member in get_args(get_args(SourceSettings)[0])
}


def parse_settings(data: Any, *, origin: str = "configuration") -> Settings:
    """Validate already-loaded YAML data; raise ConfigError listing every problem."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{origin}: the top level must be a mapping of keys (database_url, sources, ...), "
            f"got {type(data).__name__}"
        )
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        lines = [_describe(err, Settings) for err in exc.errors()]
        raise ConfigError(f"{origin} is invalid:\n  - " + "\n  - ".join(lines)) from None


def load_settings(path: Path | str | None = None) -> Settings:
    """Load from ``path``, else ``$SPENDWATCH_CONFIG``, else the built-in defaults.

    Relative paths in the file (sources, quarantine) are resolved against the file's folder.
    """
    if path is None:
        env_path = os.environ.get(CONFIG_ENV)
        path = Path(env_path) if env_path else None
    if path is None:
        return Settings()
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"config file {path} does not exist; pass --config with an existing file "
            f"(see spendwatch.example.yml)"
        ) from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path} is not UTF-8 text (byte {exc.start}); save it "
                          f"as UTF-8") from None
    try:
        data = load_yaml(text)
    except YamlTooLarge as exc:
        raise ConfigError(f"{path} cannot be read: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path} is not valid YAML{where}: {problem}") from None
    settings = parse_settings(data, origin=str(path))
    return _resolve_paths(settings, base=path.parent)


def _resolve_paths(settings: Settings, *, base: Path) -> Settings:
    sources = [
        s.model_copy(update={"path": str(base / s.local_path)})
        if isinstance(s, FocusSourceSettings) and s.local_path is not None
        and not s.local_path.is_absolute() else s
        for s in settings.sources
    ]
    quarantine = settings.quarantine_dir
    if not quarantine.is_absolute():
        quarantine = base / quarantine
    playbooks = settings.playbooks_dir
    if playbooks is not None and not playbooks.is_absolute():
        playbooks = base / playbooks
    url = settings.database_url
    prefix = "sqlite:///"
    if url.startswith(prefix) and url != "sqlite://" and not url.startswith(prefix + "/"):
        rest = url.removeprefix(prefix)
        if rest and rest != ":memory:":
            url = prefix + str(base / rest)
    return settings.model_copy(
        update={"sources": sources, "quarantine_dir": quarantine, "database_url": url,
                "playbooks_dir": playbooks}
    )
