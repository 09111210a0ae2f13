"""The Kubernetes manifests in infra/k8s: each resource passes kubernetes-validate (the
Kubernetes API's own JSON schemas, strict: no unknown field), each Deployment runs a real
`soma` command, and every SOMA_* variable they set is a setting that process reads, with a
value it accepts."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from pydantic import BaseModel
from pydantic_settings import BaseSettings

from somaagent.services.conversation_worker.settings import WorkerSettings
from somaagent.services.gateway.settings import GatewaySettings
from somaagent.services.policy_engine.settings import PolicyEngineSettings
from somaagent.services.tool_executor.settings import ToolExecutorSettings
from somaagent.settings import repo_root

K8S_VERSION = "1.33.0"
MANIFESTS = repo_root() / "infra" / "k8s"
SOMA = str(Path(sys.executable).with_name("soma"))
SETTINGS_OF: dict[tuple[str, ...], type[BaseSettings]] = {
    ("soma", "policy-engine"): PolicyEngineSettings,
    ("soma", "gateway"): GatewaySettings,
    ("soma", "worker", "conversation"): WorkerSettings,
    ("soma", "worker", "tools"): ToolExecutorSettings,
}


def resources() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(MANIFESTS.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def named(kind: str) -> dict[str, dict[str, Any]]:
    return {r["metadata"]["name"]: r for r in resources() if r["kind"] == kind}


def test_every_resource_passes_the_kubernetes_schema_strictly() -> None:
    for resource in resources():
        kubernetes_validate.validate(resource, K8S_VERSION, strict=True)


def test_the_validator_rejects_a_broken_deployment() -> None:
    broken = copy.deepcopy(named("Deployment")["conversation-worker"])
    broken["spec"]["replicas"] = "three"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)
    typo = copy.deepcopy(named("Deployment")["gateway"])
    typo["spec"]["template"]["spec"]["containers"][0]["envFom"] = []
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(typo, K8S_VERSION, strict=True)


def test_a_deployment_for_each_process_running_a_real_command() -> None:
    deployments = named("Deployment")
    assert set(deployments) == {"gateway", "conversation-worker", "tool-executor", "policy-engine"}
    for deployment in deployments.values():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        command = tuple(container["command"])
        assert command in SETTINGS_OF, command
        done = subprocess.run(
            [SOMA, *command[1:], "--help"], capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, done.stderr


def field_path(settings: type[BaseModel], env: str) -> list[str]:
    """`SOMA_KAFKA__BOOTSTRAP` -> ["kafka", "bootstrap"], checked against the model's fields."""
    assert env.startswith("SOMA_"), env
    path: list[str] = []
    model: type[BaseModel] | None = settings
    for part in env.removeprefix("SOMA_").lower().split("__"):
        assert model is not None and part in model.model_fields, f"{env}: no setting {part!r}"
        path.append(part)
        annotation = model.model_fields[part].annotation
        nested = isinstance(annotation, type) and issubclass(annotation, BaseModel)
        model = annotation if nested else None
    return path


def container_env(deployment: dict[str, Any]) -> dict[str, str]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env: dict[str, str] = {}
    for source in container["envFrom"]:
        if "configMapRef" in source:
            env |= named("ConfigMap")[source["configMapRef"]["name"]]["data"]
        else:
            env |= named("Secret")[source["secretRef"]["name"]]["stringData"]
    return env | {e["name"]: e["value"] for e in container.get("env", [])}


def test_every_variable_is_a_setting_of_its_process_with_a_valid_value() -> None:
    for deployment in named("Deployment").values():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        settings_type = SETTINGS_OF[tuple(container["command"])]
        nested: dict[str, Any] = {}
        for name, value in container_env(deployment).items():
            *parents, leaf = field_path(settings_type, name)
            node = nested
            for parent in parents:
                node = node.setdefault(parent, {})
            node[leaf] = value
        built = settings_type(**nested)
        assert built.environment == "production"
        assert "," in built.kafka.bootstrap  # a multi-broker bootstrap list
