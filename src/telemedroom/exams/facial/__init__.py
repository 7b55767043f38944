"""Facial-paralysis examination: the photo protocol, House-Brackmann and Sunnybrook grading, as FHIR.

- :data:`PROTOCOL`: the eight standard expressions, each a :class:`ProtocolStep` with
  German and English instructions, coded so a still of it is a FHIR ``Media`` with the
  step as its ``view`` (:func:`step_media`).
- :data:`HOUSE_BRACKMANN`: grades I-VI with their standard descriptions (House and
  Brackmann, Otolaryngol Head Neck Surg 1985;93:146-147).
- :class:`SunnybrookGrading` and :class:`SunnybrookScore`: the Sunnybrook Facial
  Grading System (Ross, Fradet and Nedzelski, Otolaryngol Head Neck Surg
  1996;114:380-386), computed exactly from its 13 items.
- Both grading forms as FHIR R4B ``Questionnaire`` (:func:`sunnybrook_questionnaire`,
  :func:`house_brackmann_questionnaire`), the physician's answers as
  ``QuestionnaireResponse`` and back, the scores as ``Observation``.

LOINC has no codes for these scales' items or scores (searched for this change), so the
forms, the answers and the score observations use telemedroom's own code system
:data:`FACIAL_CODES`; every answer option also carries its points in the standard
``ordinalValue`` extension, so a form filler can compute the score itself.

The package keeps each job apart: the protocol's texts and the grades as data
(``protocol.toml``), the protocol steps (``_protocol``), the grading arithmetic
(``_grading``), the Questionnaires and QuestionnaireResponses (``_questionnaires``),
the Observations, stills and the exam's transaction (``_fhir``), and the side-by-side
comparison of two visits (``_compare``).

Examples:
    >>> grading = SunnybrookGrading(
    ...     eye="narrow", cheek="less-pronounced", mouth="normal",
    ...     voluntary={"brow-lift": 3, "gentle-eye-closure": 4, "open-mouth-smile": 2,
    ...                "snarl": 3, "lip-pucker": 3},
    ...     synkinesis={"brow-lift": 1, "gentle-eye-closure": 1, "open-mouth-smile": 2,
    ...                 "snarl": 0, "lip-pucker": 1})
    >>> score = grading.score()
    >>> score.resting, score.voluntary, score.synkinesis, score.composite
    (10, 60, 5, 45)
"""

from __future__ import annotations

from telemedroom.exams.facial._compare import StillPair, compare_visits
from telemedroom.exams.facial._fhir import (
    exam_transaction,
    house_brackmann_observation,
    step_media,
    sunnybrook_observation,
)
from telemedroom.exams.facial._grading import (
    EXPRESSIONS,
    HOUSE_BRACKMANN,
    RESTING_ITEMS,
    SYNKINESIS_SCALE,
    VOLUNTARY_SCALE,
    HouseBrackmannGrade,
    SunnybrookGrading,
    SunnybrookScore,
    house_brackmann,
)
from telemedroom.exams.facial._protocol import FACIAL_CODES, PROTOCOL, ProtocolStep, step
from telemedroom.exams.facial._questionnaires import (
    HOUSE_BRACKMANN_QUESTIONNAIRE_URL,
    SUNNYBROOK_QUESTIONNAIRE_URL,
    TRANSLATION,
    house_brackmann_from_response,
    house_brackmann_questionnaire,
    house_brackmann_response,
    sunnybrook_from_response,
    sunnybrook_questionnaire,
    sunnybrook_response,
    translation,
)

__all__ = [
    "EXPRESSIONS",
    "FACIAL_CODES",
    "HOUSE_BRACKMANN",
    "HOUSE_BRACKMANN_QUESTIONNAIRE_URL",
    "PROTOCOL",
    "RESTING_ITEMS",
    "SUNNYBROOK_QUESTIONNAIRE_URL",
    "SYNKINESIS_SCALE",
    "TRANSLATION",
    "VOLUNTARY_SCALE",
    "HouseBrackmannGrade",
    "ProtocolStep",
    "StillPair",
    "SunnybrookGrading",
    "SunnybrookScore",
    "compare_visits",
    "exam_transaction",
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
    "translation",
]
