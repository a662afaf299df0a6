"""Every card the Teams bot can send, drawn from a real walk of a sample anomaly.

``spendwatch teams cards`` writes these so anyone can validate them or paste them into the
Adaptive Cards designer. Nothing here is made up for the occasion: the bundled demo data is
ingested into a temporary SQLite store, detection finds the live incident, and the anomaly is
walked through the real :class:`~bot.anomaly.desk.AnomalyDesk` (acknowledge, snooze, escalate,
each playbook step with the inputs a person would type on the card, read back by
:func:`bot.chat.teams.verbs.step_values`). After each step the card is drawn from the view the
outbox would load (``load_alert_view``), with the chart the outbox would attach. Refused forms
are refused by the engine. Two branches start from copies of the store: one marks the anomaly
expected instead, the other delivers the next hours of spend, in which the spike is over, so
the detector itself declares it back to normal.

This lives outside ``bot/chat`` because it opens the store, which chat adapters never do.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from bot.anomaly.chart import anomaly_chart
from bot.anomaly.desk import AnomalyDesk, ResponseError, StepStarted
from bot.anomaly.enums import AnomalyStatus
from bot.anomaly.poll import poll_store
from bot.anomaly.service import load_alert_view
from bot.anomaly.views import AlertView
from bot.chat.console.chat import DEMO_ANSWERS, PreferOption
from bot.chat.teams.cards import (
    CHART_MAX_BYTES,
    Panel,
    PanelKind,
    alert_card,
    compact_chart_uri,
    text_card,
)
from bot.chat.teams.verbs import (
    EXPECTED_INPUT,
    SNOOZE_INPUT,
    expected_reason,
    field_input_id,
    reason_input_id,
    snooze_hours,
    step_values,
    toggle_input_id,
)
from bot.costs.command import Scope, respond
from bot.costs.views import format_plain
from bot.demodata import write_demo_data
from bot.ingest.service import ingest_path
from bot.playbook import ChecklistField, SelectField, Step, StepError
from bot.settings import Settings
from bot.wiring import Services, build_services
from storage.db import session_scope

__all__ = ["SAMPLE_USER", "SampleCard", "SampleError", "sample_cards"]

SAMPLE_USER = "priya@example.com"
DATABASE = "samples.db"
# answers refused by the engine, to show how a refused step reads on the card
REFUSED: Mapping[str, Mapping[str, object]] = {
    "what_changed": {"change": "unknown", "note": ""},
    "review": {"checks": {"checked": ["guardrail", "limits"], "reason": "later"}},
}
EXPECTED_TOO_SHORT = "test"
EXPECTED_REASON = "Load test of the new agent release until Friday 18:00, approved by Dana."
COST_QUESTION = "cost support-agent prod 7d"


class SampleError(RuntimeError):
    """The sample walk could not run as planned (e.g. the demo data raised no anomaly)."""


@dataclass(frozen=True)
class SampleCard:
    name: str  # the file name without ``.json``, numbered in walk order
    about: str  # what the card shows, one line
    card: dict[str, Any]


def sample_cards(workdir: Path | None = None) -> list[SampleCard]:
    """Every card of the walk, in order; ``workdir`` holds the stores (default: a temporary
    folder, removed afterwards)."""
    if workdir is not None:
        return _Walk(workdir).run()
    with tempfile.TemporaryDirectory(prefix="spendwatch-cards-") as folder:
        return _Walk(Path(folder)).run()


class _Walk:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.cards: list[SampleCard] = []
        self.now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)

    def add(self, slug: str, about: str, card: dict[str, Any]) -> None:
        self.cards.append(SampleCard(f"{len(self.cards) + 1:02d}-{slug}", about, card))

    def run(self) -> list[SampleCard]:
        main = self._settings("main")
        write_demo_data(self.workdir / "demo-data", days=28)
        services = build_services(main)
        try:
            ingest_path(engine=services.engine, settings=main, path=self.workdir / "demo-data")
            found = poll_store(engine=services.engine, settings=main).open
            if not found:
                raise SampleError("the demo data raised no anomaly to draw cards for")
            anomaly_id = max(found, key=lambda incident: incident.impact_usd).id
            services.engine.dispose()
            for branch in ("expected", "back"):
                self._copy_store("main", branch)
            self._main(services, anomaly_id)
            self._costs(services.engine)
        finally:
            services.close()
        self._expected(anomaly_id)
        self._back_to_normal(anomaly_id)
        return self.cards

    # -- the stores --------------------------------------------------------------------------

    def _database(self, branch: str) -> Path:
        return self.workdir / branch / DATABASE

    def _copy_store(self, source: str, branch: str) -> None:
        self._settings(branch)
        for path in self._database(source).parent.glob(f"{DATABASE}*"):
            shutil.copyfile(path, self._database(branch).parent / path.name)

    def _settings(self, branch: str) -> Settings:
        (self.workdir / branch).mkdir(parents=True, exist_ok=True)
        return Settings(database_url=f"sqlite:///{self._database(branch).resolve()}",
                        quarantine_dir=self.workdir / branch / "quarantine")

    def _branch(self, branch: str, walk: Callable[[Services], None]) -> None:
        services = build_services(self._settings(branch))
        try:
            walk(services)
        finally:
            services.close()

    # -- the walk ----------------------------------------------------------------------------

    def _main(self, services: Services, anomaly_id: int) -> None:
        desk = services.desk().with_operator(SAMPLE_USER)
        draw = _Drawer(services.engine, desk, anomaly_id)
        self.add("new", "a new alert, as posted to the owner's channel", draw())
        desk.acknowledge(anomaly_id, user=SAMPLE_USER)
        self.add("acknowledged", "after Acknowledge", draw())
        self.add("snooze", "the snooze panel open", draw(panel=Panel(PanelKind.SNOOZE)))
        desk.snooze(anomaly_id, user=SAMPLE_USER, hours=snooze_hours({SNOOZE_INPUT: "4"}))
        self.add("snoozed", "reminders snoozed for 4 hours", draw())
        desk.escalate(anomaly_id, user=SAMPLE_USER)
        self.add("escalated", "after Escalate", draw())
        started: StepStarted | None = desk.open_step(anomaly_id, user=SAMPLE_USER)
        while started is not None:
            started = self._step(desk, draw, started)
        self.add("resolved", "the playbook finished: resolved, with the runbook entry filed",
                 draw())
        workload = desk.workload_runbook(anomaly_id, user=SAMPLE_USER)
        title = " · ".join(part for part in workload.workload if part)
        self.add("runbook", "the workload's runbook panel",
                 draw(panel=Panel(PanelKind.RUNBOOK, title, tuple(workload.entries))))

    def _step(self, desk: AnomalyDesk, draw: _Drawer,
              started: StepStarted) -> StepStarted | None:
        step, (index, _) = started.step, started.position
        slug = f"step-{index}-{step.id.replace('_', '-')}"
        self.add(slug, f"playbook step {index}: {step.title}", draw(step=started))
        if step.id in REFUSED:
            typed = _typed(step, REFUSED[step.id], started)
            try:
                desk.save_step(draw.anomaly_id, step_id=step.id,
                               values=step_values(step, typed), user=SAMPLE_USER)
            except StepError as refused:
                self.add(f"{slug}-errors", f"step {index} refused: the errors under the inputs",
                         draw(step=started, errors=refused.errors, inputs=typed))
            else:
                raise SampleError(f"the engine accepted the answers meant to be refused in "
                                  f"step {step.id!r}")
        typed = _typed(step, DEMO_ANSWERS.get(step.id, {}), started)
        return desk.save_step(draw.anomaly_id, step_id=step.id, values=step_values(step, typed),
                              user=SAMPLE_USER).following

    def _costs(self, engine: Engine) -> None:
        for slug, question, about in (("cost-answer", COST_QUESTION, "a cost lookup answered"),
                                      ("help", "cost help", "the cost lookup help")):
            answer = format_plain(respond(question.removeprefix("cost").strip(),
                                          connection_or_engine=engine,
                                          scope=Scope.everything())).splitlines()
            self.add(slug, about, text_card(answer[0] if answer else question, answer[1:]))

    def _expected(self, anomaly_id: int) -> None:
        def walk(services: Services) -> None:
            desk = services.desk().with_operator(SAMPLE_USER)
            draw = _Drawer(services.engine, desk, anomaly_id)
            self.add("expected-panel", "the expected panel open",
                     draw(panel=Panel(PanelKind.EXPECTED)))
            typed = {EXPECTED_INPUT: EXPECTED_TOO_SHORT}
            try:
                desk.mark_expected(anomaly_id, user=SAMPLE_USER, reason=expected_reason(typed))
            except ResponseError as refused:
                self.add("expected-errors", "a reason too short, refused",
                         draw(panel=Panel(PanelKind.EXPECTED), errors={"reason": str(refused)},
                              inputs=typed))
            desk.mark_expected(anomaly_id, user=SAMPLE_USER,
                               reason=expected_reason({EXPECTED_INPUT: EXPECTED_REASON}))
            self.add("expected", "marked expected, with the reason shown", draw())

        self._branch("expected", walk)

    def _back_to_normal(self, anomaly_id: int) -> None:
        def walk(services: Services) -> None:
            # the next hours of spend arrive in a new export, and the spike is over in them
            later = self.workdir / "back" / "demo-data"
            write_demo_data(later, days=28, end=self.now + timedelta(hours=13))
            ingest_path(engine=services.engine, settings=services.settings, path=later)
            poll_store(engine=services.engine, settings=services.settings)
            draw = _Drawer(services.engine, services.desk(), anomaly_id)
            view = draw.view()
            if view.status != AnomalyStatus.AUTO_RESOLVED:
                raise SampleError(f"the spike did not end in the later export (status "
                                  f"{view.status!r})")
            self.add("back-to-normal", "spend back to normal before anyone acted", draw())

        self._branch("back", walk)


class _Drawer:
    """Draws the anomaly's card from the view the outbox would load, with its chart."""

    def __init__(self, engine: Engine, desk: AnomalyDesk, anomaly_id: int) -> None:
        self.engine = engine
        self.desk = desk
        self.anomaly_id = anomaly_id
        self._chart: str | None = None

    def view(self) -> AlertView:
        with session_scope(self.engine) as session:
            return load_alert_view(db_session=session, anomaly_id=self.anomaly_id,
                                   playbook=self.desk.playbooks)

    def chart(self) -> str | None:
        if self._chart is None:
            with session_scope(self.engine) as session:
                drawn = anomaly_chart(session, self.anomaly_id)
            self._chart = (compact_chart_uri(drawn[0], max_bytes=CHART_MAX_BYTES) if drawn
                           else None)
        return self._chart

    def __call__(self, **options: Any) -> dict[str, Any]:
        return alert_card(self.view(), chart_uri=self.chart(), **options)


def _typed(step: Step, answers: Mapping[str, object], started: StepStarted) -> dict[str, Any]:
    """What a person types on the card for ``answers`` (the raw values of a scripted walk)."""
    typed: dict[str, Any] = {}
    for field in step.fields:
        raw = answers.get(field.id)
        if isinstance(field, ChecklistField):
            checked = raw.get("checked") if isinstance(raw, Mapping) else raw
            ticked = set(checked) if isinstance(checked, list | tuple) else set()
            for item in field.items:
                typed[toggle_input_id(field.id, item.value)] = (
                    "true" if item.value in ticked else "false")
            if field.reason_label:
                reason = raw.get("reason") if isinstance(raw, Mapping) else None
                typed[reason_input_id(field.id)] = reason or ""
            continue
        if isinstance(raw, PreferOption) and isinstance(field, SelectField):
            raw = raw.choose(field.offered(started.options))
        elif raw is None and field.kind == "user":
            raw = SAMPLE_USER
        typed[field_input_id(field.id)] = "" if raw is None else str(raw)
    return typed
