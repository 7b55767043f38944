"""Glucose Measurement (0x2A18) and Glucose Measurement Context (0x2A34): golden packets.

Vectors worked out from the GATT Specification Supplement (GSS) §3.106 Glucose
Measurement and §3.107 Glucose Measurement Context, Glucose Service 1.0.1 (user facing
time = base time + time offset), the IEEE 11073-20601 §F.8 SFLOAT and GSS §3.70 Date Time.
"""

from __future__ import annotations

import functools
import struct
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from tests.devices._gatt_support import (
    BERLIN,
    SPECIALS,
    at,
    check_golden_packet,
    date_time_bytes,
    instant,
    naive_times,
    sfloats,
    wall_times,
)

from telemedroom import BloodGlucose, GlucoseContext, MeasurementDecodeError, MeasurementEncodeError
from telemedroom.devices import gatt
from telemedroom.devices.codecs import Special, encode_sfloat
from telemedroom.devices.gatt import glucose

GM = glucose.GLUCOSE_MEASUREMENT
GMC = glucose.GLUCOSE_MEASUREMENT_CONTEXT
h = bytes.fromhex
BASE = "ea070b18071e00"  # 2026-11-24 07:30:00


def reading(**fields: object) -> BloodGlucose:
    defaults: dict[str, object] = {
        "sequence_number": 17,
        "measured_at": at(2026, 11, 24, 7, 30),
        "value": None,
    }
    return BloodGlucose(**(defaults | fields))  # type: ignore[arg-type]


