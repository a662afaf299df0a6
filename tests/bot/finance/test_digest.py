"""The digest's figures against the hand-built store of ``tests/support/digest_store.py``,
worked out by hand (the arithmetic is in the comments), on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from bot.finance.digest import (
    Digest,
    DigestError,
    caught_early,
    compute_digest,
    digest_key,
    week_bounds,
)
from bot.finance.digest_view import digest_chart_png, digest_text
from bot.settings import Settings, parse_settings
from storage.db import session_scope
from storage.models import Anomaly
from tests.support.digest_store import LABELS, WEEK_ENDING, WEEK_START, at, build_store


def budgeted(settings: Settings) -> Settings:
    return parse_settings({"database_url": settings.database_url,
                           "budgets": [{"project": "web", "environment": "prod",
                                        "monthly": 1000}]})


@pytest.fixture
def digest(engine: Engine, settings: Settings) -> Digest:
    build_store(engine)
    with session_scope(engine) as session:
        return compute_digest(db_session=session, settings=budgeted(settings),
                              week_ending=WEEK_ENDING)


def test_spend_by_project_and_day_matches_the_hand_sums(digest: Digest) -> None:
    assert (digest.week_start, digest.week_ending) == (WEEK_START, WEEK_ENDING)
    assert digest.key == "digest:2026-W48"  # the week starts Monday Nov 23: ISO week 48
    # 504 + 72 + 168 = 744 this week; 336 + 168 + 84 = 588 before; +156 = +26.53 %
    assert digest.total == pytest.approx(744.0)
    assert digest.previous_total == pytest.approx(588.0)
    assert digest.change_pct == pytest.approx(156 / 588 * 100)
    # days 1-3: web 72 + api 24 + unallocated 24 = 120; days 4-7: 72 + 24 = 96
    assert digest.daily == pytest.approx((120, 120, 120, 96, 96, 96, 96))
    # every day before: 48 + 24 + 12 = 84
    assert digest.daily_previous == pytest.approx((84,) * 7)
    assert [d.isoformat() for d in digest.days[:2]] == ["2026-11-23T09:00:00+00:00",
                                                        "2026-11-24T09:00:00+00:00"]
    rows = {p.project: (p.spend, p.previous) for p in digest.projects}
    assert rows == {"web": pytest.approx((504.0, 336.0)), "api": pytest.approx((72.0, 168.0)),
                    "unallocated": pytest.approx((168.0, 84.0))}
    assert [p.project for p in digest.projects] == ["web", "unallocated", "api"]
    api = next(p for p in digest.projects if p.project == "api")
    assert api.change == pytest.approx(-96.0) and api.change_pct == pytest.approx(-96 / 168 * 100)


def test_the_budget_is_read_as_of_the_end_of_the_week(digest: Digest) -> None:
    web = next(p for p in digest.projects if p.project == "web")
    [budget] = web.budgets
    # November so far at the week's end: 168 h x $2 + 168 h x $3 = $840 of $1,000 (84 %);
    # the $10 at Nov 30 09:00 is after the week
    assert budget.spent == pytest.approx(840.0)
    assert budget.budget.amount == 1000.0 and budget.percent_spent == pytest.approx(84.0)
    assert budget.budget.period_label == "November 2026" and budget.budget.label == "web · prod"
    assert budget.forecast is not None and budget.forecast >= budget.spent
    assert all(not p.budgets for p in digest.projects if p.project != "web")


def test_anomalies_opened_and_resolved_with_their_impact(digest: Digest, engine: Engine) -> None:
    # opened in the week: A1, A2, A4 ($200 + $50 + $30 = $280); A3 was the week before, A5 after
    assert [a.impact_usd for a in digest.opened] == [200.0, 50.0, 30.0]
    assert digest.opened_impact == pytest.approx(280.0)
    # resolved in the week: A3 (expected Nov 23 10:00), A1 (playbook Nov 25 12:00), A2 (the
    # detector, Nov 28 08:00): $80 + $200 + $50 = $330
    assert sorted(a.impact_usd for a in digest.resolved) == [50.0, 80.0, 200.0]
    assert digest.resolved_impact == pytest.approx(330.0)
    assert {a.resolved_at for a in digest.resolved} == {at(23, 10), at(25, 12), at(28, 8)}


def test_time_to_acknowledge_and_to_resolve(digest: Digest) -> None:
    # first act in the week: A1 12:00 -> 12:30 = 0.5 h (the playbook started), A2 23:00 ->
    # 01:00 = 2 h, A4 06:00 -> 10:00 = 4 h (its second acknowledgement is not the first);
    # A3's was the week before. Median 2 h, mean 6.5 / 3 h
    assert digest.acknowledge.count == 3
    assert digest.acknowledge.median_hours == pytest.approx(2.0)
    assert digest.acknowledge.mean_hours == pytest.approx(6.5 / 3)
    # resolved in the week: A1 Nov 24 12:00 -> Nov 25 12:00 = 24 h, A2 Nov 27 23:00 -> Nov 28
    # 08:00 = 9 h, A3 Nov 20 10:00 -> Nov 23 10:00 = 72 h. Median 24 h, mean 105 / 3 = 35 h
    assert digest.resolve.count == 3
    assert digest.resolve.median_hours == pytest.approx(24.0)
    assert digest.resolve.mean_hours == pytest.approx(35.0)


def test_spend_caught_early_against_a_daily_detector(digest: Digest) -> None:
    early = {c.anomaly_id: (c.rate_per_hour, c.hours_saved, c.usd) for c in digest.early}
    ordered = [early[a.anomaly_id] for a in digest.opened]
    assert ordered == [
        # A1: $200 over 10 h = $20/h; a daily detector: Nov 24 00:00 + 48 h = Nov 26 00:00,
        # 36 h after 12:00 on Nov 24: $720
        pytest.approx((20.0, 36.0, 720.0)),
        # A2: $50 over 5 h = $10/h; Nov 29 00:00 - Nov 27 23:00 = 25 h: $250
        pytest.approx((10.0, 25.0, 250.0)),
        # A4: $30 over 2 h = $15/h; Dec 1 00:00 - Nov 29 06:00 = 42 h: $630
        pytest.approx((15.0, 42.0, 630.0)),
    ]
    assert digest.caught_early_usd == pytest.approx(1600.0)


def test_hours_saved_run_from_detection_to_the_day_s_end_plus_a_day() -> None:
    # a long ramp, detected two days after it started: counted from its detection day
    late = Anomaly(id=9, project="p", environment="prod", owner="o", phase="run",
                   kind="ramp", started_at=at(1, 0), detected_at=at(3, 12),
                   last_seen_at=at(3, 12), impact_usd=100.0, evidence={})
    assert caught_early(late).hours_saved == pytest.approx(36.0)  # Nov 5 00:00 - Nov 3 12:00
    late.detected_at = at(3, 0)
    late.started_at = late.last_seen_at = at(3, 0)
    assert caught_early(late).usd == pytest.approx(100.0 * 48)  # a whole day and its lag


def test_the_top_what_changed_answers_of_the_week(digest: Digest) -> None:
    # logging twice (A1, A2); model and traffic once each (A3's traffic was the week before)
    assert digest.what_changed == ((LABELS["logging"], 2), (LABELS["model"], 1),
                                   (LABELS["traffic"], 1))


def test_unallocated_spend_and_its_trend(digest: Digest) -> None:
    loose = digest.unallocated
    # $168 this week, $84 before: +100 %; 168 / 744 = 22.58 % of spend; $24 every day
    assert (loose.spend, loose.previous) == pytest.approx((168.0, 84.0))
    assert loose.change_pct == pytest.approx(100.0)
    assert loose.share == pytest.approx(168 / 744 * 100)
    assert loose.days == pytest.approx((24.0,) * 7)


def test_the_text_carries_the_figures(digest: Digest) -> None:
    text = digest_text(digest)
    assert "Spend: $744.00 (+$156.00, +26.5% on $588.00 the week before)" in text
    assert "• web: $504.00 (+$168.00, +50.0% on $336.00 the week before); budget web · prod, " \
           "November 2026: $840.00 of $1,000.00 (84%)" in text
    assert "Anomalies: 3 opened ($280.00 over expected), 3 resolved ($330.00)" in text
    assert "Time to acknowledge: median 2.0 h, mean 2.2 h (3 anomalies)" in text
    assert "Time to resolve: median 24.0 h, mean 35.0 h (3 anomalies)" in text
    assert "Spend caught early: $1,600.00 (3 anomalies seen 34 h on average" in text
    assert f"What changed, most often: {LABELS['logging']} (2);" in text
    assert ("Unallocated spend: $168.00, 22.6% of spend (+$84.00, +100.0% on $84.00 the week "
            "before); day by day: $24 · $24 · $24 · $24 · $24 · $24 · $24") in text
    assert len(text) < 3000  # one Slack section


def test_an_empty_store_gives_an_empty_digest_that_still_reads(engine: Engine,
                                                               settings: Settings) -> None:
    with session_scope(engine) as session:
        empty = compute_digest(db_session=session, settings=settings, week_ending=WEEK_ENDING)
    assert empty.total == 0 and not empty.opened and empty.acknowledge.median_hours is None
    text = digest_text(empty)
    assert "Time to acknowledge: none this week" in text and "no spend in either week" in text
    assert digest_chart_png(empty.days, empty.daily, empty.daily_previous)[:4] == b"\x89PNG"


def test_a_week_that_does_not_end_on_the_hour_is_refused() -> None:
    with pytest.raises(DigestError, match="on the hour.*2026-11-30T09:00Z"):
        week_bounds(datetime(2026, 11, 30, 9, 30, tzinfo=UTC))
    assert digest_key(datetime(2027, 1, 4, 9, tzinfo=UTC)) == "digest:2026-W53"
    assert week_bounds(WEEK_ENDING)[0] == WEEK_ENDING - timedelta(days=7)


def test_the_chart_is_a_png_of_the_alert_chart_s_size(digest: Digest) -> None:
    png = digest_chart_png(digest.days, digest.daily, digest.daily_previous)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (1000, 450)
    with pytest.raises(ValueError, match="one amount per day"):
        digest_chart_png(digest.days, digest.daily[:3], digest.daily_previous)


def test_a_late_export_is_said_so(engine: Engine, settings: Settings) -> None:
    # the store's spend stops at Nov 30 08:00 (+ the $10 at 09:00): a week ending at 09:00 is
    # whole; one ending at noon is not
    build_store(engine)
    with session_scope(engine) as session:
        whole = compute_digest(db_session=session, settings=settings, week_ending=WEEK_ENDING)
        later = compute_digest(db_session=session, settings=settings,
                               week_ending=WEEK_ENDING + timedelta(hours=3))
    assert not whole.late_data and "not counted yet" not in digest_text(whole)
    assert later.late_data and later.data_end == WEEK_ENDING + timedelta(hours=1)
    assert ("Spend data reaches Nov 30 10:00 UTC only: later hours are not counted yet"
            in digest_text(later))
