"""Reading the provisioned Grafana dashboards: their PromQL and the metric names it uses."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from somaagent.settings import repo_root

GRAFANA = repo_root() / "infra" / "grafana"
DASHBOARDS = GRAFANA / "dashboards"

#: PromQL words that are not metric names (functions, aggregations, keywords).
PROMQL_WORDS = {
    "sum", "max", "min", "avg", "count", "by", "without", "rate", "increase", "irate",
    "histogram_quantile", "deriv", "delta", "and", "or", "unless", "on", "ignoring", "offset",
    "topk", "bottomk", "abs", "clamp_min", "clamp_max", "group_left", "group_right",
}  # fmt: skip
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring)\s*\([^)]*\)")
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary, "promtool missing: scripts/setup.sh installs Debian's prometheus"
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=60, check=False)


def dashboards() -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(DASHBOARDS.glob("*.json"))}


def expressions(board: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(panel title, expr) of every target, with Grafana's $__rate_interval made concrete."""
    for panel in board["panels"]:
        for target in panel["targets"]:
            yield panel["title"], target["expr"].replace("$__rate_interval", "1m")


def metric_names(expr: str) -> set[str]:
    """The metric names an expression reads (strings, label sets, groupings and ranges out)."""
    bare = re.sub(r'"[^"]*"', "", expr)
    bare = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", bare)
    bare = _GROUPING.sub(" ", bare)
    return {n for n in _NAME.findall(bare) if n not in PROMQL_WORDS}


def exposed_names(registries: Iterable[CollectorRegistry]) -> set[str]:
    """Every sample name the registries can expose (a labelled metric before its first use
    has no samples yet, so names come from the families and their types)."""
    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_count", "_sum", "_created"),
        "summary": ("_count", "_sum", "_created"),
    }
    names: set[str] = set()
    for registry in registries:
        for family in registry.collect():
            names.add(family.name)
            names.update(family.name + s for s in suffixes.get(family.type, ()))
    return names


def write_recording_rules(path: Path) -> int:
    """Every dashboard expression as a recording rule, for `promtool check rules` to parse."""
    rules = [
        {"record": f"soma:dashboard:expr{i}", "expr": expr}
        for i, (_, expr) in enumerate(e for b in dashboards().values() for e in expressions(b))
    ]
    path.write_text(json.dumps({"groups": [{"name": "dashboards", "rules": rules}]}))
    return len(rules)
