"""Allocation of spend (project, environment, owner, phase, cost centre); factorize_rows."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.ingest.allocation import DIMENSIONS, UNALLOCATED, Allocator
from bot.ingest.frames import factorize_rows
from bot.settings import AllocationRule, AllocationSettings

U = UNALLOCATED
CONTEXT_DEFAULTS = {
    "provider": "AWS",
    "billing_account_id": "999999999999",
    "sub_account_id": "222222222222",
    "sub_account_name": "web-prod",
    "service_name": "Amazon EC2",
    "region": "us-east-1",
}
TEXT_COLUMNS = list(CONTEXT_DEFAULTS)

RDS_RULE = AllocationRule(
    match={"sub_account": "1111*", "service": "Amazon RDS"},
    set={"project": "shared-db", "owner": "team-platform", "environment": "prod"},
)


def line_items(rows: list[dict[str, Any]], index: list[int] | None = None) -> pd.DataFrame:
    """Parsed line items shaped like ingestion's: categorical text, tags as JSON text."""
    n = len(rows)
    frame = pd.DataFrame(
        {
            "start": pd.date_range("2024-03-01", periods=n, freq="h", tz="UTC"),
            "end": pd.date_range("2024-03-01 01:00", periods=n, freq="h", tz="UTC"),
            "billed_cost": [float(i + 1) for i in range(n)],
            "effective_cost": [float(i + 1) * 0.9 for i in range(n)],
            "currency": pd.Categorical(["USD"] * n),
            "charge_category": ["Usage"] * n,
            "usage_quantity": [1.0] * n,
            **{
                column: pd.Categorical([r.get(column, CONTEXT_DEFAULTS[column]) for r in rows])
                for column in TEXT_COLUMNS
            },
            "service_category": pd.Categorical(["Compute"] * n),
            "usage_unit": pd.Categorical(["Hours"] * n),
            "tags": pd.Series([r.get("tags") for r in rows], dtype=object),
            "row_number": np.arange(2, n + 2),
        }
    )
    if index is not None:
        frame.index = index
    return frame


def allocate(tags: Any, settings: AllocationSettings | None = None, **context: str) -> dict:
    """Allocation of a single line item, through the same path ingestion uses."""
    text = json.dumps(tags) if isinstance(tags, dict) else tags
    out, _ = Allocator(settings or AllocationSettings()).allocate_frame(
        line_items([{"tags": text, **context}])
    )
    return {d: out[d].iloc[0] for d in DIMENSIONS}


def expect(
    project: str = U,
    environment: str = U,
    owner: str = U,
    phase: str = U,
    cost_center: str = U,
) -> dict[str, str]:
    return {
        "project": project,
        "environment": environment,
        "owner": owner,
        "phase": phase,
        "cost_center": cost_center,
    }


# --- tags ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        pytest.param({"project": "web"}, expect(project="web"), id="plain"),
        pytest.param({"Project": "web"}, expect(project="web"), id="capitalised-key"),
        pytest.param({"PROJECT": "web"}, expect(project="web"), id="upper-key"),
        pytest.param({"  project ": "web"}, expect(project="web"), id="spaces-around-key"),
        pytest.param({"user:project": "web"}, expect(project="web"), id="aws-user-prefix"),
        pytest.param({"User:Project": "web"}, expect(project="web"), id="aws-prefix-mixed-case"),
        pytest.param({" user: project ": "web"}, expect(project="web"), id="aws-prefix-spaces"),
        pytest.param({"proj": "web"}, expect(project="web"), id="alias-proj"),
        pytest.param({"env": "dev"}, expect(environment="dev", phase="build"), id="alias-env"),
        pytest.param({"team": "platform"}, expect(owner="platform"), id="alias-team"),
        pytest.param({"owner": "alice"}, expect(owner="alice"), id="owner"),
        pytest.param({"CostCenter": "cc-7"}, expect(cost_center="cc-7"), id="costcenter"),
        pytest.param({"cost-center": "cc-7"}, expect(cost_center="cc-7"), id="cost-center"),
        pytest.param({"user:Cost Centre": "cc-7"}, expect(cost_center="cc-7"), id="cost-centre"),
        pytest.param({"project": "  web "}, expect(project="web"), id="value-stripped"),
        pytest.param({"project": 42}, expect(project="42"), id="numeric-value"),
        pytest.param({"application": "web"}, expect(), id="unknown-key-ignored"),
        pytest.param({"projects": "web"}, expect(), id="near-miss-key-ignored"),
        pytest.param(
            {"project": "web", "environment": "prod", "owner": "alice", "cost_center": "cc-1"},
            expect("web", "prod", "alice", "run", "cc-1"),
            id="everything",
        ),
    ],
)
def test_tag_keys(tags: dict, expected: dict[str, str]) -> None:
    assert allocate(tags) == expected


