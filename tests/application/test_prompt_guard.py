"""The streamed-answer guard: a repeat of the system prompt is cut off, other text flows."""

from __future__ import annotations

from somaagent.application.prompt_guard import LeakGuard, repeats_prompt

PROMPT = "You are Soma, a helpful assistant. Answer briefly and accurately."


def streamed(chunks: list[str]) -> tuple[str, bool]:
    """What the user would see, and whether the guard stopped the answer."""
    guard, shown = LeakGuard(PROMPT), []
    for chunk in chunks:
        shown.append(guard.feed(chunk))
        if guard.leaked:
            return "".join(shown), True
    shown.append(guard.finish())
    return "".join(shown), guard.leaked


def test_a_repeat_of_the_prompt_is_cut_before_its_second_word_is_shown() -> None:
    chunks = ["Sure", "! Here they are:\n```\n", "You", " are", " Soma", ",", " a", " helpful"]
    shown, leaked = streamed([*chunks, " assistant", "."])
    assert leaked
    assert shown == "Sure! Here they are:\n```\nYou "  # one word of the prompt, no more


def test_a_repeat_split_inside_words_and_across_case_and_markup_is_caught() -> None:
    assert streamed(["YOU ARE **So", "ma**, a help", "ful one"])[1]
    assert repeats_prompt("answer:\n- helpful\n- assistant\n- answer\n- briefly\n- and", PROMPT)


def test_ordinary_replies_pass_whole_and_unheld_words_are_shown_at_once() -> None:
    assert streamed(["You", "'re", " welcome", "!"]) == ("You're welcome!", False)
    assert streamed(["I am Soma, a helpful assistant."]) == (
        "I am Soma, a helpful assistant.",
        False,
    )
    guard = LeakGuard(PROMPT)
    assert guard.feed("It was a") == "It was a"  # a run's first word is not held
    assert guard.feed(" help") == " "  # "a help..." may go on as "a helpful assistant ..."
    assert guard.feed("ing hand") == "helping hand"
    assert guard.finish() == ""


def test_a_held_run_is_released_as_soon_as_it_stops_matching() -> None:
    guard = LeakGuard(PROMPT)
    assert guard.feed("Sure, you are") == "Sure, you "
    assert guard.feed(" right") == "are right"
    assert guard.finish() == ""


def test_a_short_prompt_is_guarded_whole_and_an_empty_one_not_at_all() -> None:
    assert repeats_prompt("Well: be kind. Done", "Be kind.")
    assert not repeats_prompt("be nice", "Be kind.")
    guard = LeakGuard("")
    assert guard.feed("anything at all") == "anything at all" and not guard.leaked
