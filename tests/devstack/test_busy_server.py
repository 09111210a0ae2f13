"""A server the launcher started that is alive but does not answer yet (loading, or too busy
on a loaded machine) is waited for, never started a second time: a second copy would fail
on the taken port and leave its own dead pid in the pid file, and the stack would then call
the real server a stranger ("foreign")."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from somaagent.devstack.process import port_open
from somaagent.devstack.redis import RedisService
from somaagent.devstack.service import StackContext
from somaagent.domain.errors import InfraError
from somaagent.settings import CommonSettings, RedisSettings


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_running_server_that_does_not_answer_is_waited_for_not_started_again(
    tmp_path: Path,
) -> None:
    port = _closed_port()
    ctx = StackContext(CommonSettings(state_dir=tmp_path, redis=RedisSettings(port=port)))
    redis = RedisService(ctx)
    redis.ready_timeout_s = 2.0
    # the server "we started": alive, in its own session, not answering on the port
    sleeper = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True
    )
    try:
        redis.pidfile.parent.mkdir(parents=True)
        redis.pidfile.write_text(f"{sleeper.pid}\n")
        assert redis.status().state == "starting"
        with pytest.raises(InfraError, match=rf"redis not ready after 2s on 127\.0\.0\.1:{port}"):
            redis.up()
        assert redis.pid() == sleeper.pid and not port_open("127.0.0.1", port)
        assert not (tmp_path / "redis" / "redis.conf").exists()  # never prepared, never launched
    finally:
        sleeper.kill()
        sleeper.wait()
