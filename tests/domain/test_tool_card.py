"""tool_card: what a user sees of a tool call, built from real ToolCall/ToolResult values."""

from __future__ import annotations

import hashlib

from somaagent.domain.stream import StreamUpdate
from somaagent.domain.tool_card import OUTPUT_CHARS, OUTPUT_LINES, ToolCard, tool_card
from somaagent.domain.tools import Attachment, ToolCall, ToolResult


def call(tool: str, **arguments: object) -> ToolCall:
    return ToolCall(
        tool=tool, arguments=arguments, session_id="s-1", tenant_id="t-1", correlation_id="c-1"
    )


def result(c: ToolCall, **fields: object) -> ToolResult:
    return ToolResult.model_validate({"request_id": c.request_id, "tool": c.tool, **fields})


def test_code_execution_card_shows_the_code_and_its_output() -> None:
    c = call("code_execution", language="python", code="print(17*23)")
    card = tool_card(c, result(c, status="ok", exit_code=0, stdout="391\n", duration_s=0.0512))
    assert card == ToolCard(
        request_id=c.request_id,
        tool="code_execution",
        status="ok",
        exit_code=0,
        duration_s=0.051,
        arguments="print(17*23)",
        output="391",
        truncated=False,
    )


def test_long_output_keeps_the_first_lines_and_says_it_was_cut() -> None:
    c = call("code_execution", language="python", code="for i in range(100): print(i)")
    stdout = "".join(f"{i}\n" for i in range(100))
    card = tool_card(c, result(c, status="ok", exit_code=0, stdout=stdout))
    assert card.output.splitlines() == [str(i) for i in range(OUTPUT_LINES)]
    assert card.truncated

    wide = tool_card(c, result(c, status="ok", exit_code=0, stdout="x" * 5000))
    assert len(wide.output) == OUTPUT_CHARS and wide.output.endswith("…") and wide.truncated

    cut_by_tool = tool_card(c, result(c, status="ok", stdout="1", truncated=True))
    assert cut_by_tool.output == "1" and cut_by_tool.truncated


def test_a_failure_shows_the_end_of_the_traceback_or_the_reason() -> None:
    c = call("code_execution", language="python", code="1/0")
    trace = "Traceback (most recent call last):\n" + '  File "<string>"\n' * 20
    trace += "ZeroDivisionError: division by zero\n"
    failed = tool_card(c, result(c, status="error", exit_code=1, stderr=trace))
    assert failed.status == "error" and failed.exit_code == 1
    assert failed.output.splitlines()[-1] == "ZeroDivisionError: division by zero"

    denied = tool_card(c, result(c, status="denied", reason="policy denied: no network"))
    assert denied.output == "policy denied: no network"


def test_arguments_summary_prefers_the_telling_argument_and_is_short() -> None:
    search = call("web_search", query="asyncio TaskGroup", max_results=3)
    assert tool_card(search, result(search, status="ok")).arguments == "asyncio TaskGroup"
    long_code = call("code_execution", language="python", code="x = 1\n" * 100)
    summary = tool_card(long_code, result(long_code, status="ok")).arguments
    assert len(summary) == 200 and summary.startswith("x = 1\nx = 1") and summary.endswith("…")
    other = call("http_get_like", path="/a", depth=2)
    assert tool_card(other, result(other, status="ok")).arguments == '{"path":"/a","depth":2}'


def test_data_tools_show_titles_urls_and_memories() -> None:
    search = call("web_search", query="pathlib")
    docs = "https://docs.python.org/3/library/"
    hits = [
        {"title": "pathlib — Object-oriented paths", "url": docs + "pathlib.html", "snippet": "…"},
        {"title": "os.path", "url": docs + "os.path.html", "snippet": "…", "score": 0.5},
    ]
    card = tool_card(search, result(search, status="ok", stdout="1. …", data={"results": hits}))
    assert card.output.splitlines() == [
        f"pathlib — Object-oriented paths — {docs}pathlib.html",
        f"os.path — {docs}os.path.html",
    ]
    empty = tool_card(search, result(search, status="ok", data={"results": []}))
    assert empty.output == "no results"

    load = call("memory_load", query="favourite colour")
    memories = [
        {"memory_id": "m1", "key": None, "content": "my favourite colour is teal", "score": 0.8}
    ]
    card = tool_card(load, result(load, status="ok", data={"memories": memories}))
    assert card.output == "• my favourite colour is teal"

    save = call("memory_save", content="my favourite colour is teal")
    operation = {"kind": "write", "namespace": "default", "content": "my favourite colour is teal"}
    saved = result(save, status="ok", stdout="saved as m1", data={"operation": operation})
    card = tool_card(save, saved)
    assert card.output == "saved: my favourite colour is teal"
    assert card.arguments == "my favourite colour is teal"


def test_attachments_carry_their_download_path() -> None:
    c = call("code_execution", language="python", code="open('a.csv','w').write('1,2')")
    content = b"1,2"
    attachment = Attachment(
        name="a.csv", sha256=hashlib.sha256(content).hexdigest(), size=3, media_type="text/csv"
    )
    card = tool_card(c, result(c, status="ok", exit_code=0, attachments=[attachment]))
    (shown,) = card.attachments
    assert (shown.name, shown.size, shown.media_type) == ("a.csv", 3, "text/csv")
    assert shown.url == f"/v1/attachments/{attachment.attachment_id}"
    assert card.output == ""


def test_stream_update_carries_the_card_and_older_updates_stay_valid() -> None:
    c = call("code_execution", language="python", code="print(1)")
    card = tool_card(c, result(c, status="ok", exit_code=0, stdout="1\n"))
    update = StreamUpdate(status="tool_result", correlation_id="c-1", seq=3, card=card)
    again = StreamUpdate.model_validate_json(update.model_dump_json())
    assert again.card == card
    old = {"status": "tool_result", "correlation_id": "c-1", "seq": 3, "tool": "code_execution"}
    assert StreamUpdate.model_validate(old).card is None
