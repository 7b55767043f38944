"""The kiosk on loopback: room events to the page's socket, and the video answer.

1. Event fan-out: 2000 room events (alternating ``DeviceStep`` and ``ReadingTaken``, as
   during the measurements) published by the room until a WebSocket client of
   ``/kiosk/events`` has received the last one. Baseline, same run: a bare Starlette
   WebSocket endpoint on the same uvicorn server sending the same events' JSON texts,
   serialised beforehand, from the same kind of queue. Seven alternating rounds, the
   median of each; the client is in the same process and event loop, so the ratio is
   what the kiosk adds (the JSON serialisation, the subscription generator).
2. Video answer: ``POST /kiosk/webrtc`` with an offer of two receive-only video
   transceivers until the answer is back (HTTP, checks, the room's tracks, aiortc's
   answer with ICE gathering). Baseline, same run: the bare aiortc answer in-process
   (``setRemoteDescription``, ``addTrack`` x2, ``createAnswer``, ``setLocalDescription``).

Run: ``make bench`` (or ``.venv/bin/python benchmarks/bench_kiosk.py [--quick]``).
Prints a Markdown table; copy it into benchmarks/RESULTS.md with the date and machine.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
from aiortc import RTCPeerConnection, RTCSessionDescription
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket
from websockets.asyncio.client import connect

from telemedroom._kiosk import KioskTracks, close_kiosk, create_kiosk_app
from telemedroom.devices.media import TestPatternTrack
from telemedroom.room import DeviceStep, ReadingTaken, RoomEvent, RoomState, StateChanged
from telemedroom.session.signaling import LocalServer


def events(count: int) -> list[RoomEvent]:
    """The benchmark's events: what a room sends while measuring."""
    made: list[RoomEvent] = []
    for index in range(count):
        if index % 2:
            made.append(
                ReadingTaken(device="blood_pressure", measurement={"systolic": 120}, summary="120/80 mmHg")
            )
        else:
            made.append(
                DeviceStep(
                    device="blood_pressure",
                    status="measuring",
                    attempt=1,
                    instruction="put_on_cuff",
                    index=0,
                    total=2,
                )
            )
    return made


class Publisher:
    """A kiosk backend that publishes what it is given (the room's fan-out: one queue per subscriber)."""

    def __init__(self) -> None:
        self.queues: list[asyncio.Queue[RoomEvent | None]] = []
        self.subscribed = asyncio.Event()

    async def events(self) -> AsyncIterator[RoomEvent]:
        queue: asyncio.Queue[RoomEvent | None] = asyncio.Queue()
        queue.put_nowait(
            StateChanged(state=RoomState.MEASURING, previous=None, visit_id="v", at=datetime.now(UTC))
        )
        self.queues.append(queue)
        self.subscribed.set()
        try:
            while (event := await queue.get()) is not None:
                yield event
        finally:
            self.queues.remove(queue)

    def publish(self, event: RoomEvent | None) -> None:
        for queue in self.queues:
            queue.put_nowait(event)

    async def check_in(self, booking_code: str) -> object:
        return None

    def kiosk_tracks(self) -> KioskTracks:
        return KioskTracks(self_view=TestPatternTrack(640, 480), physician=TestPatternTrack(640, 480))


def bare_app(texts: asyncio.Queue[str | None]) -> Starlette:
    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        while (text := await texts.get()) is not None:
            await websocket.send_text(text)

    return Starlette(routes=[WebSocketRoute("/events", endpoint)])


async def receive(url: str, count: int, ready: asyncio.Event) -> None:
    async with connect(url, max_queue=None) as ws:
        await ws.recv()  # the first message (the kiosk: the current state) warms the connection up
        ready.set()
        for _ in range(count):
            await ws.recv()


async def kiosk_round(made: list[RoomEvent]) -> float:
    backend = Publisher()
    app = create_kiosk_app(backend)
    async with LocalServer(app) as server:
        ready = asyncio.Event()
        client = asyncio.ensure_future(receive(f"{server.ws_url}/kiosk/events", len(made), ready))
        await ready.wait()
        start = time.perf_counter()
        for event in made:
            backend.publish(event)
        await client
        elapsed = time.perf_counter() - start
        backend.publish(None)
    return elapsed


