"""Multi-party visits: the room's cost peer to peer vs through Janus, and join -> first frame.

Needs Debian's ``janus`` (started here on loopback by ``telemedroom.testing.LocalJanus``).

1. Room CPU and uplink with 1, 2 and 4 remote participants. The room (this process)
   sends its 640x360 camera and its microphone: peer to peer, one RTCPeerConnection per
   participant (one encode each); through Janus, one publication (``SfuMedia``). The
   participants receive and decode in a child process, so their cost is not the room's;
   Janus's own CPU is not the room's either (it runs in the clinic's data centre). CPU is
   this process's CPU seconds per wall second over a fixed window, 3 s after every
   participant has its first frame; uplink is the bytes the room's RTP senders sent in that window.
2. Join -> first decoded frame of the room camera for the 4th participant: through
   telemedroom (signaling join, admission by the owning physician, the Janus grant,
   Janus join and subscribe: ``SfuParticipant``) vs bare aiortc <-> Janus (a Janus
   session, a publisher join for the private id, a subscriber join, answer, start).

Run: ``.venv/bin/python benchmarks/bench_sfu.py`` (``--window`` seconds, ``--repeats``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from telemedroom.devices.media import MediaDevice, MediaSource, Role
from telemedroom.session import TokenIssuer, TokenVerifier
from telemedroom.session import protocol as p
from telemedroom.session._janus import JanusSession
from telemedroom.session._sfu_peer import SfuMedia, SfuTrack
from telemedroom.session.participant import SfuParticipant
from telemedroom.session.peer import RoomPeer
from telemedroom.session.sfu import SfuConfig, SfuService
from telemedroom.session.signaling import LocalServer, SignalingConfig, create_app
from telemedroom.testing import LocalJanus

COUNTS = (1, 2, 4)


# -- the participants' process ------------------------------------------------------------


async def _drain(track: MediaStreamTrack, index: int, first: set[int]) -> None:
    try:
        while True:
            frame = await track.recv()
            if track.kind == "video" and index not in first:
                first.add(index)
                print(json.dumps({"frame": index}), flush=True)
            del frame
    except MediaStreamError:
        return


async def receivers() -> None:
    """Child: receive and decode what the room sends, for each participant the parent names."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    pcs: list[RTCPeerConnection] = []
    media: list[SfuMedia] = []
    tasks: list[asyncio.Task[None]] = []
    first: set[int] = set()
    while line := await reader.readline():
        message = json.loads(line)
        index = message.get("i", 0)
        if "offer" in message:
            pc = RTCPeerConnection()
            pcs.append(pc)
            pc.on(
                "track", lambda track, i=index: tasks.append(asyncio.ensure_future(_drain(track, i, first)))
            )
            await pc.setRemoteDescription(RTCSessionDescription(sdp=message["offer"], type="offer"))
            await pc.setLocalDescription(await pc.createAnswer())
            print(json.dumps({"answer": pc.localDescription.sdp, "i": index}), flush=True)
        elif "grant" in message:
            grant = p.SfuGrant.model_validate(message["grant"])

            def on_track(received: SfuTrack, i: int = index) -> None:
                tasks.append(asyncio.ensure_future(_drain(received.track, i, first)))

            subscriber = SfuMedia(grant, on_track=on_track)
            media.append(subscriber)
            await subscriber.start()
        elif "stop" in message:
            break
    for task in tasks:
        task.cancel()
    for subscriber in media:
        await subscriber.aclose()
    for pc in pcs:
        await pc.close()


# -- the room's side ------------------------------------------------------------------------


class Child:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.frames: set[int] = set()
        self.answers: dict[int, asyncio.Future[str]] = {}
        self.all_frames = asyncio.Event()
        self.expected = 0
        self.reader = asyncio.ensure_future(self._read())

    @classmethod
    async def start(cls) -> Child:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--receivers",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        return cls(process)

    async def _read(self) -> None:
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            message = json.loads(line)
            if "answer" in message:
                self.answers[message["i"]].set_result(message["answer"])
            elif "frame" in message:
                self.frames.add(message["frame"])
                if len(self.frames) >= self.expected:
                    self.all_frames.set()

    def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps(message) + "\n").encode())

    async def answer(self, index: int, offer: str) -> str:
        self.answers[index] = asyncio.get_running_loop().create_future()
        self.send({"offer": offer, "i": index})
        return await self.answers[index]

    async def stop(self) -> None:
        self.send({"stop": 1})
        assert self.process.stdin is not None
        await self.process.stdin.drain()
        self.process.stdin.close()
        await self.process.wait()
        self.reader.cancel()


