"""``telemedroom outbox status|drain``: the room's real encrypted outbox in a temporary data dir."""

from __future__ import annotations

import asyncio
import base64
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from telemedroom import BodyWeight, HeartRate
from telemedroom.cli import ExitCode
from telemedroom.fhir import Outbox, transaction_json
from telemedroom.session.signaling import LocalServer
from telemedroom.testing import FakeFhirServer

from .conftest import KEY


def put(room_toml: Path, count: int) -> None:
    async def main() -> None:
        data = room_toml.parent / "data"
        data.mkdir(exist_ok=True)
        async with Outbox(data / "outbox.sqlite", key=base64.b64decode(KEY)) as outbox:
            for n in range(count):
                await outbox.put(
                    transaction_json([HeartRate(bpm=60 + n), BodyWeight(value=70 + n)], patient="Patient/p1")
                )

    asyncio.run(main())


def test_status_counts_what_waits(telemedroom: Callable[..., object], room_toml: Path) -> None:
    put(room_toml, 3)
    result = telemedroom("outbox", "status", "--config", str(room_toml))
    assert result.code == ExitCode.OK, result.err
    assert "pending:   3 bundle(s)" in result.out
    assert "held back: 0 bundle(s)" in result.out
    assert f"NDJSON files in {room_toml.parent / 'data' / 'fhir'}" in result.out.replace("\n", "")


def test_drain_writes_the_ndjson_files(telemedroom: Callable[..., object], room_toml: Path) -> None:
    put(room_toml, 2)
    result = telemedroom("outbox", "drain", "--config", str(room_toml))
    assert result.code == ExitCode.OK, result.err
    assert "sent 2 bundle(s) in 1 transaction(s)" in result.out
    assert "0 pending" in result.out
    fhir = room_toml.parent / "data" / "fhir"
    assert len((fhir / "Observation.ndjson").read_text().splitlines()) == 4
    status = telemedroom("outbox", "status", "--config", str(room_toml))
    assert "pending:   0 bundle(s)" in status.out
    assert "written:   Observation.ndjson 4, Provenance.ndjson 2" in status.out


def test_a_damaged_row_is_set_aside_and_reported(telemedroom: Callable[..., object], room_toml: Path) -> None:
    """Damage as a disk would do it: one row's sealed payload overwritten in the SQLite file."""
    put(room_toml, 2)
    with sqlite3.connect(room_toml.parent / "data" / "outbox.sqlite") as db:
        db.execute("UPDATE outbox SET payload = ? WHERE id = 1", (b"\x00" * 64,))
    drained = telemedroom("outbox", "drain", "--config", str(room_toml))
    assert drained.code == ExitCode.FAILED
    assert "rows 1 are damaged and were set aside" in drained.err
    status = telemedroom("outbox", "status", "--config", str(room_toml))
    assert status.code == ExitCode.CHECK_FAILED
    assert "held back: 1 bundle(s)" in status.out
    assert "corrupt" in status.out
    # the intact row went through
    assert len((room_toml.parent / "data" / "fhir" / "Observation.ndjson").read_text().splitlines()) == 2


