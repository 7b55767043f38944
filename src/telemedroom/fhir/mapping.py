"""Measurements to FHIR R4 resources and back: Observation, Device, Provenance, Bundle.

Observations follow the FHIR vital-signs profiles and the HL7 Personal Health Device
(PHD) IG: ``code`` carries the LOINC code and the IEEE 11073-10101 (MDC) code,
``valueQuantity`` is UCUM, an absent value has a ``dataAbsentReason``, and the device's
status flags are mapped as the PHD IG's "Measurement Status" table says (and kept
verbatim in a telemedroom extension, so nothing is lost). Every code comes from one
table (``_codes.py``; shown in ``docs/fhir.md``).

Each Observation gets a deterministic identifier built from the device's system id,
the patient, the Bluetooth characteristic, the MDC code and the device time stamp (or
the glucometer's sequence number), so sending the same reading twice can never create a
second resource: :func:`to_transaction` makes every create conditional on it.

The JSON is built as plain dicts (fast, and exactly what goes on the wire);
:func:`to_observations` and :func:`to_transaction` return validated
``fhir.resources`` (R4B) models, :func:`observation_json` the bytes.

Examples:
    >>> from datetime import datetime, UTC
    >>> from telemedroom import BloodPressure
    >>> from telemedroom.fhir import to_observation, from_observation
    >>> bp = BloodPressure(systolic=128, diastolic=82, measured_at=datetime(2026, 11, 24, 8, 15, tzinfo=UTC))
    >>> obs = to_observation(bp, patient="Patient/p1")
    >>> [c.code for c in obs.code.coding], [c.valueQuantity.value for c in obs.component]
    (['85354-9', '150020'], [Decimal('128.0'), Decimal('82.0')])
    >>> from_observation(obs) == bp
    True
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.device import Device
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.provenance import Provenance

from telemedroom.errors import FhirMappingError
from telemedroom.fhir import _codes as c
from telemedroom.fhir._json import dumps
from telemedroom.fhir._reverse import read_bundle, read_observation
from telemedroom.measurements import (
    BloodGlucose,
    BloodPressure,
    BodyTemperature,
    BodyWeight,
    DeviceInfo,
    HeartRate,
    Measurement,
    OxygenSaturation,
)

__all__ = [
    "MappingConfig",
    "from_bundle",
    "from_observation",
    "gateway_device",
    "observation_json",
    "to_device",
    "to_observation",
    "to_observations",
    "to_provenance",
    "to_transaction",
    "transaction_json",
]

Json = dict[str, Any]
# A fixed namespace for the uuid5 fullUrls of transaction entries: the same resource
# identifier always yields the same urn:uuid, so a re-built bundle is byte-identical.
_URN_NAMESPACE = uuid.UUID("6f1d7f0e-3b5c-5d1a-9a57-7e1e0d2f4c11")


def _categories(vital_sign: bool) -> list[Json]:
    # Fresh dicts every time: callers of transaction_json() may change what they get.
    phd = {"coding": [{"system": c.PHD_CATEGORY, "code": "phd-observation"}]}
    if not vital_sign:
        return [phd]
    return [
        {"coding": [{"system": c.OBSERVATION_CATEGORY, "code": "vital-signs", "display": "Vital Signs"}]},
        phd,
    ]


_RECEPTION_NOTE = "effective time is the time of reception: the device sent no usable time stamp"


@dataclass(frozen=True)
class MappingConfig:
    """Deployment choices of the FHIR mapping.

    Attributes:
        identifier_system: The ``Identifier.system`` of Observation identifiers; use a
            URL of your organisation so identifiers from several rooms never collide.
        extra_profiles: More ``meta.profile`` URLs per observation kind (``"blood_pressure"``,
            ``"heart_rate"``, ``"body_weight"``, ``"bmi"``...) or ``"*"`` for all, e.g. a
            German ISiK or KBV profile.

    Examples:
        >>> MappingConfig(extra_profiles={"*": ("https://example.org/StructureDefinition/vital",)}).profiles_for("bmi")
        ('https://example.org/StructureDefinition/vital',)
    """

    identifier_system: str = c.DEFAULT_IDENTIFIER_SYSTEM
    extra_profiles: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def profiles_for(self, key: str) -> tuple[str, ...]:
        """The extra profile URLs for one observation kind."""
        return self.extra_profiles.get("*", ()) + self.extra_profiles.get(key, ())


_DEFAULT_CONFIG = MappingConfig()


def _number(value: float | int) -> float | int:
    # Floats go into the JSON as repr() writes them (the shortest text that reads back
    # as the same float) and fhir.resources turns that text into a Decimal: lossless.
    if isinstance(value, float) and not math.isfinite(value):
        raise FhirMappingError("Observation", f"{value} is not a finite number")
    return value


def _quantity(value: float | int, unit: str) -> Json:
    return {"value": _number(value), "unit": unit, "system": c.UCUM, "code": unit}


def _concept(row: c.Row) -> Json:
    return {"coding": [code.json() for code in row.codes]}


def _absent_reason(status: frozenset[str]) -> Json:
    code = next((reason for flag, reason in c.ABSENT_REASON if flag in status), "unknown")
    return {"coding": [{"system": c.DATA_ABSENT_REASON, "code": code}]}


def _component(row: c.Row, value: float | int | None, unit: str, status: frozenset[str]) -> Json:
    comp: Json = {"code": _concept(row)}
    if value is None:
        comp["dataAbsentReason"] = _absent_reason(status)
    else:
        comp["valueQuantity"] = _quantity(value, unit)
    return comp


def _device_key(info: DeviceInfo | None) -> str:
    # PHD IG "Conditional-create Identifier": the EUI-64 as 16 upper-case hex digits.
    if info is None:
        return "unknown-device"
    if info.system_id:
        return info.system_id.replace("-", "").replace(":", "").upper()
    if info.address:
        return info.address.replace(":", "").upper()
    if info.serial_number:
        return f"{info.manufacturer or ''}~{info.model or ''}~{info.serial_number}"
    return "unknown-device"


def _stamp(m: Measurement, when: datetime) -> str:
    if isinstance(m, BloodGlucose):
        return f"seq{m.sequence_number}"
    prefix = "" if m.measured_at is not None else "rx"
    return prefix + when.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")


_HAS_INTERMEDIATE = (BloodPressure, BodyTemperature)


def _is_intermediate(m: Measurement) -> bool:
    return isinstance(m, _HAS_INTERMEDIATE) and m.intermediate


def _variant(m: Measurement) -> tuple[str, int]:
    flag = _is_intermediate(m) or (isinstance(m, OxygenSaturation) and m.continuous)
    kind: str = getattr(m, "kind", "")
    try:
        return c.VARIANTS[kind, flag]
    except KeyError:
        raise FhirMappingError("Observation", f"no FHIR mapping for {type(m).__name__}") from None


@dataclass(frozen=True, slots=True)
class _Context:
    patient: str
    device: str | None
    encounter: str | None
    performer: tuple[str, ...]
    gateway: str | None
    received_at: datetime
    config: MappingConfig


class _Builder:
    """Builds the Observation JSON of one measurement (primary first, then related)."""

    def __init__(self, m: Measurement, ctx: _Context) -> None:
        self.m = m
        self.ctx = ctx
        self.method, self.characteristic = _variant(m)
        self.when = m.measured_at if m.measured_at is not None else ctx.received_at
        self.effective = self.when.isoformat()
        self.id_prefix = f"{_device_key(m.device)}-{ctx.patient}-{self.characteristic:04x}"
        self.id_stamp = _stamp(m, self.when)
        preliminary = _is_intermediate(m) or not m.status.isdisjoint(c.PRELIMINARY_FLAGS)
        self.status = (
            "entered-in-error"
            if not m.status.isdisjoint(c.INVALID_FLAGS)
            else "preliminary"
            if preliminary
            else "final"
        )

    def identifier(self, row: c.Row) -> str:
        return f"{self.id_prefix}-{row.mdc}-{self.id_stamp}"

    def base(self, row: c.Row, *, primary: bool, vital_sign: bool = True, compound: bool = False) -> Json:
        m, ctx = self.m, self.ctx
        profiles = [c.PHD_COMPOUND if compound else c.PHD_NUMERIC]
        if vital_sign and row.profile is not None:
            profiles[:0] = [c.VITALSIGNS, row.profile]
        profiles.extend(ctx.config.profiles_for(row.key))
        meta: Json = {"profile": profiles}
        if not m.status.isdisjoint(c.TEST_DATA_FLAGS):
            meta["security"] = [{"system": c.ACT_REASON, "code": "HTEST"}]
        obs: Json = {"resourceType": "Observation", "meta": meta}
        extensions: list[Json] = []
        if ctx.gateway is not None:
            extensions.append({"url": c.GATEWAY_DEVICE_EXT, "valueReference": {"reference": ctx.gateway}})
        if m.measured_at is None:
            extensions.append({"url": c.EXT_TIME_SOURCE, "valueCode": "reception"})
        if primary:
            extensions.extend({"url": c.EXT_STATUS, "valueCode": flag} for flag in sorted(m.status))
            if m.user_index is not None:
                extensions.append({"url": c.EXT_USER_INDEX, "valueInteger": m.user_index})
        if extensions:
            obs["extension"] = extensions
        obs["identifier"] = [{"system": ctx.config.identifier_system, "value": self.identifier(row)}]
        obs["status"] = self.status
        obs["category"] = _categories(vital_sign)
        obs["code"] = _concept(row)
        obs["subject"] = {"reference": ctx.patient}
        if ctx.encounter is not None:
            obs["encounter"] = {"reference": ctx.encounter}
        obs["effectiveDateTime"] = self.effective
        if ctx.performer:
            obs["performer"] = [{"reference": ref} for ref in ctx.performer]
        interpretation = [
            {"coding": [{"system": c.MEASUREMENT_STATUS, "code": code}]}
            for flag, code in c.INTERPRETATION.items()
            if flag in m.status
        ]
        if interpretation:
            obs["interpretation"] = interpretation
        if m.measured_at is None:
            obs["note"] = [{"text": _RECEPTION_NOTE}]
        obs["method"] = {"coding": [{"system": c.TM_METHOD, "code": self.method}]}
        if ctx.device is not None:
            obs["device"] = {"reference": ctx.device}
        elif m.device is not None and primary:
            obs["contained"] = [_device_json(m.device, "device")]
            obs["device"] = {"reference": "#device"}
        return obs

    def numeric(
        self, row: c.Row, value: float | int | None, unit: str, *, primary: bool, vital_sign: bool = True
    ) -> Json:
        obs = self.base(row, primary=primary, vital_sign=vital_sign)
        if value is None:
            obs["dataAbsentReason"] = _absent_reason(self.m.status)
        else:
            obs["valueQuantity"] = _quantity(value, unit)
        return obs


def _coded(system: str, code: str, mdc: Mapping[str, c.Code]) -> Json:
    # Our code first (it round-trips), the MDC term next when there is one.
    coding = [{"system": system, "code": code}]
    if code in mdc:
        coding.append(mdc[code].json())
    return {"coding": coding}


def _absent_unit(obs: Json, name: str, value: object, unit: str, default: str) -> None:
    # A unit whose value is absent would be lost; keep it when it is not the default.
    if value is None and unit != default:
        obs.setdefault("extension", []).append(
            {
                "url": c.EXT_ABSENT_UNIT,
                "extension": [{"url": "field", "valueCode": name}, {"url": "unit", "valueCode": unit}],
            }
        )


def _blood_pressure(m: BloodPressure, b: _Builder) -> list[Json]:
    # The vital-signs BP profile fixes the unit to mm[Hg]; kPa readings keep only the PHD profile.
    obs = b.base(c.BLOOD_PRESSURE, primary=True, vital_sign=m.unit == "mm[Hg]", compound=True)
    if m.unit != "mm[Hg]":
        obs["category"] = _categories(True)
    obs["component"] = [
        _component(c.SYSTOLIC, m.systolic, m.unit, m.status),
        _component(c.DIASTOLIC, m.diastolic, m.unit, m.status),
    ]
    if m.mean_arterial is not None:
        obs["component"].append(_component(c.MEAN_ARTERIAL, m.mean_arterial, m.unit, m.status))
    if m.systolic is None and m.diastolic is None and m.mean_arterial is None:
        _absent_unit(obs, "unit", None, m.unit, "mm[Hg]")
    out = [obs]
    if m.pulse_rate is not None:
        out.append(b.numeric(c.BP_PULSE, m.pulse_rate, "/min", primary=False))
    return out


def _heart_rate(m: HeartRate, b: _Builder) -> list[Json]:
    obs = b.numeric(c.HEART_RATE, m.bpm, "/min", primary=True)
    comps = [_component(c.RR_INTERVAL, rr, "s", m.status) for rr in m.rr_intervals_s]
    if m.energy_expended_kj is not None:
        comps.append(_component(c.ENERGY_EXPENDED, m.energy_expended_kj, "kJ", m.status))
    if m.sensor_contact is not None:
        comps.append({"code": _concept(c.SENSOR_CONTACT), "valueBoolean": m.sensor_contact})
    if comps:
        obs["component"] = comps
    return [obs]


def _oxygen_saturation(m: OxygenSaturation, b: _Builder) -> list[Json]:
    obs = b.numeric(c.SPO2, m.spo2_percent, "%", primary=True)
    comps: list[Json] = []
    if not m.continuous:
        # PHD IG supplemental types: a spot check is MDC_MODALITY_SPOT.
        comps.append(
            {
                "code": {"coding": [{"system": c.MDC, "code": c.MDC_ATTR_SUPPLEMENTAL_TYPES}]},
                "valueCodeableConcept": {"coding": [{"system": c.MDC, "code": c.MDC_MODALITY_SPOT}]},
            }
        )
    for name, row, unit in c.SPO2_EXTRAS:
        value = getattr(m, name)
        if value is not None:
            comps.append(_component(row, value, unit, m.status))
    if comps:
        obs["component"] = comps
    out = [obs]
    if m.pulse_rate is not None:
        out.append(b.numeric(c.PLX_PULSE, m.pulse_rate, "/min", primary=False))
    return out


def _body_temperature(m: BodyTemperature, b: _Builder) -> list[Json]:
    obs = b.numeric(c.BODY_TEMPERATURE, m.value, m.unit, primary=True)
    _absent_unit(obs, "unit", m.value, m.unit, "Cel")
    if m.site is not None:
        obs["bodySite"] = {"coding": [{"system": c.TM_SITE, "code": m.site}]}
    return [obs]


def _body_weight(m: BodyWeight, b: _Builder) -> list[Json]:
    obs = b.numeric(c.BODY_WEIGHT, m.value, m.unit, primary=True)
    _absent_unit(obs, "unit", m.value, m.unit, "kg")
    _absent_unit(obs, "height_unit", m.height, m.height_unit, "m")
    out = [obs]
    if m.height is not None:
        # The vital-signs body-height units are cm and [in_i]: metres are scaled exactly.
        if m.height_unit == "m":
            height = b.numeric(c.BODY_HEIGHT, 0, "cm", primary=False)
            height["valueQuantity"]["value"] = float(Decimal(repr(_number(m.height))).scaleb(2))
        else:
            height = b.numeric(c.BODY_HEIGHT, m.height, m.height_unit, primary=False)
        out.append(height)
    if m.bmi is not None:
        out.append(b.numeric(c.BMI, m.bmi, "kg/m2", primary=False))
    return out


def _blood_glucose(m: BloodGlucose, b: _Builder) -> list[Json]:
    row = c.glucose_row(m.sample_type, m.unit)
    obs = b.numeric(row, m.value, m.unit, primary=True, vital_sign=False)
    obs.setdefault("extension", []).append({"url": c.EXT_SEQUENCE, "valueInteger": m.sequence_number})
    _absent_unit(obs, "unit", m.value, m.unit, "mg/dL")
    if m.sample_location is not None:
        obs["bodySite"] = _coded(c.TM_SITE, m.sample_location, c.SAMPLE_LOCATION_MDC)
    comps: list[Json] = []
    if m.sample_type is not None:
        comps.append(
            {
                "code": _concept(c.SAMPLE_TYPE),
                "valueCodeableConcept": {"coding": [{"system": c.TM_SAMPLE, "code": m.sample_type}]},
            }
        )
    if m.context is not None:
        cx = m.context
        obs["extension"].append({"url": c.EXT_CONTEXT, "valueBoolean": True})
        _absent_unit(obs, "medication_unit", cx.medication_amount, cx.medication_unit, "mg")
        for name, (crow, kind, unit) in c.CONTEXT_FIELDS.items():
            value = getattr(cx, name)
            if value is None:
                continue
            if kind == "code":
                comps.append(
                    {
                        "code": _concept(crow),
                        "valueCodeableConcept": _coded(c.TM_CONTEXT, value, c.CONTEXT_VALUE_MDC),
                    }
                )
            else:
                comps.append(_component(crow, value, unit or cx.medication_unit, m.status))
    if comps:
        obs["component"] = comps
    return [obs]


_BUILDERS: dict[type[Measurement], Any] = {
    BloodPressure: _blood_pressure,
    HeartRate: _heart_rate,
    OxygenSaturation: _oxygen_saturation,
    BodyTemperature: _body_temperature,
    BodyWeight: _body_weight,
    BloodGlucose: _blood_glucose,
}


def _observation_dicts(m: Measurement, ctx: _Context) -> list[Json]:
    build = _BUILDERS.get(type(m))
    if build is None:
        raise FhirMappingError("Observation", f"no FHIR mapping for {type(m).__name__}")
    result: list[Json] = build(m, _Builder(m, ctx))
    return result


def _context(
    patient: str,
    device: str | None,
    encounter: str | None,
    performer: str | Sequence[str] | None,
    gateway: str | None,
    received_at: datetime | None,
    config: MappingConfig | None,
) -> _Context:
    if received_at is not None and received_at.utcoffset() is None:
        raise FhirMappingError("Observation", "received_at must be timezone-aware")
    return _Context(
        patient=patient,
        device=device,
        encounter=encounter,
        performer=(performer,) if isinstance(performer, str) else tuple(performer or ()),
        gateway=gateway,
        received_at=received_at if received_at is not None else datetime.now(UTC),
        config=config or _DEFAULT_CONFIG,
    )


def _validate(model: type[Any], data: Json) -> Any:
    try:
        return model.model_validate(data)
    except ValueError as exc:  # pydantic.ValidationError is a ValueError
        raise FhirMappingError(data.get("resourceType", model.__name__), str(exc)) from exc


def to_observations(
    measurement: Measurement,
    *,
    patient: str,
    device: str | None = None,
    encounter: str | None = None,
    performer: str | Sequence[str] | None = None,
    gateway: str | None = None,
    received_at: datetime | None = None,
    config: MappingConfig | None = None,
) -> list[Observation]:
    """Map one measurement to its FHIR Observations, the main one first.

    Most readings are one Observation. A blood-pressure or oximeter reading with a
    pulse rate adds a heart-rate Observation, a scale that sent height and BMI adds one
    for each (as the vital-signs profiles want them separate).

    Args:
        measurement: The reading.
        patient: Reference to the patient (``"Patient/123"`` or a ``urn:uuid:``).
        device: Reference to the Device resource; without it the measurement's
            :class:`~telemedroom.DeviceInfo` is embedded as a contained Device.
        encounter: Reference to the Encounter (the consultation), if any.
        performer: Reference(s) of who measured, if known.
        gateway: Reference to the room's gateway Device (PHD ``gatewayDevice`` extension).
        received_at: When the room received the reading; used (and flagged) as the
            effective time when the device sent no time stamp. Default: now.
        config: Identifier system and extra profiles.

    Returns:
        Validated ``fhir.resources`` R4B Observations.

    Raises:
        FhirMappingError: The measurement type has no mapping, or a value is not finite.

    Examples:
        >>> from datetime import datetime, UTC
        >>> from telemedroom import BodyWeight
        >>> w = BodyWeight(value=72.4, height=1.78, bmi=22.9, measured_at=datetime(2026, 11, 24, tzinfo=UTC))
        >>> for o in to_observations(w, patient="Patient/p1"):
        ...     print(o.code.coding[0].code, o.valueQuantity.value, o.valueQuantity.code)
        29463-7 72.4 kg
        8302-2 178.0 cm
        39156-5 22.9 kg/m2
    """
    ctx = _context(patient, device, encounter, performer, gateway, received_at, config)
    return [_validate(Observation, d) for d in _observation_dicts(measurement, ctx)]


def to_observation(
    measurement: Measurement,
    *,
    patient: str,
    device: str | None = None,
    encounter: str | None = None,
    performer: str | Sequence[str] | None = None,
    gateway: str | None = None,
    received_at: datetime | None = None,
    config: MappingConfig | None = None,
) -> Observation:
    """Map a measurement to its main FHIR Observation (see :func:`to_observations`).

    Examples:
        >>> from telemedroom import HeartRate
        >>> obs = to_observation(HeartRate(bpm=61), patient="Patient/p1")
        >>> obs.code.coding[0].code, obs.valueQuantity.code, obs.meta.profile[1]
        ('8867-4', '/min', 'http://hl7.org/fhir/StructureDefinition/heartrate')
    """
    ctx = _context(patient, device, encounter, performer, gateway, received_at, config)
    result: Observation = _validate(Observation, _observation_dicts(measurement, ctx)[0])
    return result


def observation_json(
    measurement: Measurement,
    *,
    patient: str,
    device: str | None = None,
    encounter: str | None = None,
    performer: str | Sequence[str] | None = None,
    gateway: str | None = None,
    received_at: datetime | None = None,
    config: MappingConfig | None = None,
) -> list[bytes]:
    """The FHIR JSON of :func:`to_observations`, without building pydantic models.

    This is the fast path for uploads: the same JSON the models would serialise to
    (the test suite validates it with ``fhir.resources``), at a fraction of the cost.

    Examples:
        >>> from telemedroom import HeartRate
        >>> observation_json(HeartRate(bpm=61), patient="Patient/p1")[0][:40]
        b'{"resourceType":"Observation","meta":{"p'
    """
    ctx = _context(patient, device, encounter, performer, gateway, received_at, config)
    return [dumps(d) for d in _observation_dicts(measurement, ctx)]


def _device_json(info: DeviceInfo, resource_id: str | None = None) -> Json:
    # PHD IG PhdDevice: system id and transport address as typed identifiers.
    dev: Json = {"resourceType": "Device"}
    if resource_id is not None:
        dev["id"] = resource_id
    dev["meta"] = {"profile": [c.PHD_DEVICE]}
    identifiers = [
        {"type": {"coding": [{"system": c.DEVICE_ID_TYPES, "code": code}]}, "system": system, "value": value}
        for code, system, value in (
            ("SYSID", c.EUI64_SYSTEM, info.system_id),
            ("BTMAC", c.BT_MAC_SYSTEM, info.address),
        )
        if value is not None
    ]
    if identifiers:
        dev["identifier"] = identifiers
    if info.manufacturer is not None:
        dev["manufacturer"] = info.manufacturer
    if info.serial_number is not None:
        dev["serialNumber"] = info.serial_number
    if info.model is not None:
        dev["modelNumber"] = info.model
    dev["type"] = {
        "coding": [{"system": c.MDC, "code": c.MDC_MOC_VMS_MDS_SIMP, "display": "MDC_MOC_VMS_MDS_SIMP"}]
    }
    versions = [
        {"type": {"coding": [{"system": c.MDC, "code": code, "display": display}]}, "value": value}
        for code, display, attr in c.DEVICE_VERSIONS
        if (value := getattr(info, attr)) is not None
    ]
    if versions:
        dev["version"] = versions
    return dev


def to_device(info: DeviceInfo) -> Device:
    """Map what a device told about itself to a FHIR Device (PHD IG ``PhdDevice``).

    Examples:
        >>> from telemedroom import DeviceInfo
        >>> dev = to_device(DeviceInfo(manufacturer="Acme Medical", model="BP-7",
        ...                            system_id="00-1B-2C-FF-FE-3D-4E-5F", firmware_revision="1.2"))
        >>> dev.identifier[0].value, dev.manufacturer, dev.version[0].value
        ('00-1B-2C-FF-FE-3D-4E-5F', 'Acme Medical', '1.2')
    """
    result: Device = _validate(Device, _device_json(info))
    return result


def gateway_device(
    name: str = "telemedroom", *, identifier: str, version: str | None = None, owner: str | None = None
) -> Device:
    """The room itself as a FHIR Device (PHD IG ``PhgDevice``): what forwarded the readings.

    Args:
        name: The room's name, shown to clinicians.
        identifier: A stable identifier of the room (e.g. its EUI-64 or a UUID).
        version: The software version (default: telemedroom's).
        owner: Reference to the Organization running the room.

    Examples:
        >>> gateway_device("Room Quartier Nord", identifier="room-nord-1").deviceName[0].name
        'Room Quartier Nord'
    """
    from telemedroom._version import __version__

    dev: Json = {
        "resourceType": "Device",
        "meta": {"profile": [c.PHG_DEVICE]},
        "identifier": [{"system": c.GATEWAY_ID_SYSTEM, "value": identifier}],
        "deviceName": [{"name": name, "type": "user-friendly-name"}],
        "manufacturer": "telemedroom",
        "version": [{"value": version or __version__}],
    }
    if owner is not None:
        dev["owner"] = {"reference": owner}
    result: Device = _validate(Device, dev)
    return result


def _provenance_json(
    targets: Sequence[str], agent: str | None, recorded: datetime, *, display: str = "telemedroom"
) -> Json:
    # Also the room's wrap-up Provenance (telemedroom._room._wrapup): ``display`` names the
    # assembler when there is no gateway Device to reference.
    return {
        "resourceType": "Provenance",
        "target": [{"reference": ref} for ref in targets],
        "recorded": recorded.isoformat(),
        "activity": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-DataOperation", "code": "CREATE"}]
        },
        "agent": [
            {
                "type": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                            "code": "assembler",
                        }
                    ]
                },
                "who": {"reference": agent} if agent else {"display": display},
            }
        ],
    }


def to_provenance(
    targets: Sequence[str], *, agent: str | None = None, recorded: datetime | None = None
) -> Provenance:
    """A Provenance saying the room (``agent``, the gateway Device) assembled ``targets``.

    Examples:
        >>> from datetime import datetime, UTC
        >>> when = datetime(2026, 11, 24, tzinfo=UTC)
        >>> prov = to_provenance(["Observation/1"], agent="Device/room", recorded=when)
        >>> prov.target[0].reference, prov.agent[0].who.reference
        ('Observation/1', 'Device/room')
    """
    if not targets:
        raise FhirMappingError("Provenance", "a Provenance needs at least one target")
    result: Provenance = _validate(
        Provenance, _provenance_json(targets, agent, recorded or datetime.now(UTC))
    )
    return result


def _urn(kind: str, system: str, value: str) -> str:
    return f"urn:uuid:{uuid.uuid5(_URN_NAMESPACE, f'{kind}|{system}|{value}')}"


def _search_value(text: str) -> str:
    # FHIR search: ',', '$' and '|' are separators inside a token value; escape them.
    return text.replace("\\", "\\\\").replace(",", "\\,").replace("$", "\\$").replace("|", "\\|")


def _conditional(system: str, value: str) -> str:
    from urllib.parse import quote

    return f"identifier={quote(system, safe=':/')}|{quote(_search_value(value), safe='')}"


def transaction_json(
    measurements: Iterable[Measurement],
    *,
    patient: str,
    encounter: str | None = None,
    performer: str | Sequence[str] | None = None,
    gateway: Device | None = None,
    received_at: datetime | None = None,
    provenance: bool = True,
    config: MappingConfig | None = None,
) -> Json:
    """The JSON of :func:`to_transaction` (plain dicts; what the outbox stores)."""
    cfg = config or _DEFAULT_CONFIG
    entries: list[Json] = []
    gateway_ref: str | None = None
    if gateway is not None:
        gw = json.loads(gateway.model_dump_json())
        gw_id = gw.get("identifier", [{}])[0]
        if not gw_id.get("value"):
            raise FhirMappingError(
                "Device", "the gateway Device needs an identifier for a conditional create"
            )
        gateway_ref = _urn("Device", gw_id.get("system", ""), gw_id["value"])
        entries.append(_create(gateway_ref, gw, gw_id.get("system", ""), gw_id["value"]))
    devices: dict[str, str] = {}
    targets: list[str] = []
    now = received_at or datetime.now(UTC)
    for m in measurements:
        device_ref: str | None = None
        if m.device is not None:
            dev = _device_json(m.device)
            dev_system, dev_value = _device_identity(m.device)
            device_ref = devices.get(dev_value)
            if device_ref is None:
                device_ref = _urn("Device", dev_system, dev_value)
                devices[dev_value] = device_ref
                if "identifier" not in dev:
                    dev["identifier"] = [{"system": dev_system, "value": dev_value}]
                entries.append(_create(device_ref, dev, dev_system, dev_value))
        ctx = _context(patient, device_ref, encounter, performer, gateway_ref, now, cfg)
        for obs in _observation_dicts(m, ctx):
            ident = obs["identifier"][0]
            ref = _urn("Observation", ident["system"], ident["value"])
            targets.append(ref)
            entries.append(_create(ref, obs, ident["system"], ident["value"]))
    if not targets:
        raise FhirMappingError("Bundle", "a transaction needs at least one measurement")
    if provenance:
        # Provenance has no identifier to create it conditionally; a PUT with a
        # deterministic client id (uuid5 of its targets) is just as safe to repeat.
        prov = _provenance_json(targets, gateway_ref, now)
        full_url = _urn("Provenance", "", "|".join(targets))
        prov = {"resourceType": "Provenance", "id": full_url.removeprefix("urn:uuid:"), **prov}
        entries.append(
            {
                "fullUrl": full_url,
                "resource": prov,
                "request": {"method": "PUT", "url": f"Provenance/{prov['id']}"},
            }
        )
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def _device_identity(info: DeviceInfo) -> tuple[str, str]:
    if info.system_id:
        return c.EUI64_SYSTEM, info.system_id
    if info.address:
        return c.BT_MAC_SYSTEM, info.address
    return c.DEVICE_KEY_SYSTEM, _device_key(info)


def _create(full_url: str, resource: Json, system: str, value: str) -> Json:
    kind = resource["resourceType"]
    return {
        "fullUrl": full_url,
        "resource": resource,
        "request": {"method": "POST", "url": kind, "ifNoneExist": _conditional(system, value)},
    }


def to_transaction(
    measurements: Iterable[Measurement],
    *,
    patient: str,
    encounter: str | None = None,
    performer: str | Sequence[str] | None = None,
    gateway: Device | None = None,
    received_at: datetime | None = None,
    provenance: bool = True,
    config: MappingConfig | None = None,
) -> Bundle:
    """A transaction Bundle creating the readings, their Devices and a Provenance.

    Every entry has a ``urn:uuid`` fullUrl (uuid5 of its identifier, so rebuilding the
    bundle gives the same bytes), Device and Observation creates are conditional
    (``ifNoneExist`` on the identifier) and the Provenance is a PUT with a deterministic
    id: sending the bundle twice creates nothing new.

    Args:
        measurements: The readings.
        patient: Reference to the patient.
        encounter: Reference to the Encounter, if any.
        performer: Reference(s) of who measured, if known.
        gateway: The room's Device (see :func:`gateway_device`); referenced by every
            Observation and the Provenance.
        received_at: When the room received readings without a device time stamp.
        provenance: Add a Provenance entry targeting every Observation.
        config: Identifier system and extra profiles.

    Examples:
        >>> from datetime import datetime, UTC
        >>> from telemedroom import HeartRate, DeviceInfo
        >>> hr = HeartRate(bpm=61, measured_at=datetime(2026, 11, 24, tzinfo=UTC),
        ...                device=DeviceInfo(system_id="00-1B-2C-FF-FE-3D-4E-5F"))
        >>> bundle = to_transaction([hr], patient="Patient/p1")
        >>> for e in bundle.entry:
        ...     print(e.request.method, e.request.url.split("/")[0], e.fullUrl[:9])
        POST Device urn:uuid:
        POST Observation urn:uuid:
        PUT Provenance urn:uuid:
        >>> bundle.entry[1].request.ifNoneExist.partition("|")[2]
        '001B2CFFFE3D4E5F-Patient%2Fp1-2a37-147842-20261124T000000.000000Z'
    """
    data = transaction_json(
        measurements,
        patient=patient,
        encounter=encounter,
        performer=performer,
        gateway=gateway,
        received_at=received_at,
        provenance=provenance,
        config=config,
    )
    result: Bundle = _validate(Bundle, data)
    return result


def _as_json(resource: Any) -> Json:
    if isinstance(resource, dict):
        return resource
    data: Json = json.loads(resource.model_dump_json())
    return data


def from_observation(
    observation: Observation | Json, *related: Observation | Json, device: Device | Json | None = None
) -> Measurement:
    """Turn an Observation made by :func:`to_observations` back into the measurement.

    Args:
        observation: The main Observation.
        *related: Its related Observations (pulse rate, height, BMI), if any.
        device: The Device the Observation references, when it is not contained.

    Raises:
        FhirMappingError: The Observation does not carry a reading this mapping made.

    Examples:
        >>> from telemedroom import BodyWeight
        >>> w = BodyWeight(value=72.4, height=1.78)
        >>> from_observation(*to_observations(w, patient="Patient/p1")) == w
        True
    """
    return read_observation(
        _as_json(observation),
        [_as_json(r) for r in related],
        None if device is None else _as_json(device),
    )


def from_bundle(bundle: Bundle | Json) -> list[Measurement]:
    """The measurements of a Bundle made by :func:`to_transaction` (or a search result).

    Related Observations (pulse rate, height, BMI) are joined to their main Observation
    through their shared identifier; Devices are resolved by fullUrl or ``Device/<id>``.

    Examples:
        >>> from telemedroom import OxygenSaturation
        >>> readings = [OxygenSaturation(spo2_percent=97, pulse_rate=68)]
        >>> from_bundle(to_transaction(readings, patient="Patient/p1")) == readings
        True
    """
    return read_bundle(_as_json(bundle))
