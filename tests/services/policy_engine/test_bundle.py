"""The constitution hash covers the bundle, the model and the constitution; not Rego tests."""

from __future__ import annotations

import shutil
from pathlib import Path

from somaagent.services.policy_engine import ConstitutionWatch, constitution_hash
from somaagent.settings import repo_root


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(repo_root() / "policies", target)
    return target


def test_hash_changes_with_constitution_and_rego_not_with_tests(tmp_path: Path) -> None:
    policies = _copy(tmp_path)
    first = constitution_hash(policies)
    assert first == constitution_hash(repo_root() / "policies")
    (policies / "opa" / "soma" / "decision_test.rego").write_text("package x\n")
    assert constitution_hash(policies) == first
    with (policies / "constitution.md").open("a") as fh:
        fh.write("\n## C7. A new rule\n")
    second = constitution_hash(policies)
    assert second != first
    (policies / "opa" / "soma" / "config" / "data.json").write_text("{}")
    assert constitution_hash(policies) not in {first, second}


def test_watch_follows_an_edit(tmp_path: Path) -> None:
    policies = _copy(tmp_path)
    watch = ConstitutionWatch(policies, interval_s=0.0)
    before = watch.current
    (policies / "openfga" / "model.json").write_text('{"schema_version": "1.1"}')
    assert watch.current != before
    assert watch.current == constitution_hash(policies)
