"""The facial grading forms as FHIR R4B Questionnaires; the physician's answers as QuestionnaireResponses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from telemedroom.errors import GradingError
from telemedroom.exams.facial._grading import (
    _SYNKINESIS_CODES,
    _VOLUNTARY_CODES,
    EXPRESSIONS,
    HOUSE_BRACKMANN,
    RESTING_ITEMS,
    SYNKINESIS_SCALE,
    VOLUNTARY_SCALE,
    HouseBrackmannGrade,
    SunnybrookGrading,
    SunnybrookScore,
)
from telemedroom.exams.facial._protocol import DATA, FACIAL_CODES

__all__ = [
    "HOUSE_BRACKMANN_QUESTIONNAIRE_URL",
    "SUNNYBROOK_QUESTIONNAIRE_URL",
    "TRANSLATION",
    "house_brackmann_from_response",
    "house_brackmann_questionnaire",
    "house_brackmann_response",
    "sunnybrook_from_response",
    "sunnybrook_questionnaire",
    "sunnybrook_response",
    "translation",
]

SUNNYBROOK_QUESTIONNAIRE_URL: Final = "https://telemedroom.org/fhir/Questionnaire/sunnybrook-facial-grading"
HOUSE_BRACKMANN_QUESTIONNAIRE_URL: Final = "https://telemedroom.org/fhir/Questionnaire/house-brackmann"
# FHIR R4 core extension: the points an answer option is worth.
_ORDINAL: Final = "http://hl7.org/fhir/StructureDefinition/ordinalValue"

# -- FHIR: Questionnaires ----------------------------------------------------------------


# FHIR R4B §2.1.0 Language support (http://hl7.org/fhir/R4B/languages.html#translation):
# a string's translations travel in the core "translation" extension on the element
# itself (JSON: "_text", "_display", "_title"), one per language, with the sub-extensions
# "lang" (a BCP 47 code) and "content". The form's own language is Questionnaire.language.
TRANSLATION: Final = "http://hl7.org/fhir/StructureDefinition/translation"

# German texts of the grading forms: English text -> German (protocol.toml's [german]).
_GERMAN: Final[dict[str, str]] = {
    **DATA["german"],
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
