"""Secrets a tool prints are redacted before anyone sees or stores them: key-shaped strings
built at run time (concatenation, base64, environment-looking output) never leave the
executor; each redaction is counted and audited."""

from __future__ import annotations

import base64
from collections.abc import Callable

import asyncpg
from prometheus_client import REGISTRY

from somaagent.adapters.kafka import KafkaEventBus
from somaagent.services.tool_executor import ToolExecutorService
from somaagent.settings import CommonSettings

from .helpers import read, request, results_of

# Built here so that neither this file nor the tool's code holds the whole key.
AWS_KEY = "AKIA" + "Z7Q4" * 4
SECRET = "wJalrXUtnFEMI" + "/K7MDENG/bPxRfi" + "CYEXAMPLEKEY"
ENCODED = base64.b64encode(AWS_KEY.encode()).decode()


def redactions(tool: str, kind: str) -> float:
    value = REGISTRY.get_sample_value("tool_output_redactions_total", {"tool": tool, "kind": kind})
    return value or 0.0


async def test_keys_made_at_run_time_are_redacted_counted_and_audited(
    running_executor: ToolExecutorService,
    executor_topics: list[str],
    settings: CommonSettings,
    pg_pool: asyncpg.Pool,
    unique: Callable[[str], str],
) -> None:
    requests, results, _ = executor_topics
    session = unique("s")
    code = (
        "import base64, sys\n"
        "print('AKIA' + 'Z7Q4' * 4)\n"
        f"print(base64.b64decode('{ENCODED}').decode(), 'from base64')\n"
        f"print('AWS_SECRET_ACCESS_KEY=' + '{SECRET[:13]}' + '{SECRET[13:]}')\n"
        f"sys.stderr.write('api_token: ' + '{SECRET[::-1]}' + '\\n')\n"
        "print('tokens_used=12 and an ordinary line')\n"
    )
    before = redactions("code_execution", "c1-2"), redactions("code_execution", "assigned-secret")
    event = request(session, "code_execution", language="python", code=code)
    async with KafkaEventBus(settings.kafka) as bus:
        await bus.publish(requests, event)
    (result,) = results_of(await read(settings, results, 1))[event.payload["request_id"]]

    assert result.status == "ok", result
    assert result.stdout.splitlines() == [
        "[REDACTED:c1-2]",
        "[REDACTED:c1-2] from base64",
        "AWS_SECRET_ACCESS_KEY=[REDACTED:assigned-secret]",
        "tokens_used=12 and an ordinary line",
    ]
    assert result.stderr == "api_token: [REDACTED:assigned-secret]\n"
    after = redactions("code_execution", "c1-2"), redactions("code_execution", "assigned-secret")
    assert (after[0] - before[0], after[1] - before[1]) == (2, 2)

    stored = await pg_pool.fetchval(
        "SELECT result::text FROM tool_executions WHERE request_id = $1",
        event.payload["request_id"],
    )
    assert "[REDACTED:c1-2]" in stored
    for secret in (AWS_KEY, SECRET, SECRET[::-1]):
        assert secret not in stored
    (audit,) = await pg_pool.fetch(
        "SELECT actor, action, reason FROM audit_log WHERE subject_id = $1",
        event.payload["request_id"],
    )
    assert (audit["actor"], audit["action"]) == ("service:tool-executor", "tool.output.redacted")
    assert audit["reason"] == (
        "code_execution output: assigned-secret x2, c1-2 x2 redacted in stderr, stdout"
    )
