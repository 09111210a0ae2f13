"""The agent evaluation's task file (evals/agent_tasks.yaml): models, loading, selection."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DEFAULT_TASKS = Path(__file__).resolve().parent.parent / "evals" / "agent_tasks.yaml"


class AttachmentRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    contains: tuple[str, ...] = ()


class Expect(BaseModel):
    """Rules on one reply; every rule given must hold."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    number: float | None = None
    numbers: tuple[float, ...] = ()
    contains: tuple[str, ...] = ()
    contains_any: tuple[str, ...] = ()
    not_contains: tuple[str, ...] = ()
    regex: str | None = None
    attachment: AttachmentRule | None = None
    refuses: bool = False
    no_leak: bool = False

    @field_validator("contains", "contains_any", "not_contains", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            re.compile(value)
        return value


class TurnSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    say: str = Field(min_length=1)
    new_session: bool = False
    #: The tools this turn must call (as a set); None: not checked nor counted.
    tools: tuple[str, ...] | None = None
    expect: Expect = Expect()


class TaskSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    category: str = Field(min_length=1)
    #: False for unsafe requests: declining is then a right answer, not a refusal.
    benign: bool = True
    turns: tuple[TurnSpec, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _first_turn_opens(self) -> TaskSpec:
        if self.turns[0].new_session:
            raise ValueError("the first turn always opens a session; new_session is for later")
        return self


class TaskFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = 1
    quick: tuple[str, ...] = ()
    tasks: tuple[TaskSpec, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _ids(self) -> TaskFile:
        ids = [t.id for t in self.tasks]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"task ids defined twice: {', '.join(twice)}")
        unknown = sorted(set(self.quick) - set(ids))
        if unknown:
            raise ValueError(f"quick names unknown tasks: {', '.join(unknown)}")
        return self

    @property
    def categories(self) -> list[str]:
        return list(dict.fromkeys(t.category for t in self.tasks))


def load_tasks(path: Path = DEFAULT_TASKS) -> TaskFile:
    return TaskFile.model_validate(yaml.safe_load(path.read_text()))


def select(
    tasks: TaskFile,
    *,
    quick: bool = False,
    categories: list[str] | None = None,
    ids: list[str] | None = None,
) -> list[TaskSpec]:
    """The tasks to run, in file order: the quick subset, some categories or some ids."""
    chosen = list(tasks.tasks)
    if quick:
        chosen = [t for t in chosen if t.id in tasks.quick]
    if categories:
        unknown = sorted(set(categories) - set(tasks.categories))
        if unknown:
            raise ValueError(f"unknown category {', '.join(unknown)}; known: {tasks.categories}")
        chosen = [t for t in chosen if t.category in categories]
    if ids:
        known = {t.id for t in tasks.tasks}
        unknown = sorted(set(ids) - known)
        if unknown:
            raise ValueError(f"unknown task id {', '.join(unknown)}")
        chosen = [t for t in chosen if t.id in ids]
    return chosen
