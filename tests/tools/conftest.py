from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from somaagent.tools.workspace import Workspaces


@pytest.fixture
def workspaces() -> Iterator[Workspaces]:
    """A fresh workspace root (the executor's layout), removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="soma-ws-"))
    yield Workspaces(root)
    shutil.rmtree(root)
