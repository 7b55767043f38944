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

import base64
import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal, overload

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.documentreference import DocumentReference
from fhir.resources.R4B.media import Media
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from telemedroom.errors import GradingError

if TYPE_CHECKING:
    from telemedroom.devices.media import Clip, Snapshot

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

FACIAL_CODES: Final = "https://telemedroom.org/fhir/CodeSystem/facial-exam"
"""telemedroom's code system for protocol steps, grading items, answers and scores."""
SUNNYBROOK_QUESTIONNAIRE_URL: Final = "https://telemedroom.org/fhir/Questionnaire/sunnybrook-facial-grading"
HOUSE_BRACKMANN_QUESTIONNAIRE_URL: Final = "https://telemedroom.org/fhir/Questionnaire/house-brackmann"
# FHIR R4 core extension: the points an answer option is worth.
_ORDINAL: Final = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
_OBSERVATION_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/observation-category"
_MEDIA_TYPE: Final = "http://terminology.hl7.org/CodeSystem/media-type"

Language = Literal["de", "en"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# -- the protocol ------------------------------------------------------------------------


class ProtocolStep(_Frozen):
    """One expression of the photo protocol.

    Attributes:
        code: Its code in :data:`FACIAL_CODES` (the ``view`` of its still).
        title: Short name per language.
        instruction: What the patient is asked to do, per language (the kiosk shows it).
        sunnybrook: The Sunnybrook expression the still documents (``None``: rest, or
            an expression Sunnybrook does not grade).
        countdown_s: Seconds the kiosk counts down before the still is taken.
    """

    code: str
    title: dict[Language, str]
    instruction: dict[Language, str]
    sunnybrook: str | None = None
    countdown_s: Annotated[int, Field(ge=0)] = 3


PROTOCOL: Final[tuple[ProtocolStep, ...]] = (
    ProtocolStep(
        code="rest",
        title={"en": "At rest", "de": "In Ruhe"},
        instruction={
            "en": "Relax your face and look straight into the camera.",
            "de": "Entspannen Sie bitte Ihr Gesicht und schauen Sie gerade in die Kamera.",
        },
    ),
    ProtocolStep(
        code="raise-eyebrows",
        title={"en": "Raise eyebrows", "de": "Stirn runzeln"},
        instruction={
            "en": "Raise your eyebrows as high as you can.",
            "de": "Ziehen Sie bitte die Augenbrauen so weit wie möglich nach oben.",
        },
        sunnybrook="brow-lift",
    ),
    ProtocolStep(
        code="close-eyes-gently",
        title={"en": "Close eyes gently", "de": "Augen leicht schließen"},
        instruction={
            "en": "Close your eyes gently, as if asleep, without squeezing.",
            "de": "Schließen Sie bitte die Augen leicht, wie im Schlaf, ohne zu kneifen.",
        },
        sunnybrook="gentle-eye-closure",
    ),
    ProtocolStep(
        code="close-eyes-tightly",
        title={"en": "Close eyes tightly", "de": "Augen fest schließen"},
        instruction={
            "en": "Squeeze your eyes shut as tightly as you can.",
            "de": "Kneifen Sie bitte die Augen so fest wie möglich zu.",
        },
    ),
    ProtocolStep(
        code="wrinkle-nose",
        title={"en": "Wrinkle nose", "de": "Nase rümpfen"},
        instruction={
            "en": "Wrinkle your nose, pulling your upper lip up.",
            "de": "Rümpfen Sie bitte die Nase und ziehen Sie dabei die Oberlippe hoch.",
        },
        sunnybrook="snarl",
    ),
    ProtocolStep(
        code="smile-with-teeth",
        title={"en": "Smile with teeth", "de": "Lächeln mit Zähnen"},
        instruction={
            "en": "Smile broadly with your mouth open, showing your teeth.",
            "de": "Lächeln Sie bitte breit mit geöffnetem Mund, sodass man die Zähne sieht.",
        },
        sunnybrook="open-mouth-smile",
    ),
    ProtocolStep(
        code="pucker-lips",
        title={"en": "Pucker lips", "de": "Lippen spitzen"},
        instruction={
            "en": "Pucker your lips as if to whistle or give a kiss.",
            "de": "Spitzen Sie bitte die Lippen, wie zum Pfeifen oder Küssen.",
        },
        sunnybrook="lip-pucker",
    ),
    ProtocolStep(
        code="puff-cheeks",
        title={"en": "Puff cheeks", "de": "Wangen aufblasen"},
        instruction={
            "en": "Keep your lips closed and puff out your cheeks.",
            "de": "Schließen Sie bitte die Lippen und blasen Sie die Wangen auf.",
        },
    ),
)
"""The eight steps, in the order they are taken."""


def step(code: str) -> ProtocolStep:
    """The protocol step with this code.

    Raises:
        GradingError: No step has this code.

    Examples:
        >>> step("pucker-lips").instruction["de"]
        'Spitzen Sie bitte die Lippen, wie zum Pfeifen oder Küssen.'
    """
    for candidate in PROTOCOL:
        if candidate.code == code:
            return candidate
    raise GradingError("protocol.step", code, f"must be one of {', '.join(s.code for s in PROTOCOL)}")


# -- House-Brackmann ---------------------------------------------------------------------


class HouseBrackmannGrade(_Frozen):
    """One grade of the House-Brackmann facial nerve grading system.

    Attributes:
        grade: 1 to 6.
        roman: ``"I"`` to ``"VI"``.
        name: The grade's name (``"Moderate dysfunction"``).
        name_de: Its German name.
        description: The standard description: overall, at rest, in motion.
    """

    grade: Annotated[int, Field(ge=1, le=6)]
    roman: str
    name: str
    name_de: str
    description: str


# House JW, Brackmann DE. Facial nerve grading system. Otolaryngol Head Neck Surg 1985;93:146-7, Table 1.
HOUSE_BRACKMANN: Final[tuple[HouseBrackmannGrade, ...]] = (
    HouseBrackmannGrade(
        grade=1,
        roman="I",
        name="Normal",
        name_de="Normal",
        description="Normal facial function in all areas.",
    ),
    HouseBrackmannGrade(
        grade=2,
        roman="II",
        name="Mild dysfunction",
        name_de="Leichte Dysfunktion",
        description="Gross: slight weakness noticeable on close inspection; may have very slight synkinesis. "
        "At rest: normal symmetry and tone. Motion: forehead moderate to good function; eye complete "
        "closure with minimum effort; mouth slight asymmetry.",
    ),
    HouseBrackmannGrade(
        grade=3,
        roman="III",
        name="Moderate dysfunction",
        name_de="Mäßige Dysfunktion",
        description="Gross: obvious but not disfiguring difference between the two sides; noticeable but not "
        "severe synkinesis, contracture and/or hemifacial spasm. At rest: normal symmetry and tone. "
        "Motion: forehead slight to moderate movement; eye complete closure with effort; mouth slightly "
        "weak with maximum effort.",
    ),
    HouseBrackmannGrade(
        grade=4,
        roman="IV",
        name="Moderately severe dysfunction",
        name_de="Mittelschwere Dysfunktion",
        description="Gross: obvious weakness and/or disfiguring asymmetry. "
        "At rest: normal symmetry and tone. Motion: forehead none; eye incomplete closure; "
        "mouth asymmetric with maximum effort.",
    ),
    HouseBrackmannGrade(
        grade=5,
        roman="V",
        name="Severe dysfunction",
        name_de="Schwere Dysfunktion",
        description="Gross: only barely perceptible motion. At rest: asymmetry. Motion: forehead none; eye "
        "incomplete closure; mouth slight movement.",
    ),
    HouseBrackmannGrade(
        grade=6,
        roman="VI",
        name="Total paralysis",
        name_de="Vollständige Lähmung",
        description="No movement.",
    ),
)


def house_brackmann(grade: int | str) -> HouseBrackmannGrade:
    """A House-Brackmann grade by number (1-6) or Roman numeral (``"I"``-``"VI"``).

    Raises:
        GradingError: Not a grade.

    Examples:
        >>> house_brackmann("III").name, house_brackmann(3).name_de
        ('Moderate dysfunction', 'Mäßige Dysfunktion')
    """
    for candidate in HOUSE_BRACKMANN:
        if grade in (candidate.grade, candidate.roman) and not isinstance(grade, bool):
            return candidate
    raise GradingError("house-brackmann.grade", grade, "must be 1-6 or I-VI")


# -- Sunnybrook --------------------------------------------------------------------------

# Ross BG, Fradet G, Nedzelski JM. Development of a sensitive clinical facial grading
# system. Otolaryngol Head Neck Surg 1996;114:380-6; the grading sheet, in order.
RESTING_ITEMS: Final[dict[str, dict[str, tuple[int, str]]]] = {
    "eye": {
        "normal": (0, "normal"),
        "narrow": (1, "narrow"),
        "wide": (1, "wide"),
        "eyelid-surgery": (1, "eyelid surgery"),
    },
    "cheek": {
        "normal": (0, "normal"),
        "absent": (2, "absent"),
        "less-pronounced": (1, "less pronounced"),
        "more-pronounced": (1, "more pronounced"),
    },
    "mouth": {
        "normal": (0, "normal"),
        "corner-drooped": (1, "corner drooped"),
        "corner-pulled-up-out": (1, "corner pulled up/out"),
    },
}
"""Resting symmetry compared with the normal side: item -> answer code -> (points, display)."""

EXPRESSIONS: Final[dict[str, str]] = {
    "brow-lift": "Brow lift (FRO)",
    "gentle-eye-closure": "Gentle eye closure (OCS)",
    "open-mouth-smile": "Open mouth smile (ZYG/RIS)",
    "snarl": "Snarl (LLA/LLS)",
    "lip-pucker": "Lip pucker (OOS/OOI)",
}
"""The five standard expressions (muscles in brackets), for voluntary movement and synkinesis."""

VOLUNTARY_SCALE: Final[dict[int, str]] = {
    1: "unable to initiate movement",
    2: "initiates slight movement",
    3: "initiated movement with mild excursion",
    4: "movement almost complete",
    5: "movement complete",
}
"""Degree of muscle excursion compared with the normal side."""

SYNKINESIS_SCALE: Final[dict[int, str]] = {
    0: "none",
    1: "mild: slight synkinesis, minimal mass movement",
    2: "moderate: obvious but not disfiguring synkinesis",
    3: "severe: disfiguring synkinesis, gross mass movement of several muscles",
}
"""Degree of involuntary muscle contraction with each expression."""

_VOLUNTARY_CODES: Final = {1: "unable", 2: "slight", 3: "mild-excursion", 4: "almost-complete", 5: "complete"}
_SYNKINESIS_CODES: Final = {0: "none", 1: "mild", 2: "moderate", 3: "severe"}

Expression = Literal["brow-lift", "gentle-eye-closure", "open-mouth-smile", "snarl", "lip-pucker"]


def _all_expressions(value: dict[str, int]) -> dict[str, int]:
    if set(value) != set(EXPRESSIONS):
        missing = sorted(set(EXPRESSIONS) - set(value))
        raise ValueError(f"needs exactly the five expressions; missing {missing}")
    return value


class SunnybrookGrading(_Frozen):
    """The 13 answers of the Sunnybrook grading sheet, each compared with the normal side.

    Attributes:
        eye: Resting eye (palpebral fissure): ``normal``, ``narrow``, ``wide``, ``eyelid-surgery``.
        cheek: Resting cheek (nasolabial fold): ``normal``, ``absent``, ``less-pronounced``,
            ``more-pronounced``.
        mouth: Resting mouth: ``normal``, ``corner-drooped``, ``corner-pulled-up-out``.
        voluntary: Per expression (:data:`EXPRESSIONS`), 1 (no movement) to 5 (complete).
        synkinesis: Per expression, 0 (none) to 3 (severe).
    """

    eye: Literal["normal", "narrow", "wide", "eyelid-surgery"]
    cheek: Literal["normal", "absent", "less-pronounced", "more-pronounced"]
    mouth: Literal["normal", "corner-drooped", "corner-pulled-up-out"]
    voluntary: Annotated[
        dict[Expression, Annotated[int, Field(ge=1, le=5)]], AfterValidator(_all_expressions)
    ]
    synkinesis: Annotated[
        dict[Expression, Annotated[int, Field(ge=0, le=3)]], AfterValidator(_all_expressions)
    ]

    @classmethod
    def parse(cls, answers: Mapping[str, Any]) -> SunnybrookGrading:
        """Validate answers, turning problems into :class:`~telemedroom.errors.GradingError`.

        Examples:
            >>> try:
            ...     SunnybrookGrading.parse({"eye": "normal", "cheek": "normal", "mouth": "normal",
            ...         "voluntary": dict.fromkeys(EXPRESSIONS, 6),
            ...         "synkinesis": dict.fromkeys(EXPRESSIONS, 0)})
            ... except GradingError as exc:
            ...     print(exc.item, exc.value)
            sunnybrook.voluntary.brow-lift 6
        """
        try:
            return cls.model_validate(answers)
        except ValidationError as exc:
            error = exc.errors()[0]
            location = [str(part) for part in error["loc"]]
            item = "sunnybrook." + ".".join(location) if location else "sunnybrook"
            value = error.get("input")
            raise GradingError(item, value, error["msg"]) from exc

    def score(self) -> SunnybrookScore:
        """Compute the scores (see :class:`SunnybrookScore`)."""
        resting = 5 * (
            RESTING_ITEMS["eye"][self.eye][0]
            + RESTING_ITEMS["cheek"][self.cheek][0]
            + RESTING_ITEMS["mouth"][self.mouth][0]
        )
        voluntary = 4 * sum(self.voluntary.values())
        synkinesis = sum(self.synkinesis.values())
        return SunnybrookScore(
            grading=self,
            resting=resting,
            voluntary=voluntary,
            synkinesis=synkinesis,
            composite=voluntary - resting - synkinesis,
        )


class SunnybrookScore(_Frozen):
    """The Sunnybrook scores of one grading.

    - resting symmetry score = 5 x (eye + cheek + mouth points): 0 to 20;
    - voluntary movement score = 4 x (sum of the five expressions): 20 to 100;
    - synkinesis score = sum of the five expressions: 0 to 15;
    - composite = voluntary - resting - synkinesis.

    The composite runs from 0 (complete flaccid paralysis: 20 - 20 - 0) to 100 (normal:
    100 - 0 - 0). The sheet's formula is kept exactly, without clamping: the one
    combination it allows below 0, synkinesis graded with no voluntary movement at all,
    yields down to 20 - 20 - 15 = -15.

    Attributes:
        grading: The answers it was computed from.
        resting: Resting symmetry score.
        voluntary: Voluntary movement score.
        synkinesis: Synkinesis score.
        composite: The composite score.
    """

    grading: SunnybrookGrading
    resting: Annotated[int, Field(ge=0, le=20)]
    voluntary: Annotated[int, Field(ge=20, le=100)]
    synkinesis: Annotated[int, Field(ge=0, le=15)]
    composite: Annotated[int, Field(ge=-15, le=100)]


# -- FHIR: Questionnaires ----------------------------------------------------------------


# FHIR R4B §2.1.0 Language support (http://hl7.org/fhir/R4B/languages.html#translation):
# a string's translations travel in the core "translation" extension on the element
# itself (JSON: "_text", "_display", "_title"), one per language, with the sub-extensions
# "lang" (a BCP 47 code) and "content". The form's own language is Questionnaire.language.
TRANSLATION: Final = "http://hl7.org/fhir/StructureDefinition/translation"

# German texts of the grading forms: English text -> German.
_GERMAN: Final[dict[str, str]] = {
    "Sunnybrook Facial Grading System": "Sunnybrook-Bewertungssystem für Fazialisparesen",
    "House-Brackmann facial nerve grading system": "House-Brackmann-Klassifikation der Fazialisparese",
    "House-Brackmann grade": "House-Brackmann-Grad",
    "Resting symmetry": "Symmetrie in Ruhe",
    "Symmetry of voluntary movement": "Symmetrie der Willkürbewegung",
    "Synkinesis": "Synkinesien",
    "Eye (palpebral fissure)": "Auge (Lidspalte)",
    "Cheek (nasolabial fold)": "Wange (Nasolabialfalte)",
    "Mouth": "Mund",
    "normal": "normal",
    "narrow": "eng",
    "wide": "weit",
    "eyelid surgery": "Lidoperation",
    "absent": "fehlend",
    "less pronounced": "weniger ausgeprägt",
    "more pronounced": "stärker ausgeprägt",
    "corner drooped": "Mundwinkel hängt herab",
    "corner pulled up/out": "Mundwinkel nach oben/außen gezogen",
    "Brow lift (FRO)": "Stirnrunzeln (FRO)",
    "Gentle eye closure (OCS)": "Sanfter Lidschluss (OCS)",
    "Open mouth smile (ZYG/RIS)": "Lächeln mit offenem Mund (ZYG/RIS)",
    "Snarl (LLA/LLS)": "Naserümpfen (LLA/LLS)",
    "Lip pucker (OOS/OOI)": "Lippen spitzen (OOS/OOI)",
    "unable to initiate movement": "keine Bewegung auslösbar",
    "initiates slight movement": "beginnende, geringe Bewegung",
    "initiated movement with mild excursion": "Bewegung mit geringer Exkursion",
    "movement almost complete": "Bewegung fast vollständig",
    "movement complete": "Bewegung vollständig",
    "none": "keine",
    "mild: slight synkinesis, minimal mass movement": "leicht: geringe Synkinesie, minimale Massenbewegung",
    "moderate: obvious but not disfiguring synkinesis": (
        "mäßig: deutliche, aber nicht entstellende Synkinesie"
    ),
    "severe: disfiguring synkinesis, gross mass movement of several muscles": (
        "schwer: entstellende Synkinesie, ausgeprägte Massenbewegung mehrerer Muskeln"
    ),
    **{f"{g.roman}: {g.name}": f"{g.roman}: {g.name_de}" for g in HOUSE_BRACKMANN},
}


def _german(english: str) -> dict[str, Any]:
    """The ``_text``/``_display`` element carrying the German translation of ``english``."""
    if english.split(": ", 1)[0].isdigit():  # "3: initiated movement ..." keeps its points
        points, rest = english.split(": ", 1)
        german = f"{points}: {_GERMAN[rest]}"
    else:
        german = _GERMAN[english]
    return {
        "extension": [
            {
                "url": TRANSLATION,
                "extension": [{"url": "lang", "valueCode": "de"}, {"url": "content", "valueString": german}],
            }
        ]
    }


def translation(element: Any, language: str) -> str | None:
    """The translation of a string element into ``language``, from its FHIR ``translation`` extension.

    Args:
        element: The element's extension holder, e.g. ``item.text__ext`` (``_text`` in
            JSON) of a ``fhir.resources`` model, or its JSON dict.
        language: A BCP 47 code, ``"de"``.

    Examples:
        >>> form = sunnybrook_questionnaire()
        >>> form.item[0].text, translation(form.item[0].text__ext, "de")
        ('Resting symmetry', 'Symmetrie in Ruhe')
        >>> option = form.item[1].item[0].answerOption[3].valueCoding
        >>> option.display, translation(option.display__ext, "de")
        ('4: movement almost complete', '4: Bewegung fast vollständig')
    """
    data = element.model_dump() if hasattr(element, "model_dump") else element
    for extension in (data or {}).get("extension") or []:
        if extension.get("url") != TRANSLATION:
            continue
        parts = {e.get("url"): e for e in extension.get("extension") or []}
        if parts.get("lang", {}).get("valueCode") == language:
            content: str | None = parts.get("content", {}).get("valueString")
            return content
    return None


def _option(code: str, display: str, points: int) -> dict[str, Any]:
    return {
        "valueCoding": {
            "system": FACIAL_CODES,
            "code": code,
            "display": display,
            "_display": _german(display),
            "extension": [{"url": _ORDINAL, "valueDecimal": points}],
        }
    }


def _choice(link_id: str, text: str, options: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "linkId": link_id,
        "text": text,
        "_text": _german(text),
        "type": "choice",
        "required": True,
        "answerOption": options,
    }


def sunnybrook_questionnaire() -> Questionnaire:
    """The Sunnybrook grading sheet as a FHIR R4B Questionnaire.

    Groups ``sunnybrook.resting``, ``sunnybrook.voluntary`` and ``sunnybrook.synkinesis``;
    items ``sunnybrook.resting.eye``, ``sunnybrook.voluntary.brow-lift``, ...; every
    answer option is a Coding in :data:`FACIAL_CODES` with its points as ``ordinalValue``.

    Examples:
        >>> form = sunnybrook_questionnaire()
        >>> [group.linkId for group in form.item], len(form.item[1].item)
        (['sunnybrook.resting', 'sunnybrook.voluntary', 'sunnybrook.synkinesis'], 5)
    """
    resting = [
        _choice(
            f"sunnybrook.resting.{item}",
            {"eye": "Eye (palpebral fissure)", "cheek": "Cheek (nasolabial fold)", "mouth": "Mouth"}[item],
            [_option(code, display, points) for code, (points, display) in answers.items()],
        )
        for item, answers in RESTING_ITEMS.items()
    ]
    voluntary = [
        _choice(
            f"sunnybrook.voluntary.{expression}",
            text,
            [_option(f"voluntary-{_VOLUNTARY_CODES[p]}", f"{p}: {d}", p) for p, d in VOLUNTARY_SCALE.items()],
        )
        for expression, text in EXPRESSIONS.items()
    ]
    synkinesis = [
        _choice(
            f"sunnybrook.synkinesis.{expression}",
            text,
            [
                _option(f"synkinesis-{_SYNKINESIS_CODES[p]}", f"{p}: {d}", p)
                for p, d in SYNKINESIS_SCALE.items()
            ],
        )
        for expression, text in EXPRESSIONS.items()
    ]
    return Questionnaire.model_validate(
        {
            "resourceType": "Questionnaire",
            "id": "sunnybrook-facial-grading",
            "url": SUNNYBROOK_QUESTIONNAIRE_URL,
            "version": "1.0.0",
            "name": "SunnybrookFacialGradingSystem",
            "title": "Sunnybrook Facial Grading System",
            "_title": _german("Sunnybrook Facial Grading System"),
            "language": "en",
            "status": "active",
            "subjectType": ["Patient"],
            "description": "Ross BG, Fradet G, Nedzelski JM. Development of a sensitive clinical facial "
            "grading system. Otolaryngol Head Neck Surg 1996;114:380-6. Each item compares the affected side "
            "with the normal side.",
            "code": [
                {"system": FACIAL_CODES, "code": "sunnybrook", "display": "Sunnybrook Facial Grading System"}
            ],
            "item": [
                {
                    "linkId": "sunnybrook.resting",
                    "text": "Resting symmetry",
                    "_text": _german("Resting symmetry"),
                    "type": "group",
                    "item": resting,
                },
                {
                    "linkId": "sunnybrook.voluntary",
                    "text": "Symmetry of voluntary movement",
                    "_text": _german("Symmetry of voluntary movement"),
                    "type": "group",
                    "item": voluntary,
                },
                {
                    "linkId": "sunnybrook.synkinesis",
                    "text": "Synkinesis",
                    "_text": _german("Synkinesis"),
                    "type": "group",
                    "item": synkinesis,
                },
            ],
        }
    )


def house_brackmann_questionnaire() -> Questionnaire:
    """The House-Brackmann grade as a one-item FHIR R4B Questionnaire (``house-brackmann.grade``).

    Examples:
        >>> [o.valueCoding.code for o in house_brackmann_questionnaire().item[0].answerOption]
        ['I', 'II', 'III', 'IV', 'V', 'VI']
    """
    options = [
        {
            "valueCoding": {
                "system": FACIAL_CODES,
                "code": g.roman,
                "display": f"{g.roman}: {g.name}",
                "_display": _german(f"{g.roman}: {g.name}"),
                "extension": [{"url": _ORDINAL, "valueDecimal": g.grade}],
            }
        }
        for g in HOUSE_BRACKMANN
    ]
    return Questionnaire.model_validate(
        {
            "resourceType": "Questionnaire",
            "id": "house-brackmann",
            "url": HOUSE_BRACKMANN_QUESTIONNAIRE_URL,
            "version": "1.0.0",
            "name": "HouseBrackmannFacialNerveGradingSystem",
            "title": "House-Brackmann facial nerve grading system",
            "_title": _german("House-Brackmann facial nerve grading system"),
            "language": "en",
            "status": "active",
            "subjectType": ["Patient"],
            "description": "House JW, Brackmann DE. Facial nerve grading system. "
            "Otolaryngol Head Neck Surg 1985;93:146-7.",
            "item": [
                {
                    "linkId": "house-brackmann.grade",
                    "text": "House-Brackmann grade",
                    "_text": _german("House-Brackmann grade"),
                    "type": "choice",
                    "required": True,
                    "answerOption": options,
                }
            ],
        }
    )


# -- FHIR: responses ---------------------------------------------------------------------


def _coding_answer(link_id: str, text: str, code: str, display: str) -> dict[str, Any]:
    return {
        "linkId": link_id,
        "text": text,
        "answer": [{"valueCoding": {"system": FACIAL_CODES, "code": code, "display": display}}],
    }


def _response(
    questionnaire: str,
    items: list[dict[str, Any]],
    *,
    patient: str,
    encounter: str | None,
    author: str | None,
    authored: datetime,
) -> QuestionnaireResponse:
    if authored.utcoffset() is None:
        raise GradingError("authored", authored, "must be timezone-aware")
    data: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": questionnaire,
        "status": "completed",
        "subject": {"reference": patient},
        "authored": authored.isoformat(),
        "item": items,
    }
    if encounter:
        data["encounter"] = {"reference": encounter}
    if author:
        data["author"] = {"reference": author}
    return QuestionnaireResponse.model_validate(data)


