"""Grounded answers after a tool round: prompt, check, retry prompt and template (pure)."""

from __future__ import annotations

from somaagent.application.grounding import (
    TOOL_ANSWER_RULE,
    confirmed_save,
    grounded_prompt,
    grounding_problem,
    key_result,
    reflect,
    result_text,
    silent,
    stricter_prompt,
    templated_reply,
)
from somaagent.domain.tools import Attachment, ToolCall, ToolResult


def call(tool: str, **arguments: object) -> ToolCall:
    return ToolCall(
        tool=tool, arguments=arguments, session_id="s", tenant_id="t", correlation_id="c"
    )


def ran(stdout: str, status: str = "ok", **extra: object) -> ToolResult:
    return ToolResult(request_id="r", tool="code_execution", status=status, stdout=stdout, **extra)


CODE = call("code_execution", language="python", code="print(17*23)")


def test_the_grounded_prompt_puts_the_result_first_and_restates_the_question() -> None:
    prompt = [
        {"role": "system", "content": "You are Soma."},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "run python: print(17*23)"},
    ]
    out = grounded_prompt(prompt, CODE, ran("391\n"))
    assert out[:3] == prompt[:3]  # the system prompt and the history are untouched
    last = out[-1]["content"]
    assert last.index("391") < last.index("run python: print(17*23)")
    assert last.endswith(f"My message was: run python: print(17*23)\n{TOOL_ANSWER_RULE}")
    assert len(out) == 4
    assert "short sentence" in TOOL_ANSWER_RULE
    assert last.startswith("The code printed:\n391")  # words a user would use, not a tool name
    failed = grounded_prompt(prompt, CODE, ran("", status="error", stderr="NameError: x"))
    assert failed[-1]["content"].startswith("Result of code_execution:\ncode_execution failed")


def test_replies_that_echo_tool_syntax_refuse_or_omit_the_result_fail() -> None:
    result = ran("391\n")
    assert grounding_problem("17 times 23 is 391.", CODE, result) is None
    assert grounding_problem("The answer is 391", CODE, result) is None
    assert "syntax" in str(
        grounding_problem('I will use a tool: {"tool":"code_execution"}', CODE, result)
    )
    assert "refusal" in str(
        grounding_problem("I'm sorry, but I can't assist with that request.", CODE, result)
    )
    assert "omits" in str(grounding_problem("You can run it yourself in Python.", CODE, result))
    assert grounding_problem("", CODE, result) == "empty reply"


def test_a_save_is_confirmed_in_the_users_words() -> None:
    save = call("memory_save", content="my dog is called Biscuit.")
    saved = ToolResult(request_id="r", tool="memory_save", status="ok", stdout="saved as m1")
    prompt = [{"role": "user", "content": "Please note that my dog is called Biscuit."}]
    content = grounded_prompt(prompt, save, saved)[-1]["content"]
    assert content.startswith("Saved to your memories:\nmy dog is called Biscuit.\n")
    assert "Confirm in one short sentence what you will remember" in content
    assert "memory_save" not in content  # no tool name for the model to repeat


def test_a_save_is_said_back_in_the_users_terms() -> None:
    assert reflect("I am allergic to peanuts") == "you are allergic to peanuts"
    assert reflect("I'm a nurse and my manager is Okafor") == (
        "you're a nurse and your manager is Okafor"
    )
    assert reflect("you should call me Sam") == "I should call you Sam"
    save = call("memory_save", content="my dog is called Biscuit.")
    assert confirmed_save(save) == "Noted. I will remember that your dog is called Biscuit."
    assert confirmed_save(call("memory_save", content="  ")) is None
    assert confirmed_save(CODE) is None


def test_a_reply_after_a_failed_tool_must_say_it_failed() -> None:
    failed = ToolResult(
        request_id="r", tool="code_execution", status="error",
        stderr="NameError: name 'mississippi' is not defined",
    )  # fmt: skip
    invented = "The letter 's' appears 4 times in 'mississippi'."
    assert "failed" in str(grounding_problem(invented, CODE, failed))
    for honest in (
        "The code failed: mississippi is not defined.",
        "There was an error: the name mississippi is not defined.",
        "I couldn't run it, because the word was not in quotes.",
    ):
        assert grounding_problem(honest, CODE, failed) is None, honest
    assert templated_reply(CODE, failed) == (
        "code_execution did not succeed (error): NameError: name 'mississippi' is not defined"
    )
    timed_out = failed.model_copy(update={"status": "timeout", "stderr": ""})
    assert grounding_problem("The code timed out after 60 s.", CODE, timed_out) is None


def test_numbers_match_with_thousands_separators_and_case() -> None:
    assert grounding_problem("It is 847,288,609,443.", CODE, ran("847288609443")) is None
    assert grounding_problem("Reversed: DESSERTS", CODE, ran("desserts")) is None
    assert grounding_problem("It is 847288609", CODE, ran("847288609443")) is not None


def test_long_outputs_are_not_facts_to_repeat() -> None:
    assert key_result(CODE, ran("x\n" * 10)) is None
    assert key_result(CODE, ran("y" * 200)) is None
    assert key_result(CODE, ran("391", status="error")) is None
    assert key_result(call("memory_save", content="teal"), ran("saved as 1")) is None


def test_the_template_states_the_result() -> None:
    assert templated_reply(CODE, ran("391\n")) == "The result is 391."
    failed = ran("", status="error", stderr="NameError: x", exit_code=1)
    assert "NameError: x" in templated_reply(CODE, failed)
    save = call("memory_save", content="my favourite colour is teal")
    assert "my favourite colour is teal" in templated_reply(save, ran("saved as 9"))
    files = ran("", attachments=[Attachment(name="out.csv", sha256="0" * 64, size=3)])
    assert "out.csv" in templated_reply(CODE, files)


def test_recall_and_search_results_read_as_facts_without_scores() -> None:
    recall = call("memory_load", query="favourite colour")
    memories = ToolResult(
        request_id="r",
        tool="memory_load",
        status="ok",
        stdout="0.812 my favourite colour is teal",
        data={"memories": [{"content": "my favourite colour is teal", "score": 0.812}]},
    )
    assert result_text(recall, memories) == "- my favourite colour is teal"
    search = call("web_search", query="removeprefix")
    hits = ToolResult(
        request_id="r",
        tool="web_search",
        status="ok",
        data={"results": [{"title": "str", "url": "https://d/x", "snippet": "Return a copy"}]},
    )
    assert result_text(search, hits) == "- str: Return a copy (https://d/x)"


def test_the_retry_prompt_is_the_question_and_the_result_only() -> None:
    messages = stricter_prompt("You are Soma.", "what is 17*23?", CODE, ran("391"))
    assert messages[0] == {"role": "system", "content": "You are Soma."}
    assert "what is 17*23?" in messages[1]["content"] and "391" in messages[1]["content"]


def test_code_that_printed_nothing_is_reported_as_such() -> None:
    assert silent(CODE, ran(""))
    assert not silent(CODE, ran("391"))
    assert "printed nothing" in templated_reply(CODE, ran("  \n"))