# GSS §3.106: flags (bit 0 time offset, 1 concentration and type-sample location, 2 unit
# mol/L (else kg/L), 3 sensor status annunciation, 4 context information follows, 5-7
# reserved) | sequence number u16 | base time Date Time | [time offset s16, minutes]
# | [concentration SFLOAT | type (low nibble) - sample location (high nibble) u8]
# | [sensor status annunciation u16].
# 95 mg/dL = 95e-5 kg/L = 0xB05F; 5.6 mmol/L = 56e-4 mol/L = 0xC038.
VECTORS = [
    pytest.param(h(f"00 1100 {BASE}"), reading(), True, id="no-concentration"),
    pytest.param(
        h(f"02 1100 {BASE} 5fb0 11"),
        reading(value=95, sample_type="capillary_whole_blood", sample_location="finger"),
        True,
        id="mg-dl",
    ),
    pytest.param(
        h(f"06 1100 {BASE} 38c0 11"),
        reading(value=5.6, unit="mmol/L", sample_type="capillary_whole_blood", sample_location="finger"),
        True,
        id="mmol-l",
    ),
    # 100 mg/dL sent as 100e-5 kg/L (0xB064); the encoder writes 1e-3 kg/L (0xD001)
    pytest.param(
        h(f"02 1100 {BASE} 64b0 11"),
        reading(value=100, sample_type="capillary_whole_blood", sample_location="finger"),
        False,
        id="mg-dl-non-canonical-exponent",
    ),
    pytest.param(
        h(f"02 1100 {BASE} 01d0 11"),
        reading(value=100, sample_type="capillary_whole_blood", sample_location="finger"),
        True,
        id="mg-dl-canonical-100",
    ),
    *(
        pytest.param(
            h(f"02 1100 {BASE} 5fb0 {0xF0 | code:02x}"),
            reading(value=95, sample_type=name),
            True,
            id=f"type-{name}",
        )
        for code, name in [
            (1, "capillary_whole_blood"),
            (2, "capillary_plasma"),
            (3, "venous_whole_blood"),
            (4, "venous_plasma"),
            (5, "arterial_whole_blood"),
            (6, "arterial_plasma"),
            (7, "undetermined_whole_blood"),
            (8, "undetermined_plasma"),
            (9, "interstitial_fluid"),
            (10, "control_solution"),
        ]
    ),
    *(
        pytest.param(
            h(f"02 1100 {BASE} 5fb0 {code << 4:02x}"),
            reading(value=95, sample_location=name),
            True,
            id=f"location-{name}",
        )
        for code, name in [(1, "finger"), (2, "alternate_site_test"), (3, "earlobe"), (4, "control_solution")]
    ),
    # reserved codes keep the reading: type 0 and location 15 ("not available") are written back
    pytest.param(h(f"02 1100 {BASE} 5fb0 f0"), reading(value=95), True, id="type-reserved-0-location-na"),
    pytest.param(h(f"02 1100 {BASE} 5fb0 0b"), reading(value=95), False, id="type-11-location-0-reserved"),
    pytest.param(h(f"02 1100 {BASE} 5fb0 5f"), reading(value=95), False, id="type-15-location-5-reserved"),
    *(
        pytest.param(
            h(f"02 1100 {BASE} {raw} 11"),
            reading(
                sample_type="capillary_whole_blood",
                sample_location="finger",
                status=frozenset({flag.value}),
            ),
            True,
            id=f"concentration-{flag.name}",
        )
        for raw, flag in [
            ("ff07", Special.NAN),
            ("0008", Special.NRES),
            ("fe07", Special.POSITIVE_INFINITY),
            ("0208", Special.NEGATIVE_INFINITY),
            ("0108", Special.RESERVED),
        ]
    ),
    *(
        pytest.param(
            h(f"08 1100 {BASE}") + mask.to_bytes(2, "little"),
            reading(status=frozenset({name})),
            True,
            id=f"sensor-status-{name}",
        )
        for mask, name in glucose.SENSOR_STATUS
    ),
    pytest.param(h(f"08 1100 {BASE} 00f0"), reading(), False, id="sensor-status-reserved-bits-12-15"),
    # Glucose Service: user facing time = base time + time offset (minutes, s16)
    pytest.param(
        h(f"01 1100 {BASE} 1e00"),
        reading(measured_at=at(2026, 11, 24, 8, 0)),
        False,
        id="time-offset-plus-30",
    ),
    pytest.param(
        h(f"01 1100 {BASE} ffff"),
        reading(measured_at=at(2026, 11, 24, 7, 29)),
        False,
        id="time-offset-minus-1",
    ),
    pytest.param(
        h(f"01 1100 {BASE} 0080"),
        reading(measured_at=at(2026, 11, 24, 7, 30) - timedelta(minutes=32768)),
        False,
        id="time-offset-most-negative",
    ),
    pytest.param(
        h("00 1100 00000000000000"),
        reading(measured_at=None, status=frozenset({"device_clock_not_set"})),
        True,
        id="clock-not-set",
    ),
    pytest.param(
        h("01 1100 00000000000000 1e00"),
        reading(measured_at=None, status=frozenset({"device_clock_not_set"})),
        False,
        id="clock-not-set-with-offset",
    ),
    pytest.param(
        h("00 1100 ea07031d021e00"),  # inside the 2026 Berlin DST gap: kept as shown
        reading(measured_at=at(2026, 3, 29, 2, 30)),
        True,
        id="dst-gap",
    ),
    pytest.param(
        h("00 1100 ea070a19021e00"),  # the repeated hour: its first (CEST) occurrence
        reading(measured_at=at(2026, 10, 25, 2, 30)),
        True,
        id="dst-overlap",
    ),
    pytest.param(h(f"00 ffff {BASE}"), reading(sequence_number=0xFFFF), True, id="sequence-max"),
    pytest.param(h(f"10 1100 {BASE}"), reading(), False, id="context-follows"),
    pytest.param(
        # 13.9 mmol/L = 139e-4 mol/L = 0xC08B; venous plasma (4) at the alternate site (2)
        h(f"0e 0200 {BASE} 8bc0 24 ff0f"),
        reading(
            sequence_number=2,
            value=13.9,
            unit="mmol/L",
            sample_type="venous_plasma",
            sample_location="alternate_site_test",
            status=frozenset(name for _, name in glucose.SENSOR_STATUS),
        ),
        True,
        id="full-canonical",
    ),
    pytest.param(
        h(f"1f 0200 {BASE} 3c00 8bc0 24 0100"),
        reading(
            sequence_number=2,
            measured_at=at(2026, 11, 24, 8, 30),
            value=13.9,
            unit="mmol/L",
            sample_type="venous_plasma",
            sample_location="alternate_site_test",
            status=frozenset({"device_battery_low"}),
        ),
        False,
        id="full-every-flag",
    ),
    pytest.param(h(f"20 1100 {BASE} aabb"), reading(), False, id="reserved-flag-trailing-field"),
]


