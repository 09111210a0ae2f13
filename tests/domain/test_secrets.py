"""The secret scanner on key-shaped strings made at run time (pure, no servers)."""

from __future__ import annotations

import base64
import json

from somaagent.domain.secrets import SecretScanner, bits_per_char
from somaagent.settings import repo_root

PATTERNS = json.loads(
    (repo_root() / "policies" / "opa" / "soma" / "config" / "data.json").read_text()
)["secret_patterns"]
SCANNER = SecretScanner(PATTERNS)


def test_c1_patterns_are_redacted_wherever_they_stand() -> None:
    aws = "AKIA" + "QX7B" * 4
    pem = "-----BEGIN " + "RSA PRIVATE KEY-----\nMIIEow\nIBAAK\n-----END RSA PRIVATE KEY-----"
    bearer = "Bearer " + base64.urlsafe_b64encode(bytes(range(60, 96))).decode()
    text = f"id={aws}\n{pem}\nnext\nAuthorization: {bearer}\n" + "sk-" + "Ab3" * 12
    done = SCANNER.redact(text)
    assert done.text == (
        "id=[REDACTED:c1-2]\n[REDACTED:c1-1]\nnext\nAuthorization: [REDACTED:c1-3]\n[REDACTED:c1-4]"
    )
    assert sorted(done.kinds) == ["c1-1", "c1-2", "c1-3", "c1-4"]


def test_high_entropy_values_of_key_like_names_go_and_ordinary_values_stay() -> None:
    secret = base64.b64encode(bytes(range(7, 31))).decode()
    assert bits_per_char(secret) > 4
    cases = {
        f"DB_PASSWORD={secret}": "DB_PASSWORD=[REDACTED:assigned-secret]",
        f'{{"client_secret": "{secret}"}}': '{"client_secret": "[REDACTED:assigned-secret]"}',
        f"GITHUB_TOKEN: {secret}": "GITHUB_TOKEN: [REDACTED:assigned-secret]",
        "password=aaaaaaaaaaaaaaaaaaaaaaaa": "password=aaaaaaaaaaaaaaaaaaaaaaaa",  # low entropy
        "token=short": "token=short",
        f"tokenizer={secret}": f"tokenizer={secret}",  # not a key-like name
        "max_tokens=256000000000000000": "max_tokens=256000000000000000",
    }
    for text, expected in cases.items():
        assert SCANNER.redact(text).text == expected, text


def test_json_data_is_redacted_in_every_string() -> None:
    kinds: list[str] = []
    data = {"hits": [{"snippet": "AKIA" + "M" * 16, "n": 3}], "ok": True}
    assert SCANNER.redact_data(data, kinds) == {
        "hits": [{"snippet": "[REDACTED:c1-2]", "n": 3}],
        "ok": True,
    }
    assert kinds == ["c1-2"]
