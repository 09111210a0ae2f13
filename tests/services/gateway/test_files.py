"""Files in and out: upload to a session with size and type limits, name files in a
message, download with content type, disposition and a SHA-256 ETag, never across tenants."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import httpx

from services.gateway.conftest import RunningGateway, Tenant
from services.gateway.test_api import error_code, new_session, read_inbound

NOTES = b"Project Heron ships on 14 March.\n\nIts code name was chosen by Ada.\n"


async def upload(
    http: httpx.AsyncClient, tenant: Tenant, sid: str, content: bytes, media: str, name: str
) -> httpx.Response:
    return await http.post(
        f"/v1/sessions/{sid}/attachments",
        params={"name": name},
        content=content,
        headers={**tenant.headers(), "content-type": media},
    )


async def test_upload_then_download_the_same_bytes_and_not_from_another_tenant(
    http: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    sid = await new_session(http, tenant)
    r = await upload(http, tenant, sid, NOTES, "text/plain; charset=utf-8", "notes ü.txt")
    assert r.status_code == 201, r.text
    made = r.json()
    assert (made["name"], made["size"], made["media_type"]) == (
        "notes ü.txt",
        len(NOTES),
        "text/plain",
    )
    got = await http.get(f"/v1/attachments/{made['attachment_id']}", headers=tenant.headers())
    assert got.status_code == 200 and got.content == NOTES
    assert got.headers["etag"] == f'"{hashlib.sha256(NOTES).hexdigest()}"'
    assert got.headers["content-type"].startswith("text/plain")
    assert got.headers["content-disposition"] == (
        "attachment; filename=\"notes _.txt\"; filename*=UTF-8''notes%20%C3%BC.txt"
    )
    foreign = await http.get(
        f"/v1/attachments/{made['attachment_id']}", headers=other_tenant.headers()
    )
    assert (foreign.status_code, error_code(foreign)) == (404, "not_found")
    not_theirs = await upload(http, other_tenant, sid, NOTES, "text/plain", "x.txt")
    assert not_theirs.status_code == 404


async def test_uploads_outside_the_limits_are_413_415_and_422_naming_file(
    http: httpx.AsyncClient, gateway: RunningGateway, tenant: Tenant
) -> None:
    sid = await new_session(http, tenant)
    limit = gateway.settings.gateway.max_upload_bytes
    cases = [
        (await upload(http, tenant, sid, b"\x89PNG\r\n", "image/png", "a.png"), 415),
        (await upload(http, tenant, sid, b"a" * (limit + 1), "text/plain", "big.txt"), 413),
        (await upload(http, tenant, sid, b"\xff\xfe bad", "text/plain", "bad.txt"), 422),
        (await upload(http, tenant, sid, b"a\x00b", "text/csv", "nul.csv"), 422),
    ]

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while read
        for _ in range(limit // 65_536 + 2):
            yield b"a" * 65_536

    chunked = await http.post(
        f"/v1/sessions/{sid}/attachments",
        params={"name": "big.txt"},
        content=chunks(),
        headers={**tenant.headers(), "content-type": "text/plain"},
    )
    cases.append((chunked, 413))
    for r, status in cases:
        assert (r.status_code, r.json()["error"]["field"]) == (status, "file"), r.text
    r = await upload(http, tenant, sid, b"ok", "text/plain", "../etc/passwd")
    assert (r.status_code, r.json()["error"]["field"]) == (422, "query.name")


async def test_a_message_names_its_files_and_unknown_ids_are_refused(
    http: httpx.AsyncClient, gateway: RunningGateway, tenant: Tenant, other_tenant: Tenant
) -> None:
    sid = await new_session(http, tenant)
    made = (await upload(http, tenant, sid, NOTES, "text/markdown", "notes.md")).json()
    url = f"/v1/sessions/{sid}/messages"
    body = {"text": "When does Heron ship?", "attachments": [made["attachment_id"]]}
    r = await http.post(url, json=body, headers=tenant.headers())
    assert r.status_code == 202, r.text
    event = await read_inbound(gateway, r.json()["partition"], r.json()["offset"])
    assert event["payload"]["attachments"] == [made]
    other_sid = await new_session(http, other_tenant)
    r = await http.post(
        f"/v1/sessions/{other_sid}/messages", json=body, headers=other_tenant.headers()
    )
    assert (r.status_code, r.json()["error"]["field"]) == (422, "attachments"), r.text
