"""Test helpers shipped for integrators: fakes of what tests cannot reach.

``FakeFhirServer`` is an in-process FHIR R4 server (an httpx transport) to test code
that uploads readings without a hospital's server.

Examples:
    >>> from telemedroom.testing import FakeFhirServer
    >>> FakeFhirServer().base_url
    'https://fhir.example/r4'
"""

from __future__ import annotations

from telemedroom.testing._fhir_server import FakeFhirServer

__all__ = ["FakeFhirServer"]

FakeFhirServer.__module__ = __name__
