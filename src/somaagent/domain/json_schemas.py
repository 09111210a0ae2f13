"""JSON Schema of every registered event type, as checked into schemas/.

Each file `schemas/<type>.v<version>.json` describes the whole envelope with `type` and
`schema_version` fixed and `payload` typed. `soma schemas export` regenerates them;
a test fails when the files and the code disagree.
"""

from __future__ import annotations

import json
from typing import Any

from somaagent.domain.event_types import EVENT_TYPES, EventType, load_all_event_types
from somaagent.domain.events import Envelope

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def event_schema(entry: EventType) -> dict[str, Any]:
    """The envelope schema with this type's payload schema inlined."""
    schema = Envelope.model_json_schema()
    payload = entry.payload.model_json_schema(ref_template="#/$defs/{model}")
    defs = {**schema.pop("$defs", {}), **payload.pop("$defs", {})}
    props = schema["properties"]
    props["type"] = {"const": entry.name, "title": "Type", "type": "string"}
    props["schema_version"] = {"const": entry.version, "title": "Schema Version"}
    props["payload"] = payload
    schema["title"] = f"{entry.name} v{entry.version}"
    schema["description"] = entry.description
    if defs:
        schema["$defs"] = dict(sorted(defs.items()))
    return {"$schema": SCHEMA_DIALECT, "$id": file_name(entry), **schema}


def file_name(entry: EventType) -> str:
    return f"{entry.name}.v{entry.version}.json"


def all_schemas() -> dict[str, str]:
    """File name -> schema text (sorted keys, two-space indent, trailing newline)."""
    load_all_event_types()
    return {
        file_name(entry): json.dumps(event_schema(entry), indent=2, sort_keys=True) + "\n"
        for entry in sorted(EVENT_TYPES.values(), key=lambda e: e.name)
    }
