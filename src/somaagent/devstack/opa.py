"""Open Policy Agent serving the Rego bundle in `policies/opa/`."""

from __future__ import annotations

import subprocess
from urllib.parse import urlparse

import httpx

from somaagent.devstack.gobinary import go_binary, go_binary_path
from somaagent.devstack.service import Service, StackContext
from somaagent.settings import CommonSettings, TelemetrySettings

OPA_MODULE = "github.com/open-policy-agent/opa"
OPA_VERSION = "v1.22.2"


class OpaService(Service):
    name = "opa"
    ready_timeout_s = 60.0

    @property
    def port(self) -> int:
        return urlparse(self.ctx.settings.opa.url).port or 8181

    @property
    def binary(self) -> str:
        return str(go_binary(self.ctx, OPA_MODULE, OPA_VERSION, "opa"))

    @property
    def policy_dir(self) -> str:
        return str(self.ctx.repo / "policies" / "opa")

    def install(self) -> None:
        _ = self.binary

    def launch(self) -> None:
        self.spawn(
            [
                self.binary,
                "run",
                "--server",
                "--addr",
                f"127.0.0.1:{self.port}",
                "--diagnostic-addr",
                f"127.0.0.1:{self.port + 1}",
                "--log-level",
                "info",
                "--watch",
                "--ignore",
                "*_test.rego",
                *tracing_args(self.ctx.settings.telemetry),
                self.policy_dir,
            ]
        )

    def ready(self) -> bool:
        try:
            resp = httpx.get(f"http://127.0.0.1:{self.port}/health?bundles", timeout=1.0)
        except httpx.HTTPError:
            return False
        return resp.status_code == 200

    def version(self) -> str:
        path = go_binary_path(self.ctx, OPA_VERSION, "opa")
        if not path.exists():
            return "not installed"
        out = subprocess.run(
            [str(path), "version"], capture_output=True, text=True, check=False
        ).stdout
        for line in out.splitlines():
            if line.startswith("Version:"):
                return line.split(":", 1)[1].strip()
        return OPA_VERSION


def tracing_args(telemetry: TelemetrySettings) -> list[str]:
    """With telemetry on, OPA exports its own spans (OTLP/HTTP) to the same receiver as the
    platform, continuing the policy engine's `traceparent`; no flags when it is off."""
    if not telemetry.enabled:
        return []
    tracing = {
        "type": "http",
        "address": urlparse(telemetry.endpoint).netloc,
        "service_name": "opa",
        "sample_percentage": f"{telemetry.sample_ratio * 100:g}",
        "encryption": "off",
    }
    return [arg for k, v in tracing.items() for arg in ("--set", f"distributed_tracing.{k}={v}")]


def opa_binary() -> str:
    """The cached OPA binary (built on first use), for `opa test` in the test script."""

    return str(go_binary(StackContext(CommonSettings()), OPA_MODULE, OPA_VERSION, "opa"))
