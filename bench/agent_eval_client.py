"""The agent evaluation's user: the gateway's HTTP API and session WebSocket, nothing else.

A turn is POST /v1/sessions/{id}/messages (202 + correlation id), then the session's
`conversation.stream` updates until `completed` or `error`, then the stored events
(GET /v1/sessions/{id}/events) for the turn's record: the tools it called, their results
and attachments (downloaded through GET /v1/attachments/{id} when small).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.agent_eval_rules import AttachmentSeen, ToolRun, TurnRecord
from somaagent.adapters.postgres.api_keys import ApiKeyStore
from somaagent.adapters.postgres.model_profiles import PostgresModelProfileStore
from somaagent.adapters.postgres.pool import open_pool
from somaagent.application import model_profiles
from somaagent.cli.chat import StreamClient
from somaagent.settings import CommonSettings

TERMINAL = {"completed", "error"}
TURN_COMPLETED = "conversation.turn.completed"
FETCH_ATTACHMENT_BYTES = 64 * 1024


class EvalError(Exception):
    """The evaluation cannot go on (gateway unreachable, key refused, unknown profile)."""


@dataclass
class TurnTiming:
    latency_s: float | None = None  # POST -> terminal status, at the client
    ttft_s: float | None = None  # POST -> first text delta, at the client
    usage: dict[str, int] = field(default_factory=dict)
    server: dict[str, float] = field(default_factory=dict)  # the worker's own latencies
    model_profile: str | None = None


@dataclass
class Session:
    session_id: str
    stream: StreamClient  # the one `soma chat` uses: resumes by offset after a drop
    cursor: int = 0  # the last event seq read
    turns: int = 0


class GatewayUser:
    """One API key's view of the platform: sessions, turns and their stored records."""

    def __init__(self, base_url: str, key: str, *, turn_timeout_s: float = 90.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.key = key
        self.turn_timeout_s = turn_timeout_s
        self.http = httpx.AsyncClient(
            base_url=self.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=15
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _json(self, method: str, path: str, **kw: Any) -> Any:
        r = await self.http.request(method, path, **kw)
        if r.status_code >= 400:
            raise EvalError(f"{method} {path}: {r.status_code} {r.text[:200]}")
        return r.json()

    async def open_session(self, title: str) -> Session:
        sid = str((await self._json("POST", "/v1/sessions", json={"title": title}))["session_id"])
        stream = StreamClient(self.base_url.replace("http", "ws", 1), sid, self.key)
        await stream.open()
        return Session(sid, stream)

    async def turn(self, session: Session, text: str) -> tuple[TurnRecord, TurnTiming]:
        """Send one message and follow it to its end (or the timeout)."""
        session.turns += 1
        record = TurnRecord(say=text, status="timeout", first_in_session=session.turns == 1)
        record.session_id = session.session_id
        timing = TurnTiming()
        started = time.perf_counter()
        path = f"/v1/sessions/{session.session_id}/messages"
        correlation = str((await self._json("POST", path, json={"text": text}))["correlation_id"])
        record.correlation_id = correlation
        try:
            async with asyncio.timeout(self.turn_timeout_s):
                final = await self._follow(session.stream, correlation, started, record, timing)
        except TimeoutError:
            record.reason = f"no completed/error status within {self.turn_timeout_s:g} s"
            return record, timing
        timing.latency_s = time.perf_counter() - started
        record.status = str(final["status"])
        record.reply = str(final.get("text") or "")
        record.reason = final.get("reason")
        timing.usage = dict(final.get("usage") or {})
        timing.server = dict(final.get("latencies") or {})
        timing.model_profile = final.get("model_profile")
        await self._read_turn(session, correlation, record)
        return record, timing

    @staticmethod
    async def _follow(
        stream: StreamClient,
        correlation: str,
        started: float,
        record: TurnRecord,
        timing: TurnTiming,
    ) -> dict[str, Any]:
        """Read the turn's updates to its end; note its statuses (not each delta) and TTFT."""
        while True:
            payload = await stream.next_payload()
            if payload.get("correlation_id") != correlation:
                continue
            status = str(payload.get("status"))
            if status == "streaming" and payload.get("delta") and timing.ttft_s is None:
                timing.ttft_s = time.perf_counter() - started
            if status != "streaming" or record.statuses[-1:] != ["streaming"]:
                tool = payload.get("tool")
                record.statuses.append(f"{status}:{tool}" if tool else status)
            if status in TERMINAL:
                return payload

    async def _read_turn(self, session: Session, correlation: str, record: TurnRecord) -> None:
        """Fill the record from the stored `conversation.turn.completed` event."""
        for _ in range(20):  # stored before the terminal status is sent; a retry is cheap
            turn = await self._find_turn(session, correlation)
            if turn is not None:
                record.annotations = turn.get("slm") or None
                record.tools = await self._tool_runs(turn)
                return
            await asyncio.sleep(0.25)
        record.reason = (record.reason or "") + " (no stored turn event found)"

    async def _find_turn(self, session: Session, correlation: str) -> dict[str, Any] | None:
        path = f"/v1/sessions/{session.session_id}/events"
        while True:
            page = await self._json("GET", path, params={"after": session.cursor, "limit": 500})
            found = None
            for item in page["events"]:
                session.cursor = max(session.cursor, int(item["seq"]))
                event = item["event"]
                if event["type"] == TURN_COMPLETED and event.get("correlation_id") == correlation:
                    found = dict(event["payload"])
            if found is not None or page.get("next_after") is None:
                return found

    async def _tool_runs(self, turn: dict[str, Any]) -> list[ToolRun]:
        results = {r["request_id"]: r for r in turn.get("tool_results") or []}
        runs = []
        for call in turn.get("tool_calls") or []:
            result = results.get(call["request_id"], {})
            runs.append(
                ToolRun(
                    tool=call["tool"],
                    status=result.get("status", "no result"),
                    stdout=result.get("stdout", ""),
                    stderr=result.get("stderr", "")[-2000:],
                    reason=result.get("reason"),
                    attachments=[await self._attachment(a) for a in result.get("attachments", [])],
                )
            )
        return runs

    async def _attachment(self, meta: dict[str, Any]) -> AttachmentSeen:
        seen = AttachmentSeen(meta["name"], meta["attachment_id"], int(meta["size"]))
        if seen.size <= FETCH_ATTACHMENT_BYTES:
            r = await self.http.get(f"/v1/attachments/{seen.attachment_id}")
            if r.status_code == 200:
                seen.text = r.content.decode("utf-8", errors="replace")
        return seen


async def check_gateway(base_url: str) -> None:
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            r = await http.get(base_url.rstrip("/") + "/readyz")
    except httpx.HTTPError as exc:
        raise EvalError(
            f"the gateway at {base_url} is unreachable ({exc}); run `make run`"
        ) from exc
    if r.status_code != 200:
        raise EvalError(f"the gateway at {base_url} is not ready: {r.text[:300]}")


async def provision_tenant(settings: CommonSettings, tenant: str, profile: str | None) -> str:
    """A user key for a fresh tenant, made as `soma keys create` makes one; with a profile,
    the tenant's dialogue override as `soma models override` sets it. Returns the key."""
    pg = settings.postgres.model_copy(update={"pool_min": 1, "pool_max": 2})
    pool = await open_pool(pg)
    try:
        if profile is not None:
            store = PostgresModelProfileStore(pool)
            dialogue = [p.name for p in await store.list_profiles() if p.role == "dialogue"]
            if profile not in dialogue:
                raise EvalError(f"no dialogue profile {profile!r}; known: {dialogue}")
            value = {"tenant_id": tenant, "role": "dialogue", "profile": profile}
            await store.set_override(model_profiles.parse_override(value))
        key, _ = await ApiKeyStore(pool).create(tenant, "user", "agent-eval")
    finally:
        await pool.close()
    return key
