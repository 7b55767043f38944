"""FhirClient against FakeFhirServer (a fake: an in-process FHIR R4 server on httpx MockTransport)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from telemedroom import BloodPressure, DeviceInfo, HeartRate
from telemedroom.errors import (
    FhirConnectionError,
    FhirMappingError,
    FhirServerError,
    PreconditionFailed,
    ResourceConflict,
    ResourceGone,
    ResourceNotFound,
)
from telemedroom.fhir import BearerToken, FhirClient, Retry, from_bundle, to_transaction
from telemedroom.testing import FakeFhirServer

T0 = datetime(2026, 11, 24, 8, 15, tzinfo=UTC)
DEVICE = DeviceInfo(manufacturer="Acme", system_id="00-1B-2C-FF-FE-3D-4E-5F")


class RecordingSleep:
    """Records the waits the client asks for, instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def server() -> FakeFhirServer:
    return FakeFhirServer()


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


def client(server: FakeFhirServer, sleep: RecordingSleep | None = None, **kwargs: object) -> FhirClient:
    retry = Retry(attempts=4, backoff=0.25, sleep=sleep or RecordingSleep())
    return FhirClient(server.base_url, transport=server.transport(), retry=retry, **kwargs)  # type: ignore[arg-type]


async def test_capabilities_read_create_update(server: FakeFhirServer) -> None:
    async with client(server) as fhir:
        assert (await fhir.capabilities()).fhirVersion == "4.0.1"
        created = await fhir.create({"resourceType": "Patient", "active": True})
        assert created.id is not None
        assert created.meta.versionId == "1"
        created.active = False
        updated = await fhir.update(created, if_match="1")
        assert updated.meta.versionId == "2"
        assert (await fhir.read("Patient", created.id)).active is False


async def test_errors_carry_operation_outcome_and_status(server: FakeFhirServer) -> None:
    async with client(server) as fhir:
        with pytest.raises(ResourceNotFound) as info:
            await fhir.read("Observation", "nope")
        err = info.value
        assert err.status == 404
        assert err.method == "GET"
        assert err.url.endswith("/Observation/nope")
        assert err.issues[0].code == "not-found"
        assert err.outcome is not None
        assert err.outcome["resourceType"] == "OperationOutcome"

        with pytest.raises(FhirServerError) as bad:
            await fhir.create({"resourceType": "Observation", "status": "final"})  # no code: invalid
        assert bad.value.status == 400
        assert bad.value.issues[0].code == "invalid"
        assert "code" in (bad.value.issues[0].diagnostics or "")


async def test_gone_and_precondition_and_conflict(server: FakeFhirServer) -> None:
    async with client(server) as fhir:
        patient = await fhir.create({"resourceType": "Patient"})
        assert patient.id is not None
        stale = patient.model_copy()
        await fhir.update(patient, if_match="1")
        with pytest.raises(PreconditionFailed):
            await fhir.update(stale, if_match="1")
        await fhir.request("DELETE", f"Patient/{patient.id}")
        with pytest.raises(ResourceGone) as gone:
            await fhir.read("Patient", patient.id)
        assert gone.value.status == 410
        server.fail_next(409)
        with pytest.raises(ResourceConflict):
            await fhir.create({"resourceType": "Patient"})


async def test_conditional_create_does_not_duplicate(server: FakeFhirServer) -> None:
    device = {"resourceType": "Device", "identifier": [{"system": "urn:x", "value": "a|b"}]}
    condition = "identifier=urn:x|a\\|b"
    async with client(server) as fhir:
        first = await fhir.create(device, if_none_exist=condition)
        second = await fhir.create(device, if_none_exist=condition)
        assert first.id == second.id
        assert len(server.resources("Device")) == 1
        await fhir.create(device)  # unconditional: a second one
        with pytest.raises(PreconditionFailed):
            await fhir.create(device, if_none_exist=condition)


async def test_search_follows_next_links(server: FakeFhirServer) -> None:
    async with client(server) as fhir:
        for n in range(7):
            await fhir.create({"resourceType": "Patient", "id": str(n), "birthDate": f"200{n}-01-01"})
        found = [p async for p in fhir.search("Patient", {"_count": "3"})]
    assert len(found) == 7
    pages = [path for method, path in server.requests if method == "GET" and path == "Patient"]
    assert len(pages) == 3


async def test_search_of_unknown_parameter_is_a_typed_error(server: FakeFhirServer) -> None:
    async with client(server) as fhir:
        with pytest.raises(FhirServerError) as info:
            _ = [r async for r in fhir.search("Observation", {"flavour": "mint"})]
    assert info.value.status == 400


