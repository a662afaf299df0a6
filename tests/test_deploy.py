"""The deployment files a platform team starts from: the configs they carry are valid, the
Kubernetes example runs two unprivileged replicas probed on /healthz, and every secret the
pods read is in the Secret (the image itself is built and run by scripts/container-check)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from bot.settings import parse_settings
from bot.web import HEALTH_PATH

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"


def kubernetes() -> dict[str, dict]:
    documents = yaml.safe_load_all((DEPLOY / "kubernetes" / "spendwatch.yaml").read_text())
    return {doc["kind"]: doc for doc in documents}


def test_the_kubernetes_example_runs_two_unprivileged_replicas_probed_on_healthz():
    deployment = kubernetes()["Deployment"]
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001  # the image's USER
    (container,) = pod["containers"]
    assert container["args"][0] == "run"
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] == HEALTH_PATH
        assert container[probe]["httpGet"]["port"] == "http"
    assert {"name": "http", "containerPort": 3000} in container["ports"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    mounted = {m["mountPath"] for m in container["volumeMounts"]}
    assert {"/tmp", "/data", "/config"} <= mounted  # where it writes, with a read-only root


def test_the_secrets_the_pods_read_are_in_the_secret_and_not_in_the_config():
    docs = kubernetes()
    secret = docs["Secret"]["stringData"]
    assert {"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "PGPASSWORD"} <= set(secret)
    config = docs["ConfigMap"]["data"]["spendwatch.yml"]
    assert not re.search(r"://[^/@]*:[^/@]*@", config), "a password in the database URL"
    settings = parse_settings(yaml.safe_load(config), origin="the ConfigMap")
    assert settings.database_url.startswith("postgresql+psycopg://")


def test_compose_runs_the_bot_on_postgresql_with_the_password_from_the_environment():
    compose = yaml.safe_load((DEPLOY / "compose.yml").read_text())
    bot, db = compose["services"]["bot"], compose["services"]["db"]
    assert db["build"]["dockerfile"] == "deploy/postgres.Dockerfile"
    assert bot["depends_on"] == ["db"]
    assert bot["environment"]["PGPASSWORD"] == db["environment"]["POSTGRES_PASSWORD"]
    config = yaml.safe_load((DEPLOY / "spendwatch.compose.yml").read_text())
    settings = parse_settings(config, origin="deploy/spendwatch.compose.yml")
    assert settings.database_url == "postgresql+psycopg://spendwatch@db:5432/spendwatch"


def test_the_image_runs_as_an_unprivileged_user_with_a_healthcheck():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.count("\nFROM ") == 2  # build, then a runtime without pip's leftovers
    assert "\nUSER 10001:10001\n" in dockerfile
    assert f"{HEALTH_PATH}" in dockerfile.split("HEALTHCHECK", 1)[1]
    assert "ARG BASE=docker.io/library/debian:bookworm-slim" in dockerfile