def sunnybrook_response(
    grading: SunnybrookGrading,
    *,
    patient: str,
    authored: datetime,
    encounter: str | None = None,
    author: str | None = None,
) -> QuestionnaireResponse:
    """The physician's Sunnybrook answers as a QuestionnaireResponse to :func:`sunnybrook_questionnaire`.

    Examples:
        >>> from datetime import datetime, UTC
        >>> grading = SunnybrookGrading(eye="normal", cheek="normal", mouth="normal",
        ...                             voluntary=dict.fromkeys(EXPRESSIONS, 5),
        ...                             synkinesis=dict.fromkeys(EXPRESSIONS, 0))
        >>> answers = sunnybrook_response(grading, patient="Patient/p1",
        ...                               authored=datetime(2026, 11, 25, 10, tzinfo=UTC))
        >>> sunnybrook_from_response(answers).composite
        100
    """
    resting = [
        _coding_answer(f"sunnybrook.resting.{item}", item, code, RESTING_ITEMS[item][code][1])
        for item, code in (("eye", grading.eye), ("cheek", grading.cheek), ("mouth", grading.mouth))
    ]
    voluntary = [
        _coding_answer(
            f"sunnybrook.voluntary.{e}",
            EXPRESSIONS[e],
            f"voluntary-{_VOLUNTARY_CODES[grading.voluntary[e]]}",  # type: ignore[index]
            f"{grading.voluntary[e]}: {VOLUNTARY_SCALE[grading.voluntary[e]]}",  # type: ignore[index]
        )
        for e in EXPRESSIONS
    ]
    synkinesis = [
        _coding_answer(
            f"sunnybrook.synkinesis.{e}",
            EXPRESSIONS[e],
            f"synkinesis-{_SYNKINESIS_CODES[grading.synkinesis[e]]}",  # type: ignore[index]
            f"{grading.synkinesis[e]}: {SYNKINESIS_SCALE[grading.synkinesis[e]]}",  # type: ignore[index]
        )
        for e in EXPRESSIONS
    ]
    items = [
        {"linkId": "sunnybrook.resting", "item": resting},
        {"linkId": "sunnybrook.voluntary", "item": voluntary},
        {"linkId": "sunnybrook.synkinesis", "item": synkinesis},
    ]
    return _response(
        SUNNYBROOK_QUESTIONNAIRE_URL,
        items,
        patient=patient,
        encounter=encounter,
        author=author,
        authored=authored,
    )


