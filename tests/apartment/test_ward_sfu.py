"""A multi-party call to the ward through a real Janus (Debian's package, the ``janus`` fixture).

The clinic's signaling server runs the ward's standing visit through its SFU: a nurse and
a physician (aiortc ``SfuParticipant`` clients) both see and hear the patient, the patient
hears both (mixed) and sees the first camera, the apartment's live vitals reach both, and
the patient's screen lists who is in the call. The apartment is the real gateway with its
ward line; nothing here is scripted on its side.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tests.apartment.test_ward import call_state, press, the_call, ward_line
from tests.session.conftest import janus, sfu_config  # noqa: F401 (fixtures)

from telemedroom import BloodPressure
from telemedroom.apartment import CallChanged
from telemedroom.devices.media import MediaSource, Role
from telemedroom.session.participant import SfuParticipant

pytestmark = pytest.mark.requires_system


async def _until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    """Wait for a state Janus or aiortc reports only by polling (no event to await), bounded."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)


async def _admit_the_call(owner: SfuParticipant, role: str, name_ends: str) -> None:
    def waiting() -> str | None:
        return next(
            (
                q.id
                for q in owner.roster.values()
                if q.role == role and q.state == "waiting" and q.name.endswith(name_ends)
            ),
            None,
        )

    await _until(lambda: waiting() is not None)
    found = waiting()
    assert found is not None
    await owner.admit(found)


async def _participants(events: AsyncIterator[object], wanted: tuple[str, ...]) -> CallChanged:
    async with asyncio.timeout(60):
        async for event in events:
            if isinstance(event, CallChanged) and event.state == "in_call" and event.participants == wanted:
                return event
    raise AssertionError(f"the screen never listed {wanted}")


async def _loudest(track: Any) -> int:
    loud = 0
    async with asyncio.timeout(30):
        while loud == 0:
            frame = await track.recv()
            loud = max(abs(x) for x in memoryview(bytes(frame.planes[0])).cast("h"))
    return loud


async def test_a_nurse_and_a_physician_take_the_call_together(
    tmp_path: Path,
    sfu_config: Any,  # noqa: F811
) -> None:
    async with ward_line(tmp_path, sfu=sfu_config) as (apartment, ward):
        events = apartment.events()
        nurse_camera = MediaSource.synthetic(Role.ROOM_CAMERA, width=320, height=240)
        async with SfuParticipant(
            ward.url,
            ward.token("nurse-jana", "Schwester Jana"),
            camera=nurse_camera,
            microphone=MediaSource.synthetic(Role.MICROPHONE),
        ) as nurse:
            assert nurse.welcome.sfu
            assert await press(apartment, "call") == 204
            await call_state(events, "calling")
            await _admit_the_call(nurse, "patient", "(call)")
            await call_state(events, "in_call")
            async with SfuParticipant(
                ward.url,
                ward.token("dr-weber", "Dr. Weber"),
                microphone=MediaSource.synthetic(Role.MICROPHONE),
            ) as doctor:
                await _admit_the_call(nurse, "physician", "Dr. Weber")
                await doctor.wait_admitted()
                await _participants(events, ("Schwester Jana", "Dr. Weber"))

                # Both see and hear the patient: the tablet's camera, published once, through Janus.
                for who in (nurse, doctor):
                    await who.wait_media()
                    frame = await who.first_frame(role="patient", kind="video", room="main")
                    assert (frame.width, frame.height) == (640, 480)
                    await who.track(role="patient", kind="audio", room="main")

                # The patient's screen gets the nurse's camera and both voices, mixed.
                line = apartment.ward
                assert line is not None
                await _until(lambda: line.feed.kinds == {"video", "audio"})
                assert line.peer is not None
                mix = line.peer.sfu.mix
                assert mix is not None
                await _until(lambda: mix.inputs == 2)
                tracks = line.screen_tracks()  # what one screen connection gets
                try:
                    assert await _loudest(tracks.physician_audio) > 1000
                    picture = await asyncio.wait_for(tracks.physician.recv(), 30)
                    assert (picture.width, picture.height) == (320, 240)
                    own = await asyncio.wait_for(tracks.self_view.recv(), 30)
                    assert (own.width, own.height) == (640, 480)
                finally:
                    for track in (tracks.self_view, tracks.physician, tracks.physician_audio):
                        track.stop()

                # A reading taken during the call reaches both, live.
                reading = BloodPressure(systolic=186, diastolic=101, measured_at=datetime.now(UTC))
                assert await apartment.accept(reading)
                for who in (nurse, doctor):
                    live = await asyncio.wait_for(anext(who.measurements()), 30)
                    assert (live.systolic, live.diastolic) == (186, 101)  # type: ignore[attr-defined]

            # The physician leaves; the nurse stays with the patient.
            await _participants(events, ("Schwester Jana",))
            assert await press(apartment, "hang_up") == 204
            ended = await call_state(events, "ended")
            assert ended.reason == "hung_up"
            await call_state(events, "idle")
        await events.aclose()  # type: ignore[attr-defined]


async def test_the_call_says_so_when_the_wards_sfu_is_down(tmp_path: Path) -> None:
    """Janus is configured but not running: the call goes on peer to peer, and the screen says why."""
    from telemedroom.session.peer import PhysicianPeer
    from telemedroom.session.sfu import SfuConfig

    gateway, admin = "http://127.0.0.1:9/janus", "http://127.0.0.1:9/admin"  # nothing listens on port 9
    down = SfuConfig(url=gateway, admin_url=admin, admin_secret="s", room_admin_key="k")
    async with ward_line(tmp_path, sfu=down) as (apartment, ward):
        events = apartment.events()
        async with PhysicianPeer(ward.url, ward.token()) as nurse:
            assert await press(apartment, "call") == 204
            await nurse.admit(await the_call(nurse))
            async with asyncio.timeout(60):
                async for event in events:
                    if isinstance(event, CallChanged) and event.state == "in_call" and event.reason:
                        break
            assert event.reason.startswith("sfu_unavailable")
            assert (await nurse.first_video_frame(timeout=60)).width == 640  # peer to peer, still seen
            assert (await apartment.state())["call"]["reason"].startswith("sfu_unavailable")
            await nurse.end()
        await events.aclose()  # type: ignore[attr-defined]