@pytest.mark.parametrize(("data", "expected", "canonical"), VECTORS)
def test_golden_packet_decodes_to_the_expected_reading(
    data: bytes, expected: BloodGlucose, canonical: bool
) -> None:
    check_golden_packet(GM, data, expected, canonical)


def test_context_follows_is_written_when_asked() -> None:
    data = h(f"10 1100 {BASE}")
    assert glucose.context_follows(data)
    assert glucose.encode_glucose(gatt.decode(GM, data, tz=BERLIN), BERLIN, with_context=True) == data


def test_time_offset_is_added_to_the_wall_clock() -> None:
    """User facing time is a wall-clock time: +120 min across the spring gap is 03:00 CEST."""
    got = gatt.decode(GM, h("01 1100 ea07031d010000 7800"), tz=BERLIN)  # 01:00 CET + 120 min
    assert got.measured_at == at(2026, 3, 29, 3, 0)
    assert instant(got.measured_at) == instant(at(2026, 3, 29, 1, 0)) + 3600  # type: ignore[operator]


@pytest.mark.parametrize(
    ("m", "match"),
    [
        (reading(measured_at=None), "base time"),
        (reading(sample_type="capillary_plasma"), "travel with the concentration"),
        (reading(value=95, sample_type="saliva"), "no code"),
        (reading(value=95, sample_location="toe"), "no code"),
        (reading(value=95.123), "SFLOAT"),
        (reading(value=float("nan")), "finite"),
    ],
    ids=["no-time", "type-without-value", "unknown-type", "unknown-location", "too-fine", "nan"],
)
def test_unrepresentable_reading_is_refused(m: BloodGlucose, match: str) -> None:
    with pytest.raises(MeasurementEncodeError, match=match):
        gatt.encode(m, tz=BERLIN)


# --- Glucose Measurement Context ------------------------------------------------------------

