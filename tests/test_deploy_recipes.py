"""The deployment recipes in deploy/ (compose and Kubernetes): nothing here can run a container
or a cluster, so their structure is checked — every ``ENLARGER_*`` name is a real setting, the
settings that must be equal come from one shared place, replicas > 1, probes on /readyz and
/healthz, a graceful drain, images never ``latest``."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from enlarger.settings import ENV_PREFIX, Settings

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
SETTINGS = {f"{ENV_PREFIX}{f.name.upper()}" for f in dataclasses.fields(Settings)}
#: what docs/server.md ("Several machines") says every replica must share
SHARED = {"ENLARGER_DATABASE_URL", "ENLARGER_STORAGE", "ENLARGER_S3_BUCKET", "ENLARGER_S3_PREFIX"}


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return loaded


def _kubernetes() -> dict[str, dict[str, Any]]:
    documents = yaml.safe_load_all((DEPLOY / "kubernetes" / "enlarger.yaml").read_text())
    return {doc["kind"]: doc for doc in documents}


def _image_pinned(image: str) -> bool:
    name, _, tag = image.rpartition(":")
    return bool(name) and tag not in ("", "latest")


def test_compose_runs_replicas_on_shared_settings() -> None:
    services = _compose()["services"]
    enlarger = services["enlarger"]
    environment: dict[str, str] = enlarger["environment"]
    assert set(environment) <= SETTINGS, set(environment) - SETTINGS
    assert environment == _compose()["x-shared"] and set(environment) >= SHARED  # one anchor for all
    assert environment["ENLARGER_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert enlarger["deploy"]["replicas"] >= 2
    assert "/readyz" in " ".join(enlarger["healthcheck"]["test"])
    assert enlarger["stop_grace_period"]
    assert {"postgres", "minio", "proxy"} <= set(services)
    for name, service in services.items():
        if name != "enlarger":
            assert _image_pinned(service["image"]), name
    assert (DEPLOY / "nginx.conf").read_text().count("proxy_next_upstream") == 1


def test_kubernetes_deployment_probes_drains_and_shares_its_settings() -> None:
    kinds = _kubernetes()
    assert {"Deployment", "Service", "ConfigMap", "Secret", "PodDisruptionBudget"} <= set(kinds)
    shared = set(kinds["ConfigMap"]["data"]) | set(kinds["Secret"]["stringData"])
    assert shared <= SETTINGS, shared - SETTINGS
    assert shared >= SHARED
    spec = kinds["Deployment"]["spec"]
    assert spec["replicas"] >= 2 and spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert "preStop" in container["lifecycle"] and pod["terminationGracePeriodSeconds"] > 30
    assert pod["securityContext"]["runAsUser"] == 10001  # the Dockerfile's unprivileged user
    sources = {next(iter(ref.values()))["name"] for ref in container["envFrom"]}
    assert sources == {kinds["ConfigMap"]["metadata"]["name"], kinds["Secret"]["metadata"]["name"]}
    assert _image_pinned(container["image"])
    assert kinds["PodDisruptionBudget"]["spec"]["minAvailable"] < spec["replicas"]


@pytest.mark.parametrize("name", ["ENLARGER_RESULT_STORAGE", "ENLARGER_RESULT_S3_PREFIX"])
def test_the_shared_result_tier_is_configured_in_both(name: str) -> None:
    assert name in _compose()["x-shared"] and name in _kubernetes()["ConfigMap"]["data"]
