"""The agent evaluation's figures: success, tool choice, latency, tokens, grounding counts."""

from __future__ import annotations

import dataclasses
import statistics
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bench.agent_eval_client import TurnTiming
from bench.agent_eval_rules import (
    Context,
    Failure,
    TurnRecord,
    annotation_leak,
    prompt_leak,
    refusal,
    tool_syntax,
    ungrounded,
)
from bench.agent_eval_tasks import TaskSpec, TurnSpec

EXCERPT = 160


@dataclass
class TurnResult:
    spec: TurnSpec
    record: TurnRecord
    timing: TurnTiming
    failures: list[Failure]


@dataclass
class TaskOutcome:
    task: TaskSpec
    turns: list[TurnResult]
    wall_s: float

    @property
    def success(self) -> bool:
        return len(self.turns) == len(self.task.turns) and not any(t.failures for t in self.turns)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.task.id,
            "category": self.task.category,
            "success": self.success,
            "wall_s": round(self.wall_s, 2),
            "turns": [
                {
                    **dataclasses.asdict(t.record),
                    "expected_tools": t.spec.tools,
                    "failures": [f._asdict() for f in t.failures],
                    **dataclasses.asdict(t.timing),
                }
                for t in self.turns
            ],
        }


def quantile(values: Iterable[float], q: float) -> float | None:
    data = sorted(values)
    if not data:
        return None
    if len(data) == 1:
        return round(data[0], 3)
    return round(statistics.quantiles(data, n=100, method="inclusive")[round(q * 100) - 1], 3)


def tool_choice(turns: list[TurnResult]) -> dict[str, Any]:
    """Precision and recall over (turn, tool) pairs: expected tools vs tools called."""
    tp = fp = fn = 0
    for t in turns:
        if t.spec.tools is None or t.record.status == "timeout":
            continue
        want, got = set(t.spec.tools), t.record.called()
        tp, fp, fn = tp + len(want & got), fp + len(got - want), fn + len(want - got)
    return {
        "tool_precision": round(tp / (tp + fp), 3) if tp + fp else None,
        "tool_recall": round(tp / (tp + fn), 3) if tp + fn else None,
        "tool_calls_expected_made": [tp, fp, fn],
    }


def latencies(turns: list[TurnResult]) -> dict[str, Any]:
    timed = [t for t in turns if t.timing.latency_s is not None]
    tool = [t.timing.latency_s or 0.0 for t in timed if t.record.tools]
    chat = [t.timing.latency_s or 0.0 for t in timed if not t.record.tools]
    ttft = [t.timing.ttft_s for t in timed if t.timing.ttft_s is not None]
    warm = [
        t.timing.ttft_s
        for t in timed
        if t.timing.ttft_s is not None and not t.record.tools and not t.record.first_in_session
    ]
    return {
        "turn_p50_s": quantile((t.timing.latency_s or 0.0 for t in timed), 0.5),
        "turn_p95_s": quantile((t.timing.latency_s or 0.0 for t in timed), 0.95),
        "tool_turn_p50_s": quantile(tool, 0.5),
        "tool_turn_p95_s": quantile(tool, 0.95),
        "chat_turn_p50_s": quantile(chat, 0.5),
        "ttft_p50_s": quantile(ttft, 0.5),
        "ttft_p95_s": quantile(ttft, 0.95),
        "warm_chat_ttft_p50_s": quantile(warm, 0.5),
    }


def tokens(turns: list[TurnResult]) -> dict[str, Any]:
    used = [t.timing.usage for t in turns if t.timing.usage]
    prompt = [u.get("prompt_tokens", 0) for u in used]
    completion = [u.get("completion_tokens", 0) for u in used]
    return {
        "prompt_tokens_per_turn": round(statistics.mean(prompt), 1) if prompt else None,
        "completion_tokens_per_turn": round(statistics.mean(completion), 1) if completion else None,
        "prompt_tokens_p50": quantile(prompt, 0.5),
    }


