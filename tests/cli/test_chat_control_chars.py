"""`soma chat` never hands a tool's control characters (ANSI escapes, NUL) to the terminal.

Live on the real platform: the sandboxed code prints a clear-screen and a colour escape and
a NUL. The session's stored record keeps the escapes raw, with the NUL as U+FFFD (PostgreSQL
cannot hold NUL; before, the executor failed to record the result and the turn expired);
`soma chat` shows the escapes as visible text and sends no control character to the terminal.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import httpx

from cli.test_chat_cards import card_block
from services.gateway.conftest import RunningGateway
from somaagent.services.conversation_worker import WorkerSettings

SOMA = str(Path(sys.executable).with_name("soma"))
MESSAGE = "run python: print(chr(27) + '[2J' + chr(27) + '[31mRED' + chr(0) + 'END')"
STORED = "\x1b[2J\x1b[31mRED\ufffdEND"
SHOWN = "\\x1b[2J\\x1b[31mRED\ufffdEND"


async def soma_chat(base_url: str, key: str, message: str) -> tuple[int, bytes, str]:
    proc = await asyncio.create_subprocess_exec(
        SOMA, "chat", "--url", base_url, "--key", key, "-m", message,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        async with asyncio.timeout(240):
            out, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, out, err.decode()


async def stored_tool_stdout(base_url: str, key: str, session_id: str) -> list[str]:
    """stdout of every tool result in the session's stored events, as the API returns it."""
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=10) as http:
        r = await http.get(f"/v1/sessions/{session_id}/events", params={"limit": 500})
    assert r.status_code == 200, r.text
    events: list[dict[str, Any]] = [e["event"] for e in r.json()["events"]]
    return [str(e["payload"]["stdout"]) for e in events if e["type"] == "tool.result.received"]


async def test_soma_chat_escapes_control_characters_of_tool_output(
    web_gateway: RunningGateway, web_tools: WorkerSettings, user_key: tuple[str, str]
) -> None:
    _, key = user_key
    code, out, err = await soma_chat(web_gateway.base_url, key, MESSAGE)
    assert code == 0, err
    assert b"\x1b" not in out and b"\x00" not in out, out
    text = out.decode()
    block = card_block(text, "code_execution")
    assert block, f"no code_execution card in the output:\n{text}"
    assert f"│ {SHOWN}" in block, text
    session_id = err.split("session ", 1)[1].split()[0]
    stored = await stored_tool_stdout(web_gateway.base_url, key, session_id)
    assert any(STORED in stdout for stdout in stored), stored
