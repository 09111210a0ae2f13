"""Platform names for MCP tools: `<server>_<tool>` within the tool name rules.

A server tool's name is lower-cased and every character outside [a-z0-9_] becomes `_`. A name
that then collides (with a built-in tool or another tool of the catalogue), runs past 64
characters, or comes with an input schema that is not a valid JSON Schema is left out with
a problem saying why; so is every tool past a server's `max_tools`. Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Final

from jsonschema import SchemaError
from jsonschema.validators import validator_for

MAX_NAME: Final = 64
NAME_RULE: Final = re.compile(r"^[a-z][a-z0-9_]*$")
DESCRIPTION_CHARS: Final = 1024


@dataclass(frozen=True)
class McpToolEntry:
    """One MCP tool as the platform offers it."""

    platform_name: str
    server: str
    tool: str
    description: str
    input_schema: dict[str, Any]


@dataclass
class ServerCatalogue:
    """A server's offered tools and what was left out, and why."""

    entries: list[McpToolEntry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def platform_name(server: str, tool: str) -> str:
    return f"{server}_{re.sub(r'[^a-z0-9_]', '_', tool.lower())}"


def _schema_problem(schema: Any) -> str | None:
    if not isinstance(schema, dict) or schema.get("type", "object") != "object":
        return "its input schema is not an object schema"
    try:
        validator_for(schema).check_schema(schema)
    except SchemaError as exc:
        return f"its input schema is invalid: {exc.message}"
    return None


def catalogue_of(
    server: str, tools: list[tuple[str, str | None, Any]], taken: set[str], max_tools: int
) -> ServerCatalogue:
    """Entries for `tools` (name, description, input schema); `taken` names are in use.

    Names the new entries take are added to `taken`.
    """
    out = ServerCatalogue()
    if len(tools) > max_tools:
        out.problems.append(
            f"the server lists {len(tools)} tools; only the first {max_tools} are offered"
        )
    counts: dict[str, int] = {}
    for name, _, _ in tools[:max_tools]:
        counts[platform_name(server, name)] = counts.get(platform_name(server, name), 0) + 1
    for name, description, schema in tools[:max_tools]:
        pname = platform_name(server, name)
        problem = _name_problem(pname, taken, counts) or _schema_problem(schema)
        if problem is not None:
            out.problems.append(f"tool {name!r} left out: {problem}")
            continue
        taken.add(pname)
        text = (description or name).strip()[:DESCRIPTION_CHARS]
        out.entries.append(McpToolEntry(pname, server, name, text, schema))
    return out


def _name_problem(pname: str, taken: set[str], counts: dict[str, int]) -> str | None:
    if len(pname) > MAX_NAME or not NAME_RULE.match(pname):
        return f"{pname!r} breaks the tool name rules ([a-z][a-z0-9_]*, <= {MAX_NAME} chars)"
    if pname in taken or counts.get(pname, 0) > 1:
        return f"{pname!r} collides with another tool of that name"
    return None
