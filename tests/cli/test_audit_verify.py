"""``telemedroom audit verify``: a real hash-chained log on disk, intact and tampered with."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from telemedroom.cli import ExitCode
from telemedroom.session.audit import AuditAction, AuditLog


@pytest.fixture
def log_file(tmp_path: Path) -> Path:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    for action, actor, role in (
        (AuditAction.JOINED, "p-7", "patient"),
        (AuditAction.JOINED, "dr-weber", "physician"),
        (AuditAction.ADMITTED, "dr-weber", "physician"),
        (AuditAction.ENDED, "dr-weber", "physician"),
    ):
        log.append(action, actor=actor, role=role, room="nord-1", appointment="apt-42")
    return path


def test_an_intact_chain_verifies(telemedroom: Callable[..., object], log_file: Path) -> None:
    result = telemedroom("audit", "verify", str(log_file))
    assert result.code == ExitCode.OK
    assert f"audit chain verified: 4 entries in {log_file}" in result.out.replace("\n", "")
    assert f"head {AuditLog(log_file).head}" in result.out


def test_entries_are_listed(telemedroom: Callable[..., object], log_file: Path) -> None:
    result = telemedroom("audit", "verify", str(log_file), "--entries")
    assert result.code == ExitCode.OK
    rows = [line for line in result.out.splitlines() if "apt-42" in line]
    assert [row.split("│")[3].strip() for row in rows] == ["joined", "joined", "admitted", "ended"]


def test_an_altered_entry_fails_with_its_index(telemedroom: Callable[..., object], log_file: Path) -> None:
    lines = log_file.read_text().splitlines()
    entry = json.loads(lines[2])
    entry["actor"] = "someone-else"
    lines[2] = json.dumps(entry)
    log_file.write_text("\n".join(lines) + "\n")
    result = telemedroom("audit", "verify", str(log_file))
    assert result.code == ExitCode.CHECK_FAILED == 1
    assert "audit log entry 2: hash does not match the entry: it was altered" in result.err
    assert "Traceback" not in result.err


def test_a_removed_entry_fails(telemedroom: Callable[..., object], log_file: Path) -> None:
    lines = log_file.read_text().splitlines()
    log_file.write_text("\n".join(lines[:1] + lines[2:]) + "\n")
    result = telemedroom("audit", "verify", str(log_file))
    assert result.code == ExitCode.CHECK_FAILED
    assert "audit log entry 1: index is 2" in result.err


def test_entries_cut_off_the_end_are_found_with_an_anchored_head(
    telemedroom: Callable[..., object], log_file: Path
) -> None:
    head = AuditLog(log_file).head
    lines = log_file.read_text().splitlines()
    log_file.write_text("\n".join(lines[:-1]) + "\n")
    assert telemedroom("audit", "verify", str(log_file)).code == ExitCode.OK  # consistent, but...
    result = telemedroom("audit", "verify", str(log_file), "--head", head)
    assert result.code == ExitCode.CHECK_FAILED
    assert "the anchored head is missing: entries were cut off" in result.err


def test_a_line_that_is_no_entry(telemedroom: Callable[..., object], tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_text('{"not": "an entry"}\n')
    result = telemedroom("audit", "verify", str(path))
    assert result.code == ExitCode.CHECK_FAILED
    assert "audit log entry 0: line is not an audit entry" in result.err


def test_a_missing_file_is_a_usage_error(telemedroom: Callable[..., object], tmp_path: Path) -> None:
    result = telemedroom("audit", "verify", str(tmp_path / "nope.jsonl"))
    assert result.code == ExitCode.USAGE == 2
    assert "does not exist" in result.err
