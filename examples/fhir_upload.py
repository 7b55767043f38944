"""Decode a reading, map it to FHIR, and upload it through the encrypted outbox.

The FHIR server here is telemedroom.testing.FakeFhirServer, a fake that runs in this
process; point FhirClient at your HAPI, Medplum or cloud FHIR base URL instead.
"""

import asyncio
import os
import tempfile
from pathlib import Path
from zoneinfo import ZoneInfo

from telemedroom.devices import gatt
from telemedroom.fhir import FhirClient, Outbox, gateway_device, to_observation, transaction_json
from telemedroom.testing import FakeFhirServer

ROOM_ZONE = ZoneInfo("Europe/Berlin")


async def main(folder: Path) -> None:
    cuff = gatt.Decoder(tz=ROOM_ZONE)
    cuff.feed("2a29", b"Acme Medical")
    cuff.feed("2a23", bytes.fromhex("5f4e3dfeff2c1b00"))  # System ID, EUI-64 little-endian
    [reading] = cuff.feed("2a35", bytes.fromhex("1e 8000 5200 cdf3 ea070b18090f00 4000 01 0400"))

    observation = to_observation(reading, patient="Patient/anna")
    print("LOINC", observation.code.coding[0].code, "MDC", observation.code.coding[1].code)
    for component in observation.component:
        quantity = component.valueQuantity
        print(f"  {component.code.coding[0].display}: {quantity.value} {quantity.code}")

    room = gateway_device("Room Quartier Nord", identifier="room-nord-1")
    bundle = transaction_json([reading], patient="Patient/anna", gateway=room)

    server = FakeFhirServer()
    key = os.urandom(32)  # in a room: from its configuration, never next to the database
    async with (
        Outbox(folder / "outbox.sqlite", key=key) as outbox,
        FhirClient(server.base_url, transport=server.transport()) as fhir,
    ):
        await outbox.put(bundle)
        await outbox.put(bundle)  # sent twice by mistake: still one reading on the server
        result = await outbox.drain(fhir)
        left = await outbox.pending()
        print(f"outbox: {result.sent} bundles sent in {result.batches} transaction, {left} left")
        stored = [o async for o in fhir.search("Observation", {"subject": "Patient/anna"})]
    print(
        f"server holds {len(stored)} Observations: {', '.join(sorted(o.code.coding[0].code for o in stored))}"
    )
    print("identifier", stored[0].identifier[0].value)


with tempfile.TemporaryDirectory() as tmp:
    asyncio.run(main(Path(tmp)))
