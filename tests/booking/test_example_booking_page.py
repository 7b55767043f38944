"""examples/booking_page with the real command: ``telemedroom booking serve`` and ``purge``."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import signal
import sys
from pathlib import Path

import httpx
import pytest

from telemedroom.booking import BookingConfig
from telemedroom.cli import main

from .conftest import KEY, free_port

EXAMPLE = Path(__file__).parents[2] / "examples" / "booking_page" / "booking.toml"


@pytest.fixture
def environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {
        "TELEMEDROOM_BOOKING_ENCRYPTION_KEY": KEY,
        "TELEMEDROOM_BOOKING_DATA_DIR": str(tmp_path / "data"),
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def test_the_example_configuration_loads(environment: dict[str, str]) -> None:
    config = BookingConfig.from_toml(EXAMPLE)
    assert config.clinic_name == "Praxis am Quartier"
    assert config.schedule_file == EXAMPLE.parent / "schedule.toml"
    assert config.smtp is None
    assert config.key == base64.b64decode(KEY)


def test_purge_runs_on_the_example(environment: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["booking", "purge", "--config", str(EXAMPLE)]) == 0
    assert "purged the details of 0 appointment(s)" in capsys.readouterr().out
    assert (Path(environment["TELEMEDROOM_BOOKING_DATA_DIR"]) / "residents.sqlite").exists()


def test_a_broken_configuration_is_exit_code_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "booking.toml"
    path.write_text('clinic_name = "P"\nschedule_file = "s.toml"\ndata_dir = "d"\nencryption_key = "short"\n')
    assert main(["booking", "purge", "--config", str(path)]) == 3
    assert "encryption_key" in capsys.readouterr().err
    path.write_text(
        f'clinic_name = "P"\nschedule_file = "missing.toml"\ndata_dir = "d"\nencryption_key = "{KEY}"\n'
    )
    assert main(["booking", "purge", "--config", str(path)]) == 3


async def test_booking_serve_serves_the_page_until_interrupted(environment: dict[str, str]) -> None:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "telemedroom",
        "booking",
        "serve",
        "--config",
        str(EXAMPLE),
        "--port",
        str(port),
        env=os.environ | environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        async with asyncio.timeout(60):
            line = (await process.stdout.readline()).decode()
        assert f"http://127.0.0.1:{port}/booking/" in line
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            async with asyncio.timeout(60):
                while True:
                    try:
                        page = await http.get("/booking/", headers={"accept-language": "de"})
                        break
                    except httpx.ConnectError:
                        await asyncio.sleep(0.1)  # the port opens a moment after the line is printed
            assert page.status_code == 200
            assert "Fazialisparese: Verlaufskontrolle" in page.text
            slots = await http.get("/booking/service/fp-30")
            assert slots.status_code == 200
            assert re.search(r'name="slot" value="', slots.text)
    finally:
        process.send_signal(signal.SIGINT)
        async with asyncio.timeout(30):
            _, errors = await process.communicate()
    assert process.returncode in (0, 130), errors.decode()
    assert b"Traceback" not in errors
