"""What "normal" is: the detection thresholds, per environment, phase and sensitivity profile.
Part of the one config file (``bot.settings.Settings``); here beside the engine that reads
them (``DetectionSettings.thresholds`` resolves the fields of ``bot.detection.Thresholds``).
Plain pydantic models: no I/O, like the rest of the package."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from bot.config_base import ConfigModel

__all__ = ["DetectionSettings", "ThresholdSettings"]


class ThresholdSettings(ConfigModel):
    """When an hour of spend is anomalous; any field left out is inherited (see DetectionSettings).

    relative: how far over expected (0.5 = +50 %) a small or erratic line must go;
    relative_size_usd / relative_shrink: a steady line of that many expected dollars an hour
    or more needs up to that share less (0.5: +25 % instead of +50 %; 0 turns it off; the rule
    is in ``bot/detection/_rules.py``); min_hourly_usd / min_daily_usd: the excess in dollars
    per hour, and per day if it went on; burst_alerts: open an incident for a burst too short
    to confirm once it is over, if it cost min_burst_usd and each hour stood out burst_standout
    times the line's ordinary excursions over at least burst_min_hours hours; unit_cost_alerts:
    judge each line's price per consumed unit, anomalous when it rose unit_cost_relative over
    its usual price for unit_cost_hours hours in a row, beyond z deviations of its usual
    wobble (at least unit_cost_spread_floor of the price; ``bot/detection/unit_cost.py``);
    z: robust standard deviations of
    that hour's usual spread; strong_z / strong_relative: alert on the first hour without
    waiting for a second; new_spend_hourly_usd: spend on a line that did not exist a day ago;
    sigma_floor_relative / sigma_floor_usd: the least an hour's usual spread counts as (a share
    of expected, and dollars per hour); expected_floor_usd: the least an expected hour counts
    as when measuring how far it rose. With every ``_usd`` field at 0 a line of cents is judged
    exactly as a line of thousands. profile (under ``environments`` only): the sensitivity
    profile that environment starts from.
    """

    profile: str | None = None
    relative: float | None = Field(default=None, gt=0)
    relative_size_usd: float | None = Field(default=None, gt=0)
    relative_shrink: float | None = Field(default=None, ge=0, le=1)
    min_hourly_usd: float | None = Field(default=None, ge=0)
    min_daily_usd: float | None = Field(default=None, ge=0)
    burst_alerts: bool | None = None
    min_burst_usd: float | None = Field(default=None, ge=0)
    burst_standout: float | None = Field(default=None, gt=0)
    burst_min_hours: int | None = Field(default=None, ge=1)
    unit_cost_alerts: bool | None = None
    unit_cost_relative: float | None = Field(default=None, gt=0)
    unit_cost_hours: int | None = Field(default=None, ge=1)
    unit_cost_spread_floor: float | None = Field(default=None, ge=0)
    z: float | None = Field(default=None, gt=0)
    strong_z: float | None = Field(default=None, gt=0)
    strong_relative: float | None = Field(default=None, gt=0)
    new_spend_hourly_usd: float | None = Field(default=None, ge=0)
    sigma_floor_relative: float | None = Field(default=None, ge=0)
    sigma_floor_usd: float | None = Field(default=None, ge=0)
    expected_floor_usd: float | None = Field(default=None, ge=0)


def _default_environment_thresholds() -> dict[str, ThresholdSettings]:
    tolerant = ThresholdSettings(relative=1.0, min_hourly_usd=3.0, min_daily_usd=50.0,
                                 min_burst_usd=50.0)
    return {"dev": tolerant, "test": tolerant, "sandbox": tolerant,
            "staging": ThresholdSettings(relative=0.75, min_daily_usd=40.0, min_burst_usd=40.0)}


def _default_profiles() -> dict[str, ThresholdSettings]:
    return {
        "conservative": ThresholdSettings(relative=0.75, relative_shrink=0.3, min_hourly_usd=3.0,
                                          min_daily_usd=50.0, min_burst_usd=50.0, z=5.0),
        "balanced": ThresholdSettings(burst_alerts=True, burst_standout=2.5),
        "sensitive": ThresholdSettings(relative=0.35, relative_shrink=0.6, min_hourly_usd=1.0,
                                       min_daily_usd=15.0, burst_alerts=True,
                                       min_burst_usd=15.0, burst_standout=2.0,
                                       burst_min_hours=1, z=3.5),
    }


class DetectionSettings(ConfigModel):
    """What "normal" is. Thresholds resolve as: ``default``, then the environment's sensitivity
    profile (``environments[environment].profile``, else ``profile``; ``balanced`` is the
    default as it stands), then ``phases[phase]``, then ``environments[environment]`` (the most
    specific wins, field by field). ``profiles`` adds profiles or changes the built-in
    ``conservative``, ``balanced`` and ``sensitive``."""

    default: ThresholdSettings = Field(default_factory=lambda: ThresholdSettings(
        relative=0.5, relative_size_usd=50.0, relative_shrink=0.5, min_hourly_usd=2.0,
        min_daily_usd=25.0, burst_alerts=False, min_burst_usd=25.0, burst_standout=3.0,
        burst_min_hours=2, unit_cost_alerts=True, unit_cost_relative=0.2, unit_cost_hours=3,
        unit_cost_spread_floor=0.02, z=4.0,
        strong_z=8.0, strong_relative=1.0, new_spend_hourly_usd=2.0, sigma_floor_relative=0.1,
        sigma_floor_usd=0.05, expected_floor_usd=0.05))
    phases: dict[str, ThresholdSettings] = Field(default_factory=lambda: {
        "build": ThresholdSettings(relative=1.0),
        "move": ThresholdSettings(relative=1.0, min_daily_usd=50.0, min_burst_usd=50.0),
    })
    environments: dict[str, ThresholdSettings] = Field(
        default_factory=_default_environment_thresholds)
    profile: str = "balanced"
    profiles: dict[str, ThresholdSettings] = Field(default_factory=_default_profiles)
    quiet_hours_to_resolve: int = Field(default=6, ge=1)
    reopen_within_hours: int = Field(default=24, ge=0)
    warmup_days: int = Field(default=7, ge=1)

    @field_validator("profiles", mode="after")
    @classmethod
    def _over_built_ins(
        cls, value: dict[str, ThresholdSettings]
    ) -> dict[str, ThresholdSettings]:
        """A configured profile changes a built-in one field by field, or adds a new one."""
        merged = _default_profiles()
        for name, layer in value.items():
            base = merged.get(name, ThresholdSettings())
            merged[name] = base.model_copy(update=layer.model_dump(exclude_none=True))
        return merged

    @model_validator(mode="after")
    def _known_profiles(self) -> DetectionSettings:
        known = ", ".join(sorted(self.profiles))
        chosen = [("detection.profile", self.profile)] + [
            (f"detection.environments.{env}.profile", layer.profile)
            for env, layer in self.environments.items() if layer.profile is not None]
        for key, name in chosen:
            if name not in self.profiles:
                raise ValueError(f"{key} is {name!r}, which is not a profile; use one of "
                                 f"{known}, or define it under detection.profiles")
        misplaced = [f"detection.{where}" for where, layer in (
            ("default", self.default), *((f"phases.{k}", v) for k, v in self.phases.items()),
            *((f"profiles.{k}", v) for k, v in self.profiles.items())) if layer.profile]
        if misplaced:
            raise ValueError(f"{', '.join(misplaced)} sets a profile; a profile is chosen for "
                             "an environment (detection.environments.<env>.profile) or for all "
                             "(detection.profile)")
        return self

    def profile_of(self, environment: str) -> str:
        layer = self.environments.get(environment)
        return layer.profile if layer is not None and layer.profile else self.profile

    def thresholds(self, environment: str, phase: str) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        profile = self.profiles[self.profile_of(environment)]
        for layer in (self.default, profile, self.phases.get(phase),
                      self.environments.get(environment)):
            if layer is not None:
                merged.update({k: v for k, v in layer.model_dump(exclude={"profile"}).items()
                               if v is not None})
        return merged
