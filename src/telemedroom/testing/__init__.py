"""Test helpers shipped for integrators: a virtual Bluetooth radio and virtual health devices.

Nothing here needs hardware. :class:`BumbleBackend` is an in-memory Bluetooth LE radio
built from bumble virtual controllers, and a bleak backend, so
:class:`~telemedroom.devices.DeviceManager` runs its real code path against it; the
virtual devices are real GATT servers on that radio. Needs the ``sim`` and ``ble``
extras (``pip install 'telemedroom[sim,ble]'``); importing this package does not.

Examples:
    >>> from telemedroom import BloodPressure
    >>> from telemedroom.testing import Faults, VirtualBloodPressureCuff
    >>> reading = BloodPressure(systolic=120, diastolic=80)
    >>> cuff = VirtualBloodPressureCuff([reading], faults=Faults(drop_after=1))
    >>> cuff.faults.drop_after
    1
"""

from __future__ import annotations

from telemedroom.testing._bumble_backend import BumbleBackend
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
    "Faults",
    "VirtualBloodPressureCuff",
    "VirtualDevice",
    "VirtualGlucometer",
    "VirtualHeartRateStrap",
    "VirtualPulseOximeter",
    "VirtualThermometer",
    "VirtualWeightScale",
]

for _cls in (
    BumbleBackend,
    Faults,
    VirtualBloodPressureCuff,
    VirtualDevice,
    VirtualGlucometer,
    VirtualHeartRateStrap,
    VirtualPulseOximeter,
    VirtualThermometer,
    VirtualWeightScale,
):
    _cls.__module__ = __name__
del _cls