# GSS §3.107: flags (bit 0 carbohydrate id and carbohydrate, 1 meal, 2 tester-health,
# 3 exercise duration and intensity, 4 medication id and medication, 5 medication unit
# litres (else kilograms), 6 HbA1c, 7 extended flags) | sequence number u16 | [extended
# flags u8] | [carbohydrate id u8 | carbohydrate SFLOAT kg] | [meal u8] | [tester (low
# nibble) - health (high nibble)] | [exercise duration u16 s | intensity u8 %] | [medication
# id u8 | medication SFLOAT kg or L] | [HbA1c SFLOAT %]. Tester/health 15 = not available.
# 64 g = 64e-3 kg = 0xD040; 10 mg = 1e-5 kg = 0xB001; 0.25 mL = 25e-5 L = 0xB019; 6.5 % = 0xF041.
CONTEXT_VECTORS = [
    pytest.param(h("00 1100"), GlucoseContext(), True, id="empty"),
    *(
        pytest.param(
            h(f"01 1100 {code:02x} 40d0"),
            GlucoseContext(carbohydrate=name, carbohydrate_g=64),
            True,
            id=f"carbohydrate-{name}",
        )
        for code, name in glucose.CARBOHYDRATES.items()
    ),
    pytest.param(h("01 1100 00 40d0"), GlucoseContext(carbohydrate_g=64), True, id="carbohydrate-reserved-0"),
    pytest.param(h("01 1100 01 ff07"), GlucoseContext(carbohydrate="breakfast"), True, id="carbohydrate-nan"),
    pytest.param(
        h("01 1100 01 0008"), GlucoseContext(carbohydrate="breakfast"), False, id="carbohydrate-nres"
    ),
    *(
        pytest.param(h(f"02 1100 {code:02x}"), GlucoseContext(meal=name), True, id=f"meal-{name}")
        for code, name in glucose.MEALS.items()
    ),
    pytest.param(h("02 1100 00"), GlucoseContext(), False, id="meal-reserved-0"),
    pytest.param(h("02 1100 06"), GlucoseContext(), False, id="meal-reserved-6"),
    *(
        pytest.param(h(f"04 1100 f{code:x}"), GlucoseContext(tester=name), True, id=f"tester-{name}")
        for code, name in glucose.TESTERS.items()
    ),
    *(
        pytest.param(h(f"04 1100 {code:x}f"), GlucoseContext(health=name), True, id=f"health-{name}")
        for code, name in glucose.HEALTH.items()
    ),
    pytest.param(
        h("04 1100 51"),
        GlucoseContext(tester="self", health="no_health_issues"),
        True,
        id="tester-and-health",
    ),
    pytest.param(h("04 1100 ff"), GlucoseContext(), False, id="tester-and-health-not-available"),
    pytest.param(h("04 1100 00"), GlucoseContext(), False, id="tester-and-health-reserved"),
    # 3600 s = 0x0E10, 50 %
    pytest.param(
        h("08 1100 100e 32"),
        GlucoseContext(exercise_duration_s=3600, exercise_intensity_percent=50),
        True,
        id="exercise",
    ),
    pytest.param(
        h("08 1100 ffff ff"),
        GlucoseContext(exercise_duration_s=65535, exercise_intensity_percent=255),
        True,
        id="exercise-overrun",
    ),
    *(
        pytest.param(
            h(f"10 1100 {code:02x} 01b0"),
            GlucoseContext(medication=name, medication_amount=10),
            True,
            id=f"medication-{name}-mg",
        )
        for code, name in glucose.MEDICATIONS.items()
    ),
    pytest.param(
        h("30 1100 02 19b0"),
        GlucoseContext(medication="short_acting_insulin", medication_amount=0.25, medication_unit="mL"),
        True,
        id="medication-ml",
    ),
    pytest.param(
        h("10 1100 00 01b0"), GlucoseContext(medication_amount=10), True, id="medication-reserved-0"
    ),
    pytest.param(
        h("10 1100 01 ff07"), GlucoseContext(medication="rapid_acting_insulin"), True, id="medication-nan"
    ),
    pytest.param(h("40 1100 41f0"), GlucoseContext(hba1c_percent=6.5), True, id="hba1c"),
    pytest.param(h("40 1100 fe07"), GlucoseContext(), False, id="hba1c-positive-infinity"),
    pytest.param(h("80 1100 00"), GlucoseContext(), False, id="extended-flags-empty"),
    pytest.param(h("82 1100 01 aabb 03"), GlucoseContext(), False, id="extended-flags-announce-unknown"),
    pytest.param(
        h("7f 1100 01 40d0 03 51 100e 32 05 19b0 41f0"),
        GlucoseContext(
            carbohydrate="breakfast",
            carbohydrate_g=64,
            meal="fasting",
            tester="self",
            health="no_health_issues",
            exercise_duration_s=3600,
            exercise_intensity_percent=50,
            medication="pre_mixed_insulin",
            medication_amount=0.25,
            medication_unit="mL",
            hba1c_percent=6.5,
        ),
        True,
        id="full-ml",
    ),
    pytest.param(
        h("df 1100 00 07 40d0 05 23 100e 32 04 01b0 41f0"),
        GlucoseContext(
            carbohydrate="brunch",
            carbohydrate_g=64,
            meal="bedtime",
            tester="lab_test",
            health="major_health_issues",
            exercise_duration_s=3600,
            exercise_intensity_percent=50,
            medication="long_acting_insulin",
            medication_amount=10,
            hba1c_percent=6.5,
        ),
        False,  # the empty extended flags byte is not written back
        id="full-mg-extended",
    ),
]


@pytest.mark.parametrize(("data", "expected", "canonical"), CONTEXT_VECTORS)
def test_golden_context_decodes_to_the_expected_context(
    data: bytes, expected: GlucoseContext, canonical: bool
) -> None:
    record = glucose.decode_glucose_context(data)
    assert record == glucose.GlucoseContextRecord(17, expected)
    encoded = glucose.encode_glucose_context(17, expected)
    if canonical:
        assert encoded == data
    else:
        assert encoded != data
        assert glucose.decode_glucose_context(encoded).context == expected


