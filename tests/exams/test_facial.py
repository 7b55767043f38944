"""Facial-paralysis exam: protocol data, House-Brackmann, Sunnybrook scores, FHIR forms, answers, stills."""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.documentreference import DocumentReference
from fhir.resources.R4B.media import Media
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse
from hypothesis import given
from hypothesis import strategies as st
from tests._hypothesis import FHIR_VALIDATION_EXAMPLES, at_most

from telemedroom import errors
from telemedroom.exams import (
    EXPRESSIONS,
    FACIAL_CODES,
    HOUSE_BRACKMANN,
    PROTOCOL,
    RESTING_ITEMS,
    TRANSLATION,
    SunnybrookGrading,
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
from telemedroom.fhir import FhirClient, FileSink, Outbox
from telemedroom.testing import FakeFhirServer

AT = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
ORDINAL = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
EXPR = list(EXPRESSIONS)


def grading(
    eye: str, cheek: str, mouth: str, voluntary: list[int], synkinesis: list[int]
) -> SunnybrookGrading:
    return SunnybrookGrading.parse(
        {"eye": eye, "cheek": cheek, "mouth": mouth,
         "voluntary": dict(zip(EXPR, voluntary, strict=True)),
         "synkinesis": dict(zip(EXPR, synkinesis, strict=True))}
    )  # fmt: skip


# -- worked examples (computed by hand from the rules of the 1996 grading sheet) ---------

WORKED = [
    # complete flaccid paralysis: resting (1+2+1)x5 = 20, voluntary 5x1x4 = 20, no synkinesis -> 0
    (("wide", "absent", "corner-drooped", [1, 1, 1, 1, 1], [0, 0, 0, 0, 0]), (20, 20, 0, 0)),
    # normal: 0, 100, 0 -> 100
    (("normal", "normal", "normal", [5, 5, 5, 5, 5], [0, 0, 0, 0, 0]), (0, 100, 0, 100)),
    # partial recovery: (1+1+0)x5 = 10; (3+4+2+3+3)x4 = 60; 1+1+2+0+1 = 5 -> 45
    (("narrow", "less-pronounced", "normal", [3, 4, 2, 3, 3], [1, 1, 2, 0, 1]), (10, 60, 5, 45)),
    # (0+2+1)x5 = 15; (2+3+2+2+1)x4 = 40; 0 -> 25
    (("normal", "absent", "corner-drooped", [2, 3, 2, 2, 1], [0, 0, 0, 0, 0]), (15, 40, 0, 25)),
    # synkinetic recovery: (1+1+1)x5 = 15; (4+5+4+4+3)x4 = 80; 2+3+3+2+3 = 13 -> 52
    (("eyelid-surgery", "more-pronounced", "corner-pulled-up-out", [4, 5, 4, 4, 3], [2, 3, 3, 2, 3]),
     (15, 80, 13, 52)),
    # the floor the formula allows: 20 - 20 - 15 = -15 (kept, not clamped)
    (("wide", "absent", "corner-drooped", [1, 1, 1, 1, 1], [3, 3, 3, 3, 3]), (20, 20, 15, -15)),
]  # fmt: skip


@pytest.mark.parametrize(("answers", "expected"), WORKED)
def test_sunnybrook_worked_examples(answers: tuple[Any, ...], expected: tuple[int, int, int, int]) -> None:
    score = grading(*answers).score()
    assert (score.resting, score.voluntary, score.synkinesis, score.composite) == expected


gradings = st.builds(
    grading,
    st.sampled_from(list(RESTING_ITEMS["eye"])),
    st.sampled_from(list(RESTING_ITEMS["cheek"])),
    st.sampled_from(list(RESTING_ITEMS["mouth"])),
    st.lists(st.integers(1, 5), min_size=5, max_size=5),
    st.lists(st.integers(0, 3), min_size=5, max_size=5),
)


@given(gradings)
def test_sunnybrook_scores_follow_the_sheet_and_stay_in_range(g: SunnybrookGrading) -> None:
    points = {"normal": 0, "narrow": 1, "wide": 1, "eyelid-surgery": 1, "absent": 2, "less-pronounced": 1,
              "more-pronounced": 1, "corner-drooped": 1, "corner-pulled-up-out": 1}  # fmt: skip
    score = g.score()
    assert score.resting == 5 * (points[g.eye] + points[g.cheek] + points[g.mouth])
    assert score.voluntary == 4 * sum(g.voluntary.values())
    assert score.synkinesis == sum(g.synkinesis.values())
    assert score.composite == score.voluntary - score.resting - score.synkinesis
    assert 0 <= score.resting <= 20
    assert 20 <= score.voluntary <= 100
    assert 0 <= score.synkinesis <= 15
    assert -15 <= score.composite <= 100
    assert score.resting % 5 == 0
    assert score.voluntary % 4 == 0


@given(gradings, st.sampled_from(EXPR))
def test_one_point_more_movement_is_four_more_and_one_point_synkinesis_one_less(
    g: SunnybrookGrading, expression: str
) -> None:
    base = g.score().composite
    if g.voluntary[expression] < 5:  # type: ignore[index]
        better = g.model_copy(update={"voluntary": {**g.voluntary, expression: g.voluntary[expression] + 1}})  # type: ignore[index]
        assert better.score().composite == base + 4
    if g.synkinesis[expression] < 3:  # type: ignore[index]
        worse = g.model_copy(
            update={"synkinesis": {**g.synkinesis, expression: g.synkinesis[expression] + 1}}
        )  # type: ignore[index]
        assert worse.score().composite == base - 1


@pytest.mark.parametrize(
    ("change", "item", "value"),
    [
        ({"eye": "closed"}, "sunnybrook.eye", "closed"),
        ({"voluntary": dict.fromkeys(EXPR, 0)}, "sunnybrook.voluntary.brow-lift", 0),
        ({"synkinesis": dict.fromkeys(EXPR, 4)}, "sunnybrook.synkinesis.brow-lift", 4),
        ({"synkinesis": {"brow-lift": 0}}, "sunnybrook.synkinesis", {"brow-lift": 0}),
        ({"voluntary": {**dict.fromkeys(EXPR, 3), "frown": 3}}, "sunnybrook.voluntary.frown", "frown"),
    ],
)
def test_bad_sunnybrook_answers_name_the_item(change: dict[str, Any], item: str, value: object) -> None:
    answers = {"eye": "normal", "cheek": "normal", "mouth": "normal", "voluntary": dict.fromkeys(EXPR, 3),
               "synkinesis": dict.fromkeys(EXPR, 0), **change}  # fmt: skip
    with pytest.raises(errors.GradingError) as info:
        SunnybrookGrading.parse(answers)
    assert info.value.item.startswith(item)
    assert isinstance(info.value, ValueError)
    assert info.value.__cause__ is not None


# -- FHIR forms and answers -------------------------------------------------------------


@functools.cache
def sunnybrook_options() -> tuple[str | None, dict[str, dict[str, float]]]:
    """The form's URL and answer options, built once (property tests stay cheap per example)."""
    form = sunnybrook_questionnaire()
    return form.url, options_by_link_id(form)


def options_by_link_id(form: Any) -> dict[str, dict[str, float]]:
    """linkId -> answer code -> ordinalValue, read from the Questionnaire's JSON."""
    found: dict[str, dict[str, float]] = {}

    def walk(items: list[dict[str, Any]]) -> None:
        for item in items:
            if "answerOption" in item:
                found[item["linkId"]] = {
                    o["valueCoding"]["code"]: next(
                        e["valueDecimal"] for e in o["valueCoding"]["extension"] if e["url"] == ORDINAL
                    )
                    for o in item["answerOption"]
                }
            walk(item.get("item", []))

    walk(json.loads(form.model_dump_json())["item"])
    return found


@at_most(FHIR_VALIDATION_EXAMPLES)  # fhir.resources validation per example: see tests/_hypothesis.py
@given(gradings)
def test_a_response_answers_the_form_and_scores_as_the_forms_ordinal_values_say(g: SunnybrookGrading) -> None:
    url, options = sunnybrook_options()
    response = sunnybrook_response(g, patient="Patient/p1", authored=AT, encounter="Encounter/e1",
                                   author="Practitioner/dr-weber")  # fmt: skip
    # through JSON, as a server would store it
    stored = QuestionnaireResponse.model_validate(json.loads(response.model_dump_json()))
    assert stored.questionnaire == url
    answered = {
        item["linkId"]: item["answer"][0]["valueCoding"]["code"]
        for group in json.loads(stored.model_dump_json())["item"]
        for item in group["item"]
    }
    assert set(answered) == set(options)  # every required item, nothing else
    value = {link: options[link][code] for link, code in answered.items()}
    resting = 5 * sum(v for k, v in value.items() if ".resting." in k)
    voluntary = 4 * sum(v for k, v in value.items() if ".voluntary." in k)
    synkinesis = sum(v for k, v in value.items() if ".synkinesis." in k)
    score = sunnybrook_from_response(stored)
    assert score == g.score()
    assert (score.resting, score.voluntary, score.synkinesis) == (resting, voluntary, synkinesis)
    assert score.composite == voluntary - resting - synkinesis


def test_the_sunnybrook_form_lists_the_sheet() -> None:
    options = options_by_link_id(sunnybrook_questionnaire())
    assert options["sunnybrook.resting.eye"] == {"normal": 0, "narrow": 1, "wide": 1, "eyelid-surgery": 1}
    assert options["sunnybrook.resting.cheek"] == {
        "normal": 0,
        "absent": 2,
        "less-pronounced": 1,
        "more-pronounced": 1,
    }
    assert options["sunnybrook.resting.mouth"] == {
        "normal": 0,
        "corner-drooped": 1,
        "corner-pulled-up-out": 1,
    }
    for expression in EXPR:
        assert sorted(options[f"sunnybrook.voluntary.{expression}"].values()) == [1, 2, 3, 4, 5]
        assert sorted(options[f"sunnybrook.synkinesis.{expression}"].values()) == [0, 1, 2, 3]
    assert len(options) == 13


def sunnybrook_json(g: SunnybrookGrading) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        sunnybrook_response(g, patient="Patient/p1", authored=AT).model_dump_json()
    )
    return data


