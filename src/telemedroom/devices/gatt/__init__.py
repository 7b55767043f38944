"""Bluetooth SIG health profiles: characteristic bytes to :class:`~telemedroom.Measurement` and back.

One module per profile (``blood_pressure``, ``heart_rate``, ``health_thermometer``,
``pulse_oximeter``, ``weight_scale``, ``glucose``, ``device_information``, ``battery``,
``current_time``, ``record_access``, ``user_data``), each a set of pure functions.
This package adds the dispatch by UUID (:func:`decode`, :func:`encode`) and a small
stateful :class:`Decoder` for a live connection, which joins what belongs together
(glucose contexts, the thermometer's fixed site, the Device Information).

Examples:
    >>> from telemedroom.devices import gatt
    >>> bp = gatt.decode("2a35", bytes.fromhex("00 7800 5000 5900"))
    >>> bp.systolic, bp.diastolic
    (120.0, 80.0)
    >>> gatt.encode(bp).hex()
    '00780050005900'
"""

from __future__ import annotations

from telemedroom.devices.gatt import (
    battery,
    blood_pressure,
    current_time,
    device_information,
    glucose,
    health_thermometer,
    heart_rate,
    pulse_oximeter,
    record_access,
    user_data,
    weight_scale,
)
from telemedroom.devices.gatt._decoder import Decoder
from telemedroom.devices.gatt._dispatch import (
    MEASUREMENT_CHARACTERISTICS,
    characteristic_of,
    decode,
    encode,
)
from telemedroom.devices.gatt._wire import short_uuid

__all__ = [
    "MEASUREMENT_CHARACTERISTICS",
    "Decoder",
    "battery",
    "blood_pressure",
    "characteristic_of",
    "current_time",
    "decode",
    "device_information",
    "encode",
    "glucose",
    "health_thermometer",
    "heart_rate",
    "pulse_oximeter",
    "record_access",
    "short_uuid",
    "user_data",
    "weight_scale",
]

for _function in (Decoder, characteristic_of, decode, encode, short_uuid):
    _function.__module__ = __name__
del _function
