r"""Text from the platform made safe for the user's terminal (pure).

A tool's output, a model's answer and a file name reach `soma chat` as they were written,
and the stored record keeps them so. A terminal, though, obeys what it prints: an ANSI
escape can clear the screen, move the cursor over earlier lines, set the window title or
(on some terminals) answer back with input; NUL and other controls garble the line. Before
anything is printed, each control character is written as visible escape text instead:
ESC as `\x1b`, NUL as `\x00`, C1 controls (which some terminals also obey) as `\x9b`, and
the invisible bidirectional overrides as `\u202e`, so the user sees what the text holds and
nothing can act on the terminal. Tab and line feed are kept. Escaping works per character,
so a sequence split over two streamed deltas is caught as well. The web console writes the
same escapes (`services/gateway/console_views.visible`).

    visible("\x1b[31mred\x00")            -> "\\x1b[31mred\\x00"
    visible_payload({"a": ["\x07", 1]})   -> {"a": ["\\x07", 1]}
"""

from __future__ import annotations

import re
from typing import Any, Final

#: C0 controls but tab and line feed, DEL, C1 controls, the bidi marks, embeddings,
#: overrides and isolates, and lone surrogates (bytes kept by surrogateescape).
_CONTROL: Final = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape of one byte
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def visible(text: str) -> str:
    """`text` with every control character written as escape text (see the module doc);
    a CRLF line end becomes a line feed, a lone carriage return (which would let later
    text overwrite the line) is escaped."""
    return _CONTROL.sub(_escape, text.replace("\r\n", "\n"))


def _visible_value(value: Any) -> Any:
    if isinstance(value, str):
        return visible(value)
    if isinstance(value, dict):
        return {key: _visible_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_visible_value(item) for item in value]
    return value


def visible_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """A stream payload with every string in it (card, delta, text, reason) made visible."""
    return {key: _visible_value(item) for key, item in payload.items()}
