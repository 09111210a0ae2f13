"""The steady stream of conversations the fault campaign runs under.

A few sessions talk to the private gateway at once, as a user's client would: each posts a
short message (every third one asks for a tool run), follows its session's stored events
until the turn ends, and then posts the next. A post the gateway did not answer with 202 is
retried (the gateway, Kafka or PostgreSQL may be down): only a 202 makes a turn *accepted*.
A turn not ended within `turn_wait_s` is left behind (the final count decides what it was).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from somaagent.domain.event_types import TURN_COMPLETED

PROMPTS = (
    "Say hi.",
    "Name a colour.",
    "execute this python code: print(6*7)",
)
RETRY_S = 1.0


@dataclass
class Accepted:
    session_id: str
    correlation_id: str
    at_s: float
    ended: str | None = None  # completed | error, as the client saw it


@dataclass
class Traffic:
    base_url: str
    key: str
    sessions: int
    turn_wait_s: float = 150.0
    accepted: list[Accepted] = field(default_factory=list)
    refused: int = 0  # posts that got no 202 (retried)
    started: float = field(default_factory=time.monotonic)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.key}"}
        async with httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=10.0) as http:
            await asyncio.gather(*(self._session(http, n) for n in range(self.sessions)))

    async def _session(self, http: httpx.AsyncClient, n: int) -> None:
        session = await self._retry(http, "POST", "/v1/sessions", {"title": f"faults {n}"})
        turn = n
        if session is None:
            return
        while not self.stop.is_set():
            text = PROMPTS[turn % len(PROMPTS)]
            body = await self._retry(
                http, "POST", f"/v1/sessions/{session['session_id']}/messages", {"text": text}
            )
            if body is None:
                return
            accepted = Accepted(
                session["session_id"], body["correlation_id"], time.monotonic() - self.started
            )
            self.accepted.append(accepted)
            accepted.ended = await self._follow(http, accepted)
            turn += 1

    async def _retry(
        self, http: httpx.AsyncClient, method: str, path: str, body: dict[str, Any]
    ) -> Any:
        """The call's JSON once it succeeds; None when the campaign stops first."""
        while not self.stop.is_set():
            try:
                resp = await http.request(method, path, json=body)
            except httpx.HTTPError:
                resp = None
            if resp is not None and resp.status_code in (201, 202):
                return resp.json()
            self.refused += 1
            await asyncio.sleep(RETRY_S)
        return None

    async def _follow(self, http: httpx.AsyncClient, turn: Accepted) -> str | None:
        """Poll the session's events until the turn's `turn.completed` is stored."""
        deadline = time.monotonic() + self.turn_wait_s
        after = 0
        path = f"/v1/sessions/{turn.session_id}/events"
        while time.monotonic() < deadline:
            try:
                resp = await http.get(path, params={"after": after, "limit": 500})
                events = resp.json()["events"] if resp.status_code == 200 else []
            except (httpx.HTTPError, ValueError, KeyError):
                events = []
            for item in events:
                after = max(after, int(item["seq"]))
                event = item["event"]
                if (
                    event["type"] == TURN_COMPLETED
                    and event.get("correlation_id") == turn.correlation_id
                ):
                    return str(event["payload"].get("status"))
            await asyncio.sleep(RETRY_S)
        return None
