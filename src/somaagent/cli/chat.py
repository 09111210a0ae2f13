"""`soma chat`: a terminal client that streams answers like the web client does.

It talks to a running gateway over HTTP and the session's WebSocket, renders each answer
token by token with Rich Live, and after a dropped connection resumes from the last Kafka
offset it saw, so nothing is shown twice or lost. Each tool call is printed as a compact
card (tool, status, duration, the code or query, the first lines of output, attachment
links) before the answer, so what the tool returned is visible whatever the model writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import mimetypes
from pathlib import Path
from typing import Annotated, Any

import httpx
import orjson
import typer
from rich.console import Console
from rich.live import Live
from rich.text import Text
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from somaagent.cli.common import console, err_console
from somaagent.cli.terminal_text import visible_payload
from somaagent.domain.tool_card import ToolCard

TERMINAL = {"completed", "error"}
_CARD_STYLE = {"ok": "green", "denied": "yellow", "invalid": "yellow"}
_CARD_ARGUMENT_LINES = 3
_FATAL_CLOSE = {4401: "the API key was refused", 4404: "no such session for this key"}


class StreamClient:
    """One session's WebSocket with resume-by-offset; `frames` yields stream payloads."""

    def __init__(self, ws_url: str, session_id: str, key: str) -> None:
        self.base = f"{ws_url}/v1/sessions/{session_id}/stream"
        self.key = key
        self.last: int | None = None
        self.ws: ClientConnection | None = None

    async def open(self) -> None:
        url = self.base if self.last is None else f"{self.base}?after={self.last}"
        self.ws = await asyncio.wait_for(connect(url), 10)
        # The key goes in the first message, not the URL, so it stays out of access logs.
        await self.ws.send(orjson.dumps({"type": "auth", "key": self.key}).decode())
        ready = orjson.loads(await asyncio.wait_for(self.ws.recv(), 10))
        if self.last is None:
            self.last = int(ready["after"])

    async def next_payload(self) -> dict[str, Any]:
        """The next conversation.stream payload, reconnecting (and resuming) on a drop."""
        while True:
            assert self.ws is not None
            try:
                frame = orjson.loads(await self.ws.recv())
            except ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd else 1006
                if code in _FATAL_CLOSE:
                    raise typer.BadParameter(_FATAL_CLOSE[code]) from exc
                await asyncio.sleep(0.5)
                await self.open()
                continue
            if frame.get("type") != "event":
                continue
            self.last = int(frame["offset"])
            event = frame["event"]
            if event.get("type") == "conversation.stream":
                return dict(event["payload"])

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()


def _status_line(p: dict[str, Any]) -> str:
    status = str(p.get("status"))
    if status == "calling_tool":
        return f"calling tool {p.get('tool', '')}…"
    if status == "waiting_for_policy":
        return str(p.get("message") or "waiting for policy approval…")
    if status == "error":
        return f"error: {p.get('reason') or p.get('message') or 'the turn failed'}"
    if status == "completed":
        usage = p.get("usage") or {}
        return f"completed · {usage.get('completion_tokens', '?')} tokens"
    return status.replace("_", " ") + "…"


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    return f"{n / 1024:.1f} KiB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.1f} MiB"


def card_text(card: ToolCard, base_url: str) -> Text:
    """A tool card for the terminal: header, the code or query, output head, attachments."""
    style = _CARD_STYLE.get(card.status, "red")
    head = Text("┌ ", style="dim") + Text(card.tool, style="bold")
    head += Text(" · ", style="dim") + Text(card.status, style=style)
    if card.exit_code not in (None, 0):
        head += Text(f" (exit {card.exit_code})", style=style)
    head += Text(f" · {card.duration_s:.2f} s", style="dim")
    lines = [head]
    arguments = card.arguments.splitlines()
    for line in arguments[:_CARD_ARGUMENT_LINES]:
        lines.append(Text("│ > ", style="dim") + Text(line, style="cyan"))
    if len(arguments) > _CARD_ARGUMENT_LINES:
        lines.append(Text("│ > …", style="dim"))
    lines += [Text("│ ", style="dim") + Text(line) for line in card.output.splitlines()]
    if card.truncated:
        lines.append(Text("│ … (output truncated)", style="dim"))
    for a in card.attachments:
        about = f"{a.name} · {_size(a.size)} · {a.media_type}"
        lines.append(Text("│ ⤓ ", style="dim") + Text(about, style="blue"))
        lines.append(Text("│   ", style="dim") + Text(base_url + a.url, style="blue underline"))
    lines.append(Text("└", style="dim"))
    return Text("\n").join(lines)