def _answers(response: QuestionnaireResponse, questionnaire: str) -> dict[str, str]:
    """Map each answered item's linkId to its answer code of every answered item (groups flattened)."""
    if response.questionnaire is not None and response.questionnaire.split("|")[0] != questionnaire:
        raise GradingError("questionnaire", response.questionnaire, f"expected a response to {questionnaire}")
    found: dict[str, str] = {}

    def walk(items: Sequence[Any] | None) -> None:
        for item in items or ():
            for answer in item.answer or ():
                coding = answer.valueCoding
                if coding is None or coding.system != FACIAL_CODES or coding.code is None:
                    raise GradingError(
                        item.linkId, answer.model_dump(exclude_none=True), "expected a coded answer"
                    )
                if item.linkId in found:
                    raise GradingError(item.linkId, coding.code, "answered more than once")
                found[item.linkId] = coding.code
            walk(item.item)

    walk(response.item)
    return found


def _decode(found: Mapping[str, str], link_id: str, codes: Mapping[str, Any]) -> Any:
    if link_id not in found:
        raise GradingError(link_id, None, "no answer")
    try:
        return codes[found[link_id]]
    except KeyError:
        raise GradingError(link_id, found[link_id], f"must be one of {', '.join(codes)}") from None


def sunnybrook_from_response(response: QuestionnaireResponse) -> SunnybrookScore:
    """Read the answers of a Sunnybrook QuestionnaireResponse and compute the scores.

    Raises:
        GradingError: An item is missing, answered twice, or has an unknown answer; the
            error names the item's ``linkId``.
    """
    found = _answers(response, SUNNYBROOK_QUESTIONNAIRE_URL)
    resting = {
        item: _decode(found, f"sunnybrook.resting.{item}", {c: c for c in RESTING_ITEMS[item]})
        for item in RESTING_ITEMS
    }
    voluntary_codes = {f"voluntary-{c}": p for p, c in _VOLUNTARY_CODES.items()}
    synkinesis_codes = {f"synkinesis-{c}": p for p, c in _SYNKINESIS_CODES.items()}
    grading = SunnybrookGrading.parse(
        {
            **resting,
            "voluntary": {
                e: _decode(found, f"sunnybrook.voluntary.{e}", voluntary_codes) for e in EXPRESSIONS
            },
            "synkinesis": {
                e: _decode(found, f"sunnybrook.synkinesis.{e}", synkinesis_codes) for e in EXPRESSIONS
            },
        }
    )
    return grading.score()


