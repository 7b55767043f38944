"""Without its extras the kiosk says what to install: the app needs ``server``, its video ``video``."""

from __future__ import annotations

import subprocess
import sys


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_without_starlette_the_import_says_to_install_the_server_extra() -> None:
    # sys.modules[name] = None makes "import name" fail as if the package were absent.
    result = run_python(
        "import sys; sys.modules['starlette'] = None\n"
        "from telemedroom.errors import MissingExtraError\n"
        "try:\n"
        "    import telemedroom._kiosk\n"
        "except MissingExtraError as exc:\n"
        "    print(exc.extra)\n"
        "    print(exc)\n"
    )
    assert result.returncode == 0, result.stderr
    extra, message = result.stdout.splitlines()
    assert extra == "server"
    assert "pip install 'telemedroom[server]'" in message


def test_without_aiortc_the_page_works_and_the_video_answers_503() -> None:
    result = run_python(
        "import sys; sys.modules['aiortc'] = None\n"
        "import asyncio, httpx\n"
        "from telemedroom._kiosk import KioskTracks, create_kiosk_app\n"
        "class Room:\n"
        "    async def events(self):\n"
        "        return; yield\n"
        "    async def check_in(self, booking_code):\n"
        "        return None\n"
        "    def kiosk_tracks(self):\n"
        "        return KioskTracks(self_view=None, physician=None)\n"
        "async def main():\n"
        "    transport = httpx.ASGITransport(create_kiosk_app(Room()))\n"
        "    async with httpx.AsyncClient(transport=transport, base_url='http://127.0.0.1') as http:\n"
        "        page = await http.get('/kiosk/')\n"
        "        check_in = await http.post('/kiosk/check-in', json={'code': 'ABC'})\n"
        "        video = await http.post('/kiosk/webrtc', json={'sdp': 'v=0', 'type': 'offer'})\n"
        "    print(page.status_code, check_in.status_code, video.status_code, video.json()['reason'])\n"
        "asyncio.run(main())\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["200", "204", "503", "video_unavailable"]
