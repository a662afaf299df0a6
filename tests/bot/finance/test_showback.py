"""Showback: shared pools split across projects, every pool's shares adding up to the cent."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.finance.showback import (
    Showback,
    ShowbackError,
    month_bounds,
    pool_of,
    showback,
    split_cents,
    to_cents,
)
from bot.settings import ConfigError, SharedCost, parse_settings


def spend(*lines: tuple[str, str, float]) -> pd.DataFrame:
    """Lines of spend as (project, sub account, cost), on one service."""
    return pd.DataFrame(
        [{"project": p, "sub_account_id": a, "service_name": "Amazon EC2", "cost": c}
         for p, a, c in lines], columns=["project", "sub_account_id", "service_name", "cost"])


def pool(name: str = "k8s", account: str = "999", **rest: Any) -> SharedCost:
    return SharedCost.model_validate({"name": name, "match": {"sub_account_id": [account]},
                                      **rest})


def shares(result: Showback, name: str) -> dict[str, int]:
    return next(p.shares for p in result.pools if p.name == name)


# --- the split itself -------------------------------------------------------------------------

weights = st.dictionaries(
    st.text("abcdefgh", min_size=1, max_size=3),
    st.one_of(st.integers(0, 10**9), st.floats(0, 1e9, allow_nan=False)),
    min_size=1, max_size=12,
).filter(lambda w: sum(Fraction(v) for v in w.values()) > 0)


@settings(deadline=None)
@given(total=st.integers(-10**11, 10**11), weights=weights)
def test_shares_add_up_to_the_total_to_the_cent(total: int, weights: dict[str, float]) -> None:
    split = split_cents(total, weights)
    assert sum(split.values()) == total
    assert set(split) == set(weights)
    whole = sum(Fraction(w) for w in weights.values())
    for key, cents in split.items():  # never more than a cent from the exact quota
        assert abs(cents - total * Fraction(weights[key]) / whole) < 1


@settings(deadline=None)
@given(amounts=st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=20),
       split=st.sampled_from(["proportional", "even"]))
def test_every_pool_of_a_showback_adds_up(amounts: list[float], split: str) -> None:
    projects = ["a", "b", "c", ""]
    lines = [(projects[i % 4], "999" if i % 3 == 0 else "1", amount)
             for i, amount in enumerate(amounts)]
    result = showback(spend(*lines), [pool(split=split)])
    k8s = result.pools[0]
    exact = sum(Fraction(a) for _, acct, a in lines if acct == "999") * 100
    assert abs(k8s.total_cents - exact) <= Fraction(1, 2) + Fraction(1, 10**6)
    assert sum(k8s.shares.values()) == k8s.total_cents
    assert sum(p.shared_cents.get("k8s", 0) for p in result.projects) == k8s.total_cents
    assert result.total_cents == sum(p.total_cents for p in result.projects)


def test_even_split_gives_the_remainder_cent_to_the_first_project() -> None:
    assert split_cents(10_000, {"a": 1, "b": 1, "c": 1}) == {"a": 3334, "b": 3333, "c": 3333}


def test_a_tied_cent_goes_to_the_project_named_first_not_the_first_alphabetically() -> None:
    assert split_cents(101, {"zeta": 1, "alpha": 1}) == {"zeta": 51, "alpha": 50}


def test_a_credit_is_split_with_its_sign() -> None:
    assert split_cents(-101, {"a": 7, "b": 3}) == {"a": -71, "b": -30}


@pytest.mark.parametrize("weights", [{}, {"a": 0, "b": 0}, {"a": -1, "b": 2}])
def test_weights_that_cannot_split_are_refused(weights: dict[str, int]) -> None:
    with pytest.raises(ShowbackError, match="weights of 0 or more"):
        split_cents(100, weights)


def test_cents_round_half_away_from_zero() -> None:
    assert [to_cents(x) for x in (0.125, -0.125, 12.344, 0.0)] == [13, -13, 1234, 0]


# --- hand-checked showbacks -------------------------------------------------------------------


def test_proportional_to_direct_spend_70_30() -> None:
    frame = spend(("support-agent", "1", 70.0), ("search", "1", 30.0),
                  ("support-agent", "999", 10.0))  # tagged, but on the shared account
    result = showback(frame, [pool()])
    rows = {p.project: p for p in result.projects}
    assert rows["support-agent"].direct_cents == 7000
    assert rows["support-agent"].shared_cents == {"k8s": 700}
    assert rows["search"].shared_cents == {"k8s": 300}
    assert rows["support-agent"].total_cents == 7700
    assert result.direct_cents == 10_000 and result.shared_cents == 1000
    assert [p.project for p in result.projects] == ["support-agent", "search"]


def test_a_listed_project_without_direct_spend_gets_nothing_proportionally() -> None:
    frame = spend(("a", "1", 50.0), ("b", "1", 0.0), ("k8s", "999", 9.99))
    result = showback(frame, [pool(projects=["a", "b"])])
    assert shares(result, "k8s") == {"a": 999, "b": 0}
    assert result.notes == ["k8s: b had no direct spend, so took no share"]
    assert [p.project for p in result.projects] == ["a"]


def test_unallocated_spend_is_its_own_row_and_consumes_nothing() -> None:
    frame = spend(("a", "1", 5.0), ("", "1", 2.0), ("unallocated", "1", 1.0),
                  ("", "999", 3.0))
    result = showback(frame, [pool()])
    rows = {p.project: p for p in result.projects}
    assert rows["unallocated"].direct_cents == 300
    assert rows["unallocated"].shared_cents == {}
    assert shares(result, "k8s") == {"a": 300}
    assert result.projects[-1].project == "unallocated"


def test_fixed_percentages_split_by_largest_remainder() -> None:
    frame = spend(("a", "1", 1.0), ("b", "1", 1.0), ("x", "999", 0.99))
    result = showback(frame, [pool(split="fixed", percentages={"a": 60, "b": 40})])
    assert shares(result, "k8s") == {"a": 59, "b": 40}  # 59.4 and 39.6: the cent goes to b
    assert result.notes == []


def test_fixed_share_of_a_project_without_spend_is_pointed_out() -> None:
    frame = spend(("search-api", "1", 1.0), ("x", "999", 10.0))
    result = showback(frame, [pool(split="fixed", percentages={"search": 100})])
    assert shares(result, "k8s") == {"search": 1000}
    assert result.notes == ["k8s: search had no direct spend but took a fixed share; check "
                            "the project names in percentages"]


def test_no_direct_spend_falls_back_to_even_and_says_so() -> None:
    frame = spend(("x", "999", 1.00))
    result = showback(frame, [pool(projects=["a", "b", "c"])])
    k8s = result.pools[0]
    assert k8s.split == "even"
    assert k8s.shares == {"a": 34, "b": 33, "c": 33}
    assert result.notes == ["k8s: none of its projects had direct spend, so it was split evenly"]


def test_a_pool_nobody_consumes_stays_unallocated_and_says_so() -> None:
    result = showback(spend(("x", "999", 4.0)), [pool()])
    assert shares(result, "k8s") == {"unallocated": 400}
    assert result.total_cents == 400
    assert "list its projects under projects" in result.notes[0]


def test_an_empty_period_has_no_rows_and_nothing_to_note() -> None:
    result = showback(spend(), [pool(), pool("obs", split="even")])
    assert result.projects == [] and result.notes == [] and result.total_cents == 0


def test_a_line_belongs_to_the_first_pool_it_matches() -> None:
    frame = pd.DataFrame([
        {"project": "a", "sub_account_id": "999", "service_name": "AmazonCloudWatch",
         "environment": "prod", "cost": 1.0},
        {"project": "a", "sub_account_id": "1", "service_name": "AmazonCloudWatch",
         "environment": "prod", "cost": 1.0},
        {"project": "a", "sub_account_id": "1", "service_name": "EC2", "environment": "prod",
         "cost": 1.0},
        {"project": "platform", "sub_account_id": "1", "service_name": "EC2",
         "environment": "prod", "cost": 1.0},
    ])
    pools = [pool(),
             SharedCost.model_validate({"name": "obs", "match": {"service_name": ["amazon*"]}}),
             SharedCost.model_validate({"name": "platform",
                                        "match": {"tag": {"project": "PLATFORM"}}})]
    assert pool_of(frame, pools).tolist() == ["k8s", "obs", "", "platform"]


# --- configuration ----------------------------------------------------------------------------


def config_error(*shared: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as raised:
        parse_settings({"showback": {"shared": list(shared)}})
    return str(raised.value)


def test_a_config_example_parses() -> None:
    settings = parse_settings({"showback": {"shared": [
        {"name": "platform-k8s", "match": {"sub_account_id": ["111122223333"]},
         "split": "fixed", "projects": ["support-agent", "search"],
         "percentages": {"support-agent": 70, "search": 30}}]}})
    assert settings.showback.shared[0].percentages == {"support-agent": 70, "search": 30}
    assert parse_settings({}).showback.shared == []


@pytest.mark.parametrize(("entry", "words"), [
    ({"split": "fixed", "percentages": {"a": 70, "b": 20}}, "add up to 90, not 100"),
    ({"split": "fixed", "percentages": {"a": 120, "b": -20}}, "b are below 0"),
    ({"split": "fixed"}, "split: fixed needs percentages"),
    ({"split": "even", "percentages": {"a": 100}}, "percentages go with split: fixed"),
    ({"split": "fixed", "projects": ["a"], "percentages": {"b": 100}}, "list the same projects"),
    ({"split": "weighted"}, "showback.shared.0.split"),
])
def test_invalid_pools_are_refused_naming_the_key(entry: dict[str, Any], words: str) -> None:
    message = config_error({"name": "k8s", "match": {"sub_account_id": ["1"]}, **entry})
    assert "showback.shared.0" in message and words in message


def test_a_match_must_name_something_it_knows() -> None:
    assert "must name at least one of" in config_error({"name": "k8s", "match": {}})
    message = config_error({"name": "k8s", "match": {"account": ["1"]}})
    assert "showback.shared.0.match.account: unknown key" in message
    assert "sub_account_id" in message
    assert "tag.team" in config_error({"name": "k8s", "match": {"tag": {"team": "x"}}})


def test_two_pools_of_one_name_are_refused() -> None:
    entry = {"name": "k8s", "match": {"sub_account_id": ["1"]}}
    assert "two shared pools are called k8s" in config_error(entry, entry)


def test_a_period_is_a_month() -> None:
    start, end = month_bounds("2026-12")
    assert (start.isoformat(), end.isoformat()) == ("2026-12-01T00:00:00+00:00",
                                                    "2027-01-01T00:00:00+00:00")
    for bad in ("2026-1", "2026-13", "October", "2026-10-01"):
        with pytest.raises(ShowbackError, match="give it as YYYY-MM"):
            month_bounds(bad)