def house_brackmann_response(
    grade: HouseBrackmannGrade,
    *,
    patient: str,
    authored: datetime,
    encounter: str | None = None,
    author: str | None = None,
) -> QuestionnaireResponse:
    """The House-Brackmann grade as a QuestionnaireResponse to :func:`house_brackmann_questionnaire`.

    Examples:
        >>> from datetime import datetime, UTC
        >>> answer = house_brackmann_response(house_brackmann("IV"), patient="Patient/p1",
        ...                                   authored=datetime(2026, 11, 25, 10, tzinfo=UTC))
        >>> house_brackmann_from_response(answer).grade
        4
    """
    item = _coding_answer(
        "house-brackmann.grade", "House-Brackmann grade", grade.roman, f"{grade.roman}: {grade.name}"
    )
    return _response(
        HOUSE_BRACKMANN_QUESTIONNAIRE_URL,
        [item],
        patient=patient,
        encounter=encounter,
        author=author,
        authored=authored,
    )


def house_brackmann_from_response(response: QuestionnaireResponse) -> HouseBrackmannGrade:
    """Read the grade of a House-Brackmann QuestionnaireResponse.

    Raises:
        GradingError: The grade is missing or not I-VI.
    """
    found = _answers(response, HOUSE_BRACKMANN_QUESTIONNAIRE_URL)
    result: HouseBrackmannGrade = _decode(
        found, "house-brackmann.grade", {g.roman: g for g in HOUSE_BRACKMANN}
    )
    return result