def test_context_is_joined_to_its_measurement() -> None:
    decoder = gatt.Decoder(tz=BERLIN)
    assert decoder.feed(GM, h(f"12 1100 {BASE} 5fb0 11")) == []
    [joined] = decoder.feed(GMC, h("02 1100 03"))
    assert joined == reading(
        value=95,
        sample_type="capillary_whole_blood",
        sample_location="finger",
        context=GlucoseContext(meal="fasting"),
    )


@pytest.mark.parametrize(
    "context",
    [
        GlucoseContext(exercise_duration_s=60),
        GlucoseContext(exercise_intensity_percent=60),
        GlucoseContext(meal="elevenses"),
        GlucoseContext(hba1c_percent=6.54321),
    ],
    ids=["duration-alone", "intensity-alone", "unknown-meal", "too-fine"],
)
def test_unrepresentable_context_is_refused(context: GlucoseContext) -> None:
    with pytest.raises(MeasurementEncodeError):
        glucose.encode_glucose_context(17, context)


@pytest.mark.parametrize(
    "when",
    [
        datetime(9999, 12, 31, 23, 30, tzinfo=UTC),  # year 10000 in Berlin
        datetime(1582, 1, 1, tzinfo=UTC),  # 1581 in New York
        datetime(1, 1, 1, tzinfo=UTC),  # before year 1 in New York
    ],
    ids=["after-9999", "before-1582", "before-year-1"],
)
def test_time_outside_the_date_time_range_is_refused(when: datetime) -> None:
    """GSS §3.70 years 1582-9999; bug fixed: leaving datetime's range raised a bare OverflowError."""
    with pytest.raises(MeasurementEncodeError, match="1582-9999"):
        gatt.encode(
            reading(measured_at=when), tz=BERLIN if when.year > 1582 else ZoneInfo("America/New_York")
        )


# --- *_truncated / *_invalid ---------------------------------------------------------------

FULL = h(f"1f 0200 {BASE} 3c00 8bc0 24 0100")
FULL_CONTEXT = h("df 1100 00 07 40d0 05 23 100e 32 04 01b0 41f0")


def assert_refused(uuid: int, data: bytes, offset: int) -> MeasurementDecodeError:
    decode = (lambda d: gatt.decode(GM, d, tz=BERLIN)) if uuid == GM else glucose.decode_glucose_context
    with pytest.raises(MeasurementDecodeError) as caught:
        decode(data)
    error = caught.value
    assert (error.uuid, error.data_hex, error.offset) == (f"{uuid:04x}", data.hex(), offset)
    return error


@pytest.mark.parametrize("cut", range(len(FULL)))
def test_glucose_truncated(cut: int) -> None:
    assert "truncated" in assert_refused(GM, FULL[:cut], cut).reason


@pytest.mark.parametrize("cut", range(len(FULL_CONTEXT)))
def test_glucose_context_truncated(cut: int) -> None:
    assert "truncated" in assert_refused(GMC, FULL_CONTEXT[:cut], cut).reason


@pytest.mark.parametrize(
    ("uuid", "data", "offset"),
    [
        (GM, h(f"00 1100 {BASE} 00"), 10),
        (GM, FULL + b"\x00", len(FULL)),
        (GM, h(f"08 1100 {BASE} 5fb0 11"), 12),  # a status word too long: the concentration is unannounced
        (GMC, h("02 1100 03 00"), 4),
        (GMC, h("82 1100 00 03 00"), 5),  # extended flags without a bit set announce nothing
        (GMC, FULL_CONTEXT + b"\x00", len(FULL_CONTEXT)),
    ],
)
def test_glucose_invalid_trailing_bytes(uuid: int, data: bytes, offset: int) -> None:
    assert "trailing" in assert_refused(uuid, data, offset).reason


@pytest.mark.parametrize(
    "date_time",
    ["ea070d180e1e00", "ea07021e0e1e00", "ea070b18181e00", "ea070b180e3c00", "2d060b180e1e00"],
    ids=["month-13", "feb-30", "hour-24", "minute-60", "year-1581"],
)
def test_glucose_invalid_date(date_time: str) -> None:
    assert_refused(GM, h("00 1100" + date_time), 3)


