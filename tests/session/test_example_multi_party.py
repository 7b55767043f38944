"""The multi-party example runs as a user runs it (a subprocess) against Debian's Janus."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from tests._system import require_system

SCRIPT = Path(__file__).parents[2] / "examples" / "multi_party" / "visit.py"

pytestmark = pytest.mark.requires_system


async def test_the_example_prints_what_each_role_received() -> None:
    require_system("janus")
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(SCRIPT), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    async with asyncio.timeout(180):
        out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    text = out.decode()
    for line in (
        "physician sees the room camera through Janus: 640x360",
        "interpreter sees the room camera: 640x360",
        "interpreter's rooms: main",
        "interpreter in the clinical room: refused by Janus (433)",
        "vitals: physician got 72/min, interpreter got 0",
        "the room shows: Dr Weber (physician); Ayse Yilmaz (interpreter, speaking)",
        "removed the interpreter: Janus closed its session",
        "audit: joined(physician), joined(patient), admitted(physician), sfu_started(system), "
        "joined(interpreter), admitted(physician), removed(physician), ended(physician), sfu_ended(system)",
    ):
        assert line in text, text