# -- FHIR: scores as Observations --------------------------------------------------------


def _observation(
    code: str,
    display: str,
    *,
    patient: str,
    effective: datetime,
    encounter: str | None,
    performer: str | None,
    derived_from: str | None,
    value: dict[str, Any],
    components: list[dict[str, Any]] | None = None,
) -> Observation:
    if effective.utcoffset() is None:
        raise GradingError("effective", effective, "must be timezone-aware")
    data: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": _OBSERVATION_CATEGORY, "code": "exam", "display": "Exam"}]}],
        "code": {"coding": [{"system": FACIAL_CODES, "code": code, "display": display}], "text": display},
        "subject": {"reference": patient},
        "effectiveDateTime": effective.isoformat(),
        **value,
    }
    if encounter:
        data["encounter"] = {"reference": encounter}
    if performer:
        data["performer"] = [{"reference": performer}]
    if derived_from:
        data["derivedFrom"] = [{"reference": derived_from}]
    if components:
        data["component"] = components
    return Observation.model_validate(data)


def sunnybrook_observation(
    score: SunnybrookScore,
    *,
    patient: str,
    effective: datetime,
    encounter: str | None = None,
    performer: str | None = None,
    derived_from: str | None = None,
) -> Observation:
    """The Sunnybrook composite score as an Observation, the three sub-scores as its components.

    Codes (in :data:`FACIAL_CODES`): ``sunnybrook-composite``; components
    ``sunnybrook-resting-symmetry``, ``sunnybrook-voluntary-movement``,
    ``sunnybrook-synkinesis``. ``derived_from`` is the QuestionnaireResponse's reference.

    Examples:
        >>> from datetime import datetime, UTC
        >>> grading = SunnybrookGrading(eye="wide", cheek="absent", mouth="corner-drooped",
        ...                             voluntary=dict.fromkeys(EXPRESSIONS, 1),
        ...                             synkinesis=dict.fromkeys(EXPRESSIONS, 0))
        >>> obs = sunnybrook_observation(grading.score(), patient="Patient/p1",
        ...                              effective=datetime(2026, 11, 25, 10, tzinfo=UTC))
        >>> obs.valueInteger, [c.valueInteger for c in obs.component]
        (0, [20, 20, 0])
    """
    parts = [
        ("sunnybrook-resting-symmetry", "Sunnybrook resting symmetry score", score.resting),
        ("sunnybrook-voluntary-movement", "Sunnybrook voluntary movement score", score.voluntary),
        ("sunnybrook-synkinesis", "Sunnybrook synkinesis score", score.synkinesis),
    ]
    components = [
        {
            "code": {"coding": [{"system": FACIAL_CODES, "code": code, "display": display}]},
            "valueInteger": value,
        }
        for code, display, value in parts
    ]
    return _observation(
        "sunnybrook-composite",
        "Sunnybrook facial grading composite score",
        patient=patient,
        effective=effective,
        encounter=encounter,
        performer=performer,
        derived_from=derived_from,
        value={"valueInteger": score.composite},
        components=components,
    )


