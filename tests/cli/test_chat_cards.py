"""`soma chat` prints each tool call as a card before the answer: live on the real platform
(gateway, conversation worker, sandboxed executor, local model), and as rendered text."""

from __future__ import annotations

import asyncio
import hashlib
import sys
from pathlib import Path

from rich.console import Console

from services.gateway.conftest import RunningGateway
from somaagent.cli.chat import card_text
from somaagent.domain.tool_card import tool_card
from somaagent.domain.tools import Attachment, ToolCall, ToolResult
from somaagent.services.conversation_worker import WorkerSettings

SOMA = str(Path(sys.executable).with_name("soma"))


def card_block(text: str, tool: str) -> list[str]:
    """The lines of the first card of `tool` in the output, from ┌ to └ (none: [])."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith(f"┌ {tool} · ")]
    if not starts:
        return []
    ends = [i for i in range(starts[0], len(lines)) if lines[i].startswith("└")]
    return lines[starts[0] : ends[0] + 1] if ends else []


async def test_soma_chat_shows_the_code_execution_card_with_391(
    web_gateway: RunningGateway, web_tools: WorkerSettings, user_key: tuple[str, str]
) -> None:
    _, key = user_key
    proc = await asyncio.create_subprocess_exec(
        SOMA, "chat", "--url", web_gateway.base_url, "--key", key,
        "-m", "run python: print(17*23)",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        async with asyncio.timeout(240):
            out, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()
    text = out.decode()
    block = card_block(text, "code_execution")
    assert block, f"no code_execution card in the output:\n{text}"
    assert block[0].startswith("┌ code_execution · ok · "), text
    assert "│ 391" in block, text
    assert any(line.startswith("│ > ") and "17" in line for line in block), text
    # the card comes before the turn's final status line
    assert text.index(block[0]) < text.index("completed · "), text


def test_card_text_shows_status_output_and_attachment_links() -> None:
    call = ToolCall(
        tool="code_execution",
        arguments={"language": "python", "code": "import csv\nprint(1)\nx = 2\ny = 3\n1/0"},
        session_id="s", tenant_id="t", correlation_id="c",
    )  # fmt: skip
    content = b"a,b\n"
    attachment = Attachment(
        name="out.csv", sha256=hashlib.sha256(content).hexdigest(), size=4, media_type="text/csv"
    )
    trace = "Traceback (most recent call last):\nZeroDivisionError: division by zero\n"
    result = ToolResult(
        request_id=call.request_id, tool=call.tool, status="error", exit_code=1,
        stdout="1\n", stderr=trace,
        duration_s=0.0421, attachments=[attachment],
    )  # fmt: skip
    console = Console(record=True, width=120)
    console.print(card_text(tool_card(call, result), "http://127.0.0.1:8080"))
    assert console.export_text().splitlines() == [
        "┌ code_execution · error (exit 1) · 0.04 s",
        "│ > import csv",
        "│ > print(1)",
        "│ > x = 2",
        "│ > …",
        "│ Traceback (most recent call last):",
        "│ ZeroDivisionError: division by zero",
        "│ ⤓ out.csv · 4 B · text/csv",
        f"│   http://127.0.0.1:8080/v1/attachments/{attachment.attachment_id}",
        "└",
    ]
