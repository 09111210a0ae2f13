"""Files in and out on the running platform: `soma chat --attach` uploads a text file and
document_query answers from it; a CSV that code wrote downloads byte for byte."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import httpx

from e2e.conftest import User, history
from services.gateway.conftest import RunningGateway
from services.tool_executor.helpers import read, results_of
from somaagent.adapters.kafka import KafkaEventBus
from somaagent.domain.event_types import TOOL_CALL_REQUESTED, make_event
from somaagent.domain.tools import ToolCall, ToolResult
from somaagent.services.conversation_worker import WorkerSettings
from somaagent.settings import CommonSettings

SOMA = str(Path(sys.executable).with_name("soma"))
NOTES = (
    "Release notes of Project Heron.\n\n"
    "The Heron launch date is 14 March; the launch city is Tromsø.\n\n"
    "Unrelated: the cafeteria serves soup on Fridays.\n"
)
CSV = "city,visitors\r\nTromsø,1200\r\nBergen,830\r\n".encode()


async def test_an_attached_file_is_read_by_document_query_for_the_answer(
    api: httpx.AsyncClient, web_gateway: RunningGateway, user: User, tmp_path: Path
) -> None:
    notes = tmp_path / "heron.txt"
    notes.write_text(NOTES)
    proc = await asyncio.create_subprocess_exec(
        SOMA, "chat", "--url", web_gateway.base_url, "--key", user.key,
        "--attach", str(notes), "-m", "What is the Heron launch date?",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 240)
    assert proc.returncode == 0, err.decode()
    assert "attached heron.txt" in err.decode()
    sid = err.decode().split("session ", 1)[1].split()[0]
    (turn,) = [e["payload"] for e in await history(api, user, sid)
               if e["type"] == "conversation.turn.completed"]  # fmt: skip
    assert turn["status"] == "completed", turn
    (call,) = turn["tool_calls"]
    (result,) = turn["tool_results"]
    assert call["tool"] == "document_query"
    assert result["status"] == "ok" and "14 March" in result["stdout"]
    assert result["stdout"].startswith("[1/")  # the passage that answers, ranked first
    assert "14 March" in turn["assistant_message"], turn["assistant_message"]
    assert "14 March" in out.decode()


async def result_of(settings: CommonSettings, topic: str, request_id: str) -> ToolResult:
    """The result of `request_id` on the results topic (other tests' results are there too)."""
    for count in range(1, 50):
        found = results_of(await read(settings, topic, count))
        if request_id in found:
            return found[request_id][0]
    raise AssertionError(f"no result for {request_id}")


async def test_a_csv_that_code_wrote_downloads_byte_for_byte(
    api: httpx.AsyncClient, web_tools: WorkerSettings, settings: CommonSettings, user: User
) -> None:
    code = f"open('visits.csv', 'wb').write({CSV!r})"
    call = ToolCall(
        tool="code_execution", arguments={"language": "python", "code": code},
        session_id="files-e2e", tenant_id=user.tenant_id, correlation_id="files-e2e",
        timeout_s=20,
    )  # fmt: skip
    event = make_event(
        TOOL_CALL_REQUESTED, call, session_id=call.session_id, tenant_id=user.tenant_id,
        correlation_id=call.correlation_id,
    )  # fmt: skip
    async with KafkaEventBus(settings.kafka) as bus:
        await bus.publish(web_tools.topics.tool_requests, event)
    result = await result_of(settings, web_tools.topics.tool_results, call.request_id)
    (produced,) = result.attachments
    r = await api.get(f"/v1/attachments/{produced.attachment_id}", headers=user.headers)
    assert r.status_code == 200 and r.content == CSV
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["etag"] == f'"{produced.sha256}"'
    assert 'filename="visits.csv"' in r.headers["content-disposition"]
