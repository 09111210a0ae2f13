"""The first message of a new chat is shown the moment it is sent, stays while the answer
streams in, and both are there after a reload (Debian's Chromium, the real platform).

The browser holds back the (real) answer to POST .../messages until the reply has started
streaming, as happens on a loaded machine: the message must not depend on that answer."""

from __future__ import annotations

import asyncio

from playwright.async_api import Browser, Page, Route, expect

from services.gateway.conftest import RunningGateway
from somaagent.services.conversation_worker import WorkerSettings

FIRST = "Name two colours of the sea."
USER = "li.msg.user .body"
ASSISTANT = "li.msg.assistant .body"
COMPLETED = "li.msg.assistant .status[data-kind=completed]"


async def hold_until_the_reply_streams(page: Page, route: Route) -> None:
    response = await route.fetch()
    for _ in range(600):
        if await page.locator("li.msg.assistant").count():
            break
        await asyncio.sleep(0.1)
    await route.fulfill(response=response)


async def test_first_message_of_a_new_chat_is_shown_then_the_reply_then_both_after_reload(
    browser: Browser,
    web_gateway: RunningGateway,
    web_worker: WorkerSettings,
    user_key: tuple[str, str],
) -> None:
    _, key = user_key
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    await page.goto(web_gateway.base_url + "/")
    await page.fill("#key-input", key)
    await page.click("#signin-form button[type=submit]")
    await page.click("#new-session")
    await page.route("**/messages", lambda route: hold_until_the_reply_streams(page, route))
    await page.fill("#message", FIRST)
    await page.click("#send")
    # shown at once: before the reply has finished (the model takes seconds)
    await expect(page.locator(USER)).to_have_text([FIRST], timeout=1_500)
    assert await page.locator(COMPLETED).count() == 0
    await expect(page.locator(COMPLETED)).to_have_count(1, timeout=180_000)
    await expect(page.locator(USER)).to_have_text([FIRST])  # still there, still once
    reply = await page.locator(ASSISTANT).inner_text()
    assert reply.strip()
    order = await page.eval_on_selector_all(
        "#transcript li.msg", "els => els.map(e => e.classList.contains('user'))"
    )
    assert order == [True, False]
    await page.reload()
    await expect(page.locator(COMPLETED)).to_have_count(1, timeout=30_000)
    await expect(page.locator(USER)).to_have_text([FIRST])
    await expect(page.locator(ASSISTANT)).to_have_text([reply])
    await page.close()
