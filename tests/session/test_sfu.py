"""Multi-party visits through a real Janus (Debian's package, started by the ``janus`` fixture).

A room with synthetic devices, a physician, an interpreter and a companion (aiortc peers)
in one visit: each receives what its role allows and nothing else, vitals reach only the
physician, Janus itself refuses a participant without a valid token (and a token of
another visit), removing a participant cuts its media, and the audit log says who joined
with which role and who admitted or removed them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest
from aiortc.mediastreams import MediaStreamTrack

from telemedroom import HeartRate
from telemedroom.devices.media import MediaSource, Role
from telemedroom.errors import SfuError
from telemedroom.session import AuditAction
from telemedroom.session._janus import JanusSession
from telemedroom.session.participant import SfuParticipant
from telemedroom.session.peer import PhysicianPeer, RoomPeer
from telemedroom.session.sfu import SfuConfig

from .conftest import Signaling

Factory = Callable[..., AbstractAsyncContextManager[Signaling]]


async def _until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    """Wait for a state Janus or aiortc reports only by polling (no event to await), bounded."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)


async def _admit_when_waiting(owner: SfuParticipant, role: str) -> str:
    async def waiting() -> str:
        while True:
            found = [q.id for q in owner.roster.values() if q.role == role and q.state == "waiting"]
            if found:
                return found[0]
            await asyncio.sleep(0.02)

    async with asyncio.timeout(30):
        participant = await waiting()
    await owner.admit(participant)
    return participant


async def test_roles_see_what_they_may(signaling_factory: Factory, sfu_config: SfuConfig) -> None:
    kiosk_tracks: list[MediaStreamTrack] = []
    async with signaling_factory(sfu=sfu_config) as sig:
        url = sig.url()
        async with SfuParticipant(
            url,
            sig.token("physician", "dr-weber"),
            camera=MediaSource.synthetic(Role.ROOM_CAMERA, width=320, height=240),
            microphone=MediaSource.synthetic(Role.MICROPHONE),
        ) as doctor:
            assert doctor.welcome.sfu
            assert doctor.admitted.is_set()
            async with RoomPeer(
                url, sig.token("patient", "room-1"), on_physician_track=kiosk_tracks.append
            ) as room:
                await _admit_when_waiting(doctor, "patient")
                await room.wait_admitted()
                async with (
                    SfuParticipant(
                        url,
                        sig.token("interpreter", "int-7"),
                        microphone=MediaSource.synthetic(Role.MICROPHONE),
                    ) as interpreter,
                    SfuParticipant(url, sig.token("companion", "daughter")) as companion,
                ):
                    assert not interpreter.admitted.is_set()  # everyone but the owner waits
                    interpreter_id = await _admit_when_waiting(doctor, "interpreter")
                    companion_id = await _admit_when_waiting(doctor, "companion")
                    for who in (doctor, interpreter, companion):
                        await who.wait_media()

                    # The room camera reaches everyone, through Janus, published once.
                    for who in (doctor, interpreter, companion):
                        frame = await who.first_frame(role="patient", kind="video", room="main")
                        assert (frame.width, frame.height) == (640, 360)
                        await who.track(role="patient", kind="audio", room="main")
                    # The clinical room (stethoscope, exam camera) is the physician's only.
                    await room.set_stethoscope(True)
                    await doctor.track(role="patient", kind="audio", room="clinical")
                    assert [
                        t.room for t in interpreter.tracks + companion.tracks if t.room == "clinical"
                    ] == []
                    assert [g.kind for g in _grant_rooms(interpreter)] == ["main"]
                    assert [g.kind for g in _grant_rooms(doctor)] == ["main", "clinical"]

                    # ...and Janus itself refuses the interpreter there, even knowing room and pin.
                    clinical = _grant_rooms(doctor)[1]
                    async with JanusSession(interpreter.media.grant.url, interpreter.media.grant.token) as s:
                        handle = await s.attach()
                        with pytest.raises(SfuError) as refused:
                            await handle.message(
                                {
                                    "request": "join",
                                    "ptype": "publisher",
                                    "room": clinical.room,
                                    "pin": clinical.pin,
                                    "token": interpreter.media.grant.token,
                                }
                            )
                        assert refused.value.code == 433  # not in the allowed list

                    # The kiosk plays every voice, mixed into one track (the physician's tone and
                    # the interpreter's), and shows the physician's camera.
                    await _until(lambda: len(kiosk_tracks) >= 2)
                    assert sorted(t.kind for t in kiosk_tracks) == ["audio", "video"]
                    assert room.sfu.mix is not None
                    await _until(lambda: room.sfu.mix.inputs == 2)
                    mixed = next(t for t in kiosk_tracks if t.kind == "audio")
                    loud = 0
                    async with asyncio.timeout(30):
                        while loud == 0:
                            frame = await mixed.recv()
                            loud = max(abs(x) for x in memoryview(bytes(frame.planes[0])).cast("h"))
                    assert loud > 1000
                    video = next(t for t in kiosk_tracks if t.kind == "video")
                    physician_frame = await asyncio.wait_for(video.recv(), 30)
                    assert (physician_frame.width, physician_frame.height) == (320, 240)

                    # Vitals reach the physician, and only the physician.
                    await room.send_measurement(HeartRate(bpm=71))
                    reading = await asyncio.wait_for(anext(doctor.measurements()), 30)
                    assert isinstance(reading, HeartRate)
                    assert reading.bpm == 71

                    # Removing the companion cuts its media: Janus destroys its session.
                    companion_pcs = [s.pc for s in companion.media._subscriptions.values()]
                    assert companion_pcs
                    await doctor.remove(companion_id, "visit of the family is over")
                    await asyncio.wait_for(companion.removed.wait(), 30)
                    assert companion.media.session is not None
                    await asyncio.wait_for(companion.media.session.closed.wait(), 60)
                    await _until(lambda: all(pc.connectionState == "closed" for pc in companion_pcs))
                    # The server sent the vitals before the removal, on the same socket: none came.
                    assert companion.pending_vitals() == 0
                    await _until(lambda: companion_id not in interpreter.roster)
                    assert interpreter.pending_vitals() == 0

                    # The visit goes on: the interpreter still receives the room camera.
                    frame = await asyncio.wait_for((await interpreter.track(role="patient")).recv(), 30)
                    assert frame is not None

                    # The room knows who took part, with which role, for Encounter.participant.
                    taking_part = room.sfu.participants.encounter_participants()
                    assert [
                        (x["type"][0]["coding"][0]["code"], x["individual"]["display"]) for x in taking_part
                    ] == [
                        ("PPRF", "physician name"),
                        ("translator", "interpreter name"),
                        ("ESC", "companion name"),
                    ]

                    # A removed participant cannot come back with the same token.
                    with pytest.raises(Exception, match="removed"):
                        async with SfuParticipant(url, sig.token("companion", "daughter")):
                            pass

    entries = [(e.action, e.role, dict(e.detail)) for e in sig.audit]
    joined = {e[1] for e in entries if e[0] is AuditAction.JOINED}
    assert joined >= {"physician", "patient", "interpreter", "companion"}
    admitted = [e[2]["participant_role"] for e in entries if e[0] is AuditAction.ADMITTED]
    assert sorted(admitted) == ["companion", "interpreter", "patient"]
    removed = [e for e in entries if e[0] is AuditAction.REMOVED]
    assert removed == [
        (AuditAction.REMOVED, "physician", {"participant": companion_id, "participant_role": "companion"})
    ]
    assert AuditAction.SFU_STARTED in {e[0] for e in entries}
    del interpreter_id


