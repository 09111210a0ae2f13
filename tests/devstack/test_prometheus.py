"""The launcher's Prometheus: installed from Debian, started on the generated config,
scraping the stack's real processes, reloaded when the config changes, stopped by `down`."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from application.policy.conftest import free_port
from somaagent.devstack import Stack
from somaagent.devstack.prometheus import (
    METRICS_PATHS,
    PrometheusSection,
    PrometheusService,
    PrometheusSettings,
    prometheus_ready,
)
from somaagent.devstack.scaling import platform_services, save_layout
from somaagent.devstack.service import StackContext
from somaagent.settings import PlatformSettings


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[PrometheusService]:
    """A Prometheus of this test's own (own port and state), over the stack's processes."""
    settings = PrometheusSettings(
        state_dir=tmp_path / "state", prometheus=PrometheusSection(port=free_port())
    )
    service = PrometheusService(StackContext(settings))
    assert service.up() == "started"
    try:
        yield service
    finally:
        assert service.down() == "stopped"


def active_targets(port: int) -> dict[str, dict[str, object]]:
    body = httpx.get(f"http://127.0.0.1:{port}/api/v1/targets", timeout=5).json()
    return {t["labels"]["job"]: t for t in body["data"]["activeTargets"]}


def wait_for(check: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError("condition not met in time")


def test_status_names_the_debian_version_and_up(prometheus: PrometheusService) -> None:
    row = prometheus.status()
    assert (row.name, row.state, row.port) == ("prometheus", "up", prometheus.port)
    assert row.version.startswith("2.")


def test_every_platform_process_is_a_target_and_the_running_ones_are_scraped(
    prometheus: PrometheusService,
) -> None:
    port = prometheus.port
    wait_for(lambda: set(active_targets(port)) == {*METRICS_PATHS, "prometheus"})
    # the stack's servers run (`soma infra up`, as in the test run); their scrapes succeed
    wait_for(lambda: all(active_targets(port)[j]["health"] == "up" for j in ("llm", "prometheus")))
    assert prometheus.up() == "already up"


def test_the_alert_rules_are_loaded(prometheus: PrometheusService) -> None:
    url = f"http://127.0.0.1:{prometheus.port}/api/v1/rules"
    groups = httpx.get(url, timeout=5).json()["data"]["groups"]
    alerts = {r["name"] for g in groups for r in g["rules"] if r["type"] == "alerting"}
    assert {"KafkaConsumerLagGrowing", "RequeuePendingHigh", "ModelServerDown"} <= alerts
    assert len(alerts) == 6


def test_a_changed_config_is_reloaded_without_a_restart(prometheus: PrometheusService) -> None:
    pid = prometheus.pid()
    stale = prometheus.config_path.read_text().replace("job_name: gateway", "job_name: old")
    prometheus.config_path.write_text(stale)
    assert prometheus.up() == "already up"  # rewrites the generated config and reloads it
    assert prometheus.pid() == pid
    wait_for(lambda: "gateway" in active_targets(prometheus.port))
    assert "old" not in active_targets(prometheus.port)


def test_every_worker_and_executor_instance_of_the_layout_is_scraped(
    prometheus: PrometheusService,
) -> None:
    """`soma up --workers 3 --executors 2` records that layout; the reload that follows
    gives each instance its own target, on its own port, named by its `process` label."""
    save_layout(prometheus.ctx, PlatformSettings(workers=3, executors=2))
    assert prometheus.reload() == "reloaded"
    expected = {
        s.name: s.port for s in platform_services(prometheus.ctx) if s.name != "policy-engine"
    }
    assert len(expected) == 6  # 3 workers, 2 executors, the gateway

    def scraped() -> dict[str, str]:
        body = httpx.get(f"http://127.0.0.1:{prometheus.port}/api/v1/targets", timeout=5).json()
        return {t["labels"]["process"]: t["scrapeUrl"] for t in body["data"]["activeTargets"]}

    wait_for(lambda: expected.keys() <= scraped().keys())
    urls = scraped()
    for name, port in expected.items():
        assert f"127.0.0.1:{port}/metrics" in urls[name], (name, urls[name])
    assert {urls[n] for n in expected if n.startswith("conversation-worker")} == {
        f"http://127.0.0.1:{p}/metrics" for p in (18301, 18302, 18303)
    }


def test_soma_status_lists_the_stacks_prometheus(stack: Stack) -> None:
    port = stack.service("prometheus").port
    done = subprocess.run(
        [sys.executable, "-m", "somaagent.cli.main", "status"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )
    (row,) = [line for line in done.stdout.splitlines() if "prometheus" in line]
    assert "up" in row.split(), row
    assert str(port) in row and "2.42" in row
    assert prometheus_ready(port)
