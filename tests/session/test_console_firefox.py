"""The physician console in real headless Firefox (Debian's firefox-esr), over WebDriver BiDi.

Firefox is driven over WebDriver BiDi (``tests/_firefox.py``: Playwright drives only its
own patched Firefox, which cannot be downloaded here). Firefox's fake media streams stand
in for the physician's camera; the room is a real RoomPeer fed by a virtual
blood-pressure cuff (a bumble GATT server on an in-memory radio: a fake radio only).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from tests._firefox import Bidi, firefox  # noqa: F401 (firefox is a fixture)

from telemedroom import BloodPressure
from telemedroom.devices import DeviceManager
from telemedroom.session.peer import RoomPeer
from telemedroom.testing import BumbleBackend, VirtualBloodPressureCuff

from .conftest import Signaling

pytestmark = pytest.mark.requires_system


async def test_physician_in_firefox_admits_the_room_sees_video_and_the_cuff_reading(
    signaling: Signaling,
    radio: BumbleBackend,
    firefox: Bidi,  # noqa: F811 (the fixture)
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
