"""code_execution runs real code in the real bubblewrap sandbox."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from somaagent.adapters.sandbox import BwrapSandbox
from somaagent.domain.errors import ToolError
from somaagent.domain.tools import SandboxLimits, ToolCall
from somaagent.tools import CodeExecution, ToolOutput, ToolRegistry, Workspaces, parse_arguments


@pytest.fixture
def tool(workspaces: Workspaces) -> CodeExecution:
    return CodeExecution(BwrapSandbox(), workspaces, SandboxLimits(wall_timeout_s=10))


def call(session: str, **arguments: object) -> ToolCall:
    return ToolCall(
        tool="code_execution",
        arguments=arguments,
        session_id=session,
        tenant_id="tenant-a",
        correlation_id="turn-1",
        timeout_s=10,
    )


async def run(tool: CodeExecution, c: ToolCall) -> ToolOutput:
    return await tool.run(c, parse_arguments(tool, c.arguments))


async def test_python_prints(tool: CodeExecution, unique: Callable[[str], str]) -> None:
    out = await run(tool, call(unique("s"), language="python", code="print(6 * 7)"))
    assert (out.status, out.exit_code, out.stdout) == ("ok", 0, "42\n")


async def test_shell_failure_keeps_stderr(
    tool: CodeExecution, unique: Callable[[str], str]
) -> None:
    out = await run(tool, call(unique("s"), language="shell", code="echo oops >&2; exit 3"))
    assert (out.status, out.exit_code, out.stderr) == ("error", 3, "oops\n")


async def test_timeout_is_reported(tool: CodeExecution, unique: Callable[[str], str]) -> None:
    c = call(unique("s"), language="python", code="import time; time.sleep(30)", timeout_s=1)
    out = await run(tool, c)
    assert out.status == "timeout"
    assert out.reason == "sandbox ended the run: timeout"


async def test_workspace_persists_within_a_session_only(
    tool: CodeExecution, workspaces: Workspaces, unique: Callable[[str], str]
) -> None:
    session, other = unique("s"), unique("s")
    first = await run(tool, call(session, language="shell", code="echo kept > note.txt"))
    assert [p.name for p in first.files] == ["note.txt"]
    assert first.files[0].parent == workspaces.path("tenant-a", session)
    again = await run(tool, call(session, language="shell", code="cat note.txt"))
    assert (again.stdout, again.files) == ("kept\n", [])
    elsewhere = await run(tool, call(other, language="shell", code="cat note.txt"))
    assert elsewhere.status == "error"
    assert "No such file" in elsewhere.stderr


def test_bad_arguments_name_the_field(tool: CodeExecution) -> None:
    with pytest.raises(ToolError, match="language"):
        parse_arguments(tool, {"language": "cobol", "code": "x"})
    with pytest.raises(ToolError, match="code"):
        parse_arguments(tool, {"language": "python"})


def test_registry_lists_schema_and_refuses_unknown(tool: CodeExecution) -> None:
    registry = ToolRegistry([tool])
    (schema,) = registry.schemas()
    assert schema["function"]["name"] == "code_execution"
    assert schema["function"]["parameters"]["required"] == ["language", "code"]
    with pytest.raises(ToolError, match=r"unknown tool 'rm_rf' \(available: code_execution\)"):
        registry.get("rm_rf")
