"""Text field types of the gateway's request bodies: bad characters fail at the door.

`Text` (multi-line: a message, a reason) and `Line` (one line: a title, a subject) refuse
what domain/text_checks.py refuses, so the validation handler answers 422 naming the
field instead of PostgreSQL or Kafka failing after a 202.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

from somaagent.domain.text_checks import text_problem


def _text(value: str) -> str:
    problem = text_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def _line(value: str) -> str:
    problem = text_problem(value, line=True)
    if problem is not None:
        raise ValueError(problem)
    return value


Text = Annotated[str, AfterValidator(_text)]
Line = Annotated[str, AfterValidator(_line)]
