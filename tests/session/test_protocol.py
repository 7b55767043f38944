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


# -- control channel: the facial protocol's messages -----------------------------------------


@given(st.text(max_size=300), st.integers(min_value=1, max_value=64))
def test_chunked_text_joins_back_and_no_piece_is_too_long(text: str, size: int) -> None:
    pieces = channels.chunked(text, size)
    assert "".join(pieces) == text
    assert pieces
    assert all(len(piece) <= size for piece in pieces)


def test_a_full_chunk_fits_a_browsers_data_channel_message() -> None:
    # RFC 8841 max-message-size browsers accept: 64 KiB
    image = channels.Chunk(id=2**31, index=2**31, data="A" * (channels.CHUNK_BYTES * 4 // 3))
    assert len(image.model_dump_json().encode()) < 64 * 1024
    # the worst JSON chunk: every character needs escaping on the wire
    for worst in ('"', "\\"):
        text = worst * channels.JSON_CHUNK_CHARS
        chunk = channels.Chunk(id=2**31, index=2**31, data=text)
        assert len(chunk.model_dump_json().encode()) < 64 * 1024


@given(
    st.sampled_from(["rest", "smile-with-teeth"]),
    st.integers(0, 7),
    st.integers(0, 10),
    st.sampled_from(["instruct", "capture", "done"]),
)
def test_progress_chunks_and_answers_never_parse_as_each_other(
    step: str, index: int, countdown: int, phase: str
) -> None:
    progress = channels.ExamProgress(id=3, step=step, index=index, total=8, countdown=countdown, phase=phase)  # type: ignore[arg-type]
    chunk = channels.Chunk(id=3, index=index, data="AAAA")
    answer = channels.Response(id=3, ok=True, step=step, chunks=2, clip_chunks=1)
    messages = {channels.ExamProgress: progress, channels.Chunk: chunk, channels.Response: answer}
    for kind, message in messages.items():
        text = message.model_dump_json()
        assert kind.model_validate_json(text) == message
        for other in messages:
            if other is not kind:
                with pytest.raises(ValueError, match="validation error"):
                    other.model_validate_json(text)
        # what the console's script keys on
        data = json.loads(text)
        assert ("phase" in data) == (kind is channels.ExamProgress)
        assert ("data" in data) == (kind is channels.Chunk)
    assert answer.total_chunks == 3
