"""Glucose Service: Glucose Measurement (0x2A18), Glucose Measurement Context (0x2A34).

GATT Specification Supplement §3.106 (Glucose Measurement) and §3.107 (Glucose
Measurement Context); Glucose Service 1.0.1.

Layouts, little-endian::

    measurement: flags u8 | sequence number u16 | base time Date Time | [time offset s16, minutes]
                 [concentration SFLOAT, kg/L or mol/L | type-sample location u8]
                 [sensor status annunciation u16]
    context:     flags u8 | sequence number u16 | [extended flags u8]
                 [carbohydrate id u8 | carbohydrate SFLOAT, kg] [meal u8] [tester-health u8]
                 [exercise duration u16, s | exercise intensity u8, %]
                 [medication id u8 | medication SFLOAT, kg or L] [HbA1c SFLOAT, %]

A measurement whose flags say "context follows" is completed by the context with the
same sequence number; :func:`join_context` (or :class:`~telemedroom.devices.gatt.Decoder`
for a live stream) puts them together.

Examples:
    >>> from datetime import UTC
    >>> m = decode_glucose(bytes.fromhex("02 1100 ea070b18071e00 5fb0 11"), UTC)
    >>> m.value, m.unit, m.sequence_number, m.sample_type, m.sample_location
    (95.0, 'mg/dL', 17, 'capillary_whole_blood', 'finger')
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import timedelta, tzinfo

from telemedroom.devices.codecs import (
    DATE_TIME_SIZE,
    Special,
    decode_sfloat,
    encode_date_time,
    encode_sfloat,
)
from telemedroom.devices.gatt._wire import (
    StatusTable,
    announced,
    bits_of,
    check_length,
    date_time,
    fail,
    names,
    special,
    special_of,
)
from telemedroom.errors import CodecError, MeasurementEncodeError
from telemedroom.measurements import BloodGlucose, GlucoseContext

__all__ = [
    "CARBOHYDRATES",
    "GLUCOSE_MEASUREMENT",
    "GLUCOSE_MEASUREMENT_CONTEXT",
    "HEALTH",
    "MEALS",
    "MEDICATIONS",
    "SAMPLE_LOCATIONS",
    "SAMPLE_TYPES",
    "SENSOR_STATUS",
    "TESTERS",
    "GlucoseContextRecord",
    "context_follows",
    "decode_glucose",
    "decode_glucose_context",
    "encode_glucose",
    "encode_glucose_context",
    "join_context",
]

GLUCOSE_MEASUREMENT = 0x2A18
GLUCOSE_MEASUREMENT_CONTEXT = 0x2A34

# Measurement flags
_TIME_OFFSET = 0x01
_CONCENTRATION = 0x02
_MOL_PER_L = 0x04
_SENSOR_STATUS = 0x08
_CONTEXT_FOLLOWS = 0x10
_RESERVED = 0xE0
# kg/L -> mg/dL is x 10^5; mol/L -> mmol/L is x 10^3: shifts of the SFLOAT exponent.
_SHIFT = {"mg/dL": 5, "mmol/L": 3}

# GSS §3.106.3 Type (low nibble) and Sample Location (high nibble).
SAMPLE_TYPES = {
    1: "capillary_whole_blood",
    2: "capillary_plasma",
    3: "venous_whole_blood",
    4: "venous_plasma",
    5: "arterial_whole_blood",
    6: "arterial_plasma",
    7: "undetermined_whole_blood",
    8: "undetermined_plasma",
    9: "interstitial_fluid",
    10: "control_solution",
}
SAMPLE_LOCATIONS = {1: "finger", 2: "alternate_site_test", 3: "earlobe", 4: "control_solution"}
_LOCATION_NOT_AVAILABLE = 0xF
_TYPE_CODE = {name: code for code, name in SAMPLE_TYPES.items()}
_LOCATION_CODE = {name: code for code, name in SAMPLE_LOCATIONS.items()}

# GSS §3.106.4 Sensor Status Annunciation; bits 12-15 are reserved.
SENSOR_STATUS: StatusTable = (
    (0x0001, "device_battery_low"),
    (0x0002, "sensor_malfunction"),
    (0x0004, "sample_size_insufficient"),
    (0x0008, "strip_insertion_error"),
    (0x0010, "strip_type_incorrect"),
    (0x0020, "result_too_high"),
    (0x0040, "result_too_low"),
    (0x0080, "sensor_temperature_too_high"),
    (0x0100, "sensor_temperature_too_low"),
    (0x0200, "sensor_read_interrupted"),
    (0x0400, "general_device_fault"),
    (0x0800, "time_fault"),
)

# Context flags
_CX_CARBOHYDRATE = 0x01
_CX_MEAL = 0x02
_CX_TESTER_HEALTH = 0x04
_CX_EXERCISE = 0x08
_CX_MEDICATION = 0x10
_CX_MEDICATION_LITERS = 0x20
_CX_HBA1C = 0x40
_CX_EXTENDED_FLAGS = 0x80

# GSS §3.107 context enumerations.
CARBOHYDRATES = {
    1: "breakfast",
    2: "lunch",
    3: "dinner",
    4: "snack",
    5: "drink",
    6: "supper",
    7: "brunch",
}
MEALS = {1: "preprandial", 2: "postprandial", 3: "fasting", 4: "casual", 5: "bedtime"}
TESTERS = {1: "self", 2: "health_care_professional", 3: "lab_test"}
HEALTH = {
    1: "minor_health_issues",
    2: "major_health_issues",
    3: "during_menses",
    4: "under_stress",
    5: "no_health_issues",
}
MEDICATIONS = {
    1: "rapid_acting_insulin",
    2: "short_acting_insulin",
    3: "intermediate_acting_insulin",
    4: "long_acting_insulin",
    5: "pre_mixed_insulin",
}
_NOT_AVAILABLE = 0xF
# carbohydrate kg -> g (10^3); medication kg -> mg (10^6) or L -> mL (10^3)
_CARBOHYDRATE_SHIFT = 3
_MEDICATION_SHIFT = {"mg": 6, "mL": 3}

_U16 = struct.Struct("<H")
_S16 = struct.Struct("<h")


def decode_glucose(data: bytes, tz: tzinfo) -> BloodGlucose:
    """Decode a Glucose Measurement (0x2A18).

    The measurement time is the base time plus the time offset. Whether a context
    follows is read with :func:`context_follows`.

    Args:
        data: The notified value (a stored record sent during a RACP transfer).
        tz: The zone of the glucometer's clock (the room's).

    Raises:
        MeasurementDecodeError: The value is truncated, has unannounced trailing bytes,
            an impossible base time, or a time offset that carries it past year 9999.

    Examples:
        >>> from datetime import UTC
        >>> m = decode_glucose(bytes.fromhex("0e 0200 ea070b18071e00 38c0 11 0100"), UTC)
        >>> m.value, m.unit, sorted(m.status)
        (5.6, 'mmol/L', ['device_battery_low'])
    """
    uuid = GLUCOSE_MEASUREMENT
    flags, needed = announced(
        uuid, data, 3 + DATE_TIME_SIZE, ((_TIME_OFFSET, 2), (_CONCENTRATION, 3), (_SENSOR_STATUS, 2))
    )
    check_length(uuid, data, needed, flags, _RESERVED)

    status: set[str] = set()
    sequence_number = _U16.unpack_from(data, 1)[0]
    measured_at = date_time(uuid, data, 3, tz, status)
    offset = 3 + DATE_TIME_SIZE
    if flags & _TIME_OFFSET:
        minutes = _S16.unpack_from(data, offset)[0]
        if measured_at is not None:
            try:
                measured_at = measured_at + timedelta(minutes=minutes)
            except OverflowError:  # 9999-12-31 23:59 plus a positive offset
                fail(uuid, data, offset, f"base time plus {minutes} minutes is after year 9999")
        offset += 2
    unit = "mmol/L" if flags & _MOL_PER_L else "mg/dL"
    value = sample_type = sample_location = None
    if flags & _CONCENTRATION:
        value = special(decode_sfloat(_U16.unpack_from(data, offset)[0], _SHIFT[unit]), status)
        type_location = data[offset + 2]
        sample_type = SAMPLE_TYPES.get(type_location & 0xF)
        sample_location = SAMPLE_LOCATIONS.get(type_location >> 4)
        offset += 3
    if flags & _SENSOR_STATUS:
        status.update(names(_U16.unpack_from(data, offset)[0], SENSOR_STATUS))
    return BloodGlucose(
        value=value,
        unit=unit,  # type: ignore[arg-type]  # one of the two literals above
        sequence_number=sequence_number,
        sample_type=sample_type,
        sample_location=sample_location,
        measured_at=measured_at,
        status=frozenset(status),
    )


def context_follows(data: bytes) -> bool:
    """Whether a Glucose Measurement announces a Glucose Measurement Context after it.

    Examples:
        >>> context_follows(bytes.fromhex("10 0100 ea070b18071e00"))
        True
    """
    return bool(data) and bool(data[0] & _CONTEXT_FOLLOWS)


def encode_glucose(m: BloodGlucose, tz: tzinfo, *, with_context: bool | None = None) -> bytes:
    """Encode a glucose reading as a Glucose Measurement (0x2A18).

    Args:
        m: The reading; its time becomes the base time (offset 0).
        tz: The zone of the glucometer's clock.
        with_context: Set the "context follows" flag; by default when ``m.context`` is set.

    Raises:
        MeasurementEncodeError: The concentration does not fit an SFLOAT exactly, the
            reading has no time, or a sample type is given without a concentration.

    Examples:
        >>> from datetime import datetime, UTC
        >>> m = BloodGlucose(value=95, sequence_number=17, sample_type="capillary_whole_blood",
        ...                  sample_location="finger", measured_at=datetime(2026, 11, 24, 7, 30, tzinfo=UTC))
        >>> encode_glucose(m, UTC).hex()
        '021100ea070b18071e005fb011'
    """
    flags = _MOL_PER_L if m.unit == "mmol/L" else 0
    if with_context if with_context is not None else m.context is not None:
        flags |= _CONTEXT_FOLLOWS
    if m.measured_at is None and "device_clock_not_set" not in m.status:
        raise MeasurementEncodeError("a Glucose Measurement always carries a base time; set measured_at")
    out = bytearray(_U16.pack(m.sequence_number))
    try:
        out += encode_date_time(m.measured_at, tz)
        concentration: float | Special | None = m.value
        if concentration is None and m.status & {s.value for s in Special}:
            concentration = special_of(m.status)
        if concentration is not None:
            flags |= _CONCENTRATION
            location = (
                _LOCATION_NOT_AVAILABLE if m.sample_location is None else _LOCATION_CODE[m.sample_location]
            )
            sample_type = 0 if m.sample_type is None else _TYPE_CODE[m.sample_type]
            out += _U16.pack(encode_sfloat(concentration, _SHIFT[m.unit]))
            out.append(location << 4 | sample_type)
        elif m.sample_type is not None or m.sample_location is not None:
            raise MeasurementEncodeError(
                "sample type and location travel with the concentration; give a value"
            )
    except CodecError as exc:
        raise MeasurementEncodeError(f"glucose {m!r} cannot be encoded: {exc}") from exc
    except KeyError as exc:
        raise MeasurementEncodeError(f"glucose sample type or location {exc} has no code") from None
    bits = bits_of(m.status, SENSOR_STATUS)
    if bits:
        flags |= _SENSOR_STATUS
        out += _U16.pack(bits)
    return bytes([flags]) + bytes(out)


@dataclass(frozen=True, slots=True)
class GlucoseContextRecord:
    """A decoded Glucose Measurement Context and the sequence number it belongs to.

    Examples:
        >>> r = decode_glucose_context(bytes.fromhex("02 1100 03"))
        >>> r.sequence_number, r.context.meal
        (17, 'fasting')
    """

    sequence_number: int
    context: GlucoseContext


def _nibble(value: int, table: dict[int, str]) -> str | None:
    return None if value == _NOT_AVAILABLE else table.get(value)


def decode_glucose_context(data: bytes) -> GlucoseContextRecord:
    """Decode a Glucose Measurement Context (0x2A34).

    Special values (NaN, NRes, ...) in its numbers become ``None``; reserved codes
    become ``None`` too.

    Raises:
        MeasurementDecodeError: The value is truncated or has unannounced trailing bytes.

    Examples:
        >>> r = decode_glucose_context(bytes.fromhex("45 0500 01 40d0 51 2df0"))
        >>> c = r.context
        >>> c.carbohydrate, c.carbohydrate_g, c.tester, c.health, c.hba1c_percent
        ('breakfast', 64.0, 'self', 'no_health_issues', 4.5)
    """
    uuid = GLUCOSE_MEASUREMENT_CONTEXT
    flags, needed = announced(
        uuid,
        data,
        3,
        (
            (_CX_EXTENDED_FLAGS, 1),
            (_CX_CARBOHYDRATE, 3),
            (_CX_MEAL, 1),
            (_CX_TESTER_HEALTH, 1),
            (_CX_EXERCISE, 3),
            (_CX_MEDICATION, 3),
            (_CX_HBA1C, 2),
        ),
    )
    # All eight flag bits are defined; the extended flags byte announces future fields.
    extended = data[3] if flags & _CX_EXTENDED_FLAGS and len(data) > 3 else 0
    check_length(uuid, data, needed, extended, 0xFF)

    ignored: set[str] = set()  # the context has no status of its own
    fields: dict[str, object] = {}
    offset = 3 + (1 if flags & _CX_EXTENDED_FLAGS else 0)
    if flags & _CX_CARBOHYDRATE:
        fields["carbohydrate"] = CARBOHYDRATES.get(data[offset])
        raw = _U16.unpack_from(data, offset + 1)[0]
        fields["carbohydrate_g"] = special(decode_sfloat(raw, _CARBOHYDRATE_SHIFT), ignored)
        offset += 3
    if flags & _CX_MEAL:
        fields["meal"] = MEALS.get(data[offset])
        offset += 1
    if flags & _CX_TESTER_HEALTH:
        fields["tester"] = _nibble(data[offset] & 0xF, TESTERS)
        fields["health"] = _nibble(data[offset] >> 4, HEALTH)
        offset += 1
    if flags & _CX_EXERCISE:
        fields["exercise_duration_s"] = _U16.unpack_from(data, offset)[0]
        intensity = data[offset + 2]
        fields["exercise_intensity_percent"] = intensity
        offset += 3
    if flags & _CX_MEDICATION:
        unit = "mL" if flags & _CX_MEDICATION_LITERS else "mg"
        fields["medication"] = MEDICATIONS.get(data[offset])
        raw = _U16.unpack_from(data, offset + 1)[0]
        fields["medication_amount"] = special(decode_sfloat(raw, _MEDICATION_SHIFT[unit]), ignored)
        fields["medication_unit"] = unit
        offset += 3
    if flags & _CX_HBA1C:
        fields["hba1c_percent"] = special(decode_sfloat(_U16.unpack_from(data, offset)[0]), ignored)
    sequence_number = _U16.unpack_from(data, 1)[0]
    return GlucoseContextRecord(sequence_number, GlucoseContext.model_validate(fields))


def encode_glucose_context(sequence_number: int, context: GlucoseContext) -> bytes:
    """Encode a Glucose Measurement Context (0x2A34) for the record ``sequence_number``.

    Raises:
        MeasurementEncodeError: A number does not fit an SFLOAT or a name has no code.

    Examples:
        >>> encode_glucose_context(17, GlucoseContext(meal="fasting")).hex()
        '02110003'
    """
    codes = {
        "carbohydrate": {v: k for k, v in CARBOHYDRATES.items()},
        "meal": {v: k for k, v in MEALS.items()},
        "tester": {v: k for k, v in TESTERS.items()},
        "health": {v: k for k, v in HEALTH.items()},
        "medication": {v: k for k, v in MEDICATIONS.items()},
    }

    def code(field: str, value: str | None, absent: int = 0) -> int:
        if value is None:
            return absent
        try:
            return codes[field][value]
        except KeyError:
            raise MeasurementEncodeError(
                f"glucose context {field} {value!r} has no code; use one of {sorted(codes[field])}"
            ) from None

    c = context
    flags = 0
    out = bytearray(_U16.pack(sequence_number))
    try:
        if c.carbohydrate is not None or c.carbohydrate_g is not None:
            flags |= _CX_CARBOHYDRATE
            out.append(code("carbohydrate", c.carbohydrate))
            grams = Special.NAN if c.carbohydrate_g is None else c.carbohydrate_g
            out += _U16.pack(encode_sfloat(grams, _CARBOHYDRATE_SHIFT))
        if c.meal is not None:
            flags |= _CX_MEAL
            out.append(code("meal", c.meal))
        if c.tester is not None or c.health is not None:
            flags |= _CX_TESTER_HEALTH
            tester = code("tester", c.tester, _NOT_AVAILABLE)
            health = code("health", c.health, _NOT_AVAILABLE)
            out.append(health << 4 | tester)
        if c.exercise_duration_s is not None or c.exercise_intensity_percent is not None:
            if c.exercise_duration_s is None or c.exercise_intensity_percent is None:
                raise MeasurementEncodeError("exercise duration and intensity travel together")
            flags |= _CX_EXERCISE
            out += _U16.pack(c.exercise_duration_s)
            out.append(c.exercise_intensity_percent)
        if c.medication is not None or c.medication_amount is not None:
            flags |= _CX_MEDICATION
            if c.medication_unit == "mL":
                flags |= _CX_MEDICATION_LITERS
            out.append(code("medication", c.medication))
            amount = Special.NAN if c.medication_amount is None else c.medication_amount
            out += _U16.pack(encode_sfloat(amount, _MEDICATION_SHIFT[c.medication_unit]))
        if c.hba1c_percent is not None:
            flags |= _CX_HBA1C
            out += _U16.pack(encode_sfloat(c.hba1c_percent))
    except CodecError as exc:
        if isinstance(exc, MeasurementEncodeError):
            raise
        raise MeasurementEncodeError(f"glucose context {c!r} cannot be encoded: {exc}") from exc
    return bytes([flags]) + bytes(out)


def join_context(measurement: BloodGlucose, record: GlucoseContextRecord) -> BloodGlucose:
    """Attach a decoded context to the measurement with the same sequence number.

    Raises:
        MeasurementDecodeError: The sequence numbers differ: a context without its measurement.

    Examples:
        >>> from datetime import UTC
        >>> m = decode_glucose(bytes.fromhex("12 1100 ea070b18071e00 5fb0 11"), UTC)
        >>> join_context(m, decode_glucose_context(bytes.fromhex("02 1100 01"))).context.meal
        'preprandial'
    """
    if record.sequence_number != measurement.sequence_number:
        fail(
            GLUCOSE_MEASUREMENT_CONTEXT,
            encode_glucose_context(record.sequence_number, record.context),
            1,
            f"context for record {record.sequence_number} has no measurement "
            f"(the pending measurement is record {measurement.sequence_number})",
        )
    return measurement.model_copy(update={"context": record.context})
