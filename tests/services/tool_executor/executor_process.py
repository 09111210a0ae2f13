"""A tool executor in its own OS process, for the tests that kill one with SIGKILL.

    python executor_process.py '<json overrides>' <requests> <results> <blocked> <group>

The settings come from the environment like `soma worker tools`, then the JSON overrides
(non-secret sections only: schema, tools, redis key prefix, policy url) are applied.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from somaagent.services.tool_executor import ToolExecutorService, ToolExecutorSettings


def settings_with(overrides: dict[str, Any]) -> ToolExecutorSettings:
    base = ToolExecutorSettings().model_dump()
    update = {name: {**base[name], **values} for name, values in overrides.items()}
    return ToolExecutorSettings.model_validate({**base, **update})


async def main(argv: list[str]) -> None:
    overrides, requests, results, blocked, group = argv
    service = ToolExecutorService(
        settings_with(json.loads(overrides)),
        requests_topic=requests,
        results_topic=results,
        blocked_topic=blocked,
        group_id=group,
        serve_metrics=False,
    )
    async with service:
        await service.run()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