NORMAL = grading("normal", "normal", "normal", [5] * 5, [0] * 5)


def test_a_missing_answer_names_its_item() -> None:
    data = sunnybrook_json(NORMAL)
    del data["item"][1]["item"][2]
    with pytest.raises(errors.GradingError) as info:
        sunnybrook_from_response(QuestionnaireResponse.model_validate(data))
    assert (info.value.item, info.value.value, info.value.reason) == (
        "sunnybrook.voluntary.open-mouth-smile",
        None,
        "no answer",
    )


def test_an_unknown_or_uncoded_or_repeated_answer_is_refused() -> None:
    data = sunnybrook_json(NORMAL)
    data["item"][0]["item"][0]["answer"][0]["valueCoding"]["code"] = "closed"
    with pytest.raises(
        errors.GradingError, match="must be one of normal, narrow, wide, eyelid-surgery"
    ) as info:
        sunnybrook_from_response(QuestionnaireResponse.model_validate(data))
    assert info.value.item == "sunnybrook.resting.eye"
    data = sunnybrook_json(NORMAL)
    data["item"][2]["item"][0]["answer"] = [{"valueInteger": 2}]
    with pytest.raises(errors.GradingError, match="coded answer"):
        sunnybrook_from_response(QuestionnaireResponse.model_validate(data))
    data = sunnybrook_json(NORMAL)
    data["item"][2]["item"].append(data["item"][2]["item"][0])
    with pytest.raises(errors.GradingError, match="more than once"):
        sunnybrook_from_response(QuestionnaireResponse.model_validate(data))


