"""Tests of the bench scripts, and the real platform (gateway, conversation worker, tool
executor, models) that the agent evaluation drives, on fresh topics and this run's schema.

bench/ is a folder of scripts run from the repository root (`python -m bench.x`), not an
installed package, so the root goes on the path to import it. (This folder has no
__init__.py: as a package it would itself be named `bench` and shadow the scripts.)
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator

import pytest

from services.gateway.conftest import RunningGateway
from services.platform import running_platform
from somaagent.settings import CommonSettings, repo_root

if str(repo_root()) not in sys.path:
    sys.path.insert(0, str(repo_root()))


@pytest.fixture(scope="session")
async def platform(
    settings: CommonSettings, migrated: str, policy_url: str, seeded_profiles: None
) -> AsyncIterator[RunningGateway]:
    """A gateway with a conversation worker and a tool executor behind it."""
    async with running_platform(settings, policy_url, name="eval", answer_max_tokens=48) as gw:
        yield gw
