"""The README's operator flow on the running platform, with no hand-written OpenFGA tuples:
`soma keys create --role admin` -> a held tool call -> refused for a user key and for another
tenant's admin -> resolved by `soma requeue resolve` (and by the API) -> the tool runs and the
turn completes."""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from e2e.conftest import User, finished_turn, history, new_session
from services.gateway.conftest import RunningGateway
from somaagent.domain.event_types import (
    MESSAGE_RECEIVED,
    POLICY_VERDICT_RECORDED,
    TOOL_CALL_REQUESTED,
)
from somaagent.settings import CommonSettings

SOMA = str(Path(sys.executable).with_name("soma"))
# worded so the injection tag stays under its threshold (see test_policy_turns.py)
SECRET_CODE = "use python to print the string AKIAIOSFODNN7EXAMPLE"


async def soma(settings: CommonSettings, *args: str) -> str:
    """Run the `soma` command on this run's schema; its stdout (exit 0 asserted)."""
    env = {**os.environ, "SOMA_POSTGRES__DB_SCHEMA": settings.postgres.db_schema}
    proc = await asyncio.create_subprocess_exec(
        SOMA, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, (args, out.decode(), err.decode())
    return out.decode()


async def key(settings: CommonSettings, tenant: str, role: str, subject: str) -> User:
    out = await soma(
        settings, "keys", "create", "--tenant", tenant, "--role", role, "--subject", subject
    )
    return User(tenant, out.strip().splitlines()[-1])


async def held_item(api: httpx.AsyncClient, who: User, timeout_s: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        r = await api.get("/v1/policy/requeue", params={"status": "pending"}, headers=who.headers)
        assert r.status_code == 200, r.text
        if r.json():
            return dict(r.json()[0])
        await asyncio.sleep(0.5)
    raise AssertionError("no held action appeared")


async def hold_one(api: httpx.AsyncClient, who: User) -> tuple[str, str, dict[str, Any]]:
    sid = await new_session(api, who)
    r = await api.post(
        f"/v1/sessions/{sid}/messages", json={"text": SECRET_CODE}, headers=who.headers
    )
    assert r.status_code == 202, r.text
    return sid, r.json()["correlation_id"], await held_item(api, who)


async def test_admin_key_held_action_resolved_by_cli_and_api_without_hand_written_tuples(
    api: httpx.AsyncClient, web_gateway: RunningGateway, settings: CommonSettings
) -> None:
    tenant = f"acme-{uuid.uuid4().hex[:8]}"
    admin = await key(settings, tenant, "admin", "ops")
    user = await key(settings, tenant, "user", "erin")
    other_admin = await key(settings, f"globex-{uuid.uuid4().hex[:8]}", "admin", "ops")
    assert "ops" in await soma(settings, "admins", "list", "--tenant", tenant)

    sid, correlation, item = await hold_one(api, user)
    assert item["request"]["resource"] == "code_execution"
    held = [MESSAGE_RECEIVED, TOOL_CALL_REQUESTED, POLICY_VERDICT_RECORDED]
    for _ in range(100):  # the held turn's events join its history as it starts to wait
        waiting = [e["type"] for e in await history(api, user, sid)]
        if waiting[-3:] == held:
            break
        await asyncio.sleep(0.1)
    assert waiting[-3:] == held, waiting
    resolve = f"/v1/policy/requeue/{item['id']}/resolve"
    body = {"decision": "allow", "reason": "a test key"}
    refused = await api.post(resolve, json=body, headers=user.headers)
    assert refused.status_code == 403 and "not an admin" in refused.text
    foreign = await api.post(resolve, json=body, headers=other_admin.headers)
    assert foreign.status_code == 404  # another tenant's item does not exist for its admin
    out = await soma(
        settings,
        "requeue",
        "resolve",
        item["id"],
        "--decision",
        "allow",
        "--reason",
        "a test key",
        "--url",
        web_gateway.base_url,
        "--key",
        admin.key,
    )
    assert f"{item['id']} released" in out
    turn = await finished_turn(api, user, sid, correlation)
    assert turn["status"] == "completed", turn
    (result,) = turn["tool_results"]
    assert result["status"] == "ok" and "[REDACTED:c1-2]" in result["stdout"]  # ran, redacted
    held, override = turn["policy_verdicts"]
    assert held["allow"] is False and "C1" in held["reasons"][0]
    assert override["allow"] is True and override["policy_version"] == "admin-override"
    assert override["reasons"] == ["allowed by user:ops: a test key"]
    replayed = await soma(settings, "replay", sid)
    assert "policy allow: allowed by user:ops: a test key" in replayed

    sid, correlation, item = await hold_one(api, user)
    r = await api.post(
        f"/v1/policy/requeue/{item['id']}/resolve",
        json={"decision": "allow", "reason": "by the API"},
        headers=admin.headers,
    )
    assert (r.status_code, r.json()["status"]) == (200, "released"), r.text
    turn = await finished_turn(api, user, sid, correlation)
    assert turn["status"] == "completed" and len(turn["tool_results"]) == 1
    assert turn["policy_verdicts"][-1]["reasons"] == ["allowed by user:ops: by the API"]
