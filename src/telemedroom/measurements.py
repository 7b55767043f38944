"""The domain: what a medical device measured, independent of Bluetooth and FHIR.

Every reading is a frozen pydantic model deriving from :class:`Measurement`. Units are
UCUM codes, times are timezone-aware, and a value the device could not produce (IEEE
11073 NaN, NRes, ±INF) is ``None`` with the reason in :attr:`Measurement.status`, never
a float NaN.

Examples:
    >>> from datetime import datetime, UTC
    >>> bp = BloodPressure(systolic=128, diastolic=82, mean_arterial=97.3, pulse_rate=64,
    ...                    measured_at=datetime(2026, 11, 24, 9, 15, tzinfo=UTC),
    ...                    status=frozenset({"irregular_pulse"}))
    >>> bp.systolic, bp.unit, sorted(bp.status)
    (128.0, 'mm[Hg]', ['irregular_pulse'])
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

__all__ = [
    "BloodGlucose",
    "BloodPressure",
    "BodyTemperature",
    "BodyWeight",
    "DeviceInfo",
    "GlucoseContext",
    "HeartRate",
    "Measurement",
    "OxygenSaturation",
]


def _require_aware(value: datetime | None) -> datetime | None:
    if value is not None and value.utcoffset() is None:
        raise ValueError("measured_at must be timezone-aware; attach the room's zone")
    return value


AwareDatetime = Annotated[datetime, AfterValidator(_require_aware)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DeviceInfo(_Frozen):
    """Who made the device that took a reading (Bluetooth Device Information Service).

    ``system_id`` is the IEEE EUI-64 as upper-case hex pairs joined by dashes, the form
    the HL7 Personal Health Device IG uses as the device identifier.

    Examples:
        >>> DeviceInfo(manufacturer="Acme Medical", model="BP-7", system_id="00-1B-2C-FF-FE-3D-4E-5F")
        DeviceInfo(manufacturer='Acme Medical', model='BP-7', serial_number=None, ...)
    """

    manufacturer: str | None = None
    model: str | None = None
    serial_number: str | None = None
    firmware_revision: str | None = None
    hardware_revision: str | None = None
    software_revision: str | None = None
    system_id: str | None = None
    address: str | None = None


class Measurement(_Frozen):
    """What every reading has: when, from which device, for which user, with which flags.

    Attributes:
        measured_at: When the device took the reading (timezone-aware), or ``None``
            when the device sent no usable time stamp.
        device: The device that took it, when known.
        user_index: The device's user slot (multi-user cuffs and scales), ``None`` if
            the device has no users or does not know who measured.
        status: The profile's status and annunciation flags as stable snake_case
            names, e.g. ``"irregular_pulse"``, ``"body_movement"``,
            ``"device_clock_not_set"``, ``"value_nan"``. The table per profile is in
            the devices guide.

    Examples:
        >>> HeartRate(bpm=72).status
        frozenset()
    """

    measured_at: AwareDatetime | None = None
    device: DeviceInfo | None = None
    user_index: Annotated[int, Field(ge=0, le=254)] | None = None
    status: frozenset[str] = frozenset()


class BloodPressure(Measurement):
    """A blood-pressure reading, or the cuff pressure while it inflates.

    Attributes:
        systolic: Systolic pressure (for an intermediate reading: the current cuff pressure).
        diastolic: Diastolic pressure.
        mean_arterial: Mean arterial pressure, when the device computes it.
        unit: ``"mm[Hg]"`` or ``"kPa"`` (UCUM).
        pulse_rate: Pulse rate in beats per minute, when reported.
        intermediate: ``True`` for an Intermediate Cuff Pressure notification.

    Examples:
        >>> BloodPressure(systolic=16.0, diastolic=10.7, unit="kPa").unit
        'kPa'
    """

    kind: Literal["blood_pressure"] = "blood_pressure"
    systolic: float | None
    diastolic: float | None
    mean_arterial: float | None = None
    unit: Literal["mm[Hg]", "kPa"] = "mm[Hg]"
    pulse_rate: float | None = None
    intermediate: bool = False


class HeartRate(Measurement):
    """A heart-rate reading from a chest strap or wearable.

    Attributes:
        bpm: Beats per minute.
        rr_intervals_s: RR intervals in seconds (resolution 1/1024 s), oldest first.
        energy_expended_kj: Accumulated energy expended in kilojoules.
        sensor_contact: Skin contact, or ``None`` when the sensor cannot tell.

    Examples:
        >>> HeartRate(bpm=61, rr_intervals_s=(0.984375,)).rr_intervals_s
        (0.984375,)
    """

    kind: Literal["heart_rate"] = "heart_rate"
    bpm: Annotated[int, Field(ge=0, le=0xFFFF)]
    rr_intervals_s: tuple[float, ...] = ()
    energy_expended_kj: Annotated[int, Field(ge=0, le=0xFFFF)] | None = None
    sensor_contact: bool | None = None


class OxygenSaturation(Measurement):
    """A pulse-oximeter reading (spot check or continuous).

    Attributes:
        spo2_percent: Oxygen saturation in percent.
        pulse_rate: Pulse rate in beats per minute.
        pulse_amplitude_index: Pulse amplitude index in percent, when reported.
        continuous: ``True`` when it came from a continuous measurement stream.
        spo2_fast_percent: Continuous mode: the fast-responding SpO2 average.
        pulse_rate_fast: Continuous mode: the fast-responding pulse-rate average.
        spo2_slow_percent: Continuous mode: the slow-responding SpO2 average.
        pulse_rate_slow: Continuous mode: the slow-responding pulse-rate average.

    Examples:
        >>> OxygenSaturation(spo2_percent=97, pulse_rate=68).spo2_percent
        97.0
    """

    kind: Literal["oxygen_saturation"] = "oxygen_saturation"
    spo2_percent: float | None
    pulse_rate: float | None = None
    pulse_amplitude_index: float | None = None
    continuous: bool = False
    spo2_fast_percent: float | None = None
    pulse_rate_fast: float | None = None
    spo2_slow_percent: float | None = None
    pulse_rate_slow: float | None = None


class BodyTemperature(Measurement):
    """A body-temperature reading.

    Attributes:
        value: The temperature.
        unit: ``"Cel"`` or ``"[degF]"`` (UCUM).
        site: Where it was taken (``"armpit"``, ``"ear"``, ``"mouth"``, ``"tympanum"``, ...).
        intermediate: ``True`` for an Intermediate Temperature notification.

    Examples:
        >>> BodyTemperature(value=36.8, site="tympanum").unit
        'Cel'
    """

    kind: Literal["body_temperature"] = "body_temperature"
    value: float | None
    unit: Literal["Cel", "[degF]"] = "Cel"
    site: str | None = None
    intermediate: bool = False


class BodyWeight(Measurement):
    """A body-weight reading, with height and BMI when the scale knows them.

    Attributes:
        value: The weight, ``None`` when the scale reports the measurement unsuccessful.
        unit: ``"kg"`` or ``"[lb_av]"`` (UCUM).
        height: The user's height, if sent.
        height_unit: ``"m"`` or ``"[in_i]"`` (UCUM).
        bmi: Body mass index in kg/m², if sent.

    Examples:
        >>> BodyWeight(value=72.4, height=1.78, bmi=22.9).height_unit
        'm'
    """

    kind: Literal["body_weight"] = "body_weight"
    value: float | None
    unit: Literal["kg", "[lb_av]"] = "kg"
    height: float | None = None
    height_unit: Literal["m", "[in_i]"] = "m"
    bmi: float | None = None


class GlucoseContext(_Frozen):
    """What surrounded a glucose reading: meal, tester, health, exercise, medication.

    Sent by glucometers as a Glucose Measurement Context and joined to its reading by
    sequence number.

    Attributes:
        carbohydrate: The meal the carbohydrates belong to (``"breakfast"``, ``"snack"``, ...).
        carbohydrate_g: Carbohydrate intake in grams.
        meal: ``"preprandial"``, ``"postprandial"``, ``"fasting"``, ``"casual"`` or ``"bedtime"``.
        tester: ``"self"``, ``"health_care_professional"`` or ``"lab_test"``.
        health: ``"minor_health_issues"``, ``"major_health_issues"``, ``"during_menses"``,
            ``"under_stress"`` or ``"no_health_issues"``.
        exercise_duration_s: Exercise duration in seconds.
        exercise_intensity_percent: Exercise intensity in percent.
        medication: ``"rapid_acting_insulin"``, ``"short_acting_insulin"``, ...
        medication_amount: The medication amount in ``medication_unit``.
        medication_unit: ``"mg"`` or ``"mL"`` (UCUM).
        hba1c_percent: HbA1c in percent.

    Examples:
        >>> GlucoseContext(meal="fasting", tester="self").meal
        'fasting'
    """

    carbohydrate: str | None = None
    carbohydrate_g: float | None = None
    meal: str | None = None
    tester: str | None = None
    health: str | None = None
    exercise_duration_s: Annotated[int, Field(ge=0, le=0xFFFF)] | None = None
    exercise_intensity_percent: Annotated[int, Field(ge=0, le=0xFF)] | None = None
    medication: str | None = None
    medication_amount: float | None = None
    medication_unit: Literal["mg", "mL"] = "mg"
    hba1c_percent: float | None = None


class BloodGlucose(Measurement):
    """A blood-glucose reading from a glucometer's record store.

    On the wire the concentration is kg/L or mol/L; it is kept here as ``mg/dL`` or
    ``mmol/L``, converted exactly.

    Attributes:
        value: The glucose concentration, ``None`` when the record carries none.
        unit: ``"mg/dL"`` or ``"mmol/L"`` (UCUM).
        sequence_number: The device's record number, unique per device.
        sample_type: ``"capillary_whole_blood"``, ``"capillary_plasma"``,
            ``"venous_whole_blood"``, ..., ``"interstitial_fluid"``, ``"control_solution"``.
        sample_location: ``"finger"``, ``"alternate_site_test"``, ``"earlobe"`` or
            ``"control_solution"``.
        context: The meal/medication context the device sent with the reading.

    Examples:
        >>> BloodGlucose(value=95, sequence_number=17, sample_type="capillary_plasma").unit
        'mg/dL'
    """

    kind: Literal["blood_glucose"] = "blood_glucose"
    value: float | None
    unit: Literal["mg/dL", "mmol/L"] = "mg/dL"
    sequence_number: Annotated[int, Field(ge=0, le=0xFFFF)]
    sample_type: str | None = None
    sample_location: str | None = None
    context: GlucoseContext | None = None
