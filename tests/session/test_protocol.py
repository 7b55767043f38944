"""Protocol and data-channel messages: any input parses to a model or is refused with a typed error."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from telemedroom import BloodGlucose, BloodPressure, BodyTemperature, BodyWeight, HeartRate, OxygenSaturation
from telemedroom.errors import PeerError
from telemedroom.session import channels
from telemedroom.session import protocol as p

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
TYPES = ["join", "admit", "deny", "offer", "answer", "ice", "leave", "end", "ping", "welcome", "x"]


@given(
    st.dictionaries(st.sampled_from(["type", "to", "sdp", "participant", "token", "v", "candidate"]), JSON)
)
def test_any_client_object_parses_or_is_a_validation_error(data: dict[str, object]) -> None:
    try:
        message = p.CLIENT_MESSAGES.validate_python(data)
    except ValidationError:
        return
    assert message.type == data["type"]


@given(st.sampled_from(TYPES), JSON)
def test_typed_objects_with_random_fields(kind: str, payload: object) -> None:
    data = {"type": kind, "field": payload}
    with pytest.raises(ValidationError):
        p.CLIENT_MESSAGES.validate_python(data)  # every client model forbids unknown fields


def test_relayed_messages_say_from_on_the_wire() -> None:
    wire = json.loads(p.RelayedOffer(sender="pa-1", sdp="v=0").model_dump_json(by_alias=True))
    assert wire == {"type": "offer", "from": "pa-1", "sdp": "v=0"}
    assert p.SERVER_MESSAGES.validate_python(wire) == p.RelayedOffer(sender="pa-1", sdp="v=0")


def test_the_join_token_is_secret_in_reprs() -> None:
    join = p.Join(token="eyJhbGciOi.secret.part")  # type: ignore[arg-type]
    assert "secret" not in repr(join)
    assert "secret" not in join.model_dump_json()


READINGS = [
    BloodPressure(
        systolic=131, diastolic=84, pulse_rate=71, measured_at=datetime(2026, 11, 25, 9, tzinfo=UTC)
    ),
    HeartRate(bpm=64, rr_intervals_s=(0.93, 0.94)),
    OxygenSaturation(spo2_percent=97, pulse_rate=68),
    BodyTemperature(value=37.2, site="ear"),
    BodyWeight(value=72.4, bmi=23.1, height=1.77),
    BloodGlucose(value=96, sequence_number=4),
]


@pytest.mark.parametrize("reading", READINGS, ids=lambda r: r.kind)
def test_every_measurement_kind_round_trips_the_vitals_channel(reading: object) -> None:
    text = channels.encode_measurement(reading)  # type: ignore[arg-type]
    assert json.loads(text)["v"] == channels.VITALS_VERSION
    assert channels.decode_measurement(text) == reading


@given(st.integers(min_value=0, max_value=0xFFFF), st.sampled_from(READINGS))
def test_vitals_round_trip_property(bpm: int, template: object) -> None:
    reading = HeartRate(bpm=bpm) if bpm % 2 else template
    assert channels.decode_measurement(channels.encode_measurement(reading)) == reading  # type: ignore[arg-type]


@given(JSON)
def test_anything_else_on_the_vitals_channel_is_a_peer_error(data: object) -> None:
    with pytest.raises(PeerError):
        channels.decode_measurement(json.dumps(data))


def test_a_newer_vitals_version_is_refused() -> None:
    message = json.loads(channels.encode_measurement(HeartRate(bpm=60)))
    message["v"] = 2
    with pytest.raises(PeerError, match="version-1"):
        channels.decode_measurement(json.dumps(message))
