"""What `soma chat` prints of a text that holds control characters (pure, real values)."""

from __future__ import annotations

from rich.console import Console

from somaagent.cli.chat import card_text
from somaagent.cli.terminal_text import visible, visible_payload
from somaagent.domain.tool_card import ToolCard


def test_escapes_become_visible_text() -> None:
    assert visible("\x1b[2J\x1b]0;title\x07red\x00") == "\\x1b[2J\\x1b]0;title\\x07red\\x00"


def test_c1_controls_bidi_overrides_and_lone_surrogates_are_escaped() -> None:
    assert visible("a\x9b31mb\u202ec\udcff") == "a\\x9b31mb\\u202ec\\xff"


def test_tabs_line_feeds_and_crlf_stay_lines_but_a_lone_cr_is_escaped() -> None:
    assert visible("a\tb\r\nc\rEVIL\n") == "a\tb\nc\\x0dEVIL\n"


def test_printable_unicode_is_untouched() -> None:
    text = "naïve café: 日本語 \ufffd ✓"
    assert visible(text) == text


def test_payload_strings_are_escaped_at_any_depth_and_numbers_kept() -> None:
    payload = {"status": "tool_result", "seq": 3, "card": {"output": "\x1b[1mx", "a": ["\x00"]}}
    assert visible_payload(payload) == {
        "status": "tool_result",
        "seq": 3,
        "card": {"output": "\\x1b[1mx", "a": ["\\x00"]},
    }


def test_a_card_from_an_escaped_payload_prints_no_control_character() -> None:
    raw = {
        "request_id": "r",
        "tool": "code_execution",
        "status": "ok",
        "arguments": "print(chr(27) + '[2J')",
        "output": "\x1b[2J\x1b[31mRED\x00END",
    }
    console = Console(record=True, width=120, color_system=None)
    console.print(card_text(ToolCard.model_validate(visible_payload(raw)), ""))
    printed = console.export_text()
    assert "│ \\x1b[2J\\x1b[31mRED\\x00END" in printed.splitlines()
    assert not any(ch in printed for ch in "\x1b\x00")
