"""Measurement <-> FHIR mapping: codes, profiles, invariants (FHIRPath), round trips."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.observation import Observation
from fhirpathpy import compile as compile_fhirpath
from fhirpathpy.models import models
from hypothesis import given
from tests._hypothesis import FHIR_VALIDATION_EXAMPLES, at_most
from tests.fhir._strategies import measurements

from telemedroom import (
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
from telemedroom.errors import FhirMappingError
from telemedroom.fhir import (
    MappingConfig,
    from_bundle,
    from_observation,
    gateway_device,
    observation_json,
    to_device,
    to_observation,
    to_observations,
    to_provenance,
    to_transaction,
    transaction_json,
)

T0 = datetime(2026, 11, 24, 8, 15, tzinfo=UTC)
DEVICE = DeviceInfo(manufacturer="Acme Medical", model="BP-7", system_id="00-1B-2C-FF-FE-3D-4E-5F")
VS = "http://hl7.org/fhir/StructureDefinition/"

# FHIR R4 vital-signs invariants (observation-vitalsigns), as FHIRPath.
VS_INVARIANTS = {
    "vs-1": "effective.exists() implies (effective as dateTime).toString().length() >= 10",
    "vs-2": "(component.empty() and hasMember.empty()) implies (dataAbsentReason.exists() or value.exists())",
    "vs-3": "component.all(dataAbsentReason.exists() or value.exists())",
}


def as_json(resource: Any) -> dict[str, Any]:
    return json.loads(resource.model_dump_json())


@cache
def _compiled(path: str) -> Callable[[dict[str, Any], dict[str, Any]], list[Any]]:
    # Parsing a FHIRPath expression (ANTLR) costs ~13 ms, evaluating the parsed one under
    # 1 ms: each expression is parsed once, not once per property example.
    return compile_fhirpath(path, models["r4"])


def fhirpath(resource: dict[str, Any], path: str) -> list[Any]:
    return _compiled(path)(resource, {})


def codes(obs: dict[str, Any]) -> list[str]:
    return fhirpath(obs, "Observation.code.coding.code")


def test_blood_pressure_is_the_panel_with_components() -> None:
    bp = BloodPressure(systolic=128, diastolic=82, mean_arterial=97.3, pulse_rate=64, measured_at=T0)
    main, pulse = (as_json(o) for o in to_observations(bp, patient="Patient/p1"))
    assert codes(main) == ["85354-9", "150020"]
    assert fhirpath(main, "component.code.coding.code") == [
        "8480-6",
        "150021",
        "8462-4",
        "150022",
        "8478-0",
        "150023",
    ]
    assert fhirpath(main, "component.value.code") == ["mm[Hg]"] * 3
    assert fhirpath(main, "component.value.system.distinct()") == ["http://unitsofmeasure.org"]
    assert main["meta"]["profile"][:2] == [VS + "vitalsigns", VS + "bp"]
    assert fhirpath(main, "category.coding.where(code = 'vital-signs').exists()") == [True]
    assert main["status"] == "final"
    assert main["effectiveDateTime"] == "2026-11-24T08:15:00Z"
    assert codes(pulse) == ["8867-4", "149546"]
    assert pulse["valueQuantity"] == {
        "value": 64,
        "unit": "/min",
        "system": "http://unitsofmeasure.org",
        "code": "/min",
    }


def test_intermediate_cuff_pressure_is_preliminary() -> None:
    obs = to_observation(BloodPressure(systolic=150, diastolic=None, intermediate=True), patient="Patient/p1")
    assert obs.status == "preliminary"
    data = as_json(obs)
    # the absent diastolic has a reason, not a number (vs-3)
    assert fhirpath(data, "component[1].dataAbsentReason.coding.code") == ["unknown"]


@pytest.mark.parametrize(
    ("reading", "expected_codes", "unit", "profile"),
    [
        (HeartRate(bpm=61), ["8867-4", "147842"], "/min", "heartrate"),
        (OxygenSaturation(spo2_percent=97), ["59408-5", "2708-6", "150456"], "%", "oxygensat"),
        (BodyTemperature(value=36.8), ["8310-5", "150364"], "Cel", "bodytemp"),
        (BodyWeight(value=72.4), ["29463-7", "188736"], "kg", "bodyweight"),
    ],
)
def test_vital_sign_codes_units_and_profiles(
    reading: Measurement, expected_codes: list[str], unit: str, profile: str
) -> None:
    data = as_json(to_observation(reading, patient="Patient/p1"))
    assert codes(data) == expected_codes
    assert data["valueQuantity"]["code"] == unit
    assert VS + profile in data["meta"]["profile"]
    assert "http://hl7.org/fhir/uv/phd/StructureDefinition/PhdNumericObservation" in data["meta"]["profile"]


def test_weight_height_and_bmi_are_separate_observations() -> None:
    obs = [
        as_json(o)
        for o in to_observations(BodyWeight(value=72.4, height=1.78, bmi=22.9), patient="Patient/p")
    ]
    assert [codes(o)[0] for o in obs] == ["29463-7", "8302-2", "39156-5"]
    assert obs[1]["valueQuantity"]["code"] == "cm"
    assert obs[1]["valueQuantity"]["value"] == 178
    assert obs[2]["valueQuantity"]["code"] == "kg/m2"
    assert VS + "bodyheight" in obs[1]["meta"]["profile"]
    assert VS + "bmi" in obs[2]["meta"]["profile"]


@pytest.mark.parametrize(
    ("sample_type", "unit", "loinc", "mdc"),
    [
        ("capillary_whole_blood", "mg/dL", "41653-7", "160184"),
        ("capillary_plasma", "mmol/L", "14743-9", "160188"),
        ("venous_plasma", "mg/dL", "2345-7", "160196"),
        ("venous_whole_blood", "mmol/L", "15074-8", "160192"),
        (None, "mg/dL", "41653-7", "160020"),
    ],
)
def test_glucose_loinc_follows_unit_and_specimen(
    sample_type: str | None, unit: str, loinc: str, mdc: str
) -> None:
    g = BloodGlucose(
        value=5.4 if unit == "mmol/L" else 97, unit=unit, sequence_number=3, sample_type=sample_type
    )
    data = as_json(to_observation(g, patient="Patient/p1"))
    assert codes(data) == [loinc, mdc]
    assert data["valueQuantity"]["code"] == unit
    assert not any(p.startswith(VS) for p in data["meta"]["profile"])  # glucose is no vital sign


@pytest.mark.parametrize(
    ("flag", "reason"),
    [
        ("value_nan", "not-a-number"),
        ("value_not_at_resolution", "error"),
        ("value_positive_infinity", "positive-infinity"),
        ("measurement_unavailable", "not-performed"),
        ("measurement_unsuccessful", "error"),
    ],
)
def test_absent_values_get_a_data_absent_reason(flag: str, reason: str) -> None:
    data = as_json(to_observation(BodyWeight(value=None, status=frozenset({flag})), patient="Patient/p1"))
    assert "valueQuantity" not in data
    assert fhirpath(data, "dataAbsentReason.coding.code") == [reason]


def test_status_flags_map_per_phd_ig() -> None:
    flags = frozenset(
        {
            "questionable_measurement",
            "calibration_ongoing",
            "early_estimated_data",
            "data_for_testing",
            "irregular_pulse",
        }
    )
    data = as_json(to_observation(OxygenSaturation(spo2_percent=97, status=flags), patient="Patient/p1"))
    assert sorted(fhirpath(data, "interpretation.coding.code")) == [
        "calibration-ongoing",
        "early-indication",
        "questionable",
    ]
    assert fhirpath(data, "interpretation.coding.system.distinct()") == [
        "http://hl7.org/fhir/uv/pocd/CodeSystem/measurement-status"
    ]
    assert data["status"] == "preliminary"
    assert fhirpath(data, "meta.security.code") == ["HTEST"]
    ext = "https://telemedroom.org/fhir/StructureDefinition/device-status"
    assert set(fhirpath(data, f"extension.where(url = '{ext}').value")) == flags


def test_invalid_measurement_is_entered_in_error() -> None:
    data = as_json(
        to_observation(
            OxygenSaturation(spo2_percent=None, status=frozenset({"invalid_measurement"})), patient="P/1"
        )
    )
    assert data["status"] == "entered-in-error"
    assert fhirpath(data, "dataAbsentReason.coding.code") == ["error"]


def test_reception_time_is_used_and_flagged() -> None:
    received = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    hr = HeartRate(bpm=70, status=frozenset({"device_clock_not_set"}))
    data = as_json(to_observation(hr, patient="Patient/p1", received_at=received))
    assert data["effectiveDateTime"] == "2026-11-24T09:00:00Z"
    assert fhirpath(data, "extension.where(url.endsWith('effective-time-source')).value") == ["reception"]
    assert "reception" in data["note"][0]["text"]
    assert from_observation(data) == hr


def test_identifier_is_deterministic_and_distinguishes_readings() -> None:
    a = BloodPressure(systolic=120, diastolic=80, measured_at=T0, device=DEVICE)
    first = to_observation(a, patient="Patient/p1").identifier[0]
    again = to_observation(a.model_copy(), patient="Patient/p1").identifier[0]
    later = to_observation(a.model_copy(update={"measured_at": T0.replace(second=1)}), patient="Patient/p1")
    assert first.value == again.value
    assert first.value.startswith("001B2CFFFE3D4E5F-Patient/p1-2a35-150020-")
    assert later.identifier[0].value != first.value
    glucose = to_observation(BloodGlucose(value=90, sequence_number=17, device=DEVICE), patient="Patient/p1")
    assert glucose.identifier[0].value.endswith("-seq17")


def test_configured_identifier_system_and_extra_profiles() -> None:
    config = MappingConfig(
        identifier_system="https://clinic.example/sid/obs",
        extra_profiles={"*": ("https://example.org/all",), "heart_rate": ("https://example.org/hr",)},
    )
    obs = to_observation(HeartRate(bpm=61), patient="Patient/p1", config=config)
    assert obs.identifier[0].system == "https://clinic.example/sid/obs"
    assert obs.meta.profile[-2:] == ["https://example.org/all", "https://example.org/hr"]


def test_device_mapping_follows_phd_device() -> None:
    info = DeviceInfo(
        manufacturer="Acme",
        model="BP-7",
        serial_number="SN1",
        firmware_revision="1.2",
        hardware_revision="A",
        software_revision="3.4",
        system_id="00-1B-2C-FF-FE-3D-4E-5F",
        address="C0:FF:EE:00:00:01",
    )
    data = as_json(to_device(info))
    assert fhirpath(data, "identifier.where(type.coding.code = 'SYSID').value") == ["00-1B-2C-FF-FE-3D-4E-5F"]
    assert fhirpath(data, "identifier.where(type.coding.code = 'SYSID').system") == [
        "urn:oid:1.2.840.10004.1.1.1.0.0.1.0.0.1.2680"
    ]
    assert fhirpath(data, "version.where(type.coding.code = '531976').value") == ["1.2"]
    assert data["serialNumber"] == "SN1"
    assert data["modelNumber"] == "BP-7"


def test_contained_device_round_trips() -> None:
    hr = HeartRate(bpm=61, measured_at=T0, device=DEVICE)
    obs = to_observation(hr, patient="Patient/p1")
    assert obs.device.reference == "#device"
    assert from_observation(obs) == hr


def test_transaction_uses_urn_uuids_and_conditional_creates() -> None:
    readings = [
        BloodPressure(systolic=120, diastolic=80, pulse_rate=60, measured_at=T0, device=DEVICE),
        HeartRate(bpm=61, measured_at=T0, device=DEVICE),
    ]
    gateway = gateway_device("Room Nord", identifier="room-nord")
    bundle = to_transaction(readings, patient="Patient/p1", gateway=gateway, received_at=T0)
    data = as_json(bundle)
    assert data["type"] == "transaction"
    assert fhirpath(data, "entry.fullUrl.all(startsWith('urn:uuid:'))") == [True]
    kinds = fhirpath(data, "entry.resource.resourceType")
    assert kinds == ["Device", "Device", "Observation", "Observation", "Observation", "Provenance"]
    creates = fhirpath(data, "entry.where(resource is Observation or resource is Device).request")
    assert all(r["method"] == "POST" and r["ifNoneExist"].startswith("identifier=") for r in creates)
    # every Observation references the device entry and the gateway by their urn:uuid
    device_url = data["entry"][1]["fullUrl"]
    assert fhirpath(data, "entry.resource.ofType(Observation).device.reference.distinct()") == [device_url]
    assert fhirpath(data, "entry.resource.ofType(Provenance).target.count()") == [3]
    # rebuilt: byte-identical (uuid5 fullUrls)
    again = to_transaction(readings, patient="Patient/p1", gateway=gateway, received_at=T0)
    assert again.model_dump_json() == bundle.model_dump_json()
    assert from_bundle(bundle) == readings


def test_provenance_needs_targets() -> None:
    with pytest.raises(FhirMappingError):
        to_provenance([])


def test_non_finite_values_are_refused() -> None:
    with pytest.raises(FhirMappingError) as info:
        to_observation(BodyWeight(value=float("inf")), patient="Patient/p1")
    assert info.value.resource_type == "Observation"


def test_foreign_observation_is_refused_with_a_typed_error() -> None:
    foreign = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}
    with pytest.raises(FhirMappingError):
        from_observation(foreign)
    with pytest.raises(FhirMappingError):
        from_observation({"resourceType": "Patient"})


def test_glucose_context_carries_mdc_terms() -> None:
    g = BloodGlucose(
        value=104,
        sequence_number=9,
        sample_location="finger",
        context=GlucoseContext(meal="preprandial", tester="self", hba1c_percent=6.1),
    )
    data = as_json(to_observation(g, patient="Patient/p1"))
    mdc = "urn:iso:std:iso:11073:10101"
    # 8417868 = MDC_PART_PHD_DM (128) * 65536 + 29260, as in the PHD IG's meal-context example
    assert fhirpath(data, f"component.value.coding.where(system = '{mdc}').code") == ["8417868", "8417888"]
    assert fhirpath(data, f"component.code.coding.where(system = '{mdc}').code") == [
        "8417864",
        "8417884",
        "160220",
    ]
    assert fhirpath(data, f"bodySite.coding.where(system = '{mdc}').code") == ["8417848"]
    assert from_observation(data) == g


def test_glucose_with_context_round_trips() -> None:
    g = BloodGlucose(
        value=104,
        sequence_number=9,
        sample_type="capillary_plasma",
        sample_location="finger",
        context=GlucoseContext(meal="fasting", tester="self", medication_amount=2.5, medication_unit="mL"),
        measured_at=T0,
    )
    assert from_observation(to_observation(g, patient="Patient/p1")) == g


def same_instant(m: Measurement) -> Measurement:
    """The measurement with its time in UTC.

    FHIR dateTime keeps the instant and the UTC offset, not the zone's name; and by PEP
    495 an aware datetime in a repeated (DST fall-back) hour never equals one in another
    zone, even at the same instant. So times are compared in UTC.
    """
    when = m.measured_at
    return m if when is None else m.model_copy(update={"measured_at": when.astimezone(UTC)})


@given(measurements)
def test_round_trip_is_lossless(m: Measurement) -> None:
    received = datetime(2026, 1, 1, tzinfo=UTC)
    observations = to_observations(m, patient="Patient/p1", received_at=received)
    back = from_observation(*observations)
    assert same_instant(back) == same_instant(m)
    if m.measured_at is not None:
        assert back.measured_at is not None
        assert back.measured_at.utcoffset() == m.measured_at.utcoffset()


@at_most(FHIR_VALIDATION_EXAMPLES)  # fhir.resources validation per example: see tests/_hypothesis.py
@given(measurements)
def test_every_observation_validates_and_meets_vital_signs_invariants(m: Measurement) -> None:
    for obs in to_observations(m, patient="Patient/p1", received_at=T0):
        data = as_json(obs)
        Observation.model_validate(data)
        if VS + "vitalsigns" in data["meta"]["profile"]:
            for name, rule in VS_INVARIANTS.items():
                assert fhirpath(data, rule) == [True], name
            assert fhirpath(data, "category.coding.where(code = 'vital-signs').exists()") == [True]
        if data["code"]["coding"][0]["code"] == "85354-9":
            keys = fhirpath(data, "component.code.coding.where(system = 'http://loinc.org').code")
            assert keys[:2] == ["8480-6", "8462-4"]
        assert fhirpath(data, "code.coding.where(system = 'urn:iso:std:iso:11073:10101').exists()") == [True]


@at_most(FHIR_VALIDATION_EXAMPLES)
@given(measurements)
def test_fast_json_equals_the_validated_models(m: Measurement) -> None:
    fast = [json.loads(b) for b in observation_json(m, patient="Patient/p1", received_at=T0)]
    models = [as_json(o) for o in to_observations(m, patient="Patient/p1", received_at=T0)]
    assert [Observation.model_validate(d).model_dump_json() for d in fast] == [
        Observation.model_validate(d).model_dump_json() for d in models
    ]


@at_most(FHIR_VALIDATION_EXAMPLES)
@given(measurements)
def test_bundle_round_trip_and_validation(m: Measurement) -> None:
    bundle = to_transaction([m], patient="Patient/p1", received_at=T0)
    Bundle.model_validate(as_json(bundle))
    assert [same_instant(b) for b in from_bundle(bundle)] == [same_instant(m)]


def test_changing_returned_json_does_not_change_the_next_mapping() -> None:
    first = transaction_json([HeartRate(bpm=61, measured_at=T0)], patient="Patient/p1", received_at=T0)
    obs = first["entry"][0]["resource"]
    obs["category"][0]["coding"][0]["code"] = "changed"
    obs["code"]["coding"][0]["code"] = "changed"
    again = transaction_json([HeartRate(bpm=61, measured_at=T0)], patient="Patient/p1", received_at=T0)
    assert again["entry"][0]["resource"]["category"][0]["coding"][0]["code"] == "vital-signs"
    assert again["entry"][0]["resource"]["code"]["coding"][0]["code"] == "8867-4"
