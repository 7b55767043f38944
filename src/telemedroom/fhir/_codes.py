"""THE one table: measurement value -> LOINC, IEEE 11073-10101 (MDC), UCUM, profiles.

Every code the FHIR mapping writes or reads comes from here; ``docs/fhir.md`` shows the
same table for people. MDC codes are the 32-bit context-free codes (partition * 2**16 +
term code) as the HL7 Personal Health Device (PHD) IG uses them, e.g. MDC_PART_SCADA (2)
* 65536 + MDC_PRESS_BLD_NONINV (18948) = 150020.
"""

from __future__ import annotations

from dataclasses import dataclass

LOINC = "http://loinc.org"
MDC = "urn:iso:std:iso:11073:10101"
UCUM = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
PHD_CATEGORY = "http://hl7.org/fhir/uv/phd/CodeSystem/PhdObservationCategories"
DATA_ABSENT_REASON = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
# PHD IG "Measurement Status": interpretation codes come from the PoCD IG code system.
MEASUREMENT_STATUS = "http://hl7.org/fhir/uv/pocd/CodeSystem/measurement-status"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
EUI64_SYSTEM = "urn:oid:1.2.840.10004.1.1.1.0.0.1.0.0.1.2680"  # PHD IG: MDC_ATTR_SYS_ID as an OID
# PHD IG PhdDevice: identifier types (ContinuaDeviceIdentifiers) and their systems.
DEVICE_ID_TYPES = "http://hl7.org/fhir/uv/phd/CodeSystem/ContinuaDeviceIdentifiers"
BT_MAC_SYSTEM = "http://hl7.org/fhir/sid/eui-48/bluetooth"
# PHD IG: Device.version.type from MDCDeviceVersionTypes (MDC_ID_PROD_SPEC_*).
DEVICE_VERSIONS: tuple[tuple[str, str, str], ...] = (
    ("531974", "MDC_ID_PROD_SPEC_HW", "hardware_revision"),
    ("531975", "MDC_ID_PROD_SPEC_SW", "software_revision"),
    ("531976", "MDC_ID_PROD_SPEC_FW", "firmware_revision"),
)
MDC_MOC_VMS_MDS_SIMP = "65573"  # PHD IG Device.type of every PHD
GATEWAY_DEVICE_EXT = "http://hl7.org/fhir/StructureDefinition/observation-gatewayDevice"

# Our own definitions, for what neither LOINC nor MDC names (documented in docs/fhir.md).
TELEMEDROOM = "https://telemedroom.org/fhir"
TM_CODES = f"{TELEMEDROOM}/CodeSystem/measurement"
TM_STATUS = f"{TELEMEDROOM}/CodeSystem/device-status"
TM_SITE = f"{TELEMEDROOM}/CodeSystem/body-site"
TM_METHOD = f"{TELEMEDROOM}/CodeSystem/method"
TM_SAMPLE = f"{TELEMEDROOM}/CodeSystem/glucose-sample-type"
TM_CONTEXT = f"{TELEMEDROOM}/CodeSystem/glucose-context"
EXT_STATUS = f"{TELEMEDROOM}/StructureDefinition/device-status"
EXT_TIME_SOURCE = f"{TELEMEDROOM}/StructureDefinition/effective-time-source"
EXT_USER_INDEX = f"{TELEMEDROOM}/StructureDefinition/device-user-index"
EXT_SEQUENCE = f"{TELEMEDROOM}/StructureDefinition/device-sequence-number"
EXT_ABSENT_UNIT = f"{TELEMEDROOM}/StructureDefinition/unit-of-absent-value"
EXT_CONTEXT = f"{TELEMEDROOM}/StructureDefinition/glucose-context"
DEFAULT_IDENTIFIER_SYSTEM = f"{TELEMEDROOM}/sid/observation"
GATEWAY_ID_SYSTEM = f"{TELEMEDROOM}/sid/room"
# Devices with neither a system id nor an address: manufacturer~model~serial.
DEVICE_KEY_SYSTEM = f"{TELEMEDROOM}/sid/device"

VITALSIGNS = "http://hl7.org/fhir/StructureDefinition/vitalsigns"
PHD_NUMERIC = "http://hl7.org/fhir/uv/phd/StructureDefinition/PhdNumericObservation"
PHD_COMPOUND = "http://hl7.org/fhir/uv/phd/StructureDefinition/PhdCompoundNumericObservation"
PHD_DEVICE = "http://hl7.org/fhir/uv/phd/StructureDefinition/PhdDevice"
PHG_DEVICE = "http://hl7.org/fhir/uv/phd/StructureDefinition/PhgDevice"

