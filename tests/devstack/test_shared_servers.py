"""A second stack on one machine (SOMA_STATE_DIR, other ports) can use servers another launcher
runs (SOMA_SHARED_SERVERS): `up` checks them and never starts them, `down` leaves them
running, `status` shows them up, and a name the stack does not know fails at once."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from somaagent.devstack import Stack
from somaagent.devstack.process import pid_alive
from somaagent.domain.errors import InfraError
from somaagent.settings import CommonSettings, LlmSettings


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_shared_server_is_used_and_left_alone(stack: Stack, tmp_path: Path) -> None:
    """`stack` is the running stack (its `llm` started by the first launcher)."""
    owner = stack.service("llm")
    pid = owner.pid()
    assert pid is not None and pid_alive(pid)
    second = Stack(CommonSettings(state_dir=tmp_path, shared_servers=["llm"]), only=["llm"])
    assert second.up() == {"llm": "shared, up"}
    assert [(r.name, r.state) for r in second.status()] == [("llm", "up")]
    assert second.down() == {"llm": "shared, left alone"}
    assert pid_alive(pid) and owner.ready()
    assert not (tmp_path / "pids").exists()  # nothing of it is recorded as the second's


def test_a_shared_server_that_does_not_answer_is_named(tmp_path: Path) -> None:
    settings = CommonSettings(
        state_dir=tmp_path,
        shared_servers=["llm"],
        llm=LlmSettings(dialogue_port=_closed_port()),
    )
    second = Stack(settings, only=["llm"])
    with pytest.raises(InfraError, match=r"llm: shared server on 127\.0\.0\.1:\d+ does not"):
        second.up()
    assert [(r.name, r.state) for r in second.status()] == [("llm", "down")]


def test_an_unknown_shared_server_fails_at_once(tmp_path: Path) -> None:
    settings = CommonSettings(state_dir=tmp_path, shared_servers=["llm", "mongodb"])
    with pytest.raises(InfraError, match="SOMA_SHARED_SERVERS names unknown servers mongodb"):
        Stack(settings)
