"""The stdio link's account of a server that is gone: its exit and stderr, not a broken pipe."""

from __future__ import annotations

import asyncio
import sys

from mcp.shared.message import SessionMessage
from mcp_types import jsonrpc_message_adapter

from somaagent.adapters.mcp.transport import StdioLink, stdio_streams

#: A server that cannot start: it says why on stderr and exits at once.
GONE = (
    "import sys; sys.stderr.write('exec /opt/mcp/server: No such file or directory\\n'); "
    "sys.exit(3)"
)


async def test_a_request_to_a_server_that_already_exited_reports_its_exit_and_stderr() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        GONE,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    link = StdioLink(proc)
    ping = jsonrpc_message_adapter.validate_python({"jsonrpc": "2.0", "id": 1, "method": "ping"})
    async with stdio_streams(link, 65536) as (_read, write):
        await asyncio.wait_for(link.ended.wait(), 10)  # stdout closed: the process is gone
        assert proc.returncode == 3
        # The session's first request arrives after the exit: the write breaks. Before the
        # fix, "the server closed its input" became the reason and hid the stderr line.
        await write.send(SessionMessage(ping))
        await asyncio.sleep(0.5)
        assert link.closed_reason is None
        reason = link.exit_reason()
    assert reason.startswith("the server process ended (exit code 3)")
    assert reason.endswith("exec /opt/mcp/server: No such file or directory")
