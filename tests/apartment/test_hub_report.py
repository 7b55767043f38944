"""The apartment's heartbeat is one moment's report, even when the call changes while it is made."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tests.apartment.conftest import make_config

from telemedroom.apartment import Apartment, HubLinkSettings
from telemedroom.apartment._hub import HubLink


async def test_state_and_waiting_since_come_from_the_same_moment(tmp_path: Path) -> None:
    """The patient presses "call" while the report reads the outbox (an await): the report
    must say "watching" and no waiting_since, or "calling" with it; a mix put the
    apartment on the worklist as calling while its row said watching (seen on CI)."""
    key = tmp_path / "heartbeat.pem"
    key.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    async with Apartment(make_config(tmp_path / "data")) as apartment:
        link = HubLink(apartment, HubLinkSettings(url="https://hub.clinic.example", key_file=key))
        pending = apartment.outbox.pending

        async def pending_while_the_patient_calls() -> int:
            apartment._set_call("calling")  # the button, pressed during the await
            return await pending()

        apartment.outbox.pending = pending_while_the_patient_calls  # type: ignore[method-assign]
        report = await link._heartbeat()
        assert (report.state, report.waiting_since) == ("watching", None)
        apartment.outbox.pending = pending  # type: ignore[method-assign]
        report = await link._heartbeat()
        assert report.state == "calling"
        assert report.waiting_since == apartment.call_state.at
