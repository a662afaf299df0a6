"""Levers: every billing line finds its category, and an alert gets a short, varied list."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from bot.anomaly.levers import (
    DETAIL_MAX,
    ID_MAX,
    LEVERS,
    MAX_SUGGESTED,
    TITLE_MAX,
    Lever,
    LeverCategory,
    category_for,
    levers_for,
    levers_for_services,
)
from bot.demodata.catalogue import LINES, DemoLine

C = LeverCategory
AI, MGMT = "AI and Machine Learning", "Management and Governance"

MAPPING = [
    # LLM APIs, by unit, by name and by FOCUS category
    ("Amazon Bedrock", AI, "Tokens", C.TOKENS),
    ("Azure OpenAI", AI, "1K Tokens", C.TOKENS),
    ("Azure OpenAI Service", AI, "Tokens", C.TOKENS),
    ("OpenAI API", AI, "Tokens", C.TOKENS),
    ("Anthropic API", AI, "Tokens", C.TOKENS),
    ("Vertex AI", AI, "Tokens", C.TOKENS),
    ("openai api", "", "", C.TOKENS),
    ("Gemini API", "", "Characters", C.TOKENS),
    ("Some Model Gateway", "", "Input Tokens", C.TOKENS),
    ("Speech to Text", AI, "Requests", C.TOKENS),
    # accelerators and ML platforms billed by the hour
    ("Amazon SageMaker", AI, "Hours", C.GPU),
    ("Azure Machine Learning", AI, "Hours", C.GPU),
    ("Vertex AI", AI, "Hours", C.GPU),
    ("Amazon Bedrock", AI, "Hours", C.GPU),  # provisioned throughput
    ("Amazon EC2", "Compute", "GPU hours", C.GPU),
    ("CoreWeave", "", "", C.GPU),
    ("Cloud TPU", AI, "Hours", C.GPU),
    # logging and observability
    ("AmazonCloudWatch", MGMT, "GB", C.LOGGING),
    ("Amazon CloudWatch", MGMT, "GB-Mo", C.LOGGING),
    ("Azure Monitor", MGMT, "GB", C.LOGGING),
    ("Log Analytics", "", "GB", C.LOGGING),
    ("Cloud Logging", MGMT, "GB", C.LOGGING),
    ("Datadog", "", "", C.LOGGING),
    ("Some Collector", MGMT, "GiB", C.LOGGING),
    ("Cloud Monitoring", MGMT, "MiB", C.LOGGING),
    ("AWS Config", MGMT, "Configuration items", C.OTHER),
    # data transfer
    ("AWS Data Transfer", "Networking", "GB", C.TRANSFER),
    ("Bandwidth", "Networking", "GB", C.TRANSFER),
    ("Networking", "Networking", "GB", C.TRANSFER),
    ("NAT Gateway", "", "GB", C.TRANSFER),
    ("Amazon CloudFront", "", "GB", C.TRANSFER),
    ("Azure Front Door", "Networking", "GB", C.TRANSFER),
    ("Elastic Load Balancing", "Networking", "Hours", C.TRANSFER),
    ("AWS Global Accelerator", "Networking", "GB", C.TRANSFER),
    # storage
    ("Amazon S3", "Storage", "GB-Mo", C.STORAGE),
    ("Amazon Simple Storage Service", "Storage", "GB-Mo", C.STORAGE),
    ("Cloud Storage", "", "", C.STORAGE),
    ("Azure Blob Storage", "", "", C.STORAGE),
    ("Amazon Elastic Block Store", "", "", C.STORAGE),
    ("Mystery Vault", "", "GiB-Month", C.STORAGE),
    # compute
    ("Amazon EC2", "Compute", "Hours", C.COMPUTE),
    ("Amazon EKS", "Compute", "Hours", C.COMPUTE),
    ("AWS Fargate", "Compute", "Hours", C.COMPUTE),
    ("Azure Kubernetes Service", "Compute", "Hours", C.COMPUTE),
    ("Virtual Machines", "Compute", "Hours", C.COMPUTE),
    ("Compute Engine", "Compute", "Hours", C.COMPUTE),
    ("AWS Lambda", "Compute", "Requests", C.COMPUTE),
    ("Amazon EMR", "Analytics", "Hours", C.COMPUTE),
    ("Azure AI Search", AI, "Hours", C.COMPUTE),
    # databases and query engines
    ("Amazon RDS", "Databases", "Hours", C.DATABASES),
    ("Amazon DynamoDB", "Databases", "ReadRequestUnits", C.DATABASES),
    ("BigQuery", "Analytics", "TB", C.DATABASES),
    ("Amazon Athena", "Analytics", "TB", C.DATABASES),
    ("Cloud SQL", "", "", C.DATABASES),
    # the rest
    ("AWS Key Management Service", "Security", "Requests", C.OTHER),
    ("", "", "", C.OTHER),
    ("Product Catalog Service", "", "", C.OTHER),  # "catalog" is no log
]


@pytest.mark.parametrize(("service_name", "service_category", "unit", "expected"), MAPPING,
                         ids=[f"{n or '-'}|{u or '-'}" for n, _, u, _ in MAPPING])
def test_category_for(service_name: str, service_category: str, unit: str,
                      expected: LeverCategory) -> None:
    got = category_for(service_name=service_name, service_category=service_category,
                       usage_unit=unit)

    assert got is expected


def test_matching_ignores_case_and_spaces() -> None:
    assert category_for(service_name="  AMAZON BEDROCK ", service_category="ai AND machine "
                        "learning", usage_unit="TOKENS") is C.TOKENS
    assert category_for(service_name="x", service_category=" STORAGE ") is C.STORAGE


# which categories fit each role the demo data gives its lines; a GPU workload on plain
# Compute Engine hours cannot be told from other VMs
ROLE_CATEGORIES = {
    "llm": {C.TOKENS},
    "poc": {C.TOKENS},
    "logging": {C.LOGGING},
    "transfer": {C.TRANSFER},
    "compute": {C.COMPUTE},
    "gpu": {C.GPU, C.COMPUTE},
}


@pytest.mark.parametrize("line", LINES, ids=[f"{ln.workload}|{ln.service}" for ln in LINES])
def test_every_demo_line_maps_to_a_specific_category(line: DemoLine) -> None:
    got = category_for(service_name=line.service, service_category=line.category,
                       usage_unit=line.unit)

    assert got is not C.OTHER
    assert got in ROLE_CATEGORIES.get(line.role, set(LeverCategory))


@pytest.mark.shared
def test_every_service_of_the_labelled_set_maps_to_a_specific_category(
        shared_dir: Path) -> None:
    columns = ["ServiceName", "ServiceCategory", "ConsumedUnit"]
    costs = pd.read_csv(shared_dir / "data" / "scenarios" / "dev-costs.csv.gz", usecols=columns,
                        keep_default_na=False)
    triples = list(costs[columns].drop_duplicates().itertuples(index=False, name=None))

    by_line = {line: category_for(service_name=line[0], service_category=line[1],
                                  usage_unit=line[2]) for line in triples}
    got = {name: category for (name, _, _), category in by_line.items()}

    assert len(got) >= 10
    assert C.OTHER not in by_line.values(), by_line
    assert got["Amazon Bedrock"] is got["Azure OpenAI"] is got["Vertex AI"] is C.TOKENS
    assert got["Amazon SageMaker"] is C.GPU
    assert got["AmazonCloudWatch"] is C.LOGGING
    assert got["AWS Data Transfer"] is C.TRANSFER


ALL_LEVERS = [lever for levers in LEVERS.values() for lever in levers]


@pytest.mark.parametrize("lever", ALL_LEVERS, ids=[lever.id for lever in ALL_LEVERS])
def test_every_lever_fits_slack_and_reads_as_one_line(lever: Lever) -> None:
    assert re.fullmatch(r"[a-z]+\.[a-z0-9]+(-[a-z0-9]+)*", lever.id)
    assert len(lever.id) <= ID_MAX
    assert 0 < len(lever.title) <= TITLE_MAX
    assert 0 < len(lever.detail) <= DETAIL_MAX
    assert "\n" not in lever.title + lever.detail
    assert lever.title == lever.title.strip() and lever.detail == lever.detail.strip()


def test_lever_ids_are_unique_and_name_their_category() -> None:
    ids = [lever.id for lever in ALL_LEVERS]

    assert len(ids) == len(set(ids))
    for category, levers in LEVERS.items():
        assert all(lever.category is category for lever in levers)


def test_every_category_has_levers() -> None:
    assert set(LEVERS) == set(LeverCategory)
    for category in LeverCategory:
        assert 3 <= len(levers_for(category)) <= MAX_SUGGESTED


def test_levers_for_takes_the_enum_or_its_value() -> None:
    assert levers_for(C.LOGGING) == levers_for("logging") == levers_for(" Logging ")
    assert levers_for("tokens")[0].id == "tokens.loop-limits"


def test_levers_for_refuses_an_unknown_category() -> None:
    with pytest.raises(ValueError, match=r"no lever category 'tokenz'; use one of: tokens, gpu"):
        levers_for("tokenz")


def ids(levers: list[Lever]) -> list[str]:
    return [lever.id for lever in levers]


def test_two_kinds_of_spend_share_the_list_biggest_first() -> None:
    got = levers_for_services([("Amazon Bedrock", AI), ("AmazonCloudWatch", MGMT)])

    assert ids(got) == ids(levers_for(C.TOKENS)[:3]) + ids(levers_for(C.LOGGING)[:3])


def test_repeated_categories_are_suggested_once_in_first_seen_order() -> None:
    services = [("Azure Monitor", MGMT), ("OpenAI API", AI), ("Cloud Logging", MGMT),
                ("Anthropic API", AI)]

    got = levers_for_services(services)

    assert ids(got) == ids(levers_for(C.LOGGING)[:3]) + ids(levers_for(C.TOKENS)[:3])
    assert len(set(ids(got))) == len(got)


def test_one_kind_of_spend_gets_all_its_levers_up_to_the_limit() -> None:
    assert levers_for_services([("Amazon Bedrock", AI)]) == levers_for(C.TOKENS)
    assert levers_for_services([("Amazon Bedrock", AI)], limit=2) == levers_for(C.TOKENS)[:2]


def test_uneven_shares_favour_the_biggest_contributors() -> None:
    services = [("Amazon Bedrock", AI), ("Amazon EC2", "Compute"), ("Amazon S3", "Storage"),
                ("AWS Data Transfer", "Networking")]

    got = levers_for_services(services)

    assert [lever.category for lever in got] == [C.TOKENS, C.TOKENS, C.COMPUTE, C.COMPUTE,
                                                 C.STORAGE, C.TRANSFER]


def test_more_kinds_than_slots_keep_the_first_lever_of_the_biggest() -> None:
    services = [("OpenAI API", AI), ("Amazon SageMaker", AI), ("Azure Monitor", MGMT),
                ("Bandwidth", "Networking"), ("Amazon S3", "Storage"), ("Amazon EC2", "Compute"),
                ("Amazon RDS", "Databases"), ("Unknown SaaS", "")]

    got = levers_for_services(services)

    assert len(got) == MAX_SUGGESTED
    assert [lever.category for lever in got] == [C.TOKENS, C.GPU, C.LOGGING, C.TRANSFER,
                                                 C.STORAGE, C.COMPUTE]
    assert all(lever == levers_for(lever.category)[0] for lever in got)


def test_no_contributors_no_levers() -> None:
    assert levers_for_services([]) == []
    assert levers_for_services(iter([("Amazon S3", "Storage")]), limit=0) == []
