"""Clinical examinations of the room: protocols, grading forms and their FHIR records.

:mod:`telemedroom.exams.facial`: the facial-paralysis photo protocol (eight expressions,
German and English instructions), the House-Brackmann grade and the Sunnybrook Facial
Grading System as FHIR Questionnaires, the physician's answers as QuestionnaireResponses,
the scores as Observations, and each step's still as a Media linked to the Encounter.
:func:`symmetry_metrics` is the optional objective aid (not a diagnosis): left/right
ratios from the landmarks of a :class:`LandmarkDetector` the deployment supplies.
Facial measurements (a measurement aid, not a diagnosis): :class:`FaceMeshDetector`
finds the landmarks offline (extra ``landmarks``), :func:`measure_still` and
:func:`measure_images` turn them into the :data:`MEASURES` of each protocol still,
:func:`measurement_entries` into FHIR Observations with their :func:`measurement_device`,
:func:`measurement_trend` follows them across visits.

Examples:
    >>> from telemedroom.exams import PROTOCOL
    >>> [s.code for s in PROTOCOL][:3]
    ['rest', 'raise-eyebrows', 'close-eyes-gently']
"""

from __future__ import annotations

from telemedroom.exams import facial
from telemedroom.exams._facemesh import (
    MESH_POINTS,
    FaceLandmarks,
    FaceMeshDetector,
    ModelInfo,
    measure_images,
)
from telemedroom.exams._landmarks import (
    LANDMARKS,
    NOT_A_DIAGNOSIS,
    LandmarkDetector,
    SymmetryMetrics,
    symmetry_metrics,
)
from telemedroom.exams._measures import (
    ADULT_IPD_MM,
    MEASUREMENT_POINTS,
    MEASURES,
    MIN_MOVEMENT,
    FacialMeasure,
    MeasureSpec,
    StillMeasurements,
    measure_protocol,
    measure_still,
)
from telemedroom.exams._measures_fhir import measurement_device, measurement_entries, measurement_observation
from telemedroom.exams._trend import MeasureTrend, TrendPoint, measurement_trend
from telemedroom.exams.facial import (
    EXPRESSIONS,
    FACIAL_CODES,
    HOUSE_BRACKMANN,
    HOUSE_BRACKMANN_QUESTIONNAIRE_URL,
    PROTOCOL,
    RESTING_ITEMS,
    SUNNYBROOK_QUESTIONNAIRE_URL,
    SYNKINESIS_SCALE,
    TRANSLATION,
    VOLUNTARY_SCALE,
    HouseBrackmannGrade,
    ProtocolStep,
    StillPair,
    SunnybrookGrading,
    SunnybrookScore,
    compare_visits,
    exam_transaction,
    house_brackmann,
    house_brackmann_from_response,
    house_brackmann_observation,
    house_brackmann_questionnaire,
    house_brackmann_response,
    step,
    step_media,
    sunnybrook_from_response,
    sunnybrook_observation,
    sunnybrook_questionnaire,
    sunnybrook_response,
    translation,
)

__all__ = [
    "ADULT_IPD_MM",
    "MEASUREMENT_POINTS",
    "MEASURES",
    "MESH_POINTS",
    "MIN_MOVEMENT",
    "FaceLandmarks",
    "FaceMeshDetector",
    "FacialMeasure",
    "MeasureSpec",
    "ModelInfo",
    "StillMeasurements",
    "measure_images",
    "measure_protocol",
    "measure_still",
    "measurement_device",
    "measurement_entries",
    "measurement_observation",
    "MeasureTrend",
    "TrendPoint",
    "measurement_trend",
    "EXPRESSIONS",
    "FACIAL_CODES",
    "HOUSE_BRACKMANN",
    "HOUSE_BRACKMANN_QUESTIONNAIRE_URL",
    "LANDMARKS",
    "NOT_A_DIAGNOSIS",
    "PROTOCOL",
    "RESTING_ITEMS",
    "SUNNYBROOK_QUESTIONNAIRE_URL",
    "SYNKINESIS_SCALE",
    "TRANSLATION",
    "VOLUNTARY_SCALE",
    "HouseBrackmannGrade",
    "LandmarkDetector",
    "ProtocolStep",
    "StillPair",
    "SunnybrookGrading",
    "SunnybrookScore",
    "SymmetryMetrics",
    "compare_visits",
    "exam_transaction",
    "facial",
    "house_brackmann",
    "house_brackmann_from_response",
    "house_brackmann_observation",
    "house_brackmann_questionnaire",
    "house_brackmann_response",
    "step",
    "step_media",
    "sunnybrook_from_response",
    "sunnybrook_observation",
    "sunnybrook_questionnaire",
    "sunnybrook_response",
    "symmetry_metrics",
    "translation",
]

for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type) or callable(_obj):
        _obj.__module__ = __name__
del _name, _obj
