"""The fault campaign (bench/faults.py): how it counts, what it targets, and a `--quick` run
on its private stack that must lose nothing, run nothing twice and leave no lag."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections import Counter

import pytest

from bench.faults import plan
from bench.faults_ledger import tally, terminal_updates, tool_duplicates
from bench.faults_stack import PROCESSES, SERVERS
from somaagent.settings import repo_root


def test_a_quick_plan_kills_each_process_kind_and_a_full_one_reaches_every_target() -> None:
    quick = plan(6, random.Random(1))
    assert set(PROCESSES) <= set(quick) and len(set(quick) & set(SERVERS)) == 2
    full = Counter(plan(30, random.Random(1)))
    assert set(full) == {*PROCESSES, *SERVERS} and min(full.values()) >= 3


def test_the_count_tells_completed_failed_lost_and_duplicated_apart() -> None:
    done = {"status": "completed", "tool_calls": [{"request_id": "r1"}]}
    failed = {"status": "error", "error": "a service this turn needs is unavailable"}
    stored = {
        "ok": [done],
        "twice": [done, done],
        "failed": [failed],
        "mute": [{"status": "error"}],
    }
    outbound = [
        {"payload": {"status": "completed", "correlation_id": "ok", "attempt": 2}},
        {"payload": {"status": "error", "correlation_id": "failed", "reason": "unavailable"}},
        {"payload": {"status": "error", "correlation_id": "mute"}},
        {"payload": {"status": "completed", "correlation_id": "rerun", "attempt": 1}},
        {"payload": {"status": "completed", "correlation_id": "rerun", "attempt": 2}},
    ]
    stored["rerun"] = [done]
    requests = [
        {"correlation_id": "ok", "payload": {"request_id": "r1"}},
        {"correlation_id": "orphan", "payload": {"request_id": "r9"}},
    ]
    results = [{"payload": {"request_id": "r1", "duration_s": 0.1}}] * 2  # re-published
    stored["orphan"] = [done]  # its kept call is r1; r9 ran too
    tools = tool_duplicates(requests, results, {"r1": "ok", "r9": "ok"})
    ids = ["ok", "twice", "failed", "mute", "rerun", "orphan", "never"]
    count = tally(ids, stored, terminal_updates(outbound), tools)
    assert (count.accepted, count.completed, count.failed_visible) == (7, 4, 1)
    assert count.failed_without_reason == 1 and count.lost == ["never"]
    assert sorted(count.duplicated) == ["orphan", "rerun", "twice"]
    twice_run = tool_duplicates(
        requests,
        [{"payload": {"request_id": "r1", "duration_s": d}} for d in (0.1, 0.2)],
        {"r1": "ok"},
    )
    assert tally(["ok"], {"ok": [done]}, {}, twice_run).duplicated == ["ok"]


@pytest.mark.timeout(1500)
def test_a_quick_campaign_loses_nothing_and_runs_nothing_twice() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.faults", "--quick"],
        cwd=repo_root(),
        capture_output=True,
        text=True,
        timeout=1400,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["faults"] == 6 and result["not_recovered"] == [], result
    assert result["accepted"] > 0 and result["lost"] == 0 and result["duplicated"] == 0, result
    assert result["failed_without_reason"] == 0 and result["lag_total"] == 0, result
    assert result["completed"] + result["failed_visible"] == result["accepted"], result
