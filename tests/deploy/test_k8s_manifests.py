"""deploy/k8s: every manifest validates against the Kubernetes schemas (kubernetes-validate, strict), and the
pieces fit together: names the runbook uses, probes, resources, selectors, the ConfigMap's files."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
K8S_DIR = REPO_ROOT / "deploy" / "k8s"
CONFIG_RESOURCES = REPO_ROOT / "src" / "freeagentics" / "resources" / "config"
KUBERNETES_VERSION = kubernetes_validate.latest_version()


def manifests() -> dict[str, dict[str, Any]]:
    found = {}
    for path in sorted(K8S_DIR.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                found[f"{document['kind']}/{document['metadata']['name']}"] = document
    return found


def pod_labels() -> dict[str, str]:
    return manifests()["Deployment/freeagentics-api"]["spec"]["template"]["metadata"]["labels"]


def api_container() -> dict[str, Any]:
    return manifests()["Deployment/freeagentics-api"]["spec"]["template"]["spec"]["containers"][0]


def test_the_expected_resources_exist() -> None:
    assert set(manifests()) == {
        "Deployment/freeagentics-api",
        "Service/freeagentics-api",
        "PodDisruptionBudget/freeagentics-api",
        "HorizontalPodAutoscaler/freeagentics-api",
        "ConfigMap/freeagentics-config",
    }


@pytest.mark.parametrize("name", sorted(manifests()))
def test_manifest_validates_against_the_schema(name: str) -> None:
    kubernetes_validate.validate(manifests()[name], KUBERNETES_VERSION, strict=True)


def test_schema_validation_catches_mistakes() -> None:
    broken = copy.deepcopy(manifests()["Deployment/freeagentics-api"])
    broken["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)
    misspelt = copy.deepcopy(manifests()["Deployment/freeagentics-api"])
    misspelt["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(misspelt, KUBERNETES_VERSION, strict=True)


def test_probes_resources_and_security_context() -> None:
    container = api_container()
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert container["startupProbe"]["httpGet"]["path"] == "/health/live"
    assert set(container["resources"]) == {"requests", "limits"}
    assert {"cpu", "memory"} <= set(container["resources"]["limits"])
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert {"name": "http", "containerPort": 8000, "protocol": "TCP"} in container["ports"]
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert env["FREEAGENTICS_ENVIRONMENT"] == "production"


def test_service_pdb_and_hpa_select_the_api_pods() -> None:
    found = manifests()
    labels = pod_labels()
    assert found["Service/freeagentics-api"]["spec"]["selector"] == labels
    assert found["PodDisruptionBudget/freeagentics-api"]["spec"]["selector"]["matchLabels"] == labels
    deployment_selector = found["Deployment/freeagentics-api"]["spec"]["selector"]["matchLabels"]
    assert deployment_selector == labels
    target = found["HorizontalPodAutoscaler/freeagentics-api"]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "freeagentics-api")


def test_configmap_carries_the_config_dir_files_and_is_mounted_there() -> None:
    data = manifests()["ConfigMap/freeagentics-config"]["data"]
    expected = {path.name: path.read_text() for path in CONFIG_RESOURCES.glob("*.yaml")}
    assert data == expected
    mounts = {mount["name"]: mount["mountPath"] for mount in api_container()["volumeMounts"]}
    env = {item["name"]: item.get("value") for item in api_container()["env"]}
    assert mounts["config"] == env["FREEAGENTICS_CONFIG_DIR"] == "/etc/freeagentics"
    assert mounts["jwt-keys"] == env["FREEAGENTICS_AUTH_KEY_DIR"]
