"""The NLU file format, token spans and the slot tagger, on real examples (no servers)."""

from __future__ import annotations

import pytest

from somaagent.application.slm import load_nlu, parse_nlu
from somaagent.application.slm.slots import SlotTagger
from somaagent.application.slm.tokens import bio_labels, spans_from_labels, tokenize
from somaagent.domain.errors import ValidationError
from somaagent.domain.slm import SlmResult, Slot, slots_match_text
from somaagent.settings import repo_root

DEFAULT_NLU = repo_root() / "personas" / "default" / "nlu.yml"


def test_marked_slots_become_character_spans_of_the_plain_text() -> None:
    data = parse_nlu(
        "nlu:\n- intent: remind\n  examples: |\n"
        "    - remind me to [call mom](task) at [6pm](time)\n"
        "    - wake me at [7am](time)\n- intent: hi\n  examples: |\n    - hi\n    - hello\n"
    )
    first = data.examples[0]
    assert first.text == "remind me to call mom at 6pm"
    assert [(s.name, first.text[s.start : s.end]) for s in first.slots] == [
        ("task", "call mom"),
        ("time", "6pm"),
    ]
    assert data.intents == ["hi", "remind"]


@pytest.mark.parametrize(
    ("source", "field"),
    [
        ("nlu: 3", "nlu"),
        ("nlu:\n- examples: |\n    - a\n    - b\n- intent: x\n", "nlu[0].intent"),
        ("nlu:\n- intent: a\n  examples: |\n    - only one\n", "nlu[0].examples"),
        ("nlu:\n- intent: a\n  examples: |\n    - one\n    - two\n", "nlu"),
        ("nlu: [unclosed", "nlu"),
    ],
)
def test_a_bad_nlu_file_names_the_field(source: str, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_nlu(source)
    assert info.value.field == field


def test_the_default_persona_file_is_valid_and_its_digest_tracks_content() -> None:
    data = load_nlu(DEFAULT_NLU)
    assert data.persona == "default"
    assert len(data.intents) >= 8
    assert sum(len(e.slots) for e in data.examples) >= 20
    assert parse_nlu(DEFAULT_NLU.read_text() + "\n# edited\n").digest != data.digest


def test_bio_labels_round_trip_to_the_same_spans() -> None:
    text = "remind me to pay the rent on Monday"
    tokens = tokenize(text)
    spans = [("task", 13, 25), ("date", 29, 35)]
    assert spans_from_labels(tokens, bio_labels(tokens, spans)) == spans


def test_slot_tagger_finds_slots_in_sentences_it_has_not_seen() -> None:
    data = load_nlu(DEFAULT_NLU)
    tagger = SlotTagger.fit(
        [(e.text, [(s.name, s.start, s.end) for s in e.slots]) for e in data.examples]
    )
    text = "translate this email into Spanish"
    slots = tagger.slots(text)
    assert ("language_to", "Spanish") in [(s.name, s.value) for s in slots]
    assert slots_match_text(text, slots)
    assert tagger.slots("hello there") == ()


def test_a_slot_whose_value_does_not_fit_its_span_is_refused() -> None:
    with pytest.raises(ValueError, match="end"):
        Slot(name="time", value="6pm", start=5, end=5)
    with pytest.raises(ValueError, match="length"):
        Slot(name="time", value="6pm", start=0, end=5)
    assert SlmResult(missing=("intent",)).degraded
