"""The FHIR servers the tests write the record to: Medplum's engine and the strict fake.

``fhir_server`` is parametrized over both, so a test that takes it runs twice: once
against Medplum's FHIR router under Node (a server this project did not write; every
written resource validated against R4 by ``@medplum/core``), once against
:class:`~telemedroom.testing.FakeFhirServer` in its strict profile (HAPI's referential
integrity, Medplum's transaction limits, no update-as-create).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from tests._medplum_server import MedplumServer, MedplumUnavailable
from tests._system import missing_system_part

from telemedroom.fhir import FhirClient, Retry
from telemedroom.testing import FakeFhirServer


@dataclass
class ServerUnderTest:
    """One FHIR server of the test: where it is, how to reach it, what it holds."""

    name: str
    base_url: str
    transport: httpx.AsyncBaseTransport | None
    medplum: MedplumServer | None = None
    fake: FakeFhirServer | None = None

    def client(self, **kwargs: Any) -> FhirClient:
        """A client of this server (one try per request unless ``retry`` is given)."""
        kwargs.setdefault("retry", Retry(attempts=1))
        return FhirClient(self.base_url, transport=self.transport, **kwargs)

    def resources(self, resource_type: str) -> list[dict[str, Any]]:
        """Everything of one type the server holds."""
        if self.fake is not None:
            return self.fake.resources(resource_type)
        assert self.medplum is not None
        return self.medplum.all_of(resource_type)

    def unresolved_references(self, types: tuple[str, ...]) -> list[str]:
        """Every relative reference (``Type/id``) in the held resources that does not resolve."""
        held = {(kind, r["id"]) for kind in types for r in self.resources(kind)}
        kinds = set(types)
        missing = []
        for kind in types:
            for resource in self.resources(kind):
                for ref in _references(resource):
                    target, _sep, rid = ref.partition("/")
                    if target not in kinds:
                        held |= {(target, r["id"]) for r in self.resources(target)}
                        kinds.add(target)
                    if (target, rid) not in held:
                        missing.append(f"{kind}/{resource['id']} -> {ref}")
        return missing


def _references(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("reference")
        if isinstance(ref, str) and not ref.startswith(("#", "urn:", "http")) and "/" in ref:
            yield ref
        for value in node.values():
            yield from _references(value)
    elif isinstance(node, list):
        for item in node:
            yield from _references(item)


@pytest.fixture(scope="session")
def medplum_process() -> Iterator[MedplumServer]:
    """One Node process with Medplum's FHIR engine for the whole session (it loads slowly)."""
    server = MedplumServer()
    try:
        server.start()
    except MedplumUnavailable as exc:
        missing_system_part(f"Medplum's FHIR engine cannot run: {exc}")
    yield server
    server.stop()


@pytest.fixture
def medplum(medplum_process: MedplumServer) -> MedplumServer:
    """Medplum's FHIR engine, emptied for this test."""
    medplum_process.reset()
    return medplum_process


@pytest.fixture
def strict_fake() -> FakeFhirServer:
    """The fake FHIR server with every real server's rule switched on."""
    return FakeFhirServer(strict=True)


@pytest.fixture(params=["medplum", "strict-fake"])
def fhir_server(request: pytest.FixtureRequest) -> ServerUnderTest:
    """Medplum's engine, then the strict fake: the same test against both."""
    if request.param == "medplum":
        server: MedplumServer = request.getfixturevalue("medplum")
        return ServerUnderTest("medplum", server.base_url, None, medplum=server)
    fake = FakeFhirServer(strict=True)
    return ServerUnderTest("strict-fake", fake.base_url, fake.transport(), fake=fake)


@pytest.fixture(scope="session")
def medplum_set_id_process() -> Iterator[MedplumServer]:
    """Medplum's FHIR engine as a project admin's client meets it: it may set ids (update-as-create)."""
    server = MedplumServer(allow_set_id=True)
    try:
        server.start()
    except MedplumUnavailable as exc:
        missing_system_part(f"Medplum's FHIR engine cannot run: {exc}")
    yield server
    server.stop()


@pytest.fixture(params=["medplum-set-id", "strict-fake-set-id"])
def update_create_server(request: pytest.FixtureRequest) -> ServerUnderTest:
    """A server with Medplum's limits that does update-as-create: Medplum's engine, then the fake."""
    if request.param == "medplum-set-id":
        server: MedplumServer = request.getfixturevalue("medplum_set_id_process")
        server.reset()
        return ServerUnderTest("medplum-set-id", server.base_url, None, medplum=server)
    fake = FakeFhirServer(strict=True, update_create=True)
    return ServerUnderTest("strict-fake-set-id", fake.base_url, fake.transport(), fake=fake)
