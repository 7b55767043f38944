"""The hub's apartment rows and configuration, without a database: ordering, alerts, bad input.

(The whole path, with the real hub, PostgreSQL and the apartment, is in
``tests/apartment/test_hub.py``.)
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from telemedroom.apartment import Apartment, ApartmentConfig
from telemedroom.errors import ApartmentConfigError, HubConfigError
from telemedroom.hub import AlertSettings, HubConfig, RoomKey, RoomStatus
from telemedroom.hub._apartments import apartment_view
from telemedroom.session.heartbeat import AlertStatus, DeviceStatus, Heartbeat

NOW = datetime(2026, 12, 3, 9, tzinfo=UTC)


def status(apartment: str, *, silent_s: float = 1, **fields: object) -> RoomStatus:
    beat = Heartbeat.model_validate(
        {
            "room": apartment,
            "boot": "b",
            "sequence": 0,
            "sent_at": NOW,
            "version": "test",
            "state": "watching",
            "kind": "apartment",
            **fields,
        }
    )
    return RoomStatus(beat, NOW - timedelta(seconds=silent_s))


def alert(rule: str, severity: str, *, acknowledged: bool = False) -> dict[str, object]:
    return {
        "id": f"id-{rule}",
        "rule": rule,
        "severity": severity,
        "raised_at": NOW,
        "acknowledged": acknowledged,
    }


def test_high_alerts_first_then_any_alert_then_the_quiet_ones() -> None:
    keys = [
        RoomKey(id=name, public_key_file=Path("k.pem")) for name in ("a-quiet", "b-low", "c-high", "d-gone")
    ]
    statuses = {
        "a-quiet": status("a-quiet"),
        "b-low": status(
            "b-low",
            alerts=[alert("battery-low", "low")],
            devices=[DeviceStatus(kind="scale", name="Waage", battery=9)],
        ),
        "c-high": status(
            "c-high", alerts=[alert("systolic", "high"), alert("weight-gain", "moderate", acknowledged=True)]
        ),
    }
    rows = apartment_view(keys, statuses, AlertSettings(), NOW, {"c-high": 3})
    assert [row.id for row in rows] == ["c-high", "b-low", "d-gone", "a-quiet"]
    high, low, gone, quiet = rows
    assert (high.open_alerts, high.highest, high.waiting) == (2, "high", 3)
    assert "2 open alert(s), highest high, 1 not acknowledged" in high.alerts
    assert "Waage battery 9 %" in low.alerts
    assert gone.alerts == ["never reported"]
    assert gone.as_dict()["last_contact"] is None
    assert quiet.alerts == []
    assert quiet.as_dict()["state"] == "watching"


def test_an_apartment_silent_too_long_with_a_full_disk_or_refused_records_is_flagged() -> None:
    keys = [RoomKey(id="apt", public_key_file=Path("k.pem"))]
    report = status("apt", silent_s=120, state="storage_full", outbox_refused=2)
    rows = apartment_view(keys, {"apt": report}, AlertSettings(), NOW)
    assert not rows[0].online
    assert rows[0].alerts == [
        "offline for 120 s",
        "the gateway's disk is full: new readings are refused",
        "2 records refused by the FHIR server",  # as for a room (the fleet's rule)
    ]


def test_a_calling_patient_is_flagged_and_listed_first_unless_the_apartment_is_offline() -> None:
    keys = [RoomKey(id=name, public_key_file=Path("k.pem")) for name in ("a-high", "b-calls", "c-stale")]
    since = NOW - timedelta(minutes=4)
    statuses = {
        "a-high": status("a-high", alerts=[alert("systolic", "high")]),
        "b-calls": status("b-calls", state="calling", waiting_since=since),
        # its last report said "calling", but it has been silent too long: offline, not calling
        "c-stale": status("c-stale", silent_s=600, state="calling", waiting_since=since),
    }
    rows = apartment_view(keys, statuses, AlertSettings(), NOW)
    assert [row.id for row in rows] == ["b-calls", "a-high", "c-stale"]
    assert rows[0].alerts == ["the patient calls the ward (waiting 4 min 0 s)"]
    assert rows[2].alerts == ["offline for 600 s"]


def test_an_apartment_report_refuses_values_it_has_no_field_for() -> None:
    with pytest.raises(ValueError, match="extra"):
        AlertStatus.model_validate({**alert("systolic", "high"), "value": 186})


def test_an_id_listed_as_room_and_apartment_is_refused_naming_the_key() -> None:
    data = {
        "public_url": "https://hub.example.org",
        "database_url": "postgresql:///hub",
        "accounts_file": "accounts.toml",
        "rooms": [{"id": "nord-1", "public_key_file": "n.pem"}],
        "apartments": [{"id": "nord-1", "public_key_file": "a.pem"}],
    }
    with pytest.raises(HubConfigError, match=r"apartments: .*also as a room"):
        HubConfig.load(data)


def test_the_apartment_key_files_are_relative_to_the_hub_configuration(tmp_path: Path) -> None:
    (tmp_path / "hub.toml").write_text(
        'public_url = "https://hub.example.org"\ndatabase_url = "postgresql:///hub"\n'
        'accounts_file = "accounts.toml"\n[[apartments]]\nid = "apt-2"\npublic_key_file = "keys/apt-2.pem"\n'
    )
    config = HubConfig.from_toml(tmp_path / "hub.toml")
    assert config.apartments[0].public_key_file == tmp_path / "keys" / "apt-2.pem"
    with pytest.raises(HubConfigError, match=r"apartments\.0\.public_key_file"):
        config.room_keys()


async def test_an_apartment_hub_key_that_is_not_ed25519_is_refused_naming_the_key(tmp_path: Path) -> None:
    key_file = tmp_path / "heartbeat.pem"
    key_file.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    (tmp_path / "plan.toml").write_text('patient = "Patient/p1"\ncare_team = "CareTeam/w"\nrules = []\n')
    config = ApartmentConfig(
        apartment_id="apt-2",
        patient="Patient/p1",
        care_plan=tmp_path / "plan.toml",
        data_dir=tmp_path / "data",
        encryption_key=base64.b64encode(bytes(32)).decode(),
        hub={"url": "https://hub.example.org", "key_file": key_file},
    )
    with pytest.raises(ApartmentConfigError, match=r"hub\.key_file.*not an Ed25519 key"):
        async with Apartment(config):
            pass
