"""``telemedroom demo``: the whole visit on the real Room, with virtual devices and a scripted physician.

Fakes only at the edges: the devices are bumble GATT servers on an in-memory radio, the
cameras synthetic, the physician a script (or headless Chromium on the real console).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from tests._system import require_system

from telemedroom.cli import ExitCode
from telemedroom.session.audit import AuditLog


def _ndjson(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_demo_runs_a_complete_visit(telemedroom: Callable[..., object], tmp_path: Path) -> None:
    result = telemedroom("demo", "--data-dir", str(tmp_path))
    assert result.code == ExitCode.OK, result.err
    out = result.out
    # the timeline, in the order the visit went
    steps = [
        "5 virtual devices on an in-memory Bluetooth radio",
        "walk-in booked at",
        "state checked_in",
        "[1/5] blood pressure: connecting (put_on_cuff)",
        "reading   blood pressure: 128/82 mmHg",
        "[5/5] glucometer: done (glucometer_transfer)",
        "state waiting",
        "physician admits the patient from the waiting room",
        "state in_consultation",
        "physician sees the room camera, 640x480",
        "physician live vitals: 128/82 mmHg",
        "physician live vitals: 104 mg/dL",
        "physician asks for a still of the exam camera: image/png, 1920x1080",
        "physician ends the visit",
        "exam camera still kept for the record",
        "state wrap_up",
        "queued in the outbox (row 1)",
        "state cleaning",
        "state idle",
        "outbox drained: 1 bundle(s)",
    ]
    position = 0
    for step in steps:  # each after the one before (ValueError names a missing or misplaced one)
        position = out.index(step, position)
    # the summary: every reading, where the FHIR files are, the audit verdict
    for reading in ("128/82 mmHg", "SpO2 97 %", "36.8 °C", "72.4 kg", "104 mg/dL"):
        assert f"│ {reading}" in out
    assert f"FHIR (NDJSON): {tmp_path / 'fhir'}" in out.replace("\n", "")
    assert "audit chain verified" in out

    # what the summary says is what is on disk
    observations = _ndjson(tmp_path / "fhir" / "Observation.ndjson")
    [encounter] = _ndjson(tmp_path / "fhir" / "Encounter.ndjson")
    [media] = _ndjson(tmp_path / "fhir" / "Media.ndjson")
    assert f"Observation.ndjson ({len(observations)})" in out.replace("\n", "")
    assert f"Encounter {encounter['id']}: {len(observations)} Observation(s), 1 Media" in out
    assert encounter["class"]["code"] == "VR"
    assert media["content"]["contentType"] == "image/png"
    assert {o["code"]["coding"][0]["code"] for o in observations} >= {"85354-9", "59408-5", "29463-7"}
    log = AuditLog.from_entries(AuditLog.read_entries(tmp_path / "audit.jsonl"))
    log.verify()
    assert f"audit chain verified: {len(log)} entries" in out.replace("\n", "")


def test_the_demos_audit_log_verifies_with_the_cli(
    telemedroom: Callable[..., object], tmp_path: Path
) -> None:
    assert telemedroom("demo", "--data-dir", str(tmp_path)).code == ExitCode.OK
    result = telemedroom("audit", "verify", str(tmp_path / "audit.jsonl"), "--entries")
    assert result.code == ExitCode.OK
    assert "checked_in" in result.out
    assert "wrapped_up" in result.out


def test_demo_in_another_zone(telemedroom: Callable[..., object], tmp_path: Path) -> None:
    result = telemedroom("demo", "--tz", "America/New_York", "--data-dir", str(tmp_path))
    assert result.code == ExitCode.OK, result.err
    assert "telemedroom demo room, time zone America/New_York" in result.out
    # readings and the cleaning buffer in the room's zone (EDT in summer)
    assert re.search(r"\d\d:\d\d E[SD]T ", result.out)


def test_demo_at_two_minutes_to_midnight(telemedroom: Callable[..., object], tmp_path: Path) -> None:
    """The process's clock moved to 23:58 in Berlin (time-machine, ticking): the walk-in starts now."""
    import asyncio

    import time_machine

    from telemedroom.scheduling import SqliteStore

    berlin = ZoneInfo("Europe/Berlin")
    late = datetime.now(berlin).replace(hour=23, minute=58, second=0, microsecond=0)
    with time_machine.travel(late, tick=True):
        result = telemedroom("demo", "--data-dir", str(tmp_path))
    assert result.code == ExitCode.OK, result.err
    # the next whole minute after the room opened (23:59 unless the setup took over a minute)
    booked = re.search(r"walk-in booked at (\d\d:\d\d) with the on-call physician", result.out)
    assert booked is not None, result.out
    assert "audit chain verified" in result.out

    async def appointments() -> list[Any]:
        async with SqliteStore(str(tmp_path / "schedule.sqlite")) as store:
            return await store.appointments()

    [visit] = asyncio.run(appointments())
    start, end = visit.slot.start.astimezone(berlin), visit.slot.end.astimezone(berlin)
    assert f"{start:%H:%M}" == booked[1]
    assert start.date() == late.date()  # before midnight, not postponed to 00:00
    assert end.date() == late.date() + timedelta(days=1)  # and on across it
    assert visit.status == "fulfilled"


