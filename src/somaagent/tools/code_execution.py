"""code_execution: run Python or shell code in the sandbox, in the session's workspace.

The session's workspace is the sandbox's work directory (/work), so a file written by one
call is there for the next call of the same session. Files the code created or changed are
returned to the executor, which stores them as attachments.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from somaagent.domain.tools import (
    SandboxBackend,
    SandboxLimits,
    SandboxSpec,
    ToolCall,
    ToolSandbox,
)
from somaagent.tools.base import ToolOutput
from somaagent.tools.workspace import Workspaces, changed_files, snapshot

MAX_CODE_CHARS = 100_000
_INTERPRETERS: dict[str, list[str]] = {
    "python": ["python3", "-I", "-c"],
    "shell": ["bash", "--noprofile", "--norc", "-c"],
}


class CodeExecutionArgs(BaseModel):
    """Run a short program. Files written to the current directory persist for this session."""

    model_config = ConfigDict(extra="forbid")

    language: Literal["python", "shell"] = Field(description="python (3.11) or shell (bash)")
    code: str = Field(min_length=1, max_length=MAX_CODE_CHARS, description="the program text")
    timeout_s: float | None = Field(
        default=None, gt=0, le=120, description="wall-clock limit in seconds"
    )


class CodeExecution:
    """The code_execution tool."""

    name: ClassVar[str] = "code_execution"
    description: ClassVar[str] = (
        "Run Python or shell code in an isolated sandbox without network access. "
        "Returns stdout, stderr, the exit status and the files the code wrote."
    )
    arguments: ClassVar[type[BaseModel]] = CodeExecutionArgs

    def __init__(self, sandbox: ToolSandbox, workspaces: Workspaces, limits: SandboxLimits) -> None:
        self.sandbox = sandbox
        self.workspaces = workspaces
        self.limits = limits

    @property
    def backend(self) -> SandboxBackend:
        return self.sandbox.name

    async def run(self, call: ToolCall, args: CodeExecutionArgs) -> ToolOutput:
        workdir = await asyncio.to_thread(self.workspaces.ensure, call.tenant_id, call.session_id)
        timeout = min(args.timeout_s or call.timeout_s, call.timeout_s, self.limits.wall_timeout_s)
        spec = SandboxSpec(
            argv=[*_INTERPRETERS[args.language], args.code],
            workdir=str(workdir),
            limits=self.limits.model_copy(update={"wall_timeout_s": timeout}),
        )
        before = await asyncio.to_thread(snapshot, workdir)
        result = await self.sandbox.run(spec)
        after = await asyncio.to_thread(snapshot, workdir)
        reason = None
        if result.killed is not None:
            reason = f"sandbox ended the run: {result.killed}"
        return ToolOutput(
            status=result.status,
            stdout=result.stdout,
            stderr=result.stderr,
            exit_code=result.exit_code,
            truncated=result.truncated,
            reason=reason,
            files=changed_files(before, after),
            killed=result.killed,
        )