def house_brackmann_observation(
    grade: HouseBrackmannGrade,
    *,
    patient: str,
    effective: datetime,
    encounter: str | None = None,
    performer: str | None = None,
    derived_from: str | None = None,
) -> Observation:
    """The House-Brackmann grade as an Observation (code ``house-brackmann-grade``, coded value I-VI).

    Examples:
        >>> from datetime import datetime, UTC
        >>> obs = house_brackmann_observation(house_brackmann(2), patient="Patient/p1",
        ...                                   effective=datetime(2026, 11, 25, 10, tzinfo=UTC))
        >>> obs.valueCodeableConcept.coding[0].display
        'II: Mild dysfunction'
    """
    value = {
        "valueCodeableConcept": {
            "coding": [
                {"system": FACIAL_CODES, "code": grade.roman, "display": f"{grade.roman}: {grade.name}"}
            ],
            "text": f"House-Brackmann grade {grade.roman} ({grade.name})",
        }
    }
    return _observation(
        "house-brackmann-grade",
        "House-Brackmann facial nerve grade",
        patient=patient,
        effective=effective,
        encounter=encounter,
        performer=performer,
        derived_from=derived_from,
        value=value,
    )


# -- FHIR: stills per step ---------------------------------------------------------------


Resource = Literal["Media", "DocumentReference"]
"""How a still (or clip) is kept: FHIR R4B ``Media`` (default) or ``DocumentReference``."""

# LOINC 72170-4 "Photographic image": the document type IHE and US Core use for photos.
_PHOTO_DOCUMENT: Final = {"system": "http://loinc.org", "code": "72170-4", "display": "Photographic image"}


def _attachment(chosen: ProtocolStep, still: Snapshot | Clip) -> dict[str, Any]:
    kind = "clip" if still.media_type.startswith("video/") else "still"
    return {
        "contentType": still.media_type,
        "data": base64.b64encode(still.data).decode("ascii"),
        "size": len(still.data),
        # FHIR R4B Attachment.hash is the base64 of the data's SHA-1
        "hash": base64.b64encode(hashlib.sha1(still.data).digest()).decode("ascii"),
        "title": f"{chosen.title['en']} ({kind}, {still.captured_at:%Y-%m-%d})",
        "creation": still.captured_at.isoformat(),
    }


def _step_coding(chosen: ProtocolStep) -> dict[str, Any]:
    return {
        "coding": [{"system": FACIAL_CODES, "code": chosen.code, "display": chosen.title["en"]}],
        "text": chosen.title["en"],
    }