@pytest.mark.parametrize(
    ("value", "environment"),
    [
        ("prod", "prod"),
        ("Production", "prod"),
        ("PRD", "prod"),
        (" live ", "prod"),
        ("Staging", "staging"),
        ("stg", "staging"),
        ("preprod", "staging"),
        ("Development", "dev"),
        ("QA", "test"),
        ("testing", "test"),
        ("sbx", "sandbox"),
        ("Perf", "perf"),  # unknown values are kept, lower-cased
    ],
)
def test_environment_values_are_folded(value: str, environment: str) -> None:
    assert allocate({"environment": value})["environment"] == environment


@pytest.mark.parametrize(
    ("tags", "phase"),
    [
        pytest.param({"env": "Production"}, "run", id="prod-runs"),
        pytest.param({"env": "staging"}, "build", id="staging-builds"),
        pytest.param({"env": "dev"}, "build", id="dev-builds"),
        pytest.param({"env": "sandbox"}, "build", id="sandbox-builds"),
        pytest.param({"env": "prod", "phase": "Move"}, "move", id="phase-tag-wins"),
        pytest.param({"env": "dev", "lifecycle": "run"}, "run", id="lifecycle-alias-wins"),
        pytest.param({"phase": "build"}, "build", id="phase-without-environment"),
        pytest.param({"env": "perf"}, U, id="unknown-environment"),
        pytest.param({"project": "web"}, U, id="no-environment"),
    ],
)
def test_phase(tags: dict, phase: str) -> None:
    assert allocate(tags)["phase"] == phase


@pytest.mark.parametrize(
    "tags",
    [
        pytest.param(None, id="none"),
        pytest.param(float("nan"), id="nan"),
        pytest.param("", id="empty-text"),
        pytest.param("   ", id="blank-text"),
        pytest.param("{}", id="empty-object"),
        pytest.param({"project": ""}, id="empty-value"),
        pytest.param({"project": "   "}, id="blank-value"),
        pytest.param({"project": None}, id="null-value"),
    ],
)
def test_missing_values_are_unallocated(tags: Any) -> None:
    assert allocate(tags) == expect()


def test_empty_alias_value_does_not_hide_another_alias() -> None:
    assert allocate({"project": "", "proj": "web"})["project"] == "web"


def test_custom_tag_keys_replace_only_their_dimension() -> None:
    custom = AllocationSettings(tag_keys={"project": ["app"]})
    assert allocate({"App": "web"}, custom)["project"] == "web"
    assert allocate({"proj": "web"}, custom)["project"] == U
    assert allocate({"env": "prd", "team": "x"}, custom) == expect(
        environment="prod", owner="x", phase="run"
    )


def test_custom_environment_aliases_and_phase() -> None:
    custom = AllocationSettings(
        environment_aliases={"live": ["prod", "production"]},
        phase_by_environment={"live": "run"},
    )
    assert allocate({"env": "Production"}, custom) == expect(environment="live", phase="run")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"project": "web"', "Tags is not valid JSON"),
        ("project=web", "Tags is not valid JSON"),
        ('["project", "web"]', "Tags is not a JSON object"),
        ('"web"', "Tags is not a JSON object"),
    ],
)
def test_bad_tags_keep_the_row_and_are_counted(text: str, problem: str) -> None:
    items = line_items(
        [{"tags": '{"project": "a"}'}, {"tags": text}, {"tags": text}, {"tags": None}]
    )
    out, problems = Allocator(AllocationSettings()).allocate_frame(items)

    assert len(out) == 4
    assert list(out["row_number"]) == [2, 3, 4, 5]
    assert list(out["project"]) == ["a", U, U, U]
    assert problems == {problem: 2}


