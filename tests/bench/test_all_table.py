"""bench/all.py's pure parts: finding the benches, reading their final JSON line, the table.

The JSON lines are real ones that bench scripts printed (copied from docs/benchmarks.md).
"""

from __future__ import annotations

import json

import pytest

from bench.all import (
    END,
    START,
    bench_names,
    flat_figures,
    last_json_line,
    render_table,
    replace_block,
)

STATE = (
    '{"bench": "state", "quick": false, "append_single_events_per_s": 638, '
    '"append_batched_events_per_s": 3698, "batch_size": 100, "session_turns": 1000, '
    '"rehydrate_redis_p50_ms": 0.254, "rehydrate_redis_p99_ms": 3.597, '
    '"rehydrate_postgres_p50_ms": 1.406, "rehydrate_postgres_p99_ms": 14.663, "rounds": 1000}'
)
STREAM = (
    '{"bench": "stream", "clients": 100, "events": 10000, "delivered": 10000, '
    '"rate_eps": 200.0, "p50_ms": 1.92, "p99_ms": 17.58, "max_ms": 70.54, "mean_ms": 3.38, '
    '"goal_p99_ms": 10}'
)
FACADE = (
    '{"bench": "openai_facade", "turns_per_path": 20, "accept_native": {"p50_ms": 11.21, '
    '"p99_ms": 23.12}, "accept_facade": {"p50_ms": 14.0, "p99_ms": 42.16}}'
)
STATE_STDOUT = (
    "append, one event per transaction      638 events/s\n"
    "rehydrate 1000-turn session, Redis     p50 0.254 ms   p99 3.597 ms\n" + STATE + "\n"
)


def a_run(benches: dict[str, dict[str, object]]) -> dict[str, object]:
    return {
        "date": "2026-12-04 10:20 UTC",
        "commit": "2e32d6c+uncommitted",
        "quick": True,
        "loadavg_start": [1.65, 1.66, 1.88],
        "loadavg_end": [2.1, 1.8, 1.9],
        "benches": benches,
    }


def test_every_script_in_bench_is_found_and_helpers_are_not() -> None:
    names = bench_names()
    assert {"agent_eval", "policy", "state", "stream", "turns", "sandbox"} <= set(names)
    assert not {"all", "agent_eval_rules", "agent_eval_client", "__init__"} & set(names)


def test_the_final_json_line_is_read_after_the_printed_figures() -> None:
    assert last_json_line(STATE_STDOUT) == json.loads(STATE)
    with pytest.raises(ValueError, match="printed nothing"):
        last_json_line("\n\n")
    with pytest.raises(json.JSONDecodeError):
        last_json_line(STATE_STDOUT + "Traceback: boom\n")


def test_nested_figures_are_flattened_and_run_keys_left_out() -> None:
    figures = dict(flat_figures(json.loads(FACADE)))
    assert figures["accept_facade.p99_ms"] == 42.16
    assert figures["turns_per_path"] == 20
    assert "bench" not in figures
    assert "quick" not in dict(flat_figures(json.loads(STATE)))


def test_table_has_one_row_per_bench_with_its_figures_and_failures_stand_out() -> None:
    run = a_run(
        {
            "state": {"ok": True, "seconds": 41.2, "result": json.loads(STATE)},
            "stream": {"ok": True, "seconds": 30.0, "result": json.loads(STREAM)},
            "agent_eval": {"ok": False, "seconds": 0.8, "error": "exit 1: gateway | refused"},
        }
    )
    table = render_table(run)
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert [r.split("`")[1] for r in rows] == ["state", "stream", "agent_eval"]
    assert "rehydrate_postgres_p99_ms 14.663" in rows[0]
    assert "p99_ms 17.58" in rows[1]
    assert "**failed**" in rows[2] and "gateway \\| refused" in rows[2]
    assert "2e32d6c+uncommitted" in table and "1.65 / 1.66 / 1.88" in table
    assert "--quick" in table


def test_only_the_marked_block_is_replaced_and_again_gives_the_same_doc() -> None:
    doc = f"# Benchmarks\n\nintro 1.0 ms\n\n{START}\nold table\n{END}\n\n## Policy\n9.79 ms\n"
    table = render_table(
        a_run({"stream": {"ok": True, "seconds": 3, "result": json.loads(STREAM)}})
    )
    once = replace_block(doc, table)
    assert "old table" not in once and table in once
    assert once.startswith("# Benchmarks\n\nintro 1.0 ms\n\n") and once.endswith(
        "## Policy\n9.79 ms\n"
    )
    assert replace_block(once, table) == once
    with pytest.raises(ValueError, match="needs"):
        replace_block("# Benchmarks\nno markers\n", table)
