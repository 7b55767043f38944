"""The way back: FHIR JSON written by the mapping to measurements.

Readers per measurement type, keyed by the ``Observation.method`` code the mapping
writes; every code comes from ``_codes.py``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from telemedroom.errors import FhirMappingError
from telemedroom.fhir import _codes as c
from telemedroom.measurements import (
    BloodGlucose,
    BloodPressure,
    BodyTemperature,
    BodyWeight,
    DeviceInfo,
    GlucoseContext,
    HeartRate,
    Measurement,
    OxygenSaturation,
)

Json = dict[str, Any]


def _device_from_json(dev: Json) -> DeviceInfo:
    ids = {
        i.get("type", {}).get("coding", [{}])[0].get("code"): i.get("value")
        for i in dev.get("identifier", [])
    }
    versions = {
        v.get("type", {}).get("coding", [{}])[0].get("code"): v.get("value") for v in dev.get("version", [])
    }
    return DeviceInfo(
        manufacturer=dev.get("manufacturer"),
        model=dev.get("modelNumber"),
        serial_number=dev.get("serialNumber"),
        system_id=ids.get("SYSID"),
        address=ids.get("BTMAC"),
        **{attr: versions.get(code) for code, _display, attr in c.DEVICE_VERSIONS},
    )


def _codes_of(concept: Json | None) -> set[tuple[str, str]]:
    return {(cd.get("system", ""), cd.get("code", "")) for cd in (concept or {}).get("coding", [])}


def _as_float(value: Any) -> float:
    return float(value)


def _qty(item: Json) -> tuple[float | None, str | None]:
    q = item.get("valueQuantity")
    if q is None or "value" not in q:
        return None, None
    return _as_float(q["value"]), q.get("code") or q.get("unit")


def _row_of(concept: Json | None, rows: Iterable[c.Row]) -> c.Row | None:
    codes = _codes_of(concept)
    for row in rows:
        if any((code.system, code.code) in codes for code in row.codes):
            return row
    return None


_COMPONENT_ROWS = (
    c.SYSTOLIC,
    c.DIASTOLIC,
    c.MEAN_ARTERIAL,
    c.RR_INTERVAL,
    c.PULSE_AMPLITUDE,
    c.ENERGY_EXPENDED,
    c.SENSOR_CONTACT,
    c.SPO2_FAST,
    c.SPO2_SLOW,
    c.PULSE_FAST,
    c.PULSE_SLOW,
    c.SAMPLE_TYPE,
)
_CONTEXT_BY_CODE = {
    row.codes[0].code: (name, row, kind) for name, (row, kind, _u) in c.CONTEXT_FIELDS.items()
}
# Related Observations: which field of the main measurement their value fills.
_RELATED = {
    c.BP_PULSE.mdc: "pulse_rate",
    c.PLX_PULSE.mdc: "pulse_rate",
    c.BODY_HEIGHT.mdc: "height",
    c.BMI.mdc: "bmi",
}


def _extensions(obs: Json, url: str) -> list[Json]:
    return [e for e in obs.get("extension", []) if e.get("url") == url]


def _first_code(concept: Json | None, system: str) -> str | None:
    for cd in (concept or {}).get("coding", []):
        if cd.get("system") == system:
            code: str | None = cd.get("code")
            return code
    return None


def read_observation(obs: Json, related: list[Json], device: Json | None) -> Measurement:
    """The measurement of an Observation (FHIR JSON) that the mapping wrote."""
    if obs.get("resourceType") != "Observation":
        raise FhirMappingError(str(obs.get("resourceType")), "not an Observation")
    method = _first_code(obs.get("method"), c.TM_METHOD)
    variant = c.VARIANT_OF_METHOD.get(method or "")
    if variant is None:
        raise FhirMappingError("Observation", f"method {method!r} is not one telemedroom writes")
    kind, flag = variant
    try:
        return _READERS[kind](obs, flag, related, _device_of(obs, device))
    except FhirMappingError:
        raise
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise FhirMappingError("Observation", f"malformed {kind} Observation: {exc}") from exc


def _device_of(obs: Json, device: Json | None) -> DeviceInfo | None:
    if device is not None:
        return _device_from_json(device)
    ref = obs.get("device", {}).get("reference", "")
    if ref.startswith("#"):
        for res in obs.get("contained", []):
            if res.get("resourceType") == "Device" and res.get("id") == ref[1:]:
                return _device_from_json(res)
    return None


def _common(obs: Json, device: DeviceInfo | None) -> dict[str, Any]:
    status = frozenset(e["valueCode"] for e in _extensions(obs, c.EXT_STATUS))
    reception = any(e.get("valueCode") == "reception" for e in _extensions(obs, c.EXT_TIME_SOURCE))
    user = _extensions(obs, c.EXT_USER_INDEX)
    measured_at = None if reception else datetime.fromisoformat(obs["effectiveDateTime"])
    return {
        "measured_at": measured_at,
        "device": device,
        "user_index": user[0]["valueInteger"] if user else None,
        "status": status,
    }


def _absent_units(obs: Json) -> dict[str, str]:
    out: dict[str, str] = {}
    for ext in _extensions(obs, c.EXT_ABSENT_UNIT):
        parts = {sub["url"]: sub["valueCode"] for sub in ext.get("extension", [])}
        out[parts["field"]] = parts["unit"]
    return out


def _related_values(related: list[Json]) -> dict[str, tuple[float | None, str | None]]:
    out: dict[str, tuple[float | None, str | None]] = {}
    for rel in related:
        mdc = _first_code(rel.get("code"), c.MDC)
        name = _RELATED.get(mdc or "")
        if name is None:
            raise FhirMappingError("Observation", f"related Observation with code {mdc} is not one we write")
        out[name] = _qty(rel)
    return out


def _components(obs: Json) -> list[tuple[c.Row | None, Json]]:
    return [(_row_of(comp.get("code"), _COMPONENT_ROWS), comp) for comp in obs.get("component", [])]


def _read_bp(obs: Json, flag: bool, related: list[Json], device: DeviceInfo | None) -> Measurement:
    values: dict[str, Any] = {"systolic": None, "diastolic": None, "mean_arterial": None}
    unit = _absent_units(obs).get("unit")
    for row, comp in _components(obs):
        if row is not None and row.key in values:
            values[row.key], comp_unit = _qty(comp)
            unit = unit or comp_unit
    rel = _related_values(related)
    return BloodPressure(
        **values,
        unit=unit or "mm[Hg]",  # type: ignore[arg-type]
        pulse_rate=rel.get("pulse_rate", (None, None))[0],
        intermediate=flag,
        **_common(obs, device),
    )


def _read_hr(obs: Json, flag: bool, related: list[Json], device: DeviceInfo | None) -> Measurement:
    value, _unit = _qty(obs)
    rr: list[float] = []
    energy: int | None = None
    contact: bool | None = None
    for row, comp in _components(obs):
        if row is c.RR_INTERVAL:
            rr.append(_qty(comp)[0])  # type: ignore[arg-type]
        elif row is c.ENERGY_EXPENDED:
            energy = int(comp["valueQuantity"]["value"])
        elif row is c.SENSOR_CONTACT:
            contact = comp["valueBoolean"]
    if value is None:
        raise FhirMappingError("Observation", "a heart-rate Observation needs a value")
    return HeartRate(
        bpm=int(value),
        rr_intervals_s=tuple(rr),
        energy_expended_kj=energy,
        sensor_contact=contact,
        **_common(obs, device),
    )


_SPO2_FIELD_OF = {row.key: name for name, row, _unit in c.SPO2_EXTRAS}


def _read_spo2(obs: Json, flag: bool, related: list[Json], device: DeviceInfo | None) -> Measurement:
    value, _unit = _qty(obs)
    extras: dict[str, Any] = {}
    for row, comp in _components(obs):
        if row is not None and row.key in _SPO2_FIELD_OF:
            extras[_SPO2_FIELD_OF[row.key]] = _qty(comp)[0]
    rel = _related_values(related)
    return OxygenSaturation(
        spo2_percent=value,
        pulse_rate=rel.get("pulse_rate", (None, None))[0],
        continuous=flag,
        **extras,
        **_common(obs, device),
    )


def _read_temp(obs: Json, flag: bool, related: list[Json], device: DeviceInfo | None) -> Measurement:
    value, unit = _qty(obs)
    return BodyTemperature(
        value=value,
        unit=unit or _absent_units(obs).get("unit", "Cel"),  # type: ignore[arg-type]
        site=_first_code(obs.get("bodySite"), c.TM_SITE),
        intermediate=flag,
        **_common(obs, device),
    )


def _read_weight(obs: Json, flag: bool, related: list[Json], device: DeviceInfo | None) -> Measurement:
    value, unit = _qty(obs)
    absent = _absent_units(obs)
    rel = _related_values(related)
    height, height_unit = rel.get("height", (None, None))
    if height is not None and height_unit == "cm":
        # Undo the exact m -> cm scaling of the mapping.
        height, height_unit = float(Decimal(repr(height)).scaleb(-2)), "m"
    return BodyWeight(
        value=value,
        unit=unit or absent.get("unit", "kg"),  # type: ignore[arg-type]
        height=height,
        height_unit=height_unit or absent.get("height_unit", "m"),  # type: ignore[arg-type]
        bmi=rel.get("bmi", (None, None))[0],
        **_common(obs, device),
    )


def _read_glucose(obs: Json, flag: bool, related: list[Json], device: DeviceInfo | None) -> Measurement:
    value, unit = _qty(obs)
    absent = _absent_units(obs)
    sample_type: str | None = None
    context: dict[str, Any] = {}
    for row, comp in _components(obs):
        if row is c.SAMPLE_TYPE:
            sample_type = _first_code(comp.get("valueCodeableConcept"), c.TM_SAMPLE)
            continue
        code = _first_code(comp.get("code"), c.TM_CODES)
        if code in _CONTEXT_BY_CODE:
            name, _row, kind = _CONTEXT_BY_CODE[code]
            if kind == "code":
                context[name] = _first_code(comp.get("valueCodeableConcept"), c.TM_CONTEXT)
            else:
                number, q_unit = _qty(comp)
                context[name] = int(number) if kind == "int" and number is not None else number
                if name == "medication_amount":
                    context["medication_unit"] = q_unit
    if _extensions(obs, c.EXT_CONTEXT):
        context.setdefault("medication_unit", absent.get("medication_unit", "mg"))
        glucose_context: GlucoseContext | None = GlucoseContext(**context)
    else:
        glucose_context = None
    return BloodGlucose(
        value=value,
        unit=unit or absent.get("unit", "mg/dL"),  # type: ignore[arg-type]
        sequence_number=_extensions(obs, c.EXT_SEQUENCE)[0]["valueInteger"],
        sample_type=sample_type,
        sample_location=_first_code(obs.get("bodySite"), c.TM_SITE),
        context=glucose_context,
        **_common(obs, device),
    )


_READERS = {
    "blood_pressure": _read_bp,
    "heart_rate": _read_hr,
    "oxygen_saturation": _read_spo2,
    "body_temperature": _read_temp,
    "body_weight": _read_weight,
    "blood_glucose": _read_glucose,
}


def read_bundle(data: Json) -> list[Measurement]:
    """The measurements of a Bundle (FHIR JSON): related Observations joined by identifier."""
    resources = [(e.get("fullUrl"), e.get("resource", {})) for e in data.get("entry", [])]
    devices: dict[str, Json] = {}
    for url, res in resources:
        if res.get("resourceType") == "Device":
            # A reference may name the entry's fullUrl or, relative, "Device/<id>".
            devices.update({key: res for key in (url, f"Device/{res.get('id')}") if key})
    mains: list[Json] = []
    related: dict[str, list[Json]] = {}
    for _url, res in resources:
        if res.get("resourceType") != "Observation":
            continue
        mdc = _first_code(res.get("code"), c.MDC) or ""
        value = res.get("identifier", [{}])[0].get("value", "")
        # identifier = prefix-<mdc>-<stamp>: the prefix and stamp are shared by related ones.
        head, _sep, stamp = value.rpartition(f"-{mdc}-")
        if mdc in _RELATED:
            related.setdefault(f"{head}|{stamp}", []).append(res)
        else:
            mains.append(res)
    out: list[Measurement] = []
    for obs in mains:
        mdc = _first_code(obs.get("code"), c.MDC) or ""
        head, _sep, stamp = obs.get("identifier", [{}])[0].get("value", "").rpartition(f"-{mdc}-")
        dev_ref = obs.get("device", {}).get("reference", "")
        out.append(read_observation(obs, related.get(f"{head}|{stamp}", []), devices.get(dev_ref)))
    return out