def _grant_rooms(who: SfuParticipant) -> list[Any]:
    assert who.media is not None
    return list(who.media.grant.rooms)


async def test_janus_refuses_bad_and_foreign_tokens(
    signaling_factory: Factory, sfu_config: SfuConfig
) -> None:
    async with signaling_factory(sfu=sfu_config) as sig:
        # No token Janus knows: refused at the first request, by Janus.
        with pytest.raises(SfuError) as refused:
            async with JanusSession(sfu_config.url, "made-up-token"):
                pass
        assert refused.value.code == 403

        # Two visits at once; a participant of one cannot enter the other's rooms.
        async with (
            SfuParticipant(sig.url(appointment="apt-42"), sig.token("physician", appointment="apt-42")) as a,
            SfuParticipant(
                sig.url(appointment="apt-43"), sig.token("physician", "dr-b", appointment="apt-43")
            ) as b,
        ):
            media_a, media_b = await a.wait_media(), await b.wait_media()
            main_a = media_a.grant.rooms[0]
            async with JanusSession(media_b.grant.url, media_b.grant.token) as session:
                handle = await session.attach()
                with pytest.raises(SfuError) as foreign:
                    await handle.message(
                        {
                            "request": "join",
                            "ptype": "publisher",
                            "room": main_a.room,
                            "pin": main_a.pin,
                            "token": media_b.grant.token,
                        }
                    )
                assert foreign.value.code == 433