@overload
def step_media(
    protocol_step: ProtocolStep | str,
    snapshot: Snapshot | Clip,
    *,
    patient: str,
    encounter: str,
    operator: str | None = ...,
    device: str | None = ...,
    resource: Literal["Media"] = ...,
) -> Media: ...
@overload
def step_media(
    protocol_step: ProtocolStep | str,
    snapshot: Snapshot | Clip,
    *,
    patient: str,
    encounter: str,
    operator: str | None = ...,
    device: str | None = ...,
    resource: Literal["DocumentReference"],
) -> DocumentReference: ...
def step_media(
    protocol_step: ProtocolStep | str,
    snapshot: Snapshot | Clip,
    *,
    patient: str,
    encounter: str,
    operator: str | None = None,
    device: str | None = None,
    resource: Resource = "Media",
) -> Media | DocumentReference:
    """A still (or clip) of one protocol step as a FHIR R4B ``Media``, the step as its coded ``view``.

    The image is embedded (``content.data``) with its size and SHA-1 hash, as FHIR's
    ``Attachment`` defines them; ``createdDateTime`` is when the frame arrived. A
    :class:`~telemedroom.devices.media.Clip` (``video/webm``) becomes a Media of type
    ``video`` with its ``duration`` and ``frames``.

    With ``resource="DocumentReference"`` it is a ``DocumentReference`` instead, for
    servers and record systems that keep documents rather than Media (FHIR R5 folds
    Media into DocumentReference): type LOINC 72170-4 "Photographic image" (a clip:
    ``video-clip`` of :data:`FACIAL_CODES`), the step as its ``category``, the
    Encounter in ``context.encounter``, the photographer and the camera as
    ``author``, the same embedded attachment. R4B's ``Attachment`` has no width or
    height; those stay in the Media form only.

    Args:
        protocol_step: The step (or its code).
        snapshot: The still, from ``MediaDevice.snapshot()`` of
            :mod:`telemedroom.devices.media` (or a clip from ``MediaDevice.clip()``).
        patient: Reference of the patient.
        encounter: Reference of the Encounter (the consultation) it belongs to.
        operator: Who took it (a Practitioner reference).
        device: The exam camera (a Device reference).
        resource: ``"Media"`` or ``"DocumentReference"``.

    Raises:
        GradingError: ``protocol_step`` is not a step of :data:`PROTOCOL`.

    Examples:
        >>> from datetime import datetime, UTC
        >>> from types import SimpleNamespace
        >>> still = SimpleNamespace(data=b"...png...", media_type="image/png", width=1920, height=1080,
        ...                         captured_at=datetime(2026, 11, 25, 10, 2, tzinfo=UTC))
        >>> media = step_media("smile-with-teeth", still, patient="Patient/p1", encounter="Encounter/e1")
        >>> media.view.coding[0].code, media.content.contentType, media.width
        ('smile-with-teeth', 'image/png', 1920)
        >>> document = step_media("smile-with-teeth", still, patient="Patient/p1", encounter="Encounter/e1",
        ...                       resource="DocumentReference")
        >>> document.type.coding[0].code, document.category[0].coding[0].code
        ('72170-4', 'smile-with-teeth')
    """
    chosen = step(protocol_step) if isinstance(protocol_step, str) else protocol_step
    video = snapshot.media_type.startswith("video/")
    if resource == "DocumentReference":
        authors = [{"reference": r} for r in (operator, device) if r]
        document: dict[str, Any] = {
            "resourceType": "DocumentReference",
            "status": "current",
            "docStatus": "final",
            "type": (
                {"coding": [{"system": FACIAL_CODES, "code": "video-clip", "display": "Video clip"}]}
                if video
                else {"coding": [_PHOTO_DOCUMENT]}
            ),
            "category": [_step_coding(chosen)],
            "subject": {"reference": patient},
            "date": snapshot.captured_at.isoformat(),
            "description": f"Facial exam: {chosen.title['en']}",
            "content": [{"attachment": _attachment(chosen, snapshot)}],
            "context": {"encounter": [{"reference": encounter}]},
        }
        if authors:
            document["author"] = authors
        return DocumentReference.model_validate(document)
    if resource != "Media":
        raise GradingError("resource", resource, "must be Media or DocumentReference")
    kind = ("video", "Video") if video else ("image", "Image")
    data: dict[str, Any] = {
        "resourceType": "Media",
        "status": "completed",
        "type": {"coding": [{"system": _MEDIA_TYPE, "code": kind[0], "display": kind[1]}]},
        "view": _step_coding(chosen),
        "subject": {"reference": patient},
        "encounter": {"reference": encounter},
        "createdDateTime": snapshot.captured_at.isoformat(),
        "width": snapshot.width,
        "height": snapshot.height,
        "content": _attachment(chosen, snapshot),
    }
    if video:
        data["duration"] = getattr(snapshot, "duration", None)
        data["frames"] = getattr(snapshot, "frames", None)
    if operator:
        data["operator"] = {"reference": operator}
    if device:
        data["device"] = {"reference": device}
    return Media.model_validate(data)


# -- one exam, one transaction -----------------------------------------------------------

_EXAM_NAMESPACE: Final = uuid.UUID("0c5e7d2e-4f0b-4a59-9a57-3f1e2b8c6d41")


