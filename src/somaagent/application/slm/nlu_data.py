"""The per-persona NLU file: Rasa-style intents with examples and [value](slot) marks."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from somaagent.domain.errors import ValidationError

_MARK = re.compile(r"\[(?P<value>[^\]]+)\]\((?P<slot>[a-z_][a-z0-9_]*)\)")


@dataclass(frozen=True)
class SlotSpan:
    name: str
    start: int
    end: int


@dataclass(frozen=True)
class Example:
    text: str
    intent: str
    slots: tuple[SlotSpan, ...] = ()


@dataclass(frozen=True)
class NluData:
    persona: str
    examples: tuple[Example, ...]
    digest: str

    @property
    def intents(self) -> list[str]:
        return sorted({e.intent for e in self.examples})


def parse_marked(line: str, intent: str) -> Example:
    """`remind me to [call mom](task)` -> text without marks and the slot's character span."""
    text, spans, pos = "", [], 0
    for match in _MARK.finditer(line):
        text += line[pos : match.start()]
        start = len(text)
        text += match["value"]
        spans.append(SlotSpan(match["slot"], start, len(text)))
        pos = match.end()
    text += line[pos:]
    return Example(text=text, intent=intent, slots=tuple(spans))


def _examples_of(block: Any, index: int) -> list[Example]:
    where = f"nlu[{index}]"
    if not isinstance(block, dict) or not isinstance(block.get("intent"), str):
        raise ValidationError(f"{where}.intent", "each entry needs an intent name")
    raw = block.get("examples")
    if not isinstance(raw, str):
        raise ValidationError(f"{where}.examples", "must be a block of '- example' lines")
    lines = [ln.strip()[1:].strip() for ln in raw.splitlines() if ln.strip().startswith("-")]
    if len(lines) < 2:
        raise ValidationError(f"{where}.examples", "needs at least two examples")
    return [parse_marked(line, block["intent"]) for line in lines]


def parse_nlu(source: str, default_persona: str = "default") -> NluData:
    try:
        doc = yaml.safe_load(source)
    except yaml.YAMLError as exc:
        raise ValidationError("nlu", f"not valid YAML: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("nlu"), list):
        raise ValidationError("nlu", "the file needs a top-level `nlu:` list")
    examples: list[Example] = []
    for i, block in enumerate(doc["nlu"]):
        examples.extend(_examples_of(block, i))
    if len({e.intent for e in examples}) < 2:
        raise ValidationError("nlu", "needs at least two intents")
    digest = hashlib.sha256(source.encode()).hexdigest()
    return NluData(str(doc.get("persona", default_persona)), tuple(examples), digest)


def load_nlu(path: Path) -> NluData:
    try:
        source = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValidationError("nlu", f"cannot read {path}: {exc.strerror}") from exc
    return parse_nlu(source, default_persona=path.parent.name)