async def _bytes_sent(pcs: list[RTCPeerConnection]) -> int:
    total = 0
    for pc in pcs:
        for sender in pc.getSenders():
            for stats in (await sender.getStats()).values():
                if stats.type == "outbound-rtp":
                    total += stats.bytesSent
    return total


WARM_UP = 3.0  # seconds for the senders' bitrate to settle after the first frames


async def _measure(pcs: list[RTCPeerConnection], window: float) -> tuple[float, float]:
    await asyncio.sleep(WARM_UP)  # a measurement's warm-up, not a wait for a condition
    cpu0, bytes0, wall0 = time.process_time(), await _bytes_sent(pcs), time.monotonic()
    await asyncio.sleep(window)  # a measurement window, not a wait for a condition
    cpu1, bytes1, wall1 = time.process_time(), await _bytes_sent(pcs), time.monotonic()
    elapsed = wall1 - wall0
    return (cpu1 - cpu0) / elapsed, (bytes1 - bytes0) * 8 / elapsed / 1000


async def room_p2p(count: int, window: float) -> tuple[float, float]:
    camera = await MediaDevice(MediaSource.synthetic(Role.ROOM_CAMERA, width=640, height=360)).open()
    microphone = await MediaDevice(MediaSource.synthetic(Role.MICROPHONE)).open()
    child = await Child.start()
    child.expected = count
    pcs = []
    try:
        for index in range(count):
            pc = RTCPeerConnection()
            pcs.append(pc)
            pc.addTransceiver(camera.subscribe(), direction="sendonly")
            pc.addTransceiver(microphone.subscribe(), direction="sendonly")
            await pc.setLocalDescription(await pc.createOffer())
            answer = await child.answer(index, pc.localDescription.sdp)
            await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        async with asyncio.timeout(120):
            await child.all_frames.wait()
        return await _measure(pcs, window)
    finally:
        await child.stop()
        for pc in pcs:
            await pc.close()
        await camera.aclose()
        await microphone.aclose()


async def room_sfu(janus: LocalJanus, count: int, window: float) -> tuple[float, float]:
    service = SfuService(_config(janus))
    rooms = await service.open_visit("bench")
    camera = await MediaDevice(MediaSource.synthetic(Role.ROOM_CAMERA, width=640, height=360)).open()
    microphone = await MediaDevice(MediaSource.synthetic(Role.MICROPHONE)).open()
    room = SfuMedia(
        await rooms.grant("room", "patient"),
        publish={"main": [("video", camera.subscribe()), ("audio", microphone.subscribe())]},
    )
    child = await Child.start()
    child.expected = count
    try:
        await room.start()
        for index in range(count):
            grant = await rooms.grant(f"participant-{index}", "companion")
            child.send({"grant": grant.model_dump(), "i": index})
        async with asyncio.timeout(120):
            await child.all_frames.wait()
        published = [pc for _handle, pc, _senders in room._publishers.values() if pc is not None]
        return await _measure(published, window)
    finally:
        await child.stop()
        await room.aclose()
        await camera.aclose()
        await microphone.aclose()
        await rooms.close()
        await service.aclose()


def _config(janus: LocalJanus) -> SfuConfig:
    return SfuConfig(
        url=janus.url,
        admin_url=janus.admin_url,
        admin_secret=janus.admin_secret,
        room_admin_key=janus.room_admin_key,
    )


# -- join -> first frame ----------------------------------------------------------------------


