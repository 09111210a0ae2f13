"""The alert rules and the generated scrape config, checked by Prometheus' own promtool."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from somaagent.devstack.prometheus import (
    METRICS_PATHS,
    PrometheusSettings,
    render_config,
    rules_dir,
    stack_targets,
)
from somaagent.devstack.service import StackContext
from somaagent.settings import repo_root

from .dashboards import promtool

RULES = rules_dir(repo_root())
RULE_TESTS = repo_root() / "infra" / "prometheus" / "tests" / "soma_test.yml"


def test_rule_files_pass_promtool_check_rules() -> None:
    files = sorted(str(p) for p in RULES.glob("*.yml"))
    assert files
    done = promtool("check", "rules", *files)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 6 rules found" in done.stdout


def test_rule_unit_tests_pass_promtool_test_rules() -> None:
    done = promtool("test", "rules", str(RULE_TESTS))
    assert done.returncode == 0, done.stdout + done.stderr


def test_rule_unit_tests_catch_a_changed_threshold(tmp_path: Path) -> None:
    """The unit tests have teeth: requeue pending above 30 instead of 20 fails them."""
    (tmp_path / "rules").mkdir()
    (tmp_path / "tests").mkdir()
    rules = (RULES / "soma.yml").read_text()
    assert "max(requeue_pending_total) > 20" in rules
    changed = rules.replace("max(requeue_pending_total) > 20", "max(requeue_pending_total) > 30")
    (tmp_path / "rules" / "soma.yml").write_text(changed)
    shutil.copy(RULE_TESTS, tmp_path / "tests" / "soma_test.yml")
    done = promtool("test", "rules", str(tmp_path / "tests" / "soma_test.yml"))
    assert done.returncode != 0
    assert "RequeuePendingHigh" in done.stdout + done.stderr


def test_generated_config_scrapes_every_process_and_passes_check_config(tmp_path: Path) -> None:
    settings = PrometheusSettings(state_dir=tmp_path / "state")
    targets = stack_targets(StackContext(settings), settings.prometheus.port)
    text = render_config(targets, interval_s=5, rule_files=[str(RULES / "*.yml")])
    path = tmp_path / "prometheus.yml"
    path.write_text(text)
    done = promtool("check", "config", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 6 rules found" in done.stdout  # the rule files were found and loaded

    jobs = {j["job_name"]: j for j in yaml.safe_load(text)["scrape_configs"]}
    assert set(jobs) == {*METRICS_PATHS, "prometheus"}
    assert jobs["gateway"]["static_configs"][0]["targets"] == ["127.0.0.1:8080"]
    assert jobs["conversation-worker"]["static_configs"][0]["targets"] == ["127.0.0.1:18301"]
    assert jobs["tool-executor"]["static_configs"][0]["targets"] == ["127.0.0.1:19102"]
    assert jobs["llm-large"]["static_configs"][0]["targets"] == ["127.0.0.1:18093"]


def test_a_broken_config_fails_check_config(tmp_path: Path) -> None:
    path = tmp_path / "prometheus.yml"
    path.write_text(render_config([], interval_s=5).replace("5s", "five seconds", 1))
    assert promtool("check", "config", str(path)).returncode != 0
