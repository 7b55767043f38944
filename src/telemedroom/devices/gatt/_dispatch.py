"""Dispatch by characteristic UUID: the one table from UUID to decoder and back."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, tzinfo
from typing import Any

from telemedroom.devices.gatt import (
    blood_pressure,
    glucose,
    health_thermometer,
    heart_rate,
    pulse_oximeter,
    weight_scale,
)
from telemedroom.devices.gatt._wire import fail, short_uuid
from telemedroom.errors import MeasurementEncodeError, UnsupportedCharacteristic
from telemedroom.measurements import (
    BloodGlucose,
    BloodPressure,
    BodyTemperature,
    BodyWeight,
    HeartRate,
    Measurement,
    OxygenSaturation,
)

__all__ = ["MEASUREMENT_CHARACTERISTICS", "characteristic_of", "decode", "encode"]

MeasurementDecoder = Callable[[bytes, tzinfo], Measurement]

# The one table from characteristic to decoder (GATT Specification Supplement).
MEASUREMENT_CHARACTERISTICS: dict[int, MeasurementDecoder] = {
    blood_pressure.BLOOD_PRESSURE_MEASUREMENT: blood_pressure.decode_blood_pressure,
    blood_pressure.INTERMEDIATE_CUFF_PRESSURE: blood_pressure.decode_intermediate_cuff_pressure,
    heart_rate.HEART_RATE_MEASUREMENT: heart_rate.decode_heart_rate,
    health_thermometer.TEMPERATURE_MEASUREMENT: health_thermometer.decode_temperature,
    health_thermometer.INTERMEDIATE_TEMPERATURE: health_thermometer.decode_intermediate_temperature,
    pulse_oximeter.PLX_SPOT_CHECK_MEASUREMENT: pulse_oximeter.decode_plx_spot_check,
    pulse_oximeter.PLX_CONTINUOUS_MEASUREMENT: pulse_oximeter.decode_plx_continuous,
    weight_scale.WEIGHT_MEASUREMENT: weight_scale.decode_weight,
    glucose.GLUCOSE_MEASUREMENT: glucose.decode_glucose,
}

_ENCODERS: dict[type[Measurement], Callable[[Any, tzinfo], bytes]] = {
    BloodPressure: blood_pressure.encode_blood_pressure,
    HeartRate: heart_rate.encode_heart_rate,
    BodyTemperature: health_thermometer.encode_temperature,
    OxygenSaturation: pulse_oximeter.encode_plx,
    BodyWeight: weight_scale.encode_weight,
    BloodGlucose: glucose.encode_glucose,
}


def decode(characteristic_uuid: str | int, data: bytes, *, tz: tzinfo = UTC) -> Measurement:
    """Decode the value of a health measurement characteristic.

    Args:
        characteristic_uuid: ``0x2A35``, ``"2a35"``, ``"0x2A35"`` or
            ``"00002a35-0000-1000-8000-00805f9b34fb"``.
        data: The value as indicated or notified by the device.
        tz: The zone of the device's clock. Devices stamp readings with local wall-clock
            time and no offset; pass the room's zone (``ZoneInfo("Europe/Berlin")``).

    Returns:
        The decoded measurement.

    Raises:
        UnsupportedCharacteristic: No built-in decoder for this UUID.
        MeasurementDecodeError: The bytes do not follow the profile (truncated, trailing
            bytes, impossible date, ...), or a Glucose Measurement Context arrived
            alone (use :class:`Decoder` or :func:`glucose.join_context`).

    Examples:
        >>> from zoneinfo import ZoneInfo
        >>> t = decode(0x2A1C, bytes.fromhex("02 6c0100ff ea070714091e00"), tz=ZoneInfo("Europe/Berlin"))
        >>> t.value, t.measured_at.isoformat()
        (36.4, '2026-07-20T09:30:00+02:00')
    """
    uuid = short_uuid(characteristic_uuid)
    decoder = MEASUREMENT_CHARACTERISTICS.get(uuid)
    if decoder is None:
        if uuid == glucose.GLUCOSE_MEASUREMENT_CONTEXT:
            fail(uuid, data, 0, "a glucose context without its measurement; decode it with gatt.Decoder")
        raise UnsupportedCharacteristic(f"{uuid:04x}")
    return decoder(data if type(data) is bytes else bytes(data), tz)


def encode(measurement: Measurement, *, tz: tzinfo = UTC) -> bytes:
    """Encode a measurement as the value of its characteristic (see :func:`characteristic_of`).

    ``decode(characteristic_of(m), encode(m)) == m`` for every measurement the profile
    can represent; device info is not part of the value and is dropped.

    Raises:
        MeasurementEncodeError: The measurement cannot be represented (a value finer than
            the profile's resolution, a site without a code, ...).

    Examples:
        >>> from telemedroom import HeartRate
        >>> encode(HeartRate(bpm=72)).hex()
        '0048'
    """
    encoder = _ENCODERS.get(type(measurement))
    if encoder is None:
        raise MeasurementEncodeError(f"no Bluetooth profile carries {type(measurement).__name__}")
    return encoder(measurement, tz)


def characteristic_of(measurement: Measurement) -> int:
    """The characteristic a device sends ``measurement`` on.

    Examples:
        >>> from telemedroom import BloodPressure
        >>> hex(characteristic_of(BloodPressure(systolic=150, diastolic=None, intermediate=True)))
        '0x2a36'
    """
    match measurement:
        case BloodPressure(intermediate=True):
            return blood_pressure.INTERMEDIATE_CUFF_PRESSURE
        case BloodPressure():
            return blood_pressure.BLOOD_PRESSURE_MEASUREMENT
        case HeartRate():
            return heart_rate.HEART_RATE_MEASUREMENT
        case BodyTemperature(intermediate=True):
            return health_thermometer.INTERMEDIATE_TEMPERATURE
        case BodyTemperature():
            return health_thermometer.TEMPERATURE_MEASUREMENT
        case OxygenSaturation(continuous=True):
            return pulse_oximeter.PLX_CONTINUOUS_MEASUREMENT
        case OxygenSaturation():
            return pulse_oximeter.PLX_SPOT_CHECK_MEASUREMENT
        case BodyWeight():
            return weight_scale.WEIGHT_MEASUREMENT
        case BloodGlucose():
            return glucose.GLUCOSE_MEASUREMENT
    raise MeasurementEncodeError(f"no Bluetooth profile carries {type(measurement).__name__}")