# PHD IG supplemental-types component: MDC_ATTR_SUPPLEMENTAL_TYPES (partition OBJ, 2657).
MDC_ATTR_SUPPLEMENTAL_TYPES = "68193"
MDC_MODALITY_SPOT = "150588"  # MDC_PART_SCADA 19516


@dataclass(frozen=True, slots=True)
class Code:
    """One coding: a system, a code and its display."""

    system: str
    code: str
    display: str

    def json(self) -> dict[str, str]:
        """The FHIR ``Coding`` JSON."""
        return {"system": self.system, "code": self.code, "display": self.display}


@dataclass(frozen=True, slots=True)
class Row:
    """What one observed quantity is called in each terminology.

    Attributes:
        key: Our name for the value (``"systolic"``, ``"bmi"``...).
        codes: The codings of ``Observation.code`` (or ``component.code``), LOINC first.
        profile: The vital-signs profile URL, if the value has one.
    """

    key: str
    codes: tuple[Code, ...]
    profile: str | None = None

    @property
    def mdc(self) -> str:
        """The MDC code of the value (the last coding from urn:iso:std:iso:11073:10101)."""
        return next(c.code for c in reversed(self.codes) if c.system == MDC)


def _loinc(code: str, display: str) -> Code:
    return Code(LOINC, code, display)


def _mdc(code: int, display: str) -> Code:
    return Code(MDC, str(code), display)


def _dm(term: int, display: str) -> Code:
    # Glucose context terms live in partition MDC_PART_PHD_DM (128): 128 * 65536 + term.
    return Code(MDC, str(128 * 65536 + term), display)


def _tm(code: str, display: str) -> Code:
    return Code(TM_CODES, code, display)


_VS = "http://hl7.org/fhir/StructureDefinition/"

# (measurement kind, intermediate-or-continuous) -> Observation.method code and the
# Bluetooth characteristic that carries it (Bluetooth Assigned Numbers §3.8), which
# goes into the deterministic identifier.
VARIANTS: dict[tuple[str, bool], tuple[str, int]] = {
    ("blood_pressure", False): ("blood-pressure-measurement", 0x2A35),
    ("blood_pressure", True): ("intermediate-cuff-pressure", 0x2A36),
    ("heart_rate", False): ("heart-rate-measurement", 0x2A37),
    ("body_temperature", False): ("temperature-measurement", 0x2A1C),
    ("body_temperature", True): ("intermediate-temperature", 0x2A1E),
    ("oxygen_saturation", False): ("plx-spot-check", 0x2A5E),
    ("oxygen_saturation", True): ("plx-continuous", 0x2A5F),
    ("body_weight", False): ("weight-measurement", 0x2A9D),
    ("blood_glucose", False): ("glucose-measurement", 0x2A18),
}
VARIANT_OF_METHOD = {method: key for key, (method, _uuid) in VARIANTS.items()}

# Observation-level rows (each becomes its own Observation).
BLOOD_PRESSURE = Row(
    "blood_pressure",
    (_loinc("85354-9", "Blood pressure panel"), _mdc(150020, "MDC_PRESS_BLD_NONINV")),
    _VS + "bp",
)
BP_PULSE = Row(
    "bp_pulse_rate",
    (_loinc("8867-4", "Heart rate"), _mdc(149546, "MDC_PULS_RATE_NON_INV")),
    _VS + "heartrate",
)
HEART_RATE = Row(
    "heart_rate",
    (_loinc("8867-4", "Heart rate"), _mdc(147842, "MDC_ECG_HEART_RATE")),
    _VS + "heartrate",
)
SPO2 = Row(
    "oxygen_saturation",
    (
        _loinc("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry"),
        _loinc("2708-6", "Oxygen saturation in Arterial blood"),
        _mdc(150456, "MDC_PULS_OXIM_SAT_O2"),
    ),
    _VS + "oxygensat",
)
PLX_PULSE = Row(
    "plx_pulse_rate",
    (_loinc("8867-4", "Heart rate"), _mdc(149530, "MDC_PULS_OXIM_PULS_RATE")),
    _VS + "heartrate",
)
BODY_TEMPERATURE = Row(
    "body_temperature",
    (_loinc("8310-5", "Body temperature"), _mdc(150364, "MDC_TEMP_BODY")),
    _VS + "bodytemp",
)
BODY_WEIGHT = Row(
    "body_weight",
    (_loinc("29463-7", "Body weight"), _mdc(188736, "MDC_MASS_BODY_ACTUAL")),
    _VS + "bodyweight",
)
BODY_HEIGHT = Row(
    "body_height",
    (_loinc("8302-2", "Body height"), _mdc(188740, "MDC_LEN_BODY_ACTUAL")),
    _VS + "bodyheight",
)
BMI = Row(
    "bmi",
    (_loinc("39156-5", "Body mass index (BMI) [Ratio]"), _mdc(188752, "MDC_RATIO_MASS_BODY_LEN_SQ")),
    _VS + "bmi",
)

