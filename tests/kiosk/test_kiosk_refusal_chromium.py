"""The kiosk's staff line in headless Chromium: a record the FHIR server refused, until it is delivered.

End to end: a real Room writes a visit's record; the FHIR server is
:class:`~telemedroom.testing.FakeFhirServer` in its strict profile (a fake: an in-process
server answering real FHIR JSON with Medplum's transaction limits and HAPI's referential
integrity), which refuses the record sent as one transaction to a room configured for a
``generic`` server. The page shows the refusal (outbox row, HTTP status, the server's
reason) in German and English; the staff fix the cause (``[fhir] server = "medplum"``,
the room restarted: the refusal is still shown, read from the outbox), requeue the row
with the CLI's requeue, and the next drain delivers it: the line goes away. The
Bluetooth radio is BumbleBackend (virtual controllers), the physician the scripted
PhysicianPeer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests._fhir_servers import ServerUnderTest
from tests.kiosk.test_kiosk_room_chromium import shows
from tests.room.conftest import data_dir, devices_for, make_config  # noqa: F401 (data_dir is a fixture)
from tests.session.conftest import browser_page, until  # noqa: F401 (browser_page is a fixture)

from telemedroom._cli._outbox import requeue
from telemedroom._kiosk import close_kiosk, create_kiosk_app
from telemedroom.fhir import FhirClient, Retry, ServerProfile
from telemedroom.room import FhirSettings, RecordDelivered, RecordRejected, Room, RoomConfig
from telemedroom.session.peer import PhysicianPeer
from telemedroom.session.signaling import LocalServer
from telemedroom.testing import BumbleBackend, FakeFhirServer

pytestmark = pytest.mark.requires_system

# cuff and oximeter: Patient, 3 Devices, Encounter, 4 Observations, Provenance: over Medplum's 8
KINDS = ("blood_pressure", "pulse_oximeter")
KVNR = "http://fhir.de/sid/gkv/kvid-10"
TOO_MANY = "Transaction requires strict isolation but has too many entries"
IDLE_WITH_LINE = "document.body.dataset.state === 'idle' && !document.getElementById('operator').hidden"


def room_config(folder: Path, server: str) -> RoomConfig:
    return make_config(folder, KINDS, fhir=FhirSettings(server=server, patient_identifier_system=KVNR))  # type: ignore[arg-type]


def client(fake: FakeFhirServer, server: str) -> FhirClient:
    profile = ServerProfile.named(server)
    return FhirClient(fake.base_url, transport=fake.transport(), profile=profile, retry=Retry(attempts=1))


async def test_a_refused_record_shows_on_the_kiosk_until_it_is_delivered(
    data_dir: Path,  # noqa: F811
    browser_page: Any,  # noqa: F811
) -> None:
    page = browser_page
    fake = FakeFhirServer(strict=True)
    config = room_config(data_dir, "generic")  # the mistake: the clinic runs Medplum
    async with BumbleBackend() as radio:
        for device in devices_for(KINDS):
            await radio.add(device)
        async with client(fake, "generic") as fhir, Room(config, ble_backend=radio, fhir_sink=fhir) as room:
            app = create_kiosk_app(room, language="de")
            try:
                async with LocalServer(app) as server:
                    await page.goto(f"{server.http_url}/kiosk/")
                    await until(page, "document.body.dataset.state === 'idle'")
                    assert await page.is_hidden("#operator")  # nothing refused: no staff line

                    appointment = await room.book_walk_in("A123456789")
                    await room.check_in(appointment.booking_code)
                    await room.measure()
                    url, token = room.visit_url(appointment.id), room.physician_token(appointment.id)
                    async with PhysicianPeer(url, token, auto_admit=True):
                        await room.wait_for_physician(timeout=60)
                        summary = await room.end_consultation()
                    await room.wait_idle()
                    events = room.events()
                    drained = await room.drain_outbox()
                    (row,) = summary.outbox_ids
                    assert drained.rejected == (row,)
                    seen = [await anext(events) for _ in range(2)]
                    assert [e.type for e in seen] == ["state", "record_rejected"]
                    assert isinstance(seen[1], RecordRejected)
                    assert seen[1].status == 400
                    await events.aclose()  # type: ignore[attr-defined]

                    await until(page, IDLE_WITH_LINE, timeout=30)
                    line = f"#refusals li[data-row='{row}']"
                    german = f"Ausgang, Zeile {row}: vom FHIR-Server der Klinik abgelehnt (HTTP 400)."
                    await shows(page, line, german)
                    await shows(page, line, f"Begründung des Servers: {TOO_MANY}")
                    await shows(page, line, f"telemedroom outbox requeue {row}")
                    text = await page.inner_text("#operator")
                    assert "A123456789" not in text  # no identity
                    assert "mmHg" not in text  # no reading
                    await page.click("#language")
                    english = f"Outbox row {row}: refused by the clinic's FHIR server (HTTP 400)."
                    await shows(page, line, english)
                    await shows(page, "#operator-title", "For the staff")
            finally:
                await close_kiosk(app)
    assert fake.resources("Encounter") == []  # refused whole: nothing of it landed

    # The staff fix the cause (the server's profile) and restart the room: the refusal,
    # read back from the outbox, is still on the kiosk until the row is requeued and delivered.
    fixed = room_config(data_dir, "medplum")
    async with (
        BumbleBackend() as radio,
        client(fake, "medplum") as fhir,
        Room(fixed, ble_backend=radio, fhir_sink=fhir) as room,
    ):
        app = create_kiosk_app(room, language="en")
        try:
            async with LocalServer(app) as server:
                await page.goto(f"{server.http_url}/kiosk/")
                await until(page, IDLE_WITH_LINE, timeout=30)
                line = f"#refusals li[data-row='{row}']"
                await shows(page, line, f"Outbox row {row}: refused by the clinic's FHIR server (HTTP 400).")
                await shows(page, line, TOO_MANY)

                assert await requeue(fixed, []) == [row]  # `telemedroom outbox requeue`
                events = room.events()
                drained = await room.drain_outbox()
                assert drained.rejected == ()
                assert drained.sent == 1
                seen = [await anext(events) for _ in range(3)]
                assert [e.type for e in seen] == ["state", "record_rejected", "record_delivered"]
                assert seen[2] == RecordDelivered(outbox_row=row)
                await events.aclose()  # type: ignore[attr-defined]
                await until(page, "document.getElementById('operator').hidden", timeout=30)
                assert await page.locator("#refusals li").count() == 0
                # a kiosk page opened now gets no refusal either
                await page.reload()
                await until(page, "document.body.dataset.state === 'idle'")
                assert await page.is_hidden("#operator")
        finally:
            await close_kiosk(app)
    (encounter,) = fake.resources("Encounter")
    assert encounter["identifier"][0]["value"].endswith(summary.visit_id)
    held = ServerUnderTest("strict-fake", fake.base_url, fake.transport(), fake=fake)
    assert held.unresolved_references(("Patient", "Encounter", "Observation", "Device", "Provenance")) == []
