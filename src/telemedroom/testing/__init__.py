"""Test helpers shipped for integrators: fakes of what tests cannot reach.

Nothing here needs hardware or a hospital:

- :class:`BumbleBackend` is an in-memory Bluetooth LE radio built from bumble virtual
  controllers, and a bleak backend, so :class:`~telemedroom.devices.DeviceManager` runs
  its real code path against it; the virtual devices are real GATT servers on that radio.
  Needs the ``sim`` and ``ble`` extras (``pip install 'telemedroom[sim,ble]'``); importing
  this package does not.
- :func:`virtual_devices` gives one virtual device of each kind loaded with a plausible
  visit (:func:`sample_readings`), :func:`top_up` the next visit's; the demo uses them.
- :class:`FakeFhirServer` is an in-process FHIR R4 server (an httpx transport) to test
  code that uploads readings without a hospital's server.
- :class:`LocalJanus` starts Debian's real Janus WebRTC Server on loopback with a
  generated configuration (token auth, the VideoRoom, no recording), for multi-party
  visits in tests and benchmarks; it needs ``apt-get install janus``.

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
from telemedroom.testing._janus import LocalJanus
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
from telemedroom.testing._visit_devices import sample_readings, top_up, virtual_devices

__all__ = [
    "BumbleBackend",
    "FakeFhirServer",
    "Faults",
    "LocalJanus",
    "SimulatedClock",
    "VirtualBloodPressureCuff",
    "VirtualDevice",
    "VirtualGlucometer",
    "VirtualHeartRateStrap",
    "VirtualPulseOximeter",
    "VirtualThermometer",
    "VirtualWeightScale",
    "sample_readings",
    "top_up",
    "virtual_devices",
]

# Classes show the short path (reprs, the API reference); functions keep their module.
for _cls in [obj for obj in map(globals().get, __all__) if isinstance(obj, type)]:
    _cls.__module__ = __name__
del _cls