def test_a_response_to_another_form_is_refused() -> None:
    answer = house_brackmann_response(house_brackmann(2), patient="Patient/p1", authored=AT)
    with pytest.raises(errors.GradingError) as info:
        sunnybrook_from_response(answer)
    assert info.value.item == "questionnaire"


def test_times_must_be_aware() -> None:
    with pytest.raises(errors.GradingError, match="timezone-aware"):
        sunnybrook_response(NORMAL, patient="Patient/p1", authored=datetime(2026, 11, 25, 10))
    with pytest.raises(errors.GradingError, match="timezone-aware"):
        sunnybrook_observation(NORMAL.score(), patient="Patient/p1", effective=datetime(2026, 11, 25, 10))


# -- House-Brackmann --------------------------------------------------------------------


def test_house_brackmann_grades_and_descriptions() -> None:
    assert [(g.grade, g.roman, g.name) for g in HOUSE_BRACKMANN] == [
        (1, "I", "Normal"),
        (2, "II", "Mild dysfunction"),
        (3, "III", "Moderate dysfunction"),
        (4, "IV", "Moderately severe dysfunction"),
        (5, "V", "Severe dysfunction"),
        (6, "VI", "Total paralysis"),
    ]
    assert "incomplete closure" in house_brackmann("IV").description
    assert house_brackmann(6).description == "No movement."
    for bad in (0, 7, "VII", "iii", True):
        with pytest.raises(errors.GradingError) as info:
            house_brackmann(bad)
        assert info.value.item == "house-brackmann.grade"


