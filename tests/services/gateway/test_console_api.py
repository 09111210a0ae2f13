"""The console's HTTP API on a real gateway: sessions written through the real event store
(the conversation worker's own event types), listed, filtered and read as timelines; another
tenant's session is refused. The live path (a real worker, a real policy block) is in
tests/web/test_console.py."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import httpx

from services.gateway.conftest import Tenant
from somaagent.adapters.postgres.event_store import PostgresEventStore
from somaagent.adapters.postgres.sessions import PostgresSessions
from somaagent.adapters.postgres.turn_state import PostgresTurnStates
from somaagent.domain.event_types import (
    MEMORY_OPERATION_RECORDED,
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
from somaagent.domain.memory import MemoryOperation
from somaagent.domain.policy import PolicyVerdict
from somaagent.domain.tools import Attachment, ToolCall, ToolResult
from somaagent.domain.turn_state import TurnState
from somaagent.domain.turns import ConversationTurn, Usage

# the sandbox decodes output with errors="replace": a byte that is not UTF-8 arrives as U+FFFD
NASTY = "\x1b[31mred\x1b[0m and a NUL \x00 and a lost byte \ufffd\n" + "line\n" * 40
SLM = {
    "intent": {"name": "run_code", "confidence": 0.93, "out_of_scope": False},
    "slots": [{"name": "language", "value": "python", "start": 4, "end": 10}],
    "safety": [{"category": "injection", "score": 0.71, "threshold": 0.6, "high_threshold": 0.9}],
    "missing": [],
    "model_version": "slm-test",
}


def tool_turn(sid: str, tenant: str, corr: str, stdout: str) -> list[Envelope]:
    """One turn that ran a tool, as the worker records it (record.turn_events)."""
    common: dict[str, Any] = {"session_id": sid, "tenant_id": tenant, "correlation_id": corr}
    call = ToolCall(tool="code_execution", arguments={"code": "print(1)"}, **common)
    verdict = PolicyVerdict(
        allow=False, reasons=["C1: a secret"], policy_version="v7", constitution_hash="c0ffee"
    )
    file = Attachment(name="plot.png", sha256="a" * 64, size=12, media_type="image/png")
    result = ToolResult(
        request_id=call.request_id, tool="code_execution", status="ok", exit_code=0,
        stdout=stdout, stderr="warn\n", duration_s=0.25, attachments=[file],
    )  # fmt: skip
    memory = MemoryOperation(kind="write", namespace="notes", key="k", content="remember me")
    turn = ConversationTurn(
        user_message="run python", assistant_message="It printed 1.",
        model_profile="dialogue-qwen-0.5b",
        usage=Usage(prompt_tokens=31, completion_tokens=7), ttft_s=0.2, latency_s=1.5,
        slm=SLM, tool_calls=[call], tool_results=[result], **common,
    )  # fmt: skip
    return [
        make_event(MESSAGE_RECEIVED, MessageReceived(text="run python"), **common),
        make_event(TOOL_CALL_REQUESTED, call, **common),
        make_event(TOOL_RESULT_RECEIVED, result, **common),
        make_event(POLICY_VERDICT_RECORDED, verdict, **common),
        make_event(MEMORY_OPERATION_RECORDED, memory, **common),
        make_event(TURN_COMPLETED, turn, **common),
    ]


def chat_turn(sid: str, tenant: str, corr: str, text: str) -> list[Envelope]:
    common: dict[str, Any] = {"session_id": sid, "tenant_id": tenant, "correlation_id": corr}
    turn = ConversationTurn(user_message=text, assistant_message="ok", **common)
    return [
        make_event(MESSAGE_RECEIVED, MessageReceived(text=text), **common),
        make_event(TURN_COMPLETED, turn, **common),
    ]


async def new_session(
    pool: asyncpg.Pool,
    tenant: str,
    *,
    persona: str = "default",
    title: str = "t",
    owner: str = "alice",
) -> str:
    """A session opened as the gateway opens one, owned by `owner` (the key's subject)."""
    sid = f"s-{uuid.uuid4().hex[:12]}"
    created = make_event(
        SESSION_CREATED, SessionCreated(title=title), session_id=sid, tenant_id=tenant,
        persona_id=persona,
    )  # fmt: skip
    await PostgresSessions(pool).open(PostgresEventStore(pool), created, owner)
    return sid


async def timeline(http: httpx.AsyncClient, t: Tenant, sid: str, **params: Any) -> Any:
    r = await http.get(f"/v1/console/sessions/{sid}/timeline", params=params, headers=t.headers())
    assert r.status_code == 200, r.text
    return r.json()


async def test_timeline_shows_each_event_of_a_tool_turn_ready_to_display(
    http: httpx.AsyncClient, tenant: Tenant, pg_pool: asyncpg.Pool
) -> None:
    store = PostgresEventStore(pg_pool)
    sid = await new_session(pg_pool, tenant.tenant_id)
    corr = uuid.uuid4().hex
    await store.append(tool_turn(sid, tenant.tenant_id, corr, NASTY))

    page = await timeline(http, tenant, sid)
    kinds = [i["kind"] for i in page["items"]]
    assert kinds == [
        "session", "user_message", "tool_call", "tool_result", "policy_verdict", "memory",
        "slm", "model_call", "assistant",
    ]  # fmt: skip
    items = {i["kind"]: i for i in page["items"]}
    result = items["tool_result"]
    assert dict(result["fields"])["exit status"] == "0"
    assert dict(result["fields"])["duration"] == "0.250 s"
    stdout = result["blocks"][0]
    assert stdout["label"] == "stdout" and stdout["collapsed"] is True
    assert stdout["text"].startswith("\\x1b[31mred\\x1b[0m and a NUL \\x00 and a lost byte \ufffd")
    assert "\x1b" not in stdout["text"] and "\x00" not in stdout["text"]
    assert stdout["lines"] == 42 and len(stdout["preview"].split("\n")) == 12
    assert result["links"][0]["href"].startswith("/v1/attachments/")
    verdict = dict(items["policy_verdict"]["fields"])
    assert (verdict["decision"], verdict["reasons"]) == ("deny", "C1: a secret")
    assert (verdict["policy version"], verdict["constitution hash"]) == ("v7", "c0ffee")
    slm = dict(items["slm"]["fields"])
    assert slm["intent"] == "run_code (0.93)" and slm["slots"] == "language='python'"
    assert slm["safety tags"] == "injection 0.71 FLAGGED"
    call = dict(items["model_call"]["fields"])
    assert (call["profile"], call["prompt tokens"], call["completion tokens"]) == (
        "dialogue-qwen-0.5b", "31", "7",
    )  # fmt: skip
    assert (call["TTFT"], call["latency"]) == ("0.200 s", "1.500 s")
    (turn,) = page["turns"]
    assert (turn["correlation_id"], turn["status"]) == (corr, "completed")
    assert turn["link"] == f"/console#/session/{sid}/turn/{corr}"
    assert page["next_after"] is None


async def test_timeline_pages_cover_every_event_once_and_a_turn_link_opens_its_page(
    http: httpx.AsyncClient, tenant: Tenant, pg_pool: asyncpg.Pool
) -> None:
    store = PostgresEventStore(pg_pool)
    sid = await new_session(pg_pool, tenant.tenant_id)
    turns = [uuid.uuid4().hex for _ in range(25)]
    await store.append(
        [e for i, c in enumerate(turns) for e in chat_turn(sid, tenant.tenant_id, c, f"q{i}")]
    )

    seen: list[int] = []
    after = 0
    while after is not None:
        page = await timeline(http, tenant, sid, after=after, limit=7)
        seen += sorted({i["seq"] for i in page["items"]})
        after = page["next_after"]
    assert seen == list(range(1, 52))  # session.created + 25 x (message, turn)

    page = await timeline(http, tenant, sid, turn=turns[20], limit=4)
    assert page["items"][0]["turn"] == turns[20] and page["items"][0]["seq"] == 42
    missing = await http.get(
        f"/v1/console/sessions/{sid}/timeline", params={"turn": "nope"}, headers=tenant.headers()
    )
    assert missing.status_code == 404


async def test_session_list_filters_searches_and_pages(
    http: httpx.AsyncClient, tenant: Tenant, pg_pool: asyncpg.Pool
) -> None:
    store = PostgresEventStore(pg_pool)
    tool_sid = await new_session(pg_pool, tenant.tenant_id, title="tools")
    await store.append(tool_turn(tool_sid, tenant.tenant_id, uuid.uuid4().hex, NASTY))
    chat_sid = await new_session(pg_pool, tenant.tenant_id, persona="coach", title="chat")
    await store.append(chat_turn(chat_sid, tenant.tenant_id, uuid.uuid4().hex, "a zebra"))

    async def ids(**params: Any) -> list[str]:
        r = await http.get("/v1/console/sessions", params=params, headers=tenant.headers())
        assert r.status_code == 200, r.text
        return [s["session_id"] for s in r.json()["sessions"]]

    assert await ids() == [chat_sid, tool_sid]
    assert await ids(tool="code_execution") == [tool_sid]
    assert await ids(persona="coach") == [chat_sid]
    assert await ids(q="ZEBRA") == [chat_sid]
    assert await ids(q="100%") == []
    assert await ids(status="idle") == [chat_sid, tool_sid]  # no turn ran on a worker
    assert await ids(status="awaiting_policy") == []
    assert await ids(since="2020-01-01T00:00:00Z") == [chat_sid, tool_sid]
    assert await ids(since="2999-01-01T00:00:00Z") == []
    assert await ids(until="2020-01-01T00:00:00Z") == []
    r = await http.get("/v1/console/sessions", params={"limit": 1}, headers=tenant.headers())
    first = r.json()
    assert first["sessions"][0]["turn_count"] == 1 and first["next_cursor"]
    assert await ids(limit=1, cursor=first["next_cursor"]) == [tool_sid]
    bad = await http.get("/v1/console/sessions", params={"status": "x"}, headers=tenant.headers())
    assert bad.status_code == 422


async def test_another_tenants_session_is_refused_and_never_listed(
    http: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, pg_pool: asyncpg.Pool
) -> None:
    store = PostgresEventStore(pg_pool)
    sid = await new_session(pg_pool, tenant.tenant_id)
    await store.append(chat_turn(sid, tenant.tenant_id, uuid.uuid4().hex, "mine"))
    for path in ("timeline", "profiles"):
        url = f"/v1/console/sessions/{sid}/{path}"
        for headers in (other_tenant.headers(), other_tenant.headers(admin=True)):
            r = await http.get(url, headers=headers)
            assert r.status_code == 404, r.text
        assert (await http.get(url)).status_code == 401
        assert (await http.get(url, headers=tenant.headers())).status_code == 200
    listed = await http.get("/v1/console/sessions", headers=other_tenant.headers(admin=True))
    assert sid not in {s["session_id"] for s in listed.json()["sessions"]}
    page = await http.get(f"/console#/session/{sid}")
    assert page.status_code == 200 and "console.js" in page.text  # the page asks the API


async def test_a_user_sees_only_its_own_sessions_and_an_admin_sees_the_tenants(
    http: httpx.AsyncClient, tenant: Tenant, pg_pool: asyncpg.Pool
) -> None:
    mine = await new_session(pg_pool, tenant.tenant_id, owner="alice")
    bobs = await new_session(pg_pool, tenant.tenant_id, owner="bob")

    async def listed(headers: dict[str, str]) -> list[str]:
        r = await http.get("/v1/console/sessions", headers=headers)
        assert r.status_code == 200, r.text
        return [s["session_id"] for s in r.json()["sessions"]]

    assert await listed(tenant.headers()) == [mine]
    assert await listed(tenant.headers(admin=True)) == [bobs, mine]
    url = f"/v1/console/sessions/{bobs}/timeline"
    assert (await http.get(url, headers=tenant.headers())).status_code == 404
    assert (await http.get(url, headers=tenant.headers(admin=True))).status_code == 200


async def test_profile_summary_names_the_chain_and_who_answered(
    http: httpx.AsyncClient, tenant: Tenant, pg_pool: asyncpg.Pool, seeded_profiles: None
) -> None:
    store = PostgresEventStore(pg_pool)
    sid = await new_session(pg_pool, tenant.tenant_id)
    await store.append(tool_turn(sid, tenant.tenant_id, uuid.uuid4().hex, NASTY))
    r = await http.get(f"/v1/console/sessions/{sid}/profiles", headers=tenant.headers())
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["role"] == "dialogue" and body["active"] and body["model"]
    assert body["context_window"] >= 256 and body["override"] is None
    assert all(p["name"] != body["active"] for p in body["fallback_chain"])
    assert body["turns_by_profile"] == [
        {"profile": "dialogue-qwen-0.5b", "turns": 1, "last_seq": 7}
    ]


async def test_a_restarted_turn_shows_its_attempt_and_status_before_it_has_finished(
    http: httpx.AsyncClient, tenant: Tenant, pg_pool: asyncpg.Pool
) -> None:
    store = PostgresEventStore(pg_pool)
    sid = await new_session(pg_pool, tenant.tenant_id)
    corr, inbound = uuid.uuid4().hex, uuid.uuid4().hex
    turns = PostgresTurnStates(pg_pool)
    fresh = TurnState(
        correlation_id=corr, session_id=sid, tenant_id=tenant.tenant_id,
        inbound_event_id=inbound, user_text="again",
    )  # fmt: skip
    assert (await turns.claim_inbound(fresh.model_copy()))[0] == "new"
    claim, state = await turns.claim_inbound(fresh.model_copy())  # redelivered: the worker died
    assert (claim, state.attempt) == ("restart", 2)
    message = make_event(
        MESSAGE_RECEIVED, MessageReceived(text="again"), session_id=sid,
        tenant_id=tenant.tenant_id, correlation_id=corr, event_id=inbound,
    )  # fmt: skip
    await store.append([message])

    page = await timeline(http, tenant, sid)
    (turn,) = page["turns"]
    assert (turn["status"], turn["attempt"]) == ("running", 2)
    restart = [i for i in page["items"] if i["kind"] == "restart"]
    assert [i["title"] for i in restart] == ["Restarted (attempt 2)"]
    r = await http.get(
        "/v1/console/sessions", params={"status": "running"}, headers=tenant.headers()
    )
    assert [s["session_id"] for s in r.json()["sessions"]] == [sid]

    state.status = "awaiting_policy"
    await turns.save(state)
    page = await timeline(http, tenant, sid, after=page["last_seq"])
    assert page["items"] == [] and page["turns"][0]["status"] == "awaiting_policy"


async def test_a_turn_answered_by_another_profile_than_its_primary_shows_the_fallback(
    http: httpx.AsyncClient, tenant: Tenant, pg_pool: asyncpg.Pool, seeded_profiles: None
) -> None:
    store = PostgresEventStore(pg_pool)
    sid = await new_session(pg_pool, tenant.tenant_id)
    r = await http.get(f"/v1/console/sessions/{sid}/profiles", headers=tenant.headers())
    active, fallback = r.json()["active"], r.json()["fallback_chain"][0]["name"]

    def answered(corr: str, by: str, asked: str | None) -> list[Envelope]:
        common: dict[str, Any] = {
            "session_id": sid, "tenant_id": tenant.tenant_id, "correlation_id": corr,
        }  # fmt: skip
        turn = ConversationTurn(user_message="hi", model_profile=by, **common)
        message = MessageReceived(text="hi", model_profile=asked)
        return [
            make_event(MESSAGE_RECEIVED, message, **common),
            make_event(TURN_COMPLETED, turn, **common),
        ]

    await store.append(
        answered("t1", active, None) + answered("t2", fallback, None)
        + answered("t3", fallback, fallback) + answered("t4", active, fallback)
    )  # fmt: skip
    page = await timeline(http, tenant, sid)
    calls = {i["turn"]: dict(i["fields"]) for i in page["items"] if i["kind"] == "model_call"}
    assert calls["t1"]["fallback used"] == "no"
    assert calls["t2"]["fallback used"] == f"yes (primary is {active})"
    assert calls["t3"]["fallback used"] == "no"  # the message asked for that profile
    assert calls["t4"]["fallback used"] == f"yes (primary is {fallback})"
    assert calls["t1"]["model"] != "-"
    asked = [dict(i["fields"]) for i in page["items"] if i["kind"] == "user_message"]
    assert [a.get("requested profile") for a in asked] == [None, None, fallback, fallback]
