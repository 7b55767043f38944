"""Test helpers shipped for integrators: fakes of what tests cannot reach.

Nothing here needs hardware or a hospital:

- :class:`BumbleBackend` is an in-memory Bluetooth LE radio built from bumble virtual
  controllers, and a bleak backend, so :class:`~telemedroom.devices.DeviceManager` runs
  its real code path against it; the virtual devices are real GATT servers on that radio.
  Needs the ``sim`` and ``ble`` extras (``pip install 'telemedroom[sim,ble]'``); importing
  this package does not.
- :class:`FakeFhirServer` is an in-process FHIR R4 server (an httpx transport) to test
  code that uploads readings without a hospital's server.

Examples:
    >>> from telemedroom import BloodPressure
    >>> from telemedroom.testing import FakeFhirServer, Faults, VirtualBloodPressureCuff
    >>> reading = BloodPressure(systolic=120, diastolic=80)
    >>> cuff = VirtualBloodPressureCuff([reading], faults=Faults(drop_after=1))
    >>> cuff.faults.drop_after
    1
    >>> FakeFhirServer().base_url
    'https://fhir.example/r4'
"""

from __future__ import annotations

from telemedroom.testing._bumble_backend import BumbleBackend
from telemedroom.testing._clock import SimulatedClock
from telemedroom.testing._fhir_server import FakeFhirServer
from telemedroom.testing._virtual_devices import (
    Faults,
    VirtualBloodPressureCuff,
    VirtualDevice,
    VirtualGlucometer,
    VirtualHeartRateStrap,
    VirtualPulseOximeter,
    VirtualThermometer,
    VirtualWeightScale,
)

__all__ = [
    "BumbleBackend",
    "FakeFhirServer",
    "Faults",
    "VirtualBloodPressureCuff",
    "VirtualDevice",
    "VirtualGlucometer",
    "VirtualHeartRateStrap",
    "VirtualPulseOximeter",
    "VirtualThermometer",
    "VirtualWeightScale",
    # the health apartment (issue 17)
    "SimulatedClock",
]

for _cls in (
    BumbleBackend,
    FakeFhirServer,
    Faults,
    VirtualBloodPressureCuff,
    VirtualDevice,
    VirtualGlucometer,
    VirtualHeartRateStrap,
    VirtualPulseOximeter,
    VirtualThermometer,
    VirtualWeightScale,
    SimulatedClock,
):
    _cls.__module__ = __name__
del _cls
