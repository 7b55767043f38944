"""Decode what Bluetooth health devices send, the way a room's gateway receives it.

The byte strings below are exactly what a cuff, a thermometer and a glucometer indicate
on their measurement characteristics. Devices stamp readings with local wall-clock
time, so we tell the decoder the room's time zone.
"""

from zoneinfo import ZoneInfo

from telemedroom import BloodPressure, MeasurementDecodeError
from telemedroom.devices import gatt

ROOM_ZONE = ZoneInfo("Europe/Berlin")

# One connection per device: the Decoder remembers what the device told us about itself.
cuff = gatt.Decoder(tz=ROOM_ZONE)
cuff.feed("2a29", b"Acme Medical")  # Device Information: manufacturer
cuff.feed("2a24", b"BP-7")  # model number
[reading] = cuff.feed("2a35", bytes.fromhex("1e 8000 5200 cdf3 ea070b18090f00 4000 01 0400"))
assert isinstance(reading, BloodPressure)
print(
    f"{reading.device.manufacturer if reading.device else '?'}: "
    f"{reading.systolic:g}/{reading.diastolic:g} {reading.unit}, pulse {reading.pulse_rate:g}/min "
    f"at {reading.measured_at:%Y-%m-%d %H:%M %Z}, flags: {', '.join(sorted(reading.status))}"
)

temperature = gatt.decode(0x2A1C, bytes.fromhex("06 700100ff ea070b18090f00 09"), tz=ROOM_ZONE)
print(f"temperature: {temperature.value} {temperature.unit} ({temperature.site})")

# A glucometer sends its meal context right after the reading; the Decoder joins them.
meter = gatt.Decoder(tz=ROOM_ZONE)
meter.feed(0x2A18, bytes.fromhex("12 2a00 ea070b18090f00 68b0 12"))
[glucose] = meter.feed(0x2A34, bytes.fromhex("06 2a00 03 f1"))
print(
    f"glucose: {glucose.value:g} {glucose.unit}, {glucose.context.meal}, tested by {glucose.context.tester}"
)

# A value cut short in transit is refused with everything needed to report it.
try:
    gatt.decode(0x2A35, bytes.fromhex("1e 8000 5200"))
except MeasurementDecodeError as exc:
    print(f"refused: characteristic {exc.uuid}, byte {exc.offset}, value {exc.data_hex}: {exc.reason}")
