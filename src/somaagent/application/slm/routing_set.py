"""The routing set: messages labelled with the tool they need, or with none.

`evals/routing/routing.yaml` holds, per tool, messages that need it and, per non-tool
intent, messages that need no tool (see the file's header). Every item is assigned to a
train, validation or test part by a hash of its text: the intent classifier trains on the
train part, calibration and the routing threshold come from validation, and the bench
reports on test. `evals/routing/holdout.yaml` (same format) is test data only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from somaagent.application.slm.folds import Fold, fold_of
from somaagent.domain.errors import ValidationError
from somaagent.domain.slm import OUT_OF_SCOPE
from somaagent.settings import repo_root

#: Share of the routing set kept for validation and for the held-out test.
VALIDATION_SHARE = 0.2
TEST_SHARE = 0.3
#: The no-tool group of instruction-override attempts (intent out_of_scope).
INJECTION = "injection"


@dataclass(frozen=True)
class RoutingItem:
    text: str
    intent: str
    tool: str | None
    injection: bool = False
    #: The part this item belongs to whatever its hash (a held-out file's items).
    fixed_fold: Fold | None = None

    @property
    def fold(self) -> Fold:
        if self.fixed_fold is not None:
            return self.fixed_fold
        return fold_of(self.text, VALIDATION_SHARE, TEST_SHARE, salt="routing")


@dataclass(frozen=True)
class RoutingSet:
    items: tuple[RoutingItem, ...]
    digest: str

    def part(self, fold: Fold) -> list[RoutingItem]:
        return [item for item in self.items if item.fold == fold]


def default_routing_path(name: str = "routing") -> Path:
    """A routing file of the default persona in the repository (`routing` or `holdout`)."""
    return repo_root() / "evals" / "routing" / f"{name}.yaml"


def _messages(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not value:
        raise ValidationError(where, "must be a non-empty list of messages")
    if not all(isinstance(v, str) and v.strip() for v in value):
        raise ValidationError(where, "every message must be a non-empty string")
    return [v.strip() for v in value]


def _group(doc: dict[str, Any], key: str) -> dict[str, Any]:
    value = doc.get(key)
    if not isinstance(value, dict) or not value:
        raise ValidationError(key, "must map names to lists of messages")
    return value


def parse_routing(
    source: str, tool_intents: dict[str, str], fold: Fold | None = None
) -> RoutingSet:
    """Items of a routing file; `tool_intents` (intent -> tool) names each tool's intent.
    With `fold`, every item belongs to that part."""
    try:
        doc = yaml.safe_load(source)
    except yaml.YAMLError as exc:
        raise ValidationError("routing", f"not valid YAML: {exc}") from exc
    if not isinstance(doc, dict):
        raise ValidationError("routing", "needs top-level `tools:` and `no_tool:` maps")
    intent_of = {tool: intent for intent, tool in tool_intents.items()}
    items: list[RoutingItem] = []
    for tool, value in _group(doc, "tools").items():
        if tool not in intent_of:
            raise ValidationError(f"tools.{tool}", "no intent of the persona maps to this tool")
        where = f"tools.{tool}"
        items += [
            RoutingItem(t, intent_of[tool], tool, False, fold) for t in _messages(value, where)
        ]
    for intent, value in _group(doc, "no_tool").items():
        if intent in tool_intents:
            raise ValidationError(f"no_tool.{intent}", "is a tool intent")
        name = OUT_OF_SCOPE if intent == INJECTION else str(intent)
        where = f"no_tool.{intent}"
        injection = intent == INJECTION
        items += [RoutingItem(t, name, None, injection, fold) for t in _messages(value, where)]
    seen: set[str] = set()
    for item in items:
        if item.text in seen:
            raise ValidationError("routing", f"{item.text!r} is listed twice")
        seen.add(item.text)
    return RoutingSet(tuple(items), hashlib.sha256(source.encode()).hexdigest())


def load_routing(path: Path, tool_intents: dict[str, str], fold: Fold | None = None) -> RoutingSet:
    try:
        source = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValidationError("routing", f"cannot read {path}: {exc.strerror}") from exc
    return parse_routing(source, tool_intents, fold)
