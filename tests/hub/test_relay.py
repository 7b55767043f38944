"""The PostgreSQL relay of the signaling server, protocol message by message, on a real PostgreSQL.

Two signaling apps, each with its own ``PostgresRelay`` (two replicas, in this process),
on one database; raw protocol clients on each. The two-process visit with real peers is
``test_replica_signaling.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from tests.session.conftest import Raw, Signaling, raw_client  # noqa: F401

from telemedroom.hub import PostgresRelay
from telemedroom.session import AuditLog, TokenIssuer, TokenVerifier
from telemedroom.session.signaling import LocalServer, SignalingConfig, create_app

from .conftest import end_every_session

pytestmark = pytest.mark.requires_system

RawFactory = Callable[..., AbstractAsyncContextManager[Raw]]


@dataclass
class Pair:
    a: Signaling
    b: Signaling


@asynccontextmanager
async def open_pair(dsn: str, resume_window: float) -> AsyncIterator[Pair]:
    """Replicas ``a`` and ``b`` on one database, each serving signaling on loopback."""
    issuer = TokenIssuer.generate("k1")
    async with AsyncExitStack() as stack:
        replicas = []
        for name in ("a", "b"):
            relay = await stack.enter_async_context(PostgresRelay(dsn, replica=name, sweep_every=0.2))
            audit = AuditLog()
            config = SignalingConfig(
                verifier=TokenVerifier(issuer.public_keys()),
                audit=audit,
                relay=relay,
                resume_window=resume_window,
            )
            app = create_app(config)
            server = await stack.enter_async_context(LocalServer(app))
            replicas.append(Signaling(server, issuer, audit, config, app.state.hub))
        yield Pair(*replicas)


@pytest.fixture
async def pair(postgres_dsn: str) -> AsyncIterator[Pair]:
    async with open_pair(postgres_dsn, resume_window=1.0) as opened:
        yield opened


async def next_of(client: Raw, kind: str, timeout: float = 30.0) -> dict[str, Any]:
    """The next message of ``kind`` (skipping others: rosters, pongs)."""
    async with asyncio.timeout(timeout):
        while True:
            message = await client.recv(timeout)
            if message["type"] == kind:
                return message


async def roster_until(client: Raw, check: Callable[[list[dict[str, Any]]], bool]) -> list[dict[str, Any]]:
    while True:
        roster = (await next_of(client, "roster"))["participants"]
        if check(roster):
            return list(roster)


async def test_an_offer_larger_than_a_notification_crosses_replicas_whole(
    pair: Pair,
    raw_client: RawFactory,  # noqa: F811
) -> None:
    sdp = "v=0\r\n" + "a=candidate:" + "x" * 40_000 + "\r\n"  # past NOTIFY's 8000 bytes
    async with raw_client(pair.a.url()) as room, raw_client(pair.b.url()) as doctor:
        patient = await room.join(pair.a.token("patient"))
        assert patient["state"] == "waiting"
        await doctor.join(pair.b.token("physician"))
        waiting = await roster_until(doctor, lambda r: any(q["state"] == "waiting" for q in r))
        assert [q["id"] for q in waiting if q["state"] == "waiting"] == [patient["participant"]]
        await doctor.send({"type": "admit", "participant": patient["participant"]})
        await next_of(room, "admitted")
        await room.send({"type": "offer", "to": (await doctor_id(doctor, pair)), "sdp": sdp})
        offer = await next_of(doctor, "offer")
        assert offer["sdp"] == sdp
        assert offer["from"] == patient["participant"]
        await doctor.send({"type": "ice", "to": patient["participant"], "candidate": None})
        assert (await next_of(room, "ice"))["from"] != patient["participant"]


async def doctor_id(doctor: Raw, pair: Pair) -> str:
    hub = pair.b.hub
    (participant,) = [q for q in hub.local.values() if q.claims.role == "physician"]
    return str(participant.id)


async def test_deny_remove_and_end_reach_the_other_replica_and_stay_in_force(
    pair: Pair,
    raw_client: RawFactory,  # noqa: F811
) -> None:
    async with (
        raw_client(pair.a.url()) as first,
        raw_client(pair.a.url()) as second,
        raw_client(pair.b.url()) as doctor,
    ):
        one = await first.join(pair.a.token("patient", subject="p-1"))
        two = await second.join(pair.a.token("companion", subject="c-2"))
        await doctor.join(pair.b.token("physician"))
        await roster_until(doctor, lambda r: len(r) == 3)
        # deny on B closes the companion's socket on A with 4403
        await doctor.send({"type": "deny", "participant": two["participant"], "reason": "not today"})
        assert (await next_of(second, "denied"))["reason"] == "not today"
        assert await second.closed_with(timeout=30) == 4403
        # remove on B: the patient on A is told and closed, and cannot come back on B
        await doctor.send({"type": "admit", "participant": one["participant"]})
        await next_of(first, "admitted")
        await doctor.send({"type": "remove", "participant": one["participant"], "reason": "wrong room"})
        assert (await next_of(first, "removed"))["reason"] == "wrong room"
        assert await first.closed_with(timeout=30) == 4410
    async with raw_client(pair.b.url()) as again:
        await again.send({"type": "join", "v": 1, "token": pair.b.token("patient", subject="p-1")})
        refused = await next_of(again, "error")
        assert (refused["code"], refused["reason"]) == ("token", "expired")


async def test_an_ended_visit_cannot_be_joined_on_either_replica(pair: Pair, raw_client: RawFactory) -> None:  # noqa: F811
    async with raw_client(pair.a.url()) as room, raw_client(pair.b.url()) as doctor:
        await room.join(pair.a.token("patient"))
        await doctor.join(pair.b.token("physician"))
        await doctor.send({"type": "end"})
        assert (await next_of(room, "ended"))["type"] == "ended"
        assert await room.closed_with(timeout=30) == 1000
    for side in (pair.a, pair.b):
        async with raw_client(side.url()) as late:
            await late.send({"type": "join", "v": 1, "token": side.token("patient")})
            assert (await next_of(late, "error"))["reason"] == "expired"


async def test_a_dropped_participant_resumes_on_the_other_replica_or_leaves_after_the_window(
    pair: Pair,
    raw_client: RawFactory,  # noqa: F811
) -> None:
    token = pair.a.token("patient")
    async with raw_client(pair.b.url()) as doctor:
        await doctor.join(pair.b.token("physician"))
        async with raw_client(pair.a.url()) as room:
            welcome = await room.join(token)
            await roster_until(doctor, lambda r: len(r) == 2)
            # the same token cannot join twice, even on the other replica
            async with raw_client(pair.b.url()) as twin:
                await twin.send({"type": "join", "v": 1, "token": token})
                assert (await next_of(twin, "error"))["reason"] == "already_connected"
        # the socket on A dropped: the place waits for a resume, which B accepts
        await roster_until(doctor, lambda r: any(q["state"] == "disconnected" for q in r))
        async with raw_client(pair.b.url()) as room:
            resumed = await room.join(token, resume=welcome["resume"])
            assert (resumed["participant"], resumed["state"]) == (welcome["participant"], "waiting")
        # dropped again and not resumed: after the window the place is gone
        await roster_until(doctor, lambda r: len(r) == 1)
    actions = [entry.action.value for entry in pair.b.audit]
    assert actions.count("resumed") == 1
    refused = [entry.detail for entry in pair.b.audit if entry.action.value == "token_refused"]
    assert refused == [{"participant": "already_connected"}]  # the second connection, audited on B
    assert "left" in [entry.action.value for entry in [*pair.a.audit, *pair.b.audit]]


async def resume(
    stack: AsyncExitStack, open_client: RawFactory, url: str, token: str, key: str
) -> tuple[Raw, dict[str, Any]]:
    """Join with the resume key as the real client does: again while the server has not
    yet noticed the drop (``already_connected``; ``SignalingClient._resume``)."""
    async with asyncio.timeout(30):
        while True:
            client = await stack.enter_async_context(open_client(url))
            await client.send({"type": "join", "v": 1, "token": token, "resume": key})
            answer = await next_of_any(client, {"welcome", "error"})
            if answer["type"] == "welcome":
                return client, answer
            assert answer["reason"] == "already_connected", answer
            await asyncio.sleep(0.05)  # the client's first resume delay


async def next_of_any(client: Raw, kinds: set[str]) -> dict[str, Any]:
    while True:
        message = await client.recv(30)
        if message["type"] in kinds:
            return message


async def test_after_postgresql_ended_every_session_the_replicas_listen_again_and_the_visit_goes_on(
    postgres_dsn: str,
    raw_client: RawFactory,  # noqa: F811
) -> None:
    """PostgreSQL ends all of the hub's sessions, as its restart does (``pg_terminate_backend``:
    the clients get the same "terminating connection due to administrator command" a fast
    shutdown sends). Each replica is unready while it reconnects, then closes its
    participants with 1012 so they resume; the visit works across the replicas again."""
    async with open_pair(postgres_dsn, resume_window=30.0) as pair:
        relays = [pair.a.config.relay, pair.b.config.relay]
        patient_token, physician_token = pair.a.token("patient"), pair.b.token("physician")
        async with raw_client(pair.a.url()) as room, raw_client(pair.b.url()) as doctor:
            patient = await room.join(patient_token)
            physician = await doctor.join(physician_token)
            await roster_until(doctor, lambda r: len(r) == 2)
            ended = await end_every_session(postgres_dsn)
            assert ended >= 4  # each replica's listener and sender at least
            # both sides are told to resume elsewhere (1012 is not a final close code)
            assert await room.closed_with(timeout=30) == 1012
            assert await doctor.closed_with(timeout=30) == 1012
        for relay in relays:
            assert isinstance(relay, PostgresRelay)
            assert relay.reconnects == 1
            assert await relay.alive()
        # they resume, each on the other replica, in the same places
        async with AsyncExitStack() as stack:
            room, again = await resume(stack, raw_client, pair.b.url(), patient_token, patient["resume"])
            assert (again["participant"], again["state"]) == (patient["participant"], "waiting")
            doctor, back = await resume(stack, raw_client, pair.a.url(), physician_token, physician["resume"])
            assert back["participant"] == physician["participant"]
            await roster_until(doctor, lambda r: [q["state"] for q in r].count("waiting") == 1)
            await doctor.send({"type": "admit", "participant": patient["participant"]})
            await next_of(room, "admitted")
            await room.send({"type": "offer", "to": physician["participant"], "sdp": "v=0\r\n"})
            assert (await next_of(doctor, "offer"))["from"] == patient["participant"]
    assert "resumed" in [entry.action.value for entry in [*pair.a.audit, *pair.b.audit]]