async def test_fallback_to_peer_to_peer_when_janus_is_down(signaling_factory: Factory) -> None:
    down = SfuConfig(
        url="http://127.0.0.1:9/janus",
        admin_url="http://127.0.0.1:9/admin",
        admin_secret="s",
        room_admin_key="k",
    )
    async with signaling_factory(sfu=down) as sig:
        url = sig.url()
        async with (
            PhysicianPeer(url, sig.token("physician"), auto_admit=True) as doctor,
            RoomPeer(url, sig.token("patient")) as room,
        ):
            await room.wait_admitted()
            frame = await doctor.first_video_frame()
            assert frame.width > 0
            assert room.sfu.unavailable is not None
            assert "could not be reached" in room.sfu.unavailable
            await room.send_measurement(HeartRate(bpm=64))
            assert (await asyncio.wait_for(anext(doctor.measurements()), 30)).bpm == 64
    fallbacks = [e for e in sig.audit if e.action is AuditAction.SFU_FALLBACK]
    assert len(fallbacks) == 1
    assert "could not be reached" in fallbacks[0].detail["reason"]


async def test_owner_keeps_exam_controls_over_a_data_only_link(
    signaling_factory: Factory, sfu_config: SfuConfig
) -> None:
    """With an SFU the room still gives the owning physician its control channel (no media on it)."""
    async with signaling_factory(sfu=sfu_config) as sig:
        url = sig.url()
        async with (
            PhysicianPeer(url, sig.token("physician"), auto_admit=True) as doctor,
            RoomPeer(url, sig.token("patient")) as room,
        ):
            await room.wait_admitted()
            await room.wait_connected()
            assert room.sfu.active
            assert doctor.pc is not None
            assert doctor.pc.getTransceivers() == []  # no media peer to peer
            snapshot = await doctor.snapshot()
            assert (snapshot.width, snapshot.height) == (1920, 1080)
            await doctor.stethoscope(on=True)
            assert room.stethoscope_on
            await room.send_measurement(HeartRate(bpm=80))
            assert (await asyncio.wait_for(anext(doctor.measurements()), 30)).bpm == 80


async def test_a_session_under_an_id_that_was_not_granted_is_cut(
    signaling_factory: Factory, sfu_config: SfuConfig
) -> None:
    """A participant with a valid token who joins Janus under another publisher id is cut by the patrol."""
    from dataclasses import replace

    async with (
        signaling_factory(sfu=replace(sfu_config, sweep_interval=0.5)) as sig,
        SfuParticipant(sig.url(), sig.token("physician")) as doctor,
    ):
        grant = (await doctor.wait_media()).grant
        main = grant.rooms[0]
        session = JanusSession(grant.url, grant.token)
        async with session:
            handle = await session.attach()
            await handle.message(
                {
                    "request": "join",
                    "ptype": "publisher",
                    "room": main.room,
                    "pin": main.pin,
                    "id": grant.feed + 1,  # not the granted id
                    "token": grant.token,
                }
            )
            # Janus forgets the session: any request on it is refused ("no such session").
            async with asyncio.timeout(30):
                while True:
                    try:
                        await handle.request({"request": "exists", "room": main.room})
                    except SfuError as exc:
                        assert exc.code == 458
                        break
                    await asyncio.sleep(0.1)  # the patrol runs every 0.5 s: poll, bounded
        # The participant's own, well-behaved session lives on.
        assert doctor.media is not None
        assert doctor.media.session is not None
        assert not doctor.media.session.closed.is_set()


async def test_a_resumed_signaling_connection_keeps_the_running_media(
    signaling_factory: Factory, sfu_config: SfuConfig
) -> None:
    """The signaling WebSocket drops (a network blip) and the room and the physician resume:
    the server grants them Janus again (the same grant). Their media through Janus never
    depended on that socket: it must run on, not be joined a second time (Janus refuses a
    second publisher with the same id, 436) nor leak a second set of connections."""
    async with signaling_factory(sfu=sfu_config) as sig:
        url = sig.url()
        async with (
            SfuParticipant(
                url,
                sig.token("physician", "dr-weber"),
                microphone=MediaSource.synthetic(Role.MICROPHONE),
            ) as doctor,
            RoomPeer(url, sig.token("patient", "room-1")) as room,
        ):
            await _admit_when_waiting(doctor, "patient")
            await room.wait_admitted()
            await doctor.wait_media()
            await doctor.first_frame(role="patient", kind="video", room="main")
            await _until(lambda: room.sfu.media is not None and room.sfu.media.connected.is_set())
            media = (room.sfu.media, doctor.media)
            for client in (room._client, doctor._client):
                assert client.resumes == 0
            # the server drops both sockets with a code that is not final: both resume
            for visit in sig.hub.visits.values():
                for participant in visit.participants.values():
                    assert participant.connection is not None
                    participant.connection.close(1012)
            await _until(lambda: room._client.resumes == 1 and doctor._client.resumes == 1)
            await asyncio.sleep(1.0)  # the grants the resumes bring have been handled
            assert (room.sfu.media, doctor.media) == media
            assert room.sfu.error is None
            assert doctor.media_error is None
            # and the room's camera still reaches the physician
            track = await doctor.track(role="patient", kind="video", room="main")
            async with asyncio.timeout(10):
                frame = await track.recv()
            assert frame.width == 640