def test_time_offset_past_year_9999_is_refused() -> None:
    """Bug fixed: base time 9999-12-31 23:59 plus 32767 minutes escaped as a bare OverflowError."""
    error = assert_refused(GM, h("01 0000 0f270c1f173b00 ff7f"), 10)
    assert "after year 9999" in error.reason


def test_time_offset_may_reach_before_the_date_time_range() -> None:
    """The user facing time is computed, not sent: 1582-10-15 minus 32768 min is kept."""
    got = gatt.decode(GM, h("01 0000 2e060a0f000000 0080"), tz=UTC)
    assert got.measured_at == datetime(1582, 10, 15, tzinfo=UTC) - timedelta(minutes=32768)


def test_context_without_its_measurement_is_refused() -> None:
    with pytest.raises(MeasurementDecodeError) as caught:
        gatt.decode(GMC, h("02 1100 03"))
    assert (caught.value.uuid, caught.value.offset) == ("2a34", 0)
    with pytest.raises(MeasurementDecodeError) as caught:
        glucose.join_context(reading(sequence_number=18), glucose.decode_glucose_context(h("02 1100 03")))
    assert (caught.value.uuid, caught.value.data_hex, caught.value.offset) == ("2a34", "02110003", 1)


# --- hypothesis round trip ------------------------------------------------------------------

ZONES = st.sampled_from([UTC, BERLIN, ZoneInfo("America/Havana"), ZoneInfo("Asia/Tehran")])


