"""SMART Backend Services against FakeFhirServer's token endpoint (a fake that verifies JWT signatures)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from telemedroom import HeartRate
from telemedroom.errors import FhirAuthError, FhirConnectionError
from telemedroom.fhir import FhirClient, Outbox, Retry, SmartBackendAuth, transaction_json
from telemedroom.testing import FakeFhirServer


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


def claims(jwt: str) -> dict[str, object]:
    body = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


@pytest.mark.parametrize(("make_key", "alg"), [(rsa_key, "RS384"), (ec_key, "ES384")])
async def test_token_is_discovered_fetched_cached_and_used(make_key: object, alg: str) -> None:
    key = make_key()  # type: ignore[operator]
    server = FakeFhirServer(require_auth=True)
    server.register_client("room-1", key.public_key())
    auth = SmartBackendAuth("room-1", key, key_id="k1", scope="system/Observation.c")
    assert auth.algorithm == alg
    async with FhirClient(server.base_url, auth=auth, transport=server.transport()) as fhir:
        await fhir.create({"resourceType": "Patient"})
        await fhir.create({"resourceType": "Patient"})
    assert auth.token_endpoint == server.token_endpoint
    token_calls = [path for _method, path in server.requests if path == "auth/token"]
    assert len(token_calls) == 1  # cached
    assert len(server.resources("Patient")) == 2


async def test_expired_token_is_renewed_after_401() -> None:
    key = rsa_key()
    server = FakeFhirServer(require_auth=True)
    server.register_client("room-1", key.public_key())
    auth = SmartBackendAuth("room-1", key, key_id="k1")
    async with FhirClient(server.base_url, auth=auth, transport=server.transport()) as fhir:
        await fhir.create({"resourceType": "Patient"})
        server.expire_tokens()
        await fhir.create({"resourceType": "Patient"})
    assert [p for _m, p in server.requests].count("auth/token") == 2


async def test_token_is_renewed_before_expiry() -> None:
    key = ec_key()
    server = FakeFhirServer(require_auth=True, token_lifetime=20)
    server.register_client("room-1", key.public_key())
    auth = SmartBackendAuth("room-1", key, key_id="k1", refresh_margin=30)
    async with FhirClient(server.base_url, auth=auth, transport=server.transport()) as fhir:
        await fhir.create({"resourceType": "Patient"})
        await fhir.create({"resourceType": "Patient"})
    # lifetime 20 s < margin 30 s: every request renews first, none gets a 401
    assert [p for _m, p in server.requests].count("auth/token") == 2


async def test_wrong_key_is_refused_with_the_servers_reason() -> None:
    server = FakeFhirServer(require_auth=True)
    server.register_client("room-1", rsa_key().public_key())
    auth = SmartBackendAuth("room-1", rsa_key(), key_id="k1")
    async with FhirClient(server.base_url, auth=auth, transport=server.transport()) as fhir:
        with pytest.raises(FhirAuthError) as info:
            await fhir.create({"resourceType": "Patient"})
    assert info.value.url == server.token_endpoint
    assert "invalid_client" in info.value.reason
    assert "signature" in info.value.reason


async def test_unknown_client_and_missing_discovery() -> None:
    server = FakeFhirServer(require_auth=True)
    auth = SmartBackendAuth("stranger", ec_key(), key_id="k1")
    async with FhirClient(server.base_url, auth=auth, transport=server.transport()) as fhir:
        with pytest.raises(FhirAuthError, match="unknown client"):
            await fhir.capabilities()
    nowhere = FakeFhirServer("https://fhir.example/r4")
    auth = SmartBackendAuth("room-1", ec_key(), key_id="k1")
    async with FhirClient("https://fhir.example/other", auth=auth, transport=nowhere.transport()) as fhir:
        with pytest.raises(FhirAuthError, match="no token_endpoint"):
            await fhir.capabilities()


def test_assertion_claims_follow_smart_backend_services() -> None:
    auth = SmartBackendAuth("room-1", ec_key(), key_id="k1")
    jwt = auth.assertion("https://auth.example/token", now=1_800_000_000)
    body = claims(jwt)
    assert body["iss"] == body["sub"] == "room-1"
    assert body["aud"] == "https://auth.example/token"
    assert body["exp"] == 1_800_000_300
    assert body["jti"] != claims(auth.assertion("https://auth.example/token"))["jti"]
    header = json.loads(base64.urlsafe_b64decode(jwt.split(".")[0] + "=="))
    assert header == {"alg": "ES384", "typ": "JWT", "kid": "k1"}


async def test_replayed_assertion_is_refused() -> None:
    key = rsa_key()
    server = FakeFhirServer(require_auth=True)
    server.register_client("room-1", key.public_key())
    jwt = SmartBackendAuth("room-1", key, key_id="k1").assertion(server.token_endpoint)
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": jwt,
    }
    async with httpx.AsyncClient(transport=server.transport()) as http:
        first = await http.post(server.token_endpoint, data=form)
        second = await http.post(server.token_endpoint, data=form)
    assert first.status_code == 200
    assert second.status_code == 401
    assert second.json()["error"] == "invalid_client"


def test_unsupported_key_is_refused() -> None:
    with pytest.raises(FhirAuthError):
        SmartBackendAuth("room-1", ec.generate_private_key(ec.SECP256R1()), key_id="k1")


async def test_an_unreachable_token_endpoint_is_a_connection_error_and_the_outbox_keeps_the_rows(
    tmp_path: Path,
) -> None:
    """Network down before the first token: the readings stay pending, none is marked rejected."""
    key = ec_key()
    server = FakeFhirServer(require_auth=True)
    server.register_client("room-1", key.public_key())
    auth = SmartBackendAuth("room-1", key, key_id="k1")
    bundle = transaction_json([HeartRate(bpm=61)], patient="Patient/p1")
    async with (
        Outbox(tmp_path / "outbox.sqlite", key=b"k" * 32) as outbox,
        FhirClient(server.base_url, auth=auth, transport=server.transport(), retry=Retry(attempts=1)) as fhir,
    ):
        await outbox.put(bundle, bundle)
        server.unreachable = True
        with pytest.raises(FhirConnectionError) as info:
            await outbox.drain(fhir, max_failures=1)
        assert info.value.url == f"{server.base_url}/.well-known/smart-configuration"
        assert isinstance(info.value.__cause__, httpx.ConnectError)
        assert (await outbox.pending(), await outbox.held_back()) == (2, {})
        server.unreachable = False
        assert (await outbox.drain(fhir)).sent == 2
    assert len(server.resources("Observation")) == 1
