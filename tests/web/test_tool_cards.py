"""Tool cards in the web client (Debian's Chromium) on the real platform: a code_execution
call shows its output as a card before the answer, live and after a reload; a restarted
turn shows its card once; a card's attachment downloads through the gateway, for its own
tenant only."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import asyncpg
import httpx
from playwright.async_api import Browser, expect

from services.gateway.conftest import RunningGateway
from somaagent.adapters.kafka import KafkaEventBus
from somaagent.adapters.postgres.api_keys import ApiKeyStore
from somaagent.adapters.postgres.attachments import PostgresAttachmentStore
from somaagent.adapters.postgres.event_store import PostgresEventStore
from somaagent.domain.event_types import (
    MESSAGE_RECEIVED,
    TOOL_CALL_REQUESTED,
    TOOL_RESULT_RECEIVED,
    TURN_COMPLETED,
    MessageReceived,
    make_event,
)
from somaagent.domain.events import Envelope, new_id
from somaagent.domain.stream import STREAM_UPDATE, StreamUpdate
from somaagent.domain.tool_card import tool_card
from somaagent.domain.tools import Attachment, ToolCall, ToolResult
from somaagent.domain.turns import ConversationTurn
from somaagent.services.conversation_worker import WorkerSettings

from .test_web_client import COMPLETED, sign_in_and_send

CARD = "li.msg.assistant .toolcard"
MESSAGE = "run python: print(17*23)"


async def test_code_execution_card_shows_391_before_the_answer_and_after_a_reload(
    browser: Browser,
    web_gateway: RunningGateway,
    web_tools: WorkerSettings,
    user_key: tuple[str, str],
    artifacts: Path,
) -> None:
    _, key = user_key
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    await sign_in_and_send(page, web_gateway, key, MESSAGE)
    await expect(page.locator(COMPLETED)).to_have_count(1, timeout=120_000)
    card = page.locator(CARD)
    answer = await page.locator("li.msg.assistant .body").last.text_content()
    assert await card.count() == 1, f"no tool card; the turn answered {answer!r}"
    await expect(card.locator(".tc-tool")).to_have_text("code_execution")
    await expect(card).to_have_attribute("data-status", "ok")
    await expect(card.locator(".tc-out")).to_have_text("391")
    await expect(card.locator(".tc-args")).to_contain_text("17")
    # the card sits inside the assistant's message, above the answer text
    assert await page.locator("li.msg.assistant .cards + .body").count() == 1
    await page.screenshot(path=str(artifacts / "web-client-tool-card.png"))

    await page.reload()  # the finished turn is rebuilt from the stored events
    await expect(page.locator(COMPLETED)).to_have_count(1, timeout=30_000)
    await expect(page.locator(CARD)).to_have_count(1)
    await expect(page.locator(f"{CARD} .tc-out")).to_have_text("391")
    await expect(page.locator(f"{CARD} .tc-tool")).to_have_text("code_execution")
    await page.close()


async def test_a_restarted_turn_shows_its_card_once_before_the_answer(
    browser: Browser, web_gateway: RunningGateway, user_key: tuple[str, str]
) -> None:
    """The outbound events are published with a real Kafka producer, in the worker's role:
    the first attempt dies after its tool_result, the second re-sends it and answers."""
    tenant, key = user_key
    async with httpx.AsyncClient(base_url=web_gateway.base_url, timeout=10) as http:
        auth = {"Authorization": f"Bearer {key}"}
        sid = (await http.post("/v1/sessions", json={}, headers=auth)).json()["session_id"]
    page = await browser.new_page()
    await page.goto(f"{web_gateway.base_url}/#{sid}")
    await page.fill("#key-input", key)
    await page.click("#signin-form button[type=submit]")
    await expect(page.locator("#conn[data-state=live]")).to_be_visible()

    corr = new_id()
    call = ToolCall(
        tool="code_execution", arguments={"language": "python", "code": "print(17*23)"},
        session_id=sid, tenant_id=tenant, correlation_id=corr,
    )  # fmt: skip
    result = ToolResult(
        request_id=call.request_id, tool=call.tool, status="ok", exit_code=0, stdout="391\n"
    )
    card = tool_card(call, result)
    answer = "17 times 23 is 391."
    updates = [
        StreamUpdate(status="calling_tool", correlation_id=corr, seq=0, tool=call.tool),
        StreamUpdate(status="tool_result", correlation_id=corr, seq=1, card=card),
        StreamUpdate(status="restarted", correlation_id=corr, seq=0, attempt=2),
        StreamUpdate(status="tool_result", correlation_id=corr, seq=1, attempt=2, card=card),
        StreamUpdate(status="streaming", correlation_id=corr, seq=2, attempt=2, delta=answer),
        StreamUpdate(status="completed", correlation_id=corr, seq=3, attempt=2, text=answer),
    ]
    async with KafkaEventBus(web_gateway.settings.kafka) as bus:
        for update in updates:
            event = make_event(
                STREAM_UPDATE, update, session_id=sid, tenant_id=tenant, correlation_id=corr
            )
            await bus.publish(web_gateway.settings.gateway.outbound_topic, event)

    await expect(page.locator(COMPLETED)).to_have_count(1, timeout=30_000)
    await expect(page.locator(CARD)).to_have_count(1)
    await expect(page.locator(f"{CARD} .tc-out")).to_have_text("391")
    await expect(page.locator(f"{CARD} .tc-args")).to_have_text("print(17*23)")
    await expect(page.locator("li.msg.assistant .cards + .body")).to_have_text(answer)
    await page.close()


async def stored_turn_with_a_file(
    pool: asyncpg.Pool, tenant: str, session_id: str, content: bytes
) -> Attachment:
    """A finished turn whose code_execution call wrote squares.csv, in the real stores."""
    attachment = await PostgresAttachmentStore(pool).put(
        tenant, session_id, "squares.csv", content, "text/csv"
    )
    common = {"session_id": session_id, "tenant_id": tenant, "correlation_id": new_id()}
    code = "open('squares.csv', 'w').write('1,4,9\\n'); print('wrote squares.csv')"
    call = ToolCall(tool="code_execution", arguments={"language": "python", "code": code}, **common)
    result = ToolResult(
        request_id=call.request_id, tool=call.tool, status="ok", exit_code=0,
        stdout="wrote squares.csv\n", duration_s=0.21, attachments=[attachment],
    )  # fmt: skip
    turn = ConversationTurn(
        user_message="write the first three squares to a csv file",
        assistant_message="The file squares.csv holds 1, 4 and 9.",
        tool_calls=[call],
        tool_results=[result],
        **common,
    )
    events: list[Envelope] = [
        make_event(MESSAGE_RECEIVED, MessageReceived(text=turn.user_message), **common),
        make_event(TOOL_CALL_REQUESTED, call, **common),
        make_event(TOOL_RESULT_RECEIVED, result, **common),
        make_event(TURN_COMPLETED, turn, **common),
    ]
    await PostgresEventStore(pool).append(events)
    return attachment


async def test_a_cards_attachment_downloads_for_its_tenant_only(
    browser: Browser,
    web_gateway: RunningGateway,
    user_key: tuple[str, str],
    pg_pool: asyncpg.Pool,
    artifacts: Path,
) -> None:
    tenant, key = user_key
    content = b"1,4,9\n"
    async with httpx.AsyncClient(base_url=web_gateway.base_url, timeout=10) as http:
        auth = {"Authorization": f"Bearer {key}"}
        sid = (await http.post("/v1/sessions", json={}, headers=auth)).json()["session_id"]
        attachment = await stored_turn_with_a_file(pg_pool, tenant, sid, content)

        page = await browser.new_page()
        await page.goto(f"{web_gateway.base_url}/#{sid}")
        await page.fill("#key-input", key)
        await page.click("#signin-form button[type=submit]")
        link = page.locator(f"{CARD} .tc-file")
        await expect(link).to_have_text("⤓ squares.csv")
        await expect(page.locator(f"{CARD} .tc-out")).to_have_text("wrote squares.csv")
        await page.screenshot(path=str(artifacts / "web-client-tool-card-file.png"))
        async with page.expect_download() as info:
            await link.click()
        download = await info.value
        assert download.suggested_filename == "squares.csv"
        saved = Path(await download.path())
        assert await asyncio.to_thread(saved.read_bytes) == content
        await page.close()

        url = f"/v1/attachments/{attachment.attachment_id}"
        r = await http.get(url, headers=auth)
        assert r.status_code == 200 and r.content == content
        assert r.headers["content-disposition"].startswith('attachment; filename="squares.csv"')
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["etag"] == f'"{hashlib.sha256(content).hexdigest()}"'
        other, _ = await ApiKeyStore(pg_pool).create(f"{tenant}-other", "user", "eve")
        denied = await http.get(url, headers={"Authorization": f"Bearer {other}"})
        assert denied.status_code == 404
        assert (await http.get(url)).status_code == 401