def exam_transaction(
    *,
    patient: str,
    encounter: str,
    authored: datetime,
    author: str | None = None,
    stills: Sequence[tuple[ProtocolStep | str, Snapshot | Clip]] = (),
    sunnybrook: SunnybrookGrading | None = None,
    house_brackmann: HouseBrackmannGrade | None = None,
    camera: str | None = None,
    resource: Resource = "Media",
) -> dict[str, Any]:
    """Everything one facial exam produced, as one FHIR transaction Bundle (JSON data).

    The stills as :func:`step_media`, each grading as its QuestionnaireResponse and its
    score Observation (``derivedFrom`` the response). Give it to ``Outbox.put`` (or a
    ``FhirClient``). Every resource is a PUT to an id derived from the encounter, the
    form or step and the time, and its ``fullUrl`` is ``urn:uuid:`` of that same id, so
    sending it again changes nothing, and ``FileSink`` keeps the same ids and references.

    Args:
        patient: Reference of the patient.
        encounter: Reference of the Encounter (the consultation).
        authored: When the physician graded (timezone-aware).
        author: The physician (a Practitioner reference).
        stills: ``(step, snapshot)`` pairs, as taken (a clip as the second item is kept
            the same way, as a video).
        sunnybrook: The Sunnybrook answers, if graded.
        house_brackmann: The House-Brackmann grade, if graded.
        camera: The exam camera (a Device reference), for the stills.
        resource: Keep the stills as ``Media`` (default) or ``DocumentReference``
            (see :func:`step_media`).

    Raises:
        GradingError: A step is unknown or a time is not timezone-aware.

    Examples:
        >>> from datetime import datetime, UTC
        >>> from telemedroom.exams import exam_transaction, house_brackmann
        >>> bundle = exam_transaction(patient="Patient/p1", encounter="Encounter/e1",
        ...                           authored=datetime(2026, 11, 25, 10, tzinfo=UTC),
        ...                           house_brackmann=house_brackmann("II"))
        >>> [e["request"]["url"].split("/")[0] for e in bundle["entry"]]
        ['QuestionnaireResponse', 'Observation']
    """
    resources: list[tuple[str, Any]] = []
    for chosen, snapshot in stills:
        chosen_step = step(chosen) if isinstance(chosen, str) else chosen
        media = step_media(
            chosen_step,
            snapshot,
            patient=patient,
            encounter=encounter,
            operator=author,
            device=camera,
            resource=resource,
        )
        # a still's key is the one earlier versions used, so a re-sent exam keeps its ids
        kind = "clip" if snapshot.media_type.startswith("video/") else "media"
        resources.append((f"{kind}|{chosen_step.code}|{snapshot.captured_at.isoformat()}", media))
    stamp = authored.isoformat()

    def derived(form: str) -> str:
        return f"QuestionnaireResponse/{uuid.uuid5(_EXAM_NAMESPACE, f'{encounter}|response|{form}|{stamp}')}"

    if sunnybrook is not None:
        answers = sunnybrook_response(
            sunnybrook, patient=patient, authored=authored, encounter=encounter, author=author
        )
        score = sunnybrook_observation(
            sunnybrook.score(),
            patient=patient,
            effective=authored,
            encounter=encounter,
            performer=author,
            derived_from=derived("sunnybrook"),
        )
        resources += [(f"response|sunnybrook|{stamp}", answers), (f"observation|sunnybrook|{stamp}", score)]
    if house_brackmann is not None:
        answers = house_brackmann_response(
            house_brackmann, patient=patient, authored=authored, encounter=encounter, author=author
        )
        grade = house_brackmann_observation(
            house_brackmann,
            patient=patient,
            effective=authored,
            encounter=encounter,
            performer=author,
            derived_from=derived("house-brackmann"),
        )
        resources += [
            (f"response|house-brackmann|{stamp}", answers),
            (f"observation|house-brackmann|{stamp}", grade),
        ]
    entries = []
    for key, written in resources:
        kind = written.get_resource_type()
        rid = str(uuid.uuid5(_EXAM_NAMESPACE, f"{encounter}|{key}"))
        data = json.loads(written.model_dump_json())
        data["id"] = rid
        entries.append(
            {
                "fullUrl": f"urn:uuid:{rid}",
                "resource": data,
                "request": {"method": "PUT", "url": f"{kind}/{rid}"},
            }
        )
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    Bundle.model_validate(bundle)
    return bundle


# -- visits side by side -----------------------------------------------------------------


class StillPair(BaseModel):
    """One protocol step's still from an earlier visit next to the current one.

    Attributes:
        step: The protocol step.
        before: The earlier visit's Media (or DocumentReference) of that step, or ``None``.
        after: The current visit's, or ``None``.
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    step: ProtocolStep
    before: Media | DocumentReference | None
    after: Media | DocumentReference | None


def _view(media: Media | DocumentReference) -> str | None:
    if isinstance(media, DocumentReference):
        concepts = list(media.category or [])
    else:
        concepts = [media.view] if media.view else []
    for concept in concepts:
        for coding in concept.coding or []:
            if coding.system == FACIAL_CODES:
                return coding.code
    return None


def _taken(media: Media | DocumentReference) -> datetime:
    taken = media.date if isinstance(media, DocumentReference) else media.createdDateTime
    return taken if isinstance(taken, datetime) else datetime.min.replace(tzinfo=UTC)


def _still(media: Media | DocumentReference) -> bool:
    if isinstance(media, DocumentReference):
        return bool(media.content) and str(media.content[0].attachment.contentType or "").startswith("image/")
    return media.content is not None and str(media.content.contentType or "").startswith("image/")


def compare_visits(
    before: Sequence[Media | DocumentReference], after: Sequence[Media | DocumentReference]
) -> list[StillPair]:
    """Pair two visits' stills by protocol step, in protocol order (the data of a side-by-side view).

    Takes the stills as :func:`step_media` makes them, ``Media`` or ``DocumentReference``.
    Resources without a protocol step as ``view`` (``category``) and clips are left
    out; when a visit has several stills of one step, the latest
    (``createdDateTime``, ``date``) is used.

    Examples:
        >>> from datetime import datetime, UTC
        >>> from types import SimpleNamespace
        >>> def still(day):
        ...     return SimpleNamespace(data=b"jpeg", media_type="image/jpeg", width=64, height=48,
        ...                            captured_at=datetime(2026, 11, day, 10, tzinfo=UTC))
        >>> old = [step_media("rest", still(4), patient="Patient/p1", encounter="Encounter/visit-1")]
        >>> new = [step_media(s, still(25), patient="Patient/p1", encounter="Encounter/visit-2")
        ...        for s in ("rest", "smile-with-teeth")]
        >>> [(p.step.code, p.before is not None, p.after is not None) for p in compare_visits(old, new)]
        [('rest', True, True), ('smile-with-teeth', False, True)]
    """

    def latest(visit: Sequence[Media | DocumentReference]) -> dict[str, Media | DocumentReference]:
        chosen: dict[str, Media | DocumentReference] = {}
        for media in visit:
            code = _view(media)
            if code is None or not _still(media):
                continue
            kept = chosen.get(code)
            if kept is None or _taken(media) >= _taken(kept):
                chosen[code] = media
        return chosen

    old, new = latest(before), latest(after)
    return [
        StillPair(step=s, before=old.get(s.code), after=new.get(s.code))
        for s in PROTOCOL
        if s.code in old or s.code in new
    ]
