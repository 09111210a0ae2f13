"""Generated text through the API: the gateway answers 2xx or 4xx only, and every message it
accepts ends in a completed or failed turn in the session's history."""

from __future__ import annotations

import httpx
import orjson
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from e2e.conftest import User, finished_turn, new_session

# mostly characters the door must judge: controls, NUL, surrogates, and some plain letters
AWKWARD = st.text(
    alphabet=st.one_of(
        st.sampled_from("\x00\x01\x07\x0b\x1b\x7f\t\n\r\ud800\udfff\ufffe\u202e\u00e9"),
        st.characters(codec="utf-8", categories=["L", "N", "P", "Zs"]),
        st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
    ),
    min_size=0,
    max_size=12,
)


@settings(
    max_examples=6,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=AWKWARD)
async def test_generated_messages_are_refused_at_the_door_or_end_in_a_turn(
    api: httpx.AsyncClient, user: User, text: str
) -> None:
    sid = await new_session(api, user)
    body = orjson.dumps({"text": text}) if _encodable(text) else _escaped(text)
    headers = {**user.headers, "content-type": "application/json"}
    r = await api.post(f"/v1/sessions/{sid}/messages", content=body, headers=headers)
    assert 200 <= r.status_code < 500, r.text
    event(f"answered {r.status_code}")
    if r.status_code >= 300:
        assert r.json()["error"]["field"] == "text", r.text
        return
    turn = await finished_turn(api, user, sid, r.json()["correlation_id"])
    assert turn["status"] in {"completed", "error"}
    assert turn["user_message"] == text


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _escaped(text: str) -> bytes:
    """JSON with every character as a \\uXXXX escape (how a client sends a lone surrogate)."""
    return ('{"text": "' + "".join(f"\\u{ord(c):04x}" for c in text) + '"}').encode()
