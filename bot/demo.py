"""``spendwatch demo`` (``make demo``): the whole product on generated data, in one work folder.

Every run starts afresh in its work folder (``.demo`` by default): new FOCUS exports ending at
the current hour (about a second to write, and the classic incident is then going on now), a
new SQLite store, no charts from before. So a second run walks the alert and the playbook
again, and a run that was interrupted (Ctrl-C, a killed terminal, mid-walk) is simply started
again and completes. Nothing is written outside the work folder.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.markup import escape

from bot.anomaly.lifecycle import Incident
from bot.anomaly.poll import poll_store
from bot.anomaly.replay import replay
from bot.chat.console.chat import ConsoleSender, run_console_loop
from bot.chat.console.render import (
    console,
    print_anomalies,
    print_ingest,
    print_replay,
    print_summary,
    print_unallocated,
)
from bot.chat.enums import Platform
from bot.chat.text import money
from bot.costs import service as costs
from bot.costs.periods import period_for
from bot.demodata import write_demo_data
from bot.finance.alerting import check_budgets
from bot.finance.config import BudgetSettings
from bot.finance.digest_view import show_digest
from bot.ingest.service import ingest_path
from bot.settings import Settings
from bot.wiring import build_services
from storage.db import session_scope

__all__ = ["DEMO_DIR", "run_demo"]

DEMO_DIR = Path(".demo")
DATABASE = "spendwatch-demo.db"
# what a run leaves in its work folder; the next run removes exactly these
LEFT_BY_A_RUN = (DATABASE, f"{DATABASE}-wal", f"{DATABASE}-shm", f"{DATABASE}-journal",
                 "demo-data", "quarantine", "charts")


def run_demo(*, workdir: Path, interactive: bool) -> None:
    """Generate, ingest, summarise, replay, detect, a budget alert, the whole loop in the
    console chat, then the weekly digest."""
    settings = fresh_workdir(workdir)
    data = workdir / "demo-data"
    console.rule("spendwatch demo")
    console.print(f"Generating four weeks of FOCUS exports of AI and cloud spend in "
                  f"{workdir} ...", highlight=False)
    for path in write_demo_data(data, days=28):
        console.print(f"  {path}", highlight=False)
    _summaries(settings, data)
    console.rule("What hourly detection caught over these four weeks")
    labels_path = data / "labels.json"
    labels = json.loads(labels_path.read_text()) if labels_path.exists() else None
    print_replay(replay(data, settings).alerts, labels)
    console.rule("Anomalies going on now")
    services = build_services(settings)
    try:
        result = poll_store(engine=services.engine, settings=settings)
    finally:
        services.close()
    print_anomalies(result.open)
    if result.open:
        live = max(result.open, key=lambda incident: incident.impact_usd)
        settings = _budget_alert(settings, live)
        _chat(settings, result.open, workdir / "charts", interactive=interactive)
    _digest(settings, workdir / "charts")
    console.rule("done")


def _digest(settings: Settings, chart_dir: Path) -> None:
    """The weekly finance digest as finance would get it now: the week up to the next whole
    hour, so what was just done in the chat is in it."""
    console.rule("The weekly finance digest (finance.digest: Mondays 09:00 UTC by default)")
    week_ending = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(
        hours=1)
    services = build_services(settings)
    try:
        show_digest(engine=services.engine, settings=settings, console=console,
                    week_ending=week_ending, chart_path=chart_dir / "digest-chart.png",
                    what_changed=services.desk().playbook.resolution.what_changed)
    finally:
        services.close()


def fresh_workdir(workdir: Path) -> Settings:
    """Remove what an earlier run left in ``workdir``; the settings of a run there."""
    workdir.mkdir(parents=True, exist_ok=True)
    for name in LEFT_BY_A_RUN:
        path = workdir / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    return Settings(database_url=f"sqlite:///{(workdir / DATABASE).resolve()}",
                    quarantine_dir=workdir / "quarantine")


def _summaries(settings: Settings, data: Path) -> None:
    """Ingest the exports; spend of the last seven days by project and by service."""
    services = build_services(settings)
    try:
        print_ingest(ingest_path(engine=services.engine, settings=settings, path=data))
        with services.engine.connect() as connection:
            end = costs.data_end(connection)
            assert end is not None, "the demo data was just ingested"
            period = period_for("7d", as_of=end)
            summaries = [costs.summarise(connection, period=period, by=by)
                         for by in ("project", "service")]
            loose, total = costs.unallocated(connection, period=period)
    finally:
        services.close()
    for summary in summaries:
        print_summary(summary, project=None, environment=None)
    print_unallocated(loose, total)


def _budget_alert(settings: Settings, live: Incident) -> Settings:
    """A monthly budget on the live incident's workload, at 90 % of its last four weeks'
    pace (the demo's own choice, said on screen), evaluated as each poll does: its alert goes
    through the outbox to the owner's and the finance channel. Returns the settings with it,
    for the rest of the demo."""
    console.rule("A budget on that workload (the poll checks budgets after detection)")
    services = build_services(settings)
    try:
        with services.engine.connect() as connection:
            end = costs.data_end(connection)
            assert end is not None, "the demo data was just ingested"
            pace = costs.summarise(connection, period=period_for("30d", as_of=end),
                                   by="project", project=live.project,
                                   environment=live.environment).total
        amount = max(100.0, round(pace * 0.9, -2))
        budgeted = settings.model_copy(update={"budgets": [BudgetSettings(
            project=live.project, environment=live.environment, monthly=amount)]})
        console.print(f"The demo sets a monthly budget of {money(amount)} on "
                      f"{escape(live.project)} · {escape(live.environment)} (90 % of its "
                      f"spend over the last 30 days).", highlight=False)
        with session_scope(services.engine) as session:
            queued = check_budgets(db_session=session, settings=budgeted,
                                   platforms=(Platform.CONSOLE,), now=end)
        deliverer = services.deliverer(ConsoleSender(console), playbook=services.desk().playbooks,
                                       min_interval=0)
        deliverer.drain()
        if not queued:
            console.print("No threshold of it is passed yet.", highlight=False)
    finally:
        services.close()
    return budgeted


def _chat(settings: Settings, incidents: list[Incident], chart_dir: Path, *,
          interactive: bool) -> None:
    """The whole loop in the console chat: alert, acknowledge, the playbook, the runbook."""
    live = max(incidents, key=lambda incident: incident.impact_usd)
    console.rule("The alert in the owner's channel, and the playbook walk (console chat)")
    services = build_services(settings)
    try:
        run_console_loop(services=services, anomaly_id=live.id, console=console,
                         interactive=interactive, chart_dir=chart_dir)
    except EOFError:
        console.print("\nThe walk stopped before its end (the input ended); `make demo` "
                      "starts it again.")
    finally:
        services.close()
