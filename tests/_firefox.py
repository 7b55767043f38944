"""Headless Firefox (Debian's firefox-esr) driven over WebDriver BiDi, for the browser tests.

Playwright drives only its own patched Firefox, which cannot be downloaded here, so the
tests speak the W3C WebDriver BiDi protocol that Firefox serves natively
(``--remote-debugging-port``) with a few lines of JSON over a WebSocket. The profile
turns on Firefox's fake camera and microphone and turns off every call home.

Use the ``firefox`` fixture (import it into the test module), or :func:`launch_firefox`
for other session capabilities (the hub's test certificate).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from tests._system import require_system

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


@contextlib.asynccontextmanager
async def launch_firefox(folder: Path, capabilities: dict[str, Any] | None = None) -> AsyncIterator[Bidi]:
    """A fresh headless Firefox with its profile in ``folder``, in a BiDi session with ``capabilities``."""
    binary = require_system("firefox-esr")
    profile = folder / "profile"
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
            await bidi.command("session.new", capabilities=capabilities or {})
            tree = await bidi.command("browsingContext.getTree")
            bidi.context = tree["contexts"][0]["context"]
            yield bidi
            await bidi.command("session.end")
        drain.cancel()
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


@pytest.fixture
async def firefox(tmp_path: Path) -> AsyncIterator[Bidi]:
    """A fresh headless Firefox profile, driven over WebDriver BiDi."""
    async with launch_firefox(tmp_path) as bidi:
        yield bidi
