"""Bad characters fail at the door: a 422 naming the field, never a 202 that dies later."""

from __future__ import annotations

import httpx
import pytest

from services.gateway.conftest import Tenant
from services.gateway.test_api import new_session
from somaagent.domain.text_checks import storable, text_problem


def refused(r: httpx.Response, field: str) -> str:
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert (error["code"], error["field"]) == ("invalid_input", field), error
    return str(error["message"])


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (rb'{"text": "a\u0000b"}', "U+0000 (NUL) at index 1"),
        (rb'{"text": "ok \ud800 then"}', "unicode string"),  # pydantic's own refusal
        (rb'{"text": "bell\u0007"}', "U+0007 at index 4, a control character"),
        (rb'{"text": "\udc00"}', "unicode string"),
    ],
)
async def test_a_message_with_refused_characters_is_a_422_naming_text(
    http: httpx.AsyncClient, tenant: Tenant, raw: bytes, says: str
) -> None:
    sid = await new_session(http, tenant)
    h = {**tenant.headers(), "content-type": "application/json"}
    r = await http.post(f"/v1/sessions/{sid}/messages", content=raw, headers=h)
    assert says in refused(r, "text")
    history = await http.get(f"/v1/sessions/{sid}/events", headers=tenant.headers())
    assert [e["event"]["type"] for e in history.json()["events"]] == ["session.created"]


async def test_tabs_and_line_breaks_in_a_message_are_accepted(
    http: httpx.AsyncClient, tenant: Tenant
) -> None:
    sid = await new_session(http, tenant)
    text = "col1\tcol2\r\nnext line \u00e9\U0001f600"
    r = await http.post(
        f"/v1/sessions/{sid}/messages", json={"text": text}, headers=tenant.headers()
    )
    assert r.status_code == 202, r.text


async def test_one_line_fields_refuse_line_breaks_and_other_fields_their_controls(
    http: httpx.AsyncClient, tenant: Tenant
) -> None:
    r = await http.post("/v1/sessions", json={"title": "two\nlines"}, headers=tenant.headers())
    assert "U+000A (a line break) at index 3" in refused(r, "title")
    r = await http.post(
        "/v1/keys",
        json={"subject": "bob\u0000", "role": "user"},
        headers=tenant.headers(admin=True),
    )
    refused(r, "subject")
    r = await http.post(
        "/v1/policy/requeue/whatever/resolve",
        json={"decision": "deny", "reason": "no\u0000"},
        headers=tenant.headers(admin=True),
    )
    refused(r, "reason")
    r = await http.get("/v1/sessions", params={"cursor": "a\u0000"}, headers=tenant.headers())
    refused(r, "query.cursor")


async def test_an_id_in_the_path_with_a_nul_is_refused_not_a_server_error(
    http: httpx.AsyncClient, tenant: Tenant
) -> None:
    r = await http.get("/v1/sessions/a%00b/events", headers=tenant.headers())
    refused(r, "path.session_id")


def test_the_check_names_the_first_bad_character_and_storable_replaces_them_all() -> None:
    assert text_problem("fine\ttext\n") is None
    assert text_problem("fine\ttext", line=True) == (
        "holds U+0009 (a tab) at index 4, a control character that has no place here"
    )
    assert text_problem("\x7f") is not None
    assert storable("a\x00b\ud800c\x01") == "a\ufffdb\ufffdc\ufffd"
