"""Finding secret material in text a tool produced, and blanking it out (pure).

    scanner = SecretScanner(["AKIA[0-9A-Z]{16}", ...])     # the C1 patterns of policies/
    scanner.redact("key AKIAABCDEFGHIJKLMNOP")
    -> Redacted(text="key [REDACTED:c1-1]", kinds=["c1-1"])

Two rules, applied in order:
- every C1 pattern (constitution rule C1, `secret_patterns` in policies/opa/soma/config/
  data.json); a PEM private key header takes the whole block up to its END line;
- a high-entropy value assigned to a key-like name, one that ends in secret, token,
  password, api key, access key, private key or credentials (`AWS_SECRET_ACCESS_KEY=...`,
  `"api_token": "..."`, `password: ...`): at least 16 characters and 3.0 bits of Shannon
  entropy per character, so ordinary words and repeated characters stay.
The replacement names the rule (`[REDACTED:c1-<n>]` for the n-th pattern, counted from 1,
`[REDACTED:assigned-secret]`), never the secret.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

MIN_SECRET_LEN: Final = 16
MIN_BITS_PER_CHAR: Final = 3.0
ASSIGNED: Final = "assigned-secret"
_PEM_BLOCK_END = r"[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)"
_KEY_NAME = (
    r"[A-Za-z0-9_.-]*(?:secret|token|password|passwd|pwd|api[_-]?key|apikey|access[_-]?key"
    r"|private[_-]?key|credentials?)(?![A-Za-z0-9])"
)
_ASSIGNMENT = re.compile(
    rf"(?i)(?P<name>{_KEY_NAME})[\"']?\s*[:=]\s*[\"']?(?P<value>[^\s\"',;}}\]]{{{MIN_SECRET_LEN},}})"
)


def bits_per_char(value: str) -> float:
    """Shannon entropy of `value`'s characters, in bits per character."""
    counts = Counter(value)
    total = len(value)
    return -sum(n / total * math.log2(n / total) for n in counts.values())


@dataclass(frozen=True)
class Redacted:
    text: str
    kinds: list[str] = field(default_factory=list)


class SecretScanner:
    """Redacts the C1 patterns and high-entropy assigned secrets from text and JSON data."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self._patterns = [
            (f"c1-{i}", re.compile(p + _PEM_BLOCK_END if "PRIVATE KEY" in p else p))
            for i, p in enumerate(patterns, 1)
        ]

    def redact(self, text: str) -> Redacted:
        kinds: list[str] = []
        for kind, pattern in self._patterns:
            text = pattern.sub(_marker(kind, kinds), text)
        text = _ASSIGNMENT.sub(lambda m: self._assigned(m, kinds), text)
        return Redacted(text, kinds)

    def redact_data(self, value: Any, kinds: list[str]) -> Any:
        """`value` (JSON-like) with every string redacted; kinds found are appended."""
        if isinstance(value, str):
            done = self.redact(value)
            kinds += done.kinds
            return done.text
        if isinstance(value, dict):
            return {k: self.redact_data(v, kinds) for k, v in value.items()}
        if isinstance(value, list):
            return [self.redact_data(v, kinds) for v in value]
        return value

    @staticmethod
    def _assigned(match: re.Match[str], kinds: list[str]) -> str:
        value = match.group("value")
        if value.startswith("[REDACTED:") or bits_per_char(value) < MIN_BITS_PER_CHAR:
            return match.group(0)
        kinds.append(ASSIGNED)
        start = match.start("value") - match.start(0)
        return match.group(0)[:start] + f"[REDACTED:{ASSIGNED}]"


def _marker(kind: str, kinds: list[str]) -> Callable[[re.Match[str]], str]:
    def mark(_: re.Match[str]) -> str:
        kinds.append(kind)
        return f"[REDACTED:{kind}]"

    return mark
