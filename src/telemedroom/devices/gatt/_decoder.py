"""A stateful decoder for one device connection: joins what arrives in pieces."""

from __future__ import annotations

from datetime import UTC, tzinfo
from typing import TYPE_CHECKING

from telemedroom.devices.gatt import (
    battery,
    current_time,
    device_information,
    glucose,
    health_thermometer,
    weight_scale,
)
from telemedroom.devices.gatt._dispatch import MEASUREMENT_CHARACTERISTICS
from telemedroom.devices.gatt._wire import fail, short_uuid
from telemedroom.errors import UnsupportedCharacteristic
from telemedroom.measurements import BloodGlucose, BodyTemperature, DeviceInfo, Measurement

if TYPE_CHECKING:
    from telemedroom.devices.gatt.current_time import CurrentTime
    from telemedroom.devices.gatt.weight_scale import WeightScaleFeature

__all__ = ["Decoder"]


class Decoder:
    """Decode one device's characteristic values in the order they arrive.

    Some readings come in pieces: a glucometer sends a Glucose Measurement Context after
    its measurement; a thermometer may state its site once in Temperature Type instead
    of in every reading; the Device Information is read once per connection. A
    ``Decoder`` keeps that state and returns finished :class:`~telemedroom.Measurement`
    objects with the device attached. A value that fails to decode raises and leaves
    everything accepted before it untouched.

    Attributes:
        device: What the Device Information Service said so far.
        temperature_site: The site from Temperature Type (0x2A1D), if read.
        weight_scale_feature: The scale's Weight Scale Feature (0x2A9E), if read.
        battery_level: The last Battery Level (0x2A19) in percent, if read.
        device_time: The last Current Time (0x2A2B) read from the device.

    Examples:
        >>> from datetime import UTC
        >>> d = Decoder(tz=UTC)
        >>> d.feed(0x2A29, b"Acme Medical")
        []
        >>> d.feed(0x2A18, bytes.fromhex("12 1100 ea070b18071e00 5fb0 11"))   # context follows
        []
        >>> [m] = d.feed(0x2A34, bytes.fromhex("02 1100 03"))
        >>> m.value, m.context.meal, m.device.manufacturer
        (95.0, 'fasting', 'Acme Medical')
    """

    def __init__(self, *, tz: tzinfo = UTC, device: DeviceInfo | None = None) -> None:
        self.tz = tz
        self.device = device
        self.temperature_site: str | None = None
        self.weight_scale_feature: WeightScaleFeature | None = None
        self.battery_level: int | None = None
        self.device_time: CurrentTime | None = None
        self._pending_glucose: BloodGlucose | None = None

    def feed(self, characteristic_uuid: str | int, data: bytes) -> list[Measurement]:
        """Take one value; return the measurements it completes (often one, maybe none).

        Raises:
            UnsupportedCharacteristic: No built-in decoder for this UUID.
            MeasurementDecodeError: The value is malformed, or a glucose context has no
                measurement waiting for it.
        """
        uuid = short_uuid(characteristic_uuid)
        data = bytes(data)
        if uuid in MEASUREMENT_CHARACTERISTICS:
            measurement = MEASUREMENT_CHARACTERISTICS[uuid](data, self.tz)
            measurement = self._complete(measurement)
            if isinstance(measurement, BloodGlucose):
                released = self.flush()
                if glucose.context_follows(data):
                    self._pending_glucose = measurement
                    return released
                return [*released, measurement]
            return [measurement]
        if uuid == glucose.GLUCOSE_MEASUREMENT_CONTEXT:
            return self._join_context(data)
        if uuid in device_information.DEVICE_INFORMATION_FIELDS or uuid == device_information.SYSTEM_ID:
            read = device_information.decode_device_information({uuid: data})
            known = self.device or DeviceInfo()
            update = read.model_dump(exclude_none=True)
            self.device = known.model_copy(update=update)
        elif uuid == health_thermometer.TEMPERATURE_TYPE:
            self.temperature_site = health_thermometer.decode_temperature_type(data)
        elif uuid == weight_scale.WEIGHT_SCALE_FEATURE:
            self.weight_scale_feature = weight_scale.decode_weight_scale_feature(data)
        elif uuid == battery.BATTERY_LEVEL:
            self.battery_level = battery.decode_battery_level(data)
        elif uuid == current_time.CURRENT_TIME:
            self.device_time = current_time.decode_current_time(data, self.tz)
        else:
            raise UnsupportedCharacteristic(f"{uuid:04x}")
        return []

    def flush(self) -> list[Measurement]:
        """Release a glucose measurement still waiting for a context that never came.

        Examples:
            >>> from datetime import UTC
            >>> d = Decoder(tz=UTC)
            >>> d.feed(0x2A18, bytes.fromhex("12 1100 ea070b18071e00 5fb0 11"))
            []
            >>> [m.sequence_number for m in d.flush()]
            [17]
        """
        pending, self._pending_glucose = self._pending_glucose, None
        return [] if pending is None else [pending]

    def _complete(self, measurement: Measurement) -> Measurement:
        update: dict[str, object] = {}
        if self.device is not None and measurement.device is None:
            update["device"] = self.device
        if (
            isinstance(measurement, BodyTemperature)
            and measurement.site is None
            and self.temperature_site is not None
        ):
            update["site"] = self.temperature_site
        return measurement.model_copy(update=update) if update else measurement

    def _join_context(self, data: bytes) -> list[Measurement]:
        record = glucose.decode_glucose_context(data)
        pending = self._pending_glucose
        if pending is None or pending.sequence_number != record.sequence_number:
            fail(
                glucose.GLUCOSE_MEASUREMENT_CONTEXT,
                data,
                1,
                f"context for record {record.sequence_number} arrived without its measurement",
            )
        self._pending_glucose = None
        return [glucose.join_context(pending, record)]
