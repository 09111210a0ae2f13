"""Agent evaluation: task success of the running platform, driven through the gateway.

Each task of evals/agent_tasks.yaml is sent as a user would send it (HTTP + the session's
WebSocket) to the platform that `make run` started: gateway, conversation worker, tool
executor and models. Every turn is checked against the task's rules and the global ones
(no tool-call syntax, no annotation labels, short tool results stated, no refusal of a
benign request). Prints per-category success, tool-selection precision/recall, turn
latency and tokens, the failures (stderr), then one JSON line.

    .venv/bin/python -m bench.agent_eval --quick          # 15 tasks, every category
    .venv/bin/python -m bench.agent_eval --category memory --out /tmp/eval.jsonl
    .venv/bin/python -m bench.agent_eval --profile dialogue-smollm2-135m
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
import typer
import yaml
from websockets.exceptions import WebSocketException

from bench.agent_eval_client import (
    EvalError,
    GatewayUser,
    Session,
    TurnTiming,
    check_gateway,
    provision_tenant,
)
from bench.agent_eval_report import (
    TaskOutcome,
    TurnResult,
    print_failures,
    print_figures,
    summary,
)
from bench.agent_eval_rules import Context, TurnRecord, check_turn
from bench.agent_eval_tasks import DEFAULT_TASKS, TaskSpec, load_tasks, select
from somaagent.settings import CommonSettings, repo_root

#: What ends one task as a failed turn (the API key refused, a dropped gateway, ...).
CLIENT_ERRORS = (
    EvalError,
    httpx.HTTPError,
    OSError,
    WebSocketException,
    TimeoutError,
    typer.BadParameter,
)
WARM_UP = "hello"


def persona_context(persona: str = "default") -> Context:
    """The persona's system prompt (to spot leaks) and intent names (to spot labels)."""
    root = repo_root() / "personas" / persona
    prompt = str(yaml.safe_load((root / "persona.yml").read_text())["system_prompt"])
    nlu = yaml.safe_load((root / "nlu.yml").read_text()).get("nlu") or []
    labels = sorted({str(i["intent"]) for i in nlu if "_" in str(i.get("intent", ""))})
    return Context(system_prompt=prompt, intent_labels=(*labels, "out_of_scope"))


async def run_task(user: GatewayUser, task: TaskSpec, ctx: Context) -> TaskOutcome:
    """The task's turns in order; a timeout or error ends the task (it has failed)."""
    started = time.perf_counter()
    sessions: list[Session] = []
    results: list[TurnResult] = []
    try:
        for spec in task.turns:
            if spec.new_session or not sessions:
                sessions.append(await user.open_session(f"agent-eval {task.id}"))
            try:
                record, timing = await user.turn(sessions[-1], spec.say)
            except CLIENT_ERRORS as exc:
                record = TurnRecord(say=spec.say, status="error", reason=f"client: {exc!r}")
                timing = TurnTiming()
            failures = check_turn(spec, record, task.benign, ctx)
            results.append(TurnResult(spec, record, timing, failures))
            if record.status != "completed":
                break
    except CLIENT_ERRORS as exc:
        record = TurnRecord(say=task.turns[len(results)].say, status="error", reason=repr(exc))
        spec = task.turns[len(results)]
        failures = check_turn(spec, record, task.benign, ctx)
        results.append(TurnResult(spec, record, TurnTiming(), failures))
    finally:
        for s in sessions:
            await s.stream.close()
    return TaskOutcome(task, results, time.perf_counter() - started)


def progress(outcome: TaskOutcome, done: int, total: int) -> None:
    mark = "ok  " if outcome.success else "FAIL"
    codes = sorted({f.code for t in outcome.turns for f in t.failures})
    why = f"  ({', '.join(codes)})" if codes else ""
    sys.stderr.write(f"[{done:>3}/{total}] {mark} {outcome.task.id} {outcome.wall_s:5.1f} s{why}\n")
    sys.stderr.flush()


async def run_all(
    user: GatewayUser, tasks: list[TaskSpec], ctx: Context, concurrency: int, out: Path | None
) -> list[TaskOutcome]:
    gate = asyncio.Semaphore(concurrency)
    finished: list[TaskOutcome] = []
    sink = out.open("w") if out else None

    async def one(task: TaskSpec) -> TaskOutcome:
        async with gate:
            outcome = await run_task(user, task, ctx)
        finished.append(outcome)
        progress(outcome, len(finished), len(tasks))
        if sink is not None:
            sink.write(orjson.dumps(outcome.as_json()).decode() + "\n")
            sink.flush()
        return outcome

    try:
        return list(await asyncio.gather(*(one(t) for t in tasks)))
    finally:
        if sink is not None:
            sink.close()


async def warm_up(user: GatewayUser) -> None:
    """One untimed turn, so the first task does not pay for cold caches."""
    session = await user.open_session("agent-eval warm-up")
    try:
        record, timing = await user.turn(session, WARM_UP)
    finally:
        await session.stream.close()
    sys.stderr.write(f"warm-up: {record.status} in {timing.latency_s or 0:.1f} s\n")


def commit() -> str | None:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    )
    return done.stdout.strip() or None


async def main(args: argparse.Namespace) -> dict[str, Any]:
    tasks = select(
        load_tasks(args.tasks), quick=args.quick, categories=args.category, ids=args.task
    )
    if not tasks:
        raise EvalError("no task matches the selection")
    await check_gateway(args.gateway)
    tenant = f"eval-{uuid.uuid4().hex[:10]}"
    key = await provision_tenant(CommonSettings(), tenant, args.profile)
    sys.stderr.write(f"{len(tasks)} tasks as tenant {tenant} on {args.gateway}\n")
    ctx = persona_context()
    user = GatewayUser(args.gateway, key, turn_timeout_s=args.turn_timeout)
    try:
        if not args.no_warmup:
            await warm_up(user)
        started = time.monotonic()
        outcomes = await run_all(user, tasks, ctx, args.concurrency, args.out)
        wall = time.monotonic() - started
    finally:
        await user.aclose()
    order = {t.id: i for i, t in enumerate(tasks)}
    outcomes.sort(key=lambda o: order[o.task.id])
    figures = summary(outcomes, ctx)
    print_failures(outcomes)
    print_figures(figures)
    return {
        "bench": "agent_eval",
        **figures,
        "quick": args.quick,
        "profile": args.profile or "default",
        "concurrency": args.concurrency,
        "tenant": tenant,
        "commit": commit(),
        "wall_s": round(wall, 1),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the 15-task subset")
    parser.add_argument("--category", action="append", help="only this category (repeatable)")
    parser.add_argument("--task", action="append", help="only this task id (repeatable)")
    parser.add_argument("--gateway", default="http://127.0.0.1:8080", help="gateway base URL")
    parser.add_argument("--profile", help="dialogue model profile for the run's tenant")
    parser.add_argument("--out", type=Path, help="write one JSON line per task here")
    parser.add_argument("--concurrency", type=int, default=1, help="tasks in flight")
    parser.add_argument("--turn-timeout", type=float, default=90.0, help="seconds per turn")
    parser.add_argument("--tasks", type=Path, default=DEFAULT_TASKS, help="task file")
    parser.add_argument("--no-warmup", action="store_true", help="skip the untimed first turn")
    return parser.parse_args(argv)


if __name__ == "__main__":
    ns = parse_args()
    try:
        result = asyncio.run(main(ns))
    except (EvalError, ValueError) as exc:
        sys.stderr.write(f"agent_eval: {exc}\n")
        sys.exit(2)
    print(json.dumps(result))