async def join_times(janus: LocalJanus, repeats: int) -> tuple[list[float], list[float]]:
    issuer = TokenIssuer.generate("bench")
    now = datetime.now(UTC)

    def token(role: str, subject: str) -> str:
        return issuer.issue(
            room="r", appointment="a", role=role, subject=subject,  # type: ignore[arg-type]
            not_before=now - timedelta(minutes=1), expires_at=now + timedelta(hours=1),
        )  # fmt: skip

    app = create_app(SignalingConfig(verifier=TokenVerifier(issuer.public_keys()), sfu=_config(janus)))
    ours: list[float] = []
    bare: list[float] = []
    try:
        async with LocalServer(app) as server:
            url = f"{server.ws_url}/ws/r/a"
            async with (
                SfuParticipant(url, token("physician", "owner"), auto_admit=True) as owner,
                RoomPeer(url, token("patient", "room")) as room,
            ):
                await room.wait_admitted()
                await owner.first_frame(role="patient")
                others = [SfuParticipant(url, token("companion", f"c{i}")) for i in range(2)]
                for other in others:
                    await other.__aenter__()
                    await other.first_frame(role="patient")
                visit = next(iter(app.state.hub.sfu.visits.values()))
                room_feed = visit.rooms.feed_of(room.participant_id)
                for attempt in range(repeats):
                    started = time.perf_counter()
                    async with SfuParticipant(url, token("interpreter", f"fourth-{attempt}")) as fourth:
                        await fourth.first_frame(role="patient", timeout=60)
                        ours.append(time.perf_counter() - started)
                    grant = await visit.rooms.grant(f"bare-{attempt}", "companion")
                    bare.append(await _bare_first_frame(grant, room_feed))
                for other in others:
                    await other.aclose()
    finally:
        await app.state.hub.sfu.aclose()
    return ours, bare


async def _bare_first_frame(grant: p.SfuGrant, feed: int | None) -> float:
    """The least a client must do to see a Janus feed: session, publisher join, subscribe."""
    main = grant.rooms[0]
    started = time.perf_counter()
    async with JanusSession(grant.url, grant.token) as session:
        publisher = await session.attach()
        data, _ = await publisher.message(
            {"request": "join", "ptype": "publisher", "room": main.room, "pin": main.pin,
             "id": grant.feed, "token": grant.token}
        )  # fmt: skip
        subscriber = await session.attach()
        _, jsep = await subscriber.message(
            {"request": "join", "ptype": "subscriber", "room": main.room, "pin": main.pin,
             "private_id": data["private_id"], "streams": [{"feed": feed}], "token": grant.token}
        )  # fmt: skip
        assert jsep is not None
        pc = RTCPeerConnection()
        video: asyncio.Future[MediaStreamTrack] = asyncio.get_running_loop().create_future()
        pc.on(
            "track",
            lambda track: video.set_result(track) if track.kind == "video" and not video.done() else None,
        )
        await pc.setRemoteDescription(RTCSessionDescription(sdp=jsep["sdp"], type=jsep["type"]))
        await pc.setLocalDescription(await pc.createAnswer())
        await subscriber.message({"request": "start"}, {"type": "answer", "sdp": pc.localDescription.sdp})
        async with asyncio.timeout(60):
            await (await video).recv()
        elapsed = time.perf_counter() - started
        await pc.close()
    return elapsed


async def main(window: float, repeats: int) -> None:
    async with LocalJanus() as janus:
        print(f"room cost, {window:.0f} s window after every participant's first frame")
        print("participants | P2P CPU | P2P uplink kbit/s | Janus CPU | Janus uplink kbit/s")
        results = {}
        for count in COUNTS:
            p2p = await room_p2p(count, window)
            sfu = await room_sfu(janus, count, window)
            results[count] = (p2p, sfu)
            print(f"{count} | {p2p[0]:.2f} | {p2p[1]:.0f} | {sfu[0]:.2f} | {sfu[1]:.0f}")
        for label, col in (("P2P", 0), ("Janus", 1)):
            base_cpu, base_up = results[1][col]
            ratios = [
                f"{n}: CPU {results[n][col][0] / base_cpu:.2f}x, uplink {results[n][col][1] / base_up:.2f}x"
                for n in COUNTS
            ]
            print(f"{label} vs its 1-participant cost: " + "; ".join(ratios))
        ours, bare = await join_times(janus, repeats)
        print(f"4th participant join -> first frame, median of {repeats}: telemedroom "
              f"{statistics.median(ours):.2f} s, bare aiortc<->Janus {statistics.median(bare):.2f} s, "
              f"ratio {statistics.median(ours) / statistics.median(bare):.2f}x")  # fmt: skip
        print(
            "  telemedroom:",
            ", ".join(f"{x:.2f}" for x in ours),
            "| bare:",
            ", ".join(f"{x:.2f}" for x in bare),
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--receivers", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--window", type=float, default=8.0)
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args()
    if arguments.receivers:
        asyncio.run(receivers())
    else:
        asyncio.run(main(arguments.window, arguments.repeats))