@pytest.mark.parametrize("grade", [g.grade for g in HOUSE_BRACKMANN])
def test_house_brackmann_round_trips_through_fhir(grade: int) -> None:
    chosen = house_brackmann(grade)
    answer = house_brackmann_response(chosen, patient="Patient/p1", authored=AT, encounter="Encounter/e1")
    stored = QuestionnaireResponse.model_validate(json.loads(answer.model_dump_json()))
    assert house_brackmann_from_response(stored) == chosen
    codes = options_by_link_id(house_brackmann_questionnaire())["house-brackmann.grade"]
    assert codes[chosen.roman] == grade
    obs = house_brackmann_observation(
        chosen, patient="Patient/p1", effective=AT, derived_from="QuestionnaireResponse/q1"
    )
    assert obs.valueCodeableConcept.coding[0].code == chosen.roman
    assert obs.derivedFrom[0].reference == "QuestionnaireResponse/q1"


def test_sunnybrook_observation_carries_composite_and_subscores() -> None:
    score = grading(*WORKED[2][0]).score()
    obs = sunnybrook_observation(
        score, patient="Patient/p1", effective=AT, encounter="Encounter/e1",
        performer="Practitioner/dr-weber", derived_from="QuestionnaireResponse/q1",
    )  # fmt: skip
    data = json.loads(obs.model_dump_json())
    assert data["code"]["coding"][0] == {"system": FACIAL_CODES, "code": "sunnybrook-composite",
                                         "display": "Sunnybrook facial grading composite score"}  # fmt: skip
    assert data["valueInteger"] == 45
    assert [(c["code"]["coding"][0]["code"], c["valueInteger"]) for c in data["component"]] == [
        ("sunnybrook-resting-symmetry", 10),
        ("sunnybrook-voluntary-movement", 60),
        ("sunnybrook-synkinesis", 5),
    ]
    assert data["category"][0]["coding"][0]["code"] == "exam"
    assert (data["encounter"]["reference"], data["performer"][0]["reference"]) == (
        "Encounter/e1",
        "Practitioner/dr-weber",
    )


# -- the protocol and its stills ---------------------------------------------------------


def test_protocol_has_the_eight_steps_in_order_with_both_languages() -> None:
    assert [s.code for s in PROTOCOL] == [
        "rest", "raise-eyebrows", "close-eyes-gently", "close-eyes-tightly",
        "wrinkle-nose", "smile-with-teeth", "pucker-lips", "puff-cheeks",
    ]  # fmt: skip
    for s in PROTOCOL:
        assert set(s.title) == set(s.instruction) == {"de", "en"}
        assert all(text.strip() for text in s.instruction.values())
    # every Sunnybrook expression is documented by exactly one still
    assert sorted(s.sunnybrook for s in PROTOCOL if s.sunnybrook) == sorted(EXPR)
    assert step("rest").sunnybrook is None
    with pytest.raises(errors.GradingError):
        step("blink")


async def test_a_still_from_the_exam_camera_becomes_media_with_the_step_as_view() -> None:
    from telemedroom.devices import media

    async with media.MediaDevice(
        media.MediaSource.synthetic(media.Role.EXAM_CAMERA, width=640, height=360)
    ) as camera:
        still = await camera.snapshot("jpeg")
    record = step_media(step("close-eyes-gently"), still, patient="Patient/p1", encounter="Encounter/e1",
                        operator="Practitioner/dr-weber", device="Device/exam-camera")  # fmt: skip
    stored = Media.model_validate(json.loads(record.model_dump_json()))
    assert stored.content.data == still.data
    assert stored.content.size == len(still.data)
    assert stored.content.hash == hashlib.sha1(still.data).digest()  # base64 on the wire
    wire = json.loads(record.model_dump_json())["content"]["hash"]
    assert wire == base64.b64encode(stored.content.hash).decode()
    assert stored.content.contentType == "image/jpeg"
    assert (stored.width, stored.height) == (640, 360)
    assert stored.view.coding[0].system == FACIAL_CODES
    assert stored.view.coding[0].code == "close-eyes-gently"
    assert stored.encounter.reference == "Encounter/e1"
    assert stored.createdDateTime == still.captured_at
    assert (stored.operator.reference, stored.device.reference) == (
        "Practitioner/dr-weber",
        "Device/exam-camera",
    )


