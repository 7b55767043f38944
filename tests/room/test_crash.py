"""A room killed with SIGKILL in any state comes back idle with no half-written record.

Each worker (``_room_worker.py``) drives a real room to one state and is killed with
``kill -9`` there; then a new room opens on the same data dir. A visit killed before
wrap-up is dropped (nothing in the outbox, an ``aborted`` audit entry) and its
appointment is booked again, so its booking code checks in (``appointment_reopened``
audit entry with the reason); one killed in
wrap-up is replayed from the journal's sealed bundle, and the FHIR server (a
FakeFhirServer: a fake, in-process FHIR R4 server) holds each of its resources once,
even when the bundle had already reached the outbox before the kill.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.room.conftest import make_config

from telemedroom.fhir import FhirClient
from telemedroom.room import Room, RoomState
from telemedroom.session import AuditLog
from telemedroom.testing import FakeFhirServer

WORKER = Path(__file__).with_name("_room_worker.py")
# state killed in -> (outbox rows after recovery, what the audit log's recovery entry says)
CASES: dict[str, tuple[int, str | None]] = {
    "idle": (0, None),
    "checked_in": (0, "aborted"),
    "measuring": (0, "aborted"),
    "waiting": (0, "aborted"),
    "in_consultation": (0, "aborted"),
    "wrap_up_before_put": (1, "wrapped_up"),  # sealed in the journal, not yet queued: replayed
    "wrap_up_after_put": (2, "wrapped_up"),  # queued and replayed: the server dedupes
    "cleaning": (1, "wrapped_up"),
}


@pytest.fixture(scope="module")
def killed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One worker forks a room per state; each is killed with SIGKILL once it is there."""
    root = tmp_path_factory.mktemp("crash")
    log = root / "worker.log"
    with log.open("w") as errors:
        worker = subprocess.Popen(
            [sys.executable, str(WORKER), str(root), *CASES],
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            assert worker.stdout is not None
            waiting = set(CASES)
            with selectors.DefaultSelector() as selector:
                selector.register(worker.stdout, selectors.EVENT_READ)
                deadline = time.monotonic() + 300  # eight rooms at once on a loaded machine
                while waiting and selector.select(max(0.0, deadline - time.monotonic())):
                    line = worker.stdout.readline()
                    if not line:
                        break
                    word, case, pid = line.split()
                    assert word == "reached"
                    os.kill(int(pid), signal.SIGKILL)
                    waiting.discard(case)
            assert not waiting, f"never reached {sorted(waiting)}: {log.read_text()}"
            assert worker.wait(timeout=30) == 0  # every child is gone
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
            if worker.stdout is not None:
                worker.stdout.close()
    return {case: root / case for case in CASES}


@pytest.mark.parametrize("case", list(CASES))
async def test_a_room_killed_in_any_state_comes_back_idle(killed: dict[str, Path], case: str) -> None:
    data_dir = killed[case]
    rows, recovery = CASES[case]
    server = FakeFhirServer()
    assert not (data_dir / "fhir").exists()  # nothing reached the record before the kill
    # the journal (with its write-ahead log) holds ids and the state, no health data in the clear
    journal = b"".join(p.read_bytes() for p in data_dir.glob("room-journal.sqlite*"))
    for clear in (b"pat-crash", b"Observation", b"Encounter", b"mm[Hg]"):
        assert clear not in journal
    async with (
        FhirClient(server.base_url, transport=server.transport()) as fhir,
        Room(make_config(data_dir, []), fhir_sink=fhir) as room,
    ):
        assert room.state is RoomState.IDLE
        assert room.outbox is not None
        assert await room.outbox.pending() == rows
        drained = await room.drain_outbox()
        assert room.scheduler is not None
        killed_visit = [a for a in await room.scheduler.store.appointments() if a.patient == "pat-crash"]
        if recovery == "aborted" and rows == 0:
            # the visit did not take place: its appointment is booked again and its code works
            (appointment,) = killed_visit
            assert appointment.status == "booked"
        else:  # the room is usable again: a new visit checks in
            appointment = await room.book_walk_in("pat-next")
        await room.check_in(appointment.booking_code)
        assert room.state is RoomState.CHECKED_IN
    assert drained.rejected == ()
    log = AuditLog(data_dir / "audit.jsonl")
    log.verify()
    reopened = [e for e in log if e.action.value == "appointment_reopened"]
    # the visit checked in above was aborted when the room closed: its appointment too
    assert reopened[-1].appointment == appointment.id
    assert reopened[-1].detail == {"reason": "room closed", "status": "booked"}
    if recovery == "aborted" and rows == 0:
        (entry, _) = reopened
        assert entry.appointment == appointment.id
        assert entry.detail == {"reason": "recovered after a crash", "status": "booked"}
    else:
        assert len(reopened) == 1
    recovered = [e for e in log if e.detail.get("reason") == "recovered after a crash" and e not in reopened]
    if recovery is None:
        assert recovered == []
        assert server.resources("Encounter") == []
        return
    (entry,) = recovered
    assert entry.action.value == recovery
    if rows == 0:
        assert server.resources("Encounter") == []
        assert server.resources("Observation") == []
        return
    # the visit's record, exactly once, even from two copies of the bundle
    (encounter,) = server.resources("Encounter")
    assert encounter["status"] == "finished"
    assert encounter["class"]["code"] == "VR"
    assert len(server.resources("Observation")) == 2  # the cuff's pressure and its pulse rate
    assert len(server.resources("Media")) == 1
    assert len(server.resources("Provenance")) == 1
