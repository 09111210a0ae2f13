"""The checked-in schemas/ match the code, and each schema accepts a real event."""

from __future__ import annotations

import json

from somaagent.cli.schemas import stale_files
from somaagent.domain.event_types import EVENT_TYPES, load_all_event_types
from somaagent.domain.json_schemas import all_schemas, event_schema
from somaagent.settings import repo_root


def test_schema_files_are_up_to_date() -> None:
    stale = stale_files(repo_root() / "schemas")
    assert stale == [], f"run `soma schemas export`; stale: {stale}"


def test_every_registered_type_has_a_schema_file() -> None:
    load_all_event_types()
    names = {f"{e.name}.v{e.version}.json" for e in EVENT_TYPES.values()}
    assert names == set(all_schemas())
    for entry in EVENT_TYPES.values():
        schema = event_schema(entry)
        assert schema["properties"]["type"]["const"] == entry.name
        assert schema["properties"]["schema_version"]["const"] == entry.version
        # payload is the type's own model, not a free-form object
        assert schema["properties"]["payload"]["title"] == entry.payload.__name__
        json.dumps(schema)
