"""The form readers: every input gives details or named problems, never another error (property tests)."""

from __future__ import annotations

import string
from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from telemedroom.booking import kvnr_valid, pick_language
from telemedroom.booking._forms import parse_birth_date, parse_slot_value, read_details
from telemedroom.errors import BookingInputError

TODAY = date(2026, 3, 1)
FIELDS = ["phone", "email", "insurance_number"]
form_values = st.dictionaries(
    st.sampled_from(["name", "birth_date", "phone", "email", "insurance_number", "other"]),
    st.text(max_size=300),
)


@given(
    form_values,
    st.lists(st.sampled_from(FIELDS), min_size=1, unique=True).filter(lambda f: "phone" in f or "email" in f),
)
def test_any_form_gives_details_or_named_problems(form: dict[str, str], fields: list[str]) -> None:
    details, problems = read_details(form, fields, TODAY, "de")
    assert (details is None) == bool(problems)
    assert set(problems) <= {"name", "birth_date", *fields}
    if details is not None:
        assert details.name
        assert len(details.name) <= 100
        assert details.birth_date <= TODAY
        assert details.phone or details.email
        assert "\n" not in details.name
        assert "\r" not in details.name
        assert details.insurance_number is None or kvnr_valid(details.insurance_number)


@given(st.text(max_size=40))
def test_any_birth_date_text_is_a_date_or_a_named_problem(text: str) -> None:
    try:
        born = parse_birth_date(text, TODAY)
    except BookingInputError as exc:
        assert exc.field == "birth_date"
        assert exc.reason in {"missing", "not_a_date", "in_future", "too_old"}
    else:
        assert date(1900, 1, 1) <= born <= TODAY


@given(st.dates(min_value=date(1900, 1, 1), max_value=TODAY))
def test_both_ways_of_writing_a_date_round_trip(born: date) -> None:
    assert parse_birth_date(born.isoformat(), TODAY) == born
    assert parse_birth_date(f"{born.day:02d}.{born.month:02d}.{born.year}", TODAY) == born


@given(st.sampled_from(string.ascii_uppercase), st.text(string.digits, min_size=8, max_size=8))
def test_exactly_one_check_digit_makes_a_kvnr_valid(letter: str, digits: str) -> None:
    valid = [d for d in string.digits if kvnr_valid(f"{letter}{digits}{d}")]
    assert len(valid) == 1


@given(st.text(max_size=400))
def test_any_slot_value_parses_or_is_a_named_problem(text: str) -> None:
    try:
        start, resources = parse_slot_value(text)
    except BookingInputError as exc:
        assert (exc.field, exc.reason) == ("slot", "not_a_slot")
    else:
        assert start.utcoffset() is not None
        assert resources


@given(st.text(max_size=200))
def test_any_accept_language_picks_one_of_ours(header: str) -> None:
    assert pick_language(header, "en") in ("de", "en")