# Component rows.
SYSTOLIC = Row(
    "systolic",
    (_loinc("8480-6", "Systolic blood pressure"), _mdc(150021, "MDC_PRESS_BLD_NONINV_SYS")),
)
DIASTOLIC = Row(
    "diastolic",
    (_loinc("8462-4", "Diastolic blood pressure"), _mdc(150022, "MDC_PRESS_BLD_NONINV_DIA")),
)
MEAN_ARTERIAL = Row(
    "mean_arterial",
    (_loinc("8478-0", "Mean blood pressure"), _mdc(150023, "MDC_PRESS_BLD_NONINV_MEAN")),
)
RR_INTERVAL = Row("rr_interval", (_mdc(147240, "MDC_ECG_TIME_PD_RR_GL"),))
PULSE_AMPLITUDE = Row("pulse_amplitude_index", (_mdc(150448, "MDC_PULS_OXIM_PERF_REL"),))
# Neither LOINC nor MDC has a term we could verify for these; they keep our own codes.
ENERGY_EXPENDED = Row("energy_expended", (_tm("energy-expended", "Energy expended"),))
SENSOR_CONTACT = Row("sensor_contact", (_tm("sensor-contact", "Sensor in contact with skin"),))
SPO2_FAST = Row("spo2_fast", (_tm("spo2-fast", "SpO2, fast-responding average"),))
SPO2_SLOW = Row("spo2_slow", (_tm("spo2-slow", "SpO2, slow-responding average"),))
PULSE_FAST = Row("pulse_rate_fast", (_tm("pulse-rate-fast", "Pulse rate, fast-responding average"),))
PULSE_SLOW = Row("pulse_rate_slow", (_tm("pulse-rate-slow", "Pulse rate, slow-responding average"),))

# OxygenSaturation fields that become components: (field, row, UCUM unit).
SPO2_EXTRAS = (
    ("pulse_amplitude_index", PULSE_AMPLITUDE, "%"),
    ("spo2_fast_percent", SPO2_FAST, "%"),
    ("pulse_rate_fast", PULSE_FAST, "/min"),
    ("spo2_slow_percent", SPO2_SLOW, "%"),
    ("pulse_rate_slow", PULSE_SLOW, "/min"),
)


