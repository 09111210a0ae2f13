"""The servers file: the project's own file loads; a bad entry names the server and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from somaagent.adapters.mcp import load_servers
from somaagent.adapters.mcp.config import parse_servers
from somaagent.domain.errors import ValidationError
from somaagent.settings import repo_root


def test_the_shipped_servers_file_declares_the_time_server() -> None:
    root = repo_root()
    (time,) = load_servers(root / "personas" / "mcp_servers.yml", root)
    assert time.name == "time" and time.transport == "stdio"
    assert Path(time.command[0]).is_absolute() and time.command[0].startswith(str(root))
    assert time.mounts == [root / ".state" / "mcp-venv"]


@pytest.mark.parametrize(
    ("servers", "where", "why"),
    [
        ({"Bad-Name": {"command": ["x"]}}, "servers.Bad-Name.name", "should match pattern"),
        ({"both": {"command": ["x"], "url": "http://h/mcp"}}, "servers.both", "exactly one"),
        ({"none": {}}, "servers.none", "exactly one"),
        ({"typo": {"comand": ["x"]}}, "servers.typo.comand", "Extra inputs"),
    ],
)
def test_a_bad_entry_names_the_server_and_the_field(
    servers: dict[str, object], where: str, why: str
) -> None:
    with pytest.raises(ValidationError) as failed:
        parse_servers({"servers": servers}, repo_root())
    assert failed.value.field == where
    assert why in failed.value.reason


def test_a_missing_file_declares_no_servers(tmp_path: Path) -> None:
    assert load_servers(tmp_path / "absent.yml", tmp_path) == []