def _show_card(out: Console, payload: dict[str, Any], shown: set[str], base_url: str) -> None:
    """Print a tool_result's card once (a restarted attempt sends the same card again)."""
    raw = payload.get("card")
    if payload.get("status") != "tool_result" or not isinstance(raw, dict):
        return
    card = ToolCard.model_validate(raw)
    if card.request_id not in shown:
        shown.add(card.request_id)
        out.print(card_text(card, base_url))


async def show_answer(stream: StreamClient, correlation_id: str, base_url: str = "") -> str:
    """Render one turn's stream live (tool cards above the answer); return its final status."""
    parts: dict[int, str] = {}
    cards: set[str] = set()
    attempt, status = 1, "sent"
    with Live(Text("…"), console=console, refresh_per_second=20, transient=False) as live:
        while status not in TERMINAL:
            p = visible_payload(await stream.next_payload())
            if p.get("correlation_id") != correlation_id:
                continue
            status = str(p.get("status"))
            if int(p.get("attempt", 1)) > attempt or status == "restarted":
                attempt, parts = int(p.get("attempt", 1)), {}
            if status == "streaming" and p.get("delta") is not None:
                parts[int(p["seq"])] = str(p["delta"])
            _show_card(live.console, p, cards, base_url)
            answer = str(p["text"]) if status == "completed" and p.get("text") else ""
            body = answer or "".join(parts[k] for k in sorted(parts))
            profile = f" [{p['model_profile']}]" if p.get("model_profile") else ""
            line = Text(
                f"\n{_status_line(p)}{profile}", style="red" if status == "error" else "dim"
            )
            live.update(Text(body) + line)
    if not console.is_terminal:  # Live leaves its last frame without a newline when piped
        console.print()
    return status


async def _post(http: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = await http.post(path, json=body)
    data = r.json()
    if r.status_code >= 400:
        raise typer.BadParameter(
            f"{r.status_code} {data['error']['code']}: {data['error']['message']}"
        )
    return dict(data)


async def upload(http: httpx.AsyncClient, session_id: str, path: Path) -> str:
    """Upload a file to the session; its attachment id (the gateway checks type and size)."""
    media = mimetypes.guess_type(path.name)[0] or "text/plain"
    content = await asyncio.to_thread(path.read_bytes)
    r = await http.post(
        f"/v1/sessions/{session_id}/attachments",
        params={"name": path.name},
        content=content,
        headers={"content-type": media},
    )
    data = r.json()
    if r.status_code >= 400:
        raise typer.BadParameter(f"{path}: {r.status_code} {data['error']['message']}")
    err_console.print(f"attached {path.name} ({data['size']} bytes)")
    return str(data["attachment_id"])


async def run_chat(
    url: str, key: str, session_id: str | None, message: str | None, attach: list[Path]
) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as http:
        if session_id is None:
            session_id = str(
                (await _post(http, "/v1/sessions", {"title": "soma chat"}))["session_id"]
            )
        err_console.print(f"session {session_id}")
        files = [await upload(http, session_id, path) for path in attach]
        stream = StreamClient(url.replace("http", "ws", 1), session_id, key)
        await stream.open()
        try:
            while True:
                text = (
                    message
                    if message is not None
                    else await asyncio.to_thread(console.input, "[bold]you>[/bold] ")
                )
                if not text.strip():
                    continue
                body = {"text": text, "attachments": files}
                sent = await _post(http, f"/v1/sessions/{session_id}/messages", body)
                files = []  # the first message names the attached files
                await show_answer(stream, str(sent["correlation_id"]), url)
                if message is not None:
                    return
        finally:
            await stream.close()


def chat(
    url: Annotated[str, typer.Option(help="Gateway base URL.")] = "http://127.0.0.1:8080",
    key: Annotated[
        str, typer.Option(envvar="SOMA_API_KEY", help="API key (or SOMA_API_KEY).")
    ] = "",
    session: Annotated[str | None, typer.Option(help="Continue this session id.")] = None,
    message: Annotated[
        str | None, typer.Option("-m", "--message", help="Send one message, then exit.")
    ] = None,
    attach: Annotated[
        list[Path] | None,
        typer.Option(
            "--attach",
            exists=True,
            dir_okay=False,
            help="Upload a text file the first message is about (repeatable).",
        ),
    ] = None,
) -> None:
    """Chat in the terminal; answers stream token by token."""
    if not key:
        raise typer.BadParameter("an API key is needed: --key or SOMA_API_KEY")
    with contextlib.suppress(KeyboardInterrupt, EOFError):
        asyncio.run(run_chat(url.rstrip("/"), key, session, message, attach or []))