def test_different_bad_tags_are_counted_per_problem() -> None:
    items = line_items(
        [{"tags": "{oops"}, {"tags": "[1]"}, {"tags": "not json"}, {"tags": '{"env":"dev"}'}]
    )
    _, problems = Allocator(AllocationSettings()).allocate_frame(items)
    assert problems == {"Tags is not valid JSON": 2, "Tags is not a JSON object": 1}


def test_good_tags_report_no_problem() -> None:
    items = line_items([{"tags": '{"project": "a"}'}, {"tags": None}, {"tags": ""}])
    _, problems = Allocator(AllocationSettings()).allocate_frame(items)
    assert problems == {}


# --- rules ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tags", "context", "expected"),
    [
        pytest.param(
            {},
            {"sub_account_id": "111122223333", "service_name": "Amazon RDS"},
            expect("shared-db", "prod", "team-platform", "run"),
            id="fills-untagged",
        ),
        pytest.param(
            {},
            {"sub_account_id": "111122223333", "service_name": "amazon rds"},
            expect("shared-db", "prod", "team-platform", "run"),
            id="case-insensitive",
        ),
        pytest.param(
            {},
            {"sub_account_id": "222211113333", "service_name": "Amazon RDS"},
            expect(),
            id="other-account",
        ),
        pytest.param(
            {},
            {"sub_account_id": "111122223333", "service_name": "Amazon EC2"},
            expect(),
            id="other-service",
        ),
        pytest.param(
            {},
            {"sub_account_id": "111122223333", "service_name": "Amazon RDS Proxy"},
            expect(),
            id="pattern-is-whole-value",
        ),
        pytest.param(
            {"project": "billing", "env": "staging"},
            {"sub_account_id": "111122223333", "service_name": "Amazon RDS"},
            expect("billing", "staging", "team-platform", "build"),
            id="tags-win-rule-fills-the-rest",
        ),
    ],
)
def test_rule_fills_missing_values(tags: dict, context: dict, expected: dict) -> None:
    rules = AllocationSettings(rules=[RDS_RULE])
    assert allocate(tags, rules, **context) == expected


def test_override_rule_replaces_tags() -> None:
    rule = AllocationRule(
        match={"sub_account_name": "*-sandbox"}, set={"project": "sandbox"}, override=True
    )
    custom = AllocationSettings(rules=[rule])
    assert allocate({"project": "web"}, custom, sub_account_name="team-sandbox")["project"] == (
        "sandbox"
    )
    assert allocate({"project": "web"}, custom, sub_account_name="team-prod")["project"] == "web"


@pytest.mark.parametrize(
    ("match", "context", "matches"),
    [
        ({"provider": "microsoft*"}, {"provider": "Microsoft"}, True),
        ({"provider": "microsoft*"}, {"provider": "AWS"}, False),
        ({"billing_account": "9999*"}, {"billing_account_id": "999999999999"}, True),
        ({"billing_account": "8888*"}, {"billing_account_id": "999999999999"}, False),
        ({"sub_account": "2222?2222222"}, {"sub_account_id": "222202222222"}, True),
        ({"sub_account_name": "WEB-*"}, {"sub_account_name": "web-prod"}, True),
        ({"service": "*ec2"}, {"service_name": "Amazon EC2"}, True),
        ({"region": "eu-*"}, {"region": "us-east-1"}, False),
        ({"region": "us-*", "service": "*S3*"}, {"service_name": "Amazon EC2"}, False),
    ],
)
def test_rule_match_fields(match: dict, context: dict, matches: bool) -> None:
    custom = AllocationSettings(rules=[AllocationRule(match=match, set={"owner": "finops"})])
    assert (allocate({}, custom, **context)["owner"] == "finops") is matches


def test_first_matching_rule_fills_later_rules_do_not_override() -> None:
    custom = AllocationSettings(
        rules=[
            AllocationRule(match={"service": "Amazon*"}, set={"project": "first"}),
            AllocationRule(match={"service": "*EC2"}, set={"project": "second", "owner": "o"}),
        ]
    )
    assert allocate({}, custom) == expect(project="first", owner="o")


def test_rule_environment_is_folded() -> None:
    rule = AllocationRule(match={"service": "*"}, set={"environment": "Production"})
    assert allocate({}, AllocationSettings(rules=[rule])) == expect(
        environment="prod", phase="run"
    )


# --- allocate_frame on a frame ----------------------------------------------------------------