# -- one exam, one transaction, into FHIR ----------------------------------------------------


async def exam_stills() -> list[tuple[str, Any]]:
    from telemedroom.devices import media

    stills = []
    async with media.MediaDevice(
        media.MediaSource.synthetic(media.Role.EXAM_CAMERA, width=320, height=240)
    ) as camera:
        for protocol_step in PROTOCOL:
            stills.append((protocol_step.code, await camera.snapshot("jpeg")))
    return stills


async def test_a_whole_exam_lands_on_a_fhir_server_once_with_its_references() -> None:
    """FhirClient against FakeFhirServer (a fake FHIR server, real FHIR JSON)."""
    stills = await exam_stills()
    bundle = exam_transaction(
        patient="Patient/p1", encounter="Encounter/visit-3", authored=AT, author="Practitioner/dr-weber",
        stills=stills, sunnybrook=grading(*WORKED[2][0]), house_brackmann=house_brackmann("III"),
        camera="Device/exam-camera",
    )  # fmt: skip
    server = FakeFhirServer()
    async with FhirClient(server.base_url, transport=server.transport()) as client:
        await client.transaction(bundle)
        await client.transaction(bundle)  # sent again (the outbox may): nothing doubles
    media_stored = server.resources("Media")
    assert sorted(m["view"]["coding"][0]["code"] for m in media_stored) == sorted(s.code for s in PROTOCOL)
    assert {m["encounter"]["reference"] for m in media_stored} == {"Encounter/visit-3"}
    responses = {r["id"]: r for r in server.resources("QuestionnaireResponse")}
    observations = server.resources("Observation")
    assert len(responses) == len(observations) == 2
    for obs in observations:
        target = obs["derivedFrom"][0]["reference"].removeprefix("QuestionnaireResponse/")
        assert target in responses
        if obs["code"]["coding"][0]["code"] == "sunnybrook-composite":
            assert obs["valueInteger"] == 45
            assert (
                sunnybrook_from_response(QuestionnaireResponse.model_validate(responses[target])).composite
                == 45
            )
        else:
            assert obs["valueCodeableConcept"]["coding"][0]["code"] == "III"
            assert (
                house_brackmann_from_response(QuestionnaireResponse.model_validate(responses[target])).grade
                == 3
            )


async def test_an_exam_through_the_outbox_to_files_keeps_ids_and_references(tmp_path: Path) -> None:
    bundle = exam_transaction(patient="Patient/p1", encounter="Encounter/visit-3", authored=AT,
                              sunnybrook=NORMAL, stills=(await exam_stills())[:2])  # fmt: skip
    async with Outbox(tmp_path / "outbox.sqlite", key=os.urandom(32)) as outbox:
        await outbox.put(bundle)
        await outbox.drain(FileSink(tmp_path / "fhir"))
    read = {
        f.stem: [json.loads(line) for line in f.read_text().splitlines()]
        for f in (tmp_path / "fhir").glob("*")
    }
    [answers] = read["QuestionnaireResponse"]
    [score] = read["Observation"]
    assert score["derivedFrom"][0]["reference"] == f"QuestionnaireResponse/{answers['id']}"
    assert [m["view"]["coding"][0]["code"] for m in read["Media"]] == ["rest", "raise-eyebrows"]
    assert {e["resource"]["id"] for e in bundle["entry"]} == {r["id"] for rs in read.values() for r in rs}


def test_an_exam_without_stills_or_grades_is_an_empty_transaction() -> None:
    bundle = exam_transaction(patient="Patient/p1", encounter="Encounter/e", authored=AT)
    assert bundle == {"resourceType": "Bundle", "type": "transaction", "entry": []}
    with pytest.raises(errors.GradingError, match="timezone-aware"):
        exam_transaction(
            patient="Patient/p1", encounter="Encounter/e", authored=datetime(2026, 11, 25), sunnybrook=NORMAL
        )


