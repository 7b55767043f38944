"""The kiosk app in-process (httpx over ASGI) and on loopback (WebSocket, WebRTC with aiortc).

The room behind it is ``ScriptedRoom`` (see conftest): it publishes real event models and
raises the real ``CheckInRefused``; the video is real aiortc over loopback.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from telemedroom._kiosk import close_kiosk, create_kiosk_app
from telemedroom.room import (
    Admitted,
    DeviceStep,
    ExamStep,
    ReadingTaken,
    RoomState,
    WaitingRoom,
    parse_event,
)

from .conftest import BOOKING_CODE, Kiosk, ScriptedRoom

LOOPBACK = ("127.0.0.1", 50123)


@pytest.fixture
async def http(room: ScriptedRoom) -> AsyncIterator[httpx.AsyncClient]:
    app = create_kiosk_app(room, language="en")
    transport = httpx.ASGITransport(app, client=LOOPBACK)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8765") as client:
        yield client
    await close_kiosk(app)


async def post_code(http: httpx.AsyncClient, code: Any, **headers: str) -> httpx.Response:
    return await http.post(
        "/kiosk/check-in",
        content=json.dumps({"code": code}),
        headers={"content-type": "application/json", **headers},
    )


# -- the page ------------------------------------------------------------------------------


async def test_the_page_and_its_files_carry_a_strict_content_security_policy(http: httpx.AsyncClient) -> None:
    for path in ("/kiosk/", "/kiosk/kiosk.js", "/kiosk/kiosk.css", "/kiosk/texts.json"):
        response = await http.get(path)
        assert response.status_code == 200, path
        policy = dict(
            part.strip().split(" ", 1) for part in response.headers["content-security-policy"].split(";")
        )
        assert policy["default-src"] == "'none'"
        assert policy["script-src"] == "'self'"
        assert policy["style-src"] == "'self'"
        assert policy["connect-src"] == "'self'"
        assert policy["frame-ancestors"] == "'none'"
        assert response.headers["x-content-type-options"] == "nosniff"
    page = (await http.get("/kiosk/")).text
    # nothing inline that the policy would have to allow, nothing from elsewhere
    for forbidden in ("<script>", "style=", "http://", "https://"):
        assert forbidden not in page
    assert '<script src="kiosk.js"></script>' in page


async def test_the_root_leads_to_the_page(http: httpx.AsyncClient) -> None:
    response = await http.get("/")
    assert response.status_code == 307
    assert response.headers["location"] == "/kiosk/"


async def test_texts_name_the_default_language_and_carry_both_tables(http: httpx.AsyncClient) -> None:
    texts = (await http.get("/kiosk/texts.json")).json()
    assert texts["default"] == "en"
    assert texts["languages"] == ["de", "en"]
    assert texts["texts"]["de"]["put_on_cuff"] == "Legen Sie die Manschette an"
    assert texts["texts"]["en"]["put_on_cuff"] == "Put on the cuff"


async def test_only_loopback_clients_are_served_unless_allowed(room: ScriptedRoom) -> None:
    for allow_remote, expected in ((False, 403), (True, 200)):
        app = create_kiosk_app(room, allow_remote=allow_remote)
        transport = httpx.ASGITransport(app, client=("192.0.2.7", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://kiosk.example") as client:
            assert (await client.get("/kiosk/")).status_code == expected
            check_in = await post_code(client, BOOKING_CODE)
            assert check_in.status_code == (403 if not allow_remote else 204)
    assert room.attempts == 1  # only the allowed client reached the room


# -- check-in ------------------------------------------------------------------------------


async def test_a_known_code_checks_in_with_204(http: httpx.AsyncClient, room: ScriptedRoom) -> None:
    response = await post_code(http, f"  {BOOKING_CODE} ")
    assert response.status_code == 204
    assert response.content == b""
    assert room.state is RoomState.CHECKED_IN


async def test_an_unknown_code_is_400_and_the_fourth_try_429(
    http: httpx.AsyncClient, room: ScriptedRoom
) -> None:
    answers = [await post_code(http, "WRONG") for _ in range(4)]
    assert [a.status_code for a in answers] == [400, 400, 400, 429]
    assert [a.json() for a in answers] == [{"reason": "unknown_code"}] * 3 + [{"reason": "too_many_attempts"}]
    assert room.state is RoomState.IDLE


@pytest.mark.parametrize(("reason", "status"), [("not_now", 400), ("busy", 409), ("too_many_attempts", 429)])
async def test_each_refusal_reason_has_its_status(
    http: httpx.AsyncClient, room: ScriptedRoom, reason: str, status: int
) -> None:
    room.refuse_next = reason
    response = await post_code(http, BOOKING_CODE)
    assert (response.status_code, response.json()) == (status, {"reason": reason})


async def test_a_room_in_a_visit_answers_busy(http: httpx.AsyncClient, room: ScriptedRoom) -> None:
    assert (await post_code(http, BOOKING_CODE)).status_code == 204
    response = await post_code(http, BOOKING_CODE)
    assert (response.status_code, response.json()) == (409, {"reason": "busy"})


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        (b"{not json", "application/json", "bad_request"),
        (b"[1, 2]", "application/json", "bad_request"),
        (b'{"code": 42}', "application/json", "invalid_code"),
        (b'{"code": "   "}', "application/json", "invalid_code"),
        (b'{"other": "x"}', "application/json", "invalid_code"),
        (json.dumps({"code": "X" * 65}).encode(), "application/json", "invalid_code"),
        # a plain HTML form cannot post JSON: no cross-site check-in by form
        (b"code=K7M2-QX4P", "application/x-www-form-urlencoded", "bad_request"),
    ],
)
async def test_malformed_check_ins_are_400_and_never_reach_the_room(
    http: httpx.AsyncClient, room: ScriptedRoom, body: bytes, content_type: str, reason: str
) -> None:
    response = await http.post("/kiosk/check-in", content=body, headers={"content-type": content_type})
    assert (response.status_code, response.json()) == (400, {"reason": reason})
    assert room.attempts == 0


async def test_another_origin_cannot_check_in(http: httpx.AsyncClient, room: ScriptedRoom) -> None:
    response = await post_code(http, BOOKING_CODE, origin="https://evil.example")
    assert (response.status_code, response.json()) == (403, {"reason": "cross_origin"})
    same = await post_code(http, BOOKING_CODE, origin="http://127.0.0.1:8765")
    assert same.status_code == 204
    assert room.attempts == 1


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=80),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(body=st.dictionaries(st.sampled_from(["code", "x"]), _json, max_size=2) | _json)
def test_any_json_body_gets_an_answer_from_the_table(body: Any) -> None:
    """Whatever JSON arrives, the answer is 204 or a refusal with a reason, never a 500."""
    room = ScriptedRoom()

    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(create_kiosk_app(room), client=LOOPBACK)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            return await client.post(
                "/kiosk/check-in", content=json.dumps(body), headers={"content-type": "application/json"}
            )

    response = asyncio.run(post())
    accepted = isinstance(body, dict) and body.get("code") == BOOKING_CODE
    if accepted:
        assert response.status_code == 204
    else:
        assert response.status_code in (400, 429)
        assert response.json()["reason"] in {
            "bad_request",
            "invalid_code",
            "unknown_code",
            "too_many_attempts",
        }


# -- events ----------------------------------------------------------------------------------


async def test_events_arrive_as_their_json_form_in_order(kiosk: Kiosk) -> None:
    room = kiosk.room
    published = [
        DeviceStep(
            device="blood_pressure",
            status="measuring",
            attempt=1,
            instruction="put_on_cuff",
            index=0,
            total=2,
        ),
        ReadingTaken(device="blood_pressure", measurement={"systolic": 128}, summary="128/82 mmHg"),
        WaitingRoom(position=2),
        Admitted(physician="Dr. Weber"),
        ExamStep(step="smile-with-teeth", index=5, total=8, countdown=3, phase="instruct"),
    ]
    async with connect(kiosk.events_url) as ws:
        first = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert first["type"] == "state"
        assert first["state"] == "idle"
        for event in published:
            room.publish(event)
        received = [json.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in published]
    assert received == [event.model_dump(mode="json") for event in published]
    assert [parse_event(r) for r in received] == published


async def test_a_check_in_is_seen_on_every_open_kiosk_page(kiosk: Kiosk) -> None:
    async with connect(kiosk.events_url) as one, connect(kiosk.events_url) as two:
        for ws in (one, two):
            await asyncio.wait_for(ws.recv(), 5)  # the current state
        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"{kiosk.server.http_url}/kiosk/check-in", json={"code": BOOKING_CODE}
            )
        assert response.status_code == 204
        for ws in (one, two):
            types = [json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] for _ in range(2)]
            assert types == ["checked_in", "state"]


async def test_a_closed_page_unsubscribes(kiosk: Kiosk) -> None:
    async with connect(kiosk.events_url) as ws:
        await asyncio.wait_for(ws.recv(), 5)
        await ws.send("ping")
        assert kiosk.room.subscribers == 1
    await asyncio.wait_for(kiosk.room.unsubscribed.wait(), 5)
    assert kiosk.room.subscribers == 0


async def test_the_end_of_the_rooms_events_closes_the_socket_as_going_away(kiosk: Kiosk) -> None:
    async with connect(kiosk.events_url) as ws:
        await asyncio.wait_for(ws.recv(), 5)
        kiosk.room.end_streams()
        await asyncio.wait_for(ws.wait_closed(), 5)
    assert ws.close_code == 1001


async def test_another_origin_cannot_watch_the_events(kiosk: Kiosk) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(kiosk.events_url, origin="https://evil.example"):  # type: ignore[arg-type]
            pass
    assert refused.value.response.status_code == 403
    async with connect(kiosk.events_url, origin=kiosk.server.http_url) as ws:  # type: ignore[arg-type]
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "state"


# -- video -----------------------------------------------------------------------------------


async def offer(pc: RTCPeerConnection, transceivers: int = 2) -> dict[str, str]:
    for _ in range(transceivers):
        pc.addTransceiver("video", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    return {"sdp": pc.localDescription.sdp, "type": "offer"}


async def test_the_kiosk_peer_sends_the_self_view_then_the_physician(kiosk: Kiosk) -> None:
    room = kiosk.room
    pc = RTCPeerConnection()
    try:
        async with httpx.AsyncClient(base_url=kiosk.server.http_url) as client:
            response = await client.post("/kiosk/webrtc", json=await offer(pc))
            assert response.status_code == 200
            answer = response.json()
            assert answer["type"] == "answer"
            assert answer["tracks"] == {"self_view": True, "physician": False}
            await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
            frame = await asyncio.wait_for(pc.getTransceivers()[0].receiver.track.recv(), 20)
            assert (frame.width, frame.height) == (640, 480)
            first_self_view = room.handed_out[0]

            # the physician is admitted: the page offers again and gets both
            from telemedroom.devices.media import MediaDevice, MediaSource, Role

            async with MediaDevice(MediaSource.synthetic(Role.EXAM_CAMERA, width=320, height=240)) as doctor:
                room.physician_camera = doctor
                second = RTCPeerConnection()
                try:
                    response = await client.post("/kiosk/webrtc", json=await offer(second))
                    answer = response.json()
                    assert answer["tracks"] == {"self_view": True, "physician": True}
                    # one kiosk screen, one connection: the first one's tracks were stopped
                    assert first_self_view.readyState == "ended"
                    await second.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
                    physician = second.getTransceivers()[1].receiver.track
                    frame = await asyncio.wait_for(physician.recv(), 20)
                    assert (frame.width, frame.height) == (320, 240)
                finally:
                    await second.close()
    finally:
        await pc.close()


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"sdp": "v=0\r\nm=video abc UDP/TLS/RTP/SAVPF 96\r\n", "type": "offer"}, "invalid_sdp"),
        # two video m-lines, but no ICE credentials
        (
            {
                "sdp": "v=0\r\n"
                + "".join(f"m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:{i}\r\n" for i in (0, 1)),
                "type": "offer",
            },
            "invalid_sdp",
        ),
        ({"sdp": "not sdp at all", "type": "offer"}, "needs_two_video_transceivers"),
        ({"sdp": "whatever", "type": "answer"}, "invalid_offer"),
        ({"type": "offer"}, "invalid_offer"),
    ],
)
async def test_a_bad_offer_is_400(http: httpx.AsyncClient, payload: dict[str, str], reason: str) -> None:
    response = await http.post("/kiosk/webrtc", json=payload)
    assert (response.status_code, response.json()) == (400, {"reason": reason})


async def test_an_offer_without_two_video_transceivers_is_400_and_takes_no_track(
    http: httpx.AsyncClient, room: ScriptedRoom
) -> None:
    pc = RTCPeerConnection()
    try:
        response = await http.post("/kiosk/webrtc", json=await offer(pc, transceivers=1))
    finally:
        await pc.close()
    assert (response.status_code, response.json()) == (400, {"reason": "needs_two_video_transceivers"})
    assert room.handed_out == []


async def test_closing_the_kiosk_stops_the_tracks_it_sent(room: ScriptedRoom) -> None:
    app = create_kiosk_app(room)
    pc = RTCPeerConnection()
    try:
        transport = httpx.ASGITransport(app, client=LOOPBACK)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            assert (await client.post("/kiosk/webrtc", json=await offer(pc))).status_code == 200
        assert app.state.kiosk.peers.open == 1
        await close_kiosk(app)
        assert app.state.kiosk.peers.open == 0
        assert [t.readyState for t in room.handed_out] == ["ended"]
    finally:
        await pc.close()


@pytest.fixture(scope="module")
def real_offer() -> str:
    async def make() -> str:
        pc = RTCPeerConnection()
        try:
            return (await offer(pc))["sdp"]
        finally:
            await pc.close()

    return asyncio.run(make())


# Each example runs a real aiortc answer (ICE gathering included): a few dozen suffice,
# whatever the profile says.
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_mangled_offer_is_answered_or_refused_never_a_500(real_offer: str, data: st.DataObject) -> None:
    lines = real_offer.split("\r\n")
    kept = data.draw(
        st.lists(st.sampled_from(range(len(lines))), unique=True, max_size=len(lines)), label="kept"
    )
    sdp = "\r\n".join(
        lines[i] if data.draw(st.booleans()) else lines[i][: len(lines[i]) // 2] for i in sorted(kept)
    )
    room = ScriptedRoom()

    async def post() -> httpx.Response:
        app = create_kiosk_app(room)
        try:
            transport = httpx.ASGITransport(app, client=LOOPBACK)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
                return await client.post("/kiosk/webrtc", json={"sdp": sdp, "type": "offer"})
        finally:
            await close_kiosk(app)

    response = asyncio.run(post())
    assert response.status_code in (200, 400)
    if response.status_code == 400:
        assert response.json()["reason"] in {"invalid_sdp", "needs_two_video_transceivers"}
