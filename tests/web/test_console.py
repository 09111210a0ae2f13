"""The operator console in Debian's Chromium on the real platform: a user's code_execution
call is held by policy; the tenant's admin opens the session in the inspector and sees its
events, the profile panel, resolves the item in the requeue dashboard, and watches the turn
complete in the still-open inspector (no reload). Another tenant's user key is refused by
the page and by the API. Screenshots go to docs/console-*.png."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Locator, Page, expect

from services.gateway.conftest import RunningGateway
from somaagent.adapters.openfga import OpenFgaClient
from somaagent.adapters.postgres.api_keys import ApiKeyStore
from somaagent.application.policy.admins import TenantAdmins
from somaagent.services.conversation_worker import WorkerSettings
from somaagent.settings import CommonSettings, repo_root

# worded so the injection tag stays under its threshold (see test_policy_turns.py)
SECRET_CODE = "use python to print the string AKIAIOSFODNN7EXAMPLE"
DOCS = repo_root() / "docs"
TURN = "#timeline > li.turn"


@pytest.fixture
async def keys3(pg_pool: Any, settings: CommonSettings) -> AsyncIterator[dict[str, str]]:
    """An admin key and a user key of one tenant, and a user key of another tenant."""
    store = ApiKeyStore(pg_pool)
    tenant = f"con-{uuid.uuid4().hex[:8]}"
    user, _ = await store.create(tenant, "user", "erin")
    stranger, _ = await store.create(f"other-{uuid.uuid4().hex[:8]}", "user", "mallory")
    async with OpenFgaClient(settings.openfga) as fga:
        admin, _ = await TenantAdmins(fga).issue_key(store, tenant, "admin", "ops", actor="test")
    yield {"tenant": tenant, "user": user, "admin": admin, "stranger": stranger}


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def held_turn(api: httpx.AsyncClient, user: str, admin: str) -> tuple[str, str, str]:
    """A session whose turn waits for an admin: (session id, correlation id, requeue id)."""
    r = await api.post("/v1/sessions", json={"title": "held tool"}, headers=auth(user))
    sid = r.json()["session_id"]
    r = await api.post(
        f"/v1/sessions/{sid}/messages", json={"text": SECRET_CODE}, headers=auth(user)
    )
    assert r.status_code == 202, r.text
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        r = await api.get("/v1/console/requeue", headers=auth(admin))
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        if items and items[0]["turn"]:
            return sid, r.json()["items"][0]["turn"], items[0]["id"]
        await asyncio.sleep(0.5)
    raise AssertionError("no held action appeared")


async def console(browser: Browser, gw: RunningGateway, key: str, where: str) -> Page:
    page = await browser.new_page(viewport={"width": 1440, "height": 900})
    await page.goto(f"{gw.base_url}/console")
    await page.evaluate("k => localStorage.setItem('soma.key', k)", key)
    await page.goto(f"{gw.base_url}/console#{where}")
    await page.reload()
    return page


async def resolve_in_dashboard(page: Page, item_id: str) -> None:
    """Open the held item in the dashboard, allow it with a reason, see the audit trail."""
    row = page.locator(f'#requeue-list li[data-item-id="{item_id}"]')
    await expect(row).to_contain_text("code_execution")
    await row.locator("a").click()
    await expect(page.locator("#item-title")).to_contain_text("pending")
    allow = page.locator('#resolve button[data-decision="allow"]')
    await expect(allow).to_be_disabled()  # a reason is required
    await page.locator("#reason").fill("ticket OPS-1: test key, safe to print")
    await page.screenshot(path=str(DOCS / "console-requeue.png"))
    await allow.click()
    await expect(page.locator("#item-title")).to_contain_text("released")
    await expect(page.locator("#audit")).to_contain_text("requeue.allowed")
    await expect(page.locator("#chain")).to_have_text("hash chain intact ✓")
    await expect(page.locator("[data-count=pending]")).to_have_text("0")


async def see_it_completed(page: Page, group: Locator, sid: str, turn: str) -> None:
    """The inspector, never reloaded, shows the turn complete with every event of it."""
    await expect(group).to_have_attribute("data-status", "completed", timeout=150_000)
    await expect(group.locator('li.item[data-kind="tool_result"]')).to_contain_text("[REDACTED")
    for kind in ("slm", "model_call", "assistant"):
        await expect(group.locator(f'li.item[data-kind="{kind}"]')).to_be_visible()
    await expect(group.locator('li.item[data-kind="model_call"]')).to_contain_text("TTFT")
    requeue = group.locator('li.item[data-kind="requeue"]')
    await expect(requeue).to_have_count(1)  # the same item, updated in place
    await expect(requeue).to_contain_text("released")
    listed = page.locator(f'#session-list li[data-session-id="{sid}"]')
    await expect(listed).to_have_attribute("data-status", "completed")
    assert await page.evaluate("() => window.__sameDocument === true")
    await page.screenshot(path=str(DOCS / "console-inspector-completed.png"))
    use = page.locator("#profile-use li")
    await expect(use).to_contain_text(": 1 turns")  # one turn, answered by one profile
    answered = (await use.text_content() or "").split(":")[0]
    await expect(page.locator("#profile-turns")).to_contain_text(f"{turn[:8]}: {answered}")
    await expect(group.locator(".turn-profile")).to_have_text(f"answered by {answered}")
    await page.locator("#profile-panel").screenshot(path=str(DOCS / "console-profile.png"))


async def test_admin_inspects_a_held_turn_resolves_it_and_watches_it_complete_live(
    browser: Browser,
    web_gateway: RunningGateway,
    web_tools: WorkerSettings,
    keys3: dict[str, str],
) -> None:
    async with httpx.AsyncClient(base_url=web_gateway.base_url, timeout=30) as api:
        sid, turn, item_id = await held_turn(api, keys3["user"], keys3["admin"])

        where = f"/session/{sid}/turn/{turn}"
        inspector = await console(browser, web_gateway, keys3["admin"], where)
        group = inspector.locator(f'{TURN}[data-turn="{turn}"]')
        await expect(group).to_have_attribute("data-status", "awaiting_policy", timeout=30_000)
        await expect(group).to_have_class("turn focus")
        for kind in ("user_message", "tool_call", "policy_verdict", "requeue"):
            await expect(group.locator(f'li.item[data-kind="{kind}"]').first).to_be_visible()
        verdict = group.locator('li.item[data-kind="policy_verdict"]').first
        await expect(verdict).to_contain_text("deny")
        await expect(verdict).to_contain_text("constitution hash")
        call = group.locator('li.item[data-kind="tool_call"]')
        await expect(call).to_contain_text("code_execution")
        await expect(inspector.locator("#profile-fields")).to_contain_text("active profile")
        await expect(inspector.locator("#pending-count")).to_have_text("1", timeout=10_000)
        await inspector.evaluate("() => { window.__sameDocument = true; }")
        await inspector.screenshot(path=str(DOCS / "console-inspector.png"))

        dashboard = await console(browser, web_gateway, keys3["admin"], "/requeue")
        await resolve_in_dashboard(dashboard, item_id)
        await see_it_completed(inspector, group, sid, turn)

        # another tenant's user key: the page and the API refuse the session
        stranger = await console(browser, web_gateway, keys3["stranger"], f"/session/{sid}")
        await expect(stranger.locator("#inspector-error")).to_contain_text("not visible")
        await expect(stranger.locator(TURN)).to_have_count(0)
        r = await api.get(f"/v1/console/sessions/{sid}/timeline", headers=auth(keys3["stranger"]))
        assert r.status_code == 404
        for page in (inspector, dashboard, stranger):
            await page.close()