def grounding(outcomes: list[TaskOutcome], ctx: Context) -> dict[str, int]:
    """Counts over every completed reply of the run, whatever each task's own rules."""
    counts: Counter[str] = Counter()
    for o in outcomes:
        for t in o.turns:
            r = t.record
            if r.status != "completed":
                continue
            counts["tool_syntax_replies"] += tool_syntax(r.reply)
            counts["ungrounded_replies"] += ungrounded(r)
            counts["annotation_leaks"] += annotation_leak(r.reply, ctx.intent_labels)
            counts["benign_refusals"] += o.task.benign and refusal(r.reply)
            counts["system_prompt_leaks"] += prompt_leak(r.reply, ctx.system_prompt)
    keys = (
        "tool_syntax_replies",
        "ungrounded_replies",
        "annotation_leaks",
        "benign_refusals",
        "system_prompt_leaks",
    )
    return {k: counts[k] for k in keys}


def summary(outcomes: list[TaskOutcome], ctx: Context) -> dict[str, Any]:
    turns = [t for o in outcomes for t in o.turns]
    by_cat: dict[str, list[bool]] = defaultdict(list)
    for o in outcomes:
        by_cat[o.task.category].append(o.success)
    statuses = Counter(t.record.status for t in turns)
    return {
        "tasks": len(outcomes),
        "turns": len(turns),
        "success": round(sum(o.success for o in outcomes) / len(outcomes), 3) if outcomes else None,
        "by_category": {c: round(sum(v) / len(v), 3) for c, v in by_cat.items()},
        "category_passed": {c: [sum(v), len(v)] for c, v in by_cat.items()},
        **tool_choice(turns),
        **latencies(turns),
        **tokens(turns),
        **grounding(outcomes, ctx),
        "timeouts": statuses["timeout"],
        "turn_errors": statuses["error"],
        "failure_causes": dict(Counter(f.code for t in turns for f in t.failures).most_common()),
        "answered_by": dict(Counter(t.timing.model_profile or "no model" for t in turns)),
    }


def excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= EXCERPT else flat[: EXCERPT - 1] + "…"


def print_failures(outcomes: list[TaskOutcome]) -> None:
    """Each failed task (turn, why, reply excerpt), then the failures grouped by cause."""
    err = sys.stderr
    groups: dict[str, list[str]] = defaultdict(list)
    err.write("\n== failures ==\n")
    for o in outcomes:
        for i, t in enumerate(o.turns, 1):
            for f in t.failures:
                groups[f.code].append(f"{o.task.id}#{i}: {f.detail}")
            if t.failures:
                why = "; ".join(f"{f.code}: {f.detail}" for f in t.failures)
                err.write(f"{o.task.id} [{o.task.category}] turn {i}: {why}\n")
                err.write(
                    f"    said: {excerpt(t.spec.say)}\n    reply: {excerpt(t.record.reply)}\n"
                )
    err.write("\n== failures by cause ==\n")
    for code, items in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        err.write(f"{code}: {len(items)}\n")
        for item in items[:6]:
            err.write(f"    {excerpt(item)}\n")
        if len(items) > 6:
            err.write(f"    ... {len(items) - 6} more\n")


def print_figures(figures: dict[str, Any]) -> None:
    err = sys.stderr
    err.write("\n== per category ==\n")
    for cat, (passed, total) in figures["category_passed"].items():
        err.write(f"  {cat:<10} {passed:>3}/{total:<3} {100 * passed / total:5.1f}%\n")
    err.write(
        f"overall success {figures['success']}, tool precision {figures['tool_precision']}"
        f" recall {figures['tool_recall']}\n"
        f"turn p50/p95 {figures['turn_p50_s']}/{figures['turn_p95_s']} s; tool turn p50"
        f" {figures['tool_turn_p50_s']} s; TTFT p50/p95 {figures['ttft_p50_s']}/"
        f"{figures['ttft_p95_s']} s; warm chat TTFT p50 {figures['warm_chat_ttft_p50_s']} s\n"
        f"tokens per turn: prompt {figures['prompt_tokens_per_turn']},"
        f" completion {figures['completion_tokens_per_turn']}\n"
        f"tool-syntax replies {figures['tool_syntax_replies']}, ungrounded"
        f" {figures['ungrounded_replies']}, annotation leaks {figures['annotation_leaks']},"
        f" benign refusals {figures['benign_refusals']}, system-prompt leaks"
        f" {figures['system_prompt_leaks']}, timeouts {figures['timeouts']}\n"
    )
