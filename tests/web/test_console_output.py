"""Tool output in the console (Debian's Chromium, the real gateway): markup, ANSI escapes and
NUL bytes show as text and never run; long output is collapsed until expanded; a turn's
deep link opens its page and marks the turn; the session list filters through the API."""

from __future__ import annotations

import uuid
from pathlib import Path

import asyncpg
from playwright.async_api import Browser, expect

from services.gateway.conftest import RunningGateway
from services.gateway.test_console_api import chat_turn, new_session, tool_turn
from somaagent.adapters.postgres.event_store import PostgresEventStore
from somaagent.settings import repo_root

HOSTILE = (
    '\x1b[1;31mFAIL\x1b[0m <img src=x onerror="window.__pwned=1"><b>bold</b> \x00end\n'
    + "".join(f"row {i}\n" for i in range(40))
)


async def test_hostile_long_output_is_text_collapsed_and_the_turn_link_focuses_it(
    browser: Browser,
    web_gateway: RunningGateway,
    pg_pool: asyncpg.Pool,
    user_key: tuple[str, str],
    artifacts: Path,
) -> None:
    tenant, key = user_key
    store = PostgresEventStore(pg_pool)
    sid = await new_session(pg_pool, tenant, title="hostile output", owner="dana")
    first, second = uuid.uuid4().hex, uuid.uuid4().hex
    await store.append(
        chat_turn(sid, tenant, first, "hello") + tool_turn(sid, tenant, second, HOSTILE)
    )
    other = await new_session(pg_pool, tenant, persona="coach", title="other persona", owner="dana")

    page = await browser.new_page(viewport={"width": 1440, "height": 900})
    await page.goto(f"{web_gateway.base_url}/console")
    await page.evaluate("k => localStorage.setItem('soma.key', k)", key)
    await page.goto(f"{web_gateway.base_url}/console#/session/{sid}/turn/{second}")
    await page.reload()

    group = page.locator(f'#timeline > li.turn[data-turn="{second}"]')
    await expect(group).to_have_class("turn focus")
    # the link opens the page that starts at the turn (a long session is not read from seq 1)
    await expect(page.locator(f'#timeline > li.turn[data-turn="{first}"]')).to_have_count(0)
    await expect(page.locator("#tab-requeue")).to_be_hidden()  # a user key: no dashboard
    stdout = group.locator('li.item[data-kind="tool_result"] .blk[data-label="stdout"]')
    text = stdout.locator("pre")
    await expect(text).to_contain_text(
        '\\x1b[1;31mFAIL\\x1b[0m <img src=x onerror="window.__pwned=1"><b>bold</b> \\x00end'
    )
    assert await page.locator("#timeline img, #timeline pre b").count() == 0
    assert await page.evaluate("() => window.__pwned") is None
    assert len((await text.text_content() or "").split("\n")) == 12  # collapsed
    expand = stdout.locator("button.expand")
    await expect(expand).to_have_text("Show all 42 lines")
    await expand.click()
    assert len((await text.text_content() or "").split("\n")) == 42
    await expect(text).to_contain_text("row 39")
    await page.screenshot(path=str(artifacts / "console-output.png"))
    await page.screenshot(path=str(repo_root() / "docs" / "console-tool-output.png"))
    await expand.click()
    await expect(text).not_to_contain_text("row 39")

    await page.locator("#f-persona").fill("coach")
    await page.locator("#filters button").click()
    await expect(page.locator("#session-list li")).to_have_count(1)
    await expect(page.locator("#session-list li").first).to_have_attribute("data-session-id", other)
    await page.close()
