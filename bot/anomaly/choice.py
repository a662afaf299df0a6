"""Which playbook an anomaly gets, and the levers it offers, from the anomaly and the store.

The match rules compare facts of the anomaly row (project, environment, phase, kind) and of
its top contributor, the service that rose most. The evidence names that service but not its
kind of spend, so the FOCUS category and unit come from the stored lines of that service for
the workload; :func:`bot.anomaly.levers.category_for` turns them into the kind of spend (LLM
tokens, GPU hours, logs...), which the FOCUS category alone cannot tell apart. When the store
holds no line of that service any more (pruned, or an anomaly made by hand), both stay unknown
and only rules on the other keys can hold: a guess from the name alone would pick a playbook
the data does not support.

Once a walk has started, its playbook is the one stored with it, never a fresh choice: a rule
edited later must not move a team to other steps halfway through. Only when that playbook is
no longer installed does the walk fall back to the default, keeping the answers to the steps
the two share.
"""

from __future__ import annotations

from sqlalchemy.orm import object_session
from sqlmodel import Session

from bot.anomaly.levers import Lever, category_for, levers_for_services, levers_with_estimates
from bot.changes.notes import change_options
from bot.playbook import Option, Playbook, PlaybookState
from bot.playbook.library import PlaybookLibrary
from bot.playbook.match import AnomalyFacts
from bot.playbook.savings import SpendFigures
from storage import queries
from storage.models import Anomaly, PlaybookRun
from storage.timeutil import as_utc

__all__ = [
    "anomaly_facts", "lever_options", "levers_of", "playbook_of", "rebase", "spend_figures",
]


def anomaly_facts(*, db_session: Session, anomaly: Anomaly) -> AnomalyFacts:
    """The facts the match rules compare, with the top contributor's kind of spend."""
    contributors = (anomaly.evidence or {}).get("contributors") or []
    category = spend = ""
    if contributors:
        top = contributors[0]
        service_name, sku = str(top.get("service", "")), str(top.get("sku", ""))
        lines = queries.series.service_kinds(
            db_session=db_session, project=anomaly.project, environment=anomaly.environment,
            service_name=service_name)
        line = next((x for x in lines if sku and x[2] == sku), lines[0] if lines else None)
        if line is not None:
            category = line[0]
            spend = category_for(service_name=service_name, service_category=category,
                                 usage_unit=line[1]).value
    return AnomalyFacts(project=anomaly.project, environment=anomaly.environment,
                        phase=anomaly.phase, kind=anomaly.kind, cost_category=category,
                        spend=spend)


def playbook_of(*, db_session: Session, library: PlaybookLibrary, anomaly: Anomaly,
                run: PlaybookRun | None) -> Playbook:
    """The walk's stored playbook once started (the default if it was removed since), else
    the one the match rules choose now."""
    if run is not None:
        return library.get(run.playbook) or library.default
    return library.choose(anomaly_facts(db_session=db_session, anomaly=anomaly))


def rebase(state: PlaybookState, playbook: Playbook) -> PlaybookState:
    """A walk's answers carried over to ``playbook`` (when its own was removed): the steps
    both share are kept, the others dropped."""
    if state.playbook == playbook.name:
        return state
    ids = {s.id for s in playbook.steps}
    steps = {k: v for k, v in state.steps.items() if k in ids}
    return state.model_copy(update={"playbook": playbook.name, "steps": steps})


def spend_figures(anomaly: Anomaly) -> SpendFigures:
    return SpendFigures(expected_hourly=anomaly.expected_cost,
                        actual_hourly=anomaly.actual_cost, excess_so_far=anomaly.impact_usd,
                        newest_hour=as_utc(anomaly.last_seen_at))


def levers_of(anomaly: Anomaly, playbook: Playbook | None) -> list[Lever]:
    """The playbook's own levers with what each saves for this anomaly; for a playbook that
    has none, the usual levers for the kinds of spend of the top contributors."""
    if playbook is not None and playbook.levers:
        return levers_with_estimates(playbook.levers, spend_figures(anomaly))
    contributors = (anomaly.evidence or {}).get("contributors") or []
    return levers_for_services([(str(c.get("service", "")), "") for c in contributors[:3]])


def lever_options(anomaly: Anomaly, playbook: Playbook | None = None, *,
                  db_session: Session | None = None) -> dict[str, list[Option]]:
    """The options a step's select takes from the anomaly: the levers of the stabilise step
    (``options_from: levers``) and the changes recorded before it started, for the "what
    changed" step (``options_from: changes``).

    The changes are read in ``db_session``, by default the session the anomaly was loaded in
    (the caller's transaction); an anomaly that belongs to no session offers none.
    """
    session = db_session if db_session is not None else object_session(anomaly)
    changes = change_options(session, anomaly) if isinstance(session, Session) else []
    return {"levers": [Option(value=lever.id, label=lever.title)
                       for lever in levers_of(anomaly, playbook)],
            "changes": changes}