def test_allocate_frame_row_by_row() -> None:
    rows = [
        {"tags": '{"project": "web", "env": "Production"}', "service_name": "Amazon EC2"},
        {"tags": None, "sub_account_id": "111122223333", "service_name": "Amazon RDS"},
        {"tags": '{"user:Team": "search", "Lifecycle": "Move"}'},
        {"tags": "{broken", "sub_account_id": "111100000000", "service_name": "Amazon RDS"},
        {"tags": '{"project": "web", "env": "Production"}', "sub_account_id": "111122223333",
         "service_name": "Amazon RDS"},
        {"tags": None, "service_name": "Amazon RDS"},
        {"tags": '{"proj": "api", "env": "qa", "costcenter": "cc-2"}', "region": "eu-west-1"},
        {"tags": '{"project": "web", "env": "Production"}', "service_name": "Amazon EC2"},
    ]
    expected = [
        expect("web", "prod", U, "run"),
        expect("shared-db", "prod", "team-platform", "run"),
        expect(owner="search", phase="move"),
        expect("shared-db", "prod", "team-platform", "run"),
        expect("web", "prod", "team-platform", "run"),
        expect(),
        expect("api", "test", U, "build", "cc-2"),
        expect("web", "prod", U, "run"),
    ]
    items = line_items(rows, index=[70, 71, 72, 73, 74, 75, 76, 77])
    out, problems = Allocator(AllocationSettings(rules=[RDS_RULE])).allocate_frame(items)

    assert problems == {"Tags is not valid JSON": 1}
    assert len(out) == len(items)
    assert "tags" not in out.columns
    for position, want in enumerate(expected):
        got = {d: out[d].iloc[position] for d in DIMENSIONS}
        assert got == want, f"row {position}"
    # the other columns are untouched and still line up with their rows
    kept = [c for c in items.columns if c != "tags"]
    pd.testing.assert_frame_equal(out[kept], items[kept])


@pytest.mark.parametrize("dtype", ["object", "category", "string"])
def test_allocate_frame_without_rules_row_by_row(dtype: str) -> None:
    tag_sets = [
        '{"project": "a"}',
        '{"project": "b", "env": "dev"}',
        None,
        '{"project": "a"}',
        '{"owner": "z"}',
        '{"project": "b", "env": "dev"}',
    ]
    items = line_items([{"tags": t} for t in reversed(tag_sets)])
    items["tags"] = items["tags"].astype(dtype)
    out, _ = Allocator(AllocationSettings()).allocate_frame(items)
    assert list(out["project"]) == ["b", U, "a", U, "b", "a"]
    assert list(out["environment"]) == ["dev", U, U, U, "dev", U]
    assert list(out["owner"]) == [U, "z", U, U, U, U]
    assert list(out["phase"]) == ["build", U, U, U, "build", U]


def test_allocate_frame_without_tags_column() -> None:
    items = line_items([{}, {"sub_account_id": "111199999999", "service_name": "Amazon RDS"}])
    out, problems = Allocator(AllocationSettings(rules=[RDS_RULE])).allocate_frame(
        items.drop(columns=["tags"])
    )
    assert problems == {}
    assert list(out["project"]) == [U, "shared-db"]
    assert list(out["owner"]) == [U, "team-platform"]


def test_allocate_frame_with_empty_frame() -> None:
    out, problems = Allocator(AllocationSettings(rules=[RDS_RULE])).allocate_frame(
        line_items([])
    )
    assert len(out) == 0
    assert problems == {}
    assert set(DIMENSIONS) <= set(out.columns)


# --- factorize_rows ---------------------------------------------------------------------------

MISSING = object()


def _cell(value: Any) -> Any:
    return MISSING if value is None or (isinstance(value, float) and math.isnan(value)) else value


def _row(frame: pd.DataFrame, i: int) -> tuple:
    return tuple(_cell(frame[c].iloc[i]) for c in frame.columns)


def _check_factorize_rows(frame: pd.DataFrame) -> None:
    codes, distinct = factorize_rows(frame)
    rows = [_row(frame, i) for i in range(len(frame))]
    firsts = list(dict.fromkeys(rows))

    assert len(codes) == len(frame)
    assert list(distinct.columns) == list(frame.columns)
    assert list(distinct.dtypes) == list(frame.dtypes)
    assert len(distinct) == len(firsts)
    # distinct rows in order of first appearance, and each row's code points at its own values
    assert [_row(distinct, k) for k in range(len(distinct))] == firsts
    assert [firsts.index(r) for r in rows] == list(codes)


