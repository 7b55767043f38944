"""Fixtures for the hub tests: a real IdP (Glewlwyd), a real PostgreSQL, the hub over TLS on loopback.

The hub runs in the test's event loop (uvicorn through ``LocalServer``) with a self-signed
certificate for 127.0.0.1, so its ``__Host-``/``Secure`` cookies are real; the browsers
are told to accept that certificate. Its clock is one the test can move (session expiry,
rooms going offline) without sleeping.
"""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID
from tests._system import require_system
from tests.scheduling.conftest import PostgresServer, postgres_dsn, postgres_server  # noqa: F401

from telemedroom._chromium import CHROMIUM_FLAGS, until  # noqa: F401
from telemedroom.hub import Hub, HubConfig, hash_password
from telemedroom.session.signaling import LocalServer

from ._glewlwyd import Glewlwyd, free_port, running_glewlwyd

ROOMS = ("nord-1", "sued-2")
PHYSICIAN = ("dr.weber", "weber-Passw0rd", "Dr. Anna Weber", ["physician"])
OPERATOR = ("op.meier", "meier-Passw0rd", "Jonas Meier", ["operator"])
NURSE = ("n.kurz", "kurz-Passw0rd", "Nina Kurz", ["nurse"])
LOCAL_PASSWORD = "local-Passw0rd"


class MovableClock:
    """Real time plus an offset the test moves forward (no sleeps)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta


@dataclass(frozen=True)
class Keys:
    folder: Path
    cert: Path
    key: Path
    rooms: dict[str, Ed25519PrivateKey]


@pytest.fixture(scope="session")
def hub_port() -> int:
    """One port for every hub of the session: the IdP knows its redirect URI."""
    return free_port()


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    """A self-signed TLS certificate for 127.0.0.1 and one Ed25519 heartbeat key per room."""
    folder = tmp_path_factory.mktemp("hub-keys")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .sign(key, hashes.SHA256())
    )
    (folder / "tls.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "tls.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    rooms = {}
    for room in ROOMS:
        private = Ed25519PrivateKey.generate()
        (folder / f"{room}.pub.pem").write_bytes(
            private.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        rooms[room] = private
    clinic = Ed25519PrivateKey.generate()  # the clinic's join-token key ([tokens])
    (folder / "join-token.pem").write_bytes(
        clinic.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    accounts = folder / "accounts.toml"
    accounts.write_text(
        f'[accounts."op.local"]\nname = "Local Operator"\nroles = ["operator"]\n'
        f'password_hash = "{hash_password(LOCAL_PASSWORD)}"\n',
        encoding="utf-8",
    )
    return Keys(folder, folder / "tls.pem", folder / "tls.key", rooms)


@pytest.fixture(scope="session")
def idp(tmp_path_factory: pytest.TempPathFactory, hub_port: int) -> Iterator[Glewlwyd]:
    """Glewlwyd with a physician, an operator, a nurse (no staff role) and the hub's client."""
    with running_glewlwyd(tmp_path_factory.mktemp("glewlwyd")) as provider:
        provider.add_client("hub", [f"https://127.0.0.1:{hub_port}/auth/callback"])
        for username, password, name, roles in (PHYSICIAN, OPERATOR, NURSE):
            provider.add_user(username, password, name=name, roles=roles)
        yield provider


@dataclass
class RunningHub:
    hub: Hub
    server: LocalServer
    clock: MovableClock
    config_file: Path
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.http_url

    def client(self) -> httpx.AsyncClient:
        """An HTTPS client that trusts the test certificate (no redirects followed)."""
        return httpx.AsyncClient(
            base_url=self.url, verify=ssl.create_default_context(cafile=self.extra["cert"])
        )


def hub_toml(*, port: int, dsn: str, keys: Keys, issuer: str | None, accounts: bool = True) -> str:
    lines = [
        f'public_url = "https://127.0.0.1:{port}"',
        f'database_url = "{dsn}"',
    ]
    if accounts:
        lines.append('accounts_file = "accounts.toml"')
    lines += ["[alerts]", "offline_after_s = 30", "outbox_backlog_max = 100", "battery_low_percent = 20"]
    if issuer is not None:
        lines += ["[oidc]", f'issuer = "{issuer}"', 'client_id = "hub"', 'roles_claim = "roles"']
    lines += ["[session]", "idle_minutes = 30", "lifetime_hours = 8"]
    lines += [
        "[tokens]",
        'signing_key_file = "join-token.pem"',
        'key_id = "clinic-1"',
        "physician_minutes = 60",
    ]
    for room in ROOMS:
        lines += [
            "[[rooms]]",
            f'id = "{room}"',
            f'name = "Room {room}"',
            f'public_key_file = "{room}.pub.pem"',
        ]
    return "\n".join(lines) + "\n"


@pytest.fixture
def hub_factory(
    keys: Keys,
    hub_port: int,
    postgres_dsn: str,  # noqa: F811
) -> Callable[..., AbstractAsyncContextManager[RunningHub]]:
    @asynccontextmanager
    async def start(*, issuer: str | None = None, dsn: str | None = None) -> AsyncIterator[RunningHub]:
        config_file = keys.folder / f"hub-{hub_port}.toml"
        config_file.write_text(hub_toml(port=hub_port, dsn=dsn or postgres_dsn, keys=keys, issuer=issuer))
        clock = MovableClock()
        async with (
            Hub(HubConfig.from_toml(config_file), clock=clock) as hub,
            LocalServer(
                hub.app, port=hub_port, ssl_certfile=str(keys.cert), ssl_keyfile=str(keys.key)
            ) as server,
        ):
            yield RunningHub(hub, server, clock, config_file, {"cert": keys.cert})

    return start


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[Any]:
    """A page in a fresh headless Chromium that accepts the hub's test certificate."""
    chromium = require_system("chromium")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=chromium,
            headless=True,
            args=list(CHROMIUM_FLAGS),
            ignore_https_errors=True,
        )
        try:
            yield context.pages[0] if context.pages else await context.new_page()
        finally:
            await context.close()


async def end_every_session(dsn: str) -> int:
    """End every other session of the database as PostgreSQL's restart does; how many."""
    import asyncpg  # type: ignore[import-untyped]

    admin = await asyncpg.connect(dsn)
    try:
        ended: int = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await admin.close()
    return ended