def test_another_key_from_the_environment_is_refused(
    telemedroom: Callable[..., object], room_toml: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    put(room_toml, 1)
    monkeypatch.setenv("TELEMEDROOM_ENCRYPTION_KEY", base64.b64encode(bytes(32)).decode())
    result = telemedroom("outbox", "status", "--config", str(room_toml))
    assert result.code == ExitCode.FAILED
    assert "the outbox was encrypted with another key" in result.err


def test_an_invalid_key_names_the_environment_variable(
    telemedroom: Callable[..., object], room_toml: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TELEMEDROOM_ENCRYPTION_KEY", "not-base64!")
    result = telemedroom("outbox", "status", "--config", str(room_toml))
    assert result.code == ExitCode.CONFIG
    assert "environment (TELEMEDROOM_ENCRYPTION_KEY)" in result.err
    assert "encryption_key" in result.err
    assert "not-base64" not in result.err  # a secret is never printed


def test_an_unreachable_server_gives_up_after_the_attempts(
    telemedroom: Callable[..., object], room_toml: Path, unused_tcp_port: int
) -> None:
    """A real connection refused: nothing listens on the port."""
    put(room_toml, 1)
    room_toml.write_text(
        room_toml.read_text() + f'\n[fhir]\nbase_url = "http://127.0.0.1:{unused_tcp_port}/fhir"\n'
    )
    result = telemedroom("outbox", "drain", "--config", str(room_toml), "--attempts", "1")
    assert result.code == ExitCode.FAILED
    assert f"127.0.0.1:{unused_tcp_port}" in result.err
    status = telemedroom("outbox", "status", "--config", str(room_toml))
    assert "pending:   1 bundle(s)" in status.out  # nothing lost


def test_smart_auth_without_its_key_names_the_key(
    telemedroom: Callable[..., object], room_toml: Path
) -> None:
    put(room_toml, 1)
    room_toml.write_text(
        room_toml.read_text() + '\n[fhir]\nbase_url = "https://fhir.example/r4"\nclient_id = "room-1"\n'
    )
    result = telemedroom("outbox", "drain", "--config", str(room_toml))
    assert result.code == ExitCode.CONFIG
    assert "fhir.private_key_file: missing" in result.err


@pytest.fixture
def fhir_server(unused_tcp_port: int) -> Iterator[FakeFhirServer]:
    """FakeFhirServer (a fake at the edge: real FHIR JSON and OperationOutcome) over real HTTP.

    uvicorn serves it from a thread with its own event loop, so the command under test
    runs in this thread as it would in a shell.
    """
    server = FakeFhirServer(f"http://127.0.0.1:{unused_tcp_port}/r4")

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        query = scope["query_string"].decode()
        url = f"{server.base_url.split('/r4')[0]}{scope['path']}" + (f"?{query}" if query else "")
        headers = [(k.decode(), v.decode()) for k, v in scope["headers"]]
        answer = server.handle(httpx.Request(scope["method"], url, headers=headers, content=body))
        await send(
            {
                "type": "http.response.start",
                "status": answer.status_code,
                "headers": [(k.encode(), v.encode()) for k, v in answer.headers.items()],
            }
        )
        await send({"type": "http.response.body", "body": answer.content})

    loop = asyncio.new_event_loop()
    started, stop = threading.Event(), asyncio.Event()

    async def serve() -> None:
        async with LocalServer(app, port=unused_tcp_port):
            started.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),))
    thread.start()
    started.wait(timeout=10)
    try:
        yield server
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=10)
        loop.close()


def test_rejected_bundles_are_reported_and_requeued(
    telemedroom: Callable[..., object], room_toml: Path, fhir_server: FakeFhirServer
) -> None:
    """The operator's flow: the server refuses for good (422), the cause is fixed, send again."""
    put(room_toml, 1)
    room_toml.write_text(room_toml.read_text() + f'\n[fhir]\nbase_url = "{fhir_server.base_url}"\n')
    fhir_server.fail_next(422)
    drained = telemedroom("outbox", "drain", "--config", str(room_toml))
    assert drained.code == ExitCode.CHECK_FAILED
    assert "rejected by the server (kept, not sent again): rows 1" in drained.out
    status = telemedroom("outbox", "status", "--config", str(room_toml))
    assert status.code == ExitCode.CHECK_FAILED
    assert "rejected: FHIR server answered 422" in status.out
    assert fhir_server.resources("Observation") == []

    requeued = telemedroom("outbox", "requeue", "--config", str(room_toml))
    assert requeued.code == ExitCode.OK
    assert "requeued rows 1: sent on the next drain" in requeued.out
    again = telemedroom("outbox", "drain", "--config", str(room_toml))
    assert again.code == ExitCode.OK, again.err
    assert f"sent 1 bundle(s) in 1 transaction(s) to {fhir_server.base_url}; 0 pending" in again.out
    assert len(fhir_server.resources("Observation")) == 2
    assert "nothing to requeue" in telemedroom("outbox", "requeue", "--config", str(room_toml)).out
