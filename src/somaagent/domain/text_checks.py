"""Which characters a text may hold before it reaches PostgreSQL, Kafka or a model (pure).

    text_problem("a\\x00b")                  -> "holds U+0000 (NUL) at index 1, which ..."
    text_problem("two\\nlines", line=True)   -> "holds U+000A (a line break) at index 3, ..."
    storable("a\\x00b")                      -> "a\\ufffdb"

Refused everywhere: NUL (PostgreSQL text and jsonb cannot hold it), lone surrogates (no
UTF-8 encoding exists, so neither Kafka nor PostgreSQL can carry them) and the C0 controls
other than tab, line feed and carriage return. A one-line field (a title, a subject)
refuses those three too. The gateway answers 422 naming the field; the conversation worker
fails a turn whose text slipped past it, storing `storable(text)` in its place.
"""

from __future__ import annotations

from typing import Final

#: C0 controls that mean something in a multi-line text.
_TEXT_CONTROLS: Final = frozenset("\t\n\r")
_NAMES: Final = {0: "NUL", 9: "a tab", 10: "a line break", 13: "a carriage return"}


def _bad(ch: str, line: bool) -> bool:
    code = ord(ch)
    if code < 0x20 or code == 0x7F:
        return line or ch not in _TEXT_CONTROLS
    return 0xD800 <= code <= 0xDFFF


def _why(ch: str) -> str:
    code = ord(ch)
    if 0xD800 <= code <= 0xDFFF:
        return "a lone surrogate, which has no UTF-8 encoding"
    if code == 0:
        return "which PostgreSQL cannot store"
    return "a control character that has no place here"


def text_problem(value: str, *, line: bool = False) -> str | None:
    """Why `value` cannot be accepted (the first bad character), or None when it can."""
    for index, ch in enumerate(value):
        if _bad(ch, line):
            code = ord(ch)
            name = _NAMES.get(code)
            label = f"U+{code:04X}" + (f" ({name})" if name else "")
            return f"holds {label} at index {index}, {_why(ch)}"
    return None


def storable(value: str) -> str:
    """`value` with every refused character replaced by U+FFFD, so it can be recorded."""
    return "".join("\ufffd" if _bad(ch, False) else ch for ch in value)
