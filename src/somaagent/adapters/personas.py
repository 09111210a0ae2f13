"""Personas from `personas/<id>/persona.yml` files shipped with the project."""

from __future__ import annotations

from pathlib import Path

import yaml

from somaagent.domain.errors import NotFoundError, ValidationError
from somaagent.domain.serialization import validate_model
from somaagent.domain.turns import Persona


class FilePersonaCatalog:
    """Reads every persona once at start; unknown ids are a NotFoundError."""

    def __init__(self, root: Path) -> None:
        self._personas: dict[str, Persona] = {}
        for path in sorted(root.glob("*/persona.yml")):
            try:
                data = yaml.safe_load(path.read_text())
            except yaml.YAMLError as exc:
                raise ValidationError(str(path), f"not valid YAML: {exc}") from exc
            persona = validate_model(Persona, data, prefix=str(path))
            self._personas[persona.persona_id] = persona

    def get(self, persona_id: str) -> Persona:
        try:
            return self._personas[persona_id]
        except KeyError:
            raise NotFoundError(f"unknown persona {persona_id!r}") from None

    def ids(self) -> list[str]:
        return sorted(self._personas)
