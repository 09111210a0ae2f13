"""The web client in Debian's Chromium against the real platform: a real gateway, the real
conversation worker and the real local model, on the stack's Kafka and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import orjson
from playwright.async_api import Browser, Page, expect

from services.gateway.conftest import RunningGateway
from somaagent.domain.event_types import TURN_COMPLETED
from somaagent.services.conversation_worker import WorkerSettings

SAMPLE_TEXT_GROWTH = """async () => {
  const lengths = [];
  const started = performance.now();
  while (performance.now() - started < 180000) {
    await new Promise((r) => requestAnimationFrame(r));
    const bodies = document.querySelectorAll("li.msg.assistant .body");
    const status = document.querySelectorAll("li.msg.assistant .status");
    if (bodies.length) lengths.push(bodies[bodies.length - 1].textContent.length);
    if (status.length && status[status.length - 1].dataset.kind === "completed") break;
  }
  return lengths;
}"""

COMPLETED = "li.msg.assistant .status[data-kind=completed]"


async def sign_in_and_send(page: Page, gw: RunningGateway, key: str, text: str) -> None:
    await page.goto(gw.base_url + "/")
    await page.fill("#key-input", key)
    await page.click("#signin-form button[type=submit]")
    await page.fill("#message", text)
    await page.click("#send")


async def persisted_answers(pool: asyncpg.Pool, tenant: str) -> list[str]:
    rows = await pool.fetch(
        "SELECT body FROM events WHERE tenant_id = $1 AND type = $2 ORDER BY position",
        tenant,
        TURN_COMPLETED,
    )
    return [orjson.loads(r["body"])["payload"]["assistant_message"] for r in rows]


async def test_answer_streams_token_by_token_and_survives_a_reload(
    browser: Browser,
    web_gateway: RunningGateway,
    web_worker: WorkerSettings,
    user_key: tuple[str, str],
    pg_pool: asyncpg.Pool,
    artifacts: Path,
) -> None:
    tenant, key = user_key
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    await sign_in_and_send(page, web_gateway, key, "Write three sentences about the sea.")
    lengths = await page.evaluate(SAMPLE_TEXT_GROWTH)
    distinct = sorted(set(lengths))
    assert len(distinct) >= 5, lengths  # the text grew over several frames
    assert lengths == sorted(lengths)
    await expect(page.locator(COMPLETED)).to_have_count(1, timeout=30_000)
    (first,) = await persisted_answers(pg_pool, tenant)
    await expect(page.locator("li.msg.assistant .body").last).to_have_text(first)
    await expect(page.locator("#profile")).to_contain_text("dialogue-")
    await page.screenshot(path=str(artifacts / "web-client.png"))

    # Reload while the second answer streams: the page resumes and shows all of it.
    await page.fill("#message", "Now write three sentences about mountains.")
    await page.click("#send")
    body = page.locator("li.msg.assistant .body").nth(1)
    await expect(body).not_to_have_text("", timeout=180_000)
    reloaded_mid_stream = await page.locator(COMPLETED).count() == 1
    await page.reload()
    await expect(page.locator(COMPLETED)).to_have_count(2, timeout=180_000)
    answers = await persisted_answers(pg_pool, tenant)
    assert len(answers) == 2
    await expect(page.locator("li.msg.assistant .body").last).to_have_text(answers[1])
    await expect(page.locator("li.msg.user .body").last).to_have_text(
        "Now write three sentences about mountains."
    )
    assert reloaded_mid_stream, "the second answer finished before the reload"
    await page.screenshot(path=str(artifacts / "web-client-after-reload.png"))

    # A phone-sized screen keeps the conversation readable.
    await page.set_viewport_size({"width": 390, "height": 780})
    await expect(page.locator("#menu")).to_be_visible()
    await page.wait_for_timeout(400)  # let the sidebar finish sliding away
    await page.screenshot(path=str(artifacts / "web-client-phone.png"))
    await page.close()
