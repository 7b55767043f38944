"""Readings -> encrypted outbox -> a FHIR server that wants SMART Backend Services.

The FHIR server here is telemedroom.testing.FakeFhirServer, a fake that runs in this
process and checks the client assertion's signature as a real authorization server
does; point FhirClient at your HAPI, Medplum or cloud FHIR base URL instead (see the
README next to this file).
"""

import asyncio
import os
import tempfile
from pathlib import Path
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from telemedroom.devices import gatt
from telemedroom.errors import FhirConnectionError, OutboxKeyError
from telemedroom.fhir import (
    FhirClient,
    Outbox,
    Retry,
    SmartBackendAuth,
    gateway_device,
    to_observation,
    transaction_json,
)
from telemedroom.testing import FakeFhirServer

ROOM_ZONE = ZoneInfo("Europe/Berlin")
CLIENT_ID = "room-nord-1"  # the client id the hospital's authorization server registered
KEY_ID = "room-nord-1-2026"  # the kid of the room's public key in the JWKS it registered


def room_key(folder: Path) -> ec.EllipticCurvePrivateKey:
    """The room's P-384 key (ES384), as a room reads it from its ``private_key_file``."""
    path = folder / "smart-key.pem"
    if not path.exists():  # once, at installation; the public half goes to the hospital
        key = ec.generate_private_key(ec.SECP384R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        path.write_bytes(pem)
        path.chmod(0o600)
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(loaded, ec.EllipticCurvePrivateKey)
    return loaded


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

    key = room_key(folder)
    server = FakeFhirServer(require_auth=True)
    server.register_client(CLIENT_ID, key.public_key())  # the hospital registers the room once
    auth = SmartBackendAuth(
        CLIENT_ID,
        key,
        key_id=KEY_ID,
        scope=["system/Observation.c", "system/Device.c", "system/Provenance.c"],
    )
    print(f"SMART client {CLIENT_ID}: {auth.algorithm} client assertion, key {KEY_ID}")
    outbox_key = os.urandom(32)  # in a room: from its configuration, never next to the database
    async with (
        Outbox(folder / "outbox.sqlite", key=outbox_key) as outbox,
        FhirClient(
            server.base_url, auth=auth, transport=server.transport(), retry=Retry(attempts=2, backoff=0.01)
        ) as fhir,
    ):
        await outbox.put(bundle)
        await outbox.put(bundle)  # sent twice by mistake: still one reading on the server

        server.unreachable = True  # the room's uplink is down
        try:
            await outbox.drain(fhir, max_failures=1)
        except FhirConnectionError:
            print(f"network down: {await outbox.pending()} bundles wait in the outbox, encrypted")
        try:
            async with Outbox(folder / "outbox.sqlite", key=os.urandom(32)):
                pass
        except OutboxKeyError:
            print("opened with another key: refused (OutboxKeyError)")

        server.unreachable = False  # back up: the next drain sends everything
        result = await outbox.drain(fhir)
        left = await outbox.pending()
        print(f"outbox: {result.sent} bundles sent in {result.batches} transaction, {left} left")
        tokens = sum(1 for method, path in server.requests if (method, path) == ("POST", "auth/token"))
        print(f"access tokens fetched: {tokens} (discovered at .well-known/smart-configuration)")
        stored = [o async for o in fhir.search("Observation", {"subject": "Patient/anna"})]
    print(
        f"server holds {len(stored)} Observations: {', '.join(sorted(o.code.coding[0].code for o in stored))}"
    )
    print("identifier", stored[0].identifier[0].value)


with tempfile.TemporaryDirectory() as tmp:
    asyncio.run(main(Path(tmp)))
