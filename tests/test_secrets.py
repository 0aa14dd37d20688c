"""Secret scanning: what is flagged, what is not, and that values are never echoed."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchctl.manifests.secrets import find_secrets, redact
from benchctl.manifests.yaml_source import YamlDocument, load_yaml


def scan(tmp_path: Path, text: str) -> list[tuple[int, int, str]]:
    path = tmp_path / "x.yaml"
    path.write_text(text, encoding="utf-8")
    doc = load_yaml(path)
    assert isinstance(doc, YamlDocument)
    found = list(find_secrets(doc, doc.text))
    for d in found:
        assert "EXAMPLE" not in d.message  # the value itself is never repeated
    return [(d.line, d.col, d.code) for d in found]


@pytest.mark.parametrize(
    "text",
    [
        "api_key_env: OPENAI_API_KEY\n",
        "extra: {api_key: os.environ/OPENAI_API_KEY}\n",
        "token: OPENAI_API_KEY\n",
        "OPENAI_API_KEY: '{{ session.key }}'\n",
        "max_tokens: 4096\n",
        "description: the sk- prefix marks OpenAI keys\n",
        "tokens_per_second: {median: 10, p95: 20}\n",
    ],
)
def test_not_secrets(tmp_path: Path, text: str):
    assert scan(tmp_path, text) == []


def test_every_kind_of_secret_is_found_where_it_is(tmp_path: Path):
    text = (
        "a: sk-ant-api03-EXAMPLEEXAMPLEEXAMPLE\n"
        "b: 'Authorization: Bearer EXAMPLEtoken0123456789'\n"
        "password: EXAMPLEhunter2\n"
        "c: 1  # AKIAIOSFODNN7EXAMPLE\n"
        "pin_token: 12345678\n"
    )
    assert scan(tmp_path, text) == [
        (1, 4, "BC400"),
        (2, 20, "BC400"),
        (4, 9, "BC400"),
        (3, 11, "BC400"),
        (5, 12, "BC400"),
    ]


def test_redact():
    line = "calling with sk-proj-EXAMPLEnotArealKEY0000000000 now"
    assert redact(line) == "calling with sk-pr…(redacted) now"
