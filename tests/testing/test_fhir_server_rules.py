"""The strict fake follows the real servers' rules, each checked against Medplum's engine where it is its.

Each rule runs against both servers (``fhir_server``): Medplum's FHIR router from npm
under Node, and :class:`~telemedroom.testing.FakeFhirServer` in its strict profile. The
fake answering as Medplum does is what makes the fake worth testing with. HAPI's
referential integrity is checked on the fake alone: Medplum does not enforce it.
"""

from __future__ import annotations

from typing import Any

import pytest
from tests._fhir_servers import ServerUnderTest

from telemedroom.errors import FhirServerError, PreconditionFailed, ResourceNotFound
from telemedroom.testing import FakeFhirServer


def device(n: int) -> dict[str, Any]:
    return {"resourceType": "Device", "identifier": [{"system": "urn:test:device", "value": str(n)}]}


def conditional_create(n: int) -> dict[str, Any]:
    return {
        "fullUrl": f"urn:uuid:00000000-0000-4000-8000-{n:012d}",
        "resource": device(n),
        "request": {"method": "POST", "url": "Device", "ifNoneExist": f"identifier=urn:test:device|{n}"},
    }


def transaction(entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def said(error: FhirServerError) -> str:
    return " ".join(issue.diagnostics or "" for issue in error.issues)


async def test_eight_conditional_entries_fit_in_one_transaction(fhir_server: ServerUnderTest) -> None:
    async with fhir_server.client() as fhir:
        await fhir.transaction(transaction([conditional_create(n) for n in range(8)]))
    assert len(fhir_server.resources("Device")) == 8


async def test_nine_entries_with_a_conditional_one_are_refused(fhir_server: ServerUnderTest) -> None:
    """Medplum, fhir-router batch.ts: maxSerializableTransactionEntries = 8."""
    entries = [conditional_create(0)] + [
        {"resource": device(n), "request": {"method": "POST", "url": "Device"}} for n in range(1, 9)
    ]
    async with fhir_server.client() as fhir:
        with pytest.raises(FhirServerError) as refused:
            await fhir.transaction(transaction(entries))
    assert refused.value.status == 400
    assert "Transaction requires strict isolation but has too many entries" in said(refused.value)
    assert fhir_server.resources("Device") == []


async def test_more_than_fifty_updates_are_refused(fhir_server: ServerUnderTest) -> None:
    """Medplum, fhir-router batch.ts: maxUpdates = 50."""
    entries = [
        {"resource": {**device(n), "id": f"d{n}"}, "request": {"method": "PUT", "url": f"Device/d{n}"}}
        for n in range(51)
    ]
    async with fhir_server.client() as fhir:
        with pytest.raises(FhirServerError) as refused:
            await fhir.transaction(transaction(entries))
    assert refused.value.status == 400
    assert "Transaction contains more update operations than allowed" in said(refused.value)


async def test_a_put_to_an_unknown_id_is_not_a_create(fhir_server: ServerUnderTest) -> None:
    """Medplum's server for a client application (repo.ts checkExistingResource; updateCreate: false)."""
    async with fhir_server.client() as fhir:
        with pytest.raises(ResourceNotFound):
            await fhir.update({**device(1), "id": "chosen-by-the-client"})
        capabilities = await fhir.capabilities()
    declared = {r.type: r.updateCreate for r in capabilities.rest[0].resource or ()}
    assert declared["Device"] is False


async def test_a_conditional_update_creates_then_updates_by_identifier(fhir_server: ServerUnderTest) -> None:
    entry = {
        "resource": {**device(1), "status": "active"},
        "request": {"method": "PUT", "url": "Device?identifier=urn:test:device|1"},
    }
    changed = {**entry, "resource": {**device(1), "status": "inactive"}}
    async with fhir_server.client() as fhir:
        await fhir.transaction(transaction([entry]))
        await fhir.transaction(transaction([changed]))
    (held,) = fhir_server.resources("Device")
    assert held["status"] == "inactive"


async def test_if_none_exist_matching_two_resources_is_412(fhir_server: ServerUnderTest) -> None:
    """FHIR R4 http.html §3.1.0.8 (conditional create): multiple matches fail with 412."""
    async with fhir_server.client() as fhir:
        await fhir.create(device(7))
        await fhir.create(device(7))
        with pytest.raises(PreconditionFailed):
            await fhir.create(device(7), if_none_exist="identifier=urn:test:device|7")


async def test_a_reference_that_does_not_resolve_is_refused_as_hapi_does() -> None:
    """HAPI FHIR JPA: referential integrity on write (on by default). Medplum does not enforce it."""
    from telemedroom.fhir import FhirClient

    server = FakeFhirServer(strict=True)
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "weight"},
        "subject": {"reference": "Patient/nobody"},
    }
    async with FhirClient(server.base_url, transport=server.transport()) as fhir:
        with pytest.raises(FhirServerError) as refused:
            await fhir.create(observation)
        patient = await fhir.create({"resourceType": "Patient"})
        await fhir.create({**observation, "subject": {"reference": f"Patient/{patient.id}"}})
    assert refused.value.status == 400
    assert "Resource Patient/nobody not found, specified in path: Observation.subject" in said(refused.value)
    assert len(server.resources("Observation")) == 1
