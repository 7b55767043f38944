"""FakeFhirServer itself (a fake FHIR server): persistence, atomic transactions, FHIR errors."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from telemedroom.errors import FhirServerError
from telemedroom.fhir import FhirClient
from telemedroom.testing import FakeFhirServer


def patient_entry(full_url: str, **extra: object) -> dict[str, object]:
    return {
        "fullUrl": full_url,
        "resource": {"resourceType": "Patient", **extra},
        "request": {"method": "POST", "url": "Patient"},
    }


async def test_store_survives_a_new_server_on_the_same_file(tmp_path: Path) -> None:
    path = tmp_path / "fhir.json"
    first = FakeFhirServer(path=path)
    async with FhirClient(first.base_url, transport=first.transport()) as fhir:
        created = await fhir.create({"resourceType": "Patient", "active": True})
    second = FakeFhirServer(path=path)
    assert second.resources("Patient")[0]["id"] == created.id
    async with FhirClient(second.base_url, transport=second.transport()) as fhir:
        again = await fhir.create({"resourceType": "Patient"})
    assert again.id != created.id  # the id counter is persisted too


async def test_transaction_is_all_or_nothing() -> None:
    server = FakeFhirServer()
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            patient_entry("urn:uuid:11111111-1111-1111-1111-111111111111"),
            patient_entry("urn:uuid:22222222-2222-2222-2222-222222222222", birthDate="yesterday"),
        ],
    }
    async with FhirClient(server.base_url, transport=server.transport()) as fhir:
        with pytest.raises(FhirServerError) as info:
            await fhir.transaction(bundle)
    assert info.value.status == 400
    assert server.resources("Patient") == []


async def test_transaction_resolves_urn_references() -> None:
    server = FakeFhirServer()
    patient_url = "urn:uuid:11111111-1111-1111-1111-111111111111"
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "note"},
        "subject": {"reference": patient_url},
    }
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            patient_entry(patient_url),
            {"resource": observation, "request": {"method": "POST", "url": "Observation"}},
        ],
    }
    async with FhirClient(server.base_url, transport=server.transport()) as fhir:
        await fhir.transaction(bundle)
    patient_id = server.resources("Patient")[0]["id"]
    assert server.resources("Observation")[0]["subject"]["reference"] == f"Patient/{patient_id}"


async def test_unknown_paths_and_methods_answer_operation_outcomes() -> None:
    server = FakeFhirServer()
    async with httpx.AsyncClient(transport=server.transport()) as http:
        outside = await http.get("https://fhir.example/elsewhere")
        patch = await http.patch(f"{server.base_url}/Patient/1", content=b"{}")
        not_json = await http.post(f"{server.base_url}/Patient", content=b"<Patient/>")
    assert outside.status_code == 404
    assert patch.status_code == 405
    assert not_json.status_code == 400
    for answer in (outside, patch, not_json):
        assert answer.json()["resourceType"] == "OperationOutcome"


async def test_a_single_identifier_is_indexed_like_a_list() -> None:
    """QuestionnaireResponse.identifier is one Identifier, not a list (FHIR R4)."""
    server = FakeFhirServer()
    response = {
        "resourceType": "QuestionnaireResponse",
        "status": "completed",
        "identifier": {"system": "urn:example:exam", "value": "visit-1"},
    }
    async with FhirClient(server.base_url, transport=server.transport()) as fhir:
        first = await fhir.create(response, if_none_exist="identifier=urn:example:exam|visit-1")
        again = await fhir.create(response, if_none_exist="identifier=urn:example:exam|visit-1")
        found = [r async for r in fhir.search("QuestionnaireResponse", {"identifier": "visit-1"})]
    assert again.id == first.id
    assert [r.id for r in found] == [first.id]
    assert len(server.resources("QuestionnaireResponse")) == 1


async def test_a_transaction_writing_one_resource_twice_fails_whole() -> None:
    """FHIR R4 http §3.1.0.11.2: overlapping resource identities fail the transaction."""
    server = FakeFhirServer()
    put = {"method": "PUT", "url": "Patient/anna"}
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": {"resourceType": "Patient", "id": "anna", "active": True}, "request": put},
            {"resource": {"resourceType": "Patient", "id": "anna", "active": False}, "request": put},
        ],
    }
    async with FhirClient(server.base_url, transport=server.transport()) as fhir:
        with pytest.raises(FhirServerError) as info:
            await fhir.transaction(bundle)
    assert info.value.status == 400
    assert "Patient/anna more than once" in str(info.value)
    assert server.resources("Patient") == []