def test_an_unknown_zone_is_a_usage_error(telemedroom: Callable[..., object], tmp_path: Path) -> None:
    result = telemedroom("demo", "--tz", "Nowhere/Special", "--data-dir", str(tmp_path))
    assert result.code == ExitCode.USAGE
    assert "unknown time zone 'Nowhere/Special'" in result.err
    assert not list(tmp_path.iterdir())  # nothing was started


@pytest.mark.requires_system
def test_demo_with_chromium_as_the_physician(telemedroom: Callable[..., object], tmp_path: Path) -> None:
    """Headless Debian chromium on the real console page (via Playwright's executable_path)."""
    require_system("chromium")
    result = telemedroom("demo", "--browser", "--data-dir", str(tmp_path))
    assert result.code == ExitCode.OK, result.err
    for step in (
        "Chromium opened the console",
        "clicks Admit in the waiting room",
        "sees the room camera, 640x480",
        "live vitals: blood_pressure 128/82",
        "clicks Snapshot: a 1920-pixel-wide still arrives",
        "clicks End visit",
        "audit chain verified",
    ):
        assert step in result.out
    assert len(_ndjson(tmp_path / "fhir" / "Media.ndjson")) == 1


def test_demo_serve_hands_the_room_to_a_person(tmp_path: Path) -> None:
    """After the scripted visit the room stays up: the kiosk answers and the printed code checks in."""
    process = subprocess.Popen(
        [sys.executable, "-m", "telemedroom", "demo", "--serve", "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "300"},
    )
    try:
        assert process.stdout is not None
        shown: dict[str, str] = {}
        for line in process.stdout:
            key, _, value = line.partition(": ")
            shown[key.strip()] = value.strip()
            if line.startswith("Ctrl-C stops the room."):
                break
        assert "audit chain verified" in shown
        kiosk = shown["kiosk (patient)"]
        code = shown["booking code"].split()[0]
        assert shown["physician console"].startswith("http://127.0.0.1:")
        assert "/console/#token=" in shown["physician console"]
        assert httpx.get(kiosk, timeout=10).status_code == 200
        origin = kiosk.split("/kiosk/")[0]
        assert httpx.post(f"{origin}/kiosk/check-in", json={"code": code}, timeout=10).status_code == 204
        rest = []
        for line in process.stdout:  # the second visit measures too: the devices were topped up
            rest.append(line)
            if "state waiting" in line:
                break
        assert any("reading   blood pressure: 128/82 mmHg" in line for line in rest)
        assert any("physician console for this visit" in line for line in rest)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == ExitCode.INTERRUPTED, err


def test_browser_without_chromium_says_how_to_get_it(
    telemedroom: Callable[..., object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    result = telemedroom("demo", "--browser", "--data-dir", str(tmp_path / "data"))
    assert result.code == ExitCode.FAILED
    assert "apt-get install chromium (telemedroom never downloads a browser)" in result.err
    assert "Traceback" not in result.err


def test_browser_without_playwright_names_the_extra(
    telemedroom: Callable[..., object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """playwright made unimportable, as without the browser extra."""
    monkeypatch.setitem(sys.modules, "playwright.async_api", None)
    result = telemedroom("demo", "--browser", "--data-dir", str(tmp_path))
    assert result.code == ExitCode.MISSING_EXTRA
    assert "telemedroom demo needs the 'browser' extra: pip install 'telemedroom[all]'" in result.err


# what a core-only install lacks: the modules of the ble, sim, video and server extras
CORE_ONLY = ("bleak", "bumble", "aiortc", "websockets", "starlette", "uvicorn")


@pytest.mark.parametrize(
    ("absent", "named"),
    [
        (CORE_ONLY, "the 'ble', 'sim', 'video' and 'server' extras"),
        (("bumble",), "the 'sim' extra"),  # after installing all but one, the one is named
    ],
)
def test_without_its_extras_the_demo_names_every_missing_one_at_once(
    tmp_path: Path, absent: tuple[str, ...], named: str
) -> None:
    """The extras' modules made unimportable (``sys.modules[name] = None``), as in a core-only install."""
    hide = "".join(f"sys.modules[{name!r}] = None\n" for name in absent)
    code = f"import sys\n{hide}from telemedroom.cli import main\nsys.exit(main(sys.argv[1:]))\n"
    result = subprocess.run(
        [sys.executable, "-c", code, "demo", "--data-dir", str(tmp_path / "data")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == ExitCode.MISSING_EXTRA, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr  # one line, no traceback
    assert f"telemedroom demo needs {named}: pip install 'telemedroom[all]'" in result.stderr
    assert not (tmp_path / "data").exists()  # nothing was started