@functools.cache
def optional(strategy: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.none() | strategy


@st.composite
def contexts(draw: st.DrawFn) -> GlucoseContext:
    fields: dict[str, object] = {}
    carbohydrate = draw(optional(st.sampled_from(tuple(sorted(glucose.CARBOHYDRATES.values())))))
    grams = draw(optional(sfloats(3)))
    if carbohydrate is not None or grams is not None:
        fields |= {"carbohydrate": carbohydrate, "carbohydrate_g": grams}
    fields["meal"] = draw(optional(st.sampled_from(tuple(sorted(glucose.MEALS.values())))))
    fields["tester"] = draw(optional(st.sampled_from(tuple(sorted(glucose.TESTERS.values())))))
    fields["health"] = draw(optional(st.sampled_from(tuple(sorted(glucose.HEALTH.values())))))
    if draw(st.booleans()):  # duration and intensity travel together
        fields["exercise_duration_s"] = draw(st.integers(0, 0xFFFF))
        fields["exercise_intensity_percent"] = draw(st.integers(0, 0xFF))
    medication = draw(optional(st.sampled_from(tuple(sorted(glucose.MEDICATIONS.values())))))
    unit = draw(st.sampled_from(["mg", "mL"]))
    amount = draw(optional(sfloats(6 if unit == "mg" else 3)))
    if medication is not None or amount is not None:  # the unit travels with the medication only
        fields |= {"medication": medication, "medication_amount": amount, "medication_unit": unit}
    fields["hba1c_percent"] = draw(optional(sfloats()))
    return GlucoseContext.model_validate(fields)


@st.composite
def blood_glucoses(draw: st.DrawFn, tz: tzinfo) -> BloodGlucose:
    unit = draw(st.sampled_from(["mg/dL", "mmol/L"]))
    # kg/L -> mg/dL is 10^5, mol/L -> mmol/L is 10^3: the SFLOAT grid moves by that much
    value = draw(optional(sfloats(5 if unit == "mg/dL" else 3)))
    status = set(draw(st.sets(st.sampled_from(tuple(name for _, name in glucose.SENSOR_STATUS)))))
    sample_type = sample_location = None
    concentration = value is not None or draw(st.booleans())
    if concentration:
        if value is None:  # a concentration field holding a special value
            status.add(draw(st.sampled_from(SPECIALS)))
        sample_type = draw(optional(st.sampled_from(tuple(sorted(glucose.SAMPLE_TYPES.values())))))
        sample_location = draw(optional(st.sampled_from(tuple(sorted(glucose.SAMPLE_LOCATIONS.values())))))
    measured_at = draw(optional(wall_times(tz)))
    if measured_at is None:
        status.add("device_clock_not_set")  # the base time is mandatory
    return BloodGlucose(
        value=value,
        unit=unit,
        sequence_number=draw(st.integers(0, 0xFFFF)),
        sample_type=sample_type,
        sample_location=sample_location,
        measured_at=measured_at,
        status=frozenset(status),
        context=draw(optional(contexts())),
    )


@given(st.data(), ZONES)
def test_every_representable_reading_survives_encode_and_decode(data: st.DataObject, tz: tzinfo) -> None:
    """Measurement and context travel as two values; gatt.Decoder puts them back together."""
    m = data.draw(blood_glucoses(tz))
    decoder = gatt.Decoder(tz=tz)
    got = decoder.feed(gatt.characteristic_of(m), gatt.encode(m, tz=tz))
    if m.context is not None:
        assert got == []
        got = decoder.feed(GMC, glucose.encode_glucose_context(m.sequence_number, m.context))
    assert got == [m]
    assert instant(got[0].measured_at) == instant(m.measured_at)


# Canonical bytes built field by field from the specification, independently of the encoder.


@st.composite
def canonical_wires(draw: st.DrawFn) -> bytes:
    """A Glucose Measurement without time offset (the encoder writes the user facing time as base)."""
    flags = draw(st.integers(0, 0x1F)) & ~0x01
    shift = 3 if flags & 0x04 else 5
    wire = bytes([flags]) + struct.pack("<H", draw(st.integers(0, 0xFFFF)))
    wire += date_time_bytes(draw(st.none() | naive_times))
    if flags & 0x02:
        value = draw(st.none() | sfloats(shift))
        raw = encode_sfloat(draw(st.sampled_from(tuple(Special))) if value is None else value, shift)
        location = draw(st.sampled_from([1, 2, 3, 4, 0xF]))
        wire += struct.pack("<HB", raw, location << 4 | draw(st.integers(0, 10)))
    if flags & 0x08:
        wire += struct.pack("<H", draw(st.integers(1, 0x0FFF)))
    return wire


@st.composite
def canonical_contexts(draw: st.DrawFn) -> bytes:
    """A Glucose Measurement Context; an absent number is sent as NaN, the encoder's choice."""
    flags = draw(st.integers(0, 0x7F))
    wire = bytes([flags]) + struct.pack("<H", draw(st.integers(0, 0xFFFF)))

    def coded_amount(codes: int, shift: int) -> bytes:
        # id 0 (reserved) with a NaN amount carries nothing and is not written back
        code = draw(st.integers(0, codes))
        value = draw((st.none() if code else st.nothing()) | sfloats(shift))
        return struct.pack("<BH", code, encode_sfloat(Special.NAN if value is None else value, shift))

    if flags & 0x01:
        wire += coded_amount(7, 3)
    if flags & 0x02:
        wire += bytes([draw(st.integers(1, 5))])
    if flags & 0x04:
        tester, health = draw(st.sampled_from([1, 2, 3, 0xF])), draw(st.sampled_from([1, 2, 3, 4, 5, 0xF]))
        assume((tester, health) != (0xF, 0xF))
        wire += bytes([health << 4 | tester])
    if flags & 0x08:
        wire += struct.pack("<HB", draw(st.integers(0, 0xFFFF)), draw(st.integers(0, 0xFF)))
    if flags & 0x10:
        wire += coded_amount(5, 3 if flags & 0x20 else 6)
    elif flags & 0x20:
        assume(False)  # the litre unit travels with a medication only
    if flags & 0x40:
        wire += struct.pack("<H", encode_sfloat(draw(sfloats())))
    return wire


@given(canonical_wires(), ZONES)
def test_canonical_bytes_survive_decode_and_encode(wire: bytes, tz: tzinfo) -> None:
    again = glucose.encode_glucose(
        gatt.decode(GM, wire, tz=tz), tz, with_context=glucose.context_follows(wire)
    )
    assert again == wire


@given(canonical_contexts())
def test_canonical_context_bytes_survive_decode_and_encode(wire: bytes) -> None:
    record = glucose.decode_glucose_context(wire)
    assert glucose.encode_glucose_context(record.sequence_number, record.context) == wire
