"""docs/protocol.md names every message type, error code and close code the code has."""

from __future__ import annotations

import typing
from pathlib import Path

from telemedroom.session import protocol as p
from telemedroom.session.signaling import CLOSE_CODES

DOC = (Path(__file__).parents[2] / "docs" / "protocol.md").read_text(encoding="utf-8")


def message_types(union: object) -> set[str]:
    members = typing.get_args(typing.get_args(union)[0])
    return {model.model_fields["type"].default for model in members}


def test_every_message_type_has_a_row() -> None:
    for kind in message_types(p.ClientMessage) | message_types(p.ServerMessage):
        assert f"| `{kind}`" in DOC or f"`{kind}` /" in DOC or f"/ `{kind}`" in DOC, kind


def test_every_error_code_has_a_row() -> None:
    for code in p.ERROR_CODES:
        assert f"| `{code}` |" in DOC, code


def test_every_close_code_has_a_row() -> None:
    for code in CLOSE_CODES:
        if code != 1008:  # refused before the handshake: an HTTP 403, described in the text
            assert f"| {code} |" in DOC, code
    assert "HTTP 403" in DOC
