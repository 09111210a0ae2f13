"""Go-built servers (OPA, OpenFGA), installed once with `go install` into the cache."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from somaagent.devstack.process import run_step, say
from somaagent.devstack.service import StackContext
from somaagent.domain.errors import InfraError


def go_binary_path(ctx: StackContext, version: str, binary: str) -> Path:
    """Where the cached build of `binary@version` lives (it may not exist yet)."""
    return ctx.cache / "go-bin" / f"{binary}-{version}" / binary


def go_binary(ctx: StackContext, module: str, version: str, binary: str) -> Path:
    """Path to `binary` built from `module@version`, building it on first use."""
    target = go_binary_path(ctx, version, binary)
    target_dir = target.parent
    if target.exists():
        return target
    go = shutil.which("go") or (
        "/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None
    )
    if go is None:
        raise InfraError(
            f"{binary}: the Go toolchain is missing (needed to build {module}@{version})"
        )
    target_dir.mkdir(parents=True, exist_ok=True)
    say(f"{binary}: building {module}@{version} with go install (first time only, a few minutes)")
    run_step(
        f"go install {module}@{version}",
        [go, "install", f"{module}@{version}"],
        env={
            "GOBIN": str(target_dir),
            "GOFLAGS": "-buildvcs=false",
            "GOPATH": os.environ.get("GOPATH", str(Path.home() / "go")),
        },
        logfile=ctx.logfile("install"),
        timeout_s=2400,
    )
    if not target.exists():
        raise InfraError(f"{binary}: go install finished but {target} is missing")
    return target
