"""Prometheus from Debian's package, scraping every platform process and model server.

The scrape config is generated from the launcher's own services (their ports come from the
same settings the processes read), so it follows a moved port; every `up` rewrites it and
reloads it with the rule files in `infra/prometheus/rules/`. `render_config` and
`prometheus_argv` are what a test uses to run a Prometheus of its own over in-test ports.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml
from pydantic import BaseModel, Field

from somaagent.devstack.llm_server import DialogueLlmService, FallbackLlmService, LargeLlmService
from somaagent.devstack.opa import OpaService
from somaagent.devstack.scaling import platform_services
from somaagent.devstack.service import Service, StackContext, apt_install
from somaagent.settings import CommonSettings

#: Servers of the stack that serve Prometheus metrics, and the path they serve them on
#: (the policy engine mounts its metrics app at /metrics/; the embedding server has none).
METRICS_PATHS: dict[str, str] = {
    "opa": "/metrics",
    "llm": "/metrics",
    "llm-small": "/metrics",
    "llm-large": "/metrics",
    "policy-engine": "/metrics/",
    "tool-executor": "/metrics",
    "conversation-worker": "/metrics",
    "gateway": "/metrics",
}
#: The stack's servers that are scraped; the platform processes come from the layout.
SCRAPED_SERVERS: tuple[type[Service], ...] = (
    OpaService,
    DialogueLlmService,
    FallbackLlmService,
    LargeLlmService,
)


class PrometheusSection(BaseModel):
    port: int = Field(default=19090, ge=1, le=65535)
    scrape_interval_s: int = Field(default=5, ge=1, le=300)
    retention: str = "7d"


class PrometheusSettings(CommonSettings):
    """`SOMA_PROMETHEUS__PORT`, `__SCRAPE_INTERVAL_S`, `__RETENTION`."""

    prometheus: PrometheusSection = Field(default_factory=PrometheusSection)


@dataclass(frozen=True)
class ScrapeTarget:
    """One process to scrape. Targets of one `job` (a kind: every conversation worker)
    share a scrape config; `process` names the instance (`conversation-worker-2`)."""

    job: str
    port: int
    metrics_path: str = "/metrics"
    host: str = "127.0.0.1"
    process: str = ""


def rules_dir(repo: Path) -> Path:
    return repo / "infra" / "prometheus" / "rules"


def stack_targets(ctx: StackContext, own_port: int) -> list[ScrapeTarget]:
    """Every model server and OPA, every platform process of the layout `up` started
    (each worker and executor instance on its own port), and Prometheus itself."""
    servers = [t(ctx) for t in SCRAPED_SERVERS]
    targets = [ScrapeTarget(s.name, s.port, METRICS_PATHS[s.name], process=s.name) for s in servers]
    for proc in platform_services(ctx):
        kind = type(proc).name
        targets.append(ScrapeTarget(kind, proc.port, METRICS_PATHS[kind], process=proc.name))
    return [*targets, ScrapeTarget("prometheus", own_port, process="prometheus")]


def render_config(
    targets: Iterable[ScrapeTarget], *, interval_s: int, rule_files: Sequence[str] = ()
) -> str:
    """prometheus.yml: one job per kind, one static config per instance, labelled with
    the kind (`service`) and the instance (`process`)."""
    interval = f"{interval_s}s"
    jobs: dict[str, list[ScrapeTarget]] = {}
    for t in targets:
        jobs.setdefault(t.job, []).append(t)
    config = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": list(rule_files),
        "scrape_configs": [
            {
                "job_name": job,
                "metrics_path": members[0].metrics_path,
                "static_configs": [
                    {
                        "targets": [f"{t.host}:{t.port}"],
                        "labels": {"service": job, "process": t.process or job},
                    }
                    for t in members
                ],
            }
            for job, members in jobs.items()
        ],
    }
    return yaml.safe_dump(config, sort_keys=False)


def prometheus_argv(config: Path, data: Path, port: int, retention: str = "7d") -> list[str]:
    return [
        "prometheus",
        f"--config.file={config}",
        f"--storage.tsdb.path={data}",
        f"--storage.tsdb.retention.time={retention}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--web.enable-lifecycle",
    ]


def prometheus_ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/-/ready", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


class PrometheusService(Service):
    name = "prometheus"
    ready_timeout_s = 60.0

    @property
    def section(self) -> PrometheusSection:
        """The launcher's settings when they carry the section, else the environment's."""
        settings = self.ctx.settings
        if isinstance(settings, PrometheusSettings):
            return settings.prometheus
        return PrometheusSettings().prometheus

    @property
    def port(self) -> int:
        return self.section.port

    @property
    def config_path(self) -> Path:
        return self.ctx.data("prometheus") / "prometheus.yml"

    def install(self) -> None:
        if shutil.which("prometheus") is None or shutil.which("promtool") is None:
            apt_install(["prometheus"], self.ctx)

    def write_config(self) -> None:
        rules = str(rules_dir(self.ctx.repo) / "*.yml")
        text = render_config(
            stack_targets(self.ctx, self.port),
            interval_s=self.section.scrape_interval_s,
            rule_files=[rules],
        )
        self.config_path.write_text(text)

    def prepare(self) -> None:
        self.write_config()

    def launch(self) -> None:
        data = self.ctx.data("prometheus/data")
        self.spawn(prometheus_argv(self.config_path, data, self.port, self.section.retention))

    def after_start(self) -> None:
        """Every `up` reloads the generated config and the rule files (a moved port, an
        edited or new rule file) without a restart."""
        self.reload()

    def reload(self) -> str:
        """Rewrite the config from the current layout and have a running Prometheus
        reload it (`soma up --workers N` calls this after scaling)."""
        self.write_config()
        if not self.ready():
            return "not running"
        httpx.post(f"http://127.0.0.1:{self.port}/-/reload", timeout=10.0).raise_for_status()
        return "reloaded"

    def ready(self) -> bool:
        return prometheus_ready(self.port)

    def version(self) -> str:
        if shutil.which("prometheus") is None:
            return "not installed"
        out = subprocess.run(
            ["prometheus", "--version"], capture_output=True, text=True, check=False
        ).stdout
        words = out.split()
        return words[2] if len(words) > 2 and words[1] == "version" else "?"
