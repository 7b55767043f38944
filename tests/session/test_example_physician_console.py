"""The physician-console example for real: TLS from its own clinic CA, and TURN through coturn.

``serve.py`` runs as a subprocess, as an operator runs it: ``setup`` writes the CA, the
server certificate, the join-token keys, the TURN secret and ``turnserver.conf``;
``check`` serves the signaling app over https/wss and connects a room and a physician
that trust only the clinic CA. With coturn installed, coturn is started from the
rendered ``turnserver.conf`` and the call runs with relay candidates only.
"""

from __future__ import annotations

import asyncio
import random
import stat
import sys
from pathlib import Path

import pytest
from cryptography import x509
from tests._system import require_system

from .test_turn_relay import _keep_reading, _stun_answers, free_udp_port

SCRIPT = Path(__file__).parents[2] / "examples" / "physician_console" / "serve.py"


async def run(*args: str, timeout: float = 90) -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(SCRIPT), *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    async with asyncio.timeout(timeout):
        out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode()


async def test_the_tour_serves_wss_from_the_clinic_ca_and_connects_a_room_and_a_physician() -> None:
    out = await run()
    for line in (
        "clinic CA: clinic-ca.pem; server certificate for localhost, 127.0.0.1: server.pem",
        "console over https: HTTP 200, strict CSP: True",
        "without the clinic CA: refused, CERTIFICATE_VERIFY_FAILED",
        "WebSocket from origin https://elsewhere.example: HTTP 403",
        "joined over wss://, admitted: True",
        "physician got 64/min and video 640x360",
        "DTLS fingerprint the physician sees is the room's: True",
    ):
        assert line in out, out


async def test_setup_writes_a_chain_that_verifies_and_keeps_secrets_private(tmp_path: Path) -> None:
    await run("setup", "--dir", str(tmp_path), "--host", "session.clinic.example", "--host", "10.0.0.7")
    ca = x509.load_pem_x509_certificate((tmp_path / "clinic-ca.pem").read_bytes())
    server = x509.load_pem_x509_certificate((tmp_path / "server.pem").read_bytes())
    server.verify_directly_issued_by(ca)
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["session.clinic.example"]
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["10.0.0.7"]
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert not server.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    for secret in (
        "clinic-ca-key.pem",
        "server-key.pem",
        "join-token-key.pem",
        "turn-secret",
        "turnserver.conf",
    ):
        assert stat.S_IMODE((tmp_path / secret).stat().st_mode) == 0o600, secret
    config = (tmp_path / "turnserver.conf").read_text()
    assert "$" not in config
    assert f"static-auth-secret={(tmp_path / 'turn-secret').read_text()}\n" in config
    assert "use-auth-secret\n" in config


@pytest.mark.requires_system
async def test_relay_only_through_coturn_started_from_the_rendered_config(tmp_path: Path) -> None:
    turnserver = require_system("turnserver")
    port = free_udp_port()
    low = random.randrange(50_000, 64_000, 100)
    await run(
        "setup", "--dir", str(tmp_path), "--turn-ip", "127.0.0.1", "--turn-port", str(port),
        "--turn-tls-port", str(free_udp_port()), "--min-port", str(low), "--max-port", str(low + 99),
        "--turn-log", "stdout",
    )  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        turnserver, "-c", str(tmp_path / "turnserver.conf"),
        "--allow-loopback-peers",  # only for this test: the peers live on loopback
        "--verbose",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert process.stdout is not None
    log: list[str] = []
    grew = asyncio.Condition()
    reader = asyncio.create_task(_keep_reading(process.stdout, log, grew))
    try:
        await _stun_answers(port, process)
        out = await run(
            "check",
            "--dir",
            str(tmp_path),
            "--turn-url",
            f"turn:127.0.0.1:{port}?transport=udp",
            "--relay-only",
        )
        assert f"ICE server from the welcome: turn:127.0.0.1:{port}?transport=udp, credential valid" in out
        assert "media connected; room's candidate types: relay\n" in out, out
        assert "physician got 64/min and video 640x360" in out
        async with asyncio.timeout(10), grew:
            await grew.wait_for(lambda: any("ALLOCATE processed, success" in line for line in log))
        assert not any("ERROR" in line for line in log), "".join(log)
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()
        await reader