text_values = st.sampled_from(["a", "b", "c", "A", "", None])
float_values = st.sampled_from([0.5, 1.0, 2.25, float("nan")])
int_values = st.integers(-2, 2)


@st.composite
def frames(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(0, 25))
    kinds = draw(st.lists(st.sampled_from(["text", "float", "int", "category"]), min_size=1,
                          max_size=4))
    data = {}
    for i, kind in enumerate(kinds):
        if kind == "text":
            data[f"c{i}"] = pd.Series(draw(st.lists(text_values, min_size=n, max_size=n)),
                                      dtype=object)
        elif kind == "float":
            data[f"c{i}"] = pd.Series(draw(st.lists(float_values, min_size=n, max_size=n)),
                                      dtype="float64")
        elif kind == "int":
            data[f"c{i}"] = pd.Series(draw(st.lists(int_values, min_size=n, max_size=n)),
                                      dtype="int64")
        else:
            values = draw(st.lists(text_values, min_size=n, max_size=n))
            extra = draw(st.sets(st.sampled_from(["x", "y", "a"])))  # unused categories too
            categories = sorted({v for v in values if v is not None} | extra)
            data[f"c{i}"] = pd.Categorical(values, categories=categories)
    return pd.DataFrame(data, index=pd.RangeIndex(n) * 3 + 5)


@settings(max_examples=100, deadline=None)
@given(frames())
def test_factorize_rows_codes_match_distinct_rows(frame: pd.DataFrame) -> None:
    _check_factorize_rows(frame)


def test_factorize_rows_handles_missing_values() -> None:
    frame = pd.DataFrame(
        {
            "text": pd.Series(["a", None, "a", np.nan, "a"], dtype=object),
            "cat": pd.Categorical(["x", None, "x", None, "y"]),
            "num": [1.0, np.nan, 1.0, np.nan, 1.0],
        }
    )
    codes, distinct = factorize_rows(frame)
    assert list(codes) == [0, 1, 0, 1, 2]
    assert len(distinct) == 3
    assert distinct["text"].isna().tolist() == [False, True, False]
    assert distinct["cat"].isna().tolist() == [False, True, False]
    assert isinstance(distinct["cat"].dtype, pd.CategoricalDtype)
    assert list(distinct["cat"].cat.categories) == ["x", "y"]


def test_factorize_rows_categorical_ignores_category_order() -> None:
    frame = pd.DataFrame(
        {"c": pd.Categorical(["b", "a", "b", "c"], categories=["c", "b", "a", "unused"])}
    )
    codes, distinct = factorize_rows(frame)
    assert list(codes) == [0, 1, 0, 2]
    assert list(distinct["c"]) == ["b", "a", "c"]


def test_factorize_rows_many_wide_columns() -> None:
    """Enough columns and values that the combined key has to be compacted on the way."""
    rng = np.random.default_rng(7)
    n = 400
    base = rng.integers(0, 300, size=(n // 2, 10))
    values = np.vstack([base, base[::-1]])  # every row appears twice
    frame = pd.DataFrame({f"c{i}": values[:, i] for i in range(10)})
    frame["c3"] = pd.Categorical(frame["c3"].astype(str))
    frame["c7"] = frame["c7"].astype(str).astype(object)
    _check_factorize_rows(frame)
    codes, distinct = factorize_rows(frame)
    assert len(distinct) == len({tuple(r) for r in values.tolist()})
    assert (codes[: n // 2] == codes[n // 2 :][::-1]).all()


def test_factorize_rows_does_not_confuse_rows_when_the_key_would_overflow() -> None:
    """Nine columns of 255 values: a plain 64-bit key would lose the first column entirely."""
    n = 255
    multipliers = [1, 2, 4, 7, 8, 11, 13, 14, 16]  # coprime to 255: every column has 255 values
    frame = pd.DataFrame({f"c{i}": (np.arange(n) * m) % n for i, m in enumerate(multipliers)})
    twin = frame.iloc[[0]].copy()
    twin["c0"] = frame["c0"].iloc[1]  # differs from row 0 in the first column only
    frame = pd.concat([frame, twin], ignore_index=True)

    codes, distinct = factorize_rows(frame)
    assert len(distinct) == n + 1
    assert codes[0] != codes[n]
    _check_factorize_rows(frame)