async def test_two_visits_pair_up_by_step_with_the_latest_still_of_each() -> None:
    stills = await exam_stills()
    first = [
        step_media(code, shot, patient="Patient/p1", encounter="Encounter/visit-1")
        for code, shot in stills[:3]
    ]
    retake = stills[1][1].model_copy(update={"captured_at": stills[1][1].captured_at.replace(year=2027)})
    second = [
        step_media(code, shot, patient="Patient/p1", encounter="Encounter/visit-2") for code, shot in stills
    ]
    second.append(step_media(stills[1][0], retake, patient="Patient/p1", encounter="Encounter/visit-2"))
    # read back as a server would return them
    second = [Media.model_validate(json.loads(m.model_dump_json())) for m in second]
    pairs = compare_visits(first, second)
    assert [p.step.code for p in pairs] == [s.code for s in PROTOCOL]
    assert [p.before is not None for p in pairs] == [True, True, True] + [False] * 5
    assert all(p.after is not None for p in pairs)
    assert pairs[1].after is not None
    assert pairs[1].after.createdDateTime == retake.captured_at
    assert pairs[0].before is not None
    assert pairs[0].before.encounter.reference == "Encounter/visit-1"


# -- stills as DocumentReference, clips as video Media --------------------------------------


async def test_a_still_as_document_reference_keeps_step_encounter_and_image() -> None:
    [(code, still)] = (await exam_stills())[5:6]
    record = step_media(code, still, patient="Patient/p1", encounter="Encounter/e1",
                        operator="Practitioner/dr-weber", device="Device/exam-camera",
                        resource="DocumentReference")  # fmt: skip
    stored = DocumentReference.model_validate(json.loads(record.model_dump_json()))
    assert (stored.status, stored.docStatus) == ("current", "final")
    assert stored.type.coding[0].system == "http://loinc.org"
    assert stored.type.coding[0].code == "72170-4"
    assert (stored.category[0].coding[0].system, stored.category[0].coding[0].code) == (
        FACIAL_CODES,
        "smile-with-teeth",
    )
    assert [e.reference for e in stored.context.encounter] == ["Encounter/e1"]
    assert [a.reference for a in stored.author] == ["Practitioner/dr-weber", "Device/exam-camera"]
    attachment = stored.content[0].attachment
    assert attachment.data == still.data
    assert attachment.contentType == "image/jpeg"
    assert attachment.hash == hashlib.sha1(still.data).digest()
    assert stored.date == still.captured_at
    with pytest.raises(errors.GradingError, match="resource"):
        step_media(code, still, patient="Patient/p1", encounter="Encounter/e1", resource="Binary")  # type: ignore[call-overload]


async def test_an_exam_with_document_references_lands_on_a_server_and_compares() -> None:
    """FhirClient against FakeFhirServer (a fake FHIR server, real FHIR JSON)."""
    stills = await exam_stills()
    bundle = exam_transaction(patient="Patient/p1", encounter="Encounter/visit-3", authored=AT,
                              stills=stills, sunnybrook=NORMAL, resource="DocumentReference")  # fmt: skip
    Bundle.model_validate(bundle)
    kinds = [e["request"]["url"].split("/")[0] for e in bundle["entry"]]
    assert kinds == ["DocumentReference"] * 8 + ["QuestionnaireResponse", "Observation"]
    as_media = exam_transaction(
        patient="Patient/p1", encounter="Encounter/visit-3", authored=AT, stills=stills
    )
    media_ids = [e["resource"]["id"] for e in as_media["entry"]]
    assert [e["resource"]["id"] for e in bundle["entry"][:8]] == media_ids  # same still, same id
    server = FakeFhirServer()
    async with FhirClient(server.base_url, transport=server.transport()) as client:
        await client.transaction(bundle)
    documents = [DocumentReference.model_validate(d) for d in server.resources("DocumentReference")]
    assert len(documents) == 8
    earlier = [step_media(code, shot, patient="Patient/p1", encounter="Encounter/visit-1")
               for code, shot in stills[:2]]  # fmt: skip
    pairs = compare_visits(earlier, documents)
    assert [(p.step.code, p.before is not None, isinstance(p.after, DocumentReference)) for p in pairs] == [
        (s.code, s.code in ("rest", "raise-eyebrows"), True) for s in PROTOCOL
    ]