# Glucose by glucometer: the LOINC term depends on mass vs. molar concentration and on
# the specimen (LOINC: 41653-7 "Glucose [Mass/volume] in Capillary blood by Glucometer",
# 14743-9 "Glucose [Moles/volume] in Capillary blood by Glucometer"; 2339-0/15074-8 in
# Blood; 2345-7/14749-6 in Serum or Plasma). MDC codes per sample type: IEEE 11073-10417.
_GLUCOSE_LOINC: dict[tuple[str, str], Code] = {
    ("capillary", "mg/dL"): _loinc("41653-7", "Glucose [Mass/volume] in Capillary blood by Glucometer"),
    ("capillary", "mmol/L"): _loinc("14743-9", "Glucose [Moles/volume] in Capillary blood by Glucometer"),
    ("blood", "mg/dL"): _loinc("2339-0", "Glucose [Mass/volume] in Blood"),
    ("blood", "mmol/L"): _loinc("15074-8", "Glucose [Moles/volume] in Blood"),
    ("plasma", "mg/dL"): _loinc("2345-7", "Glucose [Mass/volume] in Serum or Plasma"),
    ("plasma", "mmol/L"): _loinc("14749-6", "Glucose [Moles/volume] in Serum or Plasma"),
}
_GLUCOSE_SPECIMEN: dict[str | None, tuple[str, Code]] = {
    "capillary_whole_blood": ("capillary", _mdc(160184, "MDC_CONC_GLU_CAPILLARY_WHOLEBLOOD")),
    "capillary_plasma": ("capillary", _mdc(160188, "MDC_CONC_GLU_CAPILLARY_PLASMA")),
    "venous_whole_blood": ("blood", _mdc(160192, "MDC_CONC_GLU_VENOUS_WHOLEBLOOD")),
    "venous_plasma": ("plasma", _mdc(160196, "MDC_CONC_GLU_VENOUS_PLASMA")),
    "arterial_whole_blood": ("blood", _mdc(160200, "MDC_CONC_GLU_ARTERIAL_WHOLEBLOOD")),
    "arterial_plasma": ("plasma", _mdc(160204, "MDC_CONC_GLU_ARTERIAL_PLASMA")),
    "undetermined_whole_blood": ("blood", _mdc(160020, "MDC_CONC_GLU_GEN")),
    "undetermined_plasma": ("plasma", _mdc(160020, "MDC_CONC_GLU_GEN")),
    "interstitial_fluid": ("blood", _mdc(160212, "MDC_CONC_GLU_ISF")),
    "control_solution": ("blood", _mdc(160208, "MDC_CONC_GLU_CONTROL")),
    None: ("capillary", _mdc(160020, "MDC_CONC_GLU_GEN")),
}


def glucose_row(sample_type: str | None, unit: str) -> Row:
    """The glucose row for a sample type and unit (unknown sample types: generic glucose).

    Examples:
        >>> [c.code for c in glucose_row("capillary_plasma", "mg/dL").codes]
        ['41653-7', '160188']
    """
    specimen, mdc = _GLUCOSE_SPECIMEN.get(sample_type, _GLUCOSE_SPECIMEN[None])
    return Row("blood_glucose", (_GLUCOSE_LOINC[specimen, unit], mdc))


GLUCOSE_LOINC_CODES = frozenset(c.code for c in _GLUCOSE_LOINC.values())

SAMPLE_TYPE = Row("sample_type", (_tm("glucose-sample-type", "Glucose sample type"),))

# Glucose context fields (Glucose Measurement Context, GSS §3.107) as components:
# field -> (row, value kind, UCUM unit). "code" values use the TM_CONTEXT code system;
# the medication amount's unit is the context's medication_unit.
CONTEXT_FIELDS: dict[str, tuple[Row, str, str]] = {
    "carbohydrate": (
        Row("carbohydrate", (_tm("carbohydrate", "Carbohydrate meal"), _dm(29156, "MDC_CTXT_GLU_CARB"))),
        "code",
        "",
    ),
    "carbohydrate_g": (
        Row("carbohydrate_g", (_tm("carbohydrate-amount", "Carbohydrate intake"),)),
        "float",
        "g",
    ),
    "meal": (Row("meal", (_tm("meal", "Meal relation"), _dm(29256, "MDC_CTXT_GLU_MEAL"))), "code", ""),
    "tester": (Row("tester", (_tm("tester", "Tester"), _dm(29276, "MDC_CTXT_GLU_TESTER"))), "code", ""),
    "health": (
        Row("health", (_tm("health", "Health condition"), _dm(29212, "MDC_CTXT_GLU_HEALTH"))),
        "code",
        "",
    ),
    "exercise_duration_s": (
        Row("exercise_duration_s", (_tm("exercise-duration", "Exercise duration"),)),
        "int",
        "s",
    ),
    "exercise_intensity_percent": (
        Row("exercise_intensity_percent", (_tm("exercise-intensity", "Exercise intensity"),)),
        "int",
        "%",
    ),
    "medication": (
        Row("medication", (_tm("medication", "Medication"), _dm(29188, "MDC_CTXT_MEDICATION"))),
        "code",
        "",
    ),
    "medication_amount": (
        Row("medication_amount", (_tm("medication-amount", "Medication amount"),)),
        "float",
        "",
    ),
    "hba1c_percent": (
        Row("hba1c_percent", (_tm("hba1c", "HbA1c"), _mdc(160220, "MDC_CONC_HBA1C"))),
        "float",
        "%",
    ),
}

