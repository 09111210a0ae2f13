"""The web client's attach button: a text file is uploaded to a new chat, the message names
it, document_query reads it and the tool card and the answer show what it found."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser, expect

from services.gateway.conftest import RunningGateway
from somaagent.services.conversation_worker import WorkerSettings

NOTES = (
    "Release notes of Project Heron.\n\n"
    "The Heron launch date is 14 March; the launch city is Tromsø.\n\n"
    "Unrelated: the cafeteria serves soup on Fridays.\n"
)


async def test_a_file_attached_with_the_button_is_read_for_the_answer(
    browser: Browser,
    web_gateway: RunningGateway,
    web_tools: WorkerSettings,
    user_key: tuple[str, str],
    tmp_path: Path,
) -> None:
    _, key = user_key
    notes = tmp_path / "heron.txt"
    notes.write_text(NOTES)
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    await page.goto(web_gateway.base_url + "/")
    await page.fill("#key-input", key)
    await page.click("#signin-form button[type=submit]")
    await page.click("#new-session")
    await page.set_input_files("#file", str(notes))
    await expect(page.locator("#files li")).to_have_text(["📎 heron.txt"])
    await page.fill("#message", "What is the Heron launch date?")
    await page.click("#send")
    await expect(page.locator("li.msg.user .attached")).to_have_text("📎 heron.txt")
    await expect(page.locator("#files")).to_be_hidden()
    done = page.locator("li.msg.assistant .status[data-kind=completed]")
    await expect(done).to_have_count(1, timeout=180_000)
    card = page.locator("li.msg.assistant .toolcard")
    await expect(card.locator(".tc-tool")).to_have_text("document_query")
    await expect(card.locator(".tc-out")).to_contain_text("14 March")
    await expect(page.locator("li.msg.assistant .body")).to_contain_text("14 March")
    await page.close()
