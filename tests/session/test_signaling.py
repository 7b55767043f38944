"""The signaling server over real WebSockets (uvicorn on loopback): waiting room, relay, refusals."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from telemedroom.session import AuditAction
from telemedroom.session.signaling import TurnConfig

from .conftest import APPOINTMENT, ROOM, Raw, Signaling

Clients = Callable[..., AbstractAsyncContextManager[Raw]]
Servers = Callable[..., AbstractAsyncContextManager[Signaling]]

SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"


async def admitted_pair(signaling: Signaling, doctor: Raw, patient: Raw) -> tuple[str, str]:
    """Join a physician and a patient, admit the patient; returns (physician id, patient id)."""
    me = await doctor.join(signaling.token("physician"))
    waiting = await patient.join(signaling.token("patient"))
    assert waiting["state"] == "waiting"
    roster = await doctor.expect("roster")
    while not any(q["id"] == waiting["participant"] for q in roster["participants"]):
        roster = await doctor.expect("roster")
    await doctor.send({"type": "admit", "participant": waiting["participant"]})
    await patient.expect("admitted")
    return me["participant"], waiting["participant"]


async def test_join_waiting_room_admit_and_relay(signaling: Signaling, raw_client: Clients) -> None:
    url = signaling.url()
    async with raw_client(url) as doctor, raw_client(url) as patient:
        me = await doctor.join(signaling.token("physician", "dr-weber"))
        assert (me["state"], me["role"], me["v"], me["recording"]) == ("admitted", "physician", 1, False)
        assert (me["room"], me["appointment"]) == (ROOM, APPOINTMENT)
        waiting = await patient.join(signaling.token("patient", "p-7"))
        assert waiting["state"] == "waiting"
        roster = await doctor.expect("roster")
        while len(roster["participants"]) < 2:
            roster = await doctor.expect("roster")
        assert {(q["role"], q["state"]) for q in roster["participants"]} == {
            ("physician", "admitted"),
            ("patient", "waiting"),
        }
        # waiting: no relaying yet
        await patient.send({"type": "offer", "to": me["participant"], "sdp": SDP})
        assert (await patient.expect("error"))["code"] == "out_of_order"
        await doctor.send({"type": "admit", "participant": waiting["participant"]})
        await patient.expect("admitted")
        await patient.send({"type": "offer", "to": me["participant"], "sdp": SDP})
        offer = await doctor.expect("offer")
        assert offer == {"type": "offer", "from": waiting["participant"], "sdp": SDP}
        await doctor.send({"type": "answer", "to": waiting["participant"], "sdp": SDP})
        assert (await patient.expect("answer"))["from"] == me["participant"]
        candidate = {
            "candidate": "candidate:1 1 udp 1 192.0.2.1 5000 typ host",
            "sdpMid": "0",
            "sdpMLineIndex": 0,
        }
        await doctor.send({"type": "ice", "to": waiting["participant"], "candidate": candidate})
        assert (await patient.expect("ice"))["candidate"] == candidate
    actions = [entry.action for entry in signaling.audit]
    assert actions[:3] == [AuditAction.JOINED, AuditAction.JOINED, AuditAction.ADMITTED]
    signaling.audit.verify()


async def test_relay_stays_inside_the_appointment(signaling: Signaling, raw_client: Clients) -> None:
    async with (
        raw_client(signaling.url()) as doctor,
        raw_client(signaling.url()) as patient,
        raw_client(signaling.url(appointment="apt-43")) as stranger,
    ):
        _, patient_id = await admitted_pair(signaling, doctor, patient)
        other = await stranger.join(signaling.token("physician", "dr-other", appointment="apt-43"))
        await stranger.send({"type": "offer", "to": patient_id, "sdp": SDP})
        assert (await stranger.expect("error"))["code"] == "not_found"
        await patient.send({"type": "offer", "to": other["participant"], "sdp": SDP})
        assert (await patient.expect("error"))["code"] == "not_found"


async def test_only_a_physician_admits_denies_or_ends(signaling: Signaling, raw_client: Clients) -> None:
    async with raw_client(signaling.url()) as doctor, raw_client(signaling.url()) as patient:
        _, patient_id = await admitted_pair(signaling, doctor, patient)
        for message in (
            {"type": "admit", "participant": patient_id},
            {"type": "deny", "participant": "x"},
            {"type": "end"},
        ):
            await patient.send(message)
            error = await patient.expect("error")
            assert (error["code"], error["ref"]) == ("forbidden", message["type"])
        await doctor.send({"type": "admit", "participant": "nobody"})
        assert (await doctor.expect("error"))["code"] == "not_found"


async def test_deny_closes_the_waiting_connection(signaling: Signaling, raw_client: Clients) -> None:
    async with raw_client(signaling.url()) as doctor, raw_client(signaling.url()) as patient:
        await doctor.join(signaling.token("physician"))
        waiting = await patient.join(signaling.token("patient"))
        await doctor.send({"type": "deny", "participant": waiting["participant"], "reason": "wrong room"})
        assert await patient.expect("denied") == {"type": "denied", "reason": "wrong room"}
        assert await patient.closed_with() == 4403
    assert AuditAction.DENIED in [entry.action for entry in signaling.audit]


async def test_end_ends_the_visit_for_everyone(signaling: Signaling, raw_client: Clients) -> None:
    async with raw_client(signaling.url()) as doctor, raw_client(signaling.url()) as patient:
        doctor_id, _ = await admitted_pair(signaling, doctor, patient)
        await doctor.send({"type": "end"})
        assert await patient.expect("ended") == {"type": "ended", "by": doctor_id}
        assert await patient.closed_with() == 1000
        assert await doctor.closed_with() == 1000
    assert signaling.hub.visits == {}
    assert [entry.action for entry in signaling.audit][-1] is AuditAction.ENDED


async def test_leave_updates_the_roster(signaling: Signaling, raw_client: Clients) -> None:
    async with raw_client(signaling.url()) as doctor, raw_client(signaling.url()) as patient:
        _, patient_id = await admitted_pair(signaling, doctor, patient)
        await patient.send({"type": "leave"})
        assert await patient.closed_with() == 1000
        roster = await doctor.expect("roster")
        while any(q["id"] == patient_id for q in roster["participants"]):
            roster = await doctor.expect("roster")


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ("not json", "malformed"),
        ("[1, 2]", "malformed"),
        ('{"no": "type"}', "malformed"),
        ('{"type": "teleport"}', "unknown_type"),
        ('{"type": "offer", "to": "x"}', "malformed"),
        ('{"type": "offer", "to": "bad id!", "sdp": "v=0"}', "malformed"),
        ('{"type": "ping", "extra": 1}', "malformed"),
        ('{"type": "admit", "participant": "x"}', "out_of_order"),
        (b"\x00\x01", "malformed"),
        ("x" * 70_000, "too_large"),
    ],
)
async def test_bad_messages_get_an_error_and_the_connection_stays_healthy(
    signaling: Signaling, raw_client: Clients, payload: str | bytes, code: str
) -> None:
    async with raw_client(signaling.url(), max_size=None) as client:
        await client.send(payload)
        assert (await client.recv())["code"] == code
        await client.send({"type": "ping", "nonce": "still-here"})
        assert await client.recv() == {"type": "pong", "nonce": "still-here"}
        assert (await client.join(signaling.token()))["state"] == "waiting"


async def test_join_twice_and_a_wrong_version_are_refused_without_closing(
    signaling: Signaling, raw_client: Clients
) -> None:
    async with raw_client(signaling.url()) as client:
        await client.send({"type": "join", "v": 2, "token": signaling.token()})
        assert (await client.recv())["code"] == "bad_version"
        await client.join(signaling.token())
        await client.send({"type": "join", "v": 1, "token": signaling.token()})
        error = await client.expect("error")
        assert (error["code"], error["ref"]) == ("out_of_order", "join")


@pytest.mark.parametrize(
    ("overrides", "url_appointment", "reason"),
    [
        ({"room": "quarter-2"}, APPOINTMENT, "wrong_room"),
        ({}, "apt-99", "wrong_appointment"),
        ({"expires_at": "past"}, APPOINTMENT, "expired"),
        ({"not_before": "future"}, APPOINTMENT, "not_yet_valid"),
    ],
)
async def test_refused_tokens_close_the_connection(
    signaling: Signaling, raw_client: Clients, overrides: dict[str, Any], url_appointment: str, reason: str
) -> None:
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    if overrides.get("expires_at") == "past":
        overrides = {"not_before": now - timedelta(hours=2), "expires_at": now - timedelta(hours=1)}
    if overrides.get("not_before") == "future":
        overrides = {"not_before": now + timedelta(hours=1), "expires_at": now + timedelta(hours=2)}
    async with raw_client(signaling.url(appointment=url_appointment)) as client:
        await client.send({"type": "join", "v": 1, "token": signaling.token(**overrides)})
        error = await client.recv()
        assert (error["code"], error["reason"]) == ("token", reason)
        assert await client.closed_with() == 4401
    assert signaling.audit.to_fhir()[-1].outcome == "4"


async def test_a_second_connection_with_the_same_token_is_refused(
    signaling: Signaling, raw_client: Clients
) -> None:
    token = signaling.token()
    async with raw_client(signaling.url()) as first, raw_client(signaling.url()) as second:
        await first.join(token)
        await second.send({"type": "join", "v": 1, "token": token})
        assert (await second.recv())["reason"] == "already_connected"


async def test_a_dropped_participant_resumes_with_its_key_and_keeps_its_admission(
    signaling: Signaling, raw_client: Clients
) -> None:
    token = signaling.token("patient")
    async with raw_client(signaling.url()) as doctor:
        async with raw_client(signaling.url()) as patient:
            me = await doctor.join(signaling.token("physician"))
            waiting = await patient.join(token)
            await doctor.send({"type": "admit", "participant": waiting["participant"]})
            await patient.expect("admitted")
        # the patient's socket is gone without a leave: the roster shows it disconnected
        roster = await doctor.expect("roster")
        while {q["state"] for q in roster["participants"] if q["id"] == waiting["participant"]} != {
            "disconnected"
        }:
            roster = await doctor.expect("roster")
        async with raw_client(signaling.url()) as intruder:
            await intruder.send({"type": "join", "v": 1, "token": token, "resume": "guess"})
            assert (await intruder.recv())["reason"] == "already_connected"
        async with raw_client(signaling.url()) as again:
            back = await again.join(token, resume=waiting["resume"])
            assert (back["participant"], back["state"]) == (waiting["participant"], "admitted")
            await again.send({"type": "offer", "to": me["participant"], "sdp": SDP})
            assert (await doctor.expect("offer"))["from"] == waiting["participant"]
    assert AuditAction.RESUMED in [entry.action for entry in signaling.audit]


async def test_after_the_resume_window_the_token_may_join_afresh(
    signaling_factory: Servers, raw_client: Clients
) -> None:
    async with signaling_factory(resume_window=0.0) as signaling, raw_client(signaling.url()) as doctor:
        await doctor.join(signaling.token("physician"))
        token = signaling.token()
        async with raw_client(signaling.url()) as patient:
            gone = (await patient.join(token))["participant"]
        roster = await doctor.expect("roster")
        while any(q["id"] == gone for q in roster["participants"]):
            roster = await doctor.expect("roster")
        async with raw_client(signaling.url()) as again:
            fresh = await again.join(token)
            assert (fresh["state"], fresh["participant"] != gone) == ("waiting", True)


async def test_a_silent_connection_is_closed_after_three_heartbeats(
    signaling_factory: Servers, raw_client: Clients
) -> None:
    async with signaling_factory(heartbeat=0.05) as signaling, raw_client(signaling.url()) as client:
        welcome = await client.join(signaling.token())
        assert welcome["heartbeat"] == 0.05
        assert await client.closed_with() == 4408


class ManualClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_a_flood_is_rate_limited_and_the_connection_recovers(
    signaling_factory: Servers, raw_client: Clients
) -> None:
    clock = ManualClock()
    async with (
        signaling_factory(rate=10.0, burst=5, clock=clock) as signaling,
        raw_client(signaling.url()) as client,
    ):
        for n in range(50):
            await client.send({"type": "ping", "nonce": str(n)})
        answers = [await client.recv() for _ in range(6)]
        assert [a["nonce"] for a in answers[:5]] == ["0", "1", "2", "3", "4"]
        assert answers[5]["code"] == "rate_limited"  # one error for the whole flood, not 45
        clock.now += 1.0  # ten new tokens
        await client.send({"type": "ping", "nonce": "after"})
        assert await client.recv() == {"type": "pong", "nonce": "after"}


async def test_origin_is_checked_for_browsers(signaling_factory: Servers, raw_client: Clients) -> None:
    async with signaling_factory(allowed_origins=["https://console.example.org"]) as signaling:
        with pytest.raises(InvalidStatus) as info:
            async with raw_client(signaling.url(), origin="https://evil.example.com"):
                pass
        assert info.value.response.status_code == 403
        async with raw_client(signaling.url(), origin="https://console.example.org") as browser:
            assert (await browser.join(signaling.token()))["state"] == "waiting"
        async with raw_client(signaling.url()) as native:
            assert (await native.join(signaling.token("companion")))["role"] == "companion"


async def test_tokens_never_reach_the_logs(
    signaling: Signaling, raw_client: Clients, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    good, expired = signaling.token("physician"), signaling.token(room="elsewhere")
    async with raw_client(signaling.url()) as client:
        await client.send({"type": "join", "v": 1, "token": good, "resume": 7})  # malformed: echoes nothing
        error = await client.recv()
        assert error["code"] == "malformed"
        assert good not in json.dumps(error)
        await client.join(good)
    async with raw_client(signaling.url()) as client:
        await client.send({"type": "join", "v": 1, "token": expired})
        assert expired not in json.dumps(await client.recv())
    assert caplog.records, "the server logs joins and refusals"
    for secret in (good, expired):
        assert secret not in caplog.text
        assert secret.split(".")[2] not in caplog.text


async def test_turn_credentials_are_made_per_participant(
    signaling_factory: Servers, raw_client: Clients
) -> None:
    turn = TurnConfig(urls=["turn:turn.example.org:3478"], secret="s3cret", ttl=600)
    async with signaling_factory(turn=turn) as signaling, raw_client(signaling.url()) as client:
        welcome = await client.join(signaling.token())
        (server,) = welcome["ice_servers"]
        expiry, user = server["username"].split(":")
        assert len(user) == 32  # the token id, not the person
        assert int(expiry) > 0
        assert server["credential"]
    assert "s3cret" not in repr(turn)


async def test_recording_is_announced(signaling_factory: Servers, raw_client: Clients) -> None:
    async with signaling_factory(recording=True) as signaling, raw_client(signaling.url()) as client:
        assert (await client.join(signaling.token("physician")))["recording"] is True
    assert AuditAction.SESSION_STARTED in [entry.action for entry in signaling.audit]


async def test_the_console_and_health_are_served(signaling: Signaling) -> None:
    async with httpx.AsyncClient(base_url=signaling.server.http_url) as http:
        assert (await http.get("/healthz")).text == "ok"
        page = await http.get("/console/")
        assert page.status_code == 200
        assert "telemedroom" in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["x-content-type-options"] == "nosniff"
        assert (await http.get("/console/console.js")).status_code == 200
        assert (await http.get("/", follow_redirects=True)).url.path == "/console/"


async def test_many_messages_in_flight_keep_their_order(signaling: Signaling, raw_client: Clients) -> None:
    async with raw_client(signaling.url()) as doctor, raw_client(signaling.url()) as patient:
        doctor_id, _ = await admitted_pair(signaling, doctor, patient)
        candidates = [
            {"candidate": f"candidate:{n} 1 udp 1 192.0.2.1 {5000 + n} typ host"} for n in range(20)
        ]
        await asyncio.gather(
            *(patient.send({"type": "ice", "to": doctor_id, "candidate": c}) for c in candidates)
        )
        received = [(await doctor.expect("ice"))["candidate"]["candidate"] for _ in candidates]
        assert received == [c["candidate"] for c in candidates]


async def test_a_companion_sees_only_the_admitted_and_cannot_admit(
    signaling: Signaling, raw_client: Clients
) -> None:
    async with (
        raw_client(signaling.url()) as doctor,
        raw_client(signaling.url()) as patient,
        raw_client(signaling.url()) as companion,
    ):
        doctor_id, patient_id = await admitted_pair(signaling, doctor, patient)
        waiting = await companion.join(signaling.token("companion", "daughter"))
        roster = await patient.expect("roster")
        while (
            any(q["state"] != "admitted" for q in roster["participants"]) or len(roster["participants"]) < 2
        ):
            roster = await patient.expect("roster")
        assert {q["id"] for q in roster["participants"]} == {doctor_id, patient_id}  # not the waiting one
        await doctor.send({"type": "admit", "participant": waiting["participant"]})
        await companion.expect("admitted")
        await companion.send({"type": "admit", "participant": patient_id})
        assert (await companion.expect("error"))["code"] == "forbidden"
