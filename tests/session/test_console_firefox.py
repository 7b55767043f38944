"""The physician console in real headless Firefox (Debian's firefox-esr), over WebDriver BiDi.

Playwright drives only its own patched Firefox, which cannot be downloaded here, so this
test speaks the W3C WebDriver BiDi protocol that Firefox serves natively
(``--remote-debugging-port``) with a few lines of JSON over a WebSocket. Firefox's fake
media streams stand in for the physician's camera; the room is a real RoomPeer fed by a
virtual blood-pressure cuff (a bumble GATT server on an in-memory radio: a fake radio only).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import websockets
from tests._system import require_system

from telemedroom import BloodPressure
from telemedroom.devices import DeviceManager
from telemedroom.session.peer import RoomPeer
from telemedroom.testing import BumbleBackend, VirtualBloodPressureCuff

from .conftest import Signaling

pytestmark = pytest.mark.requires_system

# Fake camera and microphone, no permission prompt, and no calls home from a closed network.
PREFS = {
    "media.navigator.streams.fake": True,
    "media.navigator.permission.disabled": True,
    "app.update.disabledForTesting": True,
    "browser.shell.checkDefaultBrowser": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "toolkit.telemetry.reportingpolicy.firstRun": False,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "extensions.update.enabled": False,
    "remote.active-protocols": 1,  # WebDriver BiDi only
}
LISTENING = re.compile(r"WebDriver BiDi listening on (ws://\S+)")


class Bidi:
    """A minimal WebDriver BiDi client: commands by id, one browsing context."""

    def __init__(self, socket: Any) -> None:
        self.socket = socket
        self.ids = itertools.count(1)
        self.context = ""

    async def command(self, method: str, **params: Any) -> dict[str, Any]:
        number = next(self.ids)
        await self.socket.send(json.dumps({"id": number, "method": method, "params": params}))
        while True:
            message = json.loads(await self.socket.recv())
            if message.get("id") != number:
                continue  # an event
            if message.get("type") == "error":
                raise AssertionError(f"{method}: {message.get('error')}: {message.get('message')}")
            result: dict[str, Any] = message["result"]
            return result

    async def evaluate(self, expression: str) -> Any:
        result = await self.command(
            "script.evaluate",
            expression=expression,
            target={"context": self.context},
            awaitPromise=True,
        )
        if result.get("type") == "exception":
            raise AssertionError(f"{expression}: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    async def until(self, condition: str, timeout: float = 15) -> Any:
        """Wait in the page until a JavaScript condition holds (checked every animation frame)."""
        script = (
            "new Promise(resolve => { const check = () => { const value = (" + condition + ");"
            " if (value) resolve(value); else requestAnimationFrame(check); }; check(); })"
        )
        async with asyncio.timeout(timeout):
            return await self.evaluate(script)


@pytest.fixture
async def firefox(tmp_path: Path) -> AsyncIterator[Bidi]:
    """A fresh headless Firefox profile, driven over WebDriver BiDi."""
    binary = require_system("firefox-esr")
    profile = tmp_path / "profile"
    profile.mkdir()
    (profile / "user.js").write_text(
        "".join(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n" for k, v in PREFS.items())
    )
    process = await asyncio.create_subprocess_exec(
        binary,
        "--headless",
        "--no-remote",
        "--profile",
        str(profile),
        "--remote-debugging-port",
        "0",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stderr is not None
        async with asyncio.timeout(60):
            while not (found := LISTENING.search((await process.stderr.readline()).decode())):
                pass
        drain = asyncio.create_task(process.stderr.read())  # keep the pipe from filling up
        async with websockets.connect(found.group(1) + "/session", max_size=None) as socket:
            bidi = Bidi(socket)
            await bidi.command("session.new", capabilities={})
            tree = await bidi.command("browsingContext.getTree")
            bidi.context = tree["contexts"][0]["context"]
            yield bidi
            await bidi.command("session.end")
        drain.cancel()
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def test_physician_in_firefox_admits_the_room_sees_video_and_the_cuff_reading(
    signaling: Signaling, radio: BumbleBackend, firefox: Bidi
) -> None:
    reading = BloodPressure(
        systolic=131,
        diastolic=84,
        pulse_rate=71,
        measured_at=datetime.now(UTC).replace(microsecond=0),
    )
    cuff = await radio.add(VirtualBloodPressureCuff([reading]))
    link = f"{signaling.server.http_url}/console/#token={signaling.token('physician', name='Dr. Weber')}"
    await firefox.command("browsingContext.navigate", context=firefox.context, url=link, wait="complete")
    await firefox.until("document.getElementById('status').textContent.startsWith('joined')")
    assert "Firefox" in await firefox.evaluate("navigator.userAgent")

    async with RoomPeer(signaling.url(), signaling.token("patient", name="Room Quarter 1")) as room:
        admit = f'#waiting-list li[data-participant="{room.participant_id}"] button.admit'
        await firefox.until(f"document.querySelector('{admit}')")
        await firefox.evaluate(f"document.querySelector('{admit}').click()")
        await room.wait_admitted(timeout=10)
        await room.wait_connected(timeout=30)

        # the remote video plays: it has a size and its time advances
        await firefox.until("document.getElementById('remote').videoWidth > 0", timeout=30)
        assert await firefox.evaluate("document.getElementById('remote').videoWidth") == 640
        start = await firefox.evaluate("document.getElementById('remote').currentTime")
        await firefox.until(f"document.getElementById('remote').currentTime > {start} + 0.5")

        # the cuff's reading appears in the vitals panel
        vital = "document.querySelector('#vitals-list li.vital[data-kind=\"blood_pressure\"]')"
        async with DeviceManager(backend=radio) as manager, await manager.connect(cuff.address) as connection:
            forwarding = asyncio.create_task(room.forward(connection.measurements()))
            await firefox.until(vital)
            forwarding.cancel()
        assert await firefox.evaluate(f"{vital}.dataset.value") == "131/84"
        assert "pulse 71 /min" in await firefox.evaluate(f"{vital}.innerText")

        # the DTLS fingerprint on screen is the room's
        shown = await firefox.evaluate("document.getElementById('remote-fingerprint').textContent")
        assert shown == room.fingerprint

        await firefox.evaluate("document.getElementById('end').click()")
        async with asyncio.timeout(10):
            await room.ended.wait()