async def bare_round(made: list[RoomEvent]) -> float:
    texts: asyncio.Queue[str | None] = asyncio.Queue()
    prepared = [event.model_dump_json() for event in made]
    async with LocalServer(bare_app(texts)) as server:
        ready = asyncio.Event()
        client = asyncio.ensure_future(receive(f"{server.ws_url}/events", len(made), ready))
        texts.put_nowait(prepared[0])
        await ready.wait()
        start = time.perf_counter()
        for text in prepared:
            texts.put_nowait(text)
        await client
        elapsed = time.perf_counter() - start
        texts.put_nowait(None)
    return elapsed


async def fan_out(count: int, rounds: int) -> tuple[float, float]:
    """Median seconds for ``count`` events through the kiosk and the bare endpoint (alternating rounds)."""
    made = events(count)
    kiosk: list[float] = []
    bare: list[float] = []
    for _ in range(rounds):
        kiosk.append(await kiosk_round(made))
        bare.append(await bare_round(made))
    return statistics.median(kiosk), statistics.median(bare)


async def offer() -> tuple[RTCPeerConnection, str]:
    pc = RTCPeerConnection()
    for _ in range(2):
        pc.addTransceiver("video", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    return pc, pc.localDescription.sdp


async def answers(repeats: int) -> tuple[list[float], list[float]]:
    """Seconds per video answer through the kiosk, and bare aiortc, ``repeats`` times each."""
    kiosk_times: list[float] = []
    bare_times: list[float] = []
    app = create_kiosk_app(Publisher())
    async with LocalServer(app) as server, httpx.AsyncClient(base_url=server.http_url) as http:
        try:
            for _ in range(repeats):
                client, sdp = await offer()
                try:
                    start = time.perf_counter()
                    response = await http.post("/kiosk/webrtc", json={"sdp": sdp, "type": "offer"})
                    kiosk_times.append(time.perf_counter() - start)
                    assert response.status_code == 200, response.text
                    assert response.json()["tracks"] == {"self_view": True, "physician": True}
                finally:  # a failed case must not leave the offer's ICE sockets open
                    await client.close()

                client, sdp = await offer()
                start = time.perf_counter()
                pc = RTCPeerConnection()
                tracks: list[TestPatternTrack] = []
                try:
                    await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
                    tracks = [TestPatternTrack(640, 480), TestPatternTrack(640, 480)]
                    for track in tracks:
                        pc.addTrack(track)
                    await pc.setLocalDescription(await pc.createAnswer())
                    bare_times.append(time.perf_counter() - start)
                    assert pc.localDescription.type == "answer"
                finally:
                    await pc.close()
                    for track in tracks:
                        track.stop()
                    await client.close()
        finally:
            await close_kiosk(app)
    return kiosk_times, bare_times


async def run(count: int = 2000, rounds: int = 7, repeats: int = 20) -> dict[str, Any]:
    kiosk, bare = await fan_out(count, rounds)
    kiosk_answers, bare_answers = await answers(repeats)
    return {
        "events": count,
        "kiosk_events_s": kiosk,
        "bare_events_s": bare,
        "answers": repeats,
        "kiosk_answer_p50_ms": statistics.median(kiosk_answers) * 1000,
        "bare_answer_p50_ms": statistics.median(bare_answers) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few events and answers (a smoke run)")
    args = parser.parse_args()
    result = asyncio.run(run(count=200, rounds=1, repeats=3) if args.quick else run())
    when = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    print(f"# bench_kiosk — {when}, {platform.machine()}, Python {platform.python_version()}\n")
    print("| case | telemedroom | bare baseline | ratio |")
    print("|---|---|---|---|")
    per_event = result["kiosk_events_s"] / result["events"] * 1e6
    bare_per_event = result["bare_events_s"] / result["events"] * 1e6
    print(
        f"| {result['events']} events to the page's socket (median of rounds) | {per_event:.1f} µs/event "
        f"({result['events'] / result['kiosk_events_s']:,.0f}/s) | {bare_per_event:.1f} µs/event | "
        f"{result['kiosk_events_s'] / result['bare_events_s']:.2f}x |"
    )
    print(
        f"| video answer (p50 of {result['answers']}) | {result['kiosk_answer_p50_ms']:.1f} ms | "
        f"{result['bare_answer_p50_ms']:.1f} ms | "
        f"{result['kiosk_answer_p50_ms'] / result['bare_answer_p50_ms']:.2f}x |"
    )


if __name__ == "__main__":
    main()
