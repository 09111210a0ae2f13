"""Keeping the system prompt out of a streamed answer.

A small model asked to "repeat the words above" may do it whatever its instructions say, and
the safety tags do not catch every way of asking. So the answer is read as it streams: text
that could be the start of a run of the system prompt's words is held back, and an answer
that repeats `LEAK_WINDOW` consecutive words of the prompt is stopped there (the turn then
answers with the safety refusal). Text that matches no run of the prompt passes at once, so
an ordinary reply streams without delay; a held word costs the time of the next token, and
the first word of a run is never held.

Words are compared case-folded, letters, digits and apostrophes only, so punctuation,
markdown and line breaks between the words do not hide a repeat.
"""

from __future__ import annotations

import re
from typing import Final

#: Consecutive words of the system prompt that make an answer a leak.
LEAK_WINDOW: Final = 5
_WORD = re.compile(r"[a-z0-9'\u2019]+", re.IGNORECASE)


def _norm(word: str) -> str:
    return word.lower().replace("\u2019", "'")


def words(text: str) -> list[str]:
    return [_norm(m.group()) for m in _WORD.finditer(text)]


def repeats_prompt(reply: str, secret: str, window: int = LEAK_WINDOW) -> bool:
    """True when `reply` contains `window` consecutive words of `secret` (all of it, if
    it is shorter)."""
    guard = LeakGuard(secret, window)
    guard.feed(reply)
    guard.finish()
    return guard.leaked


class LeakGuard:
    """Feed it the streamed text piece by piece; it returns what may be shown now.

    `leaked` turns true as soon as the text so far repeats a run of the prompt; from then
    on nothing more is released. `finish()` releases what was held at the end."""

    def __init__(self, secret: str, window: int = LEAK_WINDOW) -> None:
        prompt = words(secret)
        self._n = min(window, len(prompt))
        self._grams = {tuple(prompt[j : j + self._n]) for j in range(len(prompt) - self._n + 1)}
        #: Every start of a run (a whole run too: its last word may still be open).
        self._starts = {g[:k] for g in self._grams for k in range(1, self._n + 1)}
        self._text = ""
        self._sent = 0
        self._scan = 0  # where the next word can begin
        self._done: list[tuple[int, str]] = []  # complete words: (offset, word)
        self._checked = 0  # complete words already checked for a repeat
        self.leaked = False

    def feed(self, text: str) -> str:
        if self.leaked:
            return ""
        self._text += text
        if self._n == 0:
            return self._release(len(self._text))
        tail = self._read_words()
        if self._repeats():
            return ""
        return self._release(self._held_from(tail))

    def finish(self) -> str:
        """The end of the answer: the last word is complete; release the rest."""
        if self.leaked:
            return ""
        if self._n:
            tail = self._read_words()
            if tail is not None:
                self._done.append(tail)
            if self._repeats():
                return ""
        return self._release(len(self._text))

    def _release(self, end: int) -> str:
        out = self._text[self._sent : end] if end > self._sent else ""
        self._sent = max(self._sent, end)
        return out

    def _read_words(self) -> tuple[int, str] | None:
        """Add the newly complete words; return the word still open at the end, if any."""
        for m in _WORD.finditer(self._text, self._scan):
            if m.end() == len(self._text):
                return m.start(), _norm(m.group())
            self._done.append((m.start(), _norm(m.group())))
            self._scan = m.end()
        return None

    def _repeats(self) -> bool:
        """Check only the runs that end in a word completed since the last check (this
        runs per streamed delta)."""
        for end in range(max(self._checked, self._n), len(self._done) + 1):
            if tuple(w for _, w in self._done[end - self._n : end]) in self._grams:
                self.leaked = True
                return True
        self._checked = len(self._done) + 1
        return False

    def _held_from(self, tail: tuple[int, str] | None) -> int:
        """Where the held text begins: after the first word of the longest run at the end
        that could still grow into a repeat (a word still open matches a prompt word it
        begins). The first word is shown: one word is no leak, and holding it would delay
        every reply that starts with a word of the prompt ("You now have 8 apples")."""
        run = [*self._done[max(0, len(self._done) - self._n + 1) :]]
        if tail is not None:
            run.append(tail)
        for k in range(len(run), 1, -1):
            last = run[-k:]
            if self._could_grow([w for _, w in last], open_end=tail is not None):
                return last[1][0]
        return len(self._text)

    def _could_grow(self, seq: list[str], *, open_end: bool) -> bool:
        if not open_end:
            return tuple(seq) in self._starts
        head, partial = tuple(seq[:-1]), seq[-1]
        return any(s[:-1] == head and s[-1].startswith(partial) for s in self._starts)
