"""Bench the operator console on a 5,000-turn session: the first timeline page over HTTP and
the first page rendered by the console in Chromium.

    .venv/bin/python -m bench.console [--quick]

Builds the session in a PostgreSQL schema of its own (dropped afterwards) through the real
event store: every turn a user message and a turn.completed with SLM annotations and usage,
every 10th turn a tool call, its result and a policy verdict. Runs the real gateway
in-process (uvicorn on an ephemeral port, the stack's Kafka/Redis/PostgreSQL) and Debian's
Chromium. The goal: the first page renders in under 1 s. Prints figures, then one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from typing import Any

import asyncpg
import httpx
import uvicorn
from playwright.async_api import async_playwright

from somaagent.adapters.postgres.api_keys import ApiKeyStore
from somaagent.adapters.postgres.event_store import PostgresEventStore
from somaagent.adapters.postgres.migrations import upgrade
from somaagent.adapters.postgres.model_profiles import PostgresModelProfileStore
from somaagent.adapters.postgres.pool import SERVER_SETTINGS
from somaagent.adapters.postgres.sessions import PostgresSessions
from somaagent.application import model_profiles
from somaagent.cli.models import seed_urls
from somaagent.domain.event_types import (
    MESSAGE_RECEIVED,
    POLICY_VERDICT_RECORDED,
    SESSION_CREATED,
    TOOL_CALL_REQUESTED,
    TOOL_RESULT_RECEIVED,
    TURN_COMPLETED,
    MessageReceived,
    SessionCreated,
    make_event,
)
from somaagent.domain.events import Envelope
from somaagent.domain.policy import PolicyVerdict
from somaagent.domain.tools import ToolCall, ToolResult
from somaagent.domain.turns import ConversationTurn, Usage
from somaagent.services.gateway import GatewaySettings, create_app
from somaagent.settings import CommonSettings, repo_root

TENANT = "bench-console"
OWNER = "bench"
TURNS = 5000
PAGE = 200
CHROMIUM = "/usr/bin/chromium"
SLM = {
    "intent": {"name": "how_to", "confidence": 0.91, "out_of_scope": False},
    "slots": [{"name": "language", "value": "Python", "start": 32, "end": 38}],
    "safety": [{"category": "injection", "score": 0.02, "threshold": 0.6}],
}


def turn_events(sid: str, n: int) -> list[Envelope]:
    common: dict[str, Any] = {"session_id": sid, "tenant_id": TENANT, "correlation_id": f"c{n}"}
    text = f"Question {n}: how do I reverse a list in Python, quickly?"
    events = [make_event(MESSAGE_RECEIVED, MessageReceived(text=text), **common)]
    if n % 10 == 0:
        call = ToolCall(tool="code_execution", arguments={"code": "print([3,2,1])"}, **common)
        result = ToolResult(
            request_id=call.request_id,
            tool="code_execution",
            status="ok",
            exit_code=0,
            stdout="[3, 2, 1]\n" * 30,
        )
        verdict = PolicyVerdict(allow=True, policy_version="bench", constitution_hash="b" * 64)
        events += [
            make_event(TOOL_CALL_REQUESTED, call, **common),
            make_event(POLICY_VERDICT_RECORDED, verdict, **common),
            make_event(TOOL_RESULT_RECEIVED, result, **common),
        ]
    done = ConversationTurn(
        user_message=text,
        assistant_message="Use slicing: `items[::-1]` returns a reversed copy. " * 4,
        model_profile="dialogue-qwen-0.5b",
        usage=Usage(prompt_tokens=180, completion_tokens=96),
        ttft_s=0.21,
        latency_s=2.4,
        slm=SLM,
        **common,
    )
    return [*events, make_event(TURN_COMPLETED, done, **common)]


async def build_session(pool: asyncpg.Pool, turns: int) -> str:
    store = PostgresEventStore(pool, timeout_s=60)
    sid = f"bench-console-{uuid.uuid4().hex[:8]}"
    created = make_event(
        SESSION_CREATED, SessionCreated(title="5,000 turns"), session_id=sid, tenant_id=TENANT
    )
    await PostgresSessions(pool).open(store, created, OWNER)
    batch: list[Envelope] = []
    for n in range(turns):
        batch += turn_events(sid, n)
        if len(batch) >= 1000:
            await store.append(batch)
            batch = []
    if batch:
        await store.append(batch)
    return sid


async def start_gateway(
    settings: GatewaySettings,
) -> tuple[uvicorn.Server, asyncio.Task[None], str]:
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=0, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(60):
        while not server.started:
            if task.done():
                task.result()  # the gateway failed to start: raise its error
            await asyncio.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, task, f"http://127.0.0.1:{port}"


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50_ms": round(statistics.median(ordered) * 1000, 1), "p95_ms": round(p95 * 1000, 1)}


async def api_rounds(base: str, key: str, sid: str, rounds: int) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}"}
    samples: list[float] = []
    listing: list[float] = []
    items = 0
    async with httpx.AsyncClient(base_url=base, timeout=30, headers=headers) as http:
        for _ in range(rounds):
            start = time.perf_counter()
            r = await http.get(f"/v1/console/sessions/{sid}/timeline", params={"limit": PAGE})
            samples.append(time.perf_counter() - start)
            r.raise_for_status()
            items = len(r.json()["items"])
            start = time.perf_counter()
            (await http.get("/v1/console/sessions")).raise_for_status()
            listing.append(time.perf_counter() - start)
        last = await http.get(f"/v1/console/sessions/{sid}/timeline", params={"turn": "c4990"})
        last.raise_for_status()
    return {**summary(samples), "items": items, "list_p50_ms": summary(listing)["p50_ms"]}


async def browser_rounds(base: str, key: str, sid: str, rounds: int) -> dict[str, Any]:
    """Navigation start -> the first page's items in the DOM, per fresh page load."""
    samples: list[float] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = await browser.new_page()
        await page.goto(f"{base}/console")
        await page.evaluate("k => localStorage.setItem('soma.key', k)", key)
        for _ in range(rounds):
            await page.goto("about:blank")
            start = time.perf_counter()
            await page.goto(f"{base}/console#/session/{sid}")
            await page.locator("#timeline li.item").nth(PAGE - 1).wait_for(timeout=30_000)
            samples.append(time.perf_counter() - start)
        shown = await page.locator("#timeline li.item").count()
        await browser.close()
    return {**summary(samples), "items": shown}


