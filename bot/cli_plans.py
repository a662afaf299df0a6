"""``spendwatch plans``: declare planned spend ahead of time, list it, end it.

The command line is the operator's, who holds the config and the database, so it checks no
chat permissions; what it does is audited under ``--by`` (default: the login name). A project
the store has never seen is a warning, not a refusal: a plan may rightly be declared before a
new workload's first export arrives.
"""

from __future__ import annotations

import getpass
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from bot.anomaly import plans
from bot.anomaly.access import NothingChanged, ResponseError
from bot.anomaly.plans import ALL_ENVIRONMENTS, ALL_SERVICES, PlanUse
from bot.chat.console.render import console
from bot.chat.text import money
from bot.cli_errors import fail, say
from bot.cli_options import ConfigOption
from bot.errors import user_message
from bot.settings import Settings, load_settings
from bot.wiring import Services, build_services
from storage.db import session_scope
from storage.models import Plan
from storage.queries import plans as plan_queries
from storage.timeutil import as_utc

__all__ = ["plans_app", "stored_plans"]

plans_app = typer.Typer(help="Planned spend: no alert inside a plan's envelope, until its end.",
                        no_args_is_help=True)



def _services(config: Path | None) -> Services:
    return build_services(load_settings(config))


def stored_plans(settings: Settings) -> list[Plan]:
    """Every plan never removed in the config's database, for ``replay`` to honour."""
    services = build_services(settings)
    try:
        with session_scope(services.engine) as session:
            found = list(plan_queries.list_plans(db_session=session))
            for plan in found:
                session.expunge(plan)
    finally:
        services.close()
    return [p for p in found if p.removed_at is None]


def _actor(by: str | None) -> str:
    if by is not None and by.strip():
        return by.strip()
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):
        return "cli"


@plans_app.command("add")
def add(
    project: Annotated[str, typer.Option(help="The workload's project.")],
    environment: Annotated[str, typer.Option(help="Its environment, or * for all of them.")],
    amount: Annotated[float, typer.Option(
        help="The envelope: spend above normal the plan covers in total, in the store's "
             "currency.")],
    until: Annotated[str, typer.Option(
        help="When the plan ends (UTC): 2026-12-05 (through that day) or 2026-12-05T18:00.")],
    service: Annotated[str, typer.Option(
        help="Only anomalies whose top service is this one (default: every service).")
    ] = ALL_SERVICES,
    from_: Annotated[str | None, typer.Option(
        "--from", help="When the plan starts (UTC, ISO); default: now.")] = None,
    reason: Annotated[str, typer.Option(help="Why the spend is planned.")] = "",
    by: Annotated[str | None, typer.Option(help="Who declares it (default: login name).")
                  ] = None,
    config: ConfigOption = None,
) -> None:
    """Declare planned spend (at most 90 days long): no alert for the workload while its
    unusual spend stays inside the envelope; beyond it the alert says by how much."""
    now = datetime.now(UTC)
    services = _services(config)
    try:
        ends_at = plans.parse_moment(until, end_of_day=True, what="date for --until")
        starts_at = (plans.parse_moment(from_, what="date for --from") if from_ is not None
                     else None)
        with session_scope(services.engine) as session:
            known = plan_queries.project_known(db_session=session, project=project)
            plan = plans.add_plan(db_session=session, project=project, environment=environment,
                                  service_name=service, amount_usd=amount, ends_at=ends_at,
                                  starts_at=starts_at, reason=reason, actor=_actor(by), now=now)
            plan_id, start, end = plan.id, plan.starts_at, plan.ends_at
    except ResponseError as exc:
        raise fail(user_message(exc)) from None
    finally:
        services.close()
    if not known:
        say(f"the store has never seen project {project!r}; check the spelling "
            "(`spendwatch costs` lists projects). The plan is kept.", level=logging.WARNING)
    scope = "every environment" if environment == ALL_ENVIRONMENTS else environment
    console.print(f"Plan #{plan_id} added: {escape(project)} / {escape(scope)}"
                  f"{' / ' + escape(service) if service else ''}, {money(amount)} above normal "
                  f"from {start:%Y-%m-%d %H:%M} until {end:%Y-%m-%d %H:%M} UTC.",
                  highlight=False, soft_wrap=True)


def _row(use: PlanUse, now: datetime) -> dict[str, object]:
    plan = use.plan
    state = ("removed" if plan.removed_at is not None
             else "expired" if as_utc(plan.ends_at) <= now else "active")
    return {"id": plan.id, "project": plan.project, "environment": plan.environment,
            "service": plan.service_name, "amount_usd": plan.amount_usd,
            "used_usd": round(use.used_usd, 2), "left_usd": round(use.left_usd, 2),
            "anomalies": use.anomalies, "starts_at": as_utc(plan.starts_at).isoformat(),
            "ends_at": as_utc(plan.ends_at).isoformat(), "state": state,
            "reason": plan.reason, "created_by": plan.created_by,
            "removed_by": plan.removed_by, "anomaly_id": plan.anomaly_id}


@plans_app.command("list")
def list_(
    everything: Annotated[bool, typer.Option(
        "--all", help="Expired and removed plans too.")] = False,
    format_: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    config: ConfigOption = None,
) -> None:
    """Plans in force (or all of them), with the envelope used and left."""
    if format_ not in ("table", "json"):
        raise fail(f"--format {format_!r} is unknown; use table or json")
    now = datetime.now(UTC)
    services = _services(config)
    try:
        with session_scope(services.engine) as session:
            rows = [_row(u, now) for u in plans.list_plans(db_session=session, now=now,
                                                           everything=everything)]
    finally:
        services.close()
    if format_ == "json":
        print(json.dumps(rows, indent=2))
        return
    if not rows:
        console.print("No plans" + ("" if everything else " in force") + "; declare one with "
                      "`spendwatch plans add`.", highlight=False)
        return
    table = Table(title="Plans" if everything else "Plans in force", title_justify="left")
    for column in ("id", "scope", "envelope", "used", "left", "from", "until", "state", "by",
                   "reason"):
        table.add_column(column, overflow="fold")
    for row in rows:
        scope = " / ".join(str(row[k]) for k in ("project", "environment", "service") if row[k])
        table.add_row(str(row["id"]), escape(scope), money(float(str(row["amount_usd"]))),
                      money(float(str(row["used_usd"]))), money(float(str(row["left_usd"]))),
                      str(row["starts_at"])[:16], str(row["ends_at"])[:16], str(row["state"]),
                      escape(str(row["created_by"])), escape(str(row["reason"])))
    console.print(table)


@plans_app.command("remove")
def remove(
    plan_id: Annotated[int, typer.Argument(help="The plan's number (see `plans list`).")],
    by: Annotated[str | None, typer.Option(help="Who removes it (default: login name).")
                  ] = None,
    config: ConfigOption = None,
) -> None:
    """End a plan now: alerts fire again for its workload. Its history is kept."""
    services = _services(config)
    try:
        with session_scope(services.engine) as session:
            plans.remove_plan(db_session=session, plan_id=plan_id, actor=_actor(by),
                              now=datetime.now(UTC))
    except NothingChanged as exc:
        console.print(escape(user_message(exc)), highlight=False)
        return
    except ResponseError as exc:
        raise fail(user_message(exc)) from None
    finally:
        services.close()
    console.print(f"Plan #{plan_id} removed; alerts fire again for its workload.",
                  highlight=False)
