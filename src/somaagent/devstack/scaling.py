"""How many platform processes of each kind run, and bringing the running set to that layout.

The layout (`PlatformSettings`: workers, executors) comes from `soma up --workers N
--executors M`, else from the settings (`SOMA_PLATFORM__WORKERS`, `SOMA_PLATFORM__EXECUTORS`).
`up` records the layout it started in `<state>/platform.json`; `status`, `down` and the
supervisor read it from there, so they see the same instances whatever their own options.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import ValidationError

from somaagent.devstack.platform import (
    ConversationWorkerProcess,
    GatewayProcess,
    PlatformProcess,
    PolicyEngineProcess,
    ToolExecutorProcess,
)
from somaagent.devstack.process import pid_alive, say, stop_pid
from somaagent.devstack.service import StackContext
from somaagent.settings import PlatformSettings

#: The kinds that scale out, with the layout field that counts them.
SCALED: tuple[tuple[type[PlatformProcess], str], ...] = (
    (ToolExecutorProcess, "executors"),
    (ConversationWorkerProcess, "workers"),
)


def layout_path(ctx: StackContext) -> Path:
    return ctx.state / "platform.json"


def read_layout(ctx: StackContext) -> PlatformSettings:
    """The layout `up` last started here; the settings' when none was recorded."""
    try:
        return PlatformSettings.model_validate_json(layout_path(ctx).read_bytes())
    except (OSError, ValidationError):
        return ctx.settings.platform


def save_layout(ctx: StackContext, layout: PlatformSettings) -> None:
    path = layout_path(ctx)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(layout.model_dump_json())
    tmp.replace(path)


def platform_services(
    ctx: StackContext, layout: PlatformSettings | None = None
) -> list[PlatformProcess]:
    """Every platform process of the layout, in start order (policy engine first)."""
    chosen = layout or read_layout(ctx)
    services: list[PlatformProcess] = [PolicyEngineProcess(ctx)]
    for kind, field in SCALED:
        services += [kind(ctx, i) for i in range(getattr(chosen, field))]
    services.append(GatewayProcess(ctx))
    return services


def _pid_indexes(ctx: StackContext, kind: str) -> list[int]:
    """Instance indexes of `kind` that have a pid file in this state directory."""
    found = []
    pattern = re.compile(rf"^{re.escape(kind)}(?:-(\d+))?\.pid$")
    for path in (ctx.state / "pids").glob(f"{kind}*.pid"):
        match = pattern.match(path.name)
        if match:
            found.append(int(match.group(1)) - 1 if match.group(1) else 0)
    return sorted(found)


def leftover_services(ctx: StackContext, layout: PlatformSettings) -> list[PlatformProcess]:
    """Instances beyond the layout that still have a pid file (a larger earlier `up`)."""
    return [
        kind(ctx, i)
        for kind, field in SCALED
        for i in _pid_indexes(ctx, kind.name)
        if i >= getattr(layout, field)
    ]


def known_services(ctx: StackContext) -> list[PlatformProcess]:
    """The recorded layout's processes and any leftover instance (for `status` and `down`)."""
    layout = read_layout(ctx)
    return platform_services(ctx, layout) + leftover_services(ctx, layout)


def retire(svc: PlatformProcess) -> str:
    """Stop an instance the layout no longer has; its pid file goes first, so a supervisor
    that still watches it sees a stop on purpose, not a death to restart."""
    pid = svc.pid()
    svc.pidfile.unlink(missing_ok=True)
    if pid is None or not pid_alive(pid):
        return "gone"
    stop_pid(pid, svc.name)
    return "retired"


def scale_to(ctx: StackContext, layout: PlatformSettings) -> dict[str, str]:
    """Retire instances beyond `layout`, start (or keep) those in it; record the layout."""
    results = {svc.name: retire(svc) for svc in leftover_services(ctx, layout)}
    save_layout(ctx, layout)
    for svc in platform_services(ctx, layout):
        results[svc.name] = svc.up()
        say(f"{svc.name}: {results[svc.name]}")
    return results
