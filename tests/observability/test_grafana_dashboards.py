"""The provisioned Grafana dashboards: Grafana's required structure (JSON Schema), PromQL
that Prometheus' own parser accepts, and only metric names the platform really exposes."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import yaml
from jsonschema import Draft202012Validator
from prometheus_client import REGISTRY

# the modules that define the platform's metrics (importing them registers the families)
import somaagent.adapters.kafka.metrics
import somaagent.application.conversation.answers
import somaagent.application.conversation.persist
import somaagent.application.conversation.prepare
import somaagent.application.policy.metrics
import somaagent.services.conversation_worker.metrics
import somaagent.services.policy_engine.engine
import somaagent.services.tool_executor.metrics  # noqa: F401
from somaagent.devstack import Stack
from somaagent.services.gateway.metrics import GatewayMetrics

from .dashboards import (
    GRAFANA,
    dashboards,
    exposed_names,
    expressions,
    metric_names,
    promtool,
    write_recording_rules,
)

SCHEMA = json.loads((GRAFANA / "dashboard.schema.json").read_text())
TITLES = {
    "platform-overview": "SomaAgent: platform overview",
    "conversation-turns": "SomaAgent: conversation turns",
    "policy-requeue": "SomaAgent: policy and requeue",
    "tool-executor": "SomaAgent: tool executor",
    "models": "SomaAgent: models",
}


def test_the_five_dashboards_are_there_with_unique_uids() -> None:
    boards = dashboards()
    assert {name: b["title"] for name, b in boards.items()} == TITLES
    assert len({b["uid"] for b in boards.values()}) == len(boards)


@pytest.mark.parametrize("name", sorted(TITLES))
def test_dashboard_matches_grafanas_required_structure(name: str) -> None:
    board = dashboards()[name]
    errors = [e.message for e in Draft202012Validator(SCHEMA).iter_errors(board)]
    assert not errors
    panels = board["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    for panel in panels:
        assert len({t["refId"] for t in panel["targets"]}) == len(panel["targets"])
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
    cells = [
        (x, y)
        for p in panels
        for x in range(p["gridPos"]["x"], p["gridPos"]["x"] + p["gridPos"]["w"])
        for y in range(p["gridPos"]["y"], p["gridPos"]["y"] + p["gridPos"]["h"])
    ]
    assert len(cells) == len(set(cells)), "panels overlap"


def test_the_schema_refuses_what_grafana_cannot_load() -> None:
    board = dashboards()["models"]
    validator = Draft202012Validator(SCHEMA)
    wide = json.loads(json.dumps(board))
    wide["panels"][0]["gridPos"]["w"] = 25
    no_expr = json.loads(json.dumps(board))
    del no_expr["panels"][1]["targets"][0]["expr"]
    assert not validator.is_valid(wide) and not validator.is_valid(no_expr)


def test_every_panel_query_parses_with_promtool(tmp_path: Path) -> None:
    rules = tmp_path / "dashboards.yml"
    count = write_recording_rules(rules)
    done = promtool("check", "rules", str(rules))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {count} rules found" in done.stdout


def test_promtool_refuses_a_broken_query(tmp_path: Path) -> None:
    rules = tmp_path / "bad.yml"
    bad = {"record": "soma:bad", "expr": "sum by (status (rate(conversation_requests_total[1m]))"}
    rules.write_text(yaml.safe_dump({"groups": [{"name": "bad", "rules": [bad]}]}))
    assert promtool("check", "rules", str(rules)).returncode != 0


def test_panels_read_only_metrics_the_platform_exposes(stack: Stack) -> None:
    """Names from the platform's registries and from a real llama.cpp server's /metrics."""
    llm = httpx.get(f"http://127.0.0.1:{stack.service('llm').port}/metrics", timeout=5).text
    served = {line.split(" ")[0].split("{")[0] for line in llm.splitlines() if line[:1] != "#"}
    known = exposed_names([REGISTRY, GatewayMetrics().registry]) | served | {"up"}
    used = {
        (name, title, n)
        for name, board in dashboards().items()
        for title, expr in expressions(board)
        for n in metric_names(expr)
    }
    unknown = sorted(u for u in used if u[2] not in known)
    assert not unknown
    seeds = {"conversation_requests_total", "model_ttft_seconds_bucket", "up"}
    assert seeds <= {u[2] for u in used}


def test_metric_names_are_read_from_queries() -> None:
    expr = (
        "histogram_quantile(0.95, sum by (le, tool) (rate(tool_execution_duration_seconds_bucket"
        '{tool=~"code.*"}[1m]))) / on (job) sum by (job) (llamacpp:requests_processing)'
    )
    assert metric_names(expr) == {
        "tool_execution_duration_seconds_bucket",
        "llamacpp:requests_processing",
    }