async def run(quick: bool) -> dict[str, Any]:
    common = CommonSettings()
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    await upgrade(common.postgres.dsn(), repo_root() / "migrations", schema)
    settings = GatewaySettings(
        postgres=common.postgres.model_copy(update={"db_schema": schema}),
        kafka=common.kafka,
        redis=common.redis,
    )
    pool = await asyncpg.create_pool(
        common.postgres.dsn(),
        min_size=1,
        max_size=2,
        server_settings={**SERVER_SETTINGS, "search_path": f"{schema},public"},
    )
    try:
        text = (repo_root() / "infra" / "models" / "profiles.yaml").read_text()
        seed = model_profiles.parse_seed(text, seed_urls(common))
        await model_profiles.seed(PostgresModelProfileStore(pool), seed)
        started = time.perf_counter()
        sid = await build_session(pool, TURNS)
        build_s = time.perf_counter() - started
        events = await pool.fetchval("SELECT last_seq FROM sessions WHERE session_id = $1", sid)
        key, _ = await ApiKeyStore(pool).create(TENANT, "user", OWNER)
        server, task, base = await start_gateway(settings)
        try:
            api = await api_rounds(base, key, sid, 20 if quick else 100)
            render = await browser_rounds(base, key, sid, 3 if quick else 10)
        finally:
            server.should_exit = True
            await task
    finally:
        await pool.close()
        conn = await asyncpg.connect(common.postgres.dsn())
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()
    return {
        "bench": "console",
        "quick": quick,
        "session_turns": TURNS,
        "session_events": events,
        "build_s": round(build_s, 1),
        "page_events": PAGE,
        "api_first_page_p50_ms": api["p50_ms"],
        "api_first_page_p95_ms": api["p95_ms"],
        "api_first_page_items": api["items"],
        "api_session_list_p50_ms": api["list_p50_ms"],
        "render_first_page_p50_ms": render["p50_ms"],
        "render_first_page_p95_ms": render["p95_ms"],
        "render_rounds": 3 if quick else 10,
        "goal_render_ms": 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a run under a minute")
    args = parser.parse_args()
    f = asyncio.run(run(args.quick))
    print(f"session: {f['session_turns']} turns, {f['session_events']} events ({f['build_s']} s)")
    print(
        f"first timeline page ({f['page_events']} events, {f['api_first_page_items']} items) "
        f"over HTTP: p50 {f['api_first_page_p50_ms']} ms, p95 {f['api_first_page_p95_ms']} ms; "
        f"session list p50 {f['api_session_list_p50_ms']} ms"
    )
    print(
        f"first page rendered in Chromium: p50 {f['render_first_page_p50_ms']} ms, "
        f"p95 {f['render_first_page_p95_ms']} ms (goal < {f['goal_render_ms']} ms)"
    )
    print(json.dumps(f))


if __name__ == "__main__":
    main()