# Coded context values and glucose sample locations -> their MDC terms (IEEE 11073-10417,
# partition MDC_PART_PHD_DM; e.g. fasting = 8388608 + 29268). Values without a term we
# could verify (bedtime, during_menses) carry only telemedroom's code.
CONTEXT_VALUE_MDC: dict[str, Code] = {
    name: _dm(term, display)
    for name, term, display in (
        ("breakfast", 29160, "MDC_CTXT_GLU_CARB_BREAKFAST"),
        ("lunch", 29164, "MDC_CTXT_GLU_CARB_LUNCH"),
        ("dinner", 29168, "MDC_CTXT_GLU_CARB_DINNER"),
        ("snack", 29172, "MDC_CTXT_GLU_CARB_SNACK"),
        ("drink", 29176, "MDC_CTXT_GLU_CARB_DRINK"),
        ("supper", 29180, "MDC_CTXT_GLU_CARB_SUPPER"),
        ("brunch", 29184, "MDC_CTXT_GLU_CARB_BRUNCH"),
        ("preprandial", 29260, "MDC_CTXT_GLU_MEAL_PREPRANDIAL"),
        ("postprandial", 29264, "MDC_CTXT_GLU_MEAL_POSTPRANDIAL"),
        ("fasting", 29268, "MDC_CTXT_GLU_MEAL_FASTING"),
        ("casual", 29272, "MDC_CTXT_GLU_MEAL_CASUAL"),
        ("self", 29280, "MDC_CTXT_GLU_TESTER_SELF"),
        ("health_care_professional", 29284, "MDC_CTXT_GLU_TESTER_HCP"),
        ("lab_test", 29288, "MDC_CTXT_GLU_TESTER_LAB"),
        ("minor_health_issues", 29216, "MDC_CTXT_GLU_HEALTH_MINOR"),
        ("major_health_issues", 29220, "MDC_CTXT_GLU_HEALTH_MAJOR"),
        ("under_stress", 29228, "MDC_CTXT_GLU_HEALTH_STRESS"),
        ("no_health_issues", 29232, "MDC_CTXT_GLU_HEALTH_NONE"),
        ("rapid_acting_insulin", 29192, "MDC_CTXT_MEDICATION_RAPIDACTING"),
        ("short_acting_insulin", 29196, "MDC_CTXT_MEDICATION_SHORTACTING"),
        ("intermediate_acting_insulin", 29200, "MDC_CTXT_MEDICATION_INTERMEDIATEACTING"),
        ("long_acting_insulin", 29204, "MDC_CTXT_MEDICATION_LONGACTING"),
        ("pre_mixed_insulin", 29208, "MDC_CTXT_MEDICATION_PREMIX"),
    )
}
SAMPLE_LOCATION_MDC: dict[str, Code] = {
    name: _dm(term, display)
    for name, term, display in (
        ("finger", 29240, "MDC_CTXT_GLU_SAMPLELOCATION_FINGER"),
        ("alternate_site_test", 29244, "MDC_CTXT_GLU_SAMPLELOCATION_AST"),
        ("earlobe", 29248, "MDC_CTXT_GLU_SAMPLELOCATION_EARLOBE"),
        ("control_solution", 29252, "MDC_CTXT_GLU_SAMPLELOCATION_CTRLSOLUTION"),
    )
}

# GATT status flags -> PHD IG measurement-status mapping (PHD IG, PhdBaseObservation
# "Measurement Status" table). Flags not listed travel only in our device-status extension.
INTERPRETATION: dict[str, str] = {
    "questionable_measurement": "questionable",
    "calibration_ongoing": "calibration-ongoing",
    "early_estimated_data": "early-indication",
}
PRELIMINARY_FLAGS = frozenset({"early_estimated_data", "measurement_ongoing"})
TEST_DATA_FLAGS = frozenset({"data_for_testing"})
INVALID_FLAGS = frozenset({"invalid_measurement"})

# Why a value is absent -> DataAbsentReason (PHD IG "Mder FLOATs and SFLOATs": NaN
# not-a-number, +INF/-INF, NRes and RFU error; "Measurement Status": invalid error,
# not-available not-performed). The first flag present wins.
ABSENT_REASON: tuple[tuple[str, str], ...] = (
    ("value_nan", "not-a-number"),
    ("value_positive_infinity", "positive-infinity"),
    ("value_negative_infinity", "negative-infinity"),
    ("value_not_at_resolution", "error"),
    ("value_reserved", "error"),
    ("invalid_measurement", "error"),
    ("measurement_unsuccessful", "error"),
    ("measurement_unavailable", "not-performed"),
)