async def test_transaction_round_trip_and_idempotence(server: FakeFhirServer) -> None:
    readings = [
        BloodPressure(systolic=120, diastolic=80, pulse_rate=61, measured_at=T0, device=DEVICE),
        HeartRate(bpm=70, measured_at=T0, device=DEVICE),
    ]
    bundle = to_transaction(readings, patient="Patient/p1", received_at=T0)
    async with client(server) as fhir:
        answer = await fhir.transaction(bundle)
        assert answer.type == "transaction-response"
        assert [e.response.status for e in answer.entry] == ["201 Created"] * 5
        again = await fhir.transaction(bundle)
        assert [e.response.status for e in again.entry][:4] == ["200 OK"] * 4
        observations = [o async for o in fhir.search("Observation", {"subject": "Patient/p1"})]
    assert len(observations) == 3
    assert len(server.resources("Device")) == 1
    # urn:uuid references were resolved to the server's ids
    device_id = server.resources("Device")[0]["id"]
    assert {o.device.reference for o in observations} == {f"Device/{device_id}"}
    stored = {"resourceType": "Bundle", "type": "collection", "entry": []}
    stored["entry"] = [
        {"fullUrl": f"{server.base_url}/{r['resourceType']}/{r['id']}", "resource": r}
        for r in server.resources("Device") + server.resources("Observation")
    ]
    assert from_bundle(stored) == readings


async def test_retries_honour_retry_after(server: FakeFhirServer, sleep: RecordingSleep) -> None:
    server.fail_next(429, times=2, retry_after="3")
    async with client(server, sleep) as fhir:
        await fhir.capabilities()
    assert sleep.delays == [3.0, 3.0]


async def test_retries_back_off_then_give_up(server: FakeFhirServer, sleep: RecordingSleep) -> None:
    server.fail_next(503, times=4)
    async with client(server, sleep) as fhir:
        with pytest.raises(FhirServerError) as info:
            await fhir.read("Patient", "x")
    assert info.value.status == 503
    assert len(sleep.delays) == 3
    assert sleep.delays[0] < sleep.delays[1] < sleep.delays[2]


async def test_unconditional_create_is_not_retried(server: FakeFhirServer, sleep: RecordingSleep) -> None:
    server.fail_next(503)
    async with client(server, sleep) as fhir:
        with pytest.raises(FhirServerError):
            await fhir.create({"resourceType": "Patient"})
        assert sleep.delays == []
        # a transaction with a plain POST is not retried either
        server.fail_next(503)
        plain = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {"resource": {"resourceType": "Patient"}, "request": {"method": "POST", "url": "Patient"}}
            ],
        }
        with pytest.raises(FhirServerError):
            await fhir.transaction(plain)
        assert sleep.delays == []


async def test_unreachable_server_is_a_connection_error(
    server: FakeFhirServer, sleep: RecordingSleep
) -> None:
    server.unreachable = True
    async with client(server, sleep) as fhir:
        with pytest.raises(FhirConnectionError) as info:
            await fhir.read("Patient", "x")
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert len(sleep.delays) == 3


async def test_bearer_token_is_sent_only_to_the_server() -> None:
    seen: list[tuple[str, str | None]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.host, request.headers.get("Authorization")))
        if request.url.host == "fhir.example":
            page = {"resourceType": "Bundle", "type": "searchset", "entry": []}
            page["link"] = [{"relation": "next", "url": "https://elsewhere.example/Patient?page=2"}]
            return httpx.Response(200, json=page)
        return httpx.Response(200, json={"resourceType": "Bundle", "type": "searchset"})

    transport = httpx.MockTransport(handler)
    async with FhirClient("https://fhir.example", auth=BearerToken("t0k"), transport=transport) as fhir:
        _ = [r async for r in fhir.search("Patient")]
    assert seen == [("fhir.example", "Bearer t0k"), ("elsewhere.example", None)]


async def test_bad_input_is_a_mapping_error_before_anything_is_sent(server: FakeFhirServer) -> None:
    async with client(server) as fhir:
        with pytest.raises(FhirMappingError):
            await fhir.create(b"<Patient/>")
        with pytest.raises(FhirMappingError):
            await fhir.create({"active": True})
        with pytest.raises(FhirMappingError):
            await fhir.update({"resourceType": "Patient"})
    assert server.requests == []


async def test_non_fhir_answer_is_a_mapping_error() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={"hello": "world"}))
    async with FhirClient("https://fhir.example", transport=transport) as fhir:
        with pytest.raises(FhirMappingError):
            await fhir.read("Patient", "1")