async def test_a_clip_becomes_a_video_media_next_to_the_still_and_is_left_out_of_comparisons() -> None:
    from telemedroom.devices import media

    async with media.MediaDevice(
        media.MediaSource.synthetic(media.Role.EXAM_CAMERA, width=320, height=240)
    ) as camera:
        still = await camera.snapshot("jpeg")
        clip = await camera.clip(0.4)
    assert clip.data.startswith(bytes.fromhex("1a45dfa3"))  # EBML: a WebM file
    again = media.Clip.from_webm(clip.data, captured_at=clip.captured_at)
    assert (again.width, again.height, again.frames) == (320, 240, clip.frames)
    assert again.duration == pytest.approx(clip.duration, abs=0.05)
    bundle = exam_transaction(patient="Patient/p1", encounter="Encounter/e", authored=AT,
                              stills=[("smile-with-teeth", still), ("smile-with-teeth", clip)])  # fmt: skip
    video = Media.model_validate(bundle["entry"][1]["resource"])
    assert video.type.coding[0].code == "video"
    assert video.content.contentType == "video/webm"
    assert (video.width, video.height, video.frames) == (320, 240, clip.frames)
    assert float(video.duration) == clip.duration
    assert video.view.coding[0].code == "smile-with-teeth"
    assert bundle["entry"][0]["resource"]["id"] != bundle["entry"][1]["resource"]["id"]
    image = Media.model_validate(bundle["entry"][0]["resource"])
    [pair] = compare_visits([], [image, video])
    assert pair.after is not None
    assert pair.after.content.contentType == "image/jpeg"  # type: ignore[union-attr]


# -- German texts (FHIR translation extension) -----------------------------------------------


def texts(node: Any, path: str = "") -> list[tuple[str, str, Any]]:
    """Every (path, English text, its ``_element``) of a form's title, item texts and answer displays.

    The form's ``code`` (a code system's display) is not a text shown to the physician.
    """
    found = []
    if isinstance(node, dict):
        for key in ("title", "text", "display"):
            if isinstance(node.get(key), str):
                found.append((f"{path}.{key}", node[key], node.get(f"_{key}")))
        for key, value in node.items():
            if key != "code":
                found += texts(value, f"{path}.{key}")
    elif isinstance(node, list):
        for value in node:
            found += texts(value, path)
    return found


@pytest.mark.parametrize("form", [sunnybrook_questionnaire, house_brackmann_questionnaire])
def test_every_text_of_the_forms_has_its_german_translation(form: Any) -> None:
    data = json.loads(form().model_dump_json())
    assert data["language"] == "en"
    found = texts(data)
    assert len(found) > 5
    for where, english, element in found:
        assert element is not None, f"{where} ({english!r}) has no translation"
        [extension] = element["extension"]
        assert extension["url"] == TRANSLATION == "http://hl7.org/fhir/StructureDefinition/translation"
        german = translation(element, "de")
        assert german, where
        assert translation(element, "fr") is None
        assert german.split(": ")[0] == english.split(": ")[0] or ": " not in english  # points kept


def test_german_texts_come_from_the_sheet() -> None:
    form = sunnybrook_questionnaire()
    assert translation(form.title__ext, "de") == "Sunnybrook-Bewertungssystem für Fazialisparesen"
    assert [translation(g.text__ext, "de") for g in form.item] == [
        "Symmetrie in Ruhe", "Symmetrie der Willkürbewegung", "Synkinesien"]  # fmt: skip
    assert translation(form.item[0].item[0].text__ext, "de") == "Auge (Lidspalte)"
    assert [translation(o.valueCoding.display__ext, "de") for o in form.item[1].item[0].answerOption] == [
        "1: keine Bewegung auslösbar",
        "2: beginnende, geringe Bewegung",
        "3: Bewegung mit geringer Exkursion",
        "4: Bewegung fast vollständig",
        "5: Bewegung vollständig",
    ]
    grades = house_brackmann_questionnaire().item[0].answerOption
    assert [translation(o.valueCoding.display__ext, "de") for o in grades] == [
        f"{g.roman}: {g.name_de}" for g in HOUSE_BRACKMANN
    ]
